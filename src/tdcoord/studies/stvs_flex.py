"""T-D coordinated scheduling with the flexibility balance and short-term voltage stability (seed 001, part 2).

Three methods on the day-ahead schedule of
:mod:`tdcoord.problems.flex_schedule` (one MILP each), every hour re-checked
by an AC power flow and, with voltage control, corrected where the AC
voltages leave the band (:func:`tdcoord.problems.flex_check.solve_checked`):

- ``method1``, coordination without voltage control: no voltage band in the
  feeders, inverters at unity power factor, nominal substation taps;
- ``method2``, coordination without STVS: the band [0.95, 1.05] in the
  feeders, the inverters' reactive power and the substation taps scheduled;
- ``proposed``: method 2 plus the STVS requirement, by iteration
  (schedule -> assess -> constrain): every hour's AC operating point is
  assessed by the CNN surrogate (:func:`tdcoord.studies.stvs_surrogate.assess`)
  at the critical faults; for an hour where a fault is predicted unstable,
  the most loaded dispatchable (thermal or hydro) machine within one branch
  of the fault (or else the nearest) gets a cap of ``cap_factor`` times its
  output at that hour (a machine loaded less accelerates less during the
  fault and keeps more of its critical clearing time); where the predicted VDSI exceeds ``vdsi_limit``, the
  feeders' voltage ceiling at that hour drops by 0.01 p.u. and each
  boundary's exchange is capped at ``cap_factor`` of its value (the ceiling
  no lower than 0.95 plus the hour's voltage spread, so the profile fits). Re-solve and
  repeat until no critical fault is predicted unstable (or ``max_iter``).

**STVS of the final schedules, from simulation**: for every method, whole
time-domain runs (5 s) of the critical faults at the ``confirm_hours`` most
critical hours (those with the most predicted unstable faults across the
methods, then the largest predicted VDSI), the same hours for every method:
``tvci_unstable_faults`` counts the (hour, fault) pairs that lose stability
and ``vdsi_max`` is the largest simulated VDSI.

**Sensitivity** of the risk preference: the schedule (method 2's model with
the proposed method's cuts) for each ``eps`` of a grid, cost (C_T + C_D)
against the flexibility risk (C_F and the uncovered flexibility, MWh).

An hour whose machine outputs round to the same multiples of
:data:`SAME_POINT_MW` (and its boundary exchanges to the same tenths of it)
as an hour already assessed keeps that assessment, so an iteration assesses
only the hours it changed.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tdcoord.cases.stvs_flex import FlexData, check_eps, flex_data, flex_system
from tdcoord.errors import InputError, SolveError
from tdcoord.problems.flex_check import AcCheck, hour_system, solve_checked
from tdcoord.problems.flex_schedule import VM_BAND, FlexSchedule, StvsCuts, solve_schedule, system_profiles

METHODS = {"method1": ("Method 1: coordination without voltage control", False, False),
           "method2": ("Method 2: coordination without STVS", True, False),
           "proposed": ("Proposed: coordination with STVS", True, True)}
PENETRATION_CHOICES = ("base", "high", "both")
EPS_GRID = (0.1, 0.5, 0.8, 0.9, 0.95, 0.98, 1.0)  # the trade-off lies near 1: c_F / (1 - beta) outweighs costs
#: an hour whose machines round to the same multiples of this (MW), and boundaries of a tenth of it, keeps its
#: assessment
SAME_POINT_MW = 1.0
#: the paper's figures (Table 5 and section 5.2) for the closing comparison
PAPER = {"flex_margins_mw": {"demand": {"up": 65, "down": -61}, "thermal": {"up": 89, "down": -49},
                             "hydro": {"up": 56, "down": -48}, "distribution": {"up": 31, "down": -56}},
         "method1_vm_max_stress_pu": 1.08}


@dataclass
class StvsFlexSettings:
    model: str | None = None  # a surrogate from `tdcoord stvs train`; None: the STVS parts are skipped
    penetration: str = "base"
    eps: float = 0.5
    faults: tuple[str, ...] = ("2", "4", "5")
    duration_s: float = 0.2
    max_iter: int = 10
    vdsi_limit: float = 0.5
    cap_factor: float = 0.85
    confirm_hours: int = 2
    eps_grid: tuple[float, ...] = EPS_GRID
    time_limit_s: float = 60.0

    def __post_init__(self) -> None:
        check_eps(self.eps)
        for e in self.eps_grid:
            check_eps(e)
        if self.penetration not in PENETRATION_CHOICES:
            raise InputError(f"--penetration {self.penetration!r}: expected one of {', '.join(PENETRATION_CHOICES)}")
        if not 0 < self.cap_factor < 1:
            raise InputError(f"cap factor {self.cap_factor!r}: expected a number in (0, 1)")
        if self.max_iter < 0 or self.confirm_hours < 0:
            raise InputError("max_iter and confirm_hours: expected 0 or more")
        if not self.duration_s > 0:
            raise InputError(f"--fault-duration {self.duration_s!r}: expected a duration > 0 s")

    @property
    def cases(self) -> tuple[str, ...]:
        return ("base", "high") if self.penetration == "both" else (self.penetration,)


@dataclass
class MethodResult:
    name: str
    label: str
    schedule: FlexSchedule
    ac: AcCheck
    assessments: dict[int, Any] = field(default_factory=dict)  # hour -> Assessment (surrogate)
    iterations: list[dict] = field(default_factory=list)
    confirmed: list[dict] = field(default_factory=list)  # whole runs: hour, bus, tvci, vdsi, status
    stvs_converged: bool | None = None

    @property
    def predicted_unstable(self) -> list[tuple[int, str]]:
        return [(h, f.bus) for h, a in sorted(self.assessments.items()) for f in a.faults if f.tvci == 0]

    def summary(self) -> dict:
        s, ac = self.schedule, self.ac
        op_cost = sum(v for k, v in s.costs.items() if k.startswith(("T.", "D.")))
        risk = sum(v for k, v in s.costs.items() if k.startswith("F."))
        sims = [c for c in self.confirmed if c["tvci"] in (0, 1)]
        vd = [a.vdsi_max for a in self.assessments.values() if np.isfinite(a.vdsi_max)]
        return {
            "name": self.name, "label": self.label, "cost": op_cost + risk, "operating_cost": op_cost,
            "flex_risk_cost": risk, "objective": s.objective, "costs": dict(s.costs),
            "vm_max_pu": ac.vm_max_pu, "vm_min_pu": ac.vm_min_pu, "violations": ac.n_violations,
            "violations_by_kind": ac.violations, "over_voltages": ac.over_voltages,
            "tvci_unstable_faults": sum(1 for c in sims if c["tvci"] == 0) if self.confirmed else None,
            "vdsi_max": max((c["vdsi"] for c in sims), default=None) if self.confirmed else None,
            "simulated_runs": len(self.confirmed),
            "predicted_unstable_faults": len(self.predicted_unstable) if self.assessments else None,
            "predicted_vdsi_max": max(vd) if vd else None,
            "stvs_iterations": len(self.iterations), "stvs_converged": self.stvs_converged,
            "cuts": s.cuts, "ac_corrections": len(s.corrections), "schedule_time_s": s.time_s,
            "binaries": s.binaries,
            "curtailed_mwh": curtailed_mwh(s), "shed_mwh": shed_mwh(s),
            "tie_transfer_mwh": float(sum(np.abs(p).sum() for ends in s.tie_mw.values() for p in ends.values()) / 2),
            "flex_shortfall_mwh": {k: float(v.sum()) for k, v in s.shortfall_mw.items()},
        }


@dataclass
class CaseResult:
    penetration: str
    data: FlexData
    methods: dict[str, MethodResult]
    confirm_hours: list[int]
    sweep: list[dict]


@dataclass
class StvsFlexStudy:
    settings: StvsFlexSettings
    cases: dict[str, CaseResult]
    time_s: float
    notes: list[str] = field(default_factory=list)


def shed_mwh(s: FlexSchedule) -> dict[str, float]:
    return {"transmission": float(s.shed_mw.sum()),
            "distribution": float(sum(v.sum() for v in s.feeder_shed_mw.values()))}


def curtailed_mwh(s: FlexSchedule) -> dict[str, float]:
    out = {"transmission_wind": float((s.wind_available_mw - s.gen_mw[next(k for k in s.gen_mw if k.startswith("W"))])
                                      .sum())}
    out["distribution"] = float(sum((s.sgen_available_mw[n] - s.sgen_p_mw[n]).sum() for n in s.sgen_p_mw))
    return out


def source_kinds(s: FlexSchedule, data: FlexData) -> dict[str, list[str]]:
    """The flexibility sources of each kind as in Table 5: the thermal units, the hydro unit, the feeders."""
    return {"thermal": [u.name for u in data.thermal], "hydro": [data.hydro.name],
            "distribution": list(s.boundary_mw)}


def margins_table(s: FlexSchedule, data: FlexData) -> dict[str, dict[str, float]]:
    """Table 5: each kind's largest upward and downward margin over the day (MW; downward negative)."""
    out = {}
    for kind, names in source_kinds(s, data).items():
        up = sum(s.margins_mw[n]["up"] for n in names)
        dn = sum(s.margins_mw[n]["down"] for n in names)
        out[kind] = {"up": float(np.max(up)), "down": -float(np.max(dn))}
    out["demand"] = {"up": float(s.demand_mw["up"].max()), "down": float(s.demand_mw["down"].min())}
    return out


