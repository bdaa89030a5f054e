"""A linear program as a lower level: its KKT conditions inside a leader's model.

A follower solves, in every period t (the same matrices, the right-hand side moving with the period and
with the leader's decisions y_t),

    minimize    c' x
    subject to  A x = b0_t + E y_t          (lambda, free)
                G x <= h                    (mu >= 0)

:func:`add_kkt` writes, into a model builder (:mod:`tdcoord.backends`, conic backend), the follower's primal
variables ``x``, its duals ``lambda`` and ``mu`` and its optimality conditions

    A x = b0 + E y,   G x + s = h,   s >= 0                         primal feasibility
    c - A' lambda + G' mu = 0,        mu >= 0                       dual feasibility (stationarity)
    mu_j s_j = 0                                                    complementarity

with the complementarity either as SOS1 sets {mu_j, s_j} (``method="sos1"``: SCIP branches on them; no
constant to choose) or by big-M with a binary z_j (``method="bigm"``): ``mu_j <= M_mu,j z_j``,
``s_j <= M_s,j (1 - z_j)``. ``M_s`` is the row's slack range over the follower's bounds (exact: the
follower's variables are bounded by rows of G); ``M_mu`` is given by the caller (bounds derived from its data;
:func:`tdcoord.problems.dso_market.tso_dual_bounds`) and checked after a solve (:meth:`Kkt.at_bound`).

Any x, lambda, mu meeting these is an optimum of the follower and an optimum of its dual, so the strong
duality ``c'x = (b0 + E y)' lambda - h' mu`` holds, and the leader's bilinear payment ``lambda' E y`` (prices
times its own quantities) equals the linear :meth:`Kkt.payment`: ``c'x + h' mu - b0' lambda``. This is the
standard single-level reformulation of a bilevel problem with a linear follower (Fortuny-Amat and McCarl,
J. Oper. Res. Soc. 32(9), 1981; the payment linearization as in strategic-bidding MPECs, e.g. Ruiz and
Conejo, IEEE Trans. Power Syst. 24(4), 2009).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass
class StandardLp:
    """``min c'x  s.t.  A x = b0[:, t] + E y_t,  G x <= h`` per period; names for the rows and columns."""

    c: np.ndarray
    A: sp.csr_matrix
    b0: np.ndarray  # (m_eq, T)
    E: sp.csr_matrix  # (m_eq, n_y)
    G: sp.csr_matrix
    h: np.ndarray
    x_names: list[str] = field(default_factory=list)
    eq_names: list[str] = field(default_factory=list)
    ineq_names: list[str] = field(default_factory=list)

    @property
    def periods(self) -> int:
        return int(self.b0.shape[1])

    def solve(self, y: np.ndarray) -> dict[str, Any]:
        """The follower alone at the leader's ``y`` (n_y, T), by HiGHS through scipy (a reference for tests):
        ``objective`` (sum over periods), ``x``, ``lam`` (m_eq, T), ``mu`` (m_in, T), ``status`` per period."""
        from scipy.optimize import linprog

        T = self.periods
        x = np.full((len(self.c), T), np.nan)
        lam = np.full((self.A.shape[0], T), np.nan)
        mu = np.full((self.G.shape[0], T), np.nan)
        obj, status = 0.0, []
        for t in range(T):
            rhs = self.b0[:, t] + self.E @ np.asarray(y, float)[:, t]
            r = linprog(self.c, A_ub=self.G, b_ub=self.h, A_eq=self.A, b_eq=rhs, bounds=(None, None), method="highs")
            status.append(r.message)
            if r.status != 0:
                obj = float("nan")
                continue
            x[:, t] = r.x
            lam[:, t] = r.eqlin.marginals
            mu[:, t] = -r.ineqlin.marginals
            obj += float(r.fun)
        return {"objective": obj, "x": x, "lam": lam, "mu": mu, "status": status}

    def slack_range(self) -> np.ndarray:
        """Largest ``h - G x`` over the box that the single-variable rows of G give (inf where unbounded)."""
        G = sp.csr_matrix(self.G)
        lo = np.full(G.shape[1], -np.inf)
        hi = np.full(G.shape[1], np.inf)
        for i in range(G.shape[0]):
            cols, vals = G.indices[G.indptr[i]:G.indptr[i + 1]], G.data[G.indptr[i]:G.indptr[i + 1]]
            if len(cols) == 1:
                j, a = cols[0], vals[0]
                if a > 0:
                    hi[j] = min(hi[j], self.h[i] / a)
                else:
                    lo[j] = max(lo[j], self.h[i] / a)
        out = np.empty(G.shape[0])
        for i in range(G.shape[0]):
            cols, vals = G.indices[G.indptr[i]:G.indptr[i + 1]], G.data[G.indptr[i]:G.indptr[i + 1]]
            with np.errstate(invalid="ignore"):
                least = np.sum(np.where(vals > 0, vals * lo[cols], vals * hi[cols]))
            out[i] = self.h[i] - least
        return out


