"""Batteries: charging and discharging power, state of charge, exclusivity.

Over a time axis of periods of ``dt`` hours, a controllable unit has
charging power ``c >= 0`` and discharging power ``d >= 0`` (MW, within
their limits) and a stored energy ``e`` (MWh) that follows

    e_t = e_{t-1} + dt (eta_c c_t - d_t / eta_d),     e_{-1} = soc_init E

within ``[soc_min E, soc_max E]``; at the end ``e_{T-1} >= soc_init E``
(no energy taken for free) or ``= soc_final E`` where given. The injection
into the grid is ``d - c``. Exclusivity (not charging and discharging at
once) takes a binary ``u`` per unit and period, ``c <= C u``,
``d <= D (1 - u)``: by default on the conic backend (a MILP / MISOCP); on
the NLP backend the binaries need bonmin, so there the model is the
relaxation and :func:`overlap` reports any simultaneous charge and
discharge (with efficiencies below 1 and no negative prices an optimum has
none). A unit with an inverter rating ``sn_mva`` also has reactive power,
``P^2 + Q^2 <= sn^2``.

In a single-period model (no time axis) a battery is a fixed injection at
its ``p_mw``/``q_mvar`` set-point: scheduling it needs periods.

====== ================================================ =====================================
family variables and constraints                        objective terms
====== ================================================ =====================================
ac     c, d, e (+ u), Q; energy balance, limits, cone   ``storage_cost``: cost_mwh dt (c + d)
dc     c, d, e (+ u); energy balance, limits            ``storage_cost``
====== ================================================ =====================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, injection
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    if not len(net.storage):
        return []
    pos = cn.position()
    base = cn.base_mva
    s = net.storage[net.storage.in_service & net.storage.bus.isin(pos)]
    if not len(s):
        return []
    n = len(s)
    col = {c: s[c].to_numpy(float) for c in ("e_max_mwh", "p_charge_max_mw", "p_discharge_max_mw", "eta_charge",
                                             "eta_discharge", "soc_min", "soc_max", "soc_init", "soc_final", "sn_mva",
                                             "cost_mwh", "p_mw", "q_mvar")}
    sn = col["sn_mva"] / base
    return [DeviceSet(
        kind="storage", table="storage", index=s.index.to_numpy(), bus=np.array([pos[b] for b in s.bus]),
        subtype=np.array(["battery"] * n, dtype=object), q0=col["q_mvar"] / base,
        q_min=np.where(np.isnan(sn), 0.0, -sn), q_max=np.where(np.isnan(sn), 0.0, sn), cost=np.zeros(n),
        response_ms=np.full(n, 50.0), base_mva=base, p=col["p_mw"] / base,
        p_min=-col["p_charge_max_mw"] / base, p_max=col["p_discharge_max_mw"] / base,
        extra={**col, "controllable": s.controllable.to_numpy(bool)},
    )]


def build_storage(b: Any, form: Any, ds: DeviceSet, prefix: str, opts: DeviceOptions) -> DeviceVars:
    """The units' variables, energy balance, exclusivity and costs (see the module docstring)."""
    x, n, nb, base = ds.extra, len(ds), form.cn.n_bus, ds.base_mva
    o = b.ops
    tag = f"{prefix}.storage"
    if form.periods is None:
        p = form.columns(ds.p)
        q = form.columns(ds.q0) if form.reactive else None
        return DeviceVars(ds, q, p, injection(b, ds, nb, p), injection(b, ds, nb, q) if q is not None else None)
    T, dt = form.T, float(opts.dt_h)
    ctrl = x["controllable"]
    c_max = np.where(ctrl, x["p_charge_max_mw"], np.maximum(-x["p_mw"], 0.0)) / base
    d_max = np.where(ctrl, x["p_discharge_max_mw"], np.maximum(x["p_mw"], 0.0)) / base
    c_min = np.where(ctrl, 0.0, c_max)
    d_min = np.where(ctrl, 0.0, d_max)
    c = b.variable(f"{tag}_charge", form.shape(n), c_min, c_max, c_min)
    d = b.variable(f"{tag}_discharge", form.shape(n), d_min, d_max, d_min)
    e_max = x["e_max_mwh"]
    e_init = x["soc_init"] * e_max
    e = b.variable(f"{tag}_energy", form.shape(n), x["soc_min"] * e_max, x["soc_max"] * e_max, e_init)
    flow = o.rows(dt * base * x["eta_charge"], c) - o.rows(dt * base / x["eta_discharge"], d)
    first = o.period(e, 0) - e_init.reshape(-1, 1)
    change = o.hcat([first, e[:, 1:] - e[:, :-1]]) if T > 1 else first
    b.constraint_eq(f"{tag}_energy_balance", change - flow)
    final = np.where(np.isnan(x["soc_final"]), x["soc_init"], x["soc_final"]) * e_max
    exact = ~np.isnan(x["soc_final"])
    b.constraint_ineq(f"{tag}_energy_final", o.period(e, T - 1), final.reshape(-1, 1),
                      np.where(exact, final, np.inf).reshape(-1, 1))
    binaries = opts.storage_binaries if opts.storage_binaries is not None else b.backend == "conic"
    other: dict[str, Any] = {"charge": c, "discharge": d, "energy_mwh": e}
    if binaries:
        u = b.variable(f"{tag}_charging", form.shape(n), 0.0, 1.0, 0.0, kind="binary")
        b.constraint_ineq(f"{tag}_charge_exclusive", c - o.rows(c_max, u), -np.inf, 0.0)
        b.constraint_ineq(f"{tag}_discharge_exclusive", d + o.rows(d_max, u), -np.inf, form.columns(d_max))
        other["charging"] = u
    p = d - c
    q = None
    rated = ~np.isnan(x["sn_mva"])
    if form.reactive:
        q = b.variable(f"{tag}_q", form.shape(n), ds.q_min, ds.q_max, np.clip(ds.q0, ds.q_min, ds.q_max))
        if rated.any():
            idx = np.flatnonzero(rated)
            sn = form.columns(x["sn_mva"][idx] / base)
            b.constraint_cone(f"{tag}_capability", [o.take(p, idx), o.take(q, idx)], sn, sn)
    costs = {}
    if np.any(x["cost_mwh"] > 0):
        costs["storage_cost"] = o.sum(o.rows(x["cost_mwh"] * dt * base, c + d))
    return DeviceVars(ds, q, p, injection(b, ds, nb, p), injection(b, ds, nb, q) if q is not None else None,
                      other=other, costs=costs)


def overlap(charge: np.ndarray, discharge: np.ndarray) -> float:
    """Largest simultaneous charge and discharge, min(c, d), at a solution (same units as the inputs)."""
    return float(np.max(np.minimum(charge, discharge))) if np.size(charge) else 0.0


__all__ = ["build_storage", "device_sets", "overlap"]
