"""casadi + IPOPT (and bonmin) adapter for nonconvex NLPs.

:class:`NlpBuilder` collects named variable blocks (with bounds and start
values), parameters, constraints and named cost terms as casadi SX
expressions, builds the ``nlpsol`` once and re-solves it with new parameter
values, bounds and warm starts (ADMM, 24 h, scenarios reuse one built
model). Exact first and second derivatives come from casadi's algorithmic
differentiation.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import casadi as ca
import numpy as np

IPOPT_DEFAULTS: dict[str, Any] = {
    "ipopt.print_level": 0,
    "ipopt.tol": 1e-9,
    "ipopt.constr_viol_tol": 1e-9,
    "ipopt.acceptable_tol": 1e-7,
    "ipopt.max_iter": 1000,
    "ipopt.mu_strategy": "adaptive",
    "ipopt.sb": "yes",
    "print_time": False,
}

WARM_START = {
    "ipopt.warm_start_init_point": "yes",
    "ipopt.warm_start_bound_push": 1e-9,
    "ipopt.warm_start_mult_bound_push": 1e-9,
    "ipopt.warm_start_slack_bound_push": 1e-9,
    "ipopt.mu_init": 1e-6,
}

STATUS = {
    "Solve_Succeeded": "optimal",
    "Solved_To_Acceptable_Level": "acceptable",
    "Infeasible_Problem_Detected": "infeasible",
    "Maximum_Iterations_Exceeded": "iteration_limit",
    "Restoration_Failed": "restoration_failed",
    "Search_Direction_Becomes_Too_Small": "numerical_error",
    "Error_In_Step_Computation": "numerical_error",
    "Invalid_Number_Detected": "numerical_error",
    "Diverging_Iterates": "unbounded",
    "SUCCESS": "optimal",
    "INFEASIBLE": "infeasible",
}
OK_STATUSES = ("optimal", "acceptable")
ACCEPT_VIOLATION = 1e-6


@contextlib.contextmanager
def quiet_stdout():
    """Silence C-level output on file descriptor 1 (bonmin prints there whatever its log levels)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


@dataclass
class Block:
    name: str
    sym: Any
    lb: np.ndarray
    ub: np.ndarray
    x0: np.ndarray
    start: int
    discrete: bool = False


@dataclass
class NlpSolution:
    status: str
    solver_status: str
    objective: float
    x: dict[str, np.ndarray]
    terms: dict[str, float]
    iterations: int
    time_s: float
    x_raw: np.ndarray
    lam_x: np.ndarray
    lam_g: np.ndarray
    g: dict[str, np.ndarray] = field(default_factory=dict)
    lam: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


