"""Sensitivity-aware smart-inverter dispatch of one feeder: a MILP over IEEE 1547 modes and curves.

The feeder's voltages and its exchange at the point of common coupling
(PCC) are linearized at an AC operating point per period
(:func:`linearize`, with :mod:`tdcoord.pf.sensitivity`):

    V   = V0 + dV/dP (P - P0) + dV/dQ (Q - Q0)        every bus but the root
    Qpcc = Q0pcc + dQpcc/dP (P - P0) + dQpcc/dQ (Q - Q0)

and the inverters' operating points lie on the curve of the option each
picks (:mod:`tdcoord.devices.inverter_modes`: mode, curve, VRef; one
choice per inverter for the whole horizon). Voltages stay within the band
(0.95-1.05 p.u. by default). The objective is the curtailed energy (MWh),
plus ``q_weight`` (0.01 by default) times the reactive effort sum |Q|
(Mvarh) so that among dispatches with the least curtailment the one that
moves the least reactive power is chosen; a TSO request fixes Qpcc per
period. :func:`solve_pcc_capability` finds the smallest and largest Qpcc that
the feeder can reach without curtailing more than a given amount.

Among dispatches that tie, the settings closest to the standard's default
win: each inverter adds ``change_weight`` (1e-4) for a droop curve other
than the category's default volt-var curve and twice that for a set-point
mode (constant power factor or constant Q), which does not respond to the
voltage between two dispatches. In one period a volt-var curve with a free
VRef reaches any reactive power at any voltage, as constant Q does: without
this preference the choice among them would be the solver's.

A volt-var option whose droop is too steep for an inverter's own Q-V
sensitivity (slope times dV/dQ at its bus of ``loop_gain_max`` = 1 or more:
the undamped local loop would oscillate) is not offered to it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tdcoord.devices.ieee1547 import (CATEGORY, SETTING_COLUMNS, VREF_RANGE, default_settings, inverter_rows,
                                      p_rated)
from tdcoord.devices.inverter_modes import FORMS, InverterData, Option, build_menu, chosen, constraint_modes
from tdcoord.errors import InputError, SolveError
from tdcoord.network.compiled import REF, compile_network
from tdcoord.network.network import Network
from tdcoord.pf.ac import solve_compiled
from tdcoord.pf.sensitivity import injection_sensitivities


SCIP_SOS_PARAMS = {"constraints/SOS1/maxsosadjacency": 0}
"""SCIP skips the conflict graph of the SOS1 sets (its adjacency analysis): on the ieee123 single-period model
it halves the SOS1 form's time (8.9 -> 4.0 s) and changes nothing else measured (docs/smart-inverters.md)."""


@dataclass
class Linearization:
    """A feeder linearized per period at an AC operating point (MW, Mvar, p.u.)."""

    net: Network
    index: pd.Index  # inverters (sgen index)
    inv_bus: np.ndarray  # bus position of each inverter
    monitored: np.ndarray  # bus positions whose voltage is limited (all but the root)
    labels: np.ndarray  # bus labels, in position order
    base_mva: float
    p_avail: np.ndarray  # (n, T)
    p0: np.ndarray  # (n, T) the linearization point
    q0: np.ndarray
    vm0: np.ndarray  # (n_bus, T)
    dv_dp: np.ndarray  # (T, n_bus, n) p.u. per MW
    dv_dq: np.ndarray  # (T, n_bus, n) p.u. per Mvar
    p_pcc0: np.ndarray  # (T,) flow into the feeder at the root, MW
    q_pcc0: np.ndarray
    dpcc_dp: np.ndarray  # (T, n) MW/MW
    dpcc_dq: np.ndarray
    dqpcc_dp: np.ndarray  # (T, n) Mvar/MW
    dqpcc_dq: np.ndarray
    nets: list = field(default_factory=list)  # the network of every column (period or scenario)
    scenarios: tuple | None = None  # (pv, load) per column when the columns are scenarios of one point

    @property
    def periods(self) -> int:
        return self.p_avail.shape[1]


