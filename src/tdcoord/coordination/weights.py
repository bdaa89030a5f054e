"""Entropy weights of a coupled system: the payoff table solved, then weighed (:mod:`tdcoord.problems.weights`)."""

from __future__ import annotations

from tdcoord.coordination.common import base_case, start_point
from tdcoord.coordination.problem import AreaProblem
from tdcoord.problems.evaluate import evaluate
from tdcoord.problems.rpo import set_weights
from tdcoord.problems.weights import SMALL, TERMS, Weights, weights_from_payoff


def entropy_weights(cs, cfg, *, base_pf=None, starts=None, inputs=None) -> Weights:
    """Weights of ``loss_mw``, ``q_cost`` and ``dv`` for the coupled system ``cs``."""
    base_pf = base_pf or base_case(cs)
    starts = starts or start_point(cs, base_pf, inputs)
    names = ["T"] + list(cs.boundary.index[cs.boundary.in_service])
    problem = AreaProblem(cs, cfg, names, coupling="equal", starts=starts, name="payoff", inputs=inputs)
    rows, labels, failed = [], [], []
    base_eval = evaluate(cs, base_pf, Weights())
    rows.append([base_eval.terms[t] for t in TERMS])
    labels.append("base case")
    for t in TERMS:
        w = {k: SMALL for k in TERMS}
        w[t] = 1.0
        set_weights(problem.b, Weights(alpha=w["loss_mw"], beta=w["q_cost"], gamma=w["dv"]))
        sol = problem.solve()
        if not sol.ok:
            failed.append(f"min {t}: IPOPT {sol.solver_status}")
            continue
        total = {k: 0.0 for k in TERMS}
        for key, v in sol.terms.items():
            for k in TERMS:
                if key.endswith("." + k):
                    total[k] += v
        rows.append([total[k] for k in TERMS])
        labels.append(f"min {t}")
    if len(rows) < 2:
        from tdcoord.errors import SolveError

        raise SolveError(f"entropy weights of {cs.name!r}: no term could be optimized on its own ({'; '.join(failed)}); "
                         "the problem is infeasible as posed, or give the weights explicitly")
    return weights_from_payoff(rows, labels, failed, cfg.weights.delta)


__all__ = ["entropy_weights"]
