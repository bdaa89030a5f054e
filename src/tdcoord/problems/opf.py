"""Optimal power flow under MATPOWER's conventions, AC (``acp``) or DC (``dc``).

    minimize    sum_g  c2 Pg^2 + c1 Pg + c0          (Pg in MW, $/h)
    over        the formulation's voltages, Pg (every machine), Qg (AC)
    subject to  bus P (and Q) balance
                vm_min <= Vm <= vm_max                 (AC)
                p_min <= Pg <= p_max, q_min <= Qg <= q_max (AC)
                Va(ref) = its set-point
                branch flow limits at both ends where a rating is given
                angle-difference limits tighter than +-360 degrees

The model is written against the formulation interface
(:mod:`tdcoord.formulations`): ``acp`` builds the AC OPF for IPOPT;
``dc`` the DC OPF (MATPOWER's ``rundcopf``: lossless B-theta, bus shunt
conductance counted as load, branch limits ``|Pf| <= rateA``, phase shifts
kept), a QP solved by HiGHS (Clarabel with ``losses=True``), or by IPOPT
with ``backend="nlp"``. Machines come from :mod:`tdcoord.devices.generator`
with every P freed within its limits.

AC flow limits (``flow_limit``):

- ``"mva"`` (MATPOWER, default): ``|S_end|^2 <= rate^2``;
- ``"current"`` (pandapower's convention, ``OPF_FLOW_LIM = 2``): the current
  ``|I| <= rate / (sqrt(3) vn)``, written in p.u. as
  ``|S_end|^2 <= rate^2 Vm_end^2``;
- ``"none"``: no flow limits.

External grids are slack sources without limits or cost, as everywhere in
tdcoord; sgens and SVCs stay at their set-points, shunts at their steps.

Start (``start``, AC): ``"flat"`` (default; Vm = 1 clipped into the bus
limits, Va = the reference angle, machines' P at their dispatch and Q = 0,
both clipped into their limits) or ``"pf"`` (the Newton power flow of the
case, flat where it does not converge).

A result is ``converged`` only when the solver reports success (or an
acceptable level) *and* the constraint violation at the returned point is
below ``max(10 tol, 1e-6)`` p.u.; otherwise ``objective`` is NaN (the last
iterate's value stays in ``solver_objective``), ``status`` is the solver's
own return string and no re-check is made. A converged dispatch is
re-checked by Newton power flow (:func:`tdcoord.pf.ac.run_newton`) on a copy
of the network with the optimized gen P and voltage set-points;
``pf_mismatch_pu`` is that power flow's Newton residual (largest bus
power mismatch, p.u.), as for every strategy of ``tdcoord opt``;
``recheck_dvm_pu`` and ``recheck_dva_deg`` are the largest differences
between the optimizer's and the re-check's voltage magnitudes and angles
(for ``dc`` the optimizer's magnitudes are 1, so the figures are the DC
approximation's error against the AC power flow at the same dispatch).
The slack machine takes up what the optimizer did not foresee.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.devices.base import DeviceOptions
from tdcoord.devices.generator import build_generator
from tdcoord.devices.generator import device_sets as generator_sets
from tdcoord.errors import InputError
from tdcoord.network.compiled import CompiledNetwork, compile_network
from tdcoord.network.network import Network
from tdcoord.network.validate import validate
from tdcoord.problems.rpo import bus_sum, cost_sum

FLOW_LIMITS = ("mva", "current", "none")
OPF_FORMULATIONS = ("acp", "dc")
STARTS = ("flat", "pf")


@dataclass
class OpfResult:
    """Outcome of :func:`solve_opf`.

    ``objective`` ($/h), ``p_loss_mw`` (active losses: the branches' and
    the shunts' conductance, as ``tdcoord opt`` counts them; generation
    minus load), ``pf_mismatch_pu`` (the re-check power flow's Newton
    residual) and ``recheck_dvm_pu``/``recheck_dva_deg`` (the largest
    difference between the optimizer's and the re-check's voltage
    magnitudes and angles) are NaN unless ``converged``; the result tables then
    hold IPOPT's last iterate, for diagnosis only. ``time_s`` is the
    wall time of the OPF itself (compiling the network, building the model
    and IPOPT); ``solver_time_s`` is IPOPT's part of it and
    ``recheck_time_s`` the time of the power-flow re-check, which is not
    included. ``res_bus`` is indexed by bus label (NaN for out-of-service
    buses) and holds ``vm_pu``, ``va_degree`` and the locational marginal
    prices ``lam_p``/``lam_q`` ($/MWh, $/Mvarh: the multipliers of the bus
    balances, MATPOWER's ``LAM_P``/``LAM_Q``); ``res_gen`` (and
    ``res_ext_grid``) are indexed like the network's tables.
    """

    network: str
    flow_limit: str
    converged: bool
    status: str
    objective: float = float("nan")
    solver_objective: float = float("nan")
    iterations: int = 0
    time_s: float = 0.0
    solver_time_s: float = 0.0
    recheck_time_s: float = 0.0
    res_bus: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_gen: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_ext_grid: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_line: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_trafo: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_shunt: pd.DataFrame = field(default_factory=pd.DataFrame)
    p_loss_mw: float = float("nan")
    max_violation_pu: float = float("nan")
    pf_mismatch_pu: float = float("nan")
    recheck_dvm_pu: float = float("nan")
    recheck_dva_deg: float = float("nan")
    messages: list[str] = field(default_factory=list)
    formulation: str = "acp"
    solver: str = ""

    SUMMARY_KEYS = ("objective", "converged", "status", "iterations", "time_s", "solver_time_s", "p_loss_mw",
                    "max_violation_pu", "pf_mismatch_pu", "recheck_dvm_pu", "recheck_dva_deg", "flow_limit", "formulation", "solver")

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables (see :mod:`tdcoord.results.tables`): buses, branches, machines."""
        out = {"res_bus": self.res_bus, "res_line": self.res_line, "res_trafo": self.res_trafo,
               "res_gen": self.res_gen, "res_ext_grid": self.res_ext_grid, "res_shunt": self.res_shunt}
        return {k: v for k, v in out.items() if len(v)}

    def summary(self, tables: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"network": self.network}
        for k in self.SUMMARY_KEYS:
            out[k] = getattr(self, k)
        if self.converged:
            # the dispatch: every machine's active power and voltage set-point
            out["dispatch"] = {name: {"index": df.index.tolist(), "p_mw": df.p_mw.astype(float).tolist(),
                                      "vm_pu": df.vm_pu.astype(float).tolist()}
                               for name, df in (("gen", self.res_gen), ("ext_grid", self.res_ext_grid)) if len(df)}
        if self.messages:
            out["messages"] = list(self.messages)
        if tables:
            from tdcoord.results.tables import tables_to_json

            out["tables"] = tables_to_json(self.tables)
        return out


