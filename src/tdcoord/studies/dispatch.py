"""24-hour dynamic dispatch of reactive power and its reserve (seed 000, section 5.5, Fig. 5).

One joint T-D optimization per hour of a typical day
(loads, wind and PV follow the hour: the time series the case carries, or
those :func:`~tdcoord.cases.profiles.attach_profiles` makes of the
typical-day profiles; the ``scenario``, e.g. ``combined``, is applied to
the case first; each hour is ``cs.at_period(hour)``):

- ``centralized``: one :class:`~tdcoord.coordination.problem.AreaProblem`
  over the grid and every feeder is built once; each hour loads its data
  into it (:meth:`~tdcoord.coordination.problem.AreaProblem.update_from`)
  and re-solves it, IPOPT warm-started from the previous hour's solution,
  with the capacitor steps found by the discrete search
  (:func:`~tdcoord.coordination.discrete.solve_discrete`);
- ``admm``: :func:`~tdcoord.coordination.admm.solve_admm` each hour, its
  subproblems' variables and the boundary consensus started from the
  previous hour's re-checked dispatch: its set-points, re-checked by power
  flow at this hour's loads and renewable outputs. (Started from the
  previous hour's own power flow instead, the consensus would carry the
  previous hour's boundary P, which the feeder can no longer reach; the
  penalty probe of ``solve_admm`` then measures the pin on P instead of the
  curvatures and ADMM needs far more iterations.)

The objective weights (entropy weights by default) and the key nodes are
fixed once for the day, so that hours are comparable, at a reference hour
that does not depend on where the run starts: the day's peak-load hour
(:func:`reference_hour`: the hour of the largest total active load of all
networks, the first one on a tie; 10:00 for the built-in profiles). An hour
computed by a run starting at 04:00 and by one starting at 05:00 is the same
problem; only its warm start differs. ``summary.json`` reports the weights
(``weights``) and that hour (``reference_hour``; null where neither entropy
weights nor key nodes were computed).

Voltage stability (``vsm``, on by default): the key nodes are screened once,
at the reference hour's pre-optimization point. Each hour is first solved with
the linearized margins of the previous hour's final operating point (the
first hour: of its pre-optimization point); then the margins are recomputed
by continuation power flow at the hour's re-checked operating point, and
where one is below the threshold the problem is re-solved with that
linearization (the same built problem for ``centralized``), as
:func:`~tdcoord.coordination.vsm_loop.iterate_vsm` does, until every
CPF-checked margin meets the threshold and the margins settle.
``vsm_min_pu`` is the smallest CPF margin at the hour's final re-checked
point.

Every hour's dispatch is re-checked by the integrated power flow
(:func:`~tdcoord.coordination.common.build_strategy_result`) and judged from it: objective,
losses, reserves, voltages, violations, and per device type the reactive
dispatch (Mvar, signed: + injects) and the reserve (remaining upward
capability q_max - q of controllable sources, Mvar):

- transmission: wind farms, PV stations, synchronous condensers,
  STATCOMs/SVCs, other generators (thermal machines, the slack included),
  and anything else as ``other``;
- distribution: smart inverters (DG, PV), SVGs, capacitor banks.

Outputs (``out``): after each finished hour ``out/periods/hour_HH.json``, a
checkpoint file (:class:`~tdcoord.results.checkpoint.Checkpoint`: written to a
temporary file, then renamed, so that an interrupted run loses at most the
hour in progress), holding that hour's figures, its device-type table, the
weights and their reference hour, the key nodes and margins, the dispatch
set-points, and the full re-checked operating point as result tables
(``tables``: per element kind, as :func:`~tdcoord.results.tables.tables_to_json`
writes them for ``tdcoord opt --json``: every bus's voltage magnitude and
angle, every unit's P and Q, the transmission slack included, tap positions,
capacitor steps, branch flows and losses, the boundary flows that supply the
feeders). Ctrl-C (a ``KeyboardInterrupt``, also where it lands inside IPOPT)
stops the run and keeps the finished hours. ``resume=True`` takes the finished
hours from there instead of recomputing them and starts the next hour from the
last finished hour's re-checked operating point (rebuilt from its stored
set-points by power flow), with the weights and key nodes stored with the
hours. The hours must have been computed under the same settings, which
their fingerprint holds (case and a digest of its data, strategy, scenario,
first hour, weights, profiles, VSM, discrete method, voltage band, ADMM and
reserve settings); a folder holding hours of other settings is refused,
naming the settings that differ. At the end: ``periods.csv``,
``dispatch_by_type.csv``, ``reserve_by_type.csv`` and ``summary.json``
(:meth:`DispatchResult.write_tables`); the plots are
:func:`tdcoord.reporting.dispatch.write_dispatch_outputs`. The day's totals
(:meth:`DispatchResult.totals`) count the converged hours and list the
others (``failed_hours``, ``hours_not_counted``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from tdcoord.backends.casadi_nlp import WARM_START
from tdcoord.cases.profiles import DEFAULT, HOURS, Profiles, attach_profiles, check_hour, get_profiles, hour_of
from tdcoord.coordination.admm import AdmmSettings, solve_admm
from tdcoord.coordination.centralized import centralized_result
from tdcoord.coordination.common import Dispatch, apply_dispatch, base_case, start_point
from tdcoord.coordination.discrete import solve_discrete
from tdcoord.coordination.problem import AreaProblem
from tdcoord.errors import InputError, SolveError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.rpo import RpoConfig, Weights
from tdcoord.problems.vsm import VsmSettings, set_linearization
from tdcoord.results.checkpoint import Checkpoint, system_digest
from tdcoord.results.optimization import StrategyResult, VsmOutcome
from tdcoord.results.serialize import plain, write_json
from tdcoord.results.tables import tables_to_json

STRATEGIES = ("centralized", "admm")
WARM_MODES = ("primal-dual", "primal", "cold")
FORMAT = "tdcoord.dispatch.period/1"

#: Device types (column keys) and their labels, in plotting order.
TYPE_LABELS: dict[str, str] = {
    "T_wind": "T: wind farms",
    "T_pv": "T: PV stations",
    "T_condenser": "T: synchronous condensers",
    "T_statcom": "T: STATCOMs",
    "T_generator": "T: other generators",
    "T_other": "T: other sources",
    "D_inverter": "D: smart inverters (DG, PV)",
    "D_svg": "D: SVGs",
    "D_capacitor": "D: capacitor banks",
    "D_other": "D: other sources",
}
MAIN_TYPES = ("T_wind", "T_pv", "T_condenser", "T_statcom", "T_generator", "D_inverter", "D_svg", "D_capacitor")

#: Per-hour figures (periods.csv), in order.
FIGURES = ("objective", "p_loss_mw", "vsm_min_pu", "n_violations", "converged", "time_s", "q_reserve_t_mvar",
           "q_reserve_d_mvar", "vm_min_pu", "vm_max_pu", "pf_mismatch_pu", "recheck_dvm_pu", "iterations",
           "ipopt_iterations", "ipopt_iterations_first", "nlp_solves", "vsm_outer", "vsm_ok", "status")
PERIOD_KEYS = ("hour", "objective", "p_loss_mw", "vsm_min_pu", "n_violations", "converged", "time_s",
               "q_reserve_t_mvar", "q_reserve_d_mvar")


def device_type(network: str, table: str, subtype: str) -> str:
    """Type key (:data:`TYPE_LABELS`) of a reactive source."""
    sub = str(subtype).lower()
    if network == "T":
        if table == "sgen":
            return {"wind": "T_wind", "pv": "T_pv"}.get(sub, "T_other")
        if table == "gen":
            return "T_condenser" if sub == "condenser" else "T_generator"
        if table == "svc":
            return "T_statcom"
        return "T_other"
    return {"sgen": "D_inverter", "svc": "D_svg", "shunt": "D_capacitor"}.get(table, "D_other")


def by_type(devices: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Reactive dispatch, reserve and capability summed per device type (Mvar)."""
    out: dict[str, dict[str, float]] = {"q_mvar": {}, "reserve_mvar": {}, "q_max_mvar": {}}
    keys = list(MAIN_TYPES)
    if len(devices):
        types = [device_type(n, t, s) for n, t, s in zip(devices.network, devices.table, devices.subtype)]
        dev = devices.assign(type=types)
        keys += [k for k in TYPE_LABELS if k not in keys and k in set(types)]
        sums = dev.groupby("type")[["q_mvar", "reserve_mvar", "q_max_mvar"]].sum()
    else:
        sums = pd.DataFrame(columns=["q_mvar", "reserve_mvar", "q_max_mvar"])
    for what in out:
        for k in keys:
            out[what][k] = float(sums.at[k, what]) if k in sums.index else 0.0
    return out


