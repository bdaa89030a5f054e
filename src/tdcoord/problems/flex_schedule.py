"""The coordinated T-D day-ahead schedule with a flexibility supply-demand balance (seed 001, sections 3-4).

One mixed-integer linear model of the whole day (24 hourly periods), built on
the model layer and solved by HiGHS:

**Transmission** (DC power flow on the system base): the thermal units'
staged deep-peak-shaving cost (:mod:`tdcoord.devices.deep_peak`, binaries per
unit and hour), their output range ``[p_c, p_max]`` and ramps; hydro with its
head-dependent maximum, minimum discharge, ramps, a daily water budget and
the spilled rest; nuclear at ``xi_N`` of its rating; a wind farm whose
curtailment is penalized; load shedding (penalized, at most ``xi_L`` of the
day's energy); the boundary injections into the feeders.

**Feeders** (LinDistFlow, one per boundary, on the feeder's own base):
:func:`tdcoord.problems.scheduling.build_schedule` into the same builder,
with curtailable PV and wind, batteries, purchase and sale at the boundary
(``p_root = buy - sell``, each within ``P_Bmax``), load shedding at ``c_L``
(a device kind registered while the feeders are built), the tie between the
feeders as a controlled transfer (an injection at each end, equal and opposite,
priced at ``c_tie``) and, with voltage control,
the band ``[0.95, 1.05]`` on every bus, the inverters' reactive power and the
feeder's source voltage (the substation transformer's tap, see
:func:`tdcoord.problems.flex_check.pick_tap`) as decisions. Without voltage control the band is
dropped, the inverters run at unity power factor and the source voltage is
whatever the transmission bus gives through the nominal tap (the schedule's
own voltages are computed with the source at 1 p.u.).

**Flexibility** (section 4.3, MW, per hour): the upward and downward supply
of each source:

- thermal and hydro: ``up <= min(p_max - p, ramp)``, ``down <= min(p - p_min,
  ramp)``;
- a feeder: its batteries (more discharge or less charge, within power and
  within the energy left after the hour) plus its curtailed renewables (up)
  or its renewable output (down). A feeder's supply reaches the grid only
  through its boundary: ``p_b - up >= -P_Bmax`` and ``p_b + down <= P_Bmax``.

The system demand ``f_N`` comes from the net load's p-box
(:func:`tdcoord.uncertainty.pbox.flexibility_demand`: transmission and
feeder load, wind and PV). The shortfall ``s_up >= f_N_up - supply_up``
(and down) is penalized at ``c_F / (1 - beta)``. **Tail risk:** for every
history day ``k`` whose net-load error at ``t + 1`` lies beyond the
truncated interval, ``z_kt >= D_kt - supply_t - s_t`` with ``D_kt`` that
day's ramp need ``N_{t+1} + e_k,t+1 - N_t``: the part of the tail the supply
does not cover. ``C_CVaR = c_CVaR / (1 - beta) * sum_t mean_k z_kt`` (the
paper's ``c beta^ sum P alpha``: probability times expected loss). Raising
``s`` above its least value could lower ``z``; that never pays while
``c_CVaR <= c_F`` (checked in :class:`tdcoord.cases.stvs_flex.FlexData`),
so ``s`` and ``z`` are the exact shortfall and tail excess. The schedule
reports both computed from the available supply after the solve (equal to
the model's at ``eps < 1``; at ``eps = 1`` the flexibility terms weigh
nothing and the model leaves ``s`` and ``z`` loose).

**Objective** ``eps (C_T + C_D) + (1 - eps) C_F`` with ``C_T`` the generation
cost and transmission penalties, ``C_D`` the feeders' purchases minus sales,
battery operation and curtailment, ``C_F`` the shortfall and tail penalties.
The model's terms are kept apart (:attr:`FlexSchedule.costs`).

HiGHS stops at a relative MIP gap of 0.1 % (``gap``): on the high-DER case
proving 0.01 % took 14 s and gave the same schedule (objective equal to
0.1 $), where 0.1 % takes 1.4 s.

**STVS cuts** (:class:`StvsCuts`), added by the stability loop of
:mod:`tdcoord.studies.stvs_flex`: per hour, a lower voltage ceiling in the
feeders, a cap on each boundary's exchange and caps on machine outputs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from tdcoord.cases.stvs_flex import T_PERIODS, FlexData
from tdcoord.errors import InputError, SolveError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.flex_devices import feeder_shedding, feeder_ties, tie_ends
from tdcoord.network.timeseries import bus_values, values
from tdcoord.uncertainty.pbox import (FlexDemand, fit_pboxes, flexibility_demand, net_errors, synthetic_history)

VM_BAND = (0.95, 1.05)
FREE_BAND = (0.5, 1.5)  # no voltage control: the band is dropped (LinDistFlow's w stays positive)
EPS_FLOOR = 1e-6  # the weight that stands in for 0 at eps = 0 or 1
C_VOLTAGE = 10.0  # $ per p.u. of |V - 1| per bus and hour: a tie-breaker, not a cost of the paper's objective


@dataclass
class StvsCuts:
    """Constraints from the stability loop, by hour (0-23)."""

    vm_max: dict[int, float] = field(default_factory=dict)  # feeder voltage ceiling, p.u.
    boundary_mw: dict[tuple[str, int], float] = field(default_factory=dict)  # |exchange| cap per feeder and hour
    gen_mw: dict[tuple[str, int], float] = field(default_factory=dict)  # machine output cap per bus and hour

    @property
    def count(self) -> int:
        return len(self.vm_max) + len(self.boundary_mw) + len(self.gen_mw)

    def as_dict(self) -> dict:
        return {"vm_max": {str(h): v for h, v in sorted(self.vm_max.items())},
                "boundary_mw": [{"feeder": f, "hour": h, "mw": v} for (f, h), v in sorted(self.boundary_mw.items())],
                "gen_mw": [{"bus": g, "hour": h, "mw": v} for (g, h), v in sorted(self.gen_mw.items())]}


@dataclass
class SystemProfiles:
    """The day's forecasts summed over the system (MW, hourly) and the flexibility demand they give."""

    load: np.ndarray
    wind: np.ndarray
    pv: np.ndarray
    demand: FlexDemand
    feeder_demand: dict[str, FlexDemand]
    tail_up: list[tuple[int, np.ndarray]]  # (t, ramp needs of the history's tail days) upward
    tail_down: list[tuple[int, np.ndarray]]
    days: int