def _period_nets(net: Network, periods: int | Sequence[int] | None) -> list[Network]:
    n = net.n_periods
    if periods is None:
        return [net] if n == 0 else [net.at_period(t) for t in range(n)]
    if not isinstance(periods, (int, np.integer)):  # the listed periods of the series
        picks = [int(t) for t in periods]
        if not n:
            raise InputError(f"feeder {net.name!r} has no time series to pick periods {picks} from")
        if not picks or any(not 0 <= t < n for t in picks):
            raise InputError(f"feeder {net.name!r}: periods {picks}, expected a non-empty list within 0..{n - 1} "
                             f"(its series have {n})")
        return [net.at_period(t) for t in picks]
    if n and periods > n:
        raise InputError(f"feeder {net.name!r}: {periods} periods asked for, its series have {n}")
    return [net.at_period(t) if n else net for t in range(periods)]


def spread_periods(count: int, day: int = 24, anchor: int = 12) -> list[int]:
    """``count`` periods of a ``day`` spaced evenly from ``anchor`` (the hour of the PV peak by default), in order:
    1 -> [12]; 2 -> [0, 12]; 4 -> [0, 6, 12, 18]; 24 -> every hour. A horizon of a few periods then holds the
    day's extremes, where the first few hours would all be night."""
    if not 1 <= count <= day:
        raise InputError(f"periods {count}: expected 1..{day}")
    return sorted({(anchor + round(k * day / count)) % day for k in range(count)})


def scenario_nets(net: Network, scenarios: tuple[tuple[float, float], ...]) -> list[Network]:
    """Copies of ``net`` with every inverter's available power times ``pv`` and every load times ``load``, one
    per ``(pv, load)`` of ``scenarios``."""
    if net.n_periods:
        raise InputError(f"feeder {net.name!r} carries time series: scenarios are variations of one operating "
                         f"point, not of a day (take one period first)")
    inv = inverter_rows(net).index
    out = []
    for k, sc in enumerate(scenarios):
        try:
            pv, load = (float(x) for x in sc)
        except (TypeError, ValueError):
            raise InputError(f"scenario {k}: {sc!r}, expected a pair (pv factor, load factor)") from None
        if not (0 <= pv <= 2 and 0 <= load <= 2):
            raise InputError(f"scenario {k}: factors ({pv}, {load}), expected within [0, 2]")
        nt = net.copy(timeseries=False)
        nt.sgen.loc[inv, "p_mw"] *= pv
        nt.load["p_mw"] *= load
        nt.load["q_mvar"] *= load
        out.append(nt)
    return out


