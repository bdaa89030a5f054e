"""DSO-led and TSO-led coordination of a transmission grid and the feeders below it (seed 003).

DSO-led (bilevel): the DSOs lead, choosing their exchanges ``P_b`` (and everything behind them) for the least
total DSO cost, knowing that the TSO then dispatches its DC OPF for them, which sets the prices they pay. The
TSO's LP is replaced by its KKT conditions (:mod:`tdcoord.problems.lp_kkt`), the prices by its duals, and the
bilinear payment ``sum lambda P_b`` by strong duality, giving one MISOCP (SOC DistFlow cones; battery,
P2P-direction and complementarity binaries or SOS1 sets) solved by SCIP:

    min   sum_i C_i^rest + [ c'x + h'mu - b0'lambda ]            (= sum_i C_i with lambda P_b paid)
    s.t.  every DSO's model (:func:`tdcoord.problems.dso_market.build_dso`)
          sum_i xout_i = sum_i xin_i                             (cross-feeder P2P pool, every period)
          the TSO's KKT conditions at y = P_b                    (:func:`tdcoord.problems.lp_kkt.add_kkt`)

TSO-led (top-down, the conventional sequence): the TSO dispatches first with the feeders' forecast net loads
(load - PV; it does not see batteries or trades), which sets the prices; the DSOs then optimize together
against those prices (their binaries kept: nothing in this sequence needs them relaxed), each within the
TSO's scheduled exchange +/- ``band_mw`` (the boundary limits); the TSO re-dispatches for the exchanges that
result, which is its cost. DSOs pay the prices they were given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tdcoord.errors import InputError
from tdcoord.problems.dso_market import DsoModel, build_dso, n_units, tso_dual_bounds, tso_lp, tso_slack_bounds
from tdcoord.problems.lp_kkt import add_kkt

#: SCIP stops at this relative gap unless told otherwise
MIP_GAP = 0.005
#: energies below this (MWh over the day) are reported as 0: they are the solvers' tolerances
NOISE_MWH = 1e-6
#: from this many feeders on, SCIP starts from a constructed feasible point (:func:`incumbent`)
START_FROM_FEEDERS = 11


@dataclass
class CoordinationResult:
    """A scheme's day: per feeder series (MW, $), the TSO's dispatch and prices, costs and solver figures."""

    scheme: str
    ok: bool
    status: str
    feeders: list[str]
    buses: list[str]
    periods: int
    dt_h: float
    exchange_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (N, T), import positive
    price: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (N, T) $/MWh at the boundary buses
    tso_dispatch_mw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (n_gen, T)
    tso_cost: float = float("nan")
    dso_costs: dict[str, dict[str, float]] = field(default_factory=dict)
    series: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # feeder -> name -> (.., T)
    size: dict[str, int] = field(default_factory=dict)
    time_s: float = 0.0
    gap: float = float("nan")
    info: dict[str, Any] = field(default_factory=dict)
    solution: Any = None
    model: Any = None

    @property
    def dso_cost(self) -> float:
        return float(sum(c["total"] for c in self.dso_costs.values()))

    @property
    def total_cost(self) -> float:
        return self.dso_cost + self.tso_cost

    def metrics(self) -> dict[str, float]:
        """The comparison figures (totals over feeders and the day)."""
        dt = self.dt_h
        pb = self.exchange_mw
        pv = sum(float(np.sum(s["pv_mw"])) for s in self.series.values()) * dt
        pv = pv if pv >= NOISE_MWH else 0.0  # solver noise on a day without sun
        exported = float(np.sum(np.maximum(-pb, 0.0))) * dt
        thr = sum(float(np.sum(s.get("charge", 0.0)) + np.sum(s.get("discharge", 0.0))) for s in self.series.values()) * dt
        cap = sum(float(np.sum(s.get("e_max", 0.0))) for s in self.series.values())
        out = {"total_cost": self.total_cost, "dso_cost": self.dso_cost, "tso_cost": self.tso_cost,
                "imports_mwh": float(np.sum(np.maximum(pb, 0.0))) * dt,
                "exports_mwh": exported,
                "self_consumption_pct": 100.0 * (pv - min(exported, pv)) / pv if pv > 0 else float("nan"),
                "battery_throughput_mwh": thr,
                "battery_cycles": thr / (2.0 * cap) if cap > 0 else 0.0,
                "p2p_mwh": sum(float(np.sum(s["sold"])) for s in self.series.values()) * dt,
                "p2p_cross_mwh": sum(float(np.sum(s["xout"])) for s in self.series.values()) * dt}
        for k in ("imports_mwh", "exports_mwh", "battery_throughput_mwh", "battery_cycles", "p2p_mwh", "p2p_cross_mwh"):
            if abs(out[k]) < NOISE_MWH:  # solver tolerance, not energy
                out[k] = 0.0
        return out


def _dsos(b: Any, system: Any, bands: list | None = None) -> list[DsoModel]:
    out = []
    for k, f in enumerate(system.feeders):
        out.append(build_dso(b, f, f"dso{k}", system.tariffs, system.dt_h, system.periods,
                             band_mw=None if bands is None else bands[k]))
    if len(out) > 1:
        b.constraint_eq("cross_pool", sum(d.xout for d in out) - sum(d.xin for d in out))
    else:
        b.constraint_eq("cross_pool", out[0].xout + out[0].xin)  # one feeder: nobody to trade with
    return out


def _size(b: Any) -> dict[str, int]:
    n_var = int(sum(blk.size for blk in b.blocks.values()))
    n_bin = int(sum(blk.size for blk in b.blocks.values() if blk.kind != "continuous"))
    n_con = int(sum(sum(int(np.prod(c.shape)) if c.shape else 1 for c in cons) for _, cons, _, _ in b.cons))
    n_sos = int(sum(b.blocks[name].lb.shape[1] for _, name, _ in b.sos))  # a set per column of its block
    return {"variables": n_var, "constraints": n_con, "binaries": n_bin, "sos1_sets": n_sos}


def _series(b: Any, sol: Any, d: DsoModel) -> dict[str, np.ndarray]:
    keys = [k for k, v in d.parts.items() if k != "costs" and not isinstance(v, np.ndarray)]
    vals = b.evaluate(sol, [d.parts[k] for k in keys] + [d.p_b, d.xin, d.xout])
    out = {k: (np.asarray(v, float) if np.ndim(v) else float(v)) for k, v in zip(keys, vals[:len(keys)])}
    out.update(p_b=vals[-3].ravel(), xin=vals[-2].ravel(), xout=vals[-1].ravel())
    out.update({k: v for k, v in d.parts.items() if isinstance(v, np.ndarray)})
    sold = out.get("sold", 0.0)  # a feeder without prosumers sells nothing
    out["sold"] = np.asarray(sold, float).ravel() if np.ndim(sold) else np.zeros(len(out["p_b"]))
    return out


def _dso_costs(b: Any, sol: Any, d: DsoModel, price: np.ndarray, pb: np.ndarray, dt: float) -> dict[str, float]:
    names = list(d.parts["costs"])
    vals = b.evaluate(sol, [d.parts["costs"][k] for k in names])
    out = {k: float(np.sum(v)) for k, v in zip(names, vals)}
    out["energy"] = float(np.sum(price * pb)) * dt
    out["total"] = float(sum(out.values()))
    return out


#: further SCIP parameters of every solve (name -> value, SCIP's own names). SCIP 10's MPEC heuristic
#: (heuristics/mpec) corrupts the heap and aborts the process on the five-feeder model with big-M
#: complementarity (reproduced three times; every other heuristic on, it solves in 74 s): it is off.
SCIP_PARAMS: dict[str, Any] = {"heuristics/mpec/freq": -1}


def _scip_options(gap: float, time_limit: float | None) -> dict[str, Any]:
    params: dict[str, Any] = {**SCIP_PARAMS, "limits/gap": float(gap)}
    if time_limit is not None:
        params["limits/time"] = float(time_limit)
    return {"scip_params": params}


def system_lp(system: Any) -> Any:
    """The TSO's DC OPF of ``system`` as a standard-form LP, its leader rows the feeders' exchanges."""
    return tso_lp(system.tn, [f.bus for f in system.feeders], system.periods)


def _forecast_prices(system: Any, lp: Any) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None]:
    """The feeders' forecast exchanges, the TSO's dispatch for them, and the boundary prices it sets (``None``
    where that dispatch is infeasible)."""
    fc = forecast_exchange(system)
    first = lp.solve(fc / system.tn.sn_mva)
    price = _boundary(system, lp, first["lam"]) if np.isfinite(first["objective"]) else None
    return fc, first, price


def _dsos_at_prices(name: str, system: Any, price: np.ndarray, bands: list | None = None) -> tuple[Any, list]:
    """The DSOs' model (one builder) paying fixed boundary prices for their exchanges."""
    from tdcoord.backends import new_builder

    b = new_builder("conic", name)
    dsos = _dsos(b, system, bands)
    o = b.ops
    b.objective_term("dso_other", sum(d.cost_rest for d in dsos))
    b.objective_term("energy_payment", sum(o.sum(o.mul(price[k].reshape(1, -1) * system.dt_h, d.p_b))
                                           for k, d in enumerate(dsos)))
    return b, dsos


