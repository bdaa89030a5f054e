"""Strategy comparison on one coupled system (the analogue of seed 000's Table 2).

Runs the base-case power flow, fixes the objective weights (entropy method
by default), then each strategy on the same case, objective and starting
point; every strategy's dispatch is re-checked by the integrated power flow
and judged from it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from tdcoord.coordination.admm import AdmmSettings, solve_admm
from tdcoord.coordination.centralized import solve_centralized
from tdcoord.coordination.common import base_case, start_point
from tdcoord.coordination.independent import solve_independent_d, solve_independent_t
from tdcoord.errors import InputError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.evaluate import Evaluation, evaluate
from tdcoord.problems.rpo import AreaInputs, RpoConfig, Weights
from tdcoord.problems.vsm import VsmSettings
from tdcoord.coordination.weights import entropy_weights
from tdcoord.results.optimization import StrategyResult
from tdcoord.results.powerflow import CoupledPowerFlowResult

STRATEGIES = ("independent-t", "independent-d", "centralized", "admm")


@dataclass
class Comparison:
    case: str
    base_pf: CoupledPowerFlowResult
    base: Evaluation
    weights: Weights
    results: dict[str, StrategyResult]
    time_s: float
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    system: Any = None  # the coupled system studied (as optimized: limits, scenario), for the record

    def table(self) -> pd.DataFrame:
        rows = []
        for name, r in self.results.items():
            row = r.summary()
            row.pop("terms", None)
            row.update({f"term_{k}": v for k, v in r.terms.items()})
            rows.append(row)
        return pd.DataFrame(rows).set_index("strategy")

    def summary(self, tables: bool = True) -> dict[str, Any]:
        """Everything as plain data; each strategy with its result tables unless ``tables=False``."""
        out: dict[str, Any] = {
            "case": self.case,
            "weights": {**self.weights.as_dict(), "method": self.weights.method, "detail": self.weights.detail},
            "base": {"objective": self.base.objective, "terms": self.base.terms, "p_loss_mw": self.base.p_loss_mw,
                     "q_reserve_t_mvar": self.base.q_reserve_t_mvar, "q_reserve_d_mvar": self.base.q_reserve_d_mvar,
                     "vm_min_pu": self.base.vm_min_pu, "vm_max_pu": self.base.vm_max_pu,
                     "n_violations": self.base.n_violations, "violations": dict(self.base.violations),
                     "dv_max_pu": self.base.dv_max_pu,
                     "vsm_min_pu": self.extra.get("vsm_base_min_pu")},
            "strategies": {name: r.summary(tables=tables) for name, r in self.results.items()},
            "time_s": self.time_s,
            "settings": self.settings,
        }
        out["comparisons"] = self.comparisons()
        if self.extra.get("vsm_nodes"):
            out["vsm"] = {"key_nodes": self.extra["vsm_nodes"], "base": self.extra["vsm_base"],
                          "strategies": {n: (r.vsm.margins_pu if r.vsm else {}) for n, r in self.results.items()}}
        return out

    def comparisons(self) -> dict[str, float]:
        """The paper's headline ratios, as measured here."""
        r = self.results
        out: dict[str, float] = {}
        if "centralized" in r and "admm" in r and r["centralized"].converged:
            c, a = r["centralized"], r["admm"]
            out["admm_objective_gap"] = (a.objective - c.objective) / abs(c.objective)
            out["admm_loss_gap"] = (a.p_loss_mw - c.p_loss_mw) / c.p_loss_mw
            out["admm_time_ratio"] = a.time_s / c.time_s if c.time_s else float("nan")
            if a.admm is not None:
                out["admm_parallel_time_ratio"] = a.admm.time_critical_path_s / c.time_s
        for ind in ("independent-t", "independent-d"):
            if ind in r and "admm" in r and r[ind].converged:
                out[f"loss_change_vs_{ind}"] = (r["admm"].p_loss_mw - r[ind].p_loss_mw) / r[ind].p_loss_mw
                a = r["admm"].vsm.min_pu if r["admm"].vsm else None
                b = r[ind].vsm.min_pu if r[ind].vsm else None
                if a is not None and b:
                    out[f"vsm_change_vs_{ind}"] = (a - b) / b
        return out


def parse_weights(spec: str | Weights | None) -> Weights | str:
    """``entropy``, ``equal`` or ``alpha=..,beta=..,gamma=..[,delta=..]``."""
    if spec is None or isinstance(spec, Weights):
        return spec or "entropy"
    s = spec.strip().lower()
    if s in ("entropy", ""):
        return "entropy"
    if s == "equal":
        return Weights(1.0, 1.0, 1.0, 1.0, method="explicit")
    w = Weights(method="explicit")
    given: list[str] = []
    for part in s.split(","):
        if "=" not in part:
            raise InputError(f"--weights {spec!r}: expected 'entropy', 'equal' or 'alpha=..,beta=..,gamma=..'")
        k, v = (x.strip() for x in part.split("=", 1))
        if k not in ("alpha", "beta", "gamma", "delta"):
            raise InputError(f"--weights: unknown weight {k!r}; expected alpha, beta, gamma, delta")
        try:
            val = float(v)
        except ValueError as exc:
            raise InputError(f"--weights: {k} = {v!r} is not a number") from exc
        if not np.isfinite(val) or val < 0:
            raise InputError(f"--weights: {k} = {v}: expected a finite number >= 0")
        if k in given:
            raise InputError(f"--weights {spec!r}: {k} is given twice")
        given.append(k)
        setattr(w, k, val)
    missing = [k for k in ("alpha", "beta", "gamma") if k not in given]
    if missing:
        w.detail["defaulted"] = missing  # said on the command line: they weigh 1
    return w


