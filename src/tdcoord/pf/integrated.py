"""Integrated transmission-distribution power flow of a CoupledSystem.

Two methods that must agree:

- ``merged``: every feeder and boundary transformer merged into one network,
  solved by one Newton;
- ``split`` (master-slave splitting): the transmission grid is solved by
  Newton with each feeder represented by its boundary P, Q; each feeder
  (with its boundary transformer) is solved by the backward/forward sweep
  from the transmission bus voltage; the boundary powers are exchanged until
  the largest change of a boundary power is below ``boundary_tol`` (p.u. on
  the transmission base).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tdcoord.errors import TopologyError
from tdcoord.network.compiled import CompiledNetwork, compile_network
from tdcoord.network.coupled import CoupledSystem, MergedSystem, feeder_label
from tdcoord.network.network import Network
from tdcoord.network.transforms import HV_BUS, feeder_with_boundary
from tdcoord.network.validate import check_islands
from tdcoord.pf.ac import DEFAULT_TOL, solve_compiled
from tdcoord.pf.flows import build_result, initial_voltage
from tdcoord.pf.sweep import SweepModel, build_sweep, sweep_pf
from tdcoord.results.powerflow import CoupledPowerFlowResult, PowerFlowResult

BOUNDARY_TOL = 1e-10


class _Rows:
    """A merged result table cut into many owners' tables: its values taken out once as one float array (when
    every column is float) and sliced by position (a thousand feeders make some seven thousand tables;
    ``DataFrame.loc`` for each took seconds)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.cols = table.columns
        self.values = table.to_numpy(float) if len(self.cols) and all(
            dt == np.float64 for dt in table.dtypes) else None
        self._empty: pd.DataFrame | None = None
        ix = table.index
        self.positional = isinstance(ix, pd.RangeIndex) and ix.start == 0 and ix.step == 1

    def positions(self, labels: np.ndarray) -> np.ndarray:
        """Row positions of index labels (the labels themselves where the index is 0..n-1)."""
        return labels if self.positional else self.table.index.get_indexer(labels)

    def empty(self) -> pd.DataFrame:
        if self._empty is None:
            self._empty = self.table.iloc[0:0].copy()
        return self._empty.copy()

    def owned(self, mapping: pd.Series | None) -> pd.DataFrame:
        """The rows ``mapping`` names (owner's index -> merged index), indexed by the owner's index."""
        if mapping is None or not len(mapping):
            return self.empty()
        return self.take(self.positions(mapping.to_numpy()), mapping.index)

    def take(self, pos: np.ndarray, index: pd.Index) -> pd.DataFrame:
        if (pos < 0).any():
            raise KeyError(f"{index[pos < 0][0]!r}: not among the merged result's rows")
        if self.values is None:
            out = self.table.iloc[pos].copy()
            out.index = index.copy()
            return out
        return pd.DataFrame(self.values[pos], index=index.copy(), columns=self.cols.copy())


TABLE_OF = {"res_line": "line", "res_trafo": "trafo", "res_gen": "gen", "res_ext_grid": "ext_grid",
            "res_sgen": "sgen", "res_svc": "svc", "res_shunt": "shunt"}


def split_merged_result(cs: CoupledSystem, ms: MergedSystem, res: PowerFlowResult, iterations: int) -> CoupledPowerFlowResult:
    """Per-network results (own indices) and boundary flows of a merged solve."""
    rows = {name: _Rows(getattr(res, name)) for name in ["res_bus", *TABLE_OF]}
    per_owner: dict[str, PowerFlowResult] = {}
    for owner in ms.owners:
        net = cs.transmission if owner == "T" else cs.feeders[owner]
        emap = ms.element_map[owner]
        labels = net.bus.index if owner == "T" else [feeder_label(owner, b) for b in net.bus.index]
        tables = {"res_bus": rows["res_bus"].take(rows["res_bus"].positions(np.asarray(labels)), net.bus.index)}
        for name, tab in TABLE_OF.items():
            tables[name] = rows[name].owned(emap.get(tab))
        per_owner[owner] = PowerFlowResult(
            network=net.name, converged=res.converged, iterations=res.iterations,
            max_mismatch_pu=res.max_mismatch_pu, method=res.method, **tables)
    res_boundary = boundary_table(cs, rows["res_trafo"].owned(ms.boundary_trafo), res.res_bus)
    ties = rows["res_line"].owned(ms.tie_line)
    return CoupledPowerFlowResult(
        converged=res.converged, iterations=iterations, max_mismatch_pu=res.max_mismatch_pu, method="merged",
        transmission=per_owner["T"], feeders={k: v for k, v in per_owner.items() if k != "T"},
        res_boundary=res_boundary, res_tie=ties, messages=list(res.messages),
    )


