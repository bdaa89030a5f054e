"""Classic AC optimal power flow under MATPOWER's conventions.

    minimize    sum_g  c2 Pg^2 + c1 Pg + c0          (Pg in MW, $/h)
    over        Va, Vm (every bus), Pg, Qg (every machine)
    subject to  bus P and Q balance (AC polar, :mod:`tdcoord.formulations.acp`)
                vm_min <= Vm <= vm_max                 (bus limits)
                p_min <= Pg <= p_max, q_min <= Qg <= q_max
                Va(ref) = its set-point
                branch flow limits at both ends where a rating is given
                angle-difference limits tighter than +-360 degrees

Flow limits (``flow_limit``):

- ``"mva"`` (MATPOWER, default): ``|S_end|^2 <= rate^2``;
- ``"current"`` (pandapower's convention, ``OPF_FLOW_LIM = 2``): the current
  ``|I| <= rate / (sqrt(3) vn)``, written in p.u. as
  ``|S_end|^2 <= rate^2 Vm_end^2``;
- ``"none"``: no flow limits.

The model is built from the project's blocks: :func:`build_acp` (voltages,
branch flows, bus injections), :mod:`tdcoord.devices.generator` (machine
variables, every P freed within its limits) and :class:`NlpBuilder` (IPOPT
with exact derivatives through casadi). The constraints written here are
vectorized casadi operations (no loop over branches). External grids are slack sources without
limits or cost, as everywhere in tdcoord; sgens and SVCs stay at their
set-points, shunts at their steps.

Start (``start``): ``"flat"`` (default; Vm = 1 clipped into the bus limits,
Va = the reference angle, machines' P at their dispatch and Q = 0, both
clipped into their limits) or ``"pf"`` (the Newton power flow of the case,
flat where it does not converge). IPOPT converges from either in 8 to 14
iterations on case9, case14, case30 and case118; the flat start is the
default because it needs no power flow solution, which a stressed case may
not have.

A result is ``converged`` only when IPOPT reports success (or an
acceptable level) *and* the constraint violation at the returned point is
below ``max(10 tol, 1e-6)`` p.u.; otherwise ``objective`` is NaN (the last
iterate's value stays in ``solver_objective``), ``status`` is IPOPT's own
return string and no re-check is made. A converged dispatch is re-checked
by Newton power flow (:func:`tdcoord.pf.ac.run_newton`) on a copy of the
network with the optimized gen P and voltage set-points;
``pf_mismatch_pu`` is the largest ``|V_opt - V_pf|`` over buses (complex,
p.u.).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import casadi as ca
import numpy as np
import pandas as pd

from tdcoord.backends.casadi_nlp import NlpBuilder
from tdcoord.devices import generator
from tdcoord.formulations.acp import add_angle_limits, add_balance, add_flow_limits, build_acp
from tdcoord.network.compiled import CompiledNetwork, compile_network
from tdcoord.network.network import Network
from tdcoord.network.validate import validate
from tdcoord.pf.flows import branch_flows

FLOW_LIMITS = ("mva", "current", "none")
STARTS = ("flat", "pf")


@dataclass
class OpfResult:
    """Outcome of :func:`solve_opf`.

    ``objective`` ($/h), ``p_loss_mw`` (branch losses) and
    ``pf_mismatch_pu`` are NaN unless ``converged``; the result tables then
    hold IPOPT's last iterate, for diagnosis only. ``time_s`` is the
    wall time of the OPF itself (compiling the network, building the model
    and IPOPT); ``solver_time_s`` is IPOPT's part of it and
    ``recheck_time_s`` the time of the power-flow re-check, which is not
    included. ``res_bus`` is indexed by bus label (NaN for out-of-service
    buses) and holds ``vm_pu``, ``va_deg`` and the locational marginal
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
    p_loss_mw: float = float("nan")
    max_violation_pu: float = float("nan")
    pf_mismatch_pu: float = float("nan")
    messages: list[str] = field(default_factory=list)

    SUMMARY_KEYS = ("objective", "converged", "status", "iterations", "time_s", "solver_time_s", "p_loss_mw",
                    "max_violation_pu", "pf_mismatch_pu", "flow_limit")

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"network": self.network}
        for k in self.SUMMARY_KEYS:
            out[k] = getattr(self, k)
        if self.messages:
            out["messages"] = list(self.messages)
        return out