def incumbent(system: Any, lp: Any, method: str) -> dict[str, np.ndarray] | None:
    """A feasible point of the DSO-led model, for SCIP to start from (``None`` if the construction fails).

    The DSOs' problem at the forecast prices (the TSO's DC OPF on forecast feeder loads) is solved with its
    binaries relaxed (Clarabel), each binary is rounded (charging when charge >= discharge, selling when
    sales >= purchases, as the relaxation almost always has it), and the continuous rest is solved again at
    those binaries; the TSO's LP at the exchanges that result gives its primal and dual values, its multipliers
    and slacks cleaned to exact complementarity. Every leader decision has a follower optimum, so this is a
    point of the single-level model; on many feeders it is what lets SCIP report a gap at all."""
    base = system.tn.sn_mva
    _, _, price = _forecast_prices(system, lp)
    if price is None:
        return None
    b, dsos = _dsos_at_prices(f"dso_led_start_{system.name}", system, price)
    relaxed = b.solve(relax=True)
    if not relaxed.ok:
        return None
    chosen: dict[str, np.ndarray] = {}
    pairs = {"storage_charging": ("storage_charge", "storage_discharge"), "p2p_selling": ("p2p_sell", "p2p_buy"),
             "cross_selling": ("xout", "xin")}
    for name, blk in b.blocks.items():
        if blk.kind == "continuous":
            continue
        pre, what = name.split(".", 1)
        on, off = pairs.get(what, (None, None))
        if on is not None and f"{pre}.{on}" in relaxed.x:
            v = (np.asarray(relaxed.x[f"{pre}.{on}"]) >= np.asarray(relaxed.x[f"{pre}.{off}"]) - 1e-9).astype(float)
        else:
            v = np.round(np.asarray(relaxed.x[name], float))
        b.set_bounds(name, v, v)
        chosen[name] = v
    fixed = b.solve(relax=True)
    if not fixed.ok:
        return None
    start = {name: np.asarray(v, float) for name, v in fixed.x.items()}
    start.update(chosen)  # the binaries exactly (the continuous solve returns them within its tolerance)
    y = np.array([b.evaluate(fixed, [d.p_b])[0].ravel() for d in dsos]) / base
    tso = lp.solve(y)
    if not np.isfinite(tso["objective"]):
        return None
    mu = np.maximum(tso["mu"], 0.0)
    slack = np.maximum(lp.h.reshape(-1, 1) - lp.G @ tso["x"], 0.0)
    tight = mu > 1e-9 * max(1.0, float(np.max(np.abs(lp.c))))
    mu, slack = np.where(tight, mu, 0.0), np.where(tight, 0.0, slack)
    start.update({"tso.x": tso["x"], "tso.lam": tso["lam"]})
    if method == "sos1":
        start["tso.pair"] = np.vstack([mu.ravel(order="F"), slack.ravel(order="F")])
    else:
        start.update({"tso.mu": mu, "tso.slack": slack, "tso.z": tight.astype(float)})
    return start