def boundary_table(cs: CoupledSystem, trafo_res: pd.DataFrame, bus_res: pd.DataFrame) -> pd.DataFrame:
    b = cs.boundary
    out = pd.DataFrame(index=b.index.copy())
    out["bus"] = b.bus
    out["p_mw"] = trafo_res.p_from_mw.reindex(b.index).to_numpy()
    out["q_mvar"] = trafo_res.q_from_mvar.reindex(b.index).to_numpy()
    out["vm_pu"] = bus_res.vm_pu.reindex(b.bus).to_numpy()
    out["va_degree"] = bus_res.va_degree.reindex(b.bus).to_numpy()
    out["pl_mw"] = trafo_res.pl_mw.reindex(b.index).to_numpy()
    out["ql_mvar"] = trafo_res.ql_mvar.reindex(b.index).to_numpy()
    return out


def run_merged(cs: CoupledSystem, *, tol: float = DEFAULT_TOL, max_iter: int = 30,
               enforce_q_lims: bool = False, check: bool = True,
               merged: MergedSystem | None = None) -> CoupledPowerFlowResult:
    """``merged``: ``cs`` merged already (by an earlier solve of ``cs`` as it is now), to be solved again."""
    t0 = time.perf_counter()
    ms = merged if merged is not None else (cs.validate() if check else cs.merge())
    cn = compile_network(ms.network)
    out, messages = solve_compiled(cn, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims)
    res = build_result(ms.network, cn, out.v, converged=out.converged, iterations=out.iterations,
                       max_mismatch=out.max_mismatch, method="newton")
    res.messages = messages
    result = split_merged_result(cs, ms, res, out.iterations)
    result.merged = (ms, res)
    result.time_s = time.perf_counter() - t0
    return result


@dataclass
class FeederSide:
    """A feeder with its boundary transformer, rooted at a copy of the T bus."""

    name: str
    network: Network
    cn: CompiledNetwork
    sweep: SweepModel
    trafo_index: int




def prepare_feeders(cs: CoupledSystem) -> dict[str, FeederSide]:
    sides = {}
    for fname in cs.feeders:
        net = feeder_with_boundary(cs, fname)
        cn = compile_network(net)
        sides[fname] = FeederSide(fname, net, cn, build_sweep(cn), int(net.trafo.index[-1]))
    return sides