# ------------------------------------------------------------------ STVS
def _near_machines(tn: Any, bus: str, s: FlexSchedule, h: int, movable: set[str]) -> list[str]:
    """The dispatchable machine to relieve for a fault at ``bus``: the most loaded within one branch of it (or
    else the nearest), as a one-element list (empty where there is none)."""
    adj: dict[str, set[str]] = {}
    for tab, a, b in (("line", "from_bus", "to_bus"), ("trafo", "from_bus", "to_bus")):
        df = getattr(tn, tab)
        for u, v, on in zip(df[a].astype(str), df[b].astype(str), df.in_service):
            if on:
                adj.setdefault(u, set()).add(v)
                adj.setdefault(v, set()).add(u)
    out = {bus_: float(s.gen_mw[n][h]) for n, bus_ in s.gen_bus.items() if bus_ in movable}
    dist = {bus: 0}
    q = deque([bus])
    while q:
        u = q.popleft()
        for v in adj.get(u, ()):
            if v not in dist:
                dist[v] = dist[u] + 1
                q.append(v)
    near = sorted((b for b in out if dist.get(b, 99) <= 1), key=lambda b: -out[b])
    if near:
        return near[:1]
    return sorted((b for b in out if b in dist), key=lambda b: (dist[b], -out[b]))[:1]


