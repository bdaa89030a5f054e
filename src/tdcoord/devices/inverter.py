"""Inverter-based units (wind, PV, DG) behind smart inverters.

Active power is the forecast ``p_mw`` (or its time series ``sgen.p_mw``;
not curtailed here). A controllable inverter's reactive power is limited by
its apparent-power rating, ``q^2 <= sn^2 - p^2``, and optionally by a
minimum power factor, ``|q| <= |p| tan(acos(pf_min))``; with p fixed both
are the bounds ``|q| <= q_cap`` (per period where p follows a series). A
unit that is not controllable injects its ``q_mvar``.

What an inverter contributes, per formulation family:

======== ===================== ====================== =====================
family   variables             constraints            objective terms
======== ===================== ====================== =====================
ac       P (fixed), Q          capability bounds      ``q_cost`` c Q^2
dc       P (fixed)             -                      -
======== ===================== ====================== =====================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, defaults_for, injection, q_cost
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network
from tdcoord.network.timeseries import values


def q_capability(p_mw: np.ndarray, sn_mva: np.ndarray, pf_min: np.ndarray) -> np.ndarray:
    """Largest |q| (Mvar) an inverter can give at active power p (any shape; sn, pf_min along the first axis)."""
    p_mw = np.asarray(p_mw, float)
    if p_mw.ndim == 2:
        sn_mva, pf_min = sn_mva.reshape(-1, 1), pf_min.reshape(-1, 1)
    cap = np.where(np.isnan(sn_mva), np.inf, np.sqrt(np.maximum(sn_mva**2 - p_mw**2, 0.0)))
    with np.errstate(invalid="ignore"):
        pf_cap = np.abs(p_mw) * np.tan(np.arccos(np.clip(pf_min, 1e-9, 1.0)))
    return np.where(np.isnan(pf_min), cap, np.minimum(cap, pf_cap))


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    if not len(net.sgen):
        return []
    pos = cn.position()
    base = cn.base_mva
    sel = net.sgen.in_service.to_numpy(bool) & net.sgen.bus.isin(pos).to_numpy()
    s = net.sgen[sel]
    if not len(s):
        return []
    p_mw = values(net, "sgen", "p_mw", periods)[sel] if periods is not None else s.p_mw.to_numpy(float)
    cap = q_capability(p_mw, s.sn_mva.to_numpy(float), s.pf_min.to_numpy(float))
    ctrl = s.controllable.to_numpy(bool)
    ctrl_c = ctrl.reshape(-1, 1) if p_mw.ndim == 2 else ctrl
    q = s.q_mvar.to_numpy(float)
    q_c = values(net, "sgen", "q_mvar", periods)[sel] if p_mw.ndim == 2 else q
    cost, ms = defaults_for(s.kind.to_numpy(), s.q_cost.to_numpy(float), s.response_ms.to_numpy(float))
    return [DeviceSet(
        kind="inverter", table="sgen", index=s.index.to_numpy(), bus=np.array([pos[b] for b in s.bus]),
        subtype=s.kind.to_numpy(), q0=q / base,
        q_min=np.where(ctrl_c, -cap, q_c) / base, q_max=np.where(ctrl_c, cap, q_c) / base,
        cost=np.where(ctrl, cost, 0.0), response_ms=ms, base_mva=base, p=p_mw / base,
        extra={"controllable": ctrl, "sn_mva": s.sn_mva.to_numpy(float), "pf_min": s.pf_min.to_numpy(float)},
    )]


def build_inverter(b: Any, form: Any, ds: DeviceSet, prefix: str, opts: DeviceOptions) -> DeviceVars:
    tag = f"{prefix}.sgen"
    n, nb = len(ds), form.cn.n_bus
    q = None
    if form.reactive:
        q0 = np.clip(ds.q0.reshape(-1, 1) if np.ndim(ds.q_min) == 2 else ds.q0, ds.q_min, ds.q_max)
        q = b.variable(f"{tag}_q", form.shape(n), ds.q_min, ds.q_max, q0)
    p = b.variable(f"{tag}_p", form.shape(n), ds.p, ds.p, ds.p)
    costs = {}
    qc = q_cost(b, ds, q)
    if qc is not None:
        costs["q_cost"] = qc
    return DeviceVars(ds, q, p, injection(b, ds, nb, p), injection(b, ds, nb, q) if q is not None else None,
                      costs=costs)


__all__ = ["build_inverter", "device_sets", "q_capability"]