def linearize(net: Network, p_now: np.ndarray | None = None, q_now: np.ndarray | None = None,
              periods: int | Sequence[int] | None = None, index: pd.Index | None = None,
              scenarios: tuple[tuple[float, float], ...] | None = None) -> Linearization:
    """Linearize ``net`` at the inverters' ``p_now``, ``q_now`` ((n, T) MW, Mvar; default: available power and
    the tables' Q) per period of its series (the first ``periods`` of them, or the periods listed; none: one
    period), or per scenario: the columns are then variations ``(pv, load)`` of the one operating point, the
    first being the forecast."""
    nets = scenario_nets(net, scenarios) if scenarios else _period_nets(net, periods)
    inv = inverter_rows(net) if index is None else net.sgen.loc[index]
    if not len(inv):
        raise InputError(f"feeder {net.name!r} has no inverter (an in-service sgen with sn_mva) to dispatch")
    t_n = len(nets)
    n = len(inv)
    p_av = np.column_stack([nt.sgen.loc[inv.index, "p_mw"].to_numpy(float) for nt in nets])
    p0 = p_av.copy() if p_now is None else np.asarray(p_now, float).reshape(n, t_n)
    q0 = (np.column_stack([nt.sgen.loc[inv.index, "q_mvar"].to_numpy(float) for nt in nets])
          if q_now is None else np.asarray(q_now, float).reshape(n, t_n))
    out: dict[str, list] = {k: [] for k in ("vm", "dvp", "dvq", "pp", "qp", "dpp", "dpq", "dqp", "dqq")}
    cn = None
    for t, nt in enumerate(nets):
        work = nt.copy(timeseries=False)
        work.sgen.loc[inv.index, "p_mw"] = p0[:, t]
        work.sgen.loc[inv.index, "q_mvar"] = q0[:, t]
        cn = compile_network(work)
        res, _ = solve_compiled(cn)
        if not res.converged:
            raise SolveError(f"feeder {net.name!r}, period {t}: the AC power flow at the linearization point did "
                             f"not converge (mismatch {res.max_mismatch:.2e} p.u.)")
        pos = cn.position()
        buses = np.array([pos[b] for b in inv.bus])
        s = injection_sensitivities(cn, res.v, buses)
        base = cn.base_mva
        out["vm"].append(s.vm)
        out["dvp"].append(s.dv_dp / base)
        out["dvq"].append(s.dv_dq / base)
        out["pp"].append(s.p_slack * base)
        out["qp"].append(s.q_slack * base)
        out["dpp"].append(s.dps_dp)
        out["dpq"].append(s.dps_dq)
        out["dqp"].append(s.dqs_dp)
        out["dqq"].append(s.dqs_dq)
    assert cn is not None
    monitored = np.flatnonzero(cn.bus_type != REF)
    return Linearization(net=net, index=inv.index, inv_bus=buses, monitored=monitored, labels=cn.labels,
                         base_mva=cn.base_mva, p_avail=p_av, p0=p0, q0=q0, vm0=np.column_stack(out["vm"]),
                         dv_dp=np.stack(out["dvp"]), dv_dq=np.stack(out["dvq"]), p_pcc0=np.array(out["pp"]),
                         q_pcc0=np.array(out["qp"]), dpcc_dp=np.stack(out["dpp"]), dpcc_dq=np.stack(out["dpq"]),
                         dqpcc_dp=np.stack(out["dqp"]), dqpcc_dq=np.stack(out["dqq"]), nets=nets,
                         scenarios=tuple(tuple(float(x) for x in sc) for sc in scenarios) if scenarios else None)


@dataclass
class DispatchOptions:
    form: str = "binary"  # sos1 | sos2 | binary (the fastest measured: docs/smart-inverters.md)
    solver: str = "HIGHS"  # SCIP (every form) | HIGHS (binary)
    menu: str = "full"  # full | default-vv (the category's default volt-var curve, VRef 1.0, curtailment only)
    category: str = "B"
    v_band: tuple[float, float] = (0.95, 1.05)
    q_request_mvar: np.ndarray | None = None  # (T,) the TSO's request at the PCC
    q_weight: float = 0.01  # per Mvarh of reactive effort, against 1 per MWh curtailed
    change_weight: float = 1e-4  # per inverter and step away from the default volt-var curve (see the docstring)
    curtailment_cap_mwh: float | None = None  # for the capability range (on the sum over columns)
    objective: str = "curtailment"  # curtailment | q_pcc_min | q_pcc_max
    loop_gain_max: float = 1.0
    scenarios: tuple | None = None  # (pv, load) variations of the point that one setting must hold (see linearize)
    gap: float = 1e-6
    time_limit_s: float = 120.0


