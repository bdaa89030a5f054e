"""Objective terms, reserves and violations of an operating point.

Every strategy's dispatch is judged the same way, from the integrated power
flow that re-checks it (not from the optimizer's own numbers):

- ``loss_mw``: active losses of all branches (boundary transformers
  included) and shunt conductances, MW;
- ``q_cost``: sum over controllable reactive sources of c Q^2, $/h;
- ``dv``: sum over all buses of (V - 1)^2, p.u.^2;
- reserve of a source: remaining upward reactive capability q_max - q
  (Mvar), summed per network (T, D) and reported per device;
- violations: buses outside the band (default [0.95, 1.05] p.u.).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tdcoord.devices import all_device_sets
from tdcoord.network.compiled import compile_network
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.results.powerflow import CoupledPowerFlowResult, PowerFlowResult

BAND = (0.95, 1.05)


@dataclass
class Evaluation:
    terms: dict[str, float]
    objective: float
    p_loss_mw: float
    q_reserve_t_mvar: float
    q_reserve_d_mvar: float
    vm_min_pu: float
    vm_max_pu: float
    vm_min_bus: str
    vm_max_bus: str
    n_violations: int
    dv_max_pu: float
    dv_max_t_pu: float
    dv_max_d_pu: float
    devices: pd.DataFrame  # one row per controllable source: network, table, index, subtype, q, q_max, reserve


COLUMNS = ["network", "table", "index", "bus", "subtype", "controllable", "q_mvar", "q_max_mvar", "cost",
           "response_ms"]


def device_table(net: Network, res: PowerFlowResult, network: str) -> pd.DataFrame:
    """Reactive sources of a network at a power-flow result (one row per unit; reserve = q_max - q, Mvar)."""
    cn = compile_network(net)
    parts = []
    vm = res.res_bus.vm_pu
    for ds in all_device_sets(net, cn):
        if ds.kind == "ext_grid":
            continue
        base = ds.base_mva
        if ds.kind == "generator":
            q = res.res_gen.q_mvar.reindex(ds.index).to_numpy()
            qmax = ds.q_max * base
            ctrl = np.ones(len(ds), bool)
        elif ds.kind == "capacitor":
            v2 = vm.reindex(cn.labels[ds.bus]).to_numpy() ** 2
            bs = ds.extra["bs"] * base
            q = bs * net.shunt.step.reindex(ds.index).to_numpy() * v2
            qmax = bs * ds.extra["max_step"] * v2
            ctrl = np.ones(len(ds), bool)
        else:
            ctrl = ds.extra.get("controllable", np.ones(len(ds), bool))
            q = ds.q0 * base
            qmax = ds.q_max * base
        parts.append(pd.DataFrame({
            "network": network, "table": ds.table, "index": ds.index, "bus": cn.labels[ds.bus], "subtype": ds.subtype,
            "controllable": np.asarray(ctrl, bool), "q_mvar": np.asarray(q, float),
            "q_max_mvar": np.asarray(qmax, float).reshape(len(ds), -1)[:, 0], "cost": ds.cost,
            "response_ms": ds.response_ms}))
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    df["reserve_mvar"] = np.where(df.controllable.to_numpy(bool), np.maximum(df.q_max_mvar.to_numpy(float)
                                                                              - df.q_mvar.to_numpy(float), 0.0), 0.0)
    return df


def merged_device_table(pf: CoupledPowerFlowResult) -> pd.DataFrame:
    """:func:`device_table` of every network at once, from a merged solve's one network (each row named by its
    own network, table index and bus label, as the per-network tables name them)."""
    ms, res = pf.merged
    dev = device_table(ms.network, res, "")
    owner = pd.Series("", index=dev.index, dtype=object)
    original = dev["index"].astype(object).copy()
    for table in dev.table.unique():
        rows = dev.index[dev.table == table]
        merged_idx = dev.loc[rows, "index"].to_numpy()
        who = pd.Series(index=pd.Index([], dtype=int), dtype=object)
        orig = pd.Series(index=pd.Index([], dtype=int), dtype=object)
        for name, tabs in ms.element_map.items():
            m = tabs.get(table)
            if m is None or not len(m):
                continue
            who = pd.concat([who, pd.Series(name, index=m.to_numpy())])
            orig = pd.concat([orig, pd.Series(m.index.to_numpy(), index=m.to_numpy(), dtype=object)])
        owner.loc[rows] = who.reindex(merged_idx).to_numpy()
        original.loc[rows] = orig.reindex(merged_idx).to_numpy()
    dev["network"] = owner.to_numpy()
    dev["index"] = original.to_numpy()
    prefix = np.array([f"{o}:" if o != "T" else "" for o in dev.network], dtype=object)
    dev["bus"] = [b[len(p):] if p and b.startswith(p) else b for b, p in zip(dev.bus, prefix)]
    rank = {name: k for k, name in enumerate(ms.owners)}
    order = np.argsort(dev.network.map(rank).to_numpy(), kind="stable")  # network by network, as the parts
    return dev.iloc[order].reset_index(drop=True)


def evaluate(cs: CoupledSystem, pf: CoupledPowerFlowResult, weights: dict[str, float], band=BAND,
             vm_ref: float = 1.0) -> Evaluation:
    """Objective terms and indicators of an operating point (re-checked power flow)."""
    if pf.merged is not None:
        dev = merged_device_table(pf)
    else:
        parts = [device_table(cs.transmission, pf.transmission, "T")]
        for f, net in cs.feeders.items():
            parts.append(device_table(net, pf.feeders[f], f))
        dev = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    shunt_p = float(pf.transmission.res_shunt.p_mw.sum()) + sum(float(r.res_shunt.p_mw.sum()) for r in pf.feeders.values())
    loss = pf.p_loss_mw + shunt_p
    ctrl = dev[dev.controllable]
    q_cost = float(np.sum(ctrl.cost * ctrl.q_mvar**2))
    vm = pf.res_bus.vm_pu.dropna()
    dv = float(np.sum((vm - vm_ref) ** 2))
    terms = {"loss_mw": loss, "q_cost": q_cost, "dv": dv}
    obj = weights["alpha"] * loss + weights["beta"] * q_cost + weights["gamma"] * dv
    is_t = ~vm.index.str.contains(":")
    dev_abs = (vm - vm_ref).abs()
    return Evaluation(
        terms=terms, objective=float(obj), p_loss_mw=float(loss),
        q_reserve_t_mvar=float(dev.reserve_mvar[dev.network == "T"].sum()),
        q_reserve_d_mvar=float(dev.reserve_mvar[dev.network != "T"].sum()),
        vm_min_pu=float(vm.min()), vm_max_pu=float(vm.max()), vm_min_bus=str(vm.idxmin()), vm_max_bus=str(vm.idxmax()),
        n_violations=int(((vm < band[0] - 1e-6) | (vm > band[1] + 1e-6)).sum()),
        dv_max_pu=float(dev_abs.max()),
        dv_max_t_pu=float(dev_abs[is_t].max()) if is_t.any() else 0.0,
        dv_max_d_pu=float(dev_abs[~is_t].max()) if (~is_t).any() else 0.0,
        devices=dev,
    )