class NlpBuilder:
    """Named blocks of an NLP: variables, parameters, constraints, cost terms."""

    def __init__(self, name: str = "nlp") -> None:
        self.name = name
        self.blocks: dict[str, Block] = {}
        self.params: dict[str, tuple[Any, np.ndarray]] = {}
        self.cons: list[tuple[str, Any, np.ndarray, np.ndarray]] = []
        self.terms: dict[str, Any] = {}
        self.weights: dict[str, Any] = {}
        self._nx = 0
        self._solver = None
        self._fns: dict[str, Any] = {}
        self._last: NlpSolution | None = None

    # ----------------------------------------------------------------- model
    def var(self, name: str, n: int, lb: Any = -np.inf, ub: Any = np.inf, x0: Any = 0.0, discrete: bool = False) -> Any:
        if name in self.blocks:
            raise ValueError(f"variable block {name!r} defined twice")
        sym = ca.SX.sym(name, n)
        b = Block(name, sym, np.broadcast_to(np.asarray(lb, float), (n,)).copy(),
                  np.broadcast_to(np.asarray(ub, float), (n,)).copy(),
                  np.broadcast_to(np.asarray(x0, float), (n,)).copy(), self._nx, discrete)
        self.blocks[name] = b
        self._nx += n
        self._solver = None
        return sym

    def param(self, name: str, value: Any) -> Any:
        value = np.atleast_1d(np.asarray(value, float)).ravel()
        sym = ca.SX.sym(name, len(value))
        self.params[name] = (sym, value)
        self._solver = None
        return sym

    def set_param(self, name: str, value: Any) -> None:
        sym, old = self.params[name]
        value = np.broadcast_to(np.asarray(value, float).ravel(), old.shape).copy()
        self.params[name] = (sym, value)

    def eq(self, name: str, expr: Any, rhs: Any = 0.0) -> None:
        n = expr.shape[0]
        r = np.broadcast_to(np.asarray(rhs, float), (n,)).copy()
        self.cons.append((name, expr, r, r.copy()))
        self._solver = None

    def ineq(self, name: str, expr: Any, lb: Any = -np.inf, ub: Any = np.inf) -> None:
        n = expr.shape[0]
        self.cons.append((name, expr, np.broadcast_to(np.asarray(lb, float), (n,)).copy(),
                          np.broadcast_to(np.asarray(ub, float), (n,)).copy()))
        self._solver = None

    def cost(self, name: str, expr: Any, weight: float | str = 1.0) -> None:
        """A named objective term; the objective is the weighted sum of terms.

        ``weight`` is a number or the name of a parameter (changeable
        between solves without rebuilding).
        """
        if isinstance(weight, str) and weight not in self.params:
            raise ValueError(f"weight parameter {weight!r} is not defined")
        self.terms[name] = expr
        self.weights[name] = weight
        self._solver = None

    def weight_of(self, term: str) -> float:
        w = self.weights[term]
        return float(self.params[w][1][0]) if isinstance(w, str) else float(w)

    def weighted_objective(self, sol: "NlpSolution", skip: tuple[str, ...] = ()) -> float:
        """Sum of weighted terms at a solution, leaving out terms starting with ``skip``."""
        return float(sum(self.weight_of(k) * v for k, v in sol.terms.items() if not k.startswith(skip)))

    def set_bounds(self, name: str, lb: Any = None, ub: Any = None) -> None:
        b = self.blocks[name]
        if lb is not None:
            b.lb[:] = lb
        if ub is not None:
            b.ub[:] = ub

    def set_start(self, name: str, x0: Any) -> None:
        self.blocks[name].x0[:] = x0

    # ----------------------------------------------------------------- solve
    def _x(self) -> Any:
        return ca.vertcat(*[b.sym for b in self.blocks.values()])

    def _p(self) -> Any:
        return ca.vertcat(*[s for s, _ in self.params.values()]) if self.params else ca.SX(0, 1)

    def objective_expr(self) -> Any:
        f = 0
        for k, e in self.terms.items():
            w = self.weights[k]
            f = f + (self.params[w][0] if isinstance(w, str) else w) * e
        return f

    def build(self, solver: str = "ipopt", options: dict | None = None) -> None:
        x, p = self._x(), self._p()
        g = ca.vertcat(*[c[1] for c in self.cons]) if self.cons else ca.SX(0, 1)
        nlp = {"x": x, "p": p, "f": self.objective_expr(), "g": g}
        opts: dict[str, Any]
        if solver == "ipopt":
            opts = dict(IPOPT_DEFAULTS)
        else:
            opts = {"print_time": False, "bonmin.print_level": 0, "bonmin.bb_log_level": 0, "bonmin.nlp_log_level": 0,
                    "bonmin.algorithm": "B-BB", "bonmin.integer_tolerance": 1e-6,
                    "discrete": [bool(d) for b in self.blocks.values() for d in [b.discrete] * b.sym.shape[0]]}
        opts.update(options or {})
        self._solver = ca.nlpsol(self.name, solver, nlp, opts)
        self._solver_kind = solver
        self._fns["terms"] = ca.Function("terms", [x, p], [ca.vertcat(*self.terms.values()) if self.terms else ca.SX(0, 1)])
        self._fns["g"] = ca.Function("g", [x, p], [g])

    @property
    def built(self) -> bool:
        return self._solver is not None

    def _vec(self, attr: str) -> np.ndarray:
        return np.concatenate([getattr(b, attr) for b in self.blocks.values()]) if self.blocks else np.zeros(0)

    def solve(self, warm: NlpSolution | None = None, solver: str = "ipopt", options: dict | None = None) -> NlpSolution:
        if self._solver is None or (solver != getattr(self, "_solver_kind", None)):
            self.build(solver, options)
        p = np.concatenate([v for _, v in self.params.values()]) if self.params else np.zeros(0)
        lbg = np.concatenate([c[2] for c in self.cons]) if self.cons else np.zeros(0)
        ubg = np.concatenate([c[3] for c in self.cons]) if self.cons else np.zeros(0)
        args = dict(x0=self._vec("x0"), p=p, lbx=self._vec("lb"), ubx=self._vec("ub"), lbg=lbg, ubg=ubg)
        if warm is not None and len(warm.x_raw) == self._nx:
            args.update(x0=warm.x_raw, lam_x0=warm.lam_x, lam_g0=warm.lam_g)
            args["x0"] = np.clip(args["x0"], args["lbx"], args["ubx"])
        t0 = time.perf_counter()
        try:
            with quiet_stdout() if self._solver_kind != "ipopt" else contextlib.nullcontext():
                res = self._solver(**args)
            stats = self._solver.stats()
            solver_status = str(stats.get("return_status", "unknown"))
        except RuntimeError as exc:  # casadi raises on evaluation errors (NaN)
            res = None
            solver_status = f"error: {exc}".splitlines()[0]
            stats = {}
        dt = time.perf_counter() - t0
        if res is None:
            xr = args["x0"]
            return NlpSolution("error", solver_status, float("nan"), self._split(xr), {}, 0, dt, xr,
                               np.zeros(self._nx), np.zeros(len(lbg)))
        xr = np.asarray(res["x"]).ravel()
        status = STATUS.get(solver_status, "error")
        if solver_status in ("Solve_Succeeded", "SUCCESS") and not stats.get("success", True):
            status = "error"
        tv = np.asarray(self._fns["terms"](xr, p)).ravel()
        sol = NlpSolution(
            status=status, solver_status=solver_status, objective=float(res["f"]), x=self._split(xr),
            terms=dict(zip(self.terms, map(float, tv))), iterations=int(stats.get("iter_count", 0)), time_s=dt,
            x_raw=xr, lam_x=np.asarray(res["lam_x"]).ravel(), lam_g=np.asarray(res["lam_g"]).ravel(),
        )
        gv = np.asarray(self._fns["g"](xr, p)).ravel()
        k = 0
        for name, e, _, _ in self.cons:
            n = e.shape[0]
            sol.g[name] = gv[k:k + n]
            sol.lam[name] = sol.lam_g[k:k + n]
            k += n
        if solver_status == "Search_Direction_Becomes_Too_Small" and self.max_violation(sol) < ACCEPT_VIOLATION:
            # IPOPT stops this way when it starts at (or reaches) the optimum to machine
            # precision; a feasible point is then as good as "acceptable"
            sol.status = "acceptable"
        self._last = sol
        return sol

    def _split(self, xr: np.ndarray) -> dict[str, np.ndarray]:
        return {b.name: xr[b.start:b.start + b.sym.shape[0]] for b in self.blocks.values()}

    def max_violation(self, sol: NlpSolution) -> float:
        """Largest violation of constraints and bounds at a solution."""
        worst = 0.0
        for name, _, lb, ub in self.cons:
            v = sol.g[name]
            worst = max(worst, float(np.max(np.r_[0.0, lb - v, v - ub])))
        x = sol.x_raw
        worst = max(worst, float(np.max(np.r_[0.0, self._vec("lb") - x, x - self._vec("ub")])))
        return worst


def sparse_dm(m: Any) -> Any:
    """casadi DM of a scipy sparse matrix (structure kept)."""
    import scipy.sparse as sp

    m = sp.csc_matrix(m)
    return ca.DM(ca.Sparsity(m.shape[0], m.shape[1], m.indptr.tolist(), m.indices.tolist()), m.data.tolist())
