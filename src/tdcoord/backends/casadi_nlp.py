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
        self.version = 0  # bumped by every change of the model's structure
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
        self.version += 1
        return sym

    def param(self, name: str, value: Any) -> Any:
        value = np.atleast_1d(np.asarray(value, float)).ravel()
        sym = ca.SX.sym(name, len(value))
        self.params[name] = (sym, value)
        self._solver = None
        self.version += 1
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
        self.version += 1

    def ineq(self, name: str, expr: Any, lb: Any = -np.inf, ub: Any = np.inf) -> None:
        n = expr.shape[0]
        self.cons.append((name, expr, np.broadcast_to(np.asarray(lb, float), (n,)).copy(),
                          np.broadcast_to(np.asarray(ub, float), (n,)).copy()))
        self._solver = None
        self.version += 1

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
        self.version += 1

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

    def param_values(self) -> np.ndarray:
        """The current values of all parameters, in the order of the parameter vector."""
        return np.concatenate([v for _, v in self.params.values()]) if self.params else np.zeros(0)

    def solve_args(self, warm: NlpSolution | None = None) -> dict[str, np.ndarray]:
        """The solver's arguments: parameter values, bounds and the (warm) start."""
        p = self.param_values()
        lbg = np.concatenate([c[2] for c in self.cons]) if self.cons else np.zeros(0)
        ubg = np.concatenate([c[3] for c in self.cons]) if self.cons else np.zeros(0)
        args = dict(x0=self._vec("x0"), p=p, lbx=self._vec("lb"), ubx=self._vec("ub"), lbg=lbg, ubg=ubg)
        if warm is not None and len(warm.x_raw) == self._nx:
            args.update(x0=warm.x_raw, lam_x0=warm.lam_x, lam_g0=warm.lam_g)
            args["x0"] = np.clip(args["x0"], args["lbx"], args["ubx"])
        return args

    def solve(self, warm: NlpSolution | None = None, solver: str = "ipopt", options: dict | None = None) -> NlpSolution:
        if self._solver is None or (solver != getattr(self, "_solver_kind", None)):
            self.build(solver, options)
        args = self.solve_args(warm)
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
                               np.zeros(self._nx), np.zeros(len(args["lbg"])))
        return self.solution(np.asarray(res["x"]).ravel(), np.asarray(res["lam_x"]).ravel(),
                             np.asarray(res["lam_g"]).ravel(), args["p"], solver_status,
                             bool(stats.get("success", True)), int(stats.get("iter_count", 0)), dt,
                             gv=np.asarray(res["g"]).ravel())

    def solution(self, xr: np.ndarray, lam_x: np.ndarray, lam_g: np.ndarray, p: np.ndarray, solver_status: str,
                 success: bool, iterations: int, time_s: float, gv: np.ndarray | None = None,
                 tv: np.ndarray | None = None) -> NlpSolution:
        """An :class:`NlpSolution` from the solver's raw output (kept as the last solution).

        ``gv`` (constraint values) and ``tv`` (cost terms) are evaluated at
        ``xr`` unless given.
        """
        status = STATUS.get(solver_status, "error")
        if solver_status in ("Solve_Succeeded", "SUCCESS") and not success:
            status = "error"
        if tv is None:
            tv = np.asarray(self._fns["terms"](xr, p)).ravel()
        terms = dict(zip(self.terms, map(float, tv)))
        sol = NlpSolution(
            status=status, solver_status=solver_status, objective=float(sum(self.weight_of(k) * v for k, v in terms.items())),
            x=self._split(xr), terms=terms, iterations=iterations, time_s=time_s, x_raw=xr, lam_x=lam_x, lam_g=lam_g,
        )
        if gv is None:
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