@dataclass
class Dispatch:
    """A solved dispatch (or a failed one: ``status`` and ``solver_status`` say why)."""

    status: str
    solver_status: str
    form: str
    solver: str
    objective: float
    time_s: float  # the solver's time
    build_s: float
    inverters: pd.DataFrame = field(default_factory=pd.DataFrame)  # per sgen: option, mode, vref_pu
    p_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (n, T)
    q_mvar: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    vm_pu: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (n_bus, T) predicted, root included
    q_pcc_mvar: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (T,) predicted
    p_pcc_mw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curtailment_mwh: float = float("nan")
    available_mwh: float = float("nan")
    curtailment_by_column: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scenarios: bool = False  # the columns are scenarios of one point (the first the forecast), not periods
    options: list[Option] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("optimal", "acceptable")

    @property
    def q_pcc_point(self) -> float:
        """The PCC reactive exchange the dispatch stands for: the forecast's (scenarios) or the horizon's sum."""
        return float(self.q_pcc_mvar[0] if self.scenarios else self.q_pcc_mvar.sum())

    @property
    def curtailment_pct(self) -> float:
        return 100.0 * self.curtailment_mwh / self.available_mwh if self.available_mwh > 0 else 0.0


def check_options(opts: DispatchOptions, lin: Linearization) -> None:
    """Raise :class:`InputError` on options that are not what the model can take."""
    if opts.form not in FORMS:
        raise InputError(f"form {opts.form!r}: expected one of {', '.join(FORMS)}")
    if opts.solver.upper() not in ("SCIP", "HIGHS"):
        raise InputError(f"solver {opts.solver!r}: expected SCIP or HIGHS")
    if opts.solver.upper() == "HIGHS" and opts.form != "binary":
        raise InputError(f"form {opts.form!r} has special ordered sets: SCIP solves it, HiGHS only the binary form")
    if opts.menu not in ("full", "default-vv"):
        raise InputError(f"menu {opts.menu!r}: expected full or default-vv")
    if opts.category not in CATEGORY:
        raise InputError(f"category {opts.category!r}: expected A or B")
    lo, hi = opts.v_band
    if not 0 < lo < hi:
        raise InputError(f"voltage band {opts.v_band}: expected 0 < low < high")
    for name in ("q_weight", "change_weight"):
        if not getattr(opts, name) >= 0:
            raise InputError(f"{name} {getattr(opts, name)}: expected >= 0")
    if not opts.loop_gain_max > 0:
        raise InputError(f"loop_gain_max {opts.loop_gain_max}: expected > 0")
    if opts.objective not in ("curtailment", "q_pcc_min", "q_pcc_max"):
        raise InputError(f"objective {opts.objective!r}: expected curtailment, q_pcc_min or q_pcc_max")
    want = tuple(tuple(float(x) for x in sc) for sc in opts.scenarios) if opts.scenarios else None
    if want != lin.scenarios:
        raise InputError(f"the options' scenarios {want} are not the linearization's {lin.scenarios}: linearize "
                         f"with scenarios=opts.scenarios")


def inverter_data(lin: Linearization, menu: list[Option], opts: DispatchOptions) -> InverterData:
    inv = lin.net.sgen.loc[lin.index]
    sn = inv.sn_mva.to_numpy(float)
    cat = CATEGORY[opts.category]
    allowed = np.ones((len(menu), len(sn)), bool)
    own = np.array([lin.dv_dq[:, b, k].max() for k, b in enumerate(lin.inv_bus)])  # p.u. per Mvar
    for o, opt in enumerate(menu):
        if opt.mode == "volt-var" and opts.menu == "full":  # the default curve is what it is: not filtered
            allowed[o] = opt.slope_pu * sn * own < opts.loop_gain_max
    # the model's reactive capability is a box: it needs the rating to hold full Q at the available power
    room = np.sqrt(np.maximum(sn**2 - (np.maximum(cat.q_inj, cat.q_abs) * sn) ** 2, 0.0))
    over = lin.p_avail.max(axis=1) > room + 1e-9
    if over.any():
        k = int(np.flatnonzero(over)[0])
        raise InputError(f"sgen {lin.index[k]}: available power {lin.p_avail[k].max():.4f} MW exceeds "
                         f"{room[k]:.4f} MW, what its {sn[k]:.4f} MVA rating carries with the category's full "
                         f"reactive capability; the dispatch needs sn_mva >= "
                         f"{lin.p_avail[k].max() / np.sqrt(1 - max(cat.q_inj, cat.q_abs) ** 2):.4f}")
    return InverterData(sn_mva=sn, p_rated=p_rated(inv), p_avail=lin.p_avail, q_lo=-cat.q_abs * sn,
                        q_hi=cat.q_inj * sn, v_lo=opts.v_band[0], v_hi=opts.v_band[1], allowed=allowed,
                        vref_fixed=1.0 if opts.menu == "default-vv" else None)


