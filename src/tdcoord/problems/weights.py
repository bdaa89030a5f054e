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


def weights_from_payoff(rows: list[list[float]], labels: list[str], failed: list[str], delta: float = 1.0) -> Weights:
    """Entropy weights from a payoff table (rows: alternatives, columns: :data:`TERMS`)."""
    matrix = np.array(rows)
    e, w, rng = entropy_of(matrix)
    alpha, beta, gamma = (w / np.where(rng > 0, rng, 1.0)).tolist()
    return Weights(alpha=alpha, beta=beta, gamma=gamma, delta=delta, method="entropy",
                   detail={"alternatives": labels, "terms": list(TERMS), "matrix": matrix.tolist(),
                           "entropy": e.tolist(), "w": w.tolist(), "range": rng.tolist(), "failed": failed})


__all__ = ["SMALL", "TERMS", "Weights", "entropy_of", "weights_from_payoff"]