# --------------------------------------------------------------- JSON
def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def weights_to_json(w: Weights) -> dict:
    return {**w.as_dict(), "method": w.method, "detail": w.detail}


def weights_from_json(d: dict) -> Weights:
    return Weights(alpha=float(d["alpha"]), beta=float(d["beta"]), gamma=float(d["gamma"]), delta=float(d["delta"]),
                   method=d.get("method", "explicit"), detail=d.get("detail") or {})


# --------------------------------------------------------------- result
@dataclass
class DispatchResult:
    """A day (or part of one) of hourly dispatch; ``records`` in run order."""

    case: str
    strategy: str
    scenario: str | None
    records: list[dict[str, Any]]
    weights: Weights
    vsm_nodes: list[str]
    time_s: float
    setup_s: float = 0.0
    profiles: Profiles = DEFAULT
    settings: dict[str, Any] = field(default_factory=dict)
    results: dict[int, StrategyResult] = field(default_factory=dict)  # hours computed in this call
    resumed: list[int] = field(default_factory=list)  # hours read from out/periods
    reference_hour: int | None = None  # where the entropy weights and the key nodes were computed

    @property
    def hours(self) -> list[int]:
        return [int(r["hour"]) for r in self.records]

    def periods(self) -> pd.DataFrame:
        """One row per hour: profile factors and figures."""
        rows = []
        for r in self.records:
            row = {"hour": r["hour"], "time": f"{r['hour']:02d}:00", **r["profile"]}
            row.update({k: r["figures"].get(k) for k in FIGURES})
            row["resumed"] = r["hour"] in self.resumed
            rows.append(row)
        df = pd.DataFrame(rows).set_index("hour")
        for k in ("objective", "p_loss_mw", "vsm_min_pu", "time_s", "q_reserve_t_mvar", "q_reserve_d_mvar",
                  "vm_min_pu", "vm_max_pu", "pf_mismatch_pu", "recheck_dvm_pu"):
            df[k] = df[k].map(_num)
        return df

    def by_type(self, what: str = "q_mvar") -> pd.DataFrame:
        """Hours x device types: ``q_mvar`` (dispatch), ``reserve_mvar`` or ``q_max_mvar`` (Mvar)."""
        rows = {r["hour"]: r["by_type"][what] for r in self.records if r.get("by_type")}
        df = pd.DataFrame.from_dict(rows, orient="index")
        if not len(df):
            return pd.DataFrame(columns=list(MAIN_TYPES), dtype=float)
        cols = [k for k in TYPE_LABELS if k in df.columns]
        df = df[cols].reindex([r["hour"] for r in self.records])
        df.index.name = "hour"
        return df

    @property
    def converged(self) -> bool:
        return all(bool(r["figures"]["converged"]) for r in self.records)

    def totals(self) -> dict[str, Any]:
        """The day's figures. Energy, objective sum and loss extremes count the converged hours only: the
        others are listed in ``failed_hours`` (and every hour left out of the energy in ``hours_not_counted``)."""
        p = self.periods()
        ok = p.converged.astype(bool)
        counted = ok & p.p_loss_mw.notna()
        c = p[counted]
        vsm = p.vsm_min_pu.dropna()
        it = pd.to_numeric(p.ipopt_iterations, errors="coerce").dropna()
        return {
            "energy_loss_mwh": float(c.p_loss_mw.sum()),  # 1-hour periods
            "p_loss_min_mw": float(c.p_loss_mw.min()) if len(c) else None,
            "p_loss_max_mw": float(c.p_loss_mw.max()) if len(c) else None,
            "objective_sum": float(c.objective.sum()),
            "vsm_min_pu": float(vsm.min()) if len(vsm) else None,
            "vsm_max_pu": float(vsm.max()) if len(vsm) else None,
            "n_converged": int(ok.sum()), "n_hours": int(len(p)),
            "n_hours_counted": int(counted.sum()),
            "failed_hours": [int(h) for h in p.index[~ok]],
            "hours_not_counted": [int(h) for h in p.index[~counted]],
            "hours_with_violations": [int(h) for h in p.index[p.n_violations.fillna(0).astype(int) != 0]],
            "ipopt_iterations": int(it.sum()) if len(it) else None,
            "time_s_hours": float(p.time_s.sum()),
            "time_s_hour_max": float(p.time_s.max()),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "case": self.case, "strategy": self.strategy, "scenario": self.scenario,
            "hours": self.hours, "weights": weights_to_json(self.weights), "reference_hour": self.reference_hour,
            "vsm_nodes": list(self.vsm_nodes),
            "periods": [{k: (r["hour"] if k == "hour" else r["figures"].get(k)) for k in PERIOD_KEYS}
                        for r in self.records],
            "totals": self.totals(), "converged": self.converged,
            "time_s": self.time_s, "setup_s": self.setup_s,
            "computed_hours": sorted(self.results), "resumed_hours": list(self.resumed),
            "profiles": self.profiles.as_dict(), "settings": self.settings,
        }

    def write_tables(self, out: str | Path) -> list[Path]:
        """periods.csv, dispatch_by_type.csv, reserve_by_type.csv and summary.json in ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files = [out / "periods.csv", out / "dispatch_by_type.csv", out / "reserve_by_type.csv", out / "summary.json"]
        self.periods().to_csv(files[0])
        self.by_type("q_mvar").to_csv(files[1])
        self.by_type("reserve_mvar").to_csv(files[2])
        write_json(files[3], self.summary())
        return files


# --------------------------------------------------------------- the run
@dataclass
class _State:
    """The last finished hour's re-checked operating point (warm start of the next hour)."""

    applied: CoupledSystem
    pf: Any
    dispatch: Dispatch


