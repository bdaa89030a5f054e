"""Discrete capacitor steps: relaxation and neighbourhood search, or bonmin.

``search`` (default): solve the NLP with continuous steps (the relaxation,
a lower bound for this local optimum), then evaluate the neighbouring
integer settings (each bank at the floor or ceiling of its relaxed step;
all combinations up to 256 of them, else a greedy coordinate search from
the nearest rounding), each by re-solving the NLP with the steps fixed and
warm-started, and keep the best feasible one. The gap to the relaxation is
reported. This is the default because it is robust on the nonconvex AC
model: a handful of warm-started NLP solves, no convexity assumption.

``bonmin``: branch-and-bound (B-BB) with IPOPT at the nodes through casadi.
On a nonconvex NLP it is a heuristic as well (node bounds are not valid
bounds), and it costs far more solves; it is offered for comparison.
Bonmin's outer-approximation algorithms are not used: they assume convexity
and wrongly declare nonconvex branch-flow problems infeasible.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tdcoord.backends.base import Solution as NlpSolution
from tdcoord.coordination.problem import AreaProblem, current_steps, fix_steps

MAX_COMBINATIONS = 256


def neighbour_sets(steps: dict[str, np.ndarray], upper: dict[str, np.ndarray]) -> list[tuple[str, int, list[int]]]:
    out = []
    for blk, vals in steps.items():
        for k, v in enumerate(vals):
            lo, hi = int(np.floor(v + 1e-7)), int(np.ceil(v - 1e-7))
            opts = sorted({min(max(lo, 0), int(upper[blk][k])), min(max(hi, 0), int(upper[blk][k]))})
            out.append((blk, k, opts))
    return out


def _objective(problem: AreaProblem, sol: NlpSolution) -> float:
    return float(sol.objective)


def solve_discrete(problem: AreaProblem, mode: str = "search", warm: NlpSolution | None = None) -> tuple[NlpSolution, dict[str, Any]]:
    if problem.backend != "nlp":
        # on the conic backend integer steps are variables of the model (exact branch and bound)
        sol = problem.solve()
        integer = any(k.endswith(".shunt_level") for k in problem.b.blocks)
        return sol, ({"method": f"{sol.solver} branch and bound (integer steps in the model)"} if integer else {})
    blocks = problem.shunt_blocks()
    if not blocks:
        return problem.solve(warm), {}
    fix_steps(problem, None)
    upper = {blk: problem.b.blocks[blk].ub.ravel(order="F").copy() for blk in blocks}
    relaxed = problem.solve(warm)
    if not relaxed.ok:
        return relaxed, {"method": mode, "status": "relaxation failed"}
    if mode == "bonmin":
        sol = problem.b.solve(warm=relaxed, solver="bonmin")
        info = {"method": "bonmin B-BB", "relaxed_objective": relaxed.objective, "objective": sol.objective,
                "gap": (sol.objective - relaxed.objective) / max(abs(relaxed.objective), 1e-12)}
        if sol.ok:
            fix_steps(problem, current_steps(problem, sol))
            problem.last = sol
        return sol, info
    rel_steps = current_steps(problem, relaxed)
    sets = neighbour_sets(rel_steps, upper)
    n_comb = int(np.prod([len(s[2]) for s in sets]))
    best: tuple[float, dict, NlpSolution] | None = None
    evaluated = 0

    def evaluate(choice: dict[str, np.ndarray]) -> tuple[float, NlpSolution]:
        nonlocal evaluated
        fix_steps(problem, choice)
        sol = problem.b.solve(warm=relaxed)
        evaluated += 1
        return (_objective(problem, sol) if sol.ok else np.inf), sol

    def as_choice(vals: list[int]) -> dict[str, np.ndarray]:
        choice = {blk: np.zeros(len(v)) for blk, v in rel_steps.items()}
        for (blk, k, _), v in zip(sets, vals):
            choice[blk][k] = v
        return choice

    if n_comb <= MAX_COMBINATIONS:
        for vals in itertools.product(*[s[2] for s in sets]):
            choice = as_choice(list(vals))
            obj, sol = evaluate(choice)
            if best is None or obj < best[0]:
                best = (obj, choice, sol)
    else:
        current = [int(np.clip(np.round(rel_steps[blk][k]), 0, upper[blk][k])) for blk, k, _ in sets]
        obj, sol = evaluate(as_choice(current))
        best = (obj, as_choice(current), sol)
        improved = True
        while improved:
            improved = False
            for i, (_, _, opts) in enumerate(sets):
                for o in opts:
                    if o == current[i]:
                        continue
                    trial = list(current)
                    trial[i] = o
                    obj, sol = evaluate(as_choice(trial))
                    if obj < best[0] - 1e-12:
                        best = (obj, as_choice(trial), sol)
                        current = trial
                        improved = True
    assert best is not None
    obj, choice, sol = best
    fix_steps(problem, choice)
    if sol.ok:
        problem.last = sol
    info = {
        "method": "relax-and-search",
        "relaxed_objective": float(relaxed.objective),
        "objective": float(obj),
        "gap": float((obj - relaxed.objective) / max(abs(relaxed.objective), 1e-12)),
        "candidates": evaluated,
        "relaxed_steps": {k: v.round(4).tolist() for k, v in rel_steps.items()},
        "steps": {k: v.astype(int).tolist() for k, v in choice.items()},
    }
    return sol, info
