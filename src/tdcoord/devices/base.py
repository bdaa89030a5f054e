"""What every device kind provides to an optimization model.

A :class:`DeviceSet` holds the in-service units of one kind in one network
as arrays (bus positions, per-unit limits, costs, response times). A device
module turns its rows into a DeviceSet (``collect``), declares its variables
and constraints in a model (``declare``), and reports what it did
(``report``). Reactive dispatch cost is quadratic, ``c * Q^2`` with Q in
Mvar and c in $/Mvar^2h, so that the objective stays smooth; the defaults
per kind are listed in :data:`DEFAULTS` and used where a row leaves
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
    """Variables of one DeviceSet in a model, and their bus injections."""

    ds: DeviceSet
    q: Any
    p: Any
    p_bus: Any
    q_bus: Any
    other: dict[str, Any] = field(default_factory=dict)
