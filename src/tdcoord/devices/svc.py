"""Static var compensators: SVG, STATCOM, SVC, with a continuous Q range.

======== ============= ================= =================
family   variables     constraints       objective terms
======== ============= ================= =================
ac       Q             Q limits          ``q_cost`` c Q^2
dc       -             -                 -
======== ============= ================= =================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, defaults_for, injection, q_cost
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    if not len(net.svc):
        return []
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


def build_svc(b: Any, form: Any, ds: DeviceSet, prefix: str, opts: DeviceOptions) -> DeviceVars:
    if not form.reactive:
        return DeviceVars(ds, None, None, None, None)
    q = b.variable(f"{prefix}.svc_q", form.shape(len(ds)), ds.q_min, ds.q_max, np.clip(ds.q0, ds.q_min, ds.q_max))
    qc = q_cost(b, ds, q)
    return DeviceVars(ds, q, None, None, injection(b, ds, form.cn.n_bus, q),
                      costs={"q_cost": qc} if qc is not None else {})


__all__ = ["build_svc", "device_sets"]
