"""Multi-period scheduling of one network: the OPF recipe over a time axis.

    minimize    sum_t [ sum_g (c2 Pg^2 + c1 Pg + c0) + storage throughput cost ]
    subject to  every period: the formulation's balance and limits
                (:mod:`tdcoord.formulations`, ``dc`` or ``acp``), loads and
                renewable availability from the network's time series
                between periods: machines' ramp limits (``ramp_mw_per_h``),
                batteries' state of charge (:mod:`tdcoord.devices.storage`),
                capacitor-step switching counts (``max_switchings``)

It is the same recipe as :func:`tdcoord.problems.opf.solve_opf`, built once
with a period axis on every variable and parameter (a ``(n, T)`` block per
quantity, not a copy per period): the DC schedule with batteries is a MILP
(HiGHS) with exclusivity binaries, an LP/QP without them; on ``acp`` an NLP
(IPOPT, batteries relaxed, see :mod:`tdcoord.devices.storage`).

The result tables have a ``(period, element)`` index
(:mod:`tdcoord.results.tables`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.devices import DeviceOptions, build_devices
from tdcoord.devices.storage import overlap
from tdcoord.errors import InputError
from tdcoord.network.compiled import compile_network
from tdcoord.network.network import Network
from tdcoord.network.timeseries import bus_values, n_periods
from tdcoord.network.validate import validate
from tdcoord.problems.rpo import cost_sum, device_free_network
from tdcoord.results.tables import branch_flow_columns, periodic

COSTS = ("gen_cost", "storage_cost")


@dataclass
class ScheduleResult:
    """Outcome of :func:`solve_schedule`; ``tables`` have a (period, element) index."""

    network: str
    formulation: str
    periods: int
    converged: bool
    status: str
    solver: str
    objective: float = float("nan")
    terms: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    time_s: float = 0.0
    build_s: float = 0.0
    solve_s: float = 0.0
    n_variables: int = 0
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self, tables: bool = False) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("network", "formulation", "periods", "converged", "status", "solver",
                                             "objective", "terms", "iterations", "time_s", "build_s", "solve_s",
                                             "n_variables")}
        out.update(self.info)
        if self.messages:
            out["messages"] = list(self.messages)
        if tables:
            from tdcoord.results.tables import tables_to_json

            out["tables"] = tables_to_json(self.tables)
        return out


@dataclass
class Schedule:
    """A built multi-period model: the builder, the formulation, the devices (for re-solves and results)."""

    b: Any
    form: Any
    devices: list
    net: Network
    cn: Any
    periods: int
    dt_h: float
    build_s: float


def build_schedule(net: Network, *, formulation: str = "dc", periods: int | None = None, dt_h: float = 1.0,
                   backend: str = "auto", losses: bool = False, flow_limit: str = "mva",
                   storage_binaries: bool | None = None, builder: Any = None, prefix: str = "sched",
                   costs: bool = True) -> Schedule:
    """The multi-period model of ``net`` (see the module docstring); ``periods`` defaults to its time series'.

    ``builder``: add the model to this builder (its names under ``prefix``) instead of a new one, so that
    several networks (feeders under one model) share it; ``costs=False`` leaves the objective to the caller
    (the devices' cost expressions stay in :attr:`Schedule.devices`)."""
    from tdcoord.backends import new_builder
    from tdcoord.formulations import get_formulation

    t0 = time.perf_counter()
    T = n_periods(net) if periods is None else int(periods)
    if T < 1:
        raise InputError(f"network {net.name!r}: a schedule needs periods: attach time series "
                         f"(Network.set_timeseries) or give periods")
    if not dt_h > 0:
        raise InputError(f"dt_h = {dt_h!r}: expected a period length > 0 hours")
    cls = get_formulation(formulation)
    if backend == "auto":
        backend = "conic" if "conic" in cls.backends else "nlp"
    if backend not in cls.backends:
        raise InputError(f"the {formulation} schedule cannot be built on the {backend} backend")
    validate(net, radial=False)
    cn = compile_network(device_free_network(net))
    b = new_builder(backend, f"schedule_{net.name}") if builder is None else builder
    if b.backend != backend:
        raise InputError(f"the {formulation} schedule of {net.name!r}: the builder is {b.backend}, not {backend}")
    kw = {"losses": losses} if formulation == "dc" else {}
    form = cls(b, cn, prefix, periods=T, **kw)
    opts = DeviceOptions(free_p=True, dt_h=dt_h, storage_binaries=storage_binaries)
    devices = build_devices(b, form, net, cn, prefix, opts)
    constraint_balance_with_loads(b, form, net, cn, devices, prefix, T, flow_limit)
    if costs:
        for key in COSTS:
            b.objective_term(key, cost_sum(devices, key))
    return Schedule(b, form, devices, net, cn, T, dt_h, time.perf_counter() - t0)


def constraint_balance_with_loads(b: Any, form: Any, net: Network, cn: Any, devices: list, prefix: str, T: int,
                                  flow_limit: str = "mva") -> None:
    """Every bus's balance over ``T`` periods: the devices' injections less the loads (parameters
    ``<prefix>.p_load``, ``<prefix>.q_load`` from the network's series, so a re-solve can change them), and the
    branch ratings."""
    base = cn.base_mva
    p_load = b.parameter(f"{prefix}.p_load", bus_values(net, cn, "load", "p_mw", T, 1 / base))
    q_load = b.parameter(f"{prefix}.q_load", bus_values(net, cn, "load", "q_mvar", T, 1 / base))
    p_dev = _sum_periods(b, [d.p_bus for d in devices], cn.n_bus, T) - p_load
    q_dev = _sum_periods(b, [d.q_bus for d in devices], cn.n_bus, T) - q_load
    form.constraint_power_balance(p_dev, q_dev)
    form.constraint_thermal_limits(flow_limit)


def _sum_periods(b: Any, parts: list[Any], n: int, T: int) -> Any:
    total = b.ops.zeros(n, T)
    for p in parts:
        if p is not None:
            total = total + p
    return total


def solve_schedule(net: Network, *, solver: str | None = None, options: dict | None = None, **build: Any) -> ScheduleResult:
    """Build (:func:`build_schedule`) and solve the multi-period model of ``net``; tables of the schedule."""
    t0 = time.perf_counter()
    s = build_schedule(net, **build)
    b = s.b
    if b.backend == "nlp":
        sol = b.solve(options=options)
    else:
        sol = b.solve(solver=solver, options=options)
    res = ScheduleResult(network=net.name, formulation=s.form.name, periods=s.periods, converged=sol.ok,
                         status=sol.solver_status, solver=sol.solver, iterations=sol.iterations, build_s=s.build_s,
                         solve_s=sol.time_s, n_variables=int(sum(blk.size for blk in b.blocks.values())))
    if sol.ok:
        res.objective = sol.objective
        res.terms = dict(sol.terms)
        res.tables = schedule_tables(s, sol)
        res.info.update(sol.info)
        st = res.tables.get("res_storage")
        if st is not None and len(st):
            res.info["storage_overlap_mw"] = overlap(st.charge_mw.to_numpy(), st.discharge_mw.to_numpy())
    else:
        res.messages.append(f"{sol.solver.upper()}: {sol.solver_status}")
    res.time_s = time.perf_counter() - t0
    return res


def schedule_tables(s: Schedule, sol: Any) -> dict[str, pd.DataFrame]:
    """res_bus, res_line, res_trafo, res_gen, res_ext_grid, res_sgen, res_storage, res_shunt with a period level."""
    cn, form, base = s.cn, s.form, s.cn.base_mva
    vm, va = form.bus_values(sol)
    out: dict[str, pd.DataFrame] = {}
    bus_cols = {"vm_pu": vm if form.family == "ac" else np.full_like(va, np.nan), "va_degree": np.rad2deg(va)}
    lam = sol.lam.get(f"{form.prefix}.p_balance")
    if lam is not None and np.size(lam) == cn.n_bus * s.periods:  # a balance per bus (branch flow: per branch)
        bus_cols["lam_p"] = np.asarray(lam).reshape(cn.n_bus, -1, order="F") / base
    out["res_bus"] = periodic(cn.labels, bus_cols, "bus")
    flows = form.branch_values(sol)
    cols = branch_flow_columns(flows["pf"], flows["qf"], flows["pt"], flows["qt"], base)
    for table in ("line", "trafo"):
        sel = cn.br_table == table
        if sel.any():
            out[f"res_{table}"] = periodic(cn.br_index[sel], {k: v[sel] for k, v in cols.items()}, table)
    exprs, keys = [], []
    for k, d in enumerate(s.devices):
        for attr in ("p", "q"):
            e = getattr(d, attr)
            if e is not None:
                exprs.append(e)
                keys.append((k, attr))
        for name, e in d.other.items():
            exprs.append(e)
            keys.append((k, name))
    values = dict(zip(keys, s.b.evaluate(sol, exprs)))
    for k, d in enumerate(s.devices):
        ds = d.ds
        col: dict[str, np.ndarray] = {}
        for attr, unit in (("p", "p_mw"), ("q", "q_mvar")):
            if (k, attr) in values:
                col[unit] = values[(k, attr)] * base
        if ds.kind == "storage" and (k, "energy_mwh") in values:
            col["charge_mw"] = values[(k, "charge")] * base
            col["discharge_mw"] = values[(k, "discharge")] * base
            col["energy_mwh"] = values[(k, "energy_mwh")]
            col["soc"] = values[(k, "energy_mwh")] / ds.extra["e_max_mwh"].reshape(-1, 1)
        if (k, "step") in values:
            col["step"] = values[(k, "step")]
        if ds.kind in ("generator", "ext_grid") and form.family == "ac":
            col["vm_pu"] = vm[ds.bus]
        if col:
            out[f"res_{ds.table}"] = periodic(ds.index, col, ds.table)
    return out


__all__ = ["COSTS", "Schedule", "ScheduleResult", "build_schedule", "constraint_balance_with_loads", "schedule_tables",
           "solve_schedule"]
