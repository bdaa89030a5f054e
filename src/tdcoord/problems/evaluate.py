"""Objective terms, reserves and violations of an operating point.

Every strategy's dispatch is judged the same way, from the integrated power
flow that re-checks it (not from the optimizer's own numbers):

- ``loss_mw``: active losses of all branches (boundary transformers
  included) and shunt conductances, MW;
- ``q_cost``: sum over controllable reactive sources of c Q^2, $/h;
- ``dv``: sum over all buses of (V - 1)^2, p.u.^2;
- reserve of a source: remaining upward reactive capability q_max - q
  (Mvar), summed per network (T, D) and reported per device; a source
  beyond its upper limit has a negative reserve, reported as it is;
- violations, each kind counted on its own (:data:`VIOLATION_KINDS`):
  ``voltage`` buses outside the band (default [0.95, 1.05] p.u.), ``q_limit``
  reactive sources outside [q_min, q_max], ``p_limit`` machines outside
  [p_min, p_max] (the slack covers the losses in the re-check),
  ``branch_rating`` lines and transformers loaded beyond their rating at
  either end. Tolerances: 1e-6 p.u. of voltage, 1e-3 Mvar or MW, 1e-4 of a
  rating (the optimizers meet their limits to about 1e-8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tdcoord.devices import all_device_sets
from tdcoord.network.compiled import compile_network
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.problems.rpo import Weights
from tdcoord.results.powerflow import CoupledPowerFlowResult, PowerFlowResult

BAND = (0.95, 1.05)
VIOLATION_KINDS = ("voltage", "q_limit", "p_limit", "branch_rating")
TOL_VM, TOL_MW, TOL_RATING = 1e-6, 1e-3, 1e-4


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
    violations: dict[str, int]
    dv_max_pu: float
    dv_max_t_pu: float
    dv_max_d_pu: float
    devices: pd.DataFrame  # one row per controllable source: network, table, index, subtype, q, q_max, reserve
    offenders: pd.DataFrame  # one row per violation: kind, element, value, limit

    @property
    def n_violations(self) -> int:
        return int(sum(self.violations.values()))


COLUMNS = ["network", "table", "index", "bus", "subtype", "controllable", "q_mvar", "q_min_mvar", "q_max_mvar",
           "p_mw", "p_min_mw", "p_max_mw", "cost", "response_ms"]


def device_table(net: Network, res: PowerFlowResult, network: str) -> pd.DataFrame:
    """Reactive sources of a network at a power-flow result (one row per unit; reserve = q_max - q, Mvar)."""
    cn = compile_network(net)
    parts = []
    vm = res.res_bus.vm_pu
    for ds in all_device_sets(net, cn):
        if ds.kind == "ext_grid":
            continue
        base = ds.base_mva
        n = len(ds)
        p = pmin = pmax = np.full(n, np.nan)
        qmin = np.asarray(ds.q_min, float).reshape(n, -1)[:, 0] * base
        if ds.kind == "generator":
            q = res.res_gen.q_mvar.reindex(ds.index).to_numpy()
            p = res.res_gen.p_mw.reindex(ds.index).to_numpy()
            pmin, pmax = ds.p_min * base, ds.p_max * base
            qmax = ds.q_max * base
            ctrl = np.ones(n, bool)
        elif ds.kind == "capacitor":
            v2 = vm.reindex(cn.labels[ds.bus]).to_numpy() ** 2
            bs = ds.extra["bs"] * base
            q = bs * net.shunt.step.reindex(ds.index).to_numpy() * v2
            qmax = np.maximum(bs * ds.extra["max_step"] * v2, 0.0)
            qmin = np.minimum(bs * ds.extra["max_step"] * v2, 0.0)
            ctrl = np.ones(n, bool)
        else:
            ctrl = ds.extra.get("controllable", np.ones(n, bool))
            q = ds.q0 * base
            qmax = ds.q_max * base
        parts.append(pd.DataFrame({
            "network": network, "table": ds.table, "index": ds.index, "bus": cn.labels[ds.bus], "subtype": ds.subtype,
            "controllable": np.asarray(ctrl, bool), "q_mvar": np.asarray(q, float), "q_min_mvar": qmin,
            "q_max_mvar": np.asarray(qmax, float).reshape(n, -1)[:, 0], "p_mw": p, "p_min_mw": pmin, "p_max_mw": pmax,
            "cost": ds.cost, "response_ms": ds.response_ms}))
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    # remaining upward capability; negative where a source is beyond its limit (not clipped)
    df["reserve_mvar"] = np.where(df.controllable.to_numpy(bool),
                                  df.q_max_mvar.to_numpy(float) - df.q_mvar.to_numpy(float), 0.0)
    return df


def merged_device_table(pf: CoupledPowerFlowResult) -> pd.DataFrame:
    """:func:`device_table` of every network at once, from a merged solve's one network (each row named by its
    own network, table index and bus label, as the per-network tables name them)."""
    ms, res = pf.merged
    dev = device_table(ms.network, res, "")
    owner = np.full(len(dev), "", dtype=object)
    original = dev["index"].to_numpy(dtype=object).copy()
    for table in dev.table.unique():
        rows = np.flatnonzero(dev.table.to_numpy() == table)
        owner[rows], original[rows] = ms.owners_of(table, dev["index"].to_numpy()[rows])
    dev["network"] = owner
    dev["index"] = original
    prefix = np.array([f"{o}:" if o != "T" else "" for o in dev.network], dtype=object)
    dev["bus"] = [b[len(p):] if p and b.startswith(p) else b for b, p in zip(dev.bus, prefix)]
    rank = {name: k for k, name in enumerate(ms.owners)}
    order = np.argsort(dev.network.map(rank).to_numpy(), kind="stable")  # network by network, as the parts
    return dev.iloc[order].reset_index(drop=True)


def evaluate(cs: CoupledSystem, pf: CoupledPowerFlowResult, weights: Weights, band=BAND,
             vm_ref: float = 1.0) -> Evaluation:
    """Objective terms and indicators of an operating point (re-checked power flow)."""
    if pf.merged is not None:
        dev = merged_device_table(pf)
    else:
        parts = [device_table(cs.transmission, pf.transmission, "T")]
        for f, net in cs.feeders.items():
            parts.append(device_table(net, pf.feeders[f], f))
        dev = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    loss = pf.p_loss_mw + pf.p_shunt_mw
    ctrl = dev[dev.controllable]
    q_cost = float(np.sum(ctrl.cost * ctrl.q_mvar**2))
    vm = pf.res_bus.vm_pu.dropna()
    dv = float(np.sum((vm - vm_ref) ** 2))
    terms = {"loss_mw": loss, "q_cost": q_cost, "dv": dv}
    obj = weights.alpha * loss + weights.beta * q_cost + weights.gamma * dv
    is_t = ~vm.index.str.contains(":")
    dev_abs = (vm - vm_ref).abs()
    offenders = violations_of(vm, dev, branch_loadings(pf), band)
    offenders["element"] = [described(cs, e) for e in offenders.element]
    return Evaluation(
        terms=terms, objective=float(obj), p_loss_mw=float(loss),
        q_reserve_t_mvar=float(dev.reserve_mvar[dev.network == "T"].sum()),
        q_reserve_d_mvar=float(dev.reserve_mvar[dev.network != "T"].sum()),
        vm_min_pu=float(vm.min()), vm_max_pu=float(vm.max()), vm_min_bus=str(vm.idxmin()), vm_max_bus=str(vm.idxmax()),
        violations={k: int((offenders.kind == k).sum()) for k in VIOLATION_KINDS},
        dv_max_pu=float(dev_abs.max()),
        dv_max_t_pu=float(dev_abs[is_t].max()) if is_t.any() else 0.0,
        dv_max_d_pu=float(dev_abs[~is_t].max()) if (~is_t).any() else 0.0,
        devices=dev, offenders=offenders,
    )


def branch_loadings(pf: CoupledPowerFlowResult) -> pd.DataFrame:
    """Loading (percent of rating, at the more loaded end) of every rated branch: element name -> loading."""
    parts = []
    if pf.merged is not None:
        ms, res = pf.merged
        for table in ("line", "trafo"):
            df = getattr(res, f"res_{table}")
            if len(df):
                owner, orig = ms.owners_of(table, df.index.to_numpy())
                names = [f"{o}:{table} {i}" if o and o != "T" else (f"{table} {i}" if o == "T" else f"{table} {i} (boundary or tie)")
                         for o, i in zip(owner, orig)]
                parts.append(pd.Series(df.loading_percent.to_numpy(float), index=names))
    else:
        for name, r in [("T", pf.transmission)] + list(pf.feeders.items()):
            for table in ("line", "trafo"):
                df = getattr(r, f"res_{table}")
                if len(df):
                    prefix = "" if name == "T" else f"{name}:"
                    parts.append(pd.Series(df.loading_percent.to_numpy(float), index=[f"{prefix}{table} {i}" for i in df.index]))
    s = pd.concat(parts) if parts else pd.Series(dtype=float)
    return s.dropna()


def described(cs: CoupledSystem, element: str) -> str:
    """An element reference ("[feeder:]table index", the table's own index) with what the data call it: its
    name, and for units the bus; e.g. "line 1 (branch 2)", "gen 1 (bus 2)"."""
    prefix, _, rest = element.rpartition(":")
    table, _, index = rest.partition(" ")
    net = cs.feeders.get(prefix) if prefix else cs.transmission
    tab = getattr(net, table, None) if net is not None and table != "bus" else None
    if tab is None or not len(tab):
        return element
    key = next((k for k in tab.index if str(k) == index.split(" ")[0]), None)
    if key is None:
        return element
    extra = [str(tab.at[key, "name"]).strip()] if "name" in tab and str(tab.at[key, "name"]).strip() else []
    if "bus" in tab:
        extra.append(f"bus {tab.at[key, 'bus']}")
    return f"{element} ({', '.join(extra)})" if extra else element


def violations_of(vm: pd.Series, dev: pd.DataFrame, loading: pd.Series, band=BAND) -> pd.DataFrame:
    """Every limit an operating point breaks: kind, element, value and the limit it breaks."""
    rows = []
    low, high = vm < band[0] - TOL_VM, vm > band[1] + TOL_VM
    rows += [("voltage", f"bus {b}", float(v), band[0]) for b, v in vm[low].items()]
    rows += [("voltage", f"bus {b}", float(v), band[1]) for b, v in vm[high].items()]

    def name(r) -> str:
        return f"{r.table} {r['index']}" if r.network == "T" else f"{r.network}:{r.table} {r['index']}"

    ctrl = dev[dev.controllable]
    for _, r in ctrl[ctrl.q_mvar > ctrl.q_max_mvar + TOL_MW].iterrows():
        rows.append(("q_limit", name(r), float(r.q_mvar), float(r.q_max_mvar)))
    for _, r in ctrl[ctrl.q_mvar < ctrl.q_min_mvar - TOL_MW].iterrows():
        rows.append(("q_limit", name(r), float(r.q_mvar), float(r.q_min_mvar)))
    gens = dev[dev.p_mw.notna()]
    for _, r in gens[gens.p_mw > gens.p_max_mw + TOL_MW].iterrows():
        rows.append(("p_limit", name(r), float(r.p_mw), float(r.p_max_mw)))
    for _, r in gens[gens.p_mw < gens.p_min_mw - TOL_MW].iterrows():
        rows.append(("p_limit", name(r), float(r.p_mw), float(r.p_min_mw)))
    over = loading[loading > 100.0 * (1 + TOL_RATING)]
    rows += [("branch_rating", str(k), float(v), 100.0) for k, v in over.items()]
    return pd.DataFrame(rows, columns=["kind", "element", "value", "limit"])