def request_per_column(lin: Linearization, request: object) -> np.ndarray:
    """The PCC request per column: for scenarios, a single value binds the forecast (column 0) only."""
    req = np.atleast_1d(np.asarray(request, float))
    if not np.all(np.isfinite(req)):
        raise InputError(f"PCC request {req.tolist()}: expected finite values (Mvar)")
    if lin.scenarios and req.size == 1:
        return np.r_[req, np.full(lin.periods - 1, np.nan)]
    if req.size not in (1, lin.periods):
        raise InputError(f"PCC request: {req.size} values for {lin.periods} periods")
    return np.broadcast_to(req, (lin.periods,)).astype(float)


def _blocks(mats: np.ndarray) -> sp.csr_matrix:
    return sp.block_diag(list(mats), format="csr")


def build_dispatch(lin: Linearization, opts: DispatchOptions):  # noqa: ANN201 (builder, handles)
    """The dispatch MILP of ``lin`` in ``opts.form`` on a conic builder; returns (builder, expressions)."""
    import cvxpy as cp

    from tdcoord.backends.cvxpy_conic import ConicBuilder

    check_options(opts, lin)
    lo, hi = opts.v_band
    menu = build_menu(opts.menu, opts.category)
    d = inverter_data(lin, menu, opts)
    n, t = d.n, d.periods
    b = ConicBuilder(f"inverter dispatch {lin.net.name}")
    mv = constraint_modes(b, menu, d, opts.form)
    vec = lambda x: cp.vec(x, order="F")  # noqa: E731
    dp = vec(mv.p) - lin.p0.ravel(order="F")
    dq = vec(mv.q) - lin.q0.ravel(order="F")
    mon = lin.monitored
    v_mon = (lin.vm0[mon].ravel(order="F") + _blocks(lin.dv_dp[:, mon, :]) @ dp + _blocks(lin.dv_dq[:, mon, :]) @ dq)
    b.constraint_ineq("network.vm_band", v_mon, lo, hi)
    v_inv = (lin.vm0[lin.inv_bus].ravel(order="F") + _blocks(lin.dv_dp[:, lin.inv_bus, :]) @ dp
             + _blocks(lin.dv_dq[:, lin.inv_bus, :]) @ dq)
    b.constraint_eq("network.vm_inverter", vec(mv.v) - v_inv, 0.0)
    if t > 1:
        b.constraint_eq("inv.vref_horizon", mv.vref[:, 1:] - mv.vref[:, :1] @ np.ones((1, t - 1)), 0.0)
    q_pcc = (lin.q_pcc0 + _blocks(lin.dqpcc_dp[:, None, :]) @ dp + _blocks(lin.dqpcc_dq[:, None, :]) @ dq)
    p_pcc = (lin.p_pcc0 + _blocks(lin.dpcc_dp[:, None, :]) @ dp + _blocks(lin.dpcc_dq[:, None, :]) @ dq)
    if opts.q_request_mvar is not None:
        req = request_per_column(lin, opts.q_request_mvar)
        at = np.flatnonzero(np.isfinite(req))
        b.constraint_eq("pcc.q_request", q_pcc[at], req[at])
    # curtailment as a variable of its own: an objective without a constant term, so that the branch and bound's
    # relative gap is measured against the curtailment itself, not against an offset of the available power
    cut_hi = lin.p_avail.copy()
    if lin.scenarios and t > 1:
        # one P limit L for every variation (the settings hold for the interval): the forecast curtails to L, and
        # L must not cut a variation (L >= its available power A), so the forecast keeps at least min(avail, A)
        spare = lin.p_avail[:, 1:].max(axis=1)
        cut_hi[:, 0] = np.maximum(lin.p_avail[:, 0] - spare, 0.0)
        cut_hi[:, 1:] = 0.0
    cut = b.variable("inv.curtail_mw", (n, t), 0.0, cut_hi, 0.0)
    b.constraint_eq("inv.curtailment", cut + mv.p, lin.p_avail)
    curtail = cp.sum(cut)
    if opts.curtailment_cap_mwh is not None:
        b.constraint_ineq("inv.curtailment_cap", cp.reshape(curtail, (1, 1), order="F"), ub=opts.curtailment_cap_mwh)
    if opts.objective == "curtailment":
        b.objective_term("curtailment_mwh", curtail)
        if opts.q_weight > 0:
            qa = b.variable("inv.q_abs", (n, t), 0.0, np.maximum(-d.q_lo, d.q_hi)[:, None] * np.ones((1, t)))
            b.constraint_ineq("inv.q_abs_hi", qa - mv.q, lb=0.0)
            b.constraint_ineq("inv.q_abs_lo", qa + mv.q, lb=0.0)
            b.objective_term("q_effort_mvarh", cp.sum(qa), opts.q_weight)
        if opts.change_weight > 0 and len(menu) > 1:
            change = np.array([o.change for o in menu], float)
            b.objective_term("settings_change", cp.sum(change @ mv.w), opts.change_weight)
    elif opts.objective in ("q_pcc_min", "q_pcc_max"):  # scenarios: the forecast's exchange
        q_obj = q_pcc[0] if lin.scenarios else cp.sum(q_pcc)
        b.objective_term("q_pcc_mvar", q_obj, 1.0 if opts.objective == "q_pcc_min" else -1.0)
    handles = {"menu": menu, "data": d, "mv": mv, "v_mon": v_mon, "q_pcc": q_pcc, "p_pcc": p_pcc,
               "curtail": curtail}
    return b, handles


