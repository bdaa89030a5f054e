"""Centralized strategy: one NLP over the transmission grid and every feeder."""

from __future__ import annotations

import time

from tdcoord.coordination.common import build_strategy_result, start_point
from tdcoord.coordination.discrete import solve_discrete
from tdcoord.coordination.problem import AreaProblem
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.reserve import shortfalls
from tdcoord.problems.rpo import RpoConfig
from tdcoord.results.optimization import StrategyResult


def solve_centralized(cs: CoupledSystem, cfg: RpoConfig, *, base_pf=None, starts=None,
                      discrete: str = "search", inputs=None) -> StrategyResult:
    t0 = time.perf_counter()
    if starts is None:
        from tdcoord.coordination.common import base_case

        starts = start_point(cs, base_pf or base_case(cs), inputs)
    names = ["T"] + list(cs.boundary.index[cs.boundary.in_service])
    problem = AreaProblem(cs, cfg, names, coupling="equal", starts=starts, name="centralized", inputs=inputs)
    sol, info = solve_discrete(problem, discrete)
    return centralized_result(cs, cfg, problem, sol, info, time.perf_counter() - t0)


def centralized_result(cs: CoupledSystem, cfg: RpoConfig, problem: AreaProblem, sol, info: dict,
                       t_solve: float) -> StrategyResult:
    """The strategy result of a solved centralized problem, re-checked by power flow (or its failure)."""
    if not sol.ok:
        return StrategyResult("centralized", False, sol.solver_status, iterations=sol.iterations, time_s=t_solve,
                              messages=[f"{sol.solver.upper() or 'IPOPT'}: {sol.solver_status}"]
                              + infeasibility_messages(problem, sol), discrete=info)
    n = problem.n_floats()
    res = build_strategy_result(cs, "centralized", problem.solutions(sol), status=sol.solver_status, converged=True,
                 time_s=t_solve, iterations=sol.iterations, weights=cfg.weights, report_optimizer_vm=True,
                 floats_per_iteration=n, floats_total=n, solver_objective=problem.weighted_terms(sol), discrete=info,
                 band=cfg.count_band)
    res.soc_gap = soc_gaps(problem, sol) if cfg.feeder_formulation == "soc_bf" else {}
    note_shortfall(res, shortfalls(problem.b, sol))
    return res


def infeasibility_messages(problem: AreaProblem, sol) -> list[str]:
    """Where an infeasible model breaks: the limits that cannot all be met (empty for other failures)."""
    if sol.status != "infeasible" and "infeas" not in sol.solver_status.lower():
        return []
    from tdcoord.problems.diagnose import describe

    rows = problem.diagnose_infeasible()
    if not rows:
        return ["no point meets the model's constraints even with its voltage and reactive limits relaxed"]
    return [f"limits that cannot all be met (the least-violating point): {describe(rows)}"]


def note_shortfall(res: StrategyResult, short: dict[str, float]) -> None:
    """Report reserve shortfalls (Mvar per constrained source block) on a result."""
    if short:
        res.reserve_shortfall_mvar = float(sum(short.values()))
        res.messages.append(f"reserve requirements not met: shortfall {sum(short.values()):.2f} Mvar ({', '.join(short)})")


def soc_gaps(problem: AreaProblem, sol) -> dict:
    """Exactness gap of the SOC relaxation in every feeder area."""
    from tdcoord.problems.solutions import soc_gap_of

    return {a.name: soc_gap_of(a, sol) for a in problem.areas if a.kind == "feeder"}
