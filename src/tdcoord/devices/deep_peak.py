"""Thermal units retrofitted for deep peak shaving: the staged cost of seed 001 (section 4.1.2) as a MILP.

A unit runs in one of three stages (the paper's C_g^G):

- normal, ``p_a <= p <= p_max``: the fuel cost ``a p^2 + b p + c`` ($/h);
- deep peak shaving without oil, ``p_b <= p < p_a``: plus the loss cost
  ``k1 (p_a - p)`` and minus the subsidy ``hs ks (p_a - p)``;
- oil-assisted deep peak shaving, ``p_c <= p < p_b``: plus the oil cost
  ``k2 (p_b - p)`` as well.

So the cost is ``fuel(p) + (k1 - hs ks) (p_a - p)^+ + k2 (p_b - p)^+``
on ``[p_c, p_max]`` (:meth:`DeepPeakUnit.cost`). When the subsidy is worth
more than the loss (``hs ks > k1``) the function is not convex, and the
stage must be chosen by binaries.

**MILP form** (:func:`constraint_deep_peak_cost`), per unit and period:

    p = p_a + q - d1 - d2,
    0 <= q <= (p_max - p_a)(1 - y_deep)
    (p_a - p_b) y_oil <= d1 <= (p_a - p_b) y_deep
    0 <= d2 <= (p_b - p_c) y_oil,      y_oil <= y_deep

with binary ``y_deep`` (below the normal minimum) and ``y_oil`` (below the
minimum without oil). The depths are filled in order, so ``d1 + d2`` is
``(p_a - p)^+`` and ``d2`` is ``(p_b - p)^+`` whatever the signs of the
coefficients.

The fuel cost is convex; its epigraph is cut by the chords of ``K`` equally
spaced breakpoints over ``[p_c, p_max]`` (``fuel_mw >= chord_k(p)``): the
piecewise-linear interpolant, exact at the breakpoints and above the
quadratic by at most ``a h^2 / 4`` between them (``h`` the spacing), so
the model stays a MILP for HiGHS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tdcoord.errors import InputError

BREAKPOINTS = 9


@dataclass(frozen=True)
class DeepPeakUnit:
    """One unit's stages (MW) and cost coefficients ($/MW^2h, $/MWh, $/h; ``hs`` dimensionless)."""

    name: str
    p_max_mw: float
    p_a_mw: float  # minimum technical output in normal operation
    p_b_mw: float  # minimum output of deep peak shaving without oil
    p_c_mw: float  # minimum output with oil
    a: float
    b: float
    c: float
    k1: float  # loss (wear) cost of deep peak shaving, $/MWh below p_a
    k2: float  # oil cost, $/MWh below p_b
    hs: float  # compensation coefficient
    ks: float  # compensation price, $/MWh below p_a

    def __post_init__(self) -> None:
        p = (self.p_c_mw, self.p_b_mw, self.p_a_mw, self.p_max_mw)
        if not all(np.isfinite(p)) or not 0 <= p[0] <= p[1] <= p[2] <= p[3] or p[3] <= 0:
            raise InputError(f"deep peak shaving unit {self.name!r}: expected 0 <= p_c_mw <= p_b_mw <= p_a_mw <= "
                             f"p_max_mw (and p_max_mw > 0), got {p}")
        for f in ("a", "b", "c", "k1", "k2", "hs", "ks"):
            v = getattr(self, f)
            if not (np.isfinite(v) and v >= 0):
                raise InputError(f"deep peak shaving unit {self.name!r}: {f} = {v!r}; expected a finite number >= 0")

    def fuel(self, p: np.ndarray | float) -> np.ndarray:
        p = np.asarray(p, float)
        return self.a * p ** 2 + self.b * p + self.c

    def cost(self, p: np.ndarray | float) -> np.ndarray:
        """The staged cost at output ``p`` (MW), $/h."""
        p = np.asarray(p, float)
        if np.any(p < self.p_c_mw - 1e-9) or np.any(p > self.p_max_mw + 1e-9):
            raise InputError(f"deep peak shaving unit {self.name!r}: output outside [{self.p_c_mw}, {self.p_max_mw}] "
                             "MW")
        deep = np.maximum(self.p_a_mw - p, 0.0)
        oil = np.maximum(self.p_b_mw - p, 0.0)
        return self.fuel(p) + (self.k1 - self.hs * self.ks) * deep + self.k2 * oil

    def stage(self, p: float) -> str:
        return "normal" if p >= self.p_a_mw - 1e-9 else ("deep" if p >= self.p_b_mw - 1e-9 else "oil")

    def breakpoints(self, k: int = BREAKPOINTS) -> np.ndarray:
        return np.linspace(self.p_c_mw, self.p_max_mw, max(int(k), 2))

    def max_fuel_error(self, k: int = BREAKPOINTS) -> float:
        """The interpolant's largest excess over the quadratic fuel cost, $/h."""
        h = (self.p_max_mw - self.p_c_mw) / (max(int(k), 2) - 1)
        return self.a * h ** 2 / 4