def _point(op: Any) -> dict[str, float]:
    out = dict(op.features())
    out.update({f"p_gen_mw:{b}": v for b, v in (op.gen_mw or {}).items()})
    return out


class HourRunner:
    """Lives in an executor's worker: the surrogate and the critical faults, for hours sent to it."""

    def __init__(self, model_path: str, faults: list[Any]) -> None:
        from tdcoord.stability.surrogate import load_surrogate

        self.model = load_surrogate(model_path)
        self.faults = faults

    def assess_many(self, ops: list[Any]) -> list[Any]:
        from tdcoord.studies.stvs_surrogate import assess

        return [assess(self.model, op, self.faults) for op in ops]

    def simulate_many(self, jobs: list[tuple[int, Any]]) -> list[list[dict]]:
        """Whole runs of every fault at each (hour, operating point); one list of rows per job."""
        from tdcoord.stability.time_domain import T_END, simulate

        out = []
        for h, op in jobs:
            rows = []
            for f in self.faults:
                sim = simulate(op, f, T_END)
                row = {"hour": h, "bus": f.bus, "duration_s": round(f.t_clear - f.t_fault, 6), "status": sim.status,
                       "tvci": -1, "vdsi": None}
                if sim.status in ("completed", "stopped"):
                    ind = sim.indices(self.model.key_nodes, T_END)
                    row["tvci"], row["vdsi"] = int(ind.tvci), float(ind.vdsi)
                else:
                    row["reason"] = sim.reason
                rows.append(row)
            out.append(rows)
        return out


