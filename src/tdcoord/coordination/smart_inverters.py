"""Smart-inverter dispatch of feeders under a TSO: AC re-check, iterative correction, the TSO-DSO loop.

- :func:`feeder_view`: a feeder as its DSO sees it, behind its boundary
  transformer, with the transmission bus (the PCC) as slack at the TSO's
  voltage; the PCC exchange of the dispatch model is then exactly the
  boundary flow of the coupled system.
- :func:`recheck`: a dispatch realized as IEEE 1547 settings and simulated
  by the local-control AC power flow (:mod:`tdcoord.devices.local_control`):
  voltages, band violations, PCC exchange, and the gap between linearized and
  AC voltages.
- :func:`solve_dispatch_corrected`: the paper neglects losses and linearization
  error; here a dispatch whose AC re-check leaves the band (or misses the
  PCC request) is linearized again at the AC point and solved again, with
  the band narrowed by the overshoot seen, until the re-check is in the band.
- :func:`solve_tso_dso_loop`: the TSO's reactive power optimization (AC,
  on the transmission grid with each feeder as its PCC exchange: active
  power as a load, reactive power a decision within the feeder's
  capability range) requests Q at the PCCs; each DSO answers with its
  capability range (two MILPs) and a dispatch meeting the request, re-checked
  by the AC local-control power flow; the TSO then sees the feeders' AC
  exchange and new ranges, until request and AC exchange agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from tdcoord.devices.ieee1547 import default_settings
from tdcoord.devices.local_control import LocalControlResult, run_local_control
from tdcoord.errors import InputError, SolveError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.problems.inverter_dispatch import (Dispatch, DispatchOptions, Linearization, dispatch_settings,
                                                linearize, solve_pcc_capability, solve_dispatch)

PCC = "pcc"
BAND_TOL = 1e-6  # p.u.: a voltage this far outside the band is not counted as a violation


def feeder_view(cs: CoupledSystem, name: str, vm_pu: float | None = None) -> Network:
    """Feeder ``name`` with its boundary transformer and the PCC (bus ``pcc``) as slack at ``vm_pu``."""
    if name not in cs.feeders:
        raise InputError(f"feeder {name!r} is not in {cs.name!r} (feeders: {', '.join(cs.feeders)})")
    b = cs.boundary.loc[name]
    net = cs.feeders[name].copy()
    tb = cs.transmission.bus.loc[b.bus]
    net.ext_grid = net.ext_grid.iloc[0:0]
    net.add_bus(PCC, float(tb.vn_kv), vm_min_pu=float(tb.vm_min_pu), vm_max_pu=float(tb.vm_max_pu),
                name=f"PCC (transmission bus {b.bus})")
    net.add_trafo(PCC, b.root, float(b.sn_mva), float(b.r_pu), float(b.x_pu), tap_pu=float(b.tap_pu),
                  name="boundary")
    net.add_ext_grid(PCC, vm_pu=1.0 if vm_pu is None else float(vm_pu), name="TSO")
    return net


@dataclass
class Recheck:
    """A dispatch simulated by the local-control AC power flow, in one period."""

    local: LocalControlResult
    vm_min_pu: float
    vm_max_pu: float
    violations: int  # buses outside the band
    q_pcc_mvar: float  # AC exchange at the PCC (flow into the feeder)
    p_pcc_mw: float
    dv_linear_pu: float  # largest |V AC - V linearized|
    curtailment_mw: float
    vm_pu: pd.Series = field(default_factory=pd.Series)

    def as_dict(self) -> dict:
        return {"vm_min_pu": self.vm_min_pu, "vm_max_pu": self.vm_max_pu, "violations": self.violations,
                "q_pcc_mvar": self.q_pcc_mvar, "p_pcc_mw": self.p_pcc_mw, "dv_linear_pu": self.dv_linear_pu,
                "curtailment_mw": self.curtailment_mw, "local_control_iterations": self.local.iterations,
                "local_control_converged": self.local.converged}


def recheck(view: Network, lin: Linearization, disp: Dispatch, period: int = 0,
            band: tuple[float, float] = (0.95, 1.05), category: str = "B") -> Recheck:
    """Realize ``disp`` as settings and simulate ``period`` with the inverters following them."""
    st = dispatch_settings(lin, disp, 0 if lin.scenarios else period, category)  # scenarios: one setting
    lc = run_local_control(lin.nets[period], st, p_avail=lin.p_avail[:, period])
    if not lc.pf.converged:
        raise SolveError(f"feeder {view.name!r}: the local-control power flow of the dispatch did not converge")
    vm = lc.pf.res_bus.vm_pu.drop(PCC, errors="ignore")
    mon = lin.labels[lin.monitored]  # the buses the dispatch predicted (a DSO with few measurements: those only)
    lin_vm = pd.Series(disp.vm_pu[lin.monitored, period], index=mon)
    eg = lc.pf.res_ext_grid
    return Recheck(local=lc, vm_min_pu=float(vm.min()), vm_max_pu=float(vm.max()),
                   violations=int(((vm < band[0] - BAND_TOL) | (vm > band[1] + BAND_TOL)).sum()),
                   q_pcc_mvar=float(eg.q_mvar.sum()), p_pcc_mw=float(eg.p_mw.sum()),
                   dv_linear_pu=float(np.nanmax(np.abs(vm.reindex(mon) - lin_vm))),
                   curtailment_mw=float((lc.inverters.p_avail_mw - lc.inverters.p_mw).sum()), vm_pu=vm)


@dataclass
class Corrected:
    dispatch: Dispatch
    lin: Linearization
    check: Recheck
    passes: int
    history: list[dict] = field(default_factory=list)  # per pass: band used, re-check figures


def _ac_point(c: Corrected) -> tuple[np.ndarray, np.ndarray]:
    """Where to linearize next: the dispatch's P and Q per column, the first column at its AC re-check."""
    inv = c.check.local.inverters
    p_now, q_now = c.dispatch.p_mw.copy(), c.dispatch.q_mvar.copy()
    p_now[:, 0], q_now[:, 0] = inv.p_mw.to_numpy(float), inv.q_mvar.to_numpy(float)
    return p_now, q_now


