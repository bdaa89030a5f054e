"""DSO-led vs TSO-led coordination study (seed 003) and the growth of the single-level model with N feeders.

On the study system of :mod:`tdcoord.cases.dso_led` (IEEE 30-bus + N IEEE 33-bus feeders with PV, batteries
and P2P trades, a day of hourly periods):

1. the DSO-led bilevel model as one MISOCP (:func:`tdcoord.coordination.dso_led.solve_dso_led`), and the
   TSO-led sequence (:func:`tdcoord.coordination.dso_led.solve_tso_led`), compared on total, DSO and TSO
   cost, imports from the transmission grid, self-consumption of PV, battery throughput and cycles, and P2P
   volume;
2. the KKT reformulation checked: with the DSO-led exchanges fixed, the TSO's DC OPF solved alone by the
   model layer's DC schedule gives the single-level model's TSO optimum and prices
   (:func:`tdcoord.coordination.dso_led.kkt_check`);
3. SOC exactness: the relaxation gap per feeder and period, and every feeder-period re-checked by the exact
   AC power flow (:func:`tdcoord.coordination.dso_led.soc_exactness`), for both schemes;
4. growth: variables, constraints, binaries, solve time and the gap reached for N = 1, 2, 5, 10, 20 feeders,
   with the exponents of power laws fitted to size and time against N (least squares in log-log).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from tdcoord.cases.dso_led import DsoLedSystem, dso_led_system
from tdcoord.coordination.dso_led import CoordinationResult, kkt_check, soc_exactness, solve_dso_led, solve_tso_led
from tdcoord.errors import InputError, SolveError

GROWTH_FEEDERS = (1, 2, 5, 10, 20)


@dataclass
class DsoLedSettings:
    feeders: int = 5
    periods: int = 24
    method: str = "sos1"  # complementarity: sos1 | bigm
    gap: float = 0.005
    time_limit: float = 300.0  # s per MISOCP
    band_mw: float = 1.0  # TSO-led: deviation allowed around the TSO's schedule
    growth: tuple[int, ...] = GROWTH_FEEDERS
    growth_time_limit: float = 300.0

    def check(self) -> None:
        if self.method not in ("sos1", "bigm"):
            raise InputError(f"method {self.method!r}: expected sos1 or bigm")
        if not 0 < self.gap < 1:
            raise InputError(f"gap {self.gap!r}: expected a relative MIP gap in (0, 1)")
        if not self.time_limit > 0 or not self.growth_time_limit > 0:
            raise InputError("time limits: expected > 0 s")
        if not self.band_mw >= 0:
            raise InputError(f"band_mw = {self.band_mw!r}: expected a deviation >= 0 MW around the TSO's schedule")
        if not 1 <= self.periods <= 24:
            raise InputError(f"periods = {self.periods!r}: the profiles cover one day of hourly periods: expected 1..24")
        if any(int(n) < 1 for n in self.growth):
            raise InputError(f"growth feeders {self.growth!r}: expected counts >= 1")


@dataclass
class DsoLedStudy:
    settings: DsoLedSettings
    system: DsoLedSystem
    dso_led: CoordinationResult
    tso_led: CoordinationResult
    kkt: dict[str, Any]
    soc: dict[str, dict[str, Any]]
    growth: list[dict[str, Any]] = field(default_factory=list)
    time_s: float = 0.0

    def growth_exponent(self, key: str = "variables") -> float:
        pts = [(g["feeders"], g[key]) for g in self.growth if g.get(key) and g[key] > 0]
        if len(pts) < 2:
            return float("nan")
        x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        return float(np.polyfit(x, y, 1)[0])

    def summary(self) -> dict[str, Any]:
        def scheme(r: CoordinationResult) -> dict[str, Any]:
            out = {k: _f(v) for k, v in r.metrics().items()}
            out.update(status=r.status, ok=r.ok, mip_gap=_f(r.gap), time_s=_f(r.time_s), size=r.size,
                       dso_costs={k: {a: _f(b) for a, b in v.items()} for k, v in r.dso_costs.items()})
            return out

        soc_max = max((s.get("soc_gap_max", 0.0) for s in self.soc.values()), default=0.0)
        return {
            "system": self.system.summary(),
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.settings).items()},
            "dso_led": scheme(self.dso_led),
            "tso_led": scheme(self.tso_led),
            "kkt_check": {"tso_objective_gap": _f(self.kkt.get("tso_objective_gap")),
                          "max_price_gap": _f(self.kkt.get("max_price_gap")),
                          "tso_objective_alone": _f(self.kkt.get("tso_objective_alone")),
                          "tso_objective_single_level": _f(self.kkt.get("tso_objective_single_level")),
                          "status": self.kkt.get("status")},
            "soc_gap_max": _f(soc_max),
            "soc": {k: {a: (_f(b) if not isinstance(b, (list, np.ndarray)) else None) for a, b in v.items()
                        if a not in ("gap_pu2", "rechecks")} for k, v in self.soc.items()},
            "growth": self.growth,
            "growth_exponent": _f(self.growth_exponent("variables")),
            "growth_exponents": {k: _f(self.growth_exponent(k)) for k in ("variables", "constraints", "binaries",
                                                                           "time_s")},
            "time_s": _f(self.time_s),
        }


def _f(v: Any) -> Any:
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return v
    return x if np.isfinite(x) else None


def growth_row(n: int, r: CoordinationResult) -> dict[str, Any]:
    """Size and solve figures of a DSO-led solve ``r`` with ``n`` feeders (a row of the growth table)."""
    return {"feeders": n, **r.size, "time_s": r.time_s, "build_s": r.info.get("build_s"),
            "mip_gap": _f(r.gap), "status": r.status, "ok": r.ok,
            "objective": _f(r.solution.objective) if r.ok else None}


def growth_entry(n: int, settings: DsoLedSettings, system: DsoLedSystem | None = None) -> dict[str, Any]:
    """Size and solve figures of the DSO-led MISOCP with ``n`` feeders (``system``: built already)."""
    system = system or dso_led_system(n, periods=settings.periods)
    r = solve_dso_led(system, method=settings.method, gap=settings.gap, time_limit=settings.growth_time_limit)
    return growth_row(n, r)


def run_study(settings: DsoLedSettings | None = None, *, progress: Callable[[str], None] | None = None,
              growth: bool = True) -> DsoLedStudy:
    """The study (module docstring)."""
    s = settings or DsoLedSettings()
    s.check()
    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    system = dso_led_system(s.feeders, periods=s.periods)
    # every system of the growth table is built (and checked) before the first long solve
    systems = {int(n): dso_led_system(int(n), periods=s.periods) for n in s.growth if int(n) != s.feeders} \
        if growth else {}
    say(f"{system.name}: DSO-led single-level MISOCP ({s.method} complementarity) ...")
    dso = solve_dso_led(system, method=s.method, gap=s.gap, time_limit=s.time_limit)
    if not dso.ok:
        raise SolveError(f"{system.name}: the DSO-led model found no solution ({dso.status})")
    say(f"DSO-led: {dso.status}, gap {dso.gap:.2e}, {dso.time_s:.1f} s; TSO-led sequence ...")
    tso = solve_tso_led(system, band_mw=s.band_mw, gap=s.gap, time_limit=s.time_limit)
    if not tso.ok:
        raise SolveError(f"{system.name}: the TSO-led sequence found no DSO schedule ({tso.status})")
    say(f"TSO-led: {tso.status}, {tso.time_s:.1f} s; KKT check and AC re-checks ...")
    kkt = kkt_check(system, dso)
    soc = {"dso_led": soc_exactness(system, dso), "tso_led": soc_exactness(system, tso)}
    study = DsoLedStudy(s, system, dso, tso, kkt, soc)
    if growth:
        for n in s.growth:
            if n == s.feeders:
                entry = growth_row(n, dso)
            else:
                say(f"growth: {n} feeders ...")
                entry = growth_entry(int(n), s, systems[int(n)])
            say(f"growth: {n} feeders, {entry['variables']} variables, {entry['binaries']} binaries, "
                f"{entry['time_s']:.1f} s, gap {entry['mip_gap']}")
            study.growth.append(entry)
    study.time_s = time.perf_counter() - t0
    return study


__all__ = ["DsoLedSettings", "DsoLedStudy", "GROWTH_FEEDERS", "growth_entry", "growth_row", "run_study"]