class Assessor:
    """The surrogate's assessment of schedule hours on an executor's workers, cached by operating point."""

    def __init__(self, model_path: str, settings: StvsFlexSettings, executor: Any = None) -> None:
        import functools

        from tdcoord.execution import make_executor
        from tdcoord.stability.surrogate import load_surrogate
        from tdcoord.stability.time_domain import T_FAULT, FaultSpec
        from tdcoord.studies.stvs_surrogate import check_faults

        load_surrogate(model_path)  # a bad file fails here, before any worker starts
        self.faults = [FaultSpec(str(b), T_FAULT + settings.duration_s) for b in settings.faults]
        check_faults(self.faults)
        self.ex = executor or make_executor("serial")
        self.names = [f"stvs{i}" for i in range(max(1, int(getattr(self.ex, "workers", 1) or 1)))]
        self.ex.open({n: functools.partial(HourRunner, model_path, self.faults) for n in self.names})
        self.cache: dict[tuple, Any] = {}
        self.calls = 0
        self.time_s = 0.0

    def close(self) -> None:
        self.ex.close()

    def _spread(self, method: str, items: list[Any]) -> list[Any]:
        """``method`` on the workers, the items split among them; results in the items' order."""
        if not items:
            return []
        parts = {n: items[k::len(self.names)] for k, n in enumerate(self.names) if items[k::len(self.names)]}
        t0 = time.perf_counter()
        res = self.ex.call(method, {n: (p,) for n, p in parts.items()})
        self.time_s += time.perf_counter() - t0
        out: list[Any] = [None] * len(items)
        for k, n in enumerate(self.names):
            for j, r in enumerate(res.get(n, [])):
                out[k + j * len(self.names)] = r
        return out

    def op(self, cs: Any, s: FlexSchedule, ac: AcCheck, h: int) -> Any:
        from tdcoord.stability.time_domain import operating_point

        gen = {b: float(s.gen_mw[n][h]) for n, b in s.gen_bus.items()}
        return operating_point(hour_system(cs, s, h), ac.hours[h].pf, gen)

    def hours(self, cs: Any, s: FlexSchedule, ac: AcCheck) -> dict[int, Any]:
        keys, todo = {}, {}
        for h, hc in enumerate(ac.hours):
            if not hc.converged:
                continue
            op = self.op(cs, s, ac, h)
            key = tuple(sorted((k, round(v / (SAME_POINT_MW if k.startswith("p_gen") else SAME_POINT_MW / 10)))
                               for k, v in _point(op).items()))
            keys[h] = key
            if key not in self.cache and key not in todo:
                todo[key] = op
        for key, a in zip(todo, self._spread("assess_many", list(todo.values()))):
            self.cache[key] = a
        self.calls += len(todo)
        return {h: self.cache[k] for h, k in keys.items()}

    def confirm(self, cs: Any, s: FlexSchedule, ac: AcCheck, hours: list[int]) -> list[dict]:
        jobs = [(h, self.op(cs, s, ac, h)) for h in hours if ac.hours[h].converged]
        return [row for rows in self._spread("simulate_many", jobs) for row in rows]


def stvs_cuts(cs: Any, s: FlexSchedule, assessed: dict[int, Any], cuts: StvsCuts, data: FlexData,
              settings: StvsFlexSettings) -> list[dict]:
    """Tighten ``cuts`` for the hours whose assessment fails (see the module docstring); the changes made."""
    movable = set(data.thermal_bus) | {data.hydro.bus}
    lower = {u: lo for u, lo in zip(data.thermal_bus, [u.p_c_mw for u in data.thermal])}
    lower[data.hydro.bus] = data.hydro.p_min_mw
    made = []
    for h, a in sorted(assessed.items()):
        for f in a.unstable:
            for m in _near_machines(cs.transmission, f.bus, s, h, movable):
                name = next(n for n, b in s.gen_bus.items() if b == m)
                cap = max(lower[m], settings.cap_factor * float(s.gen_mw[name][h]))
                old = cuts.gen_mw.get((m, h), np.inf)
                if cap < old - 1e-6:
                    cuts.gen_mw[(m, h)] = cap
                    made.append({"hour": h, "fault": f.bus, "cut": "gen_mw", "bus": m, "value": round(cap, 3)})
        if np.isfinite(a.vdsi_max) and a.vdsi_max > settings.vdsi_limit and not a.unstable:
            vmax = max(float(v[:, h].max()) for v in s.feeder_vm.values())
            spread = max(float(v[:, h].max() - v[:, h].min()) for v in s.feeder_vm.values())
            ceiling = round(max(vmax - 0.01, VM_BAND[0] + spread), 4)  # the profile must still fit above 0.95
            if ceiling < cuts.vm_max.get(h, VM_BAND[1]) - 1e-6:
                cuts.vm_max[h] = ceiling
                made.append({"hour": h, "cut": "vm_max", "value": ceiling})
            for n, p in s.boundary_mw.items():
                cap = settings.cap_factor * abs(float(p[h]))
                if cap < cuts.boundary_mw.get((n, h), np.inf) - 1e-6:
                    cuts.boundary_mw[(n, h)] = cap
                    made.append({"hour": h, "cut": "boundary_mw", "feeder": n, "value": round(cap, 4)})
    return made


