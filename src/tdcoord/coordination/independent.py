"""Independent strategies: one side optimized with the other frozen.

``independent-t``: the transmission grid is optimized with every feeder
frozen as a PQ load at its pre-optimization boundary power; the feeders keep
their pre-optimization set-points. ``independent-d``: each feeder is
optimized with its boundary voltage frozen at the pre-optimization value;
the transmission grid keeps its set-points. In both, the whole system is then
evaluated by the integrated power flow: that evaluation is the strategy's
operating point, and ``assumption_error_pu`` says how far the optimized
side's voltages moved once the other side reacted.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from tdcoord.coordination.common import base_case, build_strategy_result, start_point
from tdcoord.coordination.centralized import note_shortfall, soc_gaps
from tdcoord.problems.reserve import shortfalls
from tdcoord.coordination.discrete import solve_discrete
from tdcoord.coordination.problem import AreaProblem
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.rpo import RpoConfig, inputs_of
from tdcoord.results.optimization import StrategyResult


def _boundary_from_pf(cs: CoupledSystem, pf) -> dict[str, np.ndarray]:
    base = cs.transmission.sn_mva
    out = {}
    for f, row in pf.res_boundary.iterrows():
        out[f] = np.array([row.vm_pu, row.p_mw / base, row.q_mvar / base])
    return out


def solve_independent_t(cs: CoupledSystem, cfg: RpoConfig, *, base_pf=None, starts=None,
                        discrete: str = "search", inputs=None) -> StrategyResult:
    t0 = time.perf_counter()
    base_pf = base_pf or base_case(cs)
    starts = starts or start_point(cs, base_pf, inputs)
    fixed = _boundary_from_pf(cs, base_pf)
    problem = AreaProblem(cs, cfg, ["T"], coupling="fixed", starts=starts, fixed_boundary=fixed, name="independent_t")
    sol, info = solve_discrete(problem, discrete)
    t_solve = time.perf_counter() - t0
    if not sol.ok:
        return StrategyResult("independent-t", False, sol.solver_status, iterations=sol.iterations, time_s=t_solve,
                              messages=[f"IPOPT: {sol.solver_status}"], discrete=info)
    nb = len(fixed)
    res = build_strategy_result(cs, "independent-t", problem.solutions(sol), status=sol.solver_status, converged=True,
                  time_s=t_solve, iterations=sol.iterations, weights=cfg.weights, report_optimizer_vm=False,
                  floats_per_iteration=2 * nb, floats_total=2 * nb, solver_objective=problem.weighted_terms(sol),
                  discrete=info, band=cfg.count_band)
    note_shortfall(res, shortfalls(problem.b, sol))
    return res


def solve_independent_d(cs: CoupledSystem, cfg: RpoConfig, *, base_pf=None, starts=None,
                        discrete: str = "search", inputs=None) -> StrategyResult:
    """Each feeder optimized with its boundary voltage frozen.

    Where the feeder formulation is convex (``soc_bf``, ``lindistflow``)
    each feeder is a convex program (Clarabel), with integer capacitor steps
    a mixed-integer one solved exactly by branch and bound (SCIP, HiGHS);
    otherwise an NLP (IPOPT) with the discrete search of
    :mod:`tdcoord.coordination.discrete`.
    """
    t0 = time.perf_counter()
    base_pf = base_pf or base_case(cs)
    inputs = inputs_of(cs, inputs)
    starts = starts or start_point(cs, base_pf, inputs)
    fixed = _boundary_from_pf(cs, base_pf)
    names = list(fixed)
    conic = bool(names) and cfg.backend_for(names[:1]) == "conic"
    if conic:
        cfg = dataclasses.replace(cfg, discrete=True)
    sols, infos, its, statuses, objective, gaps, solver = [], {}, 0, [], 0.0, {}, ""
    for f in names:
        p = AreaProblem(cs, cfg, [f], coupling="fixed", starts=starts, fixed_boundary=fixed, name="independent_d",
                        inputs=inputs)
        sol, info = solve_discrete(p, discrete)
        statuses.append(sol.solver_status)
        its += sol.iterations
        solver = sol.solver
        if info:
            infos[f] = info
        if not sol.ok:
            return StrategyResult("independent-d", False, sol.solver_status, iterations=its,
                                  time_s=time.perf_counter() - t0,
                                  messages=[f"feeder {f!r}: {sol.solver.upper()} {sol.solver_status}"])
        sols.extend(p.solutions(sol))
        objective += p.weighted_terms(sol)
        gap = soc_gaps(p, sol).get(f)
        if gap:
            gaps[f] = gap
    t_solve = time.perf_counter() - t0
    nb = len(fixed)
    res = build_strategy_result(cs, "independent-d", sols, status=",".join(sorted(set(statuses))), converged=True,
                 time_s=t_solve, iterations=its, weights=cfg.weights, report_optimizer_vm=False,
                 floats_per_iteration=nb, floats_total=nb, solver_objective=objective, discrete=infos,
                 band=cfg.count_band)
    res.soc_gap = gaps
    if conic:
        res.solver = f"cvxpy + {solver} ({cfg.feeder_formulation})"
    return res