def solve_dso_led(system: Any, *, method: str = "sos1", gap: float = MIP_GAP, time_limit: float | None = 300.0,
                  price_max: float | None = None, start: bool | None = None) -> CoordinationResult:
    """The DSO-led single-level MISOCP (module docstring); ``method`` of the complementarity: ``sos1`` or
    ``bigm`` (bounds from :func:`tdcoord.problems.dso_market.tso_dual_bounds` with ``price_max``, default
    the dearest unit segment's cost); ``start``: give SCIP the feasible point of :func:`incumbent` (default:
    from ``START_FROM_FEEDERS`` feeders on, where the figures of ``docs/dso-led.md`` were measured without
    it; SCIP completes the point by a sub-solve)."""
    from tdcoord.backends import new_builder

    t0 = time.perf_counter()
    b = new_builder("conic", f"dso_led_{system.name}")
    dsos = _dsos(b, system)
    base = system.tn.sn_mva
    lp = system_lp(system)
    o = b.ops
    y = o.vcat([d.p_b for d in dsos]) * (1.0 / base)
    m_mu = m_s = None
    if method == "bigm":
        pmax = float(np.max(lp.c)) if price_max is None else float(price_max) * base
        m_mu, m_s = tso_dual_bounds(lp, pmax), tso_slack_bounds(lp)
    kkt = add_kkt(b, lp, y, "tso", method=method, m_mu=m_mu, m_s=m_s)
    dt = system.dt_h
    b.objective_term("dso_other", sum(d.cost_rest for d in dsos))
    b.objective_term("energy_payment", kkt.payment(o) * dt)
    build_s = time.perf_counter() - t0
    if start is None:
        start = len(system.feeders) >= START_FROM_FEEDERS
    warm = incumbent(system, lp, method) if start else None
    start_s = time.perf_counter() - t0 - build_s
    sol = b.solve(solver="SCIP", options=_scip_options(gap, time_limit), warm=warm)
    res = _result("dso_led", system, b, sol, dsos, time.perf_counter() - t0)
    res.info.update(start_given=warm is not None, start_s=start_s)
    res.size = _size(b)
    res.info.update(build_s=build_s, complementarity=method)
    if sol.ok:
        v = kkt.values(b, sol)
        res.tso_dispatch_mw = v["x"][: n_units(lp)] * base
        res.price = _boundary(system, lp, v["lam"])
        res.tso_cost = float(np.sum(lp.c @ v["x"])) * dt
        res.info["energy_payment_linearized"] = float(sol.terms.get("energy_payment", np.nan))
        for k, d in enumerate(dsos):
            res.dso_costs[d.name] = _dso_costs(b, sol, d, res.price[k], res.exchange_mw[k], dt)
        if method == "bigm":
            res.info["multipliers_on_bound"] = kkt.at_bound(v["mu"])
        res.info["complementarity_max"] = float(np.max(np.abs(v["mu"] * v["slack"]))) if v["mu"].size else 0.0
    res.model = (b, dsos, kkt)
    return res