def solve_dispatch_corrected(view: Network, opts: DispatchOptions, *, max_passes: int = 6, q_tol_mvar: float = 0.01,
                       lin: Linearization | None = None) -> Corrected:
    """Dispatch one period, re-check it by AC, and re-linearize at the AC point (narrowing the band by the
    overshoot seen) until the AC voltages are within the band and the PCC request is met within ``q_tol_mvar``."""
    band = opts.v_band
    lo, hi = band
    lin = lin or linearize(view, scenarios=opts.scenarios)
    history: list[dict] = []
    last = None
    for k in range(1, max_passes + 1):
        disp = solve_dispatch(lin, replace(opts, v_band=(lo, hi)))
        if not disp.ok and (lo, hi) != band:  # the narrowed band is too tight here: the full band, re-linearized
            lo, hi = band
            disp = solve_dispatch(lin, opts)
        if not disp.ok:
            if last is not None:  # keep the last re-checked dispatch; the history says why it stopped
                history.append({"pass": k, "band_lo": lo, "band_hi": hi, "status": disp.status})
                return last
            raise SolveError(f"feeder {view.name!r}: dispatch MILP {disp.status} ({disp.solver}: "
                             f"{disp.solver_status})")
        chk = recheck(view, lin, disp, 0, band, opts.category)
        miss = (abs(chk.q_pcc_mvar - float(np.atleast_1d(opts.q_request_mvar)[0]))
                if opts.q_request_mvar is not None else 0.0)
        history.append({"pass": k, "band_lo": lo, "band_hi": hi, "status": disp.status, **chk.as_dict(),
                        "q_request_miss_mvar": miss, "objective": disp.objective})
        last = Corrected(disp, lin, chk, k, history)
        if chk.violations == 0 and miss <= q_tol_mvar and chk.local.converged:
            return last
        hi -= max(chk.vm_max_pu - band[1], 0.0)
        lo += max(band[0] - chk.vm_min_pu, 0.0)
        p_now, q_now = _ac_point(last)
        lin = linearize(view, p_now=p_now, q_now=q_now, index=lin.index, scenarios=lin.scenarios)
    assert last is not None
    return last


