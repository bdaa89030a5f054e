"""Device kinds the flexibility schedule adds to its feeders while it builds them (seed 001).

Both come in through the model layer's extension point (``register_device``,
docs/model-layer.md) for the time one feeder is built, under their own kind
names, so no other model sees them:

- ``flex_shedding``: every in-service load may be shed, up to its
  consumption, as an injection ``<prefix>.load_shed`` at its bus (active
  power; the AC re-check sheds at the load's power factor);
- ``flex_tie``: the end of a tie between two feeders (:func:`feeder_ties`), an
  injection ``<prefix>.tie_p`` within the tie's rating; the schedule makes the
  two ends equal and opposite (a controlled transfer).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np

from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.timeseries import values


@contextlib.contextmanager
def device_kind(kind: str, sets: Callable[..., list], build: Callable[..., Any]) -> Iterator[None]:
    """``kind`` registered as a device kind inside the ``with`` block only."""
    from tdcoord.devices import register_device, unregister_device

    register_device(kind, sets, build)
    try:
        yield
    finally:
        unregister_device(kind)


def _device_set(kind: str, table: str, index: np.ndarray, bus: np.ndarray, cn: Any, p: np.ndarray) -> Any:
    """Active-power-only devices: no reactive range, no cost of their own (the schedule prices them)."""
    from tdcoord.devices.base import DeviceSet

    n = len(index)
    return DeviceSet(kind=kind, table=table, index=index, bus=bus, subtype=np.array([table] * n, dtype=object),
                     q0=np.zeros(n), q_min=np.zeros(n), q_max=np.zeros(n), cost=np.zeros(n),
                     response_ms=np.full(n, np.inf), base_mva=cn.base_mva, p=p)


def _injection_vars(b: Any, form: Any, ds: Any, name: str, lb: Any, ub: Any) -> Any:
    from tdcoord.devices.base import DeviceVars, injection

    p = b.variable(name, form.shape(len(ds)), lb, ub, 0.0)
    return DeviceVars(ds, None, p, injection(b, ds, form.cn.n_bus, p), None, costs={})


def shedding_sets(net: Any, cn: Any, periods: int | None = None) -> list:
    """Every in-service feeder load may be shed, up to its consumption (docs/model-layer.md's worked example)."""
    pos = cn.position()
    sel = (net.load.in_service & net.load.bus.isin(pos)).to_numpy()
    ld = net.load[sel]
    if not len(ld):
        return []
    p = (values(net, "load", "p_mw", periods)[sel] if periods else ld.p_mw.to_numpy(float)) / cn.base_mva
    return [_device_set("flex_shedding", "load", ld.index.to_numpy(), np.array([pos[b] for b in ld.bus]), cn, p)]


def build_shedding(b: Any, form: Any, ds: Any, prefix: str, opts: Any) -> Any:
    """Shed power in [0, load] at the load's bus; its cost is the schedule's (``C_D``)."""
    return _injection_vars(b, form, ds, f"{prefix}.load_shed", 0.0, np.maximum(ds.p, 0.0))


def feeder_shedding() -> contextlib.AbstractContextManager:
    """Feeder load shedding as a device kind while a feeder is built."""
    return device_kind("flex_shedding", shedding_sets, build_shedding)


def feeder_ties(cs: CoupledSystem) -> list[tuple[str, str, str, str, str]]:
    """The ties between two feeders of ``cs``: (name, feeder a, bus a, feeder b, bus b)."""
    out = []
    tie = getattr(cs, "tie", None)
    if tie is None or not len(tie):
        return out
    for i, r in tie.iterrows():
        a, b = str(r.from_bus), str(r.to_bus)
        if ":" in a and ":" in b:
            fa, ba = a.split(":", 1)
            fb_, bb = b.split(":", 1)
            if fa in cs.feeders and fb_ in cs.feeders and fa != fb_:
                out.append((str(r.get("name") or i), fa, ba, fb_, bb))
    return out


def tie_ends(buses: list[str], cap_mw: float) -> contextlib.AbstractContextManager:
    """The ends of ties at ``buses`` of one feeder as a device kind while it is built: an injection
    ``<prefix>.tie_p`` per end within +-``cap_mw``."""

    def sets(net: Any, cn: Any, periods: int | None = None) -> list:
        pos = cn.position()
        here = [b for b in buses if b in pos]
        if not here:
            return []
        return [_device_set("flex_tie", "tie", np.arange(len(here)), np.array([pos[b] for b in here]), cn,
                            np.zeros(len(here)))]

    def build(b: Any, form: Any, ds: Any, prefix: str, opts: Any) -> Any:
        cap = cap_mw / ds.base_mva
        return _injection_vars(b, form, ds, f"{prefix}.tie_p", -cap, cap)

    return device_kind("flex_tie", sets, build)


__all__ = ["build_shedding", "device_kind", "feeder_shedding", "feeder_ties", "shedding_sets", "tie_ends"]