def _boundary(system: Any, lp: Any, lam: np.ndarray) -> np.ndarray:
    """The prices ($/MWh) at the feeders' buses from the TSO LP's balance duals (rows named by bus label: only
    the buses in service have one)."""
    rows = {n: i for i, n in enumerate(lp.eq_names)}
    return np.array([lam[rows[f"balance {f.bus}"]] for f in system.feeders]) / system.tn.sn_mva


def _result(scheme: str, system: Any, b: Any, sol: Any, dsos: list[DsoModel], t: float) -> CoordinationResult:
    # SCIP's own status where it gave one (optimal, gaplimit, timelimit): cvxpy calls the last two inaccurate
    status = sol.info.get("scip_status") or sol.solver_status
    res = CoordinationResult(scheme, sol.ok, f"{sol.solver.upper()}: {status}",
                             [f.name for f in system.feeders], [f.bus for f in system.feeders], system.periods,
                             system.dt_h, time_s=t, solution=sol)
    res.gap = _gap(sol)
    if sol.ok:
        for d in dsos:
            res.series[d.name] = _series(b, sol, d)
        res.exchange_mw = np.array([res.series[d.name]["p_b"] for d in dsos])
    return res


def _gap(sol: Any) -> float:
    """SCIP's relative gap; infinite where it has no dual bound yet (SCIP says 1e20), NaN where it gave none."""
    g = sol.info.get("mip_gap")
    if g is None:
        return float("nan")
    return float("inf") if float(g) >= 1e19 else float(g)