# ------------------------------------------------------------------ study
def run_case(penetration: str, settings: StvsFlexSettings, assessor: Assessor | None,
             progress: Callable[[str], None]) -> CaseResult:
    data = flex_data(penetration, eps=settings.eps)
    cs = flex_system(penetration, data)
    prof = system_profiles(cs, data)
    res: dict[str, MethodResult] = {}
    for name, (label, vc, stvs) in METHODS.items():
        cuts = StvsCuts()
        if stvs and "method2" in res:  # the same model before any cut: method 2's schedule is the first iterate
            s, ac = replace(res["method2"].schedule, method=name), res["method2"].ac
        else:
            s, ac, _ = solve_checked(cs, data, method=name, voltage_control=vc, cuts=cuts, profiles=prof,
                                     time_limit_s=settings.time_limit_s)
        progress(f"{penetration}: {name} scheduled in {s.time_s:.1f} s, AC re-check V {ac.vm_min_pu:.4f}-"
                 f"{ac.vm_max_pu:.4f}, {ac.n_violations} violations")
        mr = MethodResult(name, label, s, ac)
        if assessor is not None:
            mr.assessments = assessor.hours(cs, s, ac)
            if stvs:
                mr.stvs_converged = not any(a.unstable for a in mr.assessments.values())
                for it in range(settings.max_iter):
                    if mr.stvs_converged:
                        break
                    made = stvs_cuts(cs, s, mr.assessments, cuts, data, settings)
                    mr.iterations.append({"iteration": it + 1, "cuts": made,
                                          "unstable_before": [[h, b] for h, b in mr.predicted_unstable]})
                    if not made:
                        break
                    try:
                        s, ac, _ = solve_checked(cs, data, method=name, voltage_control=vc, cuts=cuts,
                                                 profiles=prof, time_limit_s=settings.time_limit_s)
                    except SolveError as exc:  # the cuts left no feasible day: keep the last schedule
                        mr.iterations[-1]["infeasible"] = str(exc)
                        progress(f"{penetration}: STVS iteration {it + 1}: the cuts made the day infeasible; stopped")
                        break
                    mr.schedule, mr.ac = s, ac
                    mr.assessments = assessor.hours(cs, s, ac)
                    mr.stvs_converged = not any(a.unstable for a in mr.assessments.values())
                    progress(f"{penetration}: STVS iteration {it + 1}: {len(made)} cuts, "
                             f"{len(mr.predicted_unstable)} faults still predicted unstable")
        res[name] = mr
    hours: list[int] = []
    if assessor is not None and settings.confirm_hours:
        score: dict[int, tuple[int, float]] = {}
        for mr in res.values():
            for h, a in mr.assessments.items():
                u, v = score.get(h, (0, 0.0))
                score[h] = (u + len(a.unstable), max(v, a.vdsi_max if np.isfinite(a.vdsi_max) else 0.0))
        hours = sorted(sorted(score, key=lambda h: score[h], reverse=True)[:settings.confirm_hours])
        jobs = [(mr, h) for mr in res.values() for h in hours]
        rows = assessor._spread("simulate_many", [(h, assessor.op(cs, mr.schedule, mr.ac, h)) for mr, h in jobs])
        for (mr, _), r in zip(jobs, rows):
            mr.confirmed.extend(r)
        progress(f"{penetration}: final schedules simulated at hours {hours}")
    sweep = []
    if penetration == settings.cases[0] and settings.eps_grid:
        final = res["proposed"].schedule
        cuts = _cuts_from(final.cuts)
        for e in settings.eps_grid:
            d = flex_data(penetration, eps=e)
            s = solve_schedule(cs, d, method=f"eps={e:g}", voltage_control=True, cuts=cuts, profiles=prof,
                               time_limit_s=settings.time_limit_s)
            sweep.append({"eps": e, "operating_cost": sum(v for k, v in s.costs.items() if k.startswith(("T.", "D."))),
                          "flex_risk_cost": sum(v for k, v in s.costs.items() if k.startswith("F.")),
                          "flex_shortfall_mwh": float(s.shortfall_mw["up"].sum() + s.shortfall_mw["down"].sum()),
                          "tail_excess_mwh": float(s.tail_excess_mw["up"].sum() + s.tail_excess_mw["down"].sum()),
                          "time_s": s.time_s})
        progress(f"{penetration}: eps sweep of {len(sweep)} schedules")
    return CaseResult(penetration, data, res, hours, sweep)


