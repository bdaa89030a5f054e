"""The two layers of DSO-led coordination (seed 003): each DSO's feeder day and the TSO's DC OPF.

DSO i (one radial feeder, periods t of ``dt`` hours; MW and $ unless said) -- the SOC-relaxed branch-flow
schedule of its network (:func:`tdcoord.problems.scheduling.build_schedule` with ``soc_bf``: loads and PV from
its series, batteries with state of charge, efficiencies and charge/discharge binaries), the root held at its
set-point, and a local energy market on top:

    prosumer k (PV and/or battery):  pv_k - load_k + d_k - c_k = gs_k - gb_k + s_k - r_k
    other consumers (one pool):      D_t = gc_t + rc_t
    feeder pool:                     sum_k s_k + xin_t = sum_k r_k + rc_t + xout_t
    direction binaries:              s_k <= S_k z_k,  r_k <= R_k (1 - z_k);  xout <= X w,  xin <= X (1 - w)

gb/gs: bought from / sold to the grid, s/r: sold to / bought from peers, xin/xout: bought from / sold to
other feeders through the transmission grid (the cross-feeder pool ``sum_i xout_i = sum_i xin_i`` is the
coordinator's, :mod:`tdcoord.coordination.dso_led`). S_k = PV + battery discharge limit, R_k = load + battery
charge limit, X = the substation rating. The physical exchange ``P_b`` (the SOC model's root injection, MW,
import positive) is settled at the transmission bus's locational price ``lambda``; the DSO's cost is

    C_i = sum_t dt [ lambda_t P_b,t + charge (sum_k gb_k + gc) + local_fee (sum_k r_k + rc)
                     + wheeling_fee xin + trading_price (xin - xout) ] + battery wear

The TSO's DC OPF (:func:`tso_lp`), per period: the units' segments ``pg`` and bus angles ``theta`` (p.u.),

    min  sum_g c_g pg_g    s.t.  gen_at(n) - (B theta)_n = d_n + gs_n - shift terms + sum_{i at n} P_b,i
                                 theta_ref = angle_ref,  pmin <= pg <= pmax,  |pf| <= rating (rated branches)

the same equations as :class:`tdcoord.formulations.dc.DcFormulation` (MATPOWER's B-theta), written as a
:class:`tdcoord.problems.lp_kkt.StandardLp` so that it can be a lower level. The dual of the balance row of
bus n is its locational price (``$/h`` per p.u., ``/ base`` gives $/MWh).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.sparse as sp

from tdcoord.errors import InputError
from tdcoord.formulations.base import Formulation
from tdcoord.network.compiled import compile_network
from tdcoord.network.network import Network
from tdcoord.network.timeseries import bus_values, values
from tdcoord.problems.lp_kkt import StandardLp
from tdcoord.problems.rpo import device_free_network
from tdcoord.problems.scheduling import Schedule, build_schedule


def tso_lp(tn: Network, boundary_buses: list[str], periods: int) -> StandardLp:
    """The TSO's DC OPF over ``periods`` as a standard-form LP (module docstring); the leader's ``y`` (one row
    per boundary bus in ``boundary_buses``, p.u. on ``tn``'s base) adds to the load of its bus."""
    cn = compile_network(device_free_network(tn))
    pos = cn.position()
    base = cn.base_mva
    nb, nl = cn.n_bus, cn.n_branch
    g = tn.gen[tn.gen.in_service & tn.gen.bus.isin(pos)]
    ng = len(g)
    T = int(periods)
    gbus = np.array([pos[b] for b in g.bus], int)
    c = np.r_[g.cost_c1.to_numpy(float) * base, np.zeros(nb)]
    cf, ct = cn.incidence()
    inc = (cf - ct).tocsr()
    bk = 1.0 / (cn.x * cn.tap)
    bbus = (inc.T @ sp.diags(bk) @ inc).tocsr()
    gen_at = sp.csr_matrix((np.ones(ng), (gbus, np.arange(ng))), shape=(nb, ng))
    ref, angle = Formulation.reference_angles(SimpleNamespace(cn=cn))
    ref_rows = sp.csr_matrix((np.ones(len(ref)), (np.arange(len(ref)), ng + ref)), shape=(len(ref), ng + nb))
    A = sp.vstack([sp.hstack([gen_at, -bbus]), ref_rows]).tocsr()
    load = bus_values(tn, cn, "load", "p_mw", T, 1 / base)
    fixed = cn.gs - inc.T @ (bk * cn.shift)
    b0 = np.vstack([load + fixed.reshape(-1, 1), np.repeat(angle.reshape(-1, 1), T, axis=1)])
    ypos = []
    for bus in boundary_buses:
        if str(bus) not in pos:
            from tdcoord.errors import UnknownBusError

            raise UnknownBusError(f"boundary bus {bus!r} is not a bus of {tn.name!r}")
        ypos.append(pos[str(bus)])
    E = sp.csr_matrix((np.ones(len(ypos)), (ypos, np.arange(len(ypos)))), shape=(A.shape[0], len(ypos)))
    pmin, pmax = g.p_min_mw.to_numpy(float) / base, g.p_max_mw.to_numpy(float) / base
    eye = sp.identity(ng, format="csr")
    rated = np.flatnonzero(np.isfinite(cn.rate))
    flow = (sp.diags(bk) @ inc).tocsr()[rated]
    zg, zb = sp.csr_matrix((ng, nb)), sp.csr_matrix((len(rated), ng))
    G = sp.vstack([sp.hstack([eye, zg]), sp.hstack([-eye, zg]), sp.hstack([zb, flow]), sp.hstack([zb, -flow])]).tocsr()
    shift_flow = (bk * cn.shift)[rated]
    h = np.r_[pmax, -pmin, cn.rate[rated] + shift_flow, cn.rate[rated] - shift_flow]
    gname = [f"gen {i}" for i in g.index]
    bname = [str(b) for b in cn.labels]
    brn = [f"{cn.br_table[k]} {cn.br_index[k]}" for k in rated]
    return StandardLp(c, A, b0, E, G, h, x_names=[f"pg {n}" for n in gname] + [f"va {n}" for n in bname],
                      eq_names=[f"balance {n}" for n in bname] + [f"angle {bname[r]}" for r in ref],
                      ineq_names=[f"pmax {n}" for n in gname] + [f"pmin {n}" for n in gname]
                      + [f"rate+ {n}" for n in brn] + [f"rate- {n}" for n in brn])


def n_units(lp: StandardLp) -> int:
    """How many of the TSO LP's columns are unit segments (they come first, then the bus angles)."""
    return sum(1 for n in lp.x_names if n.startswith("pg "))


def tso_dual_bounds(lp: StandardLp, price_max: float) -> np.ndarray:
    """Bounds on the multipliers of the TSO LP's inequality rows, from its data (for big-M complementarity).

    With every price within ``[-price_max, price_max]`` ($/h per p.u.; a bound the caller derives, e.g. the
    dearest segment's cost where no branch is rated, since then every bus's price is the marginal segment's
    cost), a unit's bound rows have ``mu_max - mu_min = lambda_n - c_g`` (stationarity in pg), one of them zero,
    so each is at most ``price_max + |c_g|``. A branch rating's multiplier has no such bound in a meshed grid
    (it can be any large number on a loop); it is given ``n_bus * price_max`` and :meth:`Kkt.at_bound` reports
    any multiplier found on its bound after a solve."""
    ng = n_units(lp)
    nb = len(lp.x_names) - ng
    cg = np.abs(lp.c[:ng])
    n_rate = lp.G.shape[0] - 2 * ng
    return np.r_[price_max + cg, price_max + cg, np.full(n_rate, nb * price_max)]


def tso_slack_bounds(lp: StandardLp) -> np.ndarray:
    """Bounds on the slacks of the TSO LP's inequality rows: a unit's bound rows by its range, a rated branch's
    rows ``+-f <= rate`` by ``2 rate`` (the other row keeps ``f`` within the rating)."""
    ng = n_units(lp)
    rng = lp.h[:ng] + lp.h[ng:2 * ng]  # pmax - pmin
    n_rate = (lp.G.shape[0] - 2 * ng) // 2
    rate_plus, rate_minus = lp.h[2 * ng:2 * ng + n_rate], lp.h[2 * ng + n_rate:]
    both = rate_plus + rate_minus  # = 2 rate (the phase-shift terms cancel)
    return np.r_[rng, rng, both, both]


def _placement(feeder: Any, pros: list[str], buses: list[str], what: str) -> sp.csr_matrix:
    """(prosumers x units) incidence of units on prosumer buses; a unit elsewhere is refused (it would be left
    out of the market's balance)."""
    bad = [x for x in buses if x not in pros]
    if bad:
        raise InputError(f"feeder {feeder.name}: {what} on bus {bad[0]} is not at a prosumer bus "
                         f"({', '.join(pros) or 'the feeder has none'})")
    return sp.csr_matrix((np.ones(len(buses)), ([pros.index(x) for x in buses], np.arange(len(buses)))),
                         shape=(len(pros), len(buses)))


def _per_period(a: np.ndarray, T: int) -> np.ndarray:
    """A device set's limit as (units, T): a series where it has one, else its value in every period."""
    a = np.asarray(a, float)
    return np.broadcast_to(a.reshape(a.shape[0], -1), (a.shape[0], T))


@dataclass
class DsoModel:
    """One DSO's part of a model: its schedule, market variables and expressions (MW, $)."""

    name: str
    schedule: Schedule
    p_b: Any  # (1, T) MW, import positive
    cost_rest: Any  # $ over the day, everything but the energy at the locational price
    xin: Any
    xout: Any
    parts: dict[str, Any] = field(default_factory=dict)


def build_dso(b: Any, feeder: Any, prefix: str, tariffs: Any, dt_h: float, periods: int, *,
              band_mw: tuple[np.ndarray, np.ndarray] | None = None) -> DsoModel:
    """DSO ``feeder`` (:class:`tdcoord.cases.dso_led.Feeder`) into builder ``b`` (module docstring); ``band_mw``:
    lower and upper limits (T,) on its exchange (the TSO-led scheme's boundary limits)."""
    net = feeder.net
    T = int(periods)
    s = build_schedule(net, formulation="soc_bf", periods=T, dt_h=dt_h, backend="conic", builder=b, prefix=prefix,
                       costs=False, storage_binaries=True)
    form, cn = s.form, s.cn
    base = cn.base_mva
    root = form.o.root
    vm_root = float(net.ext_grid.vm_pu.iloc[0])
    form.fix_voltage(root, vm_root)
    ext = f"{prefix}.ext_grid_p"
    if ext in b.blocks:  # the root's balance is the exchange: the source's own variable plays no part
        zero = np.zeros_like(b.blocks[ext].lb)
        b.set_bounds(ext, zero, zero)
    o = b.ops
    p_b = form.p_root * base
    lo, hi = -feeder.boundary_mva, feeder.boundary_mva
    if band_mw is not None:
        lo, hi = np.maximum(lo, band_mw[0]).reshape(1, -1), np.minimum(hi, band_mw[1]).reshape(1, -1)
    b.constraint_ineq(f"{prefix}.exchange_limit", p_b, lo, hi)
    load = values(net, "load", "p_mw", T)  # (n_load, T)
    lbus = net.load.bus.astype(str).to_numpy()
    pros = [str(p) for p in feeder.prosumers]
    K = len(pros)
    storage = next((d for d in s.devices if d.ds.kind == "storage"), None)
    stbus = [str(cn.labels[i]) for i in storage.ds.bus] if storage is not None else []
    pvdev = next((d for d in s.devices if d.ds.kind == "generator"), None)  # PV: curtailable, no cost
    pvbus = [str(cn.labels[i]) for i in pvdev.ds.bus] if pvdev is not None else []
    on = net.load.in_service.to_numpy(bool)
    load_k = np.array([load[(lbus == p) & on].sum(axis=0) for p in pros]).reshape(K, T)
    d_cons = load[on & ~np.isin(lbus, pros)].sum(axis=0).reshape(1, T)
    costs = {}
    parts: dict[str, Any] = {"load_mw": load[on].sum(axis=0)}
    at_pv = _placement(feeder, pros, pvbus, "PV")
    at_st = _placement(feeder, pros, stbus, "a battery")
    if pvdev is not None:
        pv_max = _per_period(pvdev.ds.p_max, T) * base  # available PV, MW
        parts["pv_mw"] = o.sum_rows(pvdev.p) * base
        parts["pv_units_mw"] = pvdev.p * base
        parts["pv_available_mw"] = pv_max.sum(axis=0)
    else:
        parts["pv_mw"] = np.zeros(T)
        parts["pv_available_mw"] = np.zeros(T)
    X = float(feeder.boundary_mva)
    xin = b.variable(f"{prefix}.xin", (1, T), 0.0, X, 0.0)
    xout = b.variable(f"{prefix}.xout", (1, T), 0.0, X, 0.0)
    w = b.variable(f"{prefix}.cross_selling", (1, T), 0.0, 1.0, 0.0, kind="binary")
    b.constraint_ineq(f"{prefix}.xout_on", xout - X * w, -np.inf, 0.0)
    b.constraint_ineq(f"{prefix}.xin_on", xin + X * w, -np.inf, X)
    gc = b.variable(f"{prefix}.consumers_grid", (1, T), 0.0, np.inf, 0.0)
    rc = b.variable(f"{prefix}.consumers_p2p", (1, T), 0.0, np.inf, 0.0)
    b.constraint_eq(f"{prefix}.consumers", gc + rc - d_cons)
    bought, sold = rc, 0.0
    grid = o.sum(gc)
    if K:
        net_inj = -load_k
        if pvdev is not None:
            pv_p = o.mm(at_pv, pvdev.p) * base
            pv_cap = np.asarray(at_pv @ pv_max)
        else:
            pv_p, pv_cap = 0.0, np.zeros((K, T))
        if storage is not None:
            storage_p = o.mm(at_st, storage.p) * base
            d_max = at_st @ storage.ds.p_max * base
            c_max = at_st @ -storage.ds.p_min * base
        else:
            storage_p, d_max, c_max = 0.0, np.zeros(K), np.zeros(K)
        s_cap = pv_cap.max(axis=1) + d_max
        r_cap = load_k.max(axis=1) + c_max
        gb = b.variable(f"{prefix}.grid_buy", (K, T), 0.0, np.inf, 0.0)
        gs = b.variable(f"{prefix}.grid_sell", (K, T), 0.0, np.inf, 0.0)
        sp2p = b.variable(f"{prefix}.p2p_sell", (K, T), 0.0, np.repeat(s_cap.reshape(-1, 1), T, axis=1), 0.0)
        rp2p = b.variable(f"{prefix}.p2p_buy", (K, T), 0.0, np.repeat(r_cap.reshape(-1, 1), T, axis=1), 0.0)
        z = b.variable(f"{prefix}.p2p_selling", (K, T), 0.0, 1.0, 0.0, kind="binary")
        b.constraint_ineq(f"{prefix}.sell_on", sp2p - o.rows(s_cap, z), -np.inf, 0.0)
        b.constraint_ineq(f"{prefix}.buy_on", rp2p + o.rows(r_cap, z), -np.inf,
                          np.repeat(r_cap.reshape(-1, 1), T, axis=1))
        b.constraint_eq(f"{prefix}.prosumers", gs - gb + sp2p - rp2p - storage_p - pv_p - net_inj)
        bought = bought + o.sum_rows(rp2p)
        sold = o.sum_rows(sp2p)
        grid = grid + o.sum(gb)
        parts.update(p2p_sell=sp2p, p2p_buy=rp2p, grid_buy=gb, grid_sell=gs)
    b.constraint_eq(f"{prefix}.pool", sold + xin - bought - xout)
    dt = float(dt_h)
    costs["network_charge"] = tariffs.network_charge * dt * grid
    costs["local_fee"] = tariffs.local_fee * dt * o.sum(bought)
    costs["wheeling_fee"] = tariffs.wheeling_fee * dt * o.sum(xin)
    costs["p2p_payments"] = tariffs.trading_price * dt * (o.sum(xin) - o.sum(xout))
    wear = [d.costs["storage_cost"] for d in s.devices if "storage_cost" in d.costs]
    costs["battery_wear"] = sum(wear) if wear else 0.0
    rest = sum(costs.values())
    parts.update(costs=costs, consumers_p2p=rc, consumers_grid=gc, sold=sold, bought=bought)
    if storage is not None:
        parts.update(charge=storage.other["charge"] * base, discharge=storage.other["discharge"] * base,
                     energy=storage.other["energy_mwh"], e_max=storage.ds.extra["e_max_mwh"])
    return DsoModel(feeder.name, s, p_b, rest, xin, xout, parts)


__all__ = ["DsoModel", "build_dso", "n_units", "tso_dual_bounds", "tso_lp", "tso_slack_bounds"]