def solve_dispatch(lin: Linearization, opts: DispatchOptions | None = None) -> Dispatch:
    """Build and solve the dispatch MILP; a failed solve comes back with its solver's status."""
    opts = opts or DispatchOptions()
    t0 = time.perf_counter()
    b, h = build_dispatch(lin, opts)
    build_s = time.perf_counter() - t0
    solver = opts.solver.upper()
    options = ({"scip_params": {"limits/gap": opts.gap, "limits/time": opts.time_limit_s, **SCIP_SOS_PARAMS}}
               if solver == "SCIP" else {"mip_rel_gap": opts.gap, "time_limit": opts.time_limit_s})
    sol = b.solve(solver=solver, options=options, polish=False)
    out = Dispatch(status=sol.status, solver_status=sol.solver_status, form=opts.form, solver=solver,
                   objective=sol.objective, time_s=sol.time_s, build_s=build_s,
                   available_mwh=float(lin.p_avail.sum()), info=dict(sol.info), scenarios=bool(lin.scenarios))
    if not sol.ok:
        if sol.status == "infeasible" and opts.q_request_mvar is not None and opts.objective == "curtailment":
            # a request the feeder cannot meet: say so with the range it can offer (two more MILPs)
            lo, hi = solve_pcc_capability(lin, opts, curtailment_cap_mwh=opts.curtailment_cap_mwh)
            if lo.ok and hi.ok:
                rng = [lo.q_pcc_point, hi.q_pcc_point]
                req = request_per_column(lin, opts.q_request_mvar)
                out.info["capability_mvar"] = rng
                out.info["message"] = (f"PCC request {float(np.nansum(req) if not lin.scenarios else req[0]):.4f} "
                                       f"Mvar is outside the feeder's capability [{rng[0]:.4f}, {rng[1]:.4f}] Mvar")
            else:
                out.info["message"] = f"no dispatch keeps the band at all (capability MILPs: {lo.status}, {hi.status})"
        return out
    mv = h["mv"]
    vals = b.evaluate(sol, [mv.p, mv.q, mv.vref, h["v_mon"], h["q_pcc"], h["p_pcc"]])
    p, q, vref, v_mon, q_pcc, p_pcc = vals
    t = lin.periods
    vm = np.array(lin.vm0, float, copy=True)
    vm[lin.monitored] = v_mon.reshape(len(lin.monitored), t, order="F")
    picks = chosen(sol.x["inv.w"], h["menu"])
    out.p_mw, out.q_mvar, out.vm_pu = p, q, vm
    out.q_pcc_mvar, out.p_pcc_mw = q_pcc.ravel(), p_pcc.ravel()
    cut = np.sum(lin.p_avail - p, axis=0)
    out.curtailment_by_column = cut
    # scenarios of one point: the forecast's (column 0) curtailment; periods: the horizon's energy
    out.curtailment_mwh = float(cut[0] if lin.scenarios else cut.sum())
    out.available_mwh = float(lin.p_avail[:, 0].sum() if lin.scenarios else lin.p_avail.sum())
    out.options = picks
    out.inverters = pd.DataFrame({"bus": lin.net.sgen.loc[lin.index, "bus"].to_numpy(),
                                  "option": [o.name for o in picks], "mode": [o.mode for o in picks],
                                  "vref_pu": [float(vref[k, 0]) if o.mode == "volt-var" else np.nan
                                              for k, o in enumerate(picks)]}, index=lin.index)
    return out


