"""Seed 000's four scenarios (the analogue of its Table 1 and Fig. 2(a)).

For each scenario (:mod:`tdcoord.studies.scenarios`):

1. reserve demand assessment on the scenario's operating point:
   renewable forecast-error scenarios and N-1 outages
   (:func:`tdcoord.stability.reserve.assess_reserve_demand`);
2. allocation of the demand to the fast reactive sources
   (:func:`tdcoord.problems.reserve.allocate`);
3. joint optimization (ADMM by default) with the reserve requirements as
   bounds and the key nodes' stability margins (penalty and constraint),
   re-checked by power flow; with ``compare`` (default) the other
   strategies of :mod:`tdcoord.studies.comparison` run on the same problem
   (same weights, key nodes, reserve requirements), the analogue of
   Table 2 / Fig. 2(b) with the minimum VSM, per scenario;
4. the row of Table 1: reactive reserve held in T and D after optimization
   (remaining upward capability of the controllable sources), the assessed
   demand, losses, minimum VSM of the key nodes, largest voltage deviation,
   violations, time, and whether every requirement is met at the re-checked
   point.

Each finished scenario is written to ``out/scenarios/<name>.json`` as it
finishes, a checkpoint file (:class:`~tdcoord.results.checkpoint.Checkpoint`:
the row, written through a temporary file and a rename, with the settings'
fingerprint: :func:`study_fingerprint`); ``resume`` takes the scenarios
already there instead of recomputing them, and refuses a folder whose
scenarios were computed under other settings (naming them). A run without
``resume`` empties that folder first. Ctrl-C (a ``KeyboardInterrupt``) stops
the study and keeps the finished scenarios.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tdcoord.coordination.admm import AdmmSettings
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.reserve import allocate, check
from tdcoord.problems.vsm import VsmSettings
from tdcoord.results.checkpoint import Checkpoint, system_digest
from tdcoord.results.serialize import plain
from tdcoord.stability.reserve import assess_reserve_demand
from tdcoord.studies.comparison import STRATEGIES, compare
from tdcoord.studies.scenarios import SCENARIOS, apply_scenario

ROW_KEYS = ("name", "q_reserve_t_mvar", "q_reserve_d_mvar", "p_loss_mw", "vsm_min_pu", "dv_max_pu", "n_violations",
            "time_s", "converged")
FORMAT = "tdcoord.study.scenario/2"
STRATEGY_KEYS = ("objective", "p_loss_mw", "q_reserve_t_mvar", "q_reserve_d_mvar", "vsm_min_pu", "dv_max_pu",
                 "n_violations", "iterations", "time_s", "converged", "pf_mismatch_pu")


@dataclass
class ScenarioStudy:
    rows: list[dict[str, Any]]
    time_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"scenarios": self.rows, "time_s": self.time_s, "settings": self.settings}


def _reserve_met(plan, r) -> bool | None:
    if not (r.converged and r.pf is not None):
        return None
    return bool(check(plan, r.applied, r.pf).met.all())


def run_scenario(cs: CoupledSystem, name: str, *, strategy: str = "admm", weights="entropy", n_scenarios: int = 10,
                 sigma: float = 0.125, seed: int = 0, contingencies="all", vsm: VsmSettings | None = None,
                 admm: AdmmSettings | None = None, executor=None, compare_strategies: bool = True,
                 say: Callable[[str], None] = lambda m: None) -> dict:
    t0 = time.perf_counter()
    sc = apply_scenario(cs, name)
    say(f"{name}: reserve demand ({n_scenarios} forecast scenarios, N-1)")
    assessment = assess_reserve_demand(sc, n_scenarios=n_scenarios, sigma=sigma, seed=seed, contingencies=contingencies)
    plan = allocate(sc, assessment.demand.demand_mvar)
    chosen = tuple(x for x in STRATEGIES if x == strategy or compare_strategies)
    say(f"{name}: {', '.join(chosen)} with VSM and reserve constraints")
    comp = compare(sc, strategies=chosen, weights=weights, vsm=vsm or VsmSettings(), executor=executor,
                   admm=admm or AdmmSettings.for_studies(), reserve=plan.requirement())
    r = comp.results[strategy]
    met = _reserve_met(plan, r)
    strategies = {}
    for k, rk in comp.results.items():
        summ = {**rk.summary(), "vsm_min_pu": rk.vsm.min_pu if rk.vsm else float("nan")}
        strategies[k] = {key: summ.get(key) for key in STRATEGY_KEYS}
        strategies[k].update(reserve_met=_reserve_met(plan, rk), messages=list(rk.messages))
    s = assessment.summary()
    row = {
        "name": name,
        "label": SCENARIOS[name].label,
        "q_reserve_t_mvar": r.q_reserve_t_mvar,
        "q_reserve_d_mvar": r.q_reserve_d_mvar,
        # the system requirement (what the sources must hold), not a sum of the nodes' own demands
        "q_demand_t_mvar": plan.totals()["T"],
        "q_demand_d_mvar": plan.totals()["D"],
        "node_demand_max_t_mvar": s["node_demand_max_t_mvar"],
        "node_demand_max_d_mvar": s["node_demand_max_d_mvar"],
        "p_loss_mw": r.p_loss_mw,
        "vsm_min_pu": r.vsm.min_pu if r.vsm else float("nan"),
        "dv_max_pu": r.dv_max_pu,
        "n_violations": r.n_violations,
        "time_s": time.perf_counter() - t0,
        "optimization_time_s": r.time_s,
        "assessment_time_s": assessment.time_s,
        "converged": bool(r.converged),
        "reserve_met": met,
        "strategy": strategy,
        "iterations": r.iterations,
        "pf_mismatch_pu": r.pf_mismatch_pu,
        "cases_without_solution": s["cases_without_solution"],
        "vsm": r.vsm.margins_pu if r.vsm else {},
        "reserve_requirement_mvar": float(plan.sources.requirement_mvar.sum()) if len(plan.sources) else 0.0,
        "messages": list(r.messages),
        "strategies": strategies,
    }
    return row


def study_fingerprint(cs: CoupledSystem, *, strategy: str = "admm", weights="entropy", n_scenarios: int = 10,
                      sigma: float = 0.125, seed: int = 0, contingencies="all", vsm: VsmSettings | None = None,
                      admm: AdmmSettings | None = None, compare_strategies: bool = True) -> dict[str, Any]:
    """Every setting that changes a scenario's row (what a resumed study must share with the one it continues)."""
    from tdcoord.studies.comparison import parse_weights

    w = parse_weights(weights)
    return plain({
        "case": cs.name, "case_data": system_digest(cs), "strategy": strategy,
        "weights": w if isinstance(w, str) else w.as_dict(),
        "n_scenarios": n_scenarios, "sigma": sigma, "seed": seed,
        "contingencies": contingencies if isinstance(contingencies, str) or contingencies is None
        else [list(c) for c in contingencies],
        "vsm": dataclasses.asdict(vsm or VsmSettings()),
        "admm": dataclasses.asdict(admm or AdmmSettings.for_studies()),
        "compare_strategies": compare_strategies,
    })