def forecast_exchange(system: Any) -> np.ndarray:
    """The feeders' forecast net loads (load - PV, MW; no batteries, no losses): what the TSO-led TSO sees."""
    from tdcoord.network.timeseries import values

    out = []
    for f in system.feeders:
        net = f.net
        load = values(net, "load", "p_mw", system.periods)[net.load.in_service.to_numpy(bool)].sum(axis=0)
        pv = values(net, "gen", "p_max_mw", system.periods).sum(axis=0) if len(net.gen) else 0.0
        out.append(load - pv)
    return np.array(out)


def solve_tso_led(system: Any, *, band_mw: float = 1.0, gap: float = MIP_GAP,
                  time_limit: float | None = 300.0) -> CoordinationResult:
    """The top-down sequence (module docstring)."""
    if not band_mw >= 0:
        raise InputError(f"band_mw = {band_mw!r}: expected a deviation >= 0 MW around the TSO's schedule")
    t0 = time.perf_counter()
    base = system.tn.sn_mva
    lp = system_lp(system)
    fc, first, price = _forecast_prices(system, lp)
    if price is None:
        raise InputError(f"{system.name}: the TSO's DC OPF with the forecast feeder loads is infeasible "
                         f"({first['status'][0]})")
    b, dsos = _dsos_at_prices(f"tso_led_{system.name}", system, price,
                              bands=[(fc[k] - band_mw, fc[k] + band_mw) for k in range(len(system.feeders))])
    dt = system.dt_h
    sol = b.solve(solver="SCIP", options=_scip_options(gap, time_limit))
    res = _result("tso_led", system, b, sol, dsos, 0.0)
    res.size = _size(b)
    if sol.ok:
        final = lp.solve(res.exchange_mw / base)
        res.tso_dispatch_mw = final["x"][: n_units(lp)] * base
        res.tso_cost = float(final["objective"]) * dt
        res.price = price
        res.info["price_after_redispatch"] = _boundary(system, lp, final["lam"])
        for k, d in enumerate(dsos):
            res.dso_costs[d.name] = _dso_costs(b, sol, d, price[k], res.exchange_mw[k], dt)
    res.info.update(forecast_exchange_mw=fc, band_mw=band_mw)
    res.time_s = time.perf_counter() - t0
    res.model = (b, dsos, None)
    return res


__all__ = ["CoordinationResult", "MIP_GAP", "forecast_exchange", "incumbent", "solve_dso_led", "solve_tso_led",
           "system_lp"]


def tso_with_exchanges(system: Any, exchange_mw: np.ndarray) -> Any:
    """The transmission network with each feeder's exchange (N, T) as a load on its bus (for the TSO alone)."""
    from tdcoord.network.timeseries import values

    tn = system.tn.copy()
    T = system.periods
    p = values(tn, "load", "p_mw", T)
    q = values(tn, "load", "q_mvar", T)
    for k, f in enumerate(system.feeders):
        tn.add_load(f.bus, 0.0, 0.0, name=f"feeder {f.name}")
    tn.timeseries.clear()
    tn.set_timeseries("load", "p_mw", np.vstack([p, np.asarray(exchange_mw, float)]).T)
    tn.set_timeseries("load", "q_mvar", np.vstack([q, np.zeros((len(system.feeders), T))]).T)
    return tn


def kkt_check(system: Any, res: CoordinationResult) -> dict[str, Any]:
    """The TSO's DC OPF solved alone (:func:`tdcoord.problems.scheduling.solve_schedule`, HiGHS, the DC
    formulation) with the leaders' exchanges fixed at ``res``'s: its optimum and prices against the
    single-level model's (``tso_objective_gap`` relative, ``max_price_gap`` in $/MWh)."""
    from tdcoord.problems.scheduling import solve_schedule

    if not res.ok:
        return {"ok": False, "status": f"no single-level solution to check ({res.status})"}
    alone = solve_schedule(tso_with_exchanges(system, res.exchange_mw), formulation="dc", dt_h=system.dt_h)
    if not alone.converged:
        return {"ok": False, "status": alone.status}
    lam = alone.tables["res_bus"]["lam_p"].unstack("bus")  # periods x buses, $/MWh
    price = np.array([lam[f.bus].to_numpy(float) for f in system.feeders])
    cost = float(alone.objective) * system.dt_h
    return {"ok": True, "status": alone.status, "tso_objective_alone": cost, "tso_objective_single_level": res.tso_cost,
            "tso_objective_gap": abs(cost - res.tso_cost) / max(1.0, abs(cost)),
            "max_price_gap": float(np.max(np.abs(price - res.price))),
            "price_alone": price}