def _carry(cs_hour: CoupledSystem, state: _State) -> Any:
    """Power flow of ``cs_hour`` with the last finished hour's set-points (None if it fails)."""
    from tdcoord.pf.integrated import run_coupled

    pf = run_coupled(apply_dispatch(cs_hour, state.dispatch), "merged", check=False)
    return pf if pf.converged else None


class _Counter:
    """Counts IPOPT iterations of every solve of one built problem."""

    def __init__(self, problem: AreaProblem) -> None:
        self.solves: list[int] = []
        orig = problem.b.solve

        def counted(*a: Any, **k: Any) -> Any:
            sol = orig(*a, **k)
            self.solves.append(int(sol.iterations))
            return sol

        problem.b.solve = counted  # type: ignore[method-assign]

    def take(self) -> list[int]:
        out, self.solves = self.solves, []
        return out


@dataclass
class _Plan:
    """A run's checked settings (:func:`_plan`)."""

    strategy: str
    scenario: str | None
    clock: list[int]  # the hours, in run order
    prof: Profiles
    w_spec: Any  # "entropy" or Weights
    vsm: VsmSettings | None
    admm: AdmmSettings
    discrete: str
    warm_mode: str
    executor: Any
    run_key: dict[str, Any]  # the fingerprint of the settings (see _fingerprint)

    @property
    def warm_start(self) -> bool:
        return self.warm_mode != "cold"


