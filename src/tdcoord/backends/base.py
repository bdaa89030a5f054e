"""What every model builder offers, whichever modelling layer is behind it.

A model is built from named pieces, the same on every backend:

- ``variable(name, shape, lb, ub, start, kind)``: a block of variables;
  ``shape`` is ``n`` (one period: values come back as 1-D arrays) or
  ``(n, T)`` (a row per element, a column per period); ``kind`` is
  ``"continuous"``, ``"integer"`` or ``"binary"``;
- ``parameter(name, value)``: data that may change between solves
  (``set_parameter``) without rebuilding the model;
- ``constraint_eq(name, expr, rhs)``, ``constraint_ineq(name, expr, lb, ub)``;
- ``constraint_cone(name, xs, y, z)``: rotated second-order cones
  ``sum_i xs[i]^2 <= y z`` elementwise (y, z >= 0 implied);
- ``constraint_sos1(name, x)`` / ``constraint_sos2(name, x)``: each column
  of ``x`` is a special ordered set (backends that support them);
- ``objective_term(name, expr, weight)``: the objective is the weighted sum
  of named terms (a weight is a number or the name of a parameter);
- ``solve(...)`` returns a :class:`Solution`.

Expressions are the backend's own (casadi MX, cvxpy expressions); the few
operations a formulation needs that the two spell differently are the
builder's ``ops`` (:class:`Ops`): sparse matrix products, row scaling,
sums, squares. That is the whole adapter: no modelling language of our own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

OK_STATUSES = ("optimal", "acceptable")
KINDS = ("continuous", "integer", "binary")


def check_shape(name: str, shape: int | tuple[int, int]) -> tuple[int, int, bool]:
    """``(rows, periods, has_period_axis)`` of a block's declared shape."""
    if isinstance(shape, (int, np.integer)):
        return int(shape), 1, False
    rows, periods = (int(s) for s in shape)
    if periods < 1:
        raise ValueError(f"variable {name!r}: a multi-period block needs at least one period, got {periods}")
    return rows, periods, True


def full(value: Any, rows: int, periods: int) -> np.ndarray:
    """``value`` broadcast to a (rows, periods) float array (a 1-D value runs along the rows)."""
    a = np.asarray(value, float)
    if a.ndim == 1 and a.shape[0] == rows:
        a = a[:, None]
    return np.broadcast_to(a, (rows, periods)).astype(float).copy()


@dataclass
class Block:
    """A named block of variables: bounds and start values as (rows, periods) arrays."""

    name: str
    sym: Any
    lb: np.ndarray
    ub: np.ndarray
    x0: np.ndarray
    start: int  # offset in the backend's flat variable vector (column-major)
    kind: str = "continuous"
    has_period_axis: bool = False

    @property
    def size(self) -> int:
        return int(self.lb.size)

    @property
    def discrete(self) -> bool:
        return self.kind != "continuous"

    def shaped(self, flat: np.ndarray) -> np.ndarray:
        """Values in the block's declared shape from its column-major flat slice."""
        rows, periods = self.lb.shape
        out = np.asarray(flat, float).reshape((rows, periods), order="F")
        return out if self.has_period_axis else out[:, 0]


@dataclass
class Solution:
    """A solve's outcome on any backend.

    ``status`` is normalized (``optimal``, ``acceptable``, ``infeasible``,
    ``unbounded``, ``iteration_limit``, ``error``, ...), ``solver_status``
    is the solver's own word. ``x`` holds every variable block in its
    declared shape, ``terms`` every objective term (unweighted), ``g`` and
    ``lam`` the named constraints' values and multipliers where the backend
    gives them. The NLP backend also keeps its raw vectors (``x_raw``,
    ``lam_x``, ``lam_g``) for warm starts.
    """

    status: str
    solver_status: str
    objective: float
    x: dict[str, np.ndarray]
    terms: dict[str, float]
    iterations: int
    time_s: float
    x_raw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lam_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lam_g: np.ndarray = field(default_factory=lambda: np.zeros(0))
    g: dict[str, np.ndarray] = field(default_factory=dict)
    lam: dict[str, np.ndarray] = field(default_factory=dict)
    solver: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