def _cuts_from(d: dict) -> StvsCuts:
    c = StvsCuts()
    c.vm_max = {int(h): float(v) for h, v in d.get("vm_max", {}).items()}
    c.boundary_mw = {(e["feeder"], int(e["hour"])): float(e["mw"]) for e in d.get("boundary_mw", [])}
    c.gen_mw = {(e["bus"], int(e["hour"])): float(e["mw"]) for e in d.get("gen_mw", [])}
    return c


def run_study(settings: StvsFlexSettings, progress: Callable[[str], None] | None = None,
              executor: Any = None) -> StvsFlexStudy:
    """The three methods on each case of ``settings.penetration`` (see the module docstring); the stability
    assessments run on ``executor`` (serial unless given; closed at the end)."""
    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    notes = []
    assessor = None
    if settings.model is not None:
        path = Path(settings.model)
        if not path.is_file():
            raise InputError(f"--model {settings.model}: no such file; train a surrogate with `tdcoord stvs train "
                             f"--data DIR --out {settings.model}` (DIR from `tdcoord stvs dataset`)")
        assessor = Assessor(str(path), settings, executor)
    else:
        notes.append("no surrogate given (--model): the proposed method's STVS iteration and the STVS indices were "
                     "skipped; train one with `tdcoord stvs train`")
    try:
        cases = {p: run_case(p, settings, assessor, say) for p in settings.cases}
    finally:
        if assessor is not None:
            assessor.close()
    if assessor is not None:
        notes.append(f"stability: {assessor.calls} hourly assessments and the confirming runs took "
                     f"{assessor.time_s:.1f} s")
    return StvsFlexStudy(settings, cases, time.perf_counter() - t0, notes)


def summary(study: StvsFlexStudy) -> dict:
    """The study's JSON (the contract keys ``methods``, ``flex_margins_mw``, ``eps`` first)."""
    first = study.cases[study.settings.cases[0]]
    prop = first.methods["proposed"].schedule
    out: dict[str, Any] = {
        "methods": [m.summary() for m in first.methods.values()],
        "flex_margins_mw": margins_table(prop, first.data),
        "eps": study.settings.eps,
        "penetration": first.penetration,
        "confirm_hours": first.confirm_hours,
        "faults": {"buses": list(study.settings.faults), "duration_s": study.settings.duration_s},
        "eps_sweep": first.sweep,
        "paper": PAPER,
        "notes": study.notes,
        "time_s": study.time_s,
    }
    for p, c in study.cases.items():
        if c is first:
            continue
        out["stress" if p == "high" else p] = {"penetration": p, "methods": [m.summary() for m in c.methods.values()],
                                               "flex_margins_mw": margins_table(c.methods["proposed"].schedule, c.data),
                                               "confirm_hours": c.confirm_hours}
    return out


__all__ = ["CaseResult", "EPS_GRID", "METHODS", "MethodResult", "PAPER", "PENETRATION_CHOICES", "StvsFlexSettings",
           "StvsFlexStudy", "margins_table", "source_kinds", "run_case", "run_study", "stvs_cuts", "summary"]
