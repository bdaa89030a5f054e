"""Pieces shared by the strategies: starting points, dispatch, re-check.

A strategy's result is a *dispatch*: the set-points of every controllable
device (machine voltages, inverter/SVC reactive power, capacitor steps).
:func:`apply_dispatch` writes it into a copy of the coupled system, and the
integrated power flow of that copy is the independent re-check of the
operating point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.network.compiled import compile_network
from tdcoord.network.coupled import CoupledSystem
from tdcoord.pf.flows import branch_flows
from tdcoord.network.transforms import HV_BUS
from tdcoord.pf.integrated import run_coupled
from tdcoord.problems.rpo import AreaInputs, Weights, device_free_network, inputs_of
from tdcoord.problems.solutions import AreaSolution
from tdcoord.formulations.branch_flow import orient
from tdcoord.results.powerflow import CoupledPowerFlowResult


#: The set-points a dispatch holds, per element table.
SETPOINTS = {"gen": ("vm_pu", "p_mw"), "ext_grid": ("vm_pu",), "sgen": ("q_mvar",), "svc": ("q_mvar",),
             "shunt": ("step",)}


@dataclass
class Dispatch:
    """Device set-points per area: table -> DataFrame (index = element index)."""

    areas: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    vm: dict[str, pd.Series] = field(default_factory=dict)  # optimizer's bus voltages by label

    def to_json(self) -> dict:
        """``{area: {table: {"index": [...], column: [...]}}}`` with the columns of :data:`SETPOINTS`."""
        out: dict[str, dict] = {}
        for area, tables in self.areas.items():
            out[area] = {}
            for table, df in tables.items():
                cols = [c for c in SETPOINTS.get(table, ()) if c in df]
                out[area][table] = {"index": df.index.tolist(), **{c: df[c].astype(float).tolist() for c in cols}}
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Dispatch":
        d = cls()
        for area, tables in data.items():
            d.areas[area] = {}
            for table, cols in tables.items():
                d.areas[area][table] = pd.DataFrame({c: np.asarray(v, float) for c, v in cols.items() if c != "index"},
                                                    index=pd.Index(cols["index"]))
        return d


def start_point(cs: CoupledSystem, pf: CoupledPowerFlowResult,
                inputs: AreaInputs | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Starting values of every area's variables from a power flow (``inputs``: the areas' prepared networks)."""
    starts: dict[str, dict[str, np.ndarray]] = {}
    t = cs.transmission
    cn_t = compile_network(device_free_network(t))
    rb = pf.transmission.res_bus
    starts["T"] = {
        "vm": rb.vm_pu.reindex(cn_t.labels).to_numpy(),
        "va": np.deg2rad(rb.va_degree.reindex(cn_t.labels).to_numpy()),
    }
    names = list(cs.boundary.index[cs.boundary.in_service])
    bnd = pf.res_boundary
    starts["T"]["boundary_p"] = bnd.p_mw.reindex(names).to_numpy() / t.sn_mva
    starts["T"]["boundary_q"] = bnd.q_mvar.reindex(names).to_numpy() / t.sn_mva
    inputs = inputs_of(cs, inputs)
    for f in names:
        _, cn = inputs.feeder(f)
        fr = pf.feeders[f].res_bus
        tb = cs.boundary.at[f, "bus"]
        hv = cn.labels == HV_BUS
        vm = fr.vm_pu.reindex(cn.labels).to_numpy(float, copy=True)
        va = np.deg2rad(fr.va_degree.reindex(cn.labels).to_numpy(float))
        vm[hv], va[hv] = rb.at[tb, "vm_pu"], np.deg2rad(rb.at[tb, "va_degree"])
        v = vm * np.exp(1j * va)
        o = orient(cn, cn.position()[HV_BUS])
        sf, st = branch_flows(cn, v)
        s = np.where(o.tap_at_parent, sf, st)
        u = vm[o.parent] ** 2 * np.where(o.tap_at_parent, 1 / o.t2, 1.0)
        starts[f] = {"vm": vm, "p": s.real, "q": s.imag, "l": np.abs(s) ** 2 / u}
    return starts