def soc_exactness(system: Any, res: CoordinationResult, *, recheck_above: float = 1e-6,
                  recheck_all: bool = True) -> dict[str, Any]:
    """Per feeder and period, the SOC relaxation's gap ``max_k |l u - P^2 - Q^2|`` (p.u.^2), and the point
    re-checked by the exact AC power flow of the feeder (the dispatched PV and batteries, the root at its
    set-point): the largest voltage error (p.u.), exchange error (MW) and voltages outside the feeder's limits.
    Every period is re-checked (``recheck_all``), or only those whose gap exceeds ``recheck_above``."""
    from tdcoord.formulations.branch_flow import soc_gap

    b, dsos, _ = res.model
    sol = res.solution
    gaps = np.zeros((len(dsos), system.periods))
    rechecks: list[dict[str, Any]] = []
    for k, d in enumerate(dsos):
        form = d.schedule.form
        pre = form.prefix
        w, p, q, l = (np.asarray(sol.x[f"{pre}.{n}"], float) for n in ("w", "p", "q", "l"))
        for t in range(system.periods):
            gaps[k, t] = soc_gap(form.o, w[:, t], p[:, t], q[:, t], l[:, t])["max_abs_pu2"]
        for t in (range(system.periods) if recheck_all else np.flatnonzero(gaps[k] > recheck_above)):
            rechecks.append(_ac_recheck(system, res, k, int(t), np.sqrt(w[:, t])))
    out = {"gap_pu2": gaps, "soc_gap_max": float(gaps.max()) if gaps.size else 0.0,
           "periods_not_tight": int(np.sum(gaps > recheck_above)), "rechecks": rechecks}
    if rechecks:
        out["recheck_vm_error_max_pu"] = max(r["vm_error_max_pu"] for r in rechecks)
        out["recheck_exchange_error_max_mw"] = max(r["exchange_error_mw"] for r in rechecks)
        out["recheck_not_converged"] = sum(not r["converged"] for r in rechecks)
        out["recheck_voltage_violations"] = sum(r["voltage_violations"] for r in rechecks)
        out["recheck_vm_min_pu"] = min(r["vm_min_pu"] for r in rechecks)
        out["recheck_vm_max_pu"] = max(r["vm_max_pu"] for r in rechecks)
    return out


def _ac_recheck(system: Any, res: CoordinationResult, k: int, t: int, vm_model: np.ndarray) -> dict[str, Any]:
    from tdcoord.pf.ac import run_newton

    f = system.feeders[k]
    s = res.series[f.name]
    net = f.net.at_period(t)
    pv = net.gen.copy()
    dispatched = s.get("pv_units_mw")
    net.gen = net.gen.iloc[0:0]
    for j, (idx, r) in enumerate(pv.iterrows()):
        net.add_sgen(r.bus, p_mw=float(dispatched[j, t]) if dispatched is not None else float(r.p_max_mw),
                     q_mvar=0.0, kind="pv", name=str(r.get("name")))
    if len(net.storage) and "charge" in s:
        net.storage.loc[:, "p_mw"] = (s["discharge"][:, t] - s["charge"][:, t])
    pf = run_newton(net)
    vm = pf.res_bus.vm_pu.to_numpy(float)
    p_root = float(pf.res_ext_grid.p_mw.sum())
    lo, hi = net.bus.vm_min_pu.to_numpy(float), net.bus.vm_max_pu.to_numpy(float)
    return {"feeder": f.name, "period": t, "converged": bool(pf.converged),
            "vm_min_pu": float(vm.min()), "vm_max_pu": float(vm.max()),
            "voltage_violations": int(np.sum((vm < lo - 1e-6) | (vm > hi + 1e-6))),
            "vm_error_max_pu": float(np.max(np.abs(vm - vm_model))),
            "exchange_error_mw": abs(p_root - float(res.exchange_mw[k, t]))}


__all__ += ["kkt_check", "soc_exactness", "tso_with_exchanges"]
