"""Many feeders under one transmission grid, for scaling studies.

``build_scale_case("ieee118", "ieee33", n=200, seed=0)`` hangs ``n`` copies
of a feeder on the transmission grid's load buses:

- placement: the copies are shared among the load buses in proportion to
  their active load (largest-remainder rounding), so big substations get
  more feeders;
- each copy's loads are multiplied by its own factor drawn uniformly from
  ``load_range`` (seeded: the same seed gives the same system);
- the feeders stand for part of the bus's aggregate load: the
  transmission bus load is reduced by what its feeders draw (active and
  reactive), never below zero; where the feeders draw more than the bus
  had, the excess is extra load, recorded in ``notes``;
- boundary transformers as :mod:`tdcoord.network.coupled` defaults, with
  the OLTC at ``tap_pu`` (default 0.95: 5.3 % boost on the LV side, what a
  substation controller does for feeders of this length).

In a spec: ``ieee118+200xieee33`` (seed 0) or ``ieee118+200xieee33~7``
(seed 7).
"""

from __future__ import annotations

import numpy as np

from tdcoord.network.coupled import CoupledSystem

LOAD_RANGE = (0.5, 1.2)
TAP = 0.95


def allocate(loads: np.ndarray, n: int) -> np.ndarray:
    """Largest-remainder shares of n copies in proportion to ``loads``."""
    w = np.maximum(loads, 0.0)
    if w.sum() <= 0:
        raise ValueError("no positive load to place feeders on")
    exact = n * w / w.sum()
    k = np.floor(exact).astype(int)
    rest = n - k.sum()
    order = np.argsort(-(exact - k), kind="stable")
    k[order[:rest]] += 1
    return k


def build_scale_case(transmission: str = "ieee118", feeder: str = "ieee33", n: int = 10, *, seed: int = 0,
                     load_range: tuple[float, float] = LOAD_RANGE, tap_pu: float = TAP) -> CoupledSystem:
    from tdcoord.cases.registry import _network
    from tdcoord.errors import UnknownCaseError

    if n < 1:
        raise UnknownCaseError(f"number of feeders must be >= 1, got {n}")
    t = _network(transmission)
    f = _network(feeder)
    if t.kind != "transmission" or f.kind != "distribution":
        raise UnknownCaseError(f"scale case: {transmission!r} must be a transmission network and {feeder!r} a feeder")
    rng = np.random.default_rng(seed)
    ld = t.load[t.load.in_service]
    bus_p = ld.groupby("bus").p_mw.sum()
    bus_p = bus_p[bus_p > 0]
    shares = allocate(bus_p.to_numpy(), n)
    cs = CoupledSystem(t, name=f"{transmission}+{n}x{feeder}" + (f"~{seed}" if seed else ""))
    factors = rng.uniform(load_range[0], load_range[1], size=n)
    k = 0
    excess = 0.0
    for bus, count in zip(bus_p.index, shares):
        drawn_p = drawn_q = 0.0
        for _ in range(count):
            copy = f.copy()
            copy.load["p_mw"] *= factors[k]
            copy.load["q_mvar"] *= factors[k]
            copy.note(f"loads scaled by {factors[k]:.4f} (seed {seed}, copy {k})")
            drawn_p += copy.load.p_mw.sum()
            drawn_q += copy.load.q_mvar.sum()
            cs.attach(copy, bus, tap_pu=tap_pu)
            k += 1
        rows = t.load.index[(t.load.bus == bus) & t.load.in_service]
        p_bus = t.load.loc[rows, "p_mw"].sum()
        q_bus = t.load.loc[rows, "q_mvar"].sum()
        fp = min(1.0, drawn_p / p_bus) if p_bus > 0 else 0.0
        fq = min(1.0, drawn_q / q_bus) if q_bus > 0 else 0.0
        excess += max(0.0, drawn_p - p_bus)
        t.load.loc[rows, "p_mw"] *= 1.0 - fp
        t.load.loc[rows, "q_mvar"] *= 1.0 - fq
    cs.notes.append(f"{n} copies of {feeder} on {int((shares > 0).sum())} load buses of {transmission} in proportion to "
                    f"load; load factors U{load_range} with seed {seed}; bus loads reduced by what their feeders draw; "
                    f"boundary OLTC tap {tap_pu}")
    if excess > 0:
        cs.notes.append(f"feeders draw {excess:.1f} MW more than their buses had; that is extra load")
    return cs