def apply_dispatch(cs: CoupledSystem, dispatch: Dispatch) -> CoupledSystem:
    """A copy of ``cs`` with the dispatch's set-points written into its tables."""
    out = cs.copy()
    for area, tables in dispatch.areas.items():
        net = out.transmission if area == "T" else out.feeders[area]
        for table, df in tables.items():
            if table == "gen":
                net.gen.loc[df.index, "vm_pu"] = df.vm_pu.to_numpy()
                if "p_mw" in df:
                    fixed = ~net.gen.loc[df.index, "slack"].to_numpy(bool)
                    net.gen.loc[df.index[fixed], "p_mw"] = df.p_mw.to_numpy()[fixed]
            elif table == "ext_grid":
                if area == "T":
                    net.ext_grid.loc[df.index, "vm_pu"] = df.vm_pu.to_numpy()
            elif table == "sgen":
                net.sgen.loc[df.index, "q_mvar"] = df.q_mvar.to_numpy()
            elif table == "svc":
                net.svc.loc[df.index, "q_mvar"] = df.q_mvar.to_numpy()
            elif table == "shunt":
                steps = np.round(df.step.to_numpy()).astype(int)
                net.shunt.loc[df.index, "step"] = steps
    return out


def dispatch_of(solutions: list[AreaSolution]) -> Dispatch:
    d = Dispatch()
    for s in solutions:
        d.areas[s.name] = s.devices
        d.vm[s.name] = pd.Series(s.vm, index=s.bus_labels)
    return d


def recheck(cs: CoupledSystem, dispatch: Dispatch) -> tuple[CoupledSystem, CoupledPowerFlowResult, float]:
    """Integrated power flow at the dispatch, and the largest |Vm_opt - Vm_pf| over buses (p.u.)."""
    applied = apply_dispatch(cs, dispatch)
    pf = run_coupled(applied, "merged", check=False)
    dv = 0.0
    if pf.converged:
        res = pf.res_bus.vm_pu
        opt = pd.concat(list(dispatch.vm.values())) if dispatch.vm else pd.Series(dtype=float)
        opt = opt[~opt.index.duplicated()]
        common = opt.index.intersection(res.index)
        if len(common):
            dv = float(np.max(np.abs(opt[common].to_numpy() - res[common].to_numpy())))
    else:
        dv = float("inf")
    return applied, pf, dv


def base_case(cs: CoupledSystem) -> CoupledPowerFlowResult:
    return run_coupled(cs, "merged")


__all__ = ["Dispatch", "apply_dispatch", "base_case", "dispatch_of", "recheck", "start_point", "Any"]


def build_strategy_result(cs: CoupledSystem, strategy: str, solutions: list, *, status: str, converged: bool,
           time_s: float, iterations: int, weights: Weights, report_optimizer_vm: bool,
           floats_per_iteration: int, floats_total: int, solver_objective: float,
           discrete: dict | None = None, messages: list[str] | None = None, band=(0.95, 1.05),
           q_limit_recheck: bool = True):
    """Re-check a strategy's dispatch by power flow and fill its StrategyResult.

    The re-check holds every machine at its voltage set-point whatever its
    reactive output (the dispatch as given); its operating point is judged
    by all limits (:func:`tdcoord.problems.evaluate.evaluate`). With
    ``q_limit_recheck`` the same set-points are also solved with the
    machines' reactive limits enforced (a machine at a limit gives up its
    voltage, PV to PQ), as a grid would respond, and that point's figures
    are reported beside (``recheck_q_limits``).
    """
    from tdcoord.problems.evaluate import evaluate
    from tdcoord.results.optimization import StrategyResult

    dispatch = dispatch_of(solutions)
    applied, pf, dv_opt = recheck(cs, dispatch)
    res = StrategyResult(strategy=strategy, converged=converged and pf.converged, status=status,
                         solver_objective=solver_objective, weights=weights.as_dict(), iterations=iterations, time_s=time_s,
                         floats_per_iteration=floats_per_iteration, floats_total=floats_total, dispatch=dispatch, pf=pf,
                         discrete=discrete or {}, messages=list(messages or []))
    if not pf.converged:
        res.messages.append(f"re-check power flow did not converge ({pf.iterations} iterations)")
        res.converged = False
        return res
    ev = evaluate(applied, pf, weights, band=band)
    res.objective = ev.objective
    res.terms = ev.terms
    res.p_loss_mw = ev.p_loss_mw
    res.q_reserve_t_mvar = ev.q_reserve_t_mvar
    res.q_reserve_d_mvar = ev.q_reserve_d_mvar
    res.vm_min_pu, res.vm_max_pu = ev.vm_min_pu, ev.vm_max_pu
    res.violations = dict(ev.violations)
    res.n_violations = ev.n_violations
    res.violation_list = ev.offenders.to_dict(orient="records")
    res.dv_max_pu, res.dv_max_t_pu, res.dv_max_d_pu = ev.dv_max_pu, ev.dv_max_t_pu, ev.dv_max_d_pu
    res.devices = ev.devices
    res.vm_min_bus, res.vm_max_bus = ev.vm_min_bus, ev.vm_max_bus
    res.pf_mismatch_pu = float(pf.max_mismatch_pu)  # the re-check's Newton residual
    res.recheck_dvm_pu = dv_opt  # how far the optimizer's voltages are from the re-check's
    if not report_optimizer_vm:
        # an independent strategy's side assumed the other side's voltage; the figure is that assumption's error
        res.assumption_error_pu = dv_opt
    res.applied = applied
    res.table_maker = OperatingPointTables(applied, pf, dispatch, ev.devices)
    if q_limit_recheck:
        res.recheck_q_limits = q_limited_recheck(applied, weights, band, merged=pf.merged[0] if pf.merged else None)
    return res