def run_strategy(name: str, cs: CoupledSystem, cfg: RpoConfig, *, base_pf, starts, executor=None,
                 admm: AdmmSettings | None = None, discrete: str = "search", inputs=None) -> StrategyResult:
    if name == "centralized":
        return solve_centralized(cs, cfg, base_pf=base_pf, starts=starts, discrete=discrete, inputs=inputs)
    if name == "independent-t":
        return solve_independent_t(cs, cfg, base_pf=base_pf, starts=starts, discrete=discrete, inputs=inputs)
    if name == "independent-d":
        return solve_independent_d(cs, cfg, base_pf=base_pf, starts=starts, discrete=discrete, inputs=inputs)
    if name == "admm":
        st = admm or AdmmSettings()
        st.discrete = discrete
        from tdcoord.execution import make_executor

        return solve_admm(cs, cfg, base_pf=base_pf, starts=starts, executor=executor or make_executor("serial"),
                          settings=st)
    raise InputError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")


def compare(cs: CoupledSystem, *, strategies=STRATEGIES, weights: str | Weights | None = "entropy",
            feeder_formulation: str = "branch_flow", transmission_formulation: str = "acp",
            discrete: str = "search", executor=None,
            admm: AdmmSettings | None = None, progress: Callable[[str], None] | None = None,
            vm_band: tuple[float, float] | None = None, vsm: VsmSettings | None = None,
            reserve: dict | None = None) -> Comparison:
    """Every strategy on ``cs``.

    ``vm_band``: every bus's voltage limits, replacing the buses' own
    (None: the limits in the data), and the band violations are counted
    against (default [0.95, 1.05]). ``vsm`` adds the key nodes' stability margins (penalty
    and constraint); ``reserve`` maps (area, table, index) to the reserve
    each source must keep (Mvar), see :mod:`tdcoord.problems.reserve`.
    """
    from tdcoord.problems.rpo import check_formulations

    check_formulations(transmission_formulation, feeder_formulation)
    if discrete not in ("search", "bonmin"):
        raise InputError(f"discrete method {discrete!r}: expected 'search' or 'bonmin'")
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    say("base-case power flow")
    base_pf = base_case(cs)
    if not base_pf.converged:
        from tdcoord.errors import SolveError

        raise SolveError(f"the base-case power flow of {cs.name!r} does not converge "
                         f"({base_pf.iterations} iterations, mismatch {base_pf.max_mismatch_pu:.2e} p.u.)")
    inputs = AreaInputs(cs)
    starts = start_point(cs, base_pf, inputs)
    count = vm_band or (0.95, 1.05)
    cfg = RpoConfig(transmission_formulation=transmission_formulation, feeder_formulation=feeder_formulation,
                    vm_band=vm_band, count_band=count, reserve=dict(reserve or {}))
    w = parse_weights(weights)
    if w == "entropy":
        say("entropy weights (payoff table)")
        w = entropy_weights(cs, cfg, base_pf=base_pf, starts=starts, inputs=inputs)
    cfg.weights = w
    base_eval = evaluate(cs, base_pf, w, band=count)
    extra: dict[str, Any] = {}
    lin0 = None
    if vsm is not None:
        from tdcoord.coordination.vsm_loop import linearize, screen

        say("voltage-stability screening of key nodes")
        nodes, candidates = screen(cs, vsm)
        lin0 = linearize(cs, nodes, vsm)
        cfg.vsm, cfg.vsm_nodes = vsm, nodes
        extra = {"vsm_nodes": nodes, "vsm_base": dict(zip(nodes, map(float, lin0.margin))),
                 "vsm_base_min_pu": float(lin0.margin.min()), "vsm_candidates": candidates}
    results = {}
    for name in strategies:
        say(name)
        if vsm is None:
            results[name] = run_strategy(name, cs, cfg, base_pf=base_pf, starts=starts, executor=executor,
                                         admm=admm, discrete=discrete, inputs=inputs)
            continue
        from tdcoord.coordination.vsm_loop import iterate_vsm

        def once(lin, name=name):
            return run_strategy(name, cs, dataclasses.replace(cfg, vsm_lin=lin), base_pf=base_pf, starts=starts,
                                executor=executor, admm=admm, discrete=discrete, inputs=inputs)

        results[name] = iterate_vsm(once, cs, cfg.vsm_nodes, vsm, first=lin0)
    comp = Comparison(case=cs.name, base_pf=base_pf, base=base_eval, weights=w, results=results,
                      time_s=time.perf_counter() - t0,
                      settings={"transmission_formulation": transmission_formulation,
                                "feeder_formulation": feeder_formulation, "discrete": discrete,
                                "executor": getattr(executor, "name", "serial"), "vm_band": list(vm_band) if vm_band else "data", "count_band": list(count),
                                "vsm": vsm is not None})
    comp.extra = extra
    comp.system = cs
    return comp