def _fingerprint(cs: CoupledSystem, strategy: str, scenario: str | None, start_hour: int, weights: Any,
                 vsm: VsmSettings | None, profiles: Profiles, discrete: str, vm_band: Any, admm: AdmmSettings | None,
                 reserve: dict | None) -> dict[str, Any]:
    """Every setting that changes an hour's result: a resumed run must have the same."""
    return plain({
        "case": cs.name, "case_data": system_digest(cs), "strategy": strategy, "scenario": scenario,
        "start_hour": start_hour,
        "weights": weights if isinstance(weights, str) else weights.as_dict(),
        "vsm": dataclasses.asdict(vsm) if vsm is not None else None,
        "profiles": profiles.digest(), "discrete": discrete, "vm_band": list(vm_band) if vm_band else None,
        "admm": dataclasses.asdict(admm) if (admm is not None and strategy == "admm") else None,
        "reserve": sorted([list(k) + [v] for k, v in reserve.items()]) if reserve else None,
    })


def _plan(cs: CoupledSystem, *, hours: int, start_hour: int, strategy: str, weights: Any, scenario: str | None,
          vsm: VsmSettings | None, executor: Any, admm: AdmmSettings | None, profiles: Any, discrete: str,
          vm_band: Any, reserve: dict | None, warm_start: bool | str) -> _Plan:
    """The arguments of :func:`run_dispatch`, checked (an :class:`InputError` names the first bad one)."""
    from tdcoord.studies.comparison import parse_weights
    from tdcoord.studies.scenarios import get_scenario

    if strategy not in STRATEGIES:
        raise InputError(f"dispatch strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    if isinstance(hours, bool) or not isinstance(hours, (int, np.integer)) or not 1 <= hours <= HOURS:
        raise InputError(f"hours = {hours!r}: expected an integer from 1 to {HOURS}")
    start_hour = check_hour(start_hour)
    if discrete not in ("search", "bonmin"):
        raise InputError(f"discrete method {discrete!r}: expected 'search' or 'bonmin'")
    prof = get_profiles(profiles)
    w_spec = parse_weights(weights)
    if strategy == "admm" and executor is None:
        from tdcoord.execution import make_executor

        executor = make_executor("serial")
    if scenario:
        get_scenario(scenario)
    admm_st = dataclasses.replace(admm) if admm is not None else AdmmSettings.for_studies()
    admm_st.discrete = discrete
    vsm = dataclasses.replace(vsm) if vsm is not None else None
    warm_mode = {True: "primal-dual", False: "cold"}.get(warm_start, warm_start)  # type: ignore[call-overload]
    if warm_mode not in WARM_MODES:
        raise InputError(f"warm_start {warm_start!r}: expected True, False or one of {', '.join(WARM_MODES)}")
    clock = [(start_hour + k) % HOURS for k in range(int(hours))]
    run_key = _fingerprint(cs, strategy, scenario, start_hour, w_spec, vsm, prof, discrete, vm_band,
                           admm_st if strategy == "admm" else None, reserve)
    return _Plan(strategy=strategy, scenario=scenario, clock=clock, prof=prof, w_spec=w_spec, vsm=vsm, admm=admm_st,
                 discrete=discrete, warm_mode=warm_mode, executor=executor, run_key=run_key)


def _day(cs: CoupledSystem, plan: _Plan) -> CoupledSystem:
    """The scenario's day as time series on the networks: their own where the case carries them, else the profiles'."""
    from tdcoord.studies.scenarios import apply_scenario

    day = apply_scenario(cs, plan.scenario) if plan.scenario else cs
    if day.n_periods == 0:
        return attach_profiles(day, plan.prof)
    if day.n_periods < HOURS:
        raise InputError(f"case {cs.name!r} carries time series of {day.n_periods} periods; the dispatch needs "
                         f"{HOURS} (hours 0-23)")
    return day


def reference_hour(day: CoupledSystem) -> int:
    """The day's peak-load hour: largest total active load of all networks' in-service loads (first on a tie)."""
    from tdcoord.network.timeseries import values

    total = np.zeros(HOURS)
    for net in [day.transmission] + list(day.feeders.values()):
        if len(net.load):
            p = values(net, "load", "p_mw", max(net.n_periods, HOURS))[:, :HOURS]
            total += p[net.load.in_service.to_numpy(bool)].sum(axis=0)
    return int(np.argmax(total))


def _pre_optimization_pf(cs_h: CoupledSystem, hour: int) -> Any:
    """The hour's power flow before optimization (a :class:`SolveError` if it does not converge)."""
    pf = base_case(cs_h)
    if not pf.converged:
        raise SolveError(f"hour {hour:02d}: the pre-optimization power flow of {cs_h.name!r} does not converge "
                         f"({pf.iterations} iterations, mismatch {pf.max_mismatch_pu:.2e} p.u.)")
    return pf


@dataclass
class _Setup:
    """What every hour shares: the weights, the key nodes, where the run starts from."""

    weights: Weights
    nodes: list[str]
    reference_hour: int | None  # where the entropy weights and the key nodes were computed
    first_pf: Any = None  # the first hour's pre-optimization power flow (a fresh run)
    first_starts: Any = None
    state: _State | None = None  # the last finished hour's point (a resumed run)
    lin: Any = None  # the linearization the next hour starts with


def _setup(day: CoupledSystem, plan: _Plan, cfg: RpoConfig, finished: list[dict]) -> _Setup:
    """Weights and key nodes at the reference hour, the start of the first hour to compute, its linearization.

    A resumed run takes the weights, key nodes and reference hour stored
    with its finished hours, and starts from the last one's re-checked point
    (rebuilt from its set-points).
    """
    clock, prof, vsm = plan.clock, plan.prof, plan.vsm
    if finished:
        first = finished[0]
        ref = first.get("reference_hour")
        s = _Setup(weights_from_json(first["weights"]), list(first["vsm"]["nodes"]) if vsm is not None else [],
                   int(ref) if ref is not None else None)
        for rec in reversed(finished if len(finished) < len(clock) else []):
            s.state = _state_of(hour_of(day, rec["hour"], prof), rec)
            if s.state is not None:
                break
    else:
        cs0 = hour_of(day, clock[0], prof)
        first_pf = _pre_optimization_pf(cs0, clock[0])
        first_starts = start_point(cs0, first_pf)
        ref = reference_hour(day)
        if ref == clock[0]:
            cs_ref, ref_pf, ref_starts = cs0, first_pf, first_starts
        else:
            cs_ref = hour_of(day, ref, prof)
            ref_pf = _pre_optimization_pf(cs_ref, ref) if (plan.w_spec == "entropy") else None
            ref_starts = start_point(cs_ref, ref_pf) if ref_pf is not None else None
        if plan.w_spec == "entropy":
            from tdcoord.coordination.weights import entropy_weights

            w = entropy_weights(cs_ref, cfg, base_pf=ref_pf, starts=ref_starts)
        else:
            w = plan.w_spec
        nodes: list[str] = []
        lin = None
        if vsm is not None:
            from tdcoord.coordination.vsm_loop import linearize, screen

            nodes, _ = screen(cs_ref, vsm)
            lin = linearize(cs0, nodes, vsm)
        uses_ref = plan.w_spec == "entropy" or vsm is not None
        s = _Setup(w, nodes, ref if uses_ref else None, first_pf, first_starts, lin=lin)
    if vsm is not None and s.lin is None and len(finished) < len(clock):
        from tdcoord.coordination.vsm_loop import linearize

        at = s.state.applied if s.state is not None else hour_of(day, clock[len(finished)], prof)
        s.lin = linearize(at, s.nodes, vsm)
    return s


def _state_of(cs_hour: CoupledSystem, rec: dict) -> _State | None:
    """Re-checked operating point of a finished hour, rebuilt from its stored set-points."""
    from tdcoord.pf.integrated import run_coupled

    if not rec.get("dispatch") or not rec.get("recheck_converged"):
        return None
    dispatch = Dispatch.from_json(rec["dispatch"])
    applied = apply_dispatch(cs_hour, dispatch)
    pf = run_coupled(applied, "merged", check=False)
    return _State(applied, pf, dispatch) if pf.converged else None


def _finished(checkpoint: Checkpoint, clock: list[int], resume: bool) -> list[dict]:
    """Finished hours of the same run: the leading ones of ``clock``, in order (none without ``resume``)."""
    done = checkpoint.start(resume)
    out = []
    for k, h in enumerate(clock):
        rec = done.get(_hour_key(h))
        if rec is None or rec.get("index") != k:
            break
        out.append(rec)
    return out


def _hour_key(hour: int) -> str:
    return f"hour_{hour:02d}"


@dataclass
class _Hour:
    """One hour being solved: its system, its own pre-optimization power flow (made when needed), what it says."""

    k: int  # position in the run
    hour: int
    cs: CoupledSystem
    pf: Any = None
    messages: list[str] = field(default_factory=list)
    retried: bool = False

    def own_pf(self) -> Any:
        if self.pf is None:
            self.pf = base_case(self.cs)
        return self.pf


class _HourSolver:
    """Solves the hours of one strategy in turn; keeps what carries from hour to hour (the built problem)."""

    def __init__(self, plan: _Plan, cfg: RpoConfig, names: list[str], setup: _Setup) -> None:
        self.plan, self.cfg, self.names, self.setup = plan, cfg, names, setup
        self.problem: AreaProblem | None = None
        self.counter: _Counter | None = None
        self.warm_options = False  # the built problem's IPOPT is in warm-start mode

    def _build(self, cs_build: CoupledSystem, starts: dict, lin: Any) -> None:
        self.problem = AreaProblem(cs_build, dataclasses.replace(self.cfg, vsm_lin=lin), self.names,
                                   coupling="equal", starts=starts, name="dispatch")
        done = self.counter.take() if self.counter is not None else []
        self.counter = _Counter(self.problem)
        self.counter.solves = done
        self.warm_options = False

    def once(self, h: _Hour, state: _State | None, lin: Any) -> Callable[[Any], StrategyResult]:
        """The hour's solve at a given linearization of the key nodes' margins (for :func:`_with_vsm`)."""
        return self._centralized(h, state, lin) if self.plan.strategy == "centralized" else self._admm(h, state)

    def _centralized(self, h: _Hour, state: _State | None, lin: Any) -> Callable[[Any], StrategyResult]:
        plan, setup = self.plan, self.setup
        if not plan.warm_start or self.problem is None:
            if h.k == 0 and setup.first_starts is not None and plan.warm_start:
                self._build(h.cs, setup.first_starts, lin)
            elif state is not None and plan.warm_start:
                self._build(state.applied, start_point(h.cs, state.pf), lin)
            else:
                self._build(h.cs, start_point(h.cs, h.own_pf()), lin)
        assert self.problem is not None
        self.problem.update_from(h.cs)

        def once(lin_now: Any) -> StrategyResult:
            assert self.problem is not None
            if lin_now is not None:
                set_linearization(self.problem, lin_now)
            t1 = time.perf_counter()
            sol, info = solve_discrete(self.problem, plan.discrete)
            if not sol.ok and not h.retried:
                # warm start failed: start again from the hour's own pre-optimization point
                h.retried = True
                h.messages.append(f"warm-started solve failed (IPOPT {sol.solver_status}); restarted cold")
                self._build(h.cs, start_point(h.cs, h.own_pf()), lin)
                self.problem.update_from(h.cs)
                if lin_now is not None:
                    set_linearization(self.problem, lin_now)
                sol, info = solve_discrete(self.problem, plan.discrete)
            return centralized_result(h.cs, self.cfg, self.problem, sol, info, time.perf_counter() - t1)

        return once

    def _admm(self, h: _Hour, state: _State | None) -> Callable[[Any], StrategyResult]:
        plan, setup = self.plan, self.setup
        carried = _carry(h.cs, state) if (plan.warm_start and state is not None) else None
        if carried is not None:
            base_pf, starts = carried, start_point(h.cs, carried)
        elif plan.warm_start and h.k == 0 and setup.first_pf is not None:
            base_pf, starts = setup.first_pf, setup.first_starts
        else:
            base_pf = h.own_pf()
            starts = start_point(h.cs, base_pf)

        def once(lin_now: Any) -> StrategyResult:
            cfg_h = dataclasses.replace(self.cfg, vsm_lin=lin_now)
            res = solve_admm(h.cs, cfg_h, base_pf=base_pf, starts=starts, executor=plan.executor,
                             settings=dataclasses.replace(plan.admm))
            if res.status == "subproblem_failed" and base_pf is not h.pf and not h.retried:
                # started from the previous hour's point and a subproblem failed: start again
                # from the hour's own pre-optimization point, as the centralized strategy does
                h.retried = True
                h.messages.append(f"warm-started ADMM failed ({'; '.join(res.messages)}); restarted cold")
                own = h.own_pf()
                res = solve_admm(h.cs, cfg_h, base_pf=own, starts=start_point(h.cs, own), executor=plan.executor,
                                 settings=dataclasses.replace(plan.admm))
            return res

        return once

    def finish_hour(self) -> list[int]:
        """IPOPT iterations of the hour's solves (centralized); from now on warm-start IPOPT's multipliers too."""
        iters = self.counter.take() if self.counter is not None else []
        problem = self.problem
        if self.plan.warm_mode == "primal-dual" and problem is not None and problem.last is not None \
                and not self.warm_options:
            # from now on IPOPT starts from the last solution's multipliers too, with a small barrier
            problem.b.build("ipopt", WARM_START)
            self.warm_options = True
        return iters


def run_dispatch(cs: CoupledSystem, *, hours: int = HOURS, start_hour: int = 0, strategy: str = "centralized",
                 weights: str | Weights | None = "entropy", scenario: str | None = None,
                 vsm: VsmSettings | None = VsmSettings(), executor: Any = None, admm: AdmmSettings | None = None,
                 out: str | Path | None = None, resume: bool = False,
                 progress: Callable[[int, int, int], None] | None = None,
                 profiles: Profiles | str | Path | None = None, discrete: str = "search",
                 vm_band: tuple[float, float] | None = None, reserve: dict | None = None,
                 warm_start: bool | str = True) -> DispatchResult:
    """Hourly joint dispatch of ``cs`` over ``hours`` hours from ``start_hour`` (see the module docstring).

    ``weights``: ``entropy`` (computed at the reference hour, the day's
    peak-load hour: :func:`reference_hour`), ``equal``,
    ``alpha=..,beta=..,gamma=..`` or a :class:`Weights`. ``scenario``: a
    name of :data:`tdcoord.studies.scenarios.SCENARIOS`, applied before the
    profiles. ``vsm``: the key-node stability settings (None: no margins).
    ``admm``: ADMM settings (default: those of
    :class:`~tdcoord.coordination.admm.AdmmSettings` with up to 150
    iterations, which stressed hours need). ``profiles``: a
    :class:`~tdcoord.cases.profiles.Profiles`, a CSV path or None (the
    built-in day). Hours wrap around midnight (``start_hour=18, hours=12``
    is 18:00-06:00); at most 24. ``reserve``: reserve requirements
    (:attr:`RpoConfig.reserve`), kept for every hour. ``warm_start``:
    ``True``/``"primal-dual"`` (default): a centralized hour starts from the
    previous hour's solution and multipliers (IPOPT's warm-start mode), an
    ADMM hour from the previous hour's set-points re-checked at this hour's
    loads; ``"primal"``: the centralized solve gets the previous solution
    only (IPOPT's default initialization of multipliers and barrier);
    ``False``/``"cold"``: every hour starts from its own pre-optimization
    power flow (for comparison). The results do not depend on it, the
    iteration counts do. ``progress(hour, done, total)`` is called after
    each hour. A ``KeyboardInterrupt`` (Ctrl-C, also inside IPOPT) stops
    the run; the finished hours stay in ``out`` for ``resume``.
    """
    t_start = time.perf_counter()
    plan = _plan(cs, hours=hours, start_hour=start_hour, strategy=strategy, weights=weights, scenario=scenario,
                 vsm=vsm, executor=executor, admm=admm, profiles=profiles, discrete=discrete, vm_band=vm_band,
                 reserve=reserve, warm_start=warm_start)
    if resume and out is None:
        raise InputError("resume needs the output folder (out) of the run to continue")
    checkpoint = Checkpoint(Path(out) / "periods", FORMAT, plan.run_key) if out is not None else None
    finished = _finished(checkpoint, plan.clock, resume) if checkpoint is not None else []
    day = _day(cs, plan)
    count = vm_band or (0.95, 1.05)
    cfg = RpoConfig(vm_band=vm_band, count_band=count, reserve=dict(reserve or {}))
    names = ["T"] + list(day.boundary.index[day.boundary.in_service])
    say = progress or (lambda hour, done, total: None)

    # ------------------------------------------------ setup: weights, key nodes, first linearization
    t0 = time.perf_counter()
    setup = _setup(day, plan, cfg, finished)
    cfg.weights = setup.weights
    if plan.vsm is not None:
        cfg.vsm, cfg.vsm_nodes = plan.vsm, setup.nodes
    setup_s = time.perf_counter() - t0

    records: list[dict] = []
    for k, rec in enumerate(finished):
        records.append(rec)
        say(rec["hour"], k + 1, len(plan.clock))

    # ------------------------------------------------ the hours
    results: dict[int, StrategyResult] = {}
    solver = _HourSolver(plan, cfg, names, setup)
    state, lin = setup.state, setup.lin
    for k in range(len(finished), len(plan.clock)):
        hour = plan.clock[k]
        th = time.perf_counter()
        h = _Hour(k, hour, hour_of(day, hour, plan.prof))
        res, lin, vsm_info = _with_vsm(solver.once(h, state, lin), setup.nodes, plan.vsm, lin)
        iters = solver.finish_hour()
        rec = _record(k, hour, plan.prof, res, setup, vsm_info, iters, time.perf_counter() - th, plan.run_key,
                      h.messages, h.retried)
        records.append(rec)
        results[hour] = res
        if res.pf is not None and res.pf.converged and res.applied is not None:
            state = _State(res.applied, res.pf, res.dispatch)
        if checkpoint is not None:
            checkpoint.save(_hour_key(hour), rec)
        say(hour, k + 1, len(plan.clock))

    # ------------------------------------------------ the day
    settings = {**plan.run_key, "hours": plan.clock, "warm_start": plan.warm_mode,
                "executor": getattr(plan.executor, "name", "serial") if strategy == "admm" else None}
    result = DispatchResult(case=cs.name, strategy=strategy, scenario=scenario, records=records,
                            weights=setup.weights, vsm_nodes=setup.nodes, time_s=0.0, setup_s=setup_s,
                            profiles=plan.prof, settings=settings, results=results,
                            resumed=[r["hour"] for r in finished], reference_hour=setup.reference_hour)
    result.time_s = time.perf_counter() - t_start
    if out is not None:
        result.write_tables(out)
        result.time_s = time.perf_counter() - t_start
    return result


def read_dispatch(out: str | Path) -> DispatchResult:
    """The result of a finished run, from its ``summary.json`` and ``periods/`` (to re-plot it)."""
    out = Path(out)
    try:
        summ = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{out / 'summary.json'} cannot be read ({exc}); "
                         f"is {str(out)!r} the output folder of a dispatch run?") from exc
    periods = Checkpoint(out / "periods", FORMAT)
    records = [periods.load(_hour_key(int(h))) for h in summ["hours"]]
    pr = summ.get("profiles") or {}
    prof = Profiles(tuple(pr["load"]), tuple(pr["wind"]), tuple(pr["pv"]), source=pr.get("source", "file")) \
        if pr else DEFAULT
    ref = summ.get("reference_hour")
    return DispatchResult(case=summ["case"], strategy=summ["strategy"], scenario=summ.get("scenario"),
                          records=records, weights=weights_from_json(summ["weights"]),
                          vsm_nodes=list(summ.get("vsm_nodes") or []), time_s=float(summ.get("time_s") or 0.0),
                          setup_s=float(summ.get("setup_s") or 0.0), profiles=prof, settings=summ.get("settings") or {},
                          resumed=[int(h) for h in summ.get("resumed_hours") or []],
                          reference_hour=int(ref) if ref is not None else None)