@dataclass
class Kkt:
    """The follower inside a leader's model: expressions of its primal and dual variables (rows x periods)."""

    lp: StandardLp
    prefix: str
    method: str
    x: Any
    lam: Any
    mu: Any
    slack: Any
    m_mu: np.ndarray | None = None

    def payment(self, ops: Any) -> Any:
        """``sum_t lambda_t' E y_t`` written linearly by strong duality: ``sum_t (c'x_t + h'mu_t - b0_t'lambda_t)``."""
        lp = self.lp
        return self.cost(ops) + ops.sum(ops.rows(lp.h, self.mu)) - ops.sum(ops.mul(lp.b0, self.lam))

    def cost(self, ops: Any) -> Any:
        """The follower's objective ``sum_t c'x_t``."""
        return ops.sum(ops.rows(self.lp.c, self.x))

    def values(self, b: Any, sol: Any) -> dict[str, np.ndarray]:
        x, lam, mu, s = b.evaluate(sol, [self.x, self.lam, self.mu, self.slack])
        return {"x": x, "lam": lam, "mu": mu, "slack": s}

    def at_bound(self, mu: np.ndarray, rel: float = 1e-6) -> int:
        """How many multipliers sit on their big-M bound (then the bound may have cut the follower's optimum)."""
        if self.m_mu is None:
            return 0
        m = self.m_mu.reshape(-1, 1)
        return int(np.sum(mu >= m * (1 - rel)))


def add_kkt(b: Any, lp: StandardLp, y: Any, prefix: str, *, method: str = "sos1",
            m_mu: np.ndarray | None = None, m_s: np.ndarray | None = None) -> Kkt:
    """The follower ``lp`` as KKT conditions in builder ``b`` (module docstring); ``y``: the leader's (n_y, T)
    expression. ``method``: ``sos1`` or ``bigm`` (then ``m_mu``, one bound per inequality row, is needed, and
    ``m_s``, the rows' slack bounds where :meth:`StandardLp.slack_range` finds none, e.g. a flow row
    ``f <= rate`` whose partner ``-f <= rate`` bounds its slack by ``2 rate``)."""
    if method not in ("sos1", "bigm"):
        raise ValueError(f"complementarity method must be 'sos1' or 'bigm', got {method!r}")
    import cvxpy as cp

    T = lp.periods
    o = b.ops
    n, me, mi = len(lp.c), lp.A.shape[0], lp.G.shape[0]
    x = b.variable(f"{prefix}.x", (n, T), -np.inf, np.inf, 0.0)
    lam = b.variable(f"{prefix}.lam", (me, T), -np.inf, np.inf, 0.0)
    s_max = np.maximum(lp.slack_range(), 0.0)
    if m_s is not None:
        s_max = np.minimum(s_max, np.asarray(m_s, float))
    b.constraint_eq(f"{prefix}.primal_eq", o.mm(lp.A, x) - lp.b0 - o.mm(lp.E, y))
    if method == "bigm":
        mu = b.variable(f"{prefix}.mu", (mi, T), 0.0, np.inf, 0.0)
        slack = b.variable(f"{prefix}.slack", (mi, T), 0.0, np.inf, 0.0)
    else:
        # one SOS1 set per (row, period): the columns of a (2, mi T) block, row 0 the multiplier, row 1 the slack
        pair = b.variable(f"{prefix}.pair", (2, mi * T), 0.0, np.inf, 0.0)
        b.constraint_sos1(f"{prefix}.complementarity", pair)
        mu, slack = (cp.reshape(pair[k, :], (mi, T), order="F") for k in (0, 1))
    ones = np.ones((1, T))
    b.constraint_eq(f"{prefix}.stationarity", lp.c.reshape(-1, 1) @ ones - o.mm(lp.A.T, lam) + o.mm(lp.G.T, mu))
    b.constraint_eq(f"{prefix}.primal_ineq", o.mm(lp.G, x) + slack - lp.h.reshape(-1, 1) @ ones)
    kkt = Kkt(lp, prefix, method, x, lam, mu, slack)
    if method == "bigm":
        if m_mu is None or len(m_mu) != mi or not np.all(np.isfinite(m_mu)):
            raise ValueError(f"{prefix}: big-M complementarity needs a finite multiplier bound per inequality row")
        if not np.all(np.isfinite(s_max)):
            raise ValueError(f"{prefix}: big-M complementarity needs every inequality row's slack bounded")
        z = b.variable(f"{prefix}.z", (mi, T), 0.0, 1.0, 0.0, kind="binary")
        b.constraint_ineq(f"{prefix}.mu_on", mu - o.rows(m_mu, z), -np.inf, 0.0)
        b.constraint_ineq(f"{prefix}.slack_on", slack + o.rows(s_max, z) - s_max.reshape(-1, 1) @ ones,
                          -np.inf, 0.0)
        kkt.m_mu = np.asarray(m_mu, float)
    return kkt


__all__ = ["Kkt", "StandardLp", "add_kkt"]