@dataclass
class FlexSchedule:
    """A solved schedule, in MW (hourly arrays), with the costs by component ($ over the day)."""

    method: str
    status: str
    solver_status: str
    objective: float
    costs: dict[str, float]
    gen_mw: dict[str, np.ndarray]  # by unit name (G1, G2, H3, N6, W8)
    gen_bus: dict[str, str]
    wind_available_mw: np.ndarray
    shed_mw: np.ndarray  # transmission load shed, per hour (all buses)
    shed_bus_mw: dict[str, np.ndarray]  # by transmission bus, where any is shed
    boundary_mw: dict[str, np.ndarray]  # T -> feeder, per feeder
    boundary_mvar: dict[str, np.ndarray]
    buy_mw: dict[str, np.ndarray]
    sell_mw: dict[str, np.ndarray]
    feeder_vm: dict[str, np.ndarray]  # LinDistFlow voltages, (buses, hours)
    feeder_buses: dict[str, list[str]]
    root_vm: dict[str, np.ndarray]
    sgen_p_mw: dict[str, np.ndarray]  # (units, hours)
    sgen_q_mvar: dict[str, np.ndarray]
    sgen_available_mw: dict[str, np.ndarray]
    storage_p_mw: dict[str, np.ndarray]  # (units, hours), + discharging
    storage_energy_mwh: dict[str, np.ndarray]
    feeder_shed_mw: dict[str, np.ndarray]  # (loads, hours) per feeder, in the load table's order
    tie_mw: dict[str, dict[str, np.ndarray]]  # feeder -> tie bus -> its injection, MW (+ into the feeder)
    margins_mw: dict[str, dict[str, np.ndarray]]  # source -> up/down available (MW, >= 0), hourly
    used_mw: dict[str, dict[str, np.ndarray]]  # source -> up/down counted against the demand (<= available)
    demand_mw: dict[str, np.ndarray]  # up (>= 0) and down (<= 0)
    shortfall_mw: dict[str, np.ndarray]
    tail_excess_mw: dict[str, np.ndarray]  # expected uncovered tail per hour, up/down
    surplus_mw: dict[str, dict[str, np.ndarray]]  # feeder -> up/down: its supply less its own demand (Fig. 10)
    cuts: dict
    eps: float
    build_s: float
    solve_s: float
    binaries: int
    variables: int
    corrections: dict = field(default_factory=dict)  # "feeder:bus@hour" -> [lo, hi], from the AC correction

    @property
    def time_s(self) -> float:
        return self.build_s + self.solve_s


def system_profiles(cs: CoupledSystem, data: FlexData) -> SystemProfiles:
    """The forecasts (from the networks' time series) and the p-box flexibility demand of the day."""
    T = T_PERIODS
    tn = cs.transmission
    wind_t = data.wind_mw * np.asarray(_wind_profile(), float)
    load = values(tn, "load", "p_mw", T)[tn.load.in_service.to_numpy(bool)].sum(axis=0)
    wind, pv = wind_t.copy(), np.zeros(T)
    per_feeder = {}
    history = synthetic_history(data.history_days, T, seed=data.history_seed)
    boxes = fit_pboxes(history)
    for name, f in cs.feeders.items():
        fl = values(f, "load", "p_mw", T)[f.load.in_service.to_numpy(bool)].sum(axis=0)
        sg = values(f, "sgen", "p_mw", T)
        kind = f.sgen.kind.to_numpy()
        fw = sg[kind == "wind"].sum(axis=0) if (kind == "wind").any() else np.zeros(T)
        fp = sg[kind == "pv"].sum(axis=0) if (kind == "pv").any() else np.zeros(T)
        per_feeder[name] = flexibility_demand(fl, fw, fp, boxes, data.beta)
        load, wind, pv = load + fl, wind + fw, pv + fp
    demand = flexibility_demand(load, wind, pv, boxes, data.beta)
    n = net_errors(history, load, wind, pv)  # (days, T)
    nxt = np.roll(np.arange(T), -1)
    up, down = [], []
    for t in range(T):
        k = nxt[t]
        ramp = demand.net_load[k] + n[:, k] - demand.net_load[t]
        hi = n[:, k] > demand.eps_up[k]
        lo = n[:, k] < demand.eps_down[k]
        if hi.any():
            up.append((t, ramp[hi]))
        if lo.any():
            down.append((t, -ramp[lo]))
    return SystemProfiles(load, wind, pv, demand, per_feeder, up, down, history.days)