def _with_vsm(once: Callable[[Any], StrategyResult], nodes: list[str], vsm: VsmSettings | None,
              lin: Any) -> tuple[StrategyResult, Any, dict]:
    """One hour's solves with the key nodes' margins, as :func:`tdcoord.coordination.vsm_loop.iterate_vsm`.

    Returns the result, the linearization at its re-checked point (for the
    next hour; unchanged if the point is not available) and the margins.
    """
    if vsm is None:
        return once(None), None, {"nodes": [], "margins": {}, "outer": 1, "history": [], "min_pu": None, "ok": None}
    from tdcoord.coordination.vsm_loop import linearize

    history: list[dict] = []
    prev = None
    res: StrategyResult | None = None
    checked = None
    t_vsm = 0.0
    for outer in range(1, vsm.max_outer + 1):
        res = once(lin)
        if res.pf is None or not res.pf.converged or res.applied is None:
            checked = None
            break
        t0 = time.perf_counter()
        new = linearize(res.applied, nodes, vsm)
        t_vsm += time.perf_counter() - t0
        checked = new
        history.append({"outer": outer, "objective": res.objective, "vsm_min": float(new.margin.min()),
                        **{f"vsm[{n}]": float(m) for n, m in zip(nodes, new.margin)}})
        if not res.converged:
            lin = new
            break
        ok = bool(np.all(new.margin >= vsm.threshold - vsm.tol))
        still = prev is not None and np.max(np.abs(new.margin - prev)) <= vsm.tol
        prev = new.margin
        lin = new
        if ok and (still or outer == 1 or not vsm.hard):
            break
    assert res is not None
    info: dict[str, Any] = {"nodes": list(nodes), "outer": len(history) or 1, "history": history, "time_s": t_vsm}
    if checked is not None:
        info["margins"] = dict(zip(nodes, map(float, checked.margin)))
        info["margins_mvar"] = dict(zip(nodes, map(float, checked.margins_mvar)))
        info["min_pu"] = float(checked.margin.min()) if len(nodes) else None
        info["ok"] = bool(len(nodes) == 0 or np.all(checked.margin >= vsm.threshold - vsm.tol))
    else:
        info.update(margins={}, margins_mvar={}, min_pu=None, ok=False)
    res.vsm = VsmOutcome(nodes=list(nodes), margins_pu=info["margins"], margins_mvar=info["margins_mvar"],
                         min_pu=info["min_pu"] if info["min_pu"] is not None else float("nan"), outer=info["outer"],
                         ok=info["ok"], time_s=t_vsm, history=history)
    return res, lin, info