# ------------------------------------------------------------------------------------------ TSO-DSO loop
@dataclass
class LoopResult:
    converged: bool
    iterations: int
    history: pd.DataFrame  # per iteration and feeder: request, range, AC exchange, mismatch
    final: dict  # feeder -> Corrected
    settings: dict  # feeder -> settings DataFrame (IEEE 1547)
    system_check: dict  # the whole coupled system with every inverter on its settings: vm_min/max, violations
    tso: dict = field(default_factory=dict)
    outage: str | None = None
    time_s: float = 0.0


def build_tso_equivalent(cs: CoupledSystem, offers: dict[str, tuple[float, float, float]],
                   outage: int | None = None) -> CoupledSystem:
    """The transmission grid with each feeder as a load (its active exchange, MW) and an SVG at its bus whose
    injection is minus the feeder's reactive import, within the offered range ``(p_mw, q_min, q_max)``."""
    t = cs.transmission.copy()
    if outage is not None:
        if outage not in t.line.index:
            raise InputError(f"outage: line {outage} is not a line of {t.name!r} (lines: {list(t.line.index)})")
        t.line.loc[outage, "in_service"] = False
    for f, (p, qlo, qhi) in offers.items():
        bus = cs.boundary.loc[f, "bus"]
        t.add("load", {"bus": bus, "p_mw": p, "q_mvar": 0.0, "name": f"feeder {f}"})
        t.add_svc(bus, -qhi, -qlo, q_mvar=-(qlo + qhi) / 2, kind="svg", controllable=True, name=f"feeder {f}")
    return CoupledSystem(t, name=f"{cs.name} TSO view")


def solve_tso(cs: CoupledSystem, offers: dict[str, tuple[float, float, float]], outage: int | None = None,
              band: tuple[float, float] = (0.95, 1.05)) -> dict:
    """The TSO's reactive power optimization; returns the Q requests and PCC voltages per feeder."""
    from tdcoord.coordination.centralized import solve_centralized
    from tdcoord.problems.rpo import RpoConfig

    eq = build_tso_equivalent(cs, offers, outage)
    res = solve_centralized(eq, RpoConfig(vm_band=band))
    if not res.converged:
        raise SolveError(f"TSO reactive power optimization failed: {res.status}")
    dev = res.devices
    svc = dev[dev.table == "svc"]
    bus_v = res.pf.transmission.res_bus.vm_pu
    t = eq.transmission
    out = {"objective": float(res.objective), "p_loss_mw": float(res.p_loss_mw), "vm_min_pu": float(bus_v.min()),
           "vm_max_pu": float(bus_v.max()), "request": {}, "vm_pcc": {},
           # the machines' voltage set-points the TSO chose (what the coupled system is re-checked with)
           "gen_vm_pu": {int(i): float(bus_v[b]) for i, b in t.gen.bus.items()},
           "ext_grid_vm_pu": {int(i): float(bus_v[b]) for i, b in t.ext_grid.bus.items()}}
    for f in offers:  # each feeder's own SVG (the grid may have SVCs of its own)
        idx = t.svc.index[t.svc.name == f"feeder {f}"][0]
        row = svc[svc["index"].astype(int) == int(idx)].iloc[0]
        out["request"][f] = -float(row.q_mvar)
        out["vm_pcc"][f] = float(bus_v[cs.boundary.loc[f, "bus"]])
    return out


def _feeder_round(cs: CoupledSystem, f: str, vm: float, request: float | None, opts: DispatchOptions,
                  prev: Corrected | None) -> tuple[Corrected, tuple[float, float], float]:
    view = feeder_view(cs, f, vm)
    if prev is not None:
        p_now, q_now = _ac_point(prev)
        lin = linearize(view, p_now=p_now, q_now=q_now, scenarios=opts.scenarios)
    else:
        lin = linearize(view, scenarios=opts.scenarios)
    base = solve_dispatch(lin, replace(opts, q_request_mvar=None))
    if not base.ok:
        raise SolveError(f"feeder {f}: no dispatch keeps the band at PCC voltage {vm:.4f} ({base.solver_status})")
    cap = float(base.curtailment_by_column.sum()) + 1e-4
    lo, hi = solve_pcc_capability(lin, opts, curtailment_cap_mwh=cap)
    if not (lo.ok and hi.ok):
        raise SolveError(f"feeder {f}: the PCC capability MILPs ended {lo.status} / {hi.status} "
                         f"({lo.solver}: {lo.solver_status} / {hi.solver_status})")
    rng = (lo.q_pcc_point, hi.q_pcc_point)
    # a request at the very end of the range is met only to the solvers' tolerance: aim just inside it
    inset = min(1e-4, (rng[1] - rng[0]) / 4)
    target = base.q_pcc_mvar[0] if request is None else float(np.clip(request, rng[0] + inset, rng[1] - inset))
    o = replace(opts, q_request_mvar=np.array([target]), curtailment_cap_mwh=cap)
    return solve_dispatch_corrected(view, o, lin=lin), rng, target