def _wind_profile() -> np.ndarray:
    """The transmission wind farm's availability, per unit: the built-in day's wind."""
    from tdcoord.cases.profiles import DEFAULT

    return np.asarray(DEFAULT.wind, float)


def check_profiles(cs: CoupledSystem) -> None:
    """Every network's time series covers the day (24 hourly periods)."""
    from tdcoord.network.timeseries import n_periods

    for name, net in [("transmission", cs.transmission)] + list(cs.feeders.items()):
        t = n_periods(net)
        if t != T_PERIODS:
            raise InputError(f"{name} {net.name!r}: its profiles have {t} periods; the day-ahead schedule needs "
                             f"{T_PERIODS} hourly values (attach a 24-hour profile)")


def unit_rows(tn: Any, data: FlexData) -> dict[str, tuple[int, str]]:
    """Unit name -> (row of the gen table, kind) for the schedule's units."""
    bus = tn.gen.bus.astype(str).to_list()
    out: dict[str, tuple[int, str]] = {}

    def row(b: str, what: str) -> int:
        if b not in bus:
            raise InputError(f"flexibility schedule: the {what} is on bus {b}, which has no generator in "
                             f"{tn.name!r} (generator buses: {', '.join(bus)})")
        return bus.index(b)

    for u, b in zip(data.thermal, data.thermal_bus):
        out[u.name] = (row(b, f"thermal unit {u.name}"), "thermal")
    out[data.hydro.name] = (row(data.hydro.bus, "hydro unit"), "hydro")
    out[f"N{data.nuclear_bus}"] = (row(data.nuclear_bus, "nuclear unit"), "nuclear")
    out[f"W{data.wind_bus}"] = (row(data.wind_bus, "wind farm"), "wind")
    rows = [r for r, _ in out.values()]
    if len(set(rows)) != len(rows):
        raise InputError("flexibility schedule: two units on one generator")
    return out


def flexible_units(units: dict[str, tuple[int, str]], data: FlexData) -> dict[str, tuple[int, float, float]]:
    """The thermal and hydro units (the transmission's flexibility sources): name -> (gen row, lowest output
    MW, ramp MW/h)."""
    out = {}
    for u, ramp in zip(data.thermal, data.thermal_ramp_mw_per_h):
        out[u.name] = (units[u.name][0], u.p_c_mw, ramp)
    out[data.hydro.name] = (units[data.hydro.name][0], data.hydro.p_min_mw, data.hydro.ramp_mw_per_h)
    return out


def check_cuts(cuts: StvsCuts, gen_buses: Any, feeders: list[str]) -> None:
    """Every cut names an hour 0-23, a generator bus or a feeder that exists, and a finite value."""
    def hour(h: Any, what: str) -> None:
        if not (isinstance(h, (int, np.integer)) and 0 <= int(h) < T_PERIODS):
            raise InputError(f"STVS cut {what}: hour {h!r}; expected 0-{T_PERIODS - 1}")

    for h, v in cuts.vm_max.items():
        hour(h, "vm_max")
        if not (np.isfinite(v) and v > 0):
            raise InputError(f"STVS cut vm_max at hour {h}: {v!r}; expected a voltage in p.u.")
    for (g, h), v in cuts.gen_mw.items():
        hour(h, f"gen_mw (bus {g})")
        if str(g) not in gen_buses:
            raise InputError(f"STVS cut gen_mw: bus {g!r} has no generator (generator buses: "
                             f"{', '.join(map(str, gen_buses))})")
        if not (np.isfinite(v) and v >= 0):
            raise InputError(f"STVS cut gen_mw at bus {g}, hour {h}: {v!r}; expected MW >= 0")
    for (f, h), v in cuts.boundary_mw.items():
        hour(h, f"boundary_mw ({f})")
        if f not in feeders:
            raise InputError(f"STVS cut boundary_mw: no feeder {f!r} (feeders: {', '.join(feeders)})")
        if not (np.isfinite(v) and v >= 0):
            raise InputError(f"STVS cut boundary_mw of {f}, hour {h}: {v!r}; expected MW >= 0")


def _feeder_copy(net: Any) -> Any:
    f = net.copy()
    if len(f.storage):
        f.storage["sn_mva"] = np.nan  # unity power factor: no apparent-power cone, the model stays a MILP
    return f


@dataclass
class _Feeder:
    name: str
    sched: Any
    base: float
    avail: np.ndarray  # (sgen, T) MW
    kinds: np.ndarray
    st: Any  # storage table