def _record(k: int, hour: int, prof: Profiles, res: StrategyResult, setup: _Setup, vsm_info: dict,
            iters: list[int], time_s: float, run_key: dict, messages: list[str], retried: bool) -> dict[str, Any]:
    """An hour's file (``out/periods/hour_HH.json``): its figures, device types, weights, margins, set-points and
    the full operating point as result tables (``tables``, :func:`~tdcoord.results.tables.tables_to_json`)."""
    pf_ok = res.pf is not None and bool(res.pf.converged)
    figures = {
        "objective": res.objective, "p_loss_mw": res.p_loss_mw, "vsm_min_pu": vsm_info.get("min_pu"),
        "n_violations": None if res.n_violations is None else int(res.n_violations), "converged": bool(res.converged), "time_s": time_s,
        "q_reserve_t_mvar": res.q_reserve_t_mvar, "q_reserve_d_mvar": res.q_reserve_d_mvar,
        "vm_min_pu": res.vm_min_pu, "vm_max_pu": res.vm_max_pu,
        "pf_mismatch_pu": res.pf_mismatch_pu if pf_ok else None,  # the re-check's Newton residual
        "recheck_dvm_pu": res.recheck_dvm_pu if pf_ok else None,  # the optimizer's voltages vs the re-check's
        "iterations": int(res.iterations), "ipopt_iterations": int(sum(iters)) if iters else None,
        "ipopt_iterations_first": int(iters[0]) if iters else None, "nlp_solves": len(iters) if iters else None,
        "vsm_outer": vsm_info.get("outer"), "vsm_ok": vsm_info.get("ok"), "status": res.status,
        "solver_objective": res.solver_objective, "terms": dict(res.terms), "dv_max_pu": res.dv_max_pu,
        "retried_cold": retried,
    }
    devices = res.devices if len(res.devices) else pd.DataFrame()
    return {
        "run": run_key, "index": k, "hour": hour, "time": f"{hour:02d}:00",
        "profile": prof.at(hour), "figures": figures,
        "by_type": by_type(devices) if len(devices) else {},
        "weights": weights_to_json(setup.weights), "reference_hour": setup.reference_hour,
        "vsm": {**vsm_info, "nodes": list(setup.nodes)},
        "discrete": res.discrete, "messages": list(messages) + list(res.messages),
        "devices": devices.to_dict(orient="records") if len(devices) else [],
        "recheck_converged": pf_ok,
        "dispatch": res.dispatch.to_json() if (res.dispatch is not None and pf_ok) else None,
        "tables": tables_to_json(res.tables) if pf_ok else {},
    }


__all__ = ["DispatchResult", "FIGURES", "MAIN_TYPES", "STRATEGIES", "TYPE_LABELS", "WARM_MODES", "by_type",
           "device_type", "read_dispatch", "reference_hour", "run_dispatch"]
