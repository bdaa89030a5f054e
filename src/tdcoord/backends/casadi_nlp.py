"""casadi + IPOPT (and bonmin) adapter for nonconvex NLPs.

:class:`NlpBuilder` implements the model-building interface of
:mod:`tdcoord.backends.base` on casadi's MX graphs: named variable blocks
(with bounds and start values), parameters, constraints and named cost
terms. It builds the ``nlpsol`` once and re-solves it with new parameter
values, bounds and warm starts (ADMM, 24 h, scenarios reuse one built
model). Exact first and second derivatives come from casadi's algorithmic
differentiation.

Ctrl-C during a solve: Python's handler raises ``KeyboardInterrupt`` inside
IPOPT, and casadi turns it into a failed solve (``NonIpopt_Exception_Thrown``,
or ``User_Requested_Stop`` from IPOPT's iteration callback) and drops it. A
solve therefore notes a SIGINT that arrives while it runs (in the main
thread, :func:`watch_interrupts`) and raises ``KeyboardInterrupt`` again
after it, as it does when IPOPT says the user stopped it: an interrupted
solve is never reported as a failed one (which a caller would retry).

MX rather than SX: a vectorized model is a small MX graph (one node per
vector operation), so casadi derives its Jacobian and Hessian by a few
colored sweeps over that graph instead of expanding every scalar, which
makes building large models much faster while IPOPT's own time stays the
same (``benchmarks/bench_formulations.py`` measures it; figures in
``benchmarks/README.md``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any, Iterator

import casadi as ca
import numpy as np

from tdcoord.backends.base import KINDS, Block, BuilderBase, Solution, check_shape, full

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
#: IPOPT's statuses of a solve the user stopped
INTERRUPTED = ("User_Requested_Stop",)
ACCEPT_VIOLATION = 1e-6

#: kept for the callers that name the NLP solution by its old name
NlpSolution = Solution


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


@contextlib.contextmanager
def watch_interrupts() -> Iterator[list[bool]]:
    """Notes (``[True]``) a SIGINT that arrives inside the block; Python's own handler still runs.

    Only in the main thread (where Python handles signals) and where that
    handler is a Python function (not where SIGINT is ignored).
    """
    hit = [False]
    prev = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if not callable(prev):
        yield hit
        return

    def note(signum: int, frame: Any) -> Any:
        hit[0] = True
        return prev(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield hit
    finally:
        signal.signal(signal.SIGINT, prev)


def raise_if_interrupted(hit: list[bool], solver_status: str, name: str) -> None:
    """``KeyboardInterrupt`` where a solve was interrupted (a SIGINT noted, or IPOPT says the user stopped it)."""
    if hit[0] or solver_status in INTERRUPTED:
        raise KeyboardInterrupt(f"{name}: solve interrupted ({solver_status})")


_DM_CACHE: dict[tuple, Any] = {}
_DM_CACHE_SIZE = 512


def sparse_dm(m: Any) -> Any:
    """casadi DM of a scipy sparse matrix (structure kept).

    The conversion is remembered by content for small matrices: a thousand identical feeders give the
    same incidence and selection matrices a thousand times.
    """
    import scipy.sparse as sp

    if not isinstance(m, (sp.csr_matrix, sp.csc_matrix)):
        m = sp.csc_matrix(m)
    small = m.nnz <= 4096
    if small:
        key = (m.format, m.shape, m.indptr.tobytes(), m.indices.tobytes(), np.asarray(m.data, float).tobytes())
        hit = _DM_CACHE.get(key)
        if hit is not None:
            return hit
    m = sp.csc_matrix(m)
    dm = ca.DM(ca.Sparsity(m.shape[0], m.shape[1], m.indptr.tolist(), m.indices.tolist()), m.data.tolist())
    if small:
        if len(_DM_CACHE) >= _DM_CACHE_SIZE:
            _DM_CACHE.pop(next(iter(_DM_CACHE)))
        _DM_CACHE[key] = dm
    return dm


class CasadiOps:
    """:class:`tdcoord.backends.base.Ops` for casadi expressions (MX graphs, or SX for template builders)."""

    def __init__(self, sym: Any = None) -> None:
        self.sym = ca.MX if sym is None else sym

    @staticmethod
    def mm(a: Any, x: Any) -> Any:
        import scipy.sparse as sp

        return ca.mtimes(sparse_dm(a) if sp.issparse(a) else ca.DM(np.asarray(a, float)), x)

    @staticmethod
    def rows(a: Any, x: Any) -> Any:
        a = np.asarray(a, float).reshape(-1, 1)
        return (a if x.shape[1] == 1 else np.repeat(a, x.shape[1], axis=1)) * x

    @staticmethod
    def sum(x: Any) -> Any:
        return ca.sum1(ca.sum2(x)) if hasattr(x, "shape") else x

    @staticmethod
    def sum_rows(x: Any) -> Any:
        return ca.sum1(x)

    @staticmethod
    def sum_periods(x: Any) -> Any:
        return ca.sum2(x)

    @staticmethod
    def sumsq(x: Any) -> Any:
        return ca.sumsqr(x)

    @staticmethod
    def square(x: Any) -> Any:
        return x**2

    @staticmethod
    def sqrt(x: Any) -> Any:
        return ca.sqrt(x)

    @staticmethod
    def mul(x: Any, y: Any) -> Any:
        return x * y

    @staticmethod
    def vcat(parts: list[Any]) -> Any:
        return ca.vertcat(*parts)

    @staticmethod
    def hcat(parts: list[Any]) -> Any:
        return ca.horzcat(*parts)

    @staticmethod
    def take(x: Any, idx: Any) -> Any:
        return x[[int(i) for i in np.atleast_1d(idx)], :]

    @staticmethod
    def period(x: Any, t: int) -> Any:
        return x[:, int(t)]

    def zeros(self, rows: int, periods: int = 1) -> Any:
        return self.sym.zeros(rows, periods)


def casadi_error_text(exc: Exception) -> str:
    """casadi's error as one line with its cause: the call-stack prefixes ("Error in Function::call for ... at
    .../function.cpp:514:") dropped, every line of the message kept."""
    import re

    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = re.sub(r"Error in Function::call for '[^']*' \[[^\]]*\] at [^ ]+?:\d+:\s*", "", text)
    text = re.sub(r"\.\.\./casadi/[^ ]+?:\d+:\s*", "", text)
    return text.strip() or type(exc).__name__


