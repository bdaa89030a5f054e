"""Synchronous machines: generators, synchronous condensers, external grids.

Reactive power is a variable within ``[q_min, q_max]`` (the voltage
set-point of the machine is then the optimized bus voltage). Active power is
fixed at the dispatch (``p_mw``) except for the slack machine, which covers
the losses within ``[p_min, p_max]``; an OPF frees every machine's P. An
external grid (``ext_grid``) is a slack source without limits or reserve.
Limits of 1e9 Mvar or more (MATPOWER's "unlimited") are infinite.
"""

from __future__ import annotations

import numpy as np

from tdcoord.backends.casadi_nlp import NlpBuilder, sparse_dm
from tdcoord.devices.base import DeviceSet, DeviceVars, defaults_for
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network

UNLIMITED = 1e8


def _lim(x: np.ndarray) -> np.ndarray:
    return np.where(x >= UNLIMITED, np.inf, np.where(x <= -UNLIMITED, -np.inf, x))


def collect(net: Network, cn: CompiledNetwork) -> list[DeviceSet]:
    pos = cn.position()
    base = cn.base_mva
    out = []
    g = net.gen[net.gen.in_service & net.gen.bus.isin(pos)]
    if len(g):
        cost, ms = defaults_for(g.kind.to_numpy(), g.q_cost.to_numpy(float), g.response_ms.to_numpy(float))
        out.append(DeviceSet(
            kind="generator", table="gen", index=g.index.to_numpy(), bus=np.array([pos[b] for b in g.bus]),
            subtype=g.kind.to_numpy(), q0=np.zeros(len(g)),
            q_min=_lim(g.q_min_mvar.to_numpy(float)) / base, q_max=_lim(g.q_max_mvar.to_numpy(float)) / base,
            cost=cost, response_ms=ms, base_mva=base, p=g.p_mw.to_numpy(float) / base,
            p_min=_lim(g.p_min_mw.to_numpy(float)) / base, p_max=_lim(g.p_max_mw.to_numpy(float)) / base,
            p_free=g.slack.to_numpy(bool), extra={"vm_set": g.vm_pu.to_numpy(float)},
        ))
    e = net.ext_grid[net.ext_grid.in_service & net.ext_grid.bus.isin(pos)]
    if len(e):
        n = len(e)
        out.append(DeviceSet(
            kind="ext_grid", table="ext_grid", index=e.index.to_numpy(), bus=np.array([pos[b] for b in e.bus]),
            subtype=np.array(["ext_grid"] * n, dtype=object), q0=np.zeros(n), q_min=np.full(n, -np.inf),
            q_max=np.full(n, np.inf), cost=np.zeros(n), response_ms=np.full(n, np.inf), base_mva=base,
            p=np.zeros(n), p_min=np.full(n, -np.inf), p_max=np.full(n, np.inf), p_free=np.ones(n, bool),
        ))
    return out


def declare(b: NlpBuilder, prefix: str, ds: DeviceSet, n_bus: int, *, free_p: bool = False) -> DeviceVars:
    tag = f"{prefix}.{ds.table}"
    q = b.var(f"{tag}_q", len(ds), ds.q_min, ds.q_max, np.clip(ds.q0, ds.q_min, ds.q_max))
    free = ds.p_free | free_p
    lb = np.where(free, ds.p_min, ds.p)
    ub = np.where(free, ds.p_max, ds.p)
    p = b.var(f"{tag}_p", len(ds), lb, ub, np.clip(ds.p, lb, ub))
    inc = sparse_dm(ds.incidence(n_bus))
    import casadi as ca

    return DeviceVars(ds, q, p, ca.mtimes(inc, p), ca.mtimes(inc, q))