def check_coupled_system(cs: CoupledSystem, settings: dict[str, pd.DataFrame], outage: int | None = None,
                 band: tuple[float, float] = (0.95, 1.05), tso: dict | None = None) -> dict:
    """Every inverter of every feeder on its settings and the machines on the TSO's voltage set-points, the
    whole coupled system by the local-control AC power flow (merged network): extreme voltages and band
    violations over all buses."""
    sys_ = cs.copy()
    t = sys_.transmission
    if outage is not None:
        t.line.loc[outage, "in_service"] = False
    for i, v in (tso or {}).get("gen_vm_pu", {}).items():
        t.gen.loc[i, "vm_pu"] = v
    for i, v in (tso or {}).get("ext_grid_vm_pu", {}).items():
        t.ext_grid.loc[i, "vm_pu"] = v
    ms = sys_.merge()
    parts = []
    for f, st in settings.items():
        mapping = ms.element_map[f]["sgen"]
        s2 = st.copy()
        s2.index = pd.Index(mapping.loc[st.index].to_numpy(), name="sgen")
        parts.append(s2)
    merged_settings = pd.concat(parts)
    lc = run_local_control(ms.network, merged_settings)
    vm = lc.pf.res_bus.vm_pu
    return {"converged": bool(lc.converged), "iterations": lc.iterations, "vm_min_pu": float(vm.min()),
            "vm_max_pu": float(vm.max()),
            "violations": int(((vm < band[0] - BAND_TOL) | (vm > band[1] + BAND_TOL)).sum()),
            "vm_min_bus": str(vm.idxmin()), "vm_max_bus": str(vm.idxmax())}


