"""Inverter-based units (wind, PV, DG) behind smart inverters.

Active power is the forecast ``p_mw`` (not curtailed here). A controllable
inverter's reactive power is limited by its apparent-power rating,
``q^2 <= sn^2 - p^2``, and optionally by a minimum power factor,
``|q| <= |p| tan(acos(pf_min))``; with p fixed both are the bounds
``|q| <= q_cap``. A unit that is not controllable injects its ``q_mvar``.
"""

from __future__ import annotations

import casadi as ca
import numpy as np

from tdcoord.backends.casadi_nlp import NlpBuilder, sparse_dm
from tdcoord.devices.base import DeviceSet, DeviceVars, defaults_for
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network


def q_capability(p_mw: np.ndarray, sn_mva: np.ndarray, pf_min: np.ndarray) -> np.ndarray:
    """Largest |q| (Mvar) an inverter can give at active power p."""
    cap = np.where(np.isnan(sn_mva), np.inf, np.sqrt(np.maximum(sn_mva**2 - p_mw**2, 0.0)))
    with np.errstate(invalid="ignore"):
        pf_cap = np.abs(p_mw) * np.tan(np.arccos(np.clip(pf_min, 1e-9, 1.0)))
    return np.where(np.isnan(pf_min), cap, np.minimum(cap, pf_cap))


def collect(net: Network, cn: CompiledNetwork) -> list[DeviceSet]:
    pos = cn.position()
    base = cn.base_mva
    s = net.sgen[net.sgen.in_service & net.sgen.bus.isin(pos)]
    if not len(s):
        return []
    cap = q_capability(s.p_mw.to_numpy(float), s.sn_mva.to_numpy(float), s.pf_min.to_numpy(float))
    ctrl = s.controllable.to_numpy(bool)
    q = s.q_mvar.to_numpy(float)
    cost, ms = defaults_for(s.kind.to_numpy(), s.q_cost.to_numpy(float), s.response_ms.to_numpy(float))
    return [DeviceSet(
        kind="inverter", table="sgen", index=s.index.to_numpy(), bus=np.array([pos[b] for b in s.bus]),
        subtype=s.kind.to_numpy(), q0=q / base,
        q_min=np.where(ctrl, -cap, q) / base, q_max=np.where(ctrl, cap, q) / base,
        cost=np.where(ctrl, cost, 0.0), response_ms=ms, base_mva=base, p=s.p_mw.to_numpy(float) / base,
        extra={"controllable": ctrl, "sn_mva": s.sn_mva.to_numpy(float), "pf_min": s.pf_min.to_numpy(float)},
    )]


def declare(b: NlpBuilder, prefix: str, ds: DeviceSet, n_bus: int) -> DeviceVars:
    tag = f"{prefix}.sgen"
    q = b.var(f"{tag}_q", len(ds), ds.q_min, ds.q_max, np.clip(ds.q0, ds.q_min, ds.q_max))
    p = b.var(f"{tag}_p", len(ds), ds.p, ds.p, ds.p)
    inc = sparse_dm(ds.incidence(n_bus))
    return DeviceVars(ds, q, p, ca.mtimes(inc, p), ca.mtimes(inc, q))