class NlpBatch:
    """Independent NLPs solved together as one IPOPT problem.

    The NLPs share no variable and no constraint, so the joint problem (the
    sum of the objectives subject to every constraint) is block diagonal and
    its optimum is each NLP's own optimum. Solving them in one call pays
    IPOPT's fixed cost per solve (setting up the application, the linear
    solver's symbolic analysis) once instead of once per NLP: with 100
    copies of the 33-bus feeder model of an ADMM iteration, about 1.7 ms a
    feeder instead of about 4.5 ms (measured on the project machine; the
    gain shrinks above a few hundred NLPs per batch as IPOPT's iteration
    count becomes the largest over the members). The joint problem uses
    :data:`IPOPT_DEFAULTS` updated with ``options``; the members need not be
    built themselves. A batch built for builders whose structure later
    changed is stale (:meth:`current`) and must be rebuilt.
    """

    def __init__(self, builders: list["NlpBuilder"], name: str = "batch", options: dict | None = None) -> None:
        self.builders = list(builders)
        self._versions = [b.version for b in builders]
        self._nx = np.cumsum([0] + [b._nx for b in builders])
        self._ng = np.cumsum([0] + [sum(c[1].shape[0] for c in b.cons) for b in builders])
        self._nt = np.cumsum([0] + [len(b.terms) for b in builders])
        nlp = {"x": ca.vertcat(*[b._x() for b in builders]), "p": ca.vertcat(*[b._p() for b in builders]),
               "f": sum((b.objective_expr() for b in builders), ca.SX(0)),
               "g": ca.vertcat(*[c[1] for b in builders for c in b.cons])}
        opts = dict(IPOPT_DEFAULTS)
        opts.update(options or {})
        self._solver = ca.nlpsol(name, "ipopt", nlp, opts)
        self._terms = ca.Function("terms", [nlp["x"], nlp["p"]], [ca.vertcat(*[t for b in builders for t in b.terms.values()])])

    def current(self, builders: list["NlpBuilder"]) -> bool:
        """Whether this batch still solves exactly these builders as they are now."""
        return len(builders) == len(self.builders) and all(
            b is o and b.version == v for b, o, v in zip(builders, self.builders, self._versions))

    def solve(self, warms: list[NlpSolution | None]) -> tuple[list[NlpSolution] | None, str]:
        """Solve every member from its warm start.

        Returns the members' solutions (each also kept as its builder's last
        solution) and the solver's status, or ``None`` and the status when the
        joint solve did not succeed: the joint status cannot tell which member
        failed, so the caller then solves the members one by one.
        """
        per = [b.solve_args(w) for b, w in zip(self.builders, warms)]
        args = {k: np.concatenate([a[k] for a in per]) for k in ("x0", "p", "lbx", "ubx", "lbg", "ubg")}
        if all("lam_x0" in a for a in per):
            args["lam_x0"] = np.concatenate([a["lam_x0"] for a in per])
            args["lam_g0"] = np.concatenate([a["lam_g0"] for a in per])
        t0 = time.perf_counter()
        try:
            res = self._solver(**args)
            stats = self._solver.stats()
            status = str(stats.get("return_status", "unknown"))
        except RuntimeError as exc:
            return None, f"error: {exc}".splitlines()[0]
        dt = time.perf_counter() - t0
        ok = STATUS.get(status) in OK_STATUSES and stats.get("success", True)
        if not ok and status != "Search_Direction_Becomes_Too_Small":
            return None, status
        x, lx, g, lg = (np.asarray(res[k]).ravel() for k in ("x", "lam_x", "g", "lam_g"))
        tv = np.asarray(self._terms(x, args["p"])).ravel()
        share = dt / len(self.builders)
        out = []
        for i, (b, a) in enumerate(zip(self.builders, per)):
            sx, sg = slice(self._nx[i], self._nx[i + 1]), slice(self._ng[i], self._ng[i + 1])
            out.append(b.solution(x[sx].copy(), lx[sx].copy(), lg[sg].copy(), a["p"], status, True,
                                  int(stats.get("iter_count", 0)), share, gv=g[sg],
                                  tv=tv[self._nt[i]:self._nt[i + 1]]))
        # a search direction too small at a feasible point is the optimum reached to machine
        # precision (see NlpBuilder.solution), for each member on its own
        if not all(s.ok for s in out):
            return None, status
        return out, status


def sparse_dm(m: Any) -> Any:
    """casadi DM of a scipy sparse matrix (structure kept)."""
    import scipy.sparse as sp

    m = sp.csc_matrix(m)
    return ca.DM(ca.Sparsity(m.shape[0], m.shape[1], m.indptr.tolist(), m.indices.tolist()), m.data.tolist())