def run_scenario_study(cs: CoupledSystem, *, scenarios=tuple(SCENARIOS), strategy: str = "admm", weights="entropy",
                       n_scenarios: int = 10, sigma: float = 0.125, seed: int = 0, contingencies="all",
                       vsm: VsmSettings | None = None, admm: AdmmSettings | None = None, executor=None,
                       compare_strategies: bool = True, out: Path | None = None, resume: bool = False,
                       progress: Callable[[str, int, int], None] | None = None,
                       say: Callable[[str], None] = lambda m: None) -> ScenarioStudy:
    """Every scenario of ``scenarios`` (see the module docstring); ``progress(name, k, n)`` before each one."""
    from tdcoord.errors import InputError

    t0 = time.perf_counter()
    if resume and out is None:
        raise InputError("resume needs the output folder (out) of the study to continue")
    checkpoint = None
    done: dict[str, dict] = {}
    if out is not None:
        fingerprint = study_fingerprint(cs, strategy=strategy, weights=weights, n_scenarios=n_scenarios, sigma=sigma,
                                        seed=seed, contingencies=contingencies, vsm=vsm, admm=admm,
                                        compare_strategies=compare_strategies)
        checkpoint = Checkpoint(Path(out) / "scenarios", FORMAT, fingerprint)
        done = checkpoint.start(resume, scenarios)
    rows = []
    for k, name in enumerate(scenarios):
        if progress:
            progress(name, k, len(scenarios))
        if checkpoint is not None and name in done:
            rows.append(done[name])
            say(f"{name}: already done, read from {checkpoint.path(name)}")
            continue
        row = plain(run_scenario(cs, name, strategy=strategy, weights=weights, n_scenarios=n_scenarios, sigma=sigma,
                                 seed=seed, contingencies=contingencies, vsm=vsm, admm=admm, executor=executor,
                                 compare_strategies=compare_strategies, say=say))
        if checkpoint is not None:
            checkpoint.save(name, row)
        rows.append(row)
    if progress:
        progress("", len(scenarios), len(scenarios))
    return ScenarioStudy(rows, time.perf_counter() - t0,
                         {"strategy": strategy, "compare_strategies": compare_strategies, "n_scenarios": n_scenarios, "sigma": sigma, "seed": seed,
                          "contingencies": contingencies if isinstance(contingencies, str) else len(contingencies),
                          "resumed": [r["name"] for r in rows if r["name"] in done]})