class Ops(Protocol):
    """The operations formulations use that the backends spell differently."""

    def mm(self, a: Any, x: Any) -> Any:
        """Product of a (scipy sparse or dense) constant matrix and an expression."""

    def rows(self, a: Any, x: Any) -> Any:
        """Each row i of ``x`` times ``a[i]`` (``a`` a 1-D constant array)."""

    def sum(self, x: Any) -> Any:
        """Sum of every entry."""

    def sum_rows(self, x: Any) -> Any:
        """Column sums: one value per period (a 1 x T expression)."""

    def sum_periods(self, x: Any) -> Any:
        """Row sums: one value per element over all periods (an n x 1 expression)."""

    def sumsq(self, x: Any) -> Any:
        """Sum of squares of every entry (convex)."""

    def square(self, x: Any) -> Any:
        """Elementwise square (convex)."""

    def sqrt(self, x: Any) -> Any:
        """Elementwise square root (concave)."""

    def mul(self, x: Any, y: Any) -> Any:
        """Elementwise product of two expressions (bilinear: NLP only)."""

    def vcat(self, parts: list[Any]) -> Any:
        """Parts stacked on top of each other."""

    def hcat(self, parts: list[Any]) -> Any:
        """Parts side by side (periods)."""

    def take(self, x: Any, idx: Any) -> Any:
        """Rows ``idx`` of ``x`` (every period)."""

    def period(self, x: Any, t: int) -> Any:
        """Column ``t`` of ``x``."""

    def zeros(self, rows: int, periods: int) -> Any:
        """A constant zero expression."""


class BuilderBase:
    """What both builders do the same way: bounds, starts, weights of objective terms."""

    blocks: dict[str, Block]
    terms: dict[str, Any]
    weights: dict[str, Any]
    params: dict[str, Any]

    def _changed(self) -> None:
        raise NotImplementedError

    def parameter_value(self, name: str) -> np.ndarray:
        raise NotImplementedError

    def _term(self, expr: Any) -> Any:
        """An objective term as the backend stores it."""
        return expr

    def objective_term(self, name: str, expr: Any, weight: float | str = 1.0) -> None:
        """A named objective term; the objective is the weighted sum of terms.

        ``weight`` is a number or the name of a parameter (changeable
        between solves without rebuilding).
        """
        if isinstance(weight, str) and weight not in self.params:
            raise ValueError(f"weight parameter {weight!r} is not defined")
        self.terms[name] = self._term(expr)
        self.weights[name] = weight
        self._changed()

    def weight_of(self, term: str) -> float:
        w = self.weights[term]
        return float(self.parameter_value(w).ravel()[0]) if isinstance(w, str) else float(w)

    def weighted_objective(self, sol: Solution, skip: tuple[str, ...] = ()) -> float:
        """Sum of weighted terms at a solution, leaving out terms starting with ``skip``."""
        return float(sum(self.weight_of(k) * v for k, v in sol.terms.items() if not k.startswith(skip)))

    def set_bounds(self, name: str, lb: Any = None, ub: Any = None) -> None:
        b = self.blocks[name]
        if lb is not None:
            b.lb[:] = full(lb, *b.lb.shape)
        if ub is not None:
            b.ub[:] = full(ub, *b.ub.shape)

    def set_start(self, name: str, x0: Any) -> None:
        b = self.blocks[name]
        b.x0[:] = full(x0, *b.x0.shape)


class Builder(Protocol):
    """The model-building interface both backends implement."""

    backend: str
    ops: Ops
    blocks: dict[str, Block]

    def variable(self, name: str, shape: int | tuple[int, int], lb: Any = -np.inf, ub: Any = np.inf,
                 start: Any = 0.0, kind: str = "continuous") -> Any: ...

    def parameter(self, name: str, value: Any, nonneg: bool = False) -> Any: ...

    def set_parameter(self, name: str, value: Any) -> None: ...

    def constraint_eq(self, name: str, expr: Any, rhs: Any = 0.0) -> None: ...

    def constraint_ineq(self, name: str, expr: Any, lb: Any = -np.inf, ub: Any = np.inf) -> None: ...

    def constraint_cone(self, name: str, xs: list[Any], y: Any, z: Any) -> None: ...

    def objective_term(self, name: str, expr: Any, weight: float | str = 1.0) -> None: ...

    def set_bounds(self, name: str, lb: Any = None, ub: Any = None) -> None: ...

    def solve(self, **kwargs: Any) -> Solution: ...


__all__ = ["Block", "Builder", "BuilderBase", "KINDS", "OK_STATUSES", "Ops", "Solution", "check_shape", "full"]
