"""Switched capacitor (or reactor) banks with discrete steps.

A controllable shunt row has ``max_step`` steps of ``bs_mvar`` each (the
injection at 1.0 p.u.); its injection is ``step * bs * V^2``. In a model the
step count is a variable in ``[0, max_step]``: continuous for the relaxation,
integer when the solver branches (bonmin), or fixed by the bounds when a
discrete search evaluates one combination of steps. Fixed shunts are part of
the network's admittance and are not devices.
"""

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
    sh = net.shunt[net.shunt.in_service & net.shunt.controllable & net.shunt.bus.isin(pos)]
    if not len(sh):
        return []
    n = len(sh)
    kinds = np.array(["capacitor"] * n, dtype=object)
    cost, ms = defaults_for(kinds, sh.q_cost.to_numpy(float), sh.response_ms.to_numpy(float))
    bs = sh.bs_mvar.to_numpy(float) / base
    steps = sh.max_step.to_numpy(float)
    return [DeviceSet(
        kind="capacitor", table="shunt", index=sh.index.to_numpy(), bus=np.array([pos[b] for b in sh.bus]),
        subtype=kinds, q0=bs * sh.step.to_numpy(float), q_min=np.minimum(0.0, bs * steps),
        q_max=np.maximum(0.0, bs * steps), cost=cost, response_ms=ms, base_mva=base, p=np.zeros(n),
        extra={"bs": bs, "gs": sh.gs_mw.to_numpy(float) / base, "max_step": steps, "step0": sh.step.to_numpy(float)},
    )]


def declare(b: NlpBuilder, prefix: str, ds: DeviceSet, n_bus: int, vm: ca.SX, discrete: bool = False) -> DeviceVars:
    x = ds.extra
    step = b.var(f"{prefix}.shunt_step", len(ds), 0.0, x["max_step"], x["step0"], discrete=discrete)
    inc = sparse_dm(ds.incidence(n_bus))
    vm_at = ca.mtimes(sparse_dm(ds.incidence(n_bus).T), vm)
    q = x["bs"] * step * vm_at**2
    p = -x["gs"] * step * vm_at**2
    return DeviceVars(ds, q, p, ca.mtimes(inc, p), ca.mtimes(inc, q), other={"step": step})
