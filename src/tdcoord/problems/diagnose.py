"""Which limits cannot all be met: the infeasible model re-solved with slack on its limits.

When a model has no feasible point, MATPOWER and PowerModels users expect to
be told where. :func:`soften_limits` turns the bounds of the voltage and
reactive-power blocks of a built NLP into soft limits: each bound gets a
nonnegative slack variable, ``x + s_low >= lower`` and ``x - s_high <=
upper``, charged ``PENALTY`` per p.u. on top of the objective, so that the
re-solve finds the point that breaks the limits least. :func:`largest_slacks`
lists the limits broken at that point, largest first, with the element, the
limit and the value it would need. The model is changed in place: build a
new one to solve the original problem again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PENALTY = 1e4  # objective units per p.u. of slack: far above any term of the reactive power objective
SHOWN = 1e-5  # p.u.: smaller slacks are solver noise


@dataclass
class SoftLimit:
    block: str
    element: list[str]  # one name per row of the block
    quantity: str  # "V" (p.u.) or "Q" (Mvar)
    scale: float  # p.u. -> the quantity's unit
    squared: bool = False  # the block holds V^2 (its limits are squared)


def soften_limits(b: Any, limits: list[SoftLimit]) -> list[tuple[SoftLimit, np.ndarray, np.ndarray, Any, Any]]:
    """Replace the blocks' bounds by penalized soft limits (see the module docstring)."""
    out = []
    for lim in limits:
        blk = b.blocks[lim.block]
        lo, hi = blk.lb.copy(), blk.ub.copy()
        n = blk.lb.shape[0]
        fin_lo, fin_hi = np.isfinite(lo[:, 0]), np.isfinite(hi[:, 0])
        s_lo = b.variable(f"{lim.block}.slack_low", n, 0.0, np.where(fin_lo, np.inf, 0.0), 0.0)
        s_hi = b.variable(f"{lim.block}.slack_high", n, 0.0, np.where(fin_hi, np.inf, 0.0), 0.0)
        x = blk.sym
        b.constraint_ineq(f"{lim.block}.soft_low", x + s_lo, np.where(fin_lo, lo[:, 0], -np.inf), np.inf)
        b.constraint_ineq(f"{lim.block}.soft_high", x - s_hi, -np.inf, np.where(fin_hi, hi[:, 0], np.inf))
        b.set_bounds(lim.block, np.full_like(lo, -np.inf), np.full_like(hi, np.inf))
        if lim.squared:  # V^2 must stay positive for sqrt(w)
            b.set_bounds(lim.block, np.full_like(lo, 1e-4), np.full_like(hi, np.inf))
        b.objective_term(f"{lim.block}.slack", b.ops.sum(s_lo) + b.ops.sum(s_hi), PENALTY)
        out.append((lim, lo[:, 0], hi[:, 0], f"{lim.block}.slack_low", f"{lim.block}.slack_high"))
    return out


def largest_slacks(sol: Any, softened: list, top: int = 8) -> list[dict]:
    """The limits broken at the softened optimum, largest first (quantities in V p.u. or Mvar)."""
    rows = []
    for lim, lo, hi, low_name, high_name in softened:
        x = np.asarray(sol.x[lim.block], float).reshape(len(lo), -1)[:, 0]
        for name, side, bound in ((low_name, ">=", lo), (high_name, "<=", hi)):
            s = np.asarray(sol.x[name], float).ravel()
            for k in np.flatnonzero(s > SHOWN):
                value, limit = (np.sqrt(max(x[k], 0.0)), np.sqrt(bound[k])) if lim.squared else (x[k], bound[k])
                rows.append({"element": lim.element[k], "quantity": lim.quantity, "limit": f"{side} {limit * lim.scale:.4g}",
                             "needs": float(value * lim.scale), "slack": float(abs(value - limit) * lim.scale),
                             "slack_pu": float(s[k])})
    rows.sort(key=lambda r: -r["slack_pu"])
    return rows[:top]


def describe(rows: list[dict]) -> str:
    """One line: the limits that cannot all be met."""
    unit = {"V": "p.u.", "Q": "Mvar"}
    return "; ".join(f"{r['element']} {r['quantity']} {r['limit']} {unit[r['quantity']]} (needs {r['needs']:.4g})"
                     for r in rows)


__all__ = ["PENALTY", "SoftLimit", "describe", "largest_slacks", "soften_limits"]