def dispatch_settings(lin: Linearization, disp: Dispatch, period: int = 0, category: str = "B") -> pd.DataFrame:
    """The IEEE 1547 settings that realize ``disp`` in ``period``: each inverter's chosen mode and curve, its
    VRef, a constant-Q set-point, and an active-power limit where the dispatch curtails."""
    st = default_settings(lin.net, "volt-var", category).loc[lin.index]
    for k, (i, opt) in enumerate(zip(lin.index, disp.options)):
        st.loc[i, "mode"] = opt.mode
        for col, val in opt.settings.items():
            st.loc[i, col] = val
        if opt.mode == "volt-var":
            # within the standard's range: the solver holds bounds to its feasibility tolerance (1e-6) only
            vref = float(np.clip(disp.inverters.loc[i, "vref_pu"], *VREF_RANGE))
            st.loc[i, "vref_pu"] = vref
            for j in range(1, 5):
                st.loc[i, f"vv_v{j}"] = vref + opt.settings[f"vv_v{j}"]
        if opt.mode == "constant_q":
            cat, sn = CATEGORY[category], float(lin.net.sgen.loc[i, "sn_mva"])
            st.loc[i, "q_set_mvar"] = float(np.clip(disp.q_mvar[k, period], -cat.q_abs * sn, cat.q_inj * sn))
        p, avail = float(disp.p_mw[k, period]), float(lin.p_avail[k, period])
        st.loc[i, "p_limit_mw"] = p if p < avail - 1e-6 else np.nan
    return st[SETTING_COLUMNS]


def solve_pcc_capability(lin: Linearization, opts: DispatchOptions | None = None,
                   curtailment_cap_mwh: float | None = None) -> tuple[Dispatch, Dispatch]:
    """The dispatches with the smallest and the largest Qpcc (summed over periods) that keep the band and curtail
    at most ``curtailment_cap_mwh`` (default: no limit); each a MILP."""
    base = opts or DispatchOptions()
    out = []
    for objective in ("q_pcc_min", "q_pcc_max"):
        o = DispatchOptions(**{**base.__dict__, "objective": objective, "q_request_mvar": None,
                               "curtailment_cap_mwh": curtailment_cap_mwh})
        out.append(solve_dispatch(lin, o))
    return out[0], out[1]


__all__ = ["Dispatch", "DispatchOptions", "Linearization", "build_dispatch", "dispatch_settings", "inverter_data",
           "check_options", "linearize", "solve_pcc_capability", "request_per_column", "scenario_nets",
           "solve_dispatch", "spread_periods"]