def q_limited_recheck(applied: CoupledSystem, weights: Weights, band=(0.95, 1.05), merged=None) -> dict:
    """The dispatch's point with the machines' reactive limits enforced (PV to PQ), judged the same way
    (``merged``: ``applied`` merged, from the re-check)."""
    from tdcoord.problems.evaluate import evaluate

    pf = run_coupled(applied, "merged", check=False, enforce_q_lims=True, merged=merged)
    if not pf.converged:
        return {"converged": False, "iterations": int(pf.iterations)}
    ev = evaluate(applied, pf, weights, band=band)
    return {"converged": True, "objective": ev.objective, "p_loss_mw": ev.p_loss_mw, "vm_min_pu": ev.vm_min_pu,
            "vm_max_pu": ev.vm_max_pu, "violations": dict(ev.violations), "n_violations": ev.n_violations,
            "q_reserve_t_mvar": ev.q_reserve_t_mvar, "q_reserve_d_mvar": ev.q_reserve_d_mvar}


@dataclass
class OperatingPointTables:
    """Makes the result tables of a re-checked point when they are first asked for (picklable)."""

    applied: CoupledSystem
    pf: CoupledPowerFlowResult
    dispatch: Dispatch
    devices: pd.DataFrame | None = None

    def __call__(self) -> dict:
        return operating_point_tables(self.applied, self.pf, self.dispatch, self.devices)


RESERVE_COLUMNS = ("q_max_mvar", "reserve_mvar", "controllable", "response_ms", "cost", "subtype")


def operating_point_tables(applied: CoupledSystem, pf: CoupledPowerFlowResult, dispatch: Dispatch,
                           devices: pd.DataFrame | None = None) -> dict:
    """Result tables of the re-checked point.

    ``res_bus`` also holds the optimizer's own voltage (``vm_opt_pu``); the
    tables of reactive sources (``res_gen``, ``res_sgen``, ``res_svc``,
    ``res_shunt``) their upward capability, reserve, response time and
    cost (``devices``, the evaluation's table of sources: the columns of
    :data:`RESERVE_COLUMNS`).
    """
    from tdcoord.pf.tables import coupled_tables

    tables = coupled_tables(applied, pf)
    if devices is not None and len(devices):
        for (network, table), rows in devices.groupby(["network", "table"], sort=False):
            key = f"res_{table}" if network == "T" else f"{network}:res_{table}"
            if key in tables:
                info = rows.set_index("index")[list(RESERVE_COLUMNS)]
                tables[key] = tables[key].join(info, how="left")
    for area, vm in dispatch.vm.items():
        key = "res_bus" if area == "T" else f"{area}:res_bus"
        if key not in tables:
            continue
        local = vm.copy()
        if area != "T":
            local = local[local.index.str.startswith(f"{area}:")]
            local.index = [lab.split(":", 1)[1] for lab in local.index]
        tables[key]["vm_opt_pu"] = local.reindex(tables[key].index).to_numpy(float)
    return tables