def solve_tso_dso_loop(cs: CoupledSystem, opts: DispatchOptions | None = None, *, outage: int | None = None,
                       max_iter: int = 15, tol_mvar: float = 0.01, tol_mw: float = 0.01) -> LoopResult:
    """Iterate TSO requests and DSO answers until every feeder's AC exchange matches the request (Mvar) and the
    active exchange the TSO assumed (MW); the history has one row per iteration and feeder."""
    t0 = time.perf_counter()
    opts = opts or DispatchOptions()
    from tdcoord.pf.integrated import run_coupled

    series = [f for f, net in cs.feeders.items() if net.n_periods]
    if series or cs.transmission.n_periods:
        raise InputError(f"the TSO-DSO loop runs one operating point; {series or [cs.transmission.name]} carry "
                         f"time series (take one period with at_period first)")

    base = cs.copy()
    if outage is not None:
        if outage not in base.transmission.line.index:
            raise InputError(f"outage: line {outage} is not a line of {cs.transmission.name!r}")
        base.transmission.line.loc[outage, "in_service"] = False
    pf = run_coupled(base, "merged")
    if not pf.converged:
        raise SolveError("the coupled power flow of the starting point did not converge")
    bnd = pf.res_boundary
    p_ex = {f: float(bnd.loc[f, "p_mw"]) for f in cs.feeders}
    vm = {f: float(bnd.loc[f, "vm_pu"]) for f in cs.feeders}
    prev: dict[str, Corrected | None] = {f: None for f in cs.feeders}
    ranges: dict[str, tuple[float, float]] = {}
    rows = []
    request: dict[str, float | None] = {f: None for f in cs.feeders}
    converged = False
    tso: dict = {}
    it = 0
    for it in range(1, max_iter + 1):
        if it > 1:
            tso = solve_tso(cs, {f: (p_ex[f], *ranges[f]) for f in cs.feeders}, outage, opts.v_band)
            request = dict(tso["request"])
            vm = dict(tso["vm_pcc"])
        worst_q = worst_p = 0.0
        for f in cs.feeders:
            corr, rng, target = _feeder_round(cs, f, vm[f], request[f], opts, prev[f])
            ranges[f] = rng
            q_ac, p_ac = corr.check.q_pcc_mvar, corr.check.p_pcc_mw
            miss_q = abs(q_ac - request[f]) if request[f] is not None else float("nan")
            miss_p = abs(p_ac - p_ex[f])
            rows.append({"iteration": it, "feeder": f, "vm_pcc_pu": vm[f], "q_request_mvar": request[f],
                         "q_min_mvar": rng[0], "q_max_mvar": rng[1], "q_target_mvar": target,
                         "q_pcc_ac_mvar": q_ac, "p_assumed_mw": p_ex[f], "p_pcc_ac_mw": p_ac,
                         "mismatch_q_mvar": miss_q, "mismatch_p_mw": miss_p, "passes": corr.passes,
                         "violations": corr.check.violations})
            if request[f] is not None:
                worst_q = max(worst_q, miss_q)
            worst_p = max(worst_p, miss_p)
            if corr.check.violations or not corr.check.local.converged:  # not agreed while the band is broken
                worst_q = float("inf")
            prev[f] = corr
            p_ex[f] = p_ac
        if it > 1 and worst_q <= tol_mvar and worst_p <= tol_mw:
            converged = True
            break
    final = {f: c for f, c in prev.items() if c is not None}
    settings = {f: dispatch_settings(c.lin, c.dispatch, 0, opts.category) for f, c in final.items()}
    check = check_coupled_system(cs, settings, outage, opts.v_band, tso)
    return LoopResult(converged=converged, iterations=it, history=pd.DataFrame(rows), final=final,
                      settings=settings, system_check=check, tso=tso,
                      outage=None if outage is None else str(outage), time_s=time.perf_counter() - t0)


def simulate_inverters(system: CoupledSystem | Network, mode: str, category: str = "B", *,
                       damping: float = 0.5) -> tuple[object, pd.DataFrame, LocalControlResult]:
    """Every inverter of ``system`` (a network or a coupled system) in ``mode`` with the category's default
    curves, simulated by the local-control AC power flow. Returns the power-flow result (a coupled one for a
    coupled system), the inverters' table (feeder, sgen, bus, mode, p_avail_mw, p_mw, q_mvar, vm_pu) and the
    local-control run."""
    if isinstance(system, CoupledSystem):
        from tdcoord.pf.integrated import split_merged_result

        ms = system.validate()
        net = ms.network
    else:
        from tdcoord.network.validate import validate

        validate(system, radial=False)
        net = system
    settings = default_settings(net, mode, category)
    if not len(settings):
        raise InputError(f"{getattr(system, 'name', 'network')!r} has no inverter (an in-service sgen with an "
                         f"sn_mva rating) for --inverters {mode}")
    lc = run_local_control(net, settings, damping=damping, check=False)
    table = lc.inverters.copy()
    if isinstance(system, CoupledSystem):
        owner = []
        for f in ms.owners:
            m = ms.element_map[f].get("sgen")
            if m is None:
                continue
            for orig, merged in m.items():
                if merged in table.index:
                    owner.append((merged, f, orig))
        lookup = {mg: (o, org) for mg, o, org in owner}
        table.insert(0, "area", [lookup[i][0] for i in table.index])  # "T" or the feeder's name
        table.insert(1, "sgen", [lookup[i][1] for i in table.index])
        result = split_merged_result(system, ms, lc.pf, lc.pf.iterations)
        result.time_s = lc.time_s
        return result, table.reset_index(drop=True), lc
    table.insert(0, "sgen", table.index)
    return lc.pf, table.reset_index(drop=True), lc


__all__ = ["BAND_TOL", "Corrected", "LoopResult", "PCC", "Recheck", "build_tso_equivalent", "check_coupled_system",
           "feeder_view", "recheck", "simulate_inverters", "solve_dispatch_corrected", "solve_tso",
           "solve_tso_dso_loop"]
