"""Static var compensators: SVG, STATCOM, SVC, with a continuous Q range."""

from __future__ import annotations

import casadi as ca
import numpy as np

from tdcoord.backends.casadi_nlp import NlpBuilder, sparse_dm
from tdcoord.devices.base import DeviceSet, DeviceVars, defaults_for
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network


def collect(net: Network, cn: CompiledNetwork) -> list[DeviceSet]:
    pos = cn.position()
    base = cn.base_mva
    v = net.svc[net.svc.in_service & net.svc.bus.isin(pos)]
    if not len(v):
        return []
    ctrl = v.controllable.to_numpy(bool)
    q = v.q_mvar.to_numpy(float)
    cost, ms = defaults_for(v.kind.to_numpy(), v.q_cost.to_numpy(float), v.response_ms.to_numpy(float))
    return [DeviceSet(
        kind="svc", table="svc", index=v.index.to_numpy(), bus=np.array([pos[b] for b in v.bus]),
        subtype=v.kind.to_numpy(), q0=q / base,
        q_min=np.where(ctrl, v.q_min_mvar.to_numpy(float), q) / base,
        q_max=np.where(ctrl, v.q_max_mvar.to_numpy(float), q) / base,
        cost=np.where(ctrl, cost, 0.0), response_ms=ms, base_mva=base, p=np.zeros(len(v)),
        extra={"controllable": ctrl},
    )]


def declare(b: NlpBuilder, prefix: str, ds: DeviceSet, n_bus: int) -> DeviceVars:
    q = b.var(f"{prefix}.svc_q", len(ds), ds.q_min, ds.q_max, np.clip(ds.q0, ds.q_min, ds.q_max))
    inc = sparse_dm(ds.incidence(n_bus))
    return DeviceVars(ds, q, 0.0, 0.0, ca.mtimes(inc, q))