def _branch_column(net: Network, cn: CompiledNetwork, column: str) -> np.ndarray:
    """A column of the line/trafo tables in the compiled branch order."""
    out = np.empty(cn.n_branch)
    for table in ("line", "trafo"):
        sel = cn.br_table == table
        if sel.any():
            out[sel] = getattr(net, table)[column].reindex(cn.br_index[sel]).to_numpy(float)
    return out


def _branch_tables(net: Network, cn: CompiledNetwork, flows: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    """res_line / res_trafo from the formulation's terminal flows (first period), NaN for branches out of service."""
    from tdcoord.results.tables import BRANCH_FLOW_COLUMNS, branch_flow_columns, tap_position

    cols = branch_flow_columns(flows["pf"][:, 0], flows["qf"][:, 0], flows["pt"][:, 0], flows["qt"][:, 0], cn.base_mva)
    out = {}
    for table in ("line", "trafo"):
        tab = getattr(net, table)
        if not len(tab):
            continue
        sel = cn.br_table == table
        df = pd.DataFrame(np.nan, index=tab.index.copy(), columns=BRANCH_FLOW_COLUMNS)
        for c in BRANCH_FLOW_COLUMNS:
            df.loc[cn.br_index[sel], c] = cols[c][sel]
        if table == "trafo":
            df["tap_pu"] = tab.tap_pu.to_numpy(float)
            df["tap_pos"] = tap_position(tab.tap_pu.to_numpy(float), tab.tap_step_pu.to_numpy(float))
        out[table] = df
    return out


def _shunt_table(net: Network, cn: CompiledNetwork, vm: np.ndarray) -> pd.DataFrame:
    """res_shunt at the bus voltages ``vm`` (p_mw: conductance consumption, q_mvar: consumption sense)."""
    sh = net.shunt
    pos = cn.position()
    live = (sh.in_service & sh.bus.isin(pos)).to_numpy(bool)
    v = np.array([vm[pos[b]] if ok else 0.0 for b, ok in zip(sh.bus, live)], dtype=float)
    return pd.DataFrame({"p_mw": (sh.gs_mw * sh.step).to_numpy(float) * v**2,
                         "q_mvar": -(sh.bs_mvar * sh.step).to_numpy(float) * v**2,
                         "step": sh.step.to_numpy(float), "vm_pu": np.where(live, v, np.nan)}, index=sh.index.copy())


def _empty_bus_table(net: Network) -> pd.DataFrame:
    return pd.DataFrame(np.nan, index=net.bus.index.copy(), columns=["vm_pu", "va_degree", "lam_p", "lam_q"])


def solve_opf(net: Network, *, formulation: str = "acp", flow_limit: str = "mva", tol: float = 1e-8,
              start: str = "flat", max_iter: int = 500, recheck: bool = True, options: dict | None = None,
              backend: str = "auto", losses: bool = False, solver: str | None = None) -> OpfResult:
    """OPF of ``net``: minimum total polynomial generation cost ($/h).

    ``formulation`` is ``"acp"`` or ``"dc"`` (``losses=True``: DC with the
    quadratic loss approximation); ``backend`` ``"auto"`` (IPOPT for acp,
    cvxpy for dc), ``"nlp"`` or ``"conic"``; ``solver`` names the conic
    solver (HIGHS, CLARABEL, SCIP). ``tol`` is IPOPT's convergence
    tolerance and its constraint-violation tolerance (p.u.); ``start`` is
    ``"flat"`` or ``"pf"`` (see the module docstring); ``recheck=False``
    skips the power-flow re-check; ``options`` are passed on to the solver
    (``{"ipopt.print_level": 5}`` shows IPOPT's iterations).
    """
    from tdcoord.backends import new_builder
    from tdcoord.formulations import get_formulation
    from tdcoord.pf.acdc import refuse_acdc_devices

    refuse_acdc_devices(net, "the OPF")
    if flow_limit not in FLOW_LIMITS:
        raise ValueError(f"flow_limit must be one of {', '.join(map(repr, FLOW_LIMITS))}, got {flow_limit!r}")
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(map(repr, STARTS))}, got {start!r}")
    if formulation not in OPF_FORMULATIONS:
        raise InputError(f"OPF formulation {formulation!r}: expected one of {', '.join(OPF_FORMULATIONS)}")
    cls = get_formulation(formulation)
    if backend == "auto":
        backend = "conic" if "conic" in cls.backends else "nlp"
    if backend not in cls.backends:
        raise InputError(f"the {formulation} OPF cannot be solved on the {backend} backend "
                         f"(it needs: {', '.join(cls.backends)})")
    t0 = time.perf_counter()
    validate(net, radial=False)
    cn = compile_network(net)
    base = cn.base_mva
    nb = cn.n_bus

    messages: list[str] = []
    vm0 = va0 = None
    pf0 = None
    if start == "pf" and formulation == "acp":
        from tdcoord.pf.ac import run_newton

        pf0 = run_newton(net, check=False)
        if pf0.converged:
            vm0 = pf0.res_bus.vm_pu.reindex(cn.labels).to_numpy(float)
            va0 = np.deg2rad(pf0.res_bus.va_degree.reindex(cn.labels).to_numpy(float))
        else:
            messages.append("start: the power flow did not converge; flat start used")
            pf0 = None
    b = new_builder(backend, f"opf_{net.name}")
    kw = {"losses": losses} if formulation == "dc" else {}
    form = cls(b, cn, "opf", start={"vm": vm0, "va": va0}, **kw)
    opts = DeviceOptions(free_p=True)
    machines = [build_generator(b, form, ds, "opf", opts) for ds in generator_sets(net, cn)]
    if pf0 is not None:
        for d in machines:
            tab = pf0.res_gen if d.ds.table == "gen" else pf0.res_ext_grid
            for col, key in (("p_mw", "p"), ("q_mvar", "q")):
                blk = b.blocks[f"opf.{d.ds.table}_{key}"]
                b.set_start(blk.name, np.clip(tab.loc[d.ds.index, col].to_numpy(float) / base, blk.lb[:, 0],
                                              blk.ub[:, 0]))
    p_dev = bus_sum(b, [d.p_bus for d in machines], nb) + (cn.p_fix - cn.p_load).reshape(-1, 1)
    q_dev = bus_sum(b, [d.q_bus for d in machines], nb) + (cn.q_fix - cn.q_load).reshape(-1, 1)
    form.constraint_power_balance(p_dev, q_dev)
    form.constraint_thermal_limits(flow_limit)
    form.constraint_angle_difference(_branch_column(net, cn, "ang_min_deg"), _branch_column(net, cn, "ang_max_deg"))
    b.objective_term("gen_cost", cost_sum(machines, "gen_cost"))
    if not len(net.gen) or not np.any(net.gen[["cost_c2", "cost_c1", "cost_c0"]].to_numpy(float)):
        messages.append("no generator has a cost: every feasible dispatch is optimal (objective 0)")
    if any(d.ds.table == "ext_grid" for d in machines):
        messages.append("ext_grid(s) present: slack sources without limits and without cost")

    if backend == "nlp":
        nlp_opts = {"ipopt.tol": tol, "ipopt.constr_viol_tol": tol, "ipopt.max_iter": max_iter}
        nlp_opts.update(options or {})
        sol = b.solve(options=nlp_opts)
        viol = b.max_violation(sol) if sol.g else float("inf")
    else:
        sol = b.solve(solver=solver, options=options)
        viol = 0.0 if sol.ok else float("inf")
    time_s = time.perf_counter() - t0

    converged = sol.ok and viol <= max(10 * tol, 1e-6)
    if sol.ok and not converged:
        messages.append(f"{sol.solver} reported {sol.solver_status} but the constraint violation is {viol:.3g} p.u.")

    res_bus = _empty_bus_table(net)
    tables: dict[str, pd.DataFrame] = {}
    for table in ("gen", "ext_grid"):
        df = pd.DataFrame(0.0, index=getattr(net, table).index.copy(), columns=["p_mw", "q_mvar", "vm_pu"])
        df["vm_pu"] = np.nan
        tables[table] = df
    v = np.full(nb, np.nan + 0j)
    p_loss = float("nan")
    branch: dict[str, pd.DataFrame] = {}
    shunt = pd.DataFrame()
    if sol.x:
        vm_all, va_all = form.bus_values(sol)
        vm, va = vm_all[:, 0], va_all[:, 0]
        res_bus.loc[cn.labels, "vm_pu"] = vm if formulation == "acp" else np.nan
        res_bus.loc[cn.labels, "va_degree"] = np.rad2deg(va)
        if sol.lam:
            res_bus.loc[cn.labels, "lam_p"] = np.asarray(sol.lam["opf.p_balance"]).ravel() / base
            if "opf.q_balance" in sol.lam:
                res_bus.loc[cn.labels, "lam_q"] = np.asarray(sol.lam["opf.q_balance"]).ravel() / base
        for d in machines:
            df = tables[d.ds.table]
            df.loc[d.ds.index, "p_mw"] = np.asarray(sol.x[f"opf.{d.ds.table}_p"]).ravel() * base
            if form.reactive:
                df.loc[d.ds.index, "q_mvar"] = np.asarray(sol.x[f"opf.{d.ds.table}_q"]).ravel() * base
                df.loc[d.ds.index, "vm_pu"] = vm[d.ds.bus]
            else:
                df.loc[d.ds.index, "q_mvar"] = np.nan
        v = vm * np.exp(1j * va)
        flows = form.branch_values(sol)
        shunt = _shunt_table(net, cn, vm if formulation == "acp" else np.ones(nb))
        if converged:
            # losses as `tdcoord opt` counts them: the branches' and the shunts' conductance
            p_loss = float((flows["pf"][:, 0] + flows["pt"][:, 0]).sum() * base + shunt.p_mw.sum())
        branch = _branch_tables(net, cn, flows)
    res = OpfResult(
        network=net.name, flow_limit=flow_limit, converged=bool(converged), status=sol.solver_status,
        objective=sol.objective if converged else float("nan"), solver_objective=sol.objective,
        iterations=sol.iterations, time_s=time_s, solver_time_s=sol.time_s, res_bus=res_bus,
        res_gen=tables["gen"], res_ext_grid=tables["ext_grid"], p_loss_mw=p_loss if converged else float("nan"),
        res_line=branch.get("line", pd.DataFrame()), res_trafo=branch.get("trafo", pd.DataFrame()), res_shunt=shunt,
        max_violation_pu=viol, messages=messages, formulation=formulation, solver=sol.solver,
    )
    if converged and recheck:
        t1 = time.perf_counter()
        res.pf_mismatch_pu, res.recheck_dvm_pu, res.recheck_dva_deg = _recheck(net, cn, res, v, messages,
                                                                                keep_vm=formulation != "acp")
        res.recheck_time_s = time.perf_counter() - t1
    return res


