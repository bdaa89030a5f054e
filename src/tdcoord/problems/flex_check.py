"""The AC re-check of a flexibility schedule: one integrated AC power flow per hour, every limit judged.

Each hour of :class:`tdcoord.problems.flex_schedule.FlexSchedule` is written
into the coupled system (:meth:`CoupledSystem.at_period`):

- transmission: every unit's scheduled output (the slack, bus 1, covers the
  AC losses that the DC model leaves out), the load less what was shed;
- feeders: each PV or wind unit's scheduled output and reactive power, each
  battery's net output (+ discharging) at unity power factor;
- the feeder's source voltage: with voltage control the substation
  transformer's tap is set so that the feeder's source bus gets the
  scheduled voltage, ``tap = V_0 / V_root`` with ``V_0`` the source voltage
  of a first power flow at the nominal tap, rounded to the tap changer's steps (:data:`TAP_STEP`, within
  :data:`TAP_RANGE`); without voltage control the tap stays nominal.

The power flow is tdcoord's integrated Newton (``run_coupled(..., "merged")``)
and the point is judged by :func:`tdcoord.problems.evaluate.evaluate`:
voltages outside [0.95, 1.05] on every bus, reactive and active limits of
every source, branch ratings (boundary transformers included), each counted.

**AC correction** (:func:`solve_checked`, with voltage control): LinDistFlow
drops the losses, so its voltages run a little above the AC ones at the
feeders' far ends. Where an AC voltage leaves the band, that bus and hour
get a band narrowed by the model's error there plus
:data:`CORRECTION_MARGIN`, and the day is solved again (at most
:data:`CORRECTION_PASSES` times).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.flex_schedule import FlexSchedule

TAP_STEP = 0.00625  # 5/8 % per step
TAP_RANGE = (0.9, 1.1)  # +-16 steps
CORRECTION_PASSES = 3
CORRECTION_MARGIN = 0.002  # p.u. beyond the observed error


@dataclass
class HourCheck:
    hour: int
    converged: bool
    vm_min_pu: float
    vm_max_pu: float
    vm_max_feeder_pu: float
    vm_min_feeder_pu: float
    violations: dict[str, int]
    offenders: list[dict]
    taps: dict[str, float]
    slack_mw: float
    boundary_mw: dict[str, float]
    boundary_mvar: dict[str, float]
    loss_mw: float
    feeder_vm: dict[str, dict[str, float]] = field(default_factory=dict)  # feeder -> bus -> V (AC)
    t_vm: dict[str, float] = field(default_factory=dict)
    pf: Any = None  # the power flow result (kept for the stability assessment)

    @property
    def n_violations(self) -> int:
        return int(sum(self.violations.values()))


@dataclass
class AcCheck:
    hours: list[HourCheck]

    @property
    def vm_max_pu(self) -> float:
        return float(max(h.vm_max_pu for h in self.hours))

    @property
    def vm_min_pu(self) -> float:
        return float(min(h.vm_min_pu for h in self.hours))

    @property
    def violations(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hours:
            for k, v in h.violations.items():
                out[k] = out.get(k, 0) + v
        return out

    @property
    def n_violations(self) -> int:
        return int(sum(self.violations.values()))

    @property
    def over_voltages(self) -> int:
        return int(sum(1 for h in self.hours for o in h.offenders
                       if o["kind"] == "voltage" and o["value"] > o["limit"]))

    @property
    def converged(self) -> bool:
        return all(h.converged for h in self.hours)


def hour_system(cs: CoupledSystem, sched: FlexSchedule, t: int) -> CoupledSystem:
    """Hour ``t`` of ``cs`` with the schedule written in (taps nominal)."""
    ch = cs.at_period(t)
    g = ch.transmission.gen
    for name, bus in sched.gen_bus.items():
        rows = g.index[g.bus.astype(str) == bus]
        if len(rows):
            g.loc[rows[0], "p_mw"] = float(sched.gen_mw[name][t])
    ld = ch.transmission.load
    for bus, shed in sched.shed_bus_mw.items():
        rows = ld.index[(ld.bus.astype(str) == bus) & ld.in_service]
        total = float(ld.loc[rows, "p_mw"].sum())
        if total > 0 and shed[t] > 0:
            k = max(0.0, 1.0 - float(shed[t]) / total)
            ld.loc[rows, "p_mw"] *= k
            ld.loc[rows, "q_mvar"] *= k
    for n, f in ch.feeders.items():
        shed = sched.feeder_shed_mw.get(n, np.zeros((0, 1)))
        if shed.shape[0] and shed[:, t].max() > 0:  # shed at the load's power factor
            live = f.load.index[f.load.in_service & f.load.bus.isin(f.bus.index)]
            p0 = f.load.loc[live, "p_mw"].to_numpy(float)
            k = np.where(p0 > 0, np.clip(1.0 - shed[:, t] / np.where(p0 > 0, p0, 1.0), 0.0, 1.0), 1.0)
            f.load.loc[live, "p_mw"] = p0 * k
            f.load.loc[live, "q_mvar"] = f.load.loc[live, "q_mvar"].to_numpy(float) * k
        if len(f.sgen):
            f.sgen["p_mw"] = sched.sgen_p_mw[n][:, t]
            q = sched.sgen_q_mvar[n]
            f.sgen["q_mvar"] = q[:, t] if q.shape[0] else 0.0
        if len(f.storage):
            f.storage["p_mw"] = sched.storage_p_mw[n][:, t]
            f.storage["q_mvar"] = 0.0
        for bus, p in sched.tie_mw.get(n, {}).items():  # the tie's controlled transfer, injected at its end
            f.add("sgen", {"bus": [bus], "p_mw": [float(p[t])], "q_mvar": [0.0], "p_max_mw": [np.nan],
                           "sn_mva": [np.nan], "pf_min": [np.nan], "kind": ["dg"], "controllable": [False],
                           "name": ["tie transfer"]})
    return ch


def pick_tap(v_0: float, v_root: float, band: tuple[float, float] = (0.95, 1.05)) -> float:
    """The tap step nearest to ``v_0 / v_root`` (``v_0`` the source voltage at the nominal tap) whose source
    voltage ``v_0 / tap`` stays in ``band`` where one of the two neighbouring steps does."""
    exact = v_0 / v_root
    lo = 1.0 + TAP_STEP * np.floor((exact - 1.0) / TAP_STEP)
    cands = sorted((float(np.clip(x, *TAP_RANGE)) for x in (lo, lo + TAP_STEP)), key=lambda x: abs(x - exact))
    inside = [x for x in cands if band[0] <= v_0 / x <= band[1]]
    return (inside or cands)[0]


def check_hour(cs: CoupledSystem, sched: FlexSchedule, t: int, voltage_control: bool) -> HourCheck:
    from tdcoord.pf.integrated import run_coupled
    from tdcoord.problems.evaluate import evaluate
    from tdcoord.problems.rpo import Weights

    ch = hour_system(cs, sched, t)
    pf = run_coupled(ch, "merged")
    taps = {n: float(ch.boundary.at[n, "tap_pu"]) for n in ch.boundary.index}
    if voltage_control and pf.converged:
        for n in ch.boundary.index:  # the source voltage at the nominal tap, transformer drop included
            v_0 = float(pf.res_bus.vm_pu[f"{n}:{ch.boundary.at[n, 'root']}"])
            taps[n] = pick_tap(v_0, float(sched.root_vm[n][t]))
            ch.boundary.loc[n, "tap_pu"] = taps[n]
        pf = run_coupled(ch, "merged")
    if not pf.converged:
        return HourCheck(t, False, np.nan, np.nan, np.nan, np.nan, {}, [], taps, np.nan, {}, {}, np.nan, pf=pf)
    ev = evaluate(ch, pf, Weights())
    vm = pf.res_bus.vm_pu.dropna()
    fed = vm[vm.index.str.contains(":")]
    feeder_vm: dict[str, dict[str, float]] = {}
    for label, v in fed.items():
        f, bus = str(label).split(":", 1)
        feeder_vm.setdefault(f, {})[bus] = float(v)
    slack = ch.transmission.gen.index[ch.transmission.gen.slack.astype(bool)]
    slack_mw = float(pf.transmission.res_gen.p_mw.loc[slack].sum()) if hasattr(pf.transmission, "res_gen") else np.nan
    rb = pf.res_boundary
    return HourCheck(
        hour=t, converged=True, vm_min_pu=float(vm.min()), vm_max_pu=float(vm.max()),
        vm_max_feeder_pu=float(fed.max()) if len(fed) else np.nan,
        vm_min_feeder_pu=float(fed.min()) if len(fed) else np.nan,
        violations=dict(ev.violations), offenders=ev.offenders.to_dict("records"), taps=taps, slack_mw=slack_mw,
        boundary_mw={str(n): float(rb.at[n, "p_mw"]) for n in rb.index},
        boundary_mvar={str(n): float(rb.at[n, "q_mvar"]) for n in rb.index}, loss_mw=float(ev.p_loss_mw),
        feeder_vm=feeder_vm, t_vm={str(k): float(v) for k, v in vm[~vm.index.str.contains(":")].items()}, pf=pf)


def recheck(cs: CoupledSystem, sched: FlexSchedule, voltage_control: bool) -> AcCheck:
    """Every hour of ``sched`` re-checked by an AC power flow (see the module docstring)."""
    return AcCheck([check_hour(cs, sched, t, voltage_control) for t in range(len(sched.shed_mw))])


def band_corrections(sched: FlexSchedule, ac: AcCheck, bounds: dict, band: tuple[float, float] = (0.95, 1.05),
                     margin: float = CORRECTION_MARGIN) -> int:
    """Tighten ``bounds`` ((feeder, bus, hour) -> (lo, hi)) where the AC voltage of a feeder bus left ``band``:
    by the linear model's error there (its voltage less the AC one) plus ``margin``. Returns how many changed."""
    changed = 0
    for hc in ac.hours:
        t = hc.hour
        for f, vms in hc.feeder_vm.items():
            buses = sched.feeder_buses.get(f, [])
            for bus, v_ac in vms.items():
                if band[0] <= v_ac <= band[1] or bus not in buses:
                    continue
                v_lin = float(sched.feeder_vm[f][buses.index(bus), t])
                lo, hi = bounds.get((f, bus, t), band)
                if v_ac < band[0]:
                    lo = max(lo, min(band[0] + (v_lin - v_ac) + margin, band[1]))
                else:
                    hi = min(hi, max(band[1] - (v_ac - v_lin) - margin, band[0]))
                if (lo, hi) != bounds.get((f, bus, t), band):
                    bounds[(f, bus, t)] = (lo, hi)
                    changed += 1
    return changed


