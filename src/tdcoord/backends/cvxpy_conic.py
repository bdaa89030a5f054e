"""cvxpy adapter for linear, conic and mixed-integer models (Clarabel, HiGHS, SCIP).

:class:`ConicBuilder` implements the model-building interface of
:mod:`tdcoord.backends.base` on cvxpy expressions, so that a formulation
written once (DC power flow, LinDistFlow, SOC-relaxed branch flow) builds
either an NLP for IPOPT or a convex / mixed-integer program:

- LP and MILP: HiGHS (default) or SCIP;
- SOCP: Clarabel (default), or SCIP;
- MISOCP: SCIP;
- special ordered sets (SOS1/SOS2): SCIP through PySCIPOpt. cvxpy has no
  SOS constraint, so the model is canonicalized by cvxpy for its SCIP
  interface (:meth:`cvxpy.Problem.get_problem_data`), the sets are added to
  the PySCIPOpt model cvxpy builds, at the columns cvxpy gave the
  variables, and the solution is unpacked by cvxpy as usual.

Which solver runs when none is named: SCIP when the model has SOS
constraints; otherwise HiGHS for LPs and MILPs (simplex: vertex-exact, with
exact duals), Clarabel for continuous programs with a quadratic objective,
cones or other convex constraints, and SCIP for mixed-integer programs with
cones or a quadratic objective. A continuous solve that ends in a solver
error (not an infeasibility) is repeated once with the other suitable
solver (HiGHS's QP solver, for one, stops with small infeasibilities on
some multi-period models that Clarabel solves); ``info["fallback"]`` says
so.

Parameters are cvxpy Parameters and variable bounds are Parameters too, so
a model whose data or bounds change (periods, fixed integer settings) is
re-solved without being rebuilt; cvxpy then reuses its canonicalization.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from tdcoord.backends.base import KINDS, Block, BuilderBase, Solution, check_shape, full
from tdcoord.backends.casadi_nlp import quiet_stdout

SOLVERS = ("CLARABEL", "HIGHS", "SCIP")

#: solver options unless the caller gives their own
SOLVER_DEFAULTS: dict[str, dict[str, Any]] = {}

STATUS = {
    "optimal": "optimal",
    "optimal_inaccurate": "acceptable",
    "infeasible": "infeasible",
    "infeasible_inaccurate": "infeasible",
    "unbounded": "unbounded",
    "unbounded_inaccurate": "unbounded",
    "infeasible_or_unbounded": "infeasible",
    "user_limit": "iteration_limit",
    "solver_error": "error",
}


class CvxpyOps:
    """:class:`tdcoord.backends.base.Ops` for cvxpy expressions."""

    @staticmethod
    def mm(a: Any, x: Any) -> Any:
        return a @ x

    @staticmethod
    def rows(a: Any, x: Any) -> Any:
        import cvxpy as cp

        return cp.multiply(np.asarray(a, float).reshape(-1, 1), x)

    @staticmethod
    def sum(x: Any) -> Any:
        import cvxpy as cp

        return cp.sum(x)

    @staticmethod
    def sum_rows(x: Any) -> Any:
        import cvxpy as cp

        return cp.sum(x, axis=0, keepdims=True)

    @staticmethod
    def sum_periods(x: Any) -> Any:
        import cvxpy as cp

        return cp.sum(x, axis=1, keepdims=True)

    @staticmethod
    def sumsq(x: Any) -> Any:
        import cvxpy as cp

        return cp.sum_squares(x)

    @staticmethod
    def square(x: Any) -> Any:
        import cvxpy as cp

        return cp.square(x)

    @staticmethod
    def sqrt(x: Any) -> Any:
        import cvxpy as cp

        return cp.sqrt(x)

    @staticmethod
    def mul(x: Any, y: Any) -> Any:
        import cvxpy as cp

        return cp.multiply(x, y)  # bilinear in two variables: cvxpy refuses it (not convex) at solve time

    @staticmethod
    def vcat(parts: list[Any]) -> Any:
        import cvxpy as cp

        return cp.vstack(parts)

    @staticmethod
    def hcat(parts: list[Any]) -> Any:
        import cvxpy as cp

        return cp.hstack(parts)

    @staticmethod
    def take(x: Any, idx: Any) -> Any:
        return x[np.atleast_1d(np.asarray(idx, int)), :]

    @staticmethod
    def period(x: Any, t: int) -> Any:
        return x[:, int(t):int(t) + 1]

    @staticmethod
    def zeros(rows: int, periods: int = 1) -> Any:
        return np.zeros((rows, periods))


def _flat(expr: Any) -> Any:
    import cvxpy as cp

    return cp.vec(expr, order="F") if expr.ndim == 2 else (cp.reshape(expr, (1,), order="F") if expr.ndim == 0 else expr)


class ConicBuilder(BuilderBase):
    """Named blocks of a convex or mixed-integer program (cvxpy)."""

    backend = "conic"
    ops = CvxpyOps()

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self.blocks: dict[str, Block] = {}
        self.params: dict[str, Any] = {}
        # name -> (cvxpy constraints, the flat expression they bound, how each constraint maps onto its rows)
        self.cons: list[tuple[str, list[Any], Any, list[tuple[np.ndarray, float]]]] = []
        self.terms: dict[str, Any] = {}
        self.weights: dict[str, Any] = {}
        self.sos: list[tuple[int, str, np.ndarray | None]] = []
        self.version = 0
        self._has_cone = False
        self._twins: dict[str, Any] = {}
        self._fixed: dict[str, Any] = {}
        self._problems: dict[str, tuple[tuple, Any, dict]] = {}
        self._bound_params: dict[str, tuple[Any, Any, np.ndarray, np.ndarray]] = {}
        self._nx = 0
        self._scip_status: str | None = None  # SCIP's own status of the last SCIP solve

    def _changed(self) -> None:
        self.version += 1
        self._problems = {}

    # ----------------------------------------------------------------- model
    def variable(self, name: str, shape: int | tuple[int, int], lb: Any = -np.inf, ub: Any = np.inf,
                 start: Any = 0.0, kind: str = "continuous") -> Any:
        import cvxpy as cp

        if name in self.blocks:
            raise ValueError(f"variable block {name!r} defined twice")
        if kind not in KINDS:
            raise ValueError(f"variable block {name!r}: kind must be one of {KINDS}, got {kind!r}")
        rows, periods, axis = check_shape(name, shape)
        var = cp.Variable((rows, periods), name=name)
        if kind != "continuous":
            # integrality is layered on: the model uses the continuous ``var``; the mixed-integer problem adds
            # ``var == twin`` with an integer twin, the polishing problem ``var == fixed value`` (see ``solve``)
            self._twins[name] = cp.Variable((rows, periods), name=f"{name}_{kind}", integer=kind == "integer",
                                            boolean=kind == "binary")
        lo, hi = full(lb, rows, periods), full(ub, rows, periods)
        if kind == "binary":
            lo, hi = np.maximum(lo, 0.0), np.minimum(hi, 1.0)
        self.blocks[name] = Block(name, var, lo, hi, full(start, rows, periods), self._nx, kind, axis)
        self._nx += rows * periods
        self._changed()
        return var

    def parameter(self, name: str, value: Any, nonneg: bool = False) -> Any:
        """A parameter; ``nonneg`` tells cvxpy its sign (a weight of a convex term must be known nonnegative)."""
        import cvxpy as cp

        if name in self.params:
            raise ValueError(f"parameter {name!r} defined twice")
        v = np.asarray(value, float)
        shape = v.shape if v.ndim == 2 else (int(np.atleast_1d(v).size), 1)
        p = cp.Parameter(shape, name=name.replace(".", "_"), nonneg=nonneg)
        p.value = v.reshape(shape) if v.ndim == 2 else np.atleast_1d(v).reshape(shape)
        self.params[name] = p
        self._changed()
        return p

    def set_parameter(self, name: str, value: Any) -> None:
        p = self.params[name]
        v = np.asarray(value, float)
        if v.ndim == 1 and p.shape[1] == 1:
            v = v[:, None]
        p.value = np.broadcast_to(v, p.shape).astype(float).copy()

    def constraint_eq(self, name: str, expr: Any, rhs: Any = 0.0) -> None:
        shape = expr.shape if len(expr.shape) == 2 else (int(np.prod(expr.shape) or 1), 1)
        r = full(rhs, *shape).ravel(order="F")
        e = _flat(expr)
        self.cons.append((name, [e == r], e, [(np.arange(len(r)), 1.0)]))
        self._changed()

    def constraint_ineq(self, name: str, expr: Any, lb: Any = -np.inf, ub: Any = np.inf) -> None:
        shape = expr.shape if len(expr.shape) == 2 else (int(np.prod(expr.shape) or 1), 1)
        lo, hi = full(lb, *shape).ravel(order="F"), full(ub, *shape).ravel(order="F")
        e = _flat(expr)
        out, rows = [], []
        for bound, side in ((lo, "lb"), (hi, "ub")):
            fin = np.flatnonzero(np.isfinite(bound))
            if not len(fin):
                continue
            part = e if len(fin) == len(bound) else e[fin]
            out.append(part >= bound[fin] if side == "lb" else part <= bound[fin])
            rows.append((fin, -1.0 if side == "lb" else 1.0))
        self.cons.append((name, out, e, rows))
        if not (expr.is_affine() if hasattr(expr, "is_affine") else True):
            self._has_cone = True
        self._changed()

    def constraint_cone(self, name: str, xs: list[Any], y: Any, z: Any) -> None:
        """``sum_i xs[i]^2 <= y z`` elementwise, as ``||(2 xs, y - z)|| <= y + z`` (y, z >= 0 implied)."""
        import cvxpy as cp

        t = _flat(y + z)
        stack = cp.vstack([cp.reshape(2 * _flat(x), (1, t.shape[0]), order="F") for x in xs]
                          + [cp.reshape(_flat(y - z), (1, t.shape[0]), order="F")])
        self.cons.append((name, [cp.SOC(t, stack, axis=0)], None, []))
        self._has_cone = True
        self._changed()

    def constraint_sos1(self, name: str, x: Any, weights: Any = None) -> None:
        """Each column of the variable block ``x`` is an SOS1 set: at most one nonzero."""
        self._sos(1, name, x, weights)

    def constraint_sos2(self, name: str, x: Any, weights: Any = None) -> None:
        """Each column of the variable block ``x`` is an SOS2 set: at most two nonzeros, adjacent."""
        self._sos(2, name, x, weights)

    def _sos(self, kind: int, name: str, x: Any, weights: Any) -> None:
        block = next((b for b in self.blocks.values() if b.sym is x), None)
        if block is None:
            raise ValueError(f"SOS{kind} {name!r}: the set must be a variable block of this model")
        self.sos.append((kind, block.name, None if weights is None else np.asarray(weights, float)))
        self._changed()

    def parameter_value(self, name: str) -> np.ndarray:
        return np.asarray(self.params[name].value, float)

    # ----------------------------------------------------------------- solve
    def _objective(self) -> Any:
        import cvxpy as cp

        f = 0
        for k, e in self.terms.items():
            w = self.weights[k]
            f = f + (self.params[w] if isinstance(w, str) else w) * e
        return cp.Minimize(f)

    def _bounds_key(self) -> tuple:
        return tuple((n, np.isfinite(b.lb).tobytes(), np.isfinite(b.ub).tobytes()) for n, b in self.blocks.items())

    def _build(self, mode: str = "relaxed") -> Any:
        """The cvxpy Problem of ``mode``: ``relaxed`` (integrality dropped), ``mi`` (integer twins) or ``fixed``
        (integer blocks held at the values of the ``fixed`` parameters). Rebuilt only when the structure or the
        finite pattern of the bounds changed, so that cvxpy reuses its canonicalization across re-solves."""
        import cvxpy as cp

        key = (self.version, self._bounds_key())
        cached = self._problems.get(mode)
        if cached is not None and cached[0] == key:
            self._bound_params = cached[2]  # each mode's problem has its own bound parameters
            return cached[1]
        cons: list[Any] = []
        self._bound_params = {}
        for name, b in self.blocks.items():
            flat = _flat(b.sym)
            lo, hi = b.lb.ravel(order="F"), b.ub.ravel(order="F")
            ilo, ihi = np.flatnonzero(np.isfinite(lo)), np.flatnonzero(np.isfinite(hi))
            plo = cp.Parameter(len(ilo)) if len(ilo) else None
            phi = cp.Parameter(len(ihi)) if len(ihi) else None
            if plo is not None:
                cons.append((flat if len(ilo) == len(lo) else flat[ilo]) >= plo)
            if phi is not None:
                cons.append((flat if len(ihi) == len(hi) else flat[ihi]) <= phi)
            self._bound_params[name] = (plo, phi, ilo, ihi)
        for _, cs, _, _ in self.cons:
            cons.extend(cs)
        for name, twin in self._twins.items():
            if mode == "mi":
                cons.append(self.blocks[name].sym == twin)
            elif mode == "fixed":
                fixed = self._fixed.get(name)
                if fixed is None or fixed.shape != twin.shape:
                    fixed = self._fixed[name] = cp.Parameter(twin.shape)
                cons.append(self.blocks[name].sym == fixed)
        problem = cp.Problem(self._objective(), cons)
        self._problems[mode] = (key, problem, self._bound_params)
        return problem

    def _load_bounds(self) -> None:
        for name, (plo, phi, ilo, ihi) in self._bound_params.items():
            b = self.blocks[name]
            if plo is not None:
                plo.value = b.lb.ravel(order="F")[ilo]
            if phi is not None:
                phi.value = b.ub.ravel(order="F")[ihi]

    @property
    def mixed_integer(self) -> bool:
        return any(b.discrete for b in self.blocks.values())

    def _quadratic(self) -> bool:
        return any(not e.is_affine() for e in self.terms.values() if hasattr(e, "is_affine"))

    def default_solver(self, relax: bool = False) -> str:
        if self.sos and not relax:
            return "SCIP"
        if self.mixed_integer and not relax:
            return "SCIP" if (self._has_cone or self._quadratic()) else "HIGHS"
        return "CLARABEL" if (self._has_cone or self._quadratic()) else "HIGHS"

    def fallback_solver(self, solver: str, mixed: bool) -> str | None:
        """The solver tried next when ``solver`` fails with an error (not an infeasibility)."""
        if mixed:
            return None
        if solver == "HIGHS":
            return "CLARABEL"
        if solver == "CLARABEL":
            return "SCIP" if self._has_cone else "HIGHS"
        return None

    def solve(self, solver: str | None = None, options: dict | None = None, warm: Any = None, *,
              relax: bool = False, polish: bool = True) -> Solution:
        """Solve with ``solver`` (``CLARABEL``, ``HIGHS`` or ``SCIP``; default: see the module docstring).

        ``relax=True`` drops integrality and SOS sets (the continuous
        relaxation). A mixed-integer model without SOS sets is then
        polished: its integer blocks are held at the branch and bound's
        values and the continuous rest is solved again by Clarabel (with
        cones) or HiGHS, whose interior-point or active-set accuracy the
        branch and bound's feasibility tolerance (SCIP: 1e-6) does not have,
        and which gives the multipliers of the constraints at the fixed
        integers. ``info`` says what ran: ``polished_by``, and the
        branch and bound's own objective as ``mi_objective``.
        """
        mixed = (self.mixed_integer or bool(self.sos)) and not relax
        # SCIP takes ``warm`` (a Solution, or block name -> values) as a partial start solution; the others none
        start = (dict(warm.x) if hasattr(warm, "x") else dict(warm)) if warm is not None else None
        solver = (solver or self.default_solver(relax)).upper()
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
        if self.sos and mixed and solver != "SCIP":
            raise ValueError(f"model {self.name!r} has special ordered sets: only SCIP solves it, not {solver}")
        if self.mixed_integer and mixed and solver == "CLARABEL":
            raise ValueError(f"model {self.name!r} has integer variables: Clarabel solves only its relaxation "
                             f"(relax=True); use SCIP or HiGHS")
        first = self._solve_mode("mi" if mixed else "relaxed", solver, options, start=start)
        other = self.fallback_solver(solver, mixed)
        if first.status == "error" and other is not None:
            retry = self._solve_mode("relaxed", other, None)
            retry.info["fallback"] = f"{solver}: {first.solver_status}; solved by {other}"
            return retry
        if not (mixed and polish and first.ok and not self.sos and self._twins):
            return first
        for name, twin in self._twins.items():
            self._fixed_value(name, np.round(np.asarray(first.x[name], float).reshape(twin.shape, order="F")))
        second = self._solve_mode("fixed", self.default_solver(relax=True), None)
        other = self.fallback_solver(second.solver, False)
        if second.status == "error" and other is not None:
            second = self._solve_mode("fixed", other, None)
        if not second.ok:
            first.info["polish"] = f"{second.solver} at the fixed integers: {second.solver_status}"
            return first
        second.info.update({k: v for k, v in first.info.items() if k not in second.info})
        second.info.update(mi_objective=first.objective, polished_by=second.solver)
        second.solver, second.solver_status = first.solver, first.solver_status
        second.iterations += first.iterations
        second.time_s += first.time_s
        return second

    def _fixed_value(self, name: str, value: np.ndarray) -> None:
        import cvxpy as cp

        p = self._fixed.get(name)
        if p is None or p.shape != value.shape:
            p = self._fixed[name] = cp.Parameter(value.shape)
            self._problems.pop("fixed", None)
        p.value = value

    def _solve_mode(self, mode: str, solver: str, options: dict | None,
                    start: dict[str, np.ndarray] | None = None) -> Solution:
        import cvxpy as cp

        prob = self._build(mode)
        self._load_bounds()
        opts = dict(SOLVER_DEFAULTS.get(solver, {}))
        opts.update(options or {})
        self._scip_status = None
        t0 = time.perf_counter()
        try:
            with quiet_stdout(), warnings.catch_warnings():
                # cvxpy's bound propagation takes sqrt of an unbounded-below interval: harmless noise
                warnings.filterwarnings("ignore", message="invalid value encountered", category=RuntimeWarning)
                # SCIP stopped by its gap or time limit: cvxpy calls the answer inaccurate; the gap says how good
                warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
                # parameters are substituted as constants (ignore_dpp): cvxpy's parametrized (DPP) compilation
                # costs far more than it saves here (benchmarks/README.md, model layer)
                if solver == "SCIP":  # cvxpy's canonicalization, tdcoord's SCIP model (backends/scip_model.py)
                    self._solve_scip(prob, opts, mixed=mode == "mi", start=start if mode == "mi" else None)
                else:
                    prob.solve(solver=getattr(cp, solver), ignore_dpp=True, **opts)
            solver_status = str(prob.status)
        except cp.error.SolverError as exc:
            scip = self._scip_status if solver == "SCIP" else None
            solver_status = (f"solver_error: SCIP stopped ({scip}) without a feasible solution"
                             if scip not in (None, "optimal") else f"solver_error: {exc}")
        except cp.error.DCPError as exc:
            raise ValueError(f"model {self.name!r} is not convex as written (cvxpy: {exc}); "
                             f"solve it with the NLP backend") from exc
        dt = time.perf_counter() - t0
        status = STATUS.get(solver_status.split(":")[0], "error")
        sol = Solution(status=status, solver_status=solver_status, objective=float("nan"), x={}, terms={},
                       iterations=0, time_s=dt, solver=solver)
        stats = getattr(prob, "solver_stats", None)
        if stats is not None and stats.num_iters is not None:
            sol.iterations = int(stats.num_iters)
        model = (getattr(stats, "extra_stats", None) or {}).get("model") if solver == "SCIP" else None
        if model is not None and mode == "mi":
            # the branch and bound's own figures: its relative gap, and a limit (time, gap) with a solution in hand
            # is an answer (the gap says how good), not a failure
            try:
                sol.info["mip_gap"] = float(model.getGap())
                sol.info["scip_status"] = str(model.getStatus())
                sol.info["nodes"] = int(model.getNNodes())
                sol.info["scip_solving_s"] = float(model.getSolvingTime())
                sol.info["scip_presolving_s"] = float(model.getPresolvingTime())
                if status != "optimal" and model.getNSols() > 0 and str(model.getStatus()) in (
                        "timelimit", "gaplimit", "nodelimit", "sollimit", "userinterrupt"):
                    status = sol.status = "acceptable"
            except Exception:  # noqa: BLE001 (a freed model: the figures are extras)
                pass
        if status in ("optimal", "acceptable"):
            for name, b in self.blocks.items():
                v = b.sym.value
                sol.x[name] = b.shaped(np.asarray(v, float).ravel(order="F")) if v is not None else \
                    b.shaped(np.full(b.size, np.nan))
            for k, e in self.terms.items():
                v = e.value if hasattr(e, "value") else e
                sol.terms[k] = float(np.asarray(v, float).sum()) if v is not None else float("nan")
            sol.objective = float(sum(self.weight_of(k) * v for k, v in sol.terms.items()))
            for name, cs, expr, rows in self.cons:
                if expr is None:
                    continue
                value = np.atleast_1d(np.asarray(expr.value, float)).ravel()
                sol.g[name] = value
                duals = [c.dual_value for c in cs]
                if all(d is not None for d in duals):
                    # the NLP convention: positive where an upper bound binds, negative at a lower one
                    lam = np.zeros(len(value))
                    for (idx, sign), d in zip(rows, duals):
                        lam[idx] += sign * np.atleast_1d(np.asarray(d, float)).ravel()
                    sol.lam[name] = lam
        return sol

    def evaluate(self, sol: Solution, exprs: list[Any]) -> list[np.ndarray]:
        """Values of expressions at a solution's variable values, each as a 2-D array."""
        for name, blk in self.blocks.items():
            blk.sym.value = np.asarray(sol.x[name], float).reshape(blk.lb.shape, order="F")
        out = []
        for e in exprs:
            v = np.asarray(e.value if hasattr(e, "value") else e, float)
            out.append(v.reshape(v.shape[0], -1) if v.ndim else v.reshape(1, 1))
        return out

    def _solve_scip(self, prob: Any, opts: dict, mixed: bool = True, start: dict[str, np.ndarray] | None = None) -> None:
        """Canonicalize for SCIP, add the SOS sets at their columns (``mixed``: the mixed-integer problem) and
        ``start`` (block name -> values) as a partial solution that SCIP completes and keeps if feasible, solve,
        and unpack (cvxpy's own steps; the model itself is built by :mod:`tdcoord.backends.scip_model`)."""
        from tdcoord.backends.scip_model import scip_solver_class

        solver = scip_solver_class()([])
        data, chain, inverse = prob.get_problem_data(solver=solver, ignore_dpp=True)
        offsets = next(i.var_offsets for i in reversed(inverse) if hasattr(i, "var_offsets"))
        sets = []
        for kind, bname, weights in (self.sos if mixed else []):
            b = self.blocks[bname]
            rows, periods = b.lb.shape
            base = offsets[b.sym.id]
            for t in range(periods):
                cols = [base + t * rows + i for i in range(rows)]  # cvxpy stacks variables column-major
                w = list(weights) if weights is not None else [float(i + 1) for i in range(rows)]
                sets.append((kind, cols, w))
        solver.sets = sets
        for name, value in (start or {}).items():
            blk = self.blocks.get(name)
            if blk is None:
                continue
            v = np.asarray(value, float).reshape(blk.lb.shape, order="F").ravel(order="F")
            for sym in (blk.sym, self._twins.get(name)):
                if sym is not None and sym.id in offsets:
                    base = offsets[sym.id]
                    solver.start.update({base + i: x for i, x in enumerate(v) if np.isfinite(x)})
        raw = chain.solve_via_data(prob, data, False, False, opts)
        self._scip_status = solver.scip_status
        prob.unpack_results(raw, chain, inverse)


__all__ = ["ConicBuilder", "CvxpyOps", "SOLVERS", "STATUS"]