def _recheck(net: Network, cn: CompiledNetwork, res: OpfResult, v: np.ndarray, messages: list[str],
             keep_vm: bool = False) -> tuple[float, float, float]:
    """Newton power flow at the optimized set-points: its residual (p.u.), and the largest differences between
    the optimizer's and its voltage magnitudes (p.u.) and angles (degrees).

    ``keep_vm``: the machines keep the case's voltage set-points (a DC
    dispatch has none of its own).
    """
    from tdcoord.pf.ac import run_newton

    chk = net.copy()
    vm_of = pd.Series(np.abs(v), index=cn.labels)
    g = chk.gen.index[chk.gen.in_service & chk.gen.bus.isin(vm_of.index)]
    chk.gen.loc[g, "p_mw"] = res.res_gen.loc[g, "p_mw"].to_numpy()
    e = chk.ext_grid.index[chk.ext_grid.in_service & chk.ext_grid.bus.isin(vm_of.index)]
    if not keep_vm:
        chk.gen.loc[g, "vm_pu"] = vm_of.reindex(chk.gen.loc[g, "bus"]).to_numpy()
        chk.ext_grid.loc[e, "vm_pu"] = vm_of.reindex(chk.ext_grid.loc[e, "bus"]).to_numpy()
    pf = run_newton(chk, check=False)
    if not pf.converged:
        messages.append(f"power-flow re-check did not converge ({pf.iterations} iterations, "
                        f"mismatch {pf.max_mismatch_pu:.2e} p.u.)")
        return float("inf"), float("inf"), float("inf")
    rb = pf.res_bus.loc[cn.labels]
    dva = np.rad2deg(np.angle(v)) - rb.va_degree.to_numpy(float)
    dva = (dva + 180.0) % 360.0 - 180.0
    return (float(pf.max_mismatch_pu), float(np.max(np.abs(np.abs(v) - rb.vm_pu.to_numpy(float)))),
            float(np.max(np.abs(dva))))


__all__ = ["FLOW_LIMITS", "OpfResult", "solve_opf"]