def _branch_column(net: Network, cn: CompiledNetwork, column: str) -> np.ndarray:
    """A column of the line/trafo tables in the compiled branch order."""
    out = np.empty(cn.n_branch)
    for table in ("line", "trafo"):
        sel = cn.br_table == table
        if sel.any():
            out[sel] = getattr(net, table)[column].reindex(cn.br_index[sel]).to_numpy(float)
    return out


def _current_limits(b: NlpBuilder, m: Any) -> None:
    """|S_end|^2 <= rate^2 Vm_end^2 at both ends of every rated branch (p.u.)."""
    cn = m.cn
    rated = np.flatnonzero(np.isfinite(cn.rate))
    if not len(rated):
        return
    idx = rated.tolist()
    rate2 = cn.rate[rated] ** 2
    vf2 = m.vm[cn.f[rated].tolist()] ** 2
    vt2 = m.vm[cn.t[rated].tolist()] ** 2
    sf2 = m.pf[idx] ** 2 + m.qf[idx] ** 2
    st2 = m.pt[idx] ** 2 + m.qt[idx] ** 2
    b.ineq(f"{m.prefix}.i_from", sf2 - rate2 * vf2, -np.inf, 0.0)
    b.ineq(f"{m.prefix}.i_to", st2 - rate2 * vt2, -np.inf, 0.0)


def _empty_bus_table(net: Network) -> pd.DataFrame:
    return pd.DataFrame(np.nan, index=net.bus.index.copy(), columns=["vm_pu", "va_deg", "lam_p", "lam_q"])


def solve_opf(net: Network, *, flow_limit: str = "mva", tol: float = 1e-8, start: str = "flat", max_iter: int = 500,
              recheck: bool = True, options: dict | None = None) -> OpfResult:
    """AC OPF of ``net``: minimum total polynomial generation cost ($/h).

    ``tol`` is IPOPT's convergence tolerance and its constraint-violation
    tolerance (p.u.); ``start`` is ``"flat"`` or ``"pf"`` (see the module
    docstring); ``recheck=False`` skips the power-flow re-check;
    ``options`` are passed on to casadi/IPOPT (``{"ipopt.print_level": 5}``
    shows the iterations).
    """
    if flow_limit not in FLOW_LIMITS:
        raise ValueError(f"flow_limit must be one of {', '.join(map(repr, FLOW_LIMITS))}, got {flow_limit!r}")
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(map(repr, STARTS))}, got {start!r}")
    t0 = time.perf_counter()
    validate(net, radial=False)
    cn = compile_network(net)
    base = cn.base_mva
    nb = cn.n_bus

    messages: list[str] = []
    vm0 = va0 = None
    pf0 = None
    if start == "pf":
        from tdcoord.pf.ac import run_newton

        pf0 = run_newton(net, check=False)
        if pf0.converged:
            vm0 = pf0.res_bus.vm_pu.reindex(cn.labels).to_numpy(float)
            va0 = np.deg2rad(pf0.res_bus.va_deg.reindex(cn.labels).to_numpy(float))
        else:
            messages.append("start: the power flow did not converge; flat start used")
            pf0 = None
    b = NlpBuilder(f"opf_{net.name}")
    m = build_acp(b, cn, "opf", vm0=vm0, va0=va0)
    machines = [generator.declare(b, "opf", ds, nb, free_p=True) for ds in generator.collect(net, cn)]
    if pf0 is not None:
        for d in machines:
            tab = pf0.res_gen if d.ds.table == "gen" else pf0.res_ext_grid
            for col, key in (("p_mw", "p"), ("q_mvar", "q")):
                blk = b.blocks[f"opf.{d.ds.table}_{key}"]
                b.set_start(blk.name, np.clip(tab.loc[d.ds.index, col].to_numpy(float) / base, blk.lb, blk.ub))
    p_dev = (cn.p_fix - cn.p_load) + sum((d.p_bus for d in machines), ca.SX.zeros(nb))
    q_dev = (cn.q_fix - cn.q_load) + sum((d.q_bus for d in machines), ca.SX.zeros(nb))
    add_balance(b, m, p_dev, q_dev)
    if flow_limit == "mva":
        add_flow_limits(b, m)
    elif flow_limit == "current":
        _current_limits(b, m)
    add_angle_limits(b, m, _branch_column(net, cn, "ang_min_deg"), _branch_column(net, cn, "ang_max_deg"))

    gens = [d for d in machines if d.ds.table == "gen"]
    if gens:
        g = gens[0]
        c = net.gen.loc[g.ds.index, ["cost_c2", "cost_c1", "cost_c0"]].to_numpy(float)
        p_mw = g.p * base
        b.cost("gen_cost", ca.sum1(c[:, 0] * p_mw**2 + c[:, 1] * p_mw) + float(c[:, 2].sum()))
    else:
        b.cost("gen_cost", ca.SX(0.0))
    if any(d.ds.table == "ext_grid" for d in machines):
        messages.append("ext_grid(s) present: slack sources without limits and without cost")

    opts = {"ipopt.tol": tol, "ipopt.constr_viol_tol": tol, "ipopt.max_iter": max_iter}
    opts.update(options or {})
    sol = b.solve(options=opts)
    time_s = time.perf_counter() - t0

    viol = b.max_violation(sol) if sol.g else float("inf")
    converged = sol.ok and viol <= max(10 * tol, 1e-6)
    if sol.ok and not converged:
        messages.append(f"IPOPT reported {sol.solver_status} but the constraint violation is {viol:.3g} p.u.")

    x = sol.x
    vm, va = x["opf.vm"], x["opf.va"]
    res_bus = _empty_bus_table(net)
    res_bus.loc[cn.labels, "vm_pu"] = vm
    res_bus.loc[cn.labels, "va_deg"] = np.rad2deg(va)
    if sol.lam:
        res_bus.loc[cn.labels, "lam_p"] = sol.lam["opf.p_balance"] / base
        res_bus.loc[cn.labels, "lam_q"] = sol.lam["opf.q_balance"] / base
    tables: dict[str, pd.DataFrame] = {}
    for table in ("gen", "ext_grid"):
        df = pd.DataFrame(0.0, index=getattr(net, table).index.copy(), columns=["p_mw", "q_mvar", "vm_pu"])
        df["vm_pu"] = np.nan
        for d in machines:
            if d.ds.table == table:
                df.loc[d.ds.index, "p_mw"] = x[f"opf.{table}_p"] * base
                df.loc[d.ds.index, "q_mvar"] = x[f"opf.{table}_q"] * base
                df.loc[d.ds.index, "vm_pu"] = vm[d.ds.bus]
        tables[table] = df
    v = vm * np.exp(1j * va)
    sf, st = branch_flows(cn, v)
    res = OpfResult(
        network=net.name, flow_limit=flow_limit, converged=bool(converged), status=sol.solver_status,
        objective=sol.objective if converged else float("nan"), solver_objective=sol.objective,
        iterations=sol.iterations, time_s=time_s, solver_time_s=sol.time_s, res_bus=res_bus,
        res_gen=tables["gen"], res_ext_grid=tables["ext_grid"],
        p_loss_mw=float((sf + st).real.sum() * base) if converged else float("nan"),
        max_violation_pu=viol, messages=messages,
    )
    if converged and recheck:
        t1 = time.perf_counter()
        res.pf_mismatch_pu = _recheck(net, cn, res, v, messages)
        res.recheck_time_s = time.perf_counter() - t1
    return res


