"""Objective weights by the entropy weight method.

Decision matrix: one row per alternative operating point, one column per
objective term (``loss_mw``, ``q_cost``, ``dv``). The alternatives are the
pre-optimization operating point (re-checked power flow) and, for each term,
the centralized optimum of that term alone (capacitor steps relaxed; the
other terms weighted 1e-6 so that the optimum is unique). This is the
"payoff table" of the multi-objective problem: it spans what each objective
can achieve and what it costs the others.

Each column is a cost criterion, normalized as x' = (max - x)/(max - min);
p_ij = x'_ij / sum_i x'_ij; the entropy e_j = -sum_i p_ij ln p_ij / ln m
(m alternatives, 0 ln 0 = 0); the weight w_j = (1 - e_j) / sum_k (1 - e_k).
A criterion whose values differ more across the alternatives carries more
information and gets more weight. The objective is then
sum_j w_j term_j / R_j with R_j = max_j - min_j, i.e. ``alpha = w_loss /
R_loss`` etc., so that terms in MW, $/h and p.u.^2 become comparable.
"""

from __future__ import annotations

import numpy as np

from tdcoord.problems.rpo import TERMS, Weights

SMALL = 1e-6


def entropy_of(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entropy, weights and ranges of a decision matrix of cost criteria."""
    m = matrix.shape[0]
    if m < 2:
        raise ValueError(f"the entropy weight method needs at least two alternatives, got {m}")
    hi, lo = matrix.max(axis=0), matrix.min(axis=0)
    rng = hi - lo
    safe = np.where(rng > 0, rng, 1.0)
    norm = np.where(rng > 0, (hi - matrix) / safe, 1.0 / m)
    p = norm / norm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    e = -plogp.sum(axis=0) / np.log(m)
    d = 1.0 - e
    w = d / d.sum() if d.sum() > 0 else np.full(len(d), 1.0 / len(d))
    return e, w, rng


def entropy_weights(cs, cfg, *, base_pf=None, starts=None, inputs=None) -> Weights:
    """Weights of ``loss_mw``, ``q_cost`` and ``dv`` for the coupled system ``cs``."""
    from tdcoord.coordination.common import base_case, start_point
    from tdcoord.coordination.problem import AreaProblem
    from tdcoord.problems.evaluate import evaluate
    from tdcoord.problems.rpo import set_weights

    base_pf = base_pf or base_case(cs)
    starts = starts or start_point(cs, base_pf, inputs)
    names = ["T"] + list(cs.boundary.index[cs.boundary.in_service])
    problem = AreaProblem(cs, cfg, names, coupling="equal", starts=starts, name="payoff", inputs=inputs)
    rows, labels, failed = [], [], []
    base_eval = evaluate(cs, base_pf, {"alpha": 1.0, "beta": 1.0, "gamma": 1.0})
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
    matrix = np.array(rows)
    e, w, rng = entropy_of(matrix)
    alpha, beta, gamma = (w / np.where(rng > 0, rng, 1.0)).tolist()
    return Weights(alpha=alpha, beta=beta, gamma=gamma, delta=cfg.weights.delta, method="entropy",
                   detail={"alternatives": labels, "terms": list(TERMS), "matrix": matrix.tolist(),
                           "entropy": e.tolist(), "w": w.tolist(), "range": rng.tolist(), "failed": failed})