@dataclass
class DeepPeakModel:
    """The blocks of :func:`constraint_deep_peak_cost` (names under ``prefix``) and the cost expression ($)."""

    prefix: str
    units: list[DeepPeakUnit]
    cost: Any


def constraint_deep_peak_cost(b: Any, prefix: str, units: list[DeepPeakUnit], p_mw: Any, periods: int,
                              dt_h: float = 1.0, breakpoints: int = BREAKPOINTS) -> DeepPeakModel:
    """Stage binaries, depths and the fuel epigraph of ``units`` whose outputs are ``p_mw`` (an (n, T) expression
    in MW, one row per unit); the returned cost is the horizon's, in $ (``dt_h`` hours per period)."""
    n, T = len(units), int(periods)
    if n == 0:
        raise InputError("deep peak shaving: no units")
    if tuple(p_mw.shape) != (n, T):
        raise InputError(f"deep peak shaving: the output expression has shape {tuple(p_mw.shape)}, expected {(n, T)}")
    col = lambda v: np.tile(np.asarray(v, float)[:, None], (1, T))  # noqa: E731
    p_max = col([u.p_max_mw for u in units])
    p_a, p_b, p_c = (col([getattr(u, f) for u in units]) for f in ("p_a_mw", "p_b_mw", "p_c_mw"))
    q = b.variable(f"{prefix}.above_mw", (n, T), 0.0, p_max - p_a)
    d1 = b.variable(f"{prefix}.deep_mw", (n, T), 0.0, p_a - p_b)
    d2 = b.variable(f"{prefix}.oil_mw", (n, T), 0.0, p_b - p_c)
    y_deep = b.variable(f"{prefix}.deep_on", (n, T), 0.0, 1.0, kind="binary")
    y_oil = b.variable(f"{prefix}.oil_on", (n, T), 0.0, 1.0, kind="binary")
    fuel = b.variable(f"{prefix}.fuel_cost", (n, T), 0.0, np.inf)
    b.constraint_eq(f"{prefix}.stages", p_mw - (q - d1 - d2), p_a)
    rows = b.ops.rows  # each row (unit) times its own coefficient
    above, deep, oil = (p_max - p_a)[:, 0], (p_a - p_b)[:, 0], (p_b - p_c)[:, 0]
    b.constraint_ineq(f"{prefix}.above_only_normal", q + rows(above, y_deep), ub=p_max - p_a)
    b.constraint_ineq(f"{prefix}.deep_when_on", d1 - rows(deep, y_deep), ub=0.0)
    b.constraint_ineq(f"{prefix}.deep_full_before_oil", d1 - rows(deep, y_oil), lb=0.0)
    b.constraint_ineq(f"{prefix}.oil_when_on", d2 - rows(oil, y_oil), ub=0.0)
    b.constraint_ineq(f"{prefix}.oil_after_deep", y_deep - y_oil, lb=0.0)
    xs = np.array([u.breakpoints(breakpoints) for u in units])  # (n, K)
    fs = np.array([u.fuel(x) for u, x in zip(units, xs)])
    for k in range(xs.shape[1] - 1):  # the chord through breakpoints k and k + 1
        x0, x1, f0, f1 = xs[:, k], xs[:, k + 1], fs[:, k], fs[:, k + 1]
        slope = np.where(x1 > x0, (f1 - f0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0)
        b.constraint_ineq(f"{prefix}.fuel_chord{k}", fuel - rows(slope, p_mw), lb=col(f0 - slope * x0))
    stage_coef = np.array([u.k1 - u.hs * u.ks for u in units])
    oil_coef = np.array([u.k2 for u in units])
    cost = dt_h * b.ops.sum(fuel + rows(stage_coef, d1 + d2) + rows(oil_coef, d2))
    return DeepPeakModel(prefix, list(units), cost)


__all__ = ["BREAKPOINTS", "DeepPeakModel", "DeepPeakUnit", "constraint_deep_peak_cost"]