class NlpBuilder(BuilderBase):
    """Named blocks of an NLP: variables, parameters, constraints, cost terms (casadi MX)."""

    backend = "nlp"

    def __init__(self, name: str = "nlp", canonical: bool = False) -> None:
        """``canonical``: a template builder (see :meth:`instantiate`): symbols are scalar-expanded SX named by
        position (x0, x1, ..., p0, ...), so that two builders of the same structure give identical, compact
        casadi Functions that an MX model calls."""
        self.name = name
        self.canonical = canonical
        self.S = ca.SX if canonical else ca.MX
        self.ops = CasadiOps(self.S)
        self.blocks: dict[str, Block] = {}
        self.params: dict[str, tuple[Any, np.ndarray]] = {}
        self.cons: list[tuple[str, Any, np.ndarray, np.ndarray]] = []
        self.terms: dict[str, Any] = {}
        self.weights: dict[str, Any] = {}
        self._nx = 0
        self.version = 0  # bumped by every change of the model's structure
        self._solver = None
        self._solver_kind: str | None = None
        self._fns: dict[str, Any] = {}
        self._last: Solution | None = None
        #: options every solver built from this model gets (e.g. ``{"expand": True}``: evaluate the MX graph as SX,
        #: faster for small models solved many times)
        self.build_options: dict[str, Any] = {}

    def _changed(self) -> None:
        self._solver = None
        self.version += 1

    # ----------------------------------------------------------------- model
    def variable(self, name: str, shape: int | tuple[int, int], lb: Any = -np.inf, ub: Any = np.inf,
                 start: Any = 0.0, kind: str = "continuous") -> Any:
        if name in self.blocks:
            raise ValueError(f"variable block {name!r} defined twice")
        if kind not in KINDS:
            raise ValueError(f"variable block {name!r}: kind must be one of {KINDS}, got {kind!r}")
        rows, periods, axis = check_shape(name, shape)
        sym = self.S.sym(f"x{len(self.blocks)}" if self.canonical else name, rows, periods)
        lo, hi = full(lb, rows, periods), full(ub, rows, periods)
        if kind == "binary":
            lo, hi = np.maximum(lo, 0.0), np.minimum(hi, 1.0)
        self.blocks[name] = Block(name, sym, lo, hi, full(start, rows, periods), self._nx, kind, axis)
        self._nx += rows * periods
        self._changed()
        return sym

    def parameter(self, name: str, value: Any, nonneg: bool = False) -> Any:
        """A parameter (``nonneg`` matters to the conic backend only)."""
        if name in self.params:
            raise ValueError(f"parameter {name!r} defined twice")
        v = np.asarray(value, float)
        shape = v.shape if v.ndim == 2 else (int(np.atleast_1d(v).size), 1)
        sym = self.S.sym(f"p{len(self.params)}" if self.canonical else name, *shape)
        self.params[name] = (sym, v.reshape(shape, order="F") if v.ndim == 2 else np.atleast_1d(v).reshape(shape))
        self._changed()
        return sym

    def set_parameter(self, name: str, value: Any) -> None:
        sym, old = self.params[name]
        v = np.asarray(value, float)
        if v.ndim == 1 and old.shape[1] == 1:
            v = v[:, None]
        self.params[name] = (sym, np.broadcast_to(v, old.shape).astype(float).copy())

    def constraint_eq(self, name: str, expr: Any, rhs: Any = 0.0) -> None:
        e = ca.vec(expr)
        r = full(rhs, *expr.shape).ravel(order="F")
        self.cons.append((name, e, r.copy(), r.copy()))
        self._changed()

    def constraint_ineq(self, name: str, expr: Any, lb: Any = -np.inf, ub: Any = np.inf) -> None:
        e = ca.vec(expr)
        lo = full(lb, *expr.shape).ravel(order="F")
        hi = full(ub, *expr.shape).ravel(order="F")
        self.cons.append((name, e, lo, hi))
        self._changed()

    def constraint_cone(self, name: str, xs: list[Any], y: Any, z: Any) -> None:
        """``sum_i xs[i]^2 <= y z`` elementwise (y, z >= 0 must hold by their bounds)."""
        lhs = sum((x**2 for x in xs[1:]), xs[0] ** 2)
        self.constraint_ineq(name, lhs - y * z, -np.inf, 0.0)

    def constraint_sos1(self, name: str, x: Any, weights: Any = None) -> None:
        raise NotImplementedError("IPOPT has no special ordered sets: build the model on the conic backend (SCIP)")

    constraint_sos2 = constraint_sos1

    def _term(self, expr: Any) -> Any:
        return self.S(float(expr)) if isinstance(expr, (int, float)) else expr

    def parameter_value(self, name: str) -> np.ndarray:
        return self.params[name][1]

    # ----------------------------------------------------------------- solve
    def _x(self) -> Any:
        return ca.vertcat(*[ca.vec(b.sym) for b in self.blocks.values()]) if self.blocks else self.S(0, 1)

    def _p(self) -> Any:
        return ca.vertcat(*[ca.vec(s) for s, _ in self.params.values()]) if self.params else self.S(0, 1)

    def objective_expr(self) -> Any:
        """sum over weights of weight * (sum of its terms): one node per weight, not a chain of one per term."""
        groups: dict[Any, list[Any]] = {}
        for k, e in self.terms.items():
            groups.setdefault(self.weights[k], []).append(ca.vec(e) if e.shape != (1, 1) else e)
        f = self.S(0)
        for w, parts in groups.items():
            total = ca.sum1(ca.vertcat(*parts)) if len(parts) > 1 else ca.sum1(ca.sum2(parts[0]))
            f = f + (self.params[w][0] if isinstance(w, str) else w) * total
        return f

    def _g(self) -> Any:
        return ca.vertcat(*[c[1] for c in self.cons]) if self.cons else self.S(0, 1)

    def build(self, solver: str = "ipopt", options: dict | None = None) -> None:
        x, p = self._x(), self._p()
        g = self._g()
        nlp = {"x": x, "p": p, "f": self.objective_expr(), "g": g}
        opts: dict[str, Any]
        if solver == "ipopt":
            opts = dict(IPOPT_DEFAULTS)
            opts.update(self.build_options)
        else:
            opts = {"print_time": False, "bonmin.print_level": 0, "bonmin.bb_log_level": 0, "bonmin.nlp_log_level": 0,
                    "bonmin.algorithm": "B-BB", "bonmin.integer_tolerance": 1e-6,
                    "discrete": [bool(b.discrete) for b in self.blocks.values() for _ in range(b.size)]}
        opts.update(options or {})
        self._solver = ca.nlpsol(_solver_name(self.name), solver, nlp, opts)
        self._solver_kind = solver
        terms = ca.vertcat(*[ca.vec(ca.MX(t)) if not isinstance(t, ca.MX) else ca.vec(t) for t in self.terms.values()]) \
            if self.terms else ca.MX(0, 1)
        self._fns["terms"] = ca.Function("terms", [x, p], [terms])
        self._fns["g"] = ca.Function("g", [x, p], [g])

    @property
    def built(self) -> bool:
        return self._solver is not None

    def _vec(self, attr: str) -> np.ndarray:
        return np.concatenate([getattr(b, attr).ravel(order="F") for b in self.blocks.values()]) if self.blocks \
            else np.zeros(0)

    def param_values(self) -> np.ndarray:
        """The current values of all parameters, in the order of the parameter vector."""
        return np.concatenate([v.ravel(order="F") for _, v in self.params.values()]) if self.params else np.zeros(0)

    def solve_args(self, warm: Solution | None = None) -> dict[str, np.ndarray]:
        """The solver's arguments: parameter values, bounds and the (warm) start."""
        p = self.param_values()
        lbg = np.concatenate([c[2] for c in self.cons]) if self.cons else np.zeros(0)
        ubg = np.concatenate([c[3] for c in self.cons]) if self.cons else np.zeros(0)
        args = dict(x0=self._vec("x0"), p=p, lbx=self._vec("lb"), ubx=self._vec("ub"), lbg=lbg, ubg=ubg)
        if warm is not None and len(warm.x_raw) == self._nx:
            args.update(x0=warm.x_raw, lam_x0=warm.lam_x, lam_g0=warm.lam_g)
            args["x0"] = np.clip(args["x0"], args["lbx"], args["ubx"])
        return args

    def crossed_bounds(self, args: dict) -> str:
        """Which variables or constraints have a lower bound above their upper bound ("" if none)."""
        out = []
        for what, lo, hi, parts in (("variable", args["lbx"], args["ubx"],
                                     [(b.name, b.start, b.size) for b in self.blocks.values()]),
                                    ("constraint", args["lbg"], args["ubg"], self._constraint_parts())):
            bad = np.flatnonzero(np.asarray(lo) > np.asarray(hi))
            for name, start, size in parts:
                for k in bad[(bad >= start) & (bad < start + size)][:3]:
                    out.append(f"{what} {name}[{k - start}]: lower bound {lo[k]:.6g} above upper bound {hi[k]:.6g}")
        return "; ".join(out[:5]) + (f" (and {len(out) - 5} more)" if len(out) > 5 else "")

    def _constraint_parts(self) -> list[tuple[str, int, int]]:
        parts, start = [], 0
        for name, _, lo, _ in self.cons:
            parts.append((name, start, len(lo)))
            start += len(lo)
        return parts

    def solve(self, warm: Solution | None = None, solver: str = "ipopt", options: dict | None = None) -> Solution:
        if self._solver is None or solver != self._solver_kind:
            self.build(solver, options)
        args = self.solve_args(warm)
        t0 = time.perf_counter()
        crossed = self.crossed_bounds(args)
        if crossed:  # IPOPT would refuse the problem as ill-posed; name what is wrong instead
            res, solver_status, stats = None, "error: " + crossed, {}
        else:
            with watch_interrupts() as hit:
                try:
                    with quiet_stdout() if self._solver_kind != "ipopt" else contextlib.nullcontext():
                        res = self._solver(**args)
                    stats = self._solver.stats()
                    solver_status = str(stats.get("return_status", "unknown"))
                except RuntimeError as exc:  # casadi raises on evaluation errors (NaN)
                    res = None
                    solver_status = "error: " + casadi_error_text(exc)
                    stats = {}
            raise_if_interrupted(hit, solver_status, self.name)
        dt = time.perf_counter() - t0
        if res is None:
            xr = args["x0"]
            return Solution("error", solver_status, float("nan"), self._split(xr), {}, 0, dt, xr,
                            np.zeros(self._nx), np.zeros(len(args["lbg"])), solver=self._solver_kind or "")
        return self.solution(np.asarray(res["x"]).ravel(), np.asarray(res["lam_x"]).ravel(),
                             np.asarray(res["lam_g"]).ravel(), args["p"], solver_status,
                             bool(stats.get("success", True)), int(stats.get("iter_count", 0)), dt,
                             gv=np.asarray(res["g"]).ravel())

    def solution(self, xr: np.ndarray, lam_x: np.ndarray, lam_g: np.ndarray, p: np.ndarray, solver_status: str,
                 success: bool, iterations: int, time_s: float, gv: np.ndarray | None = None,
                 tv: np.ndarray | None = None) -> Solution:
        """A :class:`Solution` from the solver's raw output (kept as the last solution).

        ``gv`` (constraint values) and ``tv`` (cost terms) are evaluated at
        ``xr`` unless given.
        """
        status = STATUS.get(solver_status, "error")
        if solver_status in ("Solve_Succeeded", "SUCCESS") and not success:
            status = "error"
        if tv is None:
            tv = np.asarray(self._fns["terms"](xr, p)).ravel()
        terms = dict(zip(self.terms, map(float, tv)))
        sol = Solution(
            status=status, solver_status=solver_status, objective=float(sum(self.weight_of(k) * v for k, v in terms.items())),
            x=self._split(xr), terms=terms, iterations=iterations, time_s=time_s, x_raw=xr, lam_x=lam_x, lam_g=lam_g,
            solver=self._solver_kind or "ipopt",
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

    # ------------------------------------------------------------- templates
    def template(self, outputs: list[Any]) -> Any:
        """This builder as one casadi Function ``(x, p) -> (g, *terms, *outputs)`` (see :meth:`instantiate`)."""
        return ca.Function("template", [self._x(), self._p()], [self._g()] + list(self.terms.values()) + list(outputs))

    def instantiate(self, sub: "NlpBuilder", fn: Any) -> list[Any]:
        """Copy ``sub`` into this builder through ``fn`` (the template of ``sub``, or of a builder of the same
        structure): its variable blocks (names, bounds, starts), its parameters (a parameter this builder already
        has, such as an objective weight, is shared), its constraints and its cost terms, each written as an
        output of one call of ``fn``. Many identical areas (feeders) then share one Function, whose derivatives
        casadi forms once, instead of each adding its own expression graph. ``sub``'s constraints become one
        constraint ``<sub name>.constraints`` (their bounds in order; ``constraint_names`` of this builder
        keeps where each one lies). Returns ``fn``'s extra outputs for this instance.
        """
        xs = [ca.vec(self.variable(b.name, b.lb.shape if b.has_period_axis else b.lb.shape[0], b.lb, b.ub, b.x0,
                                   b.kind)) for b in sub.blocks.values()]
        ps = [ca.vec(self.params[name][0] if name in self.params else self.parameter(name, val))
              for name, (_, val) in sub.params.items()]
        out = fn(ca.vertcat(*xs) if xs else ca.MX(0, 1), ca.vertcat(*ps) if ps else ca.MX(0, 1))
        if sub.cons:
            name = f"{sub.name}.constraints"
            self.cons.append((name, out[0], np.concatenate([c[2] for c in sub.cons]),
                              np.concatenate([c[3] for c in sub.cons])))
            k, where = 0, self.__dict__.setdefault("constraint_names", {})
            for cname, e, _, _ in sub.cons:
                where[cname] = (name, k, k + e.shape[0])
                k += e.shape[0]
        for k, (name, weight) in enumerate(sub.weights.items()):
            self.objective_term(name, out[1 + k], weight)
        self._changed()
        return list(out[1 + len(sub.terms):])

    def evaluate(self, sol: Solution, exprs: list[Any]) -> list[np.ndarray]:
        """Values of expressions (any shape) at a solution, each as a 2-D array."""
        outs = [e if isinstance(e, ca.MX) else ca.MX(np.asarray(e, float)) for e in exprs]
        fn = ca.Function("evaluate", [self._x(), self._p()], [ca.vec(o) for o in outs])
        vals = fn(sol.x_raw, self.param_values())
        vals = [vals] if len(outs) == 1 else list(vals)
        return [np.asarray(v).reshape(o.shape, order="F") for v, o in zip(vals, outs)]

    def _split(self, xr: np.ndarray) -> dict[str, np.ndarray]:
        return {b.name: b.shaped(xr[b.start:b.start + b.size]) for b in self.blocks.values()}

    def max_violation(self, sol: Solution) -> float:
        """Largest violation of constraints and bounds at a solution."""
        worst = 0.0
        for name, _, lb, ub in self.cons:
            v = sol.g[name]
            worst = max(worst, float(np.max(np.r_[0.0, lb - v, v - ub])))
        x = sol.x_raw
        worst = max(worst, float(np.max(np.r_[0.0, self._vec("lb") - x, x - self._vec("ub")])))
        return worst


def _solver_name(name: str) -> str:
    """A name casadi accepts for a Function: a letter first, then letters, digits and single underscores."""
    import re

    clean = re.sub(r"_+", "_", "".join(c if c.isalnum() else "_" for c in name)).strip("_")
    clean = clean if clean[:1].isalpha() else f"nlp_{clean}".rstrip("_")
    return "nlp" if clean in ("", "null", "jac", "hess") else clean


class NlpBatch:
    """Independent NLPs solved together as one IPOPT problem.

    The NLPs share no variable and no constraint, so the joint problem (the
    sum of the objectives subject to every constraint) is block diagonal and
    its optimum is each NLP's own optimum. Solving them in one call pays
    IPOPT's fixed cost per solve (setting up the application, the linear
    solver's symbolic analysis) once instead of once per NLP. The joint
    problem uses :data:`IPOPT_DEFAULTS` updated with ``options``; the
    members need not be built themselves. A batch built for builders whose
    structure later changed is stale (:meth:`current`) and must be rebuilt.
    """

    def __init__(self, builders: list[NlpBuilder], name: str = "batch", options: dict | None = None) -> None:
        self.builders = list(builders)
        self._versions = [b.version for b in builders]
        self._nx = np.cumsum([0] + [b._nx for b in builders])
        self._ng = np.cumsum([0] + [sum(c[1].shape[0] for c in b.cons) for b in builders])
        self._nt = np.cumsum([0] + [len(b.terms) for b in builders])
        nlp = {"x": ca.vertcat(*[b._x() for b in builders]), "p": ca.vertcat(*[b._p() for b in builders]),
               "f": sum((b.objective_expr() for b in builders), ca.MX(0)),
               "g": ca.vertcat(*[b._g() for b in builders])}
        opts = dict(IPOPT_DEFAULTS)
        opts.update(options or {})
        self._solver = ca.nlpsol(_solver_name(name), "ipopt", nlp, opts)
        self._terms = ca.Function("terms", [nlp["x"], nlp["p"]],
                                  [ca.vertcat(*[ca.vec(t) for b in builders for t in b.terms.values()])])

    def current(self, builders: list[NlpBuilder]) -> bool:
        """Whether this batch still solves exactly these builders as they are now."""
        return len(builders) == len(self.builders) and all(
            b is o and b.version == v for b, o, v in zip(builders, self.builders, self._versions))

    def solve(self, warms: list[Solution | None]) -> tuple[list[Solution] | None, str]:
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
        with watch_interrupts() as hit:
            try:
                res = self._solver(**args)
                stats = self._solver.stats()
                status = str(stats.get("return_status", "unknown"))
            except RuntimeError as exc:
                res, status = None, "error: " + casadi_error_text(exc)
        raise_if_interrupted(hit, status, "batch")
        if res is None:
            return None, status
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


__all__ = ["ACCEPT_VIOLATION", "CasadiOps", "IPOPT_DEFAULTS", "NlpBatch", "NlpBuilder", "NlpSolution", "OK_STATUSES",
           "STATUS", "WARM_START", "quiet_stdout", "sparse_dm", "INTERRUPTED", "raise_if_interrupted",
           "watch_interrupts"]
