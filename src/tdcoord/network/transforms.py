"""Transformations of networks that keep their physics exact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tdcoord.errors import InputError, SchemaError
from tdcoord.network.network import Network

if TYPE_CHECKING:
    from tdcoord.network.coupled import CoupledSystem

HV_BUS = "__boundary_hv__"
"""Label of the copy of a feeder's transmission bus (the root of the feeder with its boundary transformer)."""


def aggregate(net: Network, k: float, name: str | None = None) -> Network:
    """The equivalent of ``k`` identical copies of ``net`` operated in parallel.

    Powers (loads, generation, shunts, device ranges, ratings) are multiplied
    by k and series impedances divided by k (line charging multiplied by k),
    so every bus voltage is the same as in one copy while every current and
    power is k times larger. Used to let one modelled feeder stand for k
    identical feeders under the same substation. Recorded in ``notes``.
    """
    if not k > 0:
        raise SchemaError(f"aggregate: the number of copies k must be > 0, got {k!r}")
    n = net.copy()
    n.name = name or f"{net.name}x{k:g}"
    n.line["r_ohm"] /= k
    n.line["x_ohm"] /= k
    n.line["b_us"] *= k
    n.line["rate_mva"] *= k
    n.trafo["sn_mva"] *= k  # per-unit impedances on a k times larger base
    n.trafo["rate_mva"] *= k
    for col in ("p_mw", "q_mvar"):
        n.load[col] *= k
    n.shunt["bs_mvar"] *= k
    n.shunt["gs_mw"] *= k
    for col in ("p_mw", "q_mvar", "p_max_mw", "sn_mva"):
        n.sgen[col] *= k
    for col in ("q_mvar", "q_min_mvar", "q_max_mvar"):
        n.svc[col] *= k
    for col in ("p_mw", "q_min_mvar", "q_max_mvar", "p_min_mw", "p_max_mw"):
        n.gen[col] *= k
    n.sn_mva = net.sn_mva * k
    n.note(f"aggregate of {k:g} identical copies in parallel: powers x{k:g}, series impedances /{k:g}")
    return n


def feeder_with_boundary(cs: "CoupledSystem", fname: str, hv_limits: tuple[float, float] = (0.0, 10.0)) -> Network:
    """The feeder plus its boundary transformer and an HV slack bus (label ``HV_BUS``, voltage limits ``hv_limits``)."""
    f = cs.feeders[fname]
    b = cs.boundary.loc[fname]
    net = f.copy()
    net.ext_grid = net.ext_grid.iloc[0:0]
    vn_hv = float(cs.transmission.bus.at[b.bus, "vn_kv"])
    net.append_trusted("bus", HV_BUS, vn_kv=vn_hv, vm_min_pu=float(hv_limits[0]), vm_max_pu=float(hv_limits[1]))
    net.append_trusted("ext_grid", 0, bus=HV_BUS, name="transmission")
    k = int(net.trafo.index.max()) + 1 if len(net.trafo) else 0
    net.append_trusted("trafo", k, from_bus=HV_BUS, to_bus=str(b.root), sn_mva=float(b.sn_mva), r_pu=float(b.r_pu),
                       x_pu=float(b.x_pu), tap_pu=float(b.tap_pu), in_service=bool(b.in_service),
                       name=f"boundary {fname}")
    return net


def outage(net: Network, a: str, b: str) -> str:
    """Take the branch between buses a and b out of service; returns what was opened."""
    for table in ("line", "trafo"):
        df = getattr(net, table)
        hit = df.in_service & (((df.from_bus == a) & (df.to_bus == b)) | ((df.from_bus == b) & (df.to_bus == a)))
        if hit.any():
            idx = df.index[hit][0]
            df.loc[idx, "in_service"] = False
            return f"{table} {idx} ({a}-{b})"
    raise InputError(f"outage {a}-{b}: no in-service line or transformer joins buses {a!r} and {b!r} in {net.name!r}")