def solve_schedule(cs: CoupledSystem, data: FlexData, *, method: str = "proposed", voltage_control: bool = True,
                   cuts: StvsCuts | None = None, profiles: SystemProfiles | None = None,
                   vm_bounds: dict[tuple[str, str, int], tuple[float, float]] | None = None,
                   time_limit_s: float = 60.0, gap: float = 1e-3) -> FlexSchedule:
    """Build and solve the day's schedule (see the module docstring). ``vm_bounds``: a voltage band of its own for
    some (feeder, bus, hour), from the AC correction (:func:`tdcoord.problems.flex_check.solve_checked`)."""
    from tdcoord.backends import new_builder
    from tdcoord.devices import DeviceOptions, build_devices
    from tdcoord.devices.deep_peak import DeepPeakUnit, constraint_deep_peak_cost
    from tdcoord.formulations import get_formulation
    from tdcoord.network.compiled import compile_network
    from tdcoord.problems.rpo import device_free_network
    from tdcoord.problems.scheduling import build_schedule

    t0 = time.perf_counter()
    T = T_PERIODS
    check_profiles(cs)
    cuts = cuts or StvsCuts()
    prof = profiles or system_profiles(cs, data)
    eps = data.eps
    tn = cs.transmission
    units = unit_rows(tn, data)
    b = new_builder("conic", "flex_schedule")
    ops = b.ops
    cn = compile_network(device_free_network(tn))
    base = cn.base_mva
    form = get_formulation("dc")(b, cn, "T", periods=T)
    devs = build_devices(b, form, tn, cn, "T", DeviceOptions(free_p=True, dt_h=1.0))
    gen = next(d for d in devs if d.ds.table == "gen")
    lb = np.zeros_like(b.blocks["T.gen_p"].lb)
    ub = np.zeros_like(b.blocks["T.gen_p"].ub)  # generators outside the schedule's units stay at 0
    wind_av = data.wind_mw * _wind_profile()
    for name, (r, kind) in units.items():
        if kind == "thermal":
            u = data.thermal[[x.name for x in data.thermal].index(name)]
            lb[r], ub[r] = u.p_c_mw, u.p_max_mw
        elif kind == "hydro":
            lb[r], ub[r] = data.hydro.p_min_mw, data.hydro.p_max()
        elif kind == "nuclear":
            lb[r] = ub[r] = data.nuclear_mw
        else:
            lb[r], ub[r] = 0.0, wind_av
    pos_gen = {str(bus): r for r, bus in enumerate(tn.gen.bus.astype(str))}
    check_cuts(cuts, pos_gen, list(cs.boundary.index))
    for (bus, h), cap in cuts.gen_mw.items():
        r = pos_gen[str(bus)]
        ub[r, h] = max(lb[r, h], min(ub[r, h], cap))
    b.set_bounds("T.gen_p", lb / base, ub / base)
    p_mw = gen.p * base  # (n_gen, T) MW

    names = list(cs.boundary.index)
    pos = cn.position()
    inc = sp.csr_matrix((np.ones(len(names)), ([pos[str(cs.boundary.at[n, "bus"])] for n in names],
                                               range(len(names)))), shape=(cn.n_bus, len(names)))
    pb_lim = np.full((len(names), T), data.boundary_mw)
    for (f, h), cap in cuts.boundary_mw.items():
        pb_lim[names.index(f), h] = min(pb_lim[names.index(f), h], cap)
    pb = b.variable("T.boundary_p", (len(names), T), -pb_lim / base, pb_lim / base)
    p_load = bus_values(tn, cn, "load", "p_mw", T, 1 / base)
    shed = b.variable("T.shed", (cn.n_bus, T), 0.0, p_load)
    form.constraint_power_balance(gen.p_bus - p_load + shed - ops.mm(inc, pb), None)
    form.constraint_thermal_limits()
    b.constraint_ineq("T.shed_limit", ops.sum(shed), ub=data.xi_shed * float(p_load.sum()))

    th_rows = [units[u.name][0] for u in data.thermal]
    h_row = units[data.hydro.name][0]
    ramp_rows = th_rows + [h_row]
    ramps = np.r_[data.thermal_ramp_mw_per_h, data.hydro.ramp_mw_per_h]
    pr = p_mw[ramp_rows, :]
    b.constraint_ineq("T.ramp", pr[:, 1:] - pr[:, :-1], lb=-np.tile(ramps[:, None], (1, T - 1)),
                      ub=np.tile(ramps[:, None], (1, T - 1)))
    p_h = p_mw[h_row, :]
    water = ops.sum(p_h)
    b.constraint_ineq("T.water", water, ub=data.hydro.energy_mwh)
    dps = constraint_deep_peak_cost(b, "T.dps", [DeepPeakUnit(**asdict(u)) for u in data.thermal], p_mw[th_rows, :], T)
    w_row = units[f"W{data.wind_bus}"][0]
    c_t = {
        "thermal": dps.cost,
        "hydro": data.hydro.cost_mwh * water,
        "spill": data.hydro.spill_cost_mwh * (data.hydro.energy_mwh - water),
        "wind_curtail_T": data.c_wind * (float(wind_av.sum()) - ops.sum(p_mw[w_row, :])),
        "shed_T": data.c_shed * base * ops.sum(shed),
    }

    # ------------------------------------------------------------ feeders
    feeders: list[_Feeder] = []
    c_v: Any = 0.0
    ties = feeder_ties(cs)
    tie_buses = {n: [] for n in names}
    for _, fa, ba, fb_, bb in ties:
        tie_buses[fa].append(ba)
        tie_buses[fb_].append(bb)
    c_d: dict[str, Any] = {"purchase": 0.0, "storage_om": 0.0, "curtail_D": 0.0, "shed_D": 0.0}
    for k, n in enumerate(names):
        fnet = _feeder_copy(cs.feeders[n])
        with feeder_shedding(), tie_ends(tie_buses[n], data.tie_mw):
            s = build_schedule(fnet, formulation="lindistflow", builder=b, prefix=n, costs=False, flow_limit="none")
        if f"{n}.load_shed" in b.blocks:
            c_d["shed_D"] = c_d["shed_D"] + data.c_shed * s.cn.base_mva * ops.sum(b.blocks[f"{n}.load_shed"].sym)
        fb = s.cn.base_mva
        zero = np.zeros_like(b.blocks[f"{n}.ext_grid_p"].lb)
        b.set_bounds(f"{n}.ext_grid_p", zero, zero)
        b.set_bounds(f"{n}.ext_grid_q", zero, zero)
        avail = values(fnet, "sgen", "p_mw", T)
        if len(fnet.sgen):
            b.set_bounds(f"{n}.sgen_p", lb=np.zeros_like(b.blocks[f"{n}.sgen_p"].lb))
        wblk = b.blocks[f"{n}.w"]
        lo, hi = VM_BAND if voltage_control else FREE_BAND
        vmax = np.full(T, hi)
        for h, v in cuts.vm_max.items():
            vmax[h] = min(vmax[h], v)
        w_lo, w_hi = np.full(wblk.lb.shape, lo ** 2), np.tile(vmax[None, :] ** 2, (wblk.lb.shape[0], 1))
        if not voltage_control:  # the source at 1 p.u. (nominal tap): the voltages the schedule reports
            root = s.form.o.root
            w_lo[root, :] = w_hi[root, :] = 1.0
        where = s.cn.position()
        for (f, bus, h), (v_lo, v_hi) in (vm_bounds or {}).items():
            if f == n and bus in where:
                w_lo[where[bus], h] = max(w_lo[where[bus], h], v_lo ** 2)
                w_hi[where[bus], h] = min(w_hi[where[bus], h], v_hi ** 2)
        b.set_bounds(f"{n}.w", w_lo, w_hi)
        if voltage_control:  # a small price on |V - 1| picks the flattest of the equally cheap voltage profiles
            vm_l = s.form.vm()
            dv = b.variable(f"{n}.dv", wblk.lb.shape, 0.0, np.inf)
            b.constraint_ineq(f"{n}.dv_above", dv - vm_l, lb=-1.0)
            b.constraint_ineq(f"{n}.dv_below", dv + vm_l, lb=1.0)
            c_v = c_v + C_VOLTAGE * ops.sum(dv)
        if not voltage_control and len(fnet.sgen):
            zq = np.zeros_like(b.blocks[f"{n}.sgen_q"].lb)
            b.set_bounds(f"{n}.sgen_q", zq, zq)
        buy = b.variable(f"{n}.buy", (1, T), 0.0, data.boundary_mw / fb)
        sell = b.variable(f"{n}.sell", (1, T), 0.0, data.boundary_mw / fb)
        b.constraint_eq(f"{n}.exchange", s.form.p_root - buy + sell)
        b.constraint_eq(f"couple.{n}", s.form.p_root * (fb / base) - ops.take(pb, [k]))
        b.constraint_ineq(f"{n}.q_boundary", s.form.q_root, lb=-data.boundary_mw / fb, ub=data.boundary_mw / fb)
        c_d["purchase"] = c_d["purchase"] + fb * (_price(ops, data.price_buy, buy) - _price(ops, data.price_sell, sell))
        kinds = fnet.sgen.kind.to_numpy() if len(fnet.sgen) else np.array([])
        if len(fnet.sgen):
            cw = np.where(kinds == "wind", data.c_wind, data.c_pv)
            c_d["curtail_D"] = c_d["curtail_D"] + float((cw[:, None] * avail).sum()) \
                - fb * ops.sum(ops.rows(cw, b.blocks[f"{n}.sgen_p"].sym))
        if len(fnet.storage):
            c_d["storage_om"] = c_d["storage_om"] + data.storage_om * fb * (
                ops.sum(b.blocks[f"{n}.storage_charge"].sym) + ops.sum(b.blocks[f"{n}.storage_discharge"].sym))
        feeders.append(_Feeder(n, s, fb, avail, kinds, fnet.storage))

    # ------------------------------------------------------------ ties: what leaves one end enters the other
    c_d["tie"] = 0.0
    ends: dict[str, int] = {}
    for name_t, fa, ba, fb_, bb in ties:
        ia, ib = ends.get(fa, 0), ends.get(fb_, 0)
        ends[fa], ends[fb_] = ia + 1, ib + 1
        pa = ops.take(b.blocks[f"{fa}.tie_p"].sym, [ia]) * next(f.base for f in feeders if f.name == fa)
        pbb = ops.take(b.blocks[f"{fb_}.tie_p"].sym, [ib]) * next(f.base for f in feeders if f.name == fb_)
        b.constraint_eq(f"tie.{fa}-{fb_}.{ia}", pa + pbb)
        use = b.variable(f"tie.{fa}-{fb_}.{ia}.abs_mw", (1, T), 0.0, data.tie_mw)
        b.constraint_ineq(f"tie.{fa}-{fb_}.{ia}.abs_pos", use - pa, lb=0.0)
        b.constraint_ineq(f"tie.{fa}-{fb_}.{ia}.abs_neg", use + pa, lb=0.0)
        c_d["tie"] = c_d["tie"] + data.c_tie * ops.sum(use)

    # ------------------------------------------------------------ flexibility supply
    sup_up, sup_dn = [], []
    margins: dict[str, tuple[Any, Any]] = {}
    flexible = flexible_units(units, data)
    for name, (r, pmin, ramp) in flexible.items():
        pmax = ub[r]  # with the STVS loop's caps
        up = b.variable(f"flex.{name}_up", (1, T), 0.0, ramp)
        dn = b.variable(f"flex.{name}_down", (1, T), 0.0, ramp)
        pr_ = p_mw[[r], :]
        b.constraint_ineq(f"flex.{name}_up_cap", up + pr_, ub=pmax[None, :])
        b.constraint_ineq(f"flex.{name}_down_cap", pr_ - dn, lb=pmin)
        margins[name] = (up, dn)
        sup_up.append(up)
        sup_dn.append(dn)
    for fd in feeders:
        n, fb = fd.name, fd.base
        up_terms, dn_terms = 0.0, 0.0
        if len(fd.kinds):
            ps = b.blocks[f"{n}.sgen_p"].sym * fb
            up_terms = up_terms + (fd.avail.sum(axis=0)[None, :] - ops.sum_rows(ps))
            dn_terms = dn_terms + ops.sum_rows(ps)
        if len(fd.st):
            st = fd.st
            ch = b.blocks[f"{n}.storage_charge"].sym * fb
            dis = b.blocks[f"{n}.storage_discharge"].sym * fb
            e = b.blocks[f"{n}.storage_energy"].sym
            e_max = st.e_max_mwh.to_numpy(float)
            m = len(st)
            col = lambda v: np.tile(np.asarray(v, float)[:, None], (1, T))  # noqa: E731
            eta_c, eta_d = st.eta_charge.to_numpy(float), st.eta_discharge.to_numpy(float)
            lo, hi = st.soc_min.to_numpy(float) * e_max, st.soc_max.to_numpy(float) * e_max
            # upward: cancel charging (uc <= ch) and discharge more (ud <= P_dis - dis), within the energy left at
            # the hour's end: eta_c uc + ud / eta_d <= e - lo; downward the mirror
            uc = b.variable(f"flex.{n}.storage_up_cancel", (m, T), 0.0, np.inf)
            ud = b.variable(f"flex.{n}.storage_up_more", (m, T), 0.0, np.inf)
            dc = b.variable(f"flex.{n}.storage_down_more", (m, T), 0.0, np.inf)
            dd = b.variable(f"flex.{n}.storage_down_cancel", (m, T), 0.0, np.inf)
            b.constraint_ineq(f"flex.{n}.storage_up_cancel_cap", uc - ch, ub=0.0)
            b.constraint_ineq(f"flex.{n}.storage_up_power", ud + dis, ub=col(st.p_discharge_max_mw))
            b.constraint_ineq(f"flex.{n}.storage_up_energy", ops.rows(eta_c, uc) + ops.rows(1.0 / eta_d, ud) - e,
                              ub=-col(lo))
            b.constraint_ineq(f"flex.{n}.storage_down_cancel_cap", dd - dis, ub=0.0)
            b.constraint_ineq(f"flex.{n}.storage_down_power", dc + ch, ub=col(st.p_charge_max_mw))
            b.constraint_ineq(f"flex.{n}.storage_down_energy", ops.rows(1.0 / eta_d, dd) + ops.rows(eta_c, dc) + e,
                              ub=col(hi))
            bu, bd = uc + ud, dc + dd
            up_terms = up_terms + ops.sum_rows(bu)
            dn_terms = dn_terms + ops.sum_rows(bd)
        fu = b.variable(f"flex.{n}_up", (1, T), 0.0, np.inf)
        fdn = b.variable(f"flex.{n}_down", (1, T), 0.0, np.inf)
        b.constraint_ineq(f"flex.{n}_up_supply", fu - up_terms, ub=0.0)
        b.constraint_ineq(f"flex.{n}_down_supply", fdn - dn_terms, ub=0.0)
        k = names.index(n)
        pbk = ops.take(pb, [k]) * base
        b.constraint_ineq(f"flex.{n}_up_boundary", pbk - fu, lb=-pb_lim[[k], :])  # with the STVS loop's caps
        b.constraint_ineq(f"flex.{n}_down_boundary", pbk + fdn, ub=pb_lim[[k], :])
        margins[n] = (fu, fdn)
        sup_up.append(fu)
        sup_dn.append(fdn)
    total_up = sum(sup_up[1:], sup_up[0])
    total_dn = sum(sup_dn[1:], sup_dn[0])
    dem = prof.demand
    s_up = b.variable("flex.shortfall_up", (1, T), 0.0, np.inf)
    s_dn = b.variable("flex.shortfall_down", (1, T), 0.0, np.inf)
    b.constraint_ineq("flex.balance_up", s_up + total_up, lb=dem.up[None, :])
    b.constraint_ineq("flex.balance_down", s_dn + total_dn, lb=-dem.down[None, :])
    bh = data.beta_hat
    c_f = {"shortfall": bh * (data.c_flex_up * ops.sum(s_up) + data.c_flex_down * ops.sum(s_dn))}
    tails: dict[str, list[tuple[int, Any]]] = {"up": [], "down": []}
    cvar = 0.0
    for key, tail, tot, s, c in (("up", prof.tail_up, total_up, s_up, data.c_cvar_up),
                                 ("down", prof.tail_down, total_dn, s_dn, data.c_cvar_down)):
        for t, need in tail:
            z = b.variable(f"flex.tail_{key}_{t}", (len(need), 1), 0.0, np.inf)
            cover = ops.period(tot, t) + ops.period(s, t)
            b.constraint_ineq(f"flex.tail_{key}_{t}_excess", z + cover, lb=need.reshape(-1, 1))
            tails[key].append((t, z))
            cvar = cvar + c * bh / prof.days * ops.sum(z)
    c_f["cvar"] = cvar
    # at eps = 0 or 1 a weight of 1e-6 stands in for 0, so the other terms still choose among the equal optima
    w_cost, w_flex = max(eps, EPS_FLOOR), max(1.0 - eps, EPS_FLOOR)
    for key, expr in c_t.items():
        b.objective_term(f"T.{key}", expr, w_cost)
    for key, expr in c_d.items():
        b.objective_term(f"D.{key}", expr, w_cost)
    for key, expr in c_f.items():
        b.objective_term(f"F.{key}", expr, w_flex)
    if voltage_control:
        b.objective_term("V.deviation", c_v, 1.0)
    build_s = time.perf_counter() - t0
    sol = b.solve(solver="HIGHS", options={"time_limit": float(time_limit_s), "mip_rel_gap": float(gap)})
    if not sol.ok:
        raise SolveError(f"the flexibility schedule ({method}): HiGHS ended with status {sol.solver_status!r} "
                          f"({sol.status})")
    x = sol.x

    def val(expr: Any) -> np.ndarray:
        return np.asarray(b.evaluate(sol, [expr])[0], float)

    g = x["T.gen_p"] * base
    gen_mw = {name: g[r] for name, (r, _) in units.items()}
    used = {name: {"up": val(up).ravel(), "down": val(dn).ravel()} for name, (up, dn) in margins.items()}
    out_margins = {}
    for name, (r, pmin, ramp) in flexible.items():  # what each source could give at the schedule
        out_margins[name] = {"up": np.clip(np.minimum(ub[r] - g[r], ramp), 0.0, None),
                             "down": np.clip(np.minimum(g[r] - pmin, ramp), 0.0, None)}
    fr = {}
    for fd in feeders:
        n, s = fd.name, fd.sched
        vm = np.sqrt(np.maximum(x[f"{n}.w"], 0.0))
        fr[n] = dict(vm=vm, root=vm[s.form.o.root], buses=[str(v) for v in s.cn.labels],
                     sp=(x[f"{n}.sgen_p"] * fd.base) if len(fd.kinds) else np.zeros((0, T)),
                     sq=(x[f"{n}.sgen_q"] * fd.base) if len(fd.kinds) and f"{n}.sgen_q" in x else np.zeros((0, T)),
                     stp=((x[f"{n}.storage_discharge"] - x[f"{n}.storage_charge"]) * fd.base) if len(fd.st)
                     else np.zeros((0, T)),
                     ste=x[f"{n}.storage_energy"] if len(fd.st) else np.zeros((0, T)),
                     q=val(s.form.q_root).ravel() * fd.base)
    for k, fd in enumerate(feeders):
        out_margins[fd.name] = _feeder_margins(fd, x, pb_lim[k], x["T.boundary_p"][k] * base)
    # the shortfall and the tail excess from the available supply: what the model's s and z equal at eps < 1,
    # and what they mean at eps = 1, where the flexibility terms weigh nothing and s, z are left loose
    supply = {k: sum(m[k] for m in out_margins.values()) for k in ("up", "down")}
    need = {"up": dem.up, "down": -dem.down}
    short = {k: np.maximum(need[k] - supply[k], 0.0) for k in ("up", "down")}
    short = {k: np.where(v > 1e-7, v, 0.0) for k, v in short.items()}  # solver round-off is not a shortfall
    tail_ex = {}
    for key, tail in (("up", prof.tail_up), ("down", prof.tail_down)):
        arr = np.zeros(T)
        for t, d in tail:
            arr[t] = float(np.maximum(d - max(need[key][t], supply[key][t]), 0.0).sum()) / prof.days
        tail_ex[key] = arr
    costs = {k: float(v) for k, v in sol.terms.items()}
    costs["F.shortfall"] = bh * (data.c_flex_up * float(short["up"].sum())
                                 + data.c_flex_down * float(short["down"].sum()))
    costs["F.cvar"] = bh * (data.c_cvar_up * float(tail_ex["up"].sum())
                            + data.c_cvar_down * float(tail_ex["down"].sum()))
    surplus = {}
    for fd in feeders:
        own = prof.feeder_demand[fd.name]
        surplus[fd.name] = {"up": out_margins[fd.name]["up"] - own.up, "down": out_margins[fd.name]["down"] + own.down}
    return FlexSchedule(
        method=method, status=sol.status, solver_status=str(sol.solver_status), objective=float(sol.objective),
        costs=costs,
        gen_mw=gen_mw, gen_bus={name: str(tn.gen.bus.iloc[r]) for name, (r, _) in units.items()},
        wind_available_mw=wind_av, shed_mw=x["T.shed"].sum(axis=0) * base,
        shed_bus_mw={str(cn.labels[i]): x["T.shed"][i] * base for i in range(cn.n_bus) if x["T.shed"][i].max() > 1e-9},
        boundary_mw={n: x["T.boundary_p"][k] * base for k, n in enumerate(names)},
        boundary_mvar={n: fr[n]["q"] for n in names},
        buy_mw={fd.name: x[f"{fd.name}.buy"].ravel() * fd.base for fd in feeders},
        sell_mw={fd.name: x[f"{fd.name}.sell"].ravel() * fd.base for fd in feeders},
        feeder_vm={n: fr[n]["vm"] for n in names}, feeder_buses={n: fr[n]["buses"] for n in names},
        root_vm={n: fr[n]["root"] for n in names},
        sgen_p_mw={n: fr[n]["sp"] for n in names}, sgen_q_mvar={n: fr[n]["sq"] for n in names},
        sgen_available_mw={fd.name: fd.avail for fd in feeders},
        storage_p_mw={n: fr[n]["stp"] for n in names}, storage_energy_mwh={n: fr[n]["ste"] for n in names},
        feeder_shed_mw={fd.name: x[f"{fd.name}.load_shed"] * fd.base if f"{fd.name}.load_shed" in x
                        else np.zeros((0, T)) for fd in feeders},
        tie_mw={fd.name: {bus: x[f"{fd.name}.tie_p"][k] * fd.base for k, bus in enumerate(tie_buses[fd.name])}
                for fd in feeders if tie_buses[fd.name] and f"{fd.name}.tie_p" in x},
        margins_mw=out_margins, used_mw=used, demand_mw={"up": dem.up.copy(), "down": dem.down.copy()},
        shortfall_mw=short,
        tail_excess_mw=tail_ex, surplus_mw=surplus, cuts=cuts.as_dict(), eps=eps, build_s=build_s,
        solve_s=float(sol.time_s),
        binaries=int(sum(blk.size for blk in b.blocks.values() if blk.discrete)),
        variables=int(sum(blk.size for blk in b.blocks.values())))