def solve_checked(cs: CoupledSystem, data: Any, *, voltage_control: bool, passes: int = CORRECTION_PASSES,
                  **kw: Any) -> tuple[FlexSchedule, AcCheck, int]:
    """Solve, re-check, and (with voltage control) correct: where the AC voltage of a feeder bus leaves the
    band, that bus and hour get a band narrowed by the linear model's error there, and the day is solved again,
    at most ``passes`` times. Returns the schedule, its AC re-check and the corrections made (LinDistFlow drops
    the losses, so its voltages run a little above the AC ones at the far ends)."""
    from tdcoord.problems.flex_schedule import solve_schedule

    bounds: dict = {}
    sched = solve_schedule(cs, data, voltage_control=voltage_control, vm_bounds=bounds, **kw)
    ac = recheck(cs, sched, voltage_control)
    made = 0
    for _ in range(passes if voltage_control else 0):
        n = band_corrections(sched, ac, bounds)
        if not n:
            break
        made += n
        sched = solve_schedule(cs, data, voltage_control=voltage_control, vm_bounds=bounds, **kw)
        ac = recheck(cs, sched, voltage_control)
    sched.corrections = {f"{f}:{b}@{t}": list(v) for (f, b, t), v in sorted(bounds.items())}
    return sched, ac, made


__all__ = ["AcCheck", "CORRECTION_MARGIN", "CORRECTION_PASSES", "HourCheck", "TAP_RANGE", "TAP_STEP",
           "band_corrections", "check_hour", "hour_system", "pick_tap", "recheck", "solve_checked"]