def _recheck(net: Network, cn: CompiledNetwork, res: OpfResult, v: np.ndarray, messages: list[str]) -> float:
    """Largest |V_opt - V_pf| of a Newton power flow at the optimized set-points."""
    from tdcoord.pf.ac import run_newton

    chk = net.copy()
    vm_of = pd.Series(np.abs(v), index=cn.labels)
    g = chk.gen.index[chk.gen.in_service & chk.gen.bus.isin(vm_of.index)]
    chk.gen.loc[g, "p_mw"] = res.res_gen.loc[g, "p_mw"].to_numpy()
    chk.gen.loc[g, "vm_pu"] = vm_of.reindex(chk.gen.loc[g, "bus"]).to_numpy()
    e = chk.ext_grid.index[chk.ext_grid.in_service & chk.ext_grid.bus.isin(vm_of.index)]
    chk.ext_grid.loc[e, "vm_pu"] = vm_of.reindex(chk.ext_grid.loc[e, "bus"]).to_numpy()
    pf = run_newton(chk, check=False)
    if not pf.converged:
        messages.append("power-flow re-check did not converge")
        return float("inf")
    rb = pf.res_bus.loc[cn.labels]
    v_pf = rb.vm_pu.to_numpy(float) * np.exp(1j * np.deg2rad(rb.va_deg.to_numpy(float)))
    return float(np.max(np.abs(v - v_pf)))


__all__ = ["FLOW_LIMITS", "OpfResult", "solve_opf"]