def battery_margins(ch: np.ndarray, dis: np.ndarray, e: np.ndarray, st: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each battery's largest upward and downward change of output within the hour (MW; (units, hours)).

    ``e`` is the stored energy at the hour's end (after ``ch``, ``dis``). Upward: cancel the charging first (it
    takes ``eta_c`` MWh per MW from the energy above the minimum, against ``1 / eta_d`` for discharging more),
    then discharge more, within ``P_dis``; downward: charge more first (``eta_c`` MWh per MW of the room below
    the maximum), then cancel the discharging (``1 / eta_d``). Each order gives the most MW for the energy."""
    e_max = st.e_max_mwh.to_numpy(float)[:, None]
    eta_c, eta_d = st.eta_charge.to_numpy(float)[:, None], st.eta_discharge.to_numpy(float)[:, None]
    lo, hi = st.soc_min.to_numpy(float)[:, None] * e_max, st.soc_max.to_numpy(float)[:, None] * e_max
    room = np.maximum(e - lo, 0.0)
    cancel = np.minimum(ch, room / eta_c)
    more = np.minimum(np.maximum(st.p_discharge_max_mw.to_numpy(float)[:, None] - dis, 0.0),
                      (room - eta_c * cancel) * eta_d)
    up = cancel + np.maximum(more, 0.0)
    room = np.maximum(hi - e, 0.0)
    more = np.minimum(np.maximum(st.p_charge_max_mw.to_numpy(float)[:, None] - ch, 0.0), room / eta_c)
    cancel = np.minimum(dis, (room - eta_c * more) * eta_d)
    return up, more + np.maximum(cancel, 0.0)


def _feeder_margins(fd: _Feeder, x: dict, p_bmax: Any, p_b: np.ndarray) -> dict[str, np.ndarray]:
    """A feeder's available upward/downward supply at the schedule, within what its boundary can carry."""
    n, fb = fd.name, fd.base
    up = np.zeros_like(p_b)
    dn = np.zeros_like(p_b)
    if len(fd.kinds):
        ps = x[f"{n}.sgen_p"] * fb
        up = up + (fd.avail - ps).sum(axis=0)
        dn = dn + ps.sum(axis=0)
    if len(fd.st):
        st = fd.st
        ch, dis = x[f"{n}.storage_charge"] * fb, x[f"{n}.storage_discharge"] * fb
        b_up, b_dn = battery_margins(ch, dis, x[f"{n}.storage_energy"], st)
        up = up + b_up.sum(axis=0)
        dn = dn + b_dn.sum(axis=0)
    return {"up": np.clip(np.minimum(up, p_bmax + p_b), 0.0, None),
            "down": np.clip(np.minimum(dn, p_bmax - p_b), 0.0, None)}


def _price(ops: Any, price: Any, x: Any) -> Any:
    """sum_t price_t x_t for a (1, T) expression."""
    return ops.sum(ops.mm(np.diag(np.asarray(price, float)), x.T))


__all__ = ["FREE_BAND", "FlexSchedule", "StvsCuts", "SystemProfiles", "VM_BAND", "battery_margins", "check_cuts",
           "check_profiles", "flexible_units", "solve_schedule",
           "system_profiles", "unit_rows"]