def run_split(cs: CoupledSystem, *, tol: float = DEFAULT_TOL, boundary_tol: float = BOUNDARY_TOL,
              max_iter: int = 30, max_outer: int = 50, enforce_q_lims: bool = False,
              check: bool = True) -> CoupledPowerFlowResult:
    t0 = time.perf_counter()
    if len(cs.closed_ties()):
        raise TopologyError(
            f"coupled system {cs.name!r}: closed tie line(s) mesh the feeders; the split method needs radial feeders "
            "(use --method merged)"
        )
    if check:
        cs.validate()
    t_net = cs.transmission
    cn_t = compile_network(t_net)
    base = cn_t.base_mva
    p_load0, q_load0 = cn_t.p_load.copy(), cn_t.q_load.copy()
    pos = cn_t.position()
    live = cs.boundary[cs.boundary.in_service]
    bpos = np.array([pos[b] for b in live.bus], dtype=int)
    sides = prepare_feeders(cs)
    names = list(live.index)
    # initial boundary powers: the feeders' loads
    s_b = np.array([complex(cs.feeders[n].load.p_mw.sum(), cs.feeders[n].load.q_mvar.sum()) / base for n in names])
    v_t = initial_voltage(cn_t)
    v_f: dict[str, np.ndarray | None] = {n: None for n in sides}
    history: list[float] = []
    newton_its = 0
    sweep_its = 0
    converged = False
    t_out = None
    f_out = {}
    for outer in range(1, max_outer + 1):
        cn_t.p_load = p_load0.copy()
        cn_t.q_load = q_load0.copy()
        np.add.at(cn_t.p_load, bpos, s_b.real)
        np.add.at(cn_t.q_load, bpos, s_b.imag)
        t_out, messages = solve_compiled(cn_t, v_t, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims)
        newton_its += t_out.iterations
        if not t_out.converged:
            break
        v_t = t_out.v
        s_new = np.zeros_like(s_b)
        ok = True
        for k, n in enumerate(names):
            side = sides[n]
            vr = v_t[pos[live.at[n, "bus"]]]
            out = sweep_pf(side.sweep, vr, v0=v_f[n], tol=tol * base / side.cn.base_mva)
            sweep_its += out.iterations
            f_out[n] = out
            if not out.converged:
                ok = False
                break
            v_f[n] = out.v
            root = side.sweep.root
            ybus = side.cn.ybus()[0]
            s_root = out.v[root] * np.conj(ybus[root] @ out.v)  # injection of the HV slack into the feeder
            s_new[k] = complex(s_root.item() if hasattr(s_root, "item") else s_root) * side.cn.base_mva / base
        if not ok:
            break
        delta = float(np.max(np.abs(s_new - s_b))) if len(s_b) else 0.0
        history.append(delta)
        s_b = s_new
        if delta < boundary_tol:
            converged = True
            break
    # final transmission solve with the last boundary powers
    cn_t.p_load = p_load0.copy()
    cn_t.q_load = q_load0.copy()
    np.add.at(cn_t.p_load, bpos, s_b.real)
    np.add.at(cn_t.q_load, bpos, s_b.imag)
    if converged:
        t_out, messages = solve_compiled(cn_t, v_t, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims)
        newton_its += t_out.iterations
        converged = t_out.converged
    t_res = build_result(t_net, cn_t, t_out.v, converged=converged, iterations=newton_its,
                         max_mismatch=t_out.max_mismatch, method="newton")
    feeders: dict[str, PowerFlowResult] = {}
    trafo_rows = {}
    worst = t_out.max_mismatch * 1.0
    for n in names:
        side = sides[n]
        out = f_out.get(n)
        if out is None:
            continue
        r = build_result(side.network, side.cn, out.v, converged=out.converged and converged, iterations=out.iterations,
                         max_mismatch=out.max_mismatch, method="sweep")
        worst = max(worst, out.max_mismatch * side.cn.base_mva / base)
        trafo_rows[n] = r.res_trafo.loc[side.trafo_index]
        r.res_trafo = r.res_trafo.drop(index=side.trafo_index)
        r.res_bus = r.res_bus.drop(index=HV_BUS)
        r.res_ext_grid = r.res_ext_grid.iloc[0:0]
        feeders[n] = r
    trafo_res = pd.DataFrame(trafo_rows).T if trafo_rows else pd.DataFrame(columns=["p_from_mw", "q_from_mvar", "pl_mw", "ql_mvar"])
    res_boundary = boundary_table(cs, trafo_res, t_res.res_bus)
    result = CoupledPowerFlowResult(
        converged=converged, iterations=len(history), max_mismatch_pu=worst, method="split",
        transmission=t_res, feeders=feeders, res_boundary=res_boundary, history=history,
        messages=[f"{newton_its} Newton and {sweep_its} sweep iterations in {len(history)} boundary exchanges"],
    )
    result.time_s = time.perf_counter() - t0
    return result


def run_coupled(cs: CoupledSystem, method: str = "merged", **kwargs) -> CoupledPowerFlowResult:
    """Integrated power flow of ``cs`` by ``merged`` Newton or ``split`` master-slave iteration."""
    from tdcoord.pf.acdc import refuse_acdc_devices

    refuse_acdc_devices(cs, "the coupled T-D power flow")
    if method == "merged":
        return run_merged(cs, **kwargs)
    if method == "split":
        return run_split(cs, **kwargs)
    from tdcoord.errors import InputError

    raise InputError(f"power flow method {method!r}: expected 'merged' or 'split'")


__all__ = ["run_coupled", "run_merged", "run_split", "split_merged_result", "check_islands"]
