"""What every device kind provides to an optimization model.

A :class:`DeviceSet` holds the in-service units of one kind in one network
as arrays (bus positions, per-unit limits, costs, response times; limits
that follow a time series are (units x periods) arrays). Each device module
has the same three functions:

- ``device_sets(net, cn, periods)``: its rows as DeviceSets;
- ``build_<kind>(b, form, ds, prefix, opts)``: in one place, what the kind
  contributes to a model on formulation ``form``: its variables, its
  constraints (capability, inter-temporal limits) and its objective terms,
  returned as :class:`DeviceVars` (the bus injections the formulation's
  balance takes, the cost expressions the problem weighs);
- a docstring table of what it contributes per formulation family.

Reactive dispatch cost is quadratic, ``c * Q^2`` with Q in Mvar and c in
$/Mvar^2h, so that the objective stays smooth; the defaults per kind are
listed in :data:`DEFAULTS` and used where a row leaves
``q_cost``/``response_ms`` empty.

Reactive reserve of a unit is its remaining upward capability
``q_max - q`` (Mvar), the direction that supports voltage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

# kind: (q_cost $/Mvar^2h, response time ms). Response times follow seed 000
# (section 5.6 / Table 3): synchronous condenser 80 ms, STATCOM 20 ms,
# SVG 30 ms, inverter 50 ms, capacitor bank 100 ms. Generators respond
# through their excitation systems (500 ms assumed); an SVC (thyristor
# switched) 40 ms. Costs are tdcoord's choice: cheapest for power
# electronics that are already installed, dearer for rotating machines
# whose reactive output costs losses and capability.
DEFAULTS: dict[str, tuple[float, float]] = {
    "thermal": (0.004, 500.0),
    "hydro": (0.004, 500.0),
    "condenser": (0.002, 80.0),
    "statcom": (0.001, 20.0),
    "svg": (0.001, 30.0),
    "svc": (0.0015, 40.0),
    "wind": (0.0005, 50.0),
    "pv": (0.0005, 50.0),
    "dg": (0.0005, 50.0),
    "capacitor": (0.0002, 100.0),
    "ext_grid": (0.0, float("inf")),
}


def defaults_for(kinds: np.ndarray, given_cost: np.ndarray, given_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cost = np.array([DEFAULTS[k][0] for k in kinds], dtype=float)
    ms = np.array([DEFAULTS[k][1] for k in kinds], dtype=float)
    cost = np.where(np.isnan(given_cost), cost, given_cost)
    ms = np.where(np.isnan(given_ms), ms, given_ms)
    return cost, ms


@dataclass
class DeviceSet:
    kind: str  # module kind: generator, inverter, svc, capacitor, ext_grid
    table: str
    index: np.ndarray  # element index in its table
    bus: np.ndarray  # bus positions in the compiled network
    subtype: np.ndarray  # thermal/condenser/wind/pv/dg/svg/statcom/svc/capacitor
    q0: np.ndarray  # initial (pre-optimization) reactive injection, p.u.
    q_min: np.ndarray  # p.u.
    q_max: np.ndarray  # p.u.
    cost: np.ndarray  # $/Mvar^2h
    response_ms: np.ndarray
    base_mva: float
    p: np.ndarray = field(default_factory=lambda: np.zeros(0))  # fixed active injection, p.u.
    p_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p_max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p_free: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # slack machines
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.index)

    def incidence(self, n_bus: int) -> sp.csr_matrix:
        n = len(self.index)
        return sp.csr_matrix((np.ones(n), (self.bus, np.arange(n))), shape=(n_bus, n))

    def names(self) -> list[str]:
        return [f"{self.table} {i}" for i in self.index]


@dataclass
class DeviceVars:
    """What one DeviceSet put into a model: set-points, bus injections, cost terms.

    ``p``/``q`` are unit x period expressions (p.u.; ``None`` where the
    formulation has no such quantity), ``p_bus``/``q_bus`` the same summed
    per bus (bus x period), ``costs`` named objective terms in $/h
    (``q_cost``, ``gen_cost``, ...), ``other`` further expressions by name
    (a capacitor bank's ``step``, a battery's ``soc_mwh``).
    """

    ds: DeviceSet
    q: Any
    p: Any
    p_bus: Any
    q_bus: Any
    other: dict[str, Any] = field(default_factory=dict)
    costs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeviceOptions:
    """How devices are modelled in one problem.

    ``free_p``: every machine's active power is a decision (an OPF; else
    only slack machines'). ``steps``: capacitor steps ``continuous``
    (relaxed), ``integer`` (branch and bound: bonmin on the NLP backend,
    SCIP/HiGHS on the conic one). ``storage_binaries``: charge/discharge
    exclusivity by binaries (default: where the backend has integers).
    ``dt_h``: length of a period, hours.
    """

    free_p: bool = False
    steps: str = "continuous"
    storage_binaries: bool | None = None
    dt_h: float = 1.0


def injection(b: Any, ds: DeviceSet, n_bus: int, x: Any) -> Any:
    """Per-bus sum of a unit x period expression."""
    return b.ops.mm(ds.incidence(n_bus), x)


def columns(a: np.ndarray, periods: int) -> np.ndarray:
    """A unit array as (units x periods): 1-D repeated, 2-D as it is."""
    a = np.asarray(a, float)
    return np.repeat(a.reshape(-1, 1), periods, axis=1) if a.ndim == 1 else a


def q_cost(b: Any, ds: DeviceSet, q: Any) -> Any:
    """sum c Q^2 ($/h, Q in Mvar) over units with a cost, or ``None``."""
    if q is None or not np.any(ds.cost > 0):
        return None
    return b.ops.sum(b.ops.rows(ds.cost * ds.base_mva**2, b.ops.square(q)))


def ramp_limits(b: Any, name: str, x: Any, limit: np.ndarray) -> None:
    """``|x_t - x_{t-1}| <= limit`` between consecutive periods (rows with a finite limit)."""
    rows = np.flatnonzero(np.isfinite(limit))
    periods = x.shape[1]
    if not len(rows) or periods < 2:
        return
    xs = b.ops.take(x, rows)
    step = xs[:, 1:] - xs[:, :-1]
    lim = np.repeat(limit[rows].reshape(-1, 1), periods - 1, axis=1)
    b.constraint_ineq(name, step, -lim, lim)


def changes(b: Any, x: Any, initial: Any) -> Any:
    """``x_t - x_{t-1}`` per period, the first period against ``initial`` (a constant or a parameter)."""
    first = b.ops.period(x, 0) - _column(initial)
    return b.ops.hcat([first, x[:, 1:] - x[:, :-1]]) if x.shape[1] > 1 else first


def moves(b: Any, name: str, x: Any, initial: np.ndarray) -> tuple[Any, Any]:
    """``(change, m)``: the changes ``x_t - x_{t-1}`` (``x_{-1}`` = ``initial``) and variables ``m >= |change|``.

    At an optimum that prices or limits ``m``, ``m`` is the number of steps moved in each period.
    """
    change = changes(b, x, initial)
    m = b.variable(f"{name}_moves", (x.shape[0], x.shape[1]), 0.0, np.inf, 0.0)
    b.constraint_ineq(f"{name}_up", m - change, 0.0, np.inf)
    b.constraint_ineq(f"{name}_down", m + change, 0.0, np.inf)
    return change, m


def _column(a: Any) -> Any:
    """A constant as a column; a model expression (a parameter) as it is."""
    return np.asarray(a, float).reshape(-1, 1) if isinstance(a, (np.ndarray, list, tuple, float, int)) else a


def step_change_limits(b: Any, name: str, x: Any, initial: Any, limit: np.ndarray, *,
                       parametric: bool = False) -> None:
    """``|x_t - x_{t-1}| <= limit`` in every period, the first against ``initial`` (rows with a finite limit).

    With ``parametric`` the limits are a parameter ``<name>.limit`` (rows with a finite limit x periods), so that a
    re-solve can tighten them (``initial`` may be a parameter as well, all rows)."""
    rows = np.flatnonzero(np.isfinite(limit))
    if not len(rows):
        return
    xs = b.ops.take(x, rows)
    periods = xs.shape[1]
    init = _column(initial)
    change = changes(b, xs, init[rows] if isinstance(init, np.ndarray) else b.ops.take(init, rows))
    lim = np.repeat(limit[rows].reshape(-1, 1), periods, axis=1)
    if parametric:
        p = b.parameter(f"{name}.limit", lim)
        b.constraint_ineq(f"{name}_up", change - p, -np.inf, 0.0)
        b.constraint_ineq(f"{name}_down", change + p, 0.0, np.inf)
    else:
        b.constraint_ineq(name, change, -lim, lim)


def switching_limits(b: Any, name: str, x: Any, initial: np.ndarray, limit: np.ndarray) -> None:
    """``sum_t |x_t - x_{t-1}| <= limit`` over the horizon (``x_{-1}`` = ``initial``), rows with a finite limit.

    The moves are variables ``m >= +-(x_t - x_{t-1})``; the limit bounds
    their sum, so each step changed counts once per period.
    """
    rows = np.flatnonzero(np.isfinite(limit))
    if not len(rows):
        return
    _, m = moves(b, name, b.ops.take(x, rows), np.asarray(initial, float)[rows])
    b.constraint_ineq(name, b.ops.sum_periods(m), -np.inf, limit[rows].reshape(-1, 1))
