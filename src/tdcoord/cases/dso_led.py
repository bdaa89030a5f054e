"""The DSO-led coordination study system (seed 003): IEEE 30-bus + N IEEE 33-bus feeders with PV and batteries.

Seed 003 gives only its abstract: "IEEE 30-bus transmission network and five IEEE 33-bus DNs" with PV,
batteries and peer-to-peer (P2P) trades. Every number below is tdcoord's choice, written down here.

Transmission grid (the TSO's DC OPF)
    MATPOWER ``case_ieee30`` as tdcoord's ``ieee30`` (:mod:`tdcoord.cases.standard`). Its two thermal units
    (buses 1 and 2, 360.2 and 140 MW) have quadratic costs ``c2 P^2 + c1 P`` (c1 = 20 $/MWh, c2 = 0.0384 and
    0.25 $/MW^2h); a DC OPF that is an LP needs linear costs, so each unit becomes ``SEGMENTS`` = 5 equal
    segments (one ``gen`` row each, MATPOWER's piecewise-linear practice) priced at the unit's marginal cost at
    the segment's midpoint, ``c1 + 2 c2 P_mid``: unit 1 at 22.8 to 44.9 $/MWh, unit 2 at 27 to 83 $/MWh. The
    locational price then moves with demand through the day (one segment to the next). The four synchronous
    condensers (p = 0) carry no active power and are left out of the DC model. ``case_ieee30`` has no branch
    ratings, so no branch limits the DC flows (prices are the same at every bus in a period); a rating added to
    ``net.line.rate_mva`` is a DC flow limit of the model.

Feeders (the DSOs' SOC DistFlow)
    Baran-Wu 33-bus (``ieee33``, 12.66 kV, 3.715 MW / 2.3 Mvar peak) on transmission load buses: the first
    five are 7, 12, 15, 21 and 30 (``ieee30+5xieee33``: the largest loads in five parts of the grid); more
    feeders go on the other load buses in order of decreasing load (at most one per load bus: 21 buses).
    Each feeder stands for part of its bus's load (the bus load is reduced by what the feeder draws, not below
    zero). The substation holds the feeder's root at ``ROOT_VM`` = 1.03 p.u. (its transformer is not part of
    the DC model; it is lossless here); feeder voltages within [0.90, 1.10] p.u. (the case's own limits),
    boundary exchange within the substation rating, ``BOUNDARY_MVA`` = 10 MVA.

    PV: four prosumer buses per feeder at the ends of its laterals and main trunk (``PROSUMER_BUSES``: 18, 22,
    25, 33), each with a quarter of the feeder's PV. The feeders differ in PV size, so that some have surplus
    at noon while others do not: peak PV as a share of the feeder's peak load ``PV_SHARE`` = 1.6, 0.4, 1.1,
    0.0, 2.0 (cycled for more than five feeders); unity power factor; PV may be curtailed (a ``gen`` row of kind
    ``pv`` whose ``p_max_mw`` series is the available power), which the study reports.

    Battery: one per feeder with PV, at prosumer bus 18 (the far end of the main trunk): 2 MWh, 0.5 MW
    charging and discharging, efficiencies 0.95 each way, state of charge within [0.1, 0.9] of capacity,
    starting at 0.5 and back to at least 0.5 at the end of the day, wear cost 2 $/MWh of throughput.

Time series (24 hourly periods): every load follows ``profiles.DEFAULT.load`` (0.58 to 1.0 of peak), PV
``profiles.DEFAULT.pv`` (clear-day shape, 0 at night, 0.9 at 12:00).

Market terms (:class:`Tariffs`): energy across a substation is settled at the locational price of its
transmission bus. Energy bought from the grid (by a prosumer or by the feeder's other consumers) pays a
network charge of 15 $/MWh; energy bought from a prosumer of the same feeder pays a local fee of 2 $/MWh,
and energy bought from another feeder (cross-feeder P2P through the transmission grid) a wheeling fee of
6 $/MWh plus the trading price of 30 $/MWh to the selling feeder. Local and cross-feeder trades thereby save
network charges, which is what makes P2P worth doing; the fees make a bus never buy and sell at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tdcoord.errors import InputError
from tdcoord.network.network import Network
from tdcoord.network.timeseries import values

FIRST_FEEDER_BUSES = ("7", "12", "15", "21", "30")
PROSUMER_BUSES = ("18", "22", "25", "33")
BATTERY_BUS = "18"
PV_SHARE = (1.6, 0.4, 1.1, 0.0, 2.0)
SEGMENTS = 5
ROOT_VM = 1.03
BOUNDARY_MVA = 10.0
BATTERY = {"e_max_mwh": 2.0, "p_charge_max_mw": 0.5, "p_discharge_max_mw": 0.5, "eta_charge": 0.95,
           "eta_discharge": 0.95, "soc_min": 0.1, "soc_max": 0.9, "soc_init": 0.5, "cost_mwh": 2.0}


@dataclass
class Tariffs:
    """Prices of the market terms ($/MWh; see the module docstring)."""

    network_charge: float = 15.0
    local_fee: float = 2.0
    wheeling_fee: float = 6.0
    trading_price: float = 30.0

    def check(self) -> None:
        for k, v in vars(self).items():
            if not (np.isfinite(v) and v >= 0):
                raise InputError(f"tariff {k} = {v!r}: expected a finite price >= 0 $/MWh")


@dataclass
class Feeder:
    """One DSO's network: ``net`` (its own bus labels, series attached), on transmission bus ``bus``."""

    name: str
    bus: str
    net: Network
    prosumers: list[str]
    boundary_mva: float = BOUNDARY_MVA


@dataclass
class DsoLedSystem:
    """The transmission grid (segments as ``gen`` rows, series attached) and the feeders below it."""

    name: str
    tn: Network
    feeders: list[Feeder]
    periods: int
    dt_h: float = 1.0
    tariffs: Tariffs = field(default_factory=Tariffs)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "periods": self.periods, "dt_h": self.dt_h,
                "feeders": [{"name": f.name, "bus": f.bus, "pv_mw": float(f.net.gen.p_max_mw.sum()),
                             "batteries": len(f.net.storage)} for f in self.feeders]}


def segment_units(tn: Network, segments: int = SEGMENTS) -> Network:
    """``tn`` with every unit with active power split into ``segments`` equal linear-cost ``gen`` rows (priced at
    the marginal cost at the segment's midpoint) and units without active power (condensers) left out."""
    out = tn.copy()
    g = out.gen
    keep = g[g.p_max_mw > 0]
    rows = []
    for idx, r in keep.iterrows():
        width = (r.p_max_mw - max(r.p_min_mw, 0.0)) / segments
        for k in range(segments):
            mid = max(r.p_min_mw, 0.0) + (k + 0.5) * width
            row = r.to_dict()
            row.update(p_min_mw=0.0, p_max_mw=width, p_mw=0.0, cost_c2=0.0,
                       cost_c1=float(r.cost_c1 + 2.0 * r.cost_c2 * mid), cost_c0=0.0,
                       slack=bool(r.slack) and k == 0, name=f"{r.get('name') or f'gen {idx}'} segment {k + 1}")
            rows.append(row)
    out.gen = out.gen.iloc[0:0]
    for row in rows:
        out.add("gen", row)
    return out


def dso_led_system(n_feeders: int = 5, *, periods: int = 24, pv_share: tuple[float, ...] = PV_SHARE,
                   tariffs: Tariffs | None = None) -> DsoLedSystem:
    """The study system with ``n_feeders`` feeders (module docstring)."""
    from tdcoord.cases.profiles import DEFAULT
    from tdcoord.cases.registry import _network

    t = _network("ieee30")
    loads = t.load[t.load.in_service & (t.load.p_mw > 0)]
    by_bus = loads.groupby("bus").p_mw.sum().sort_values(ascending=False)
    order = list(FIRST_FEEDER_BUSES) + [b for b in by_bus.index if b not in FIRST_FEEDER_BUSES]
    if isinstance(n_feeders, bool) or not isinstance(n_feeders, (int, np.integer)) or not 1 <= n_feeders <= len(order):
        raise InputError(f"feeders = {n_feeders!r}: the IEEE 30-bus grid has {len(order)} load buses, one feeder "
                         f"each: expected 1..{len(order)}")
    if not 1 <= periods <= 24:
        raise InputError(f"periods = {periods!r}: the profiles cover one day of hourly periods: expected 1..24")
    tariffs = tariffs or Tariffs()
    tariffs.check()
    load_shape = np.asarray(DEFAULT.load[:periods], float)
    pv_shape = np.asarray(DEFAULT.pv[:periods], float)
    base_feeder = _network("ieee33")
    feeders = []
    for k, bus in enumerate(order[:n_feeders]):
        f = base_feeder.copy()
        f.name = f"ieee33@{bus}"
        f.ext_grid.loc[:, "vm_pu"] = ROOT_VM
        peak = float(f.load.p_mw.sum())
        share = float(pv_share[k % len(pv_share)])
        if share < 0:
            raise InputError(f"feeder {f.name}: PV share {share!r} of peak load: expected >= 0")
        if share > 0:
            for pb in PROSUMER_BUSES:
                size = share * peak / len(PROSUMER_BUSES)
                f.add_gen(pb, p_mw=0.0, p_min_mw=0.0, p_max_mw=size, q_min_mvar=0.0, q_max_mvar=0.0, kind="pv",
                          cost_c1=0.0, cost_c2=0.0, cost_c0=0.0, slack=False, name=f"PV {pb}")
            f.add("storage", {"bus": BATTERY_BUS, **BATTERY, "controllable": True, "name": f"battery {BATTERY_BUS}"})
        f.set_timeseries("load", "p_mw", np.outer(load_shape, f.load.p_mw.to_numpy(float)))
        f.set_timeseries("load", "q_mvar", np.outer(load_shape, f.load.q_mvar.to_numpy(float)))
        if len(f.gen):
            f.set_timeseries("gen", "p_max_mw", np.outer(pv_shape, f.gen.p_max_mw.to_numpy(float)))
        feeders.append(Feeder(f.name, str(bus), f, list(PROSUMER_BUSES) if share > 0 else []))
        rows = t.load.index[(t.load.bus == bus) & t.load.in_service]
        for col, drawn in (("p_mw", f.load.p_mw.sum()), ("q_mvar", f.load.q_mvar.sum())):
            total = t.load.loc[rows, col].sum()
            if total > 0:
                t.load.loc[rows, col] *= max(0.0, 1.0 - drawn / total)
    tn = segment_units(t)
    tn.name = "ieee30 (DC, segmented costs)"
    tn.set_timeseries("load", "p_mw", np.outer(load_shape, tn.load.p_mw.to_numpy(float)))
    tn.set_timeseries("load", "q_mvar", np.outer(load_shape, tn.load.q_mvar.to_numpy(float)))
    system = DsoLedSystem(f"ieee30+{n_feeders}xieee33", tn, feeders, periods, 1.0, tariffs)
    system.notes.append(f"{n_feeders} ieee33 feeders on ieee30 load buses {', '.join(order[:n_feeders])}; "
                        f"units in {SEGMENTS} cost segments; see tdcoord.cases.dso_led")
    check_system(system)
    return system


def check_system(system: DsoLedSystem) -> None:
    """Data a user may have changed: batteries, series lengths, and that the TSO can serve any boundary
    exchange within the substation ratings (so that its DC OPF is feasible whatever the DSOs decide)."""
    T = system.periods
    for f in system.feeders:
        st = f.net.storage
        for idx, r in st.iterrows():
            where = f"feeder {f.name}, storage {idx}"
            if not r.soc_min <= r.soc_max:
                raise InputError(f"{where}: soc_min {r.soc_min} above soc_max {r.soc_max}: expected soc_min <= soc_max")
            if not (0 <= r.soc_min and r.soc_max <= 1):
                raise InputError(f"{where}: state-of-charge bounds [{r.soc_min}, {r.soc_max}]: expected within [0, 1]")
            for col in ("eta_charge", "eta_discharge"):
                if not 0 < r[col] <= 1:
                    raise InputError(f"{where}: {col} = {r[col]}: expected an efficiency in (0, 1]")
            if not r.soc_min <= r.soc_init <= r.soc_max:
                raise InputError(f"{where}: soc_init {r.soc_init} outside [{r.soc_min}, {r.soc_max}]")
        for key, df in f.net.timeseries.items():
            if len(df) != T:
                raise InputError(f"feeder {f.name}: time series {key} has {len(df)} periods, expected {T}")
        bad = [p for p in f.prosumers if p not in f.net.bus.index]
        if bad:
            raise InputError(f"feeder {f.name}: prosumer bus {bad[0]!r} does not exist")
        if f.bus not in system.tn.bus.index:
            raise InputError(f"feeder {f.name}: transmission bus {f.bus!r} does not exist")
    for key, df in system.tn.timeseries.items():
        if len(df) != T:
            raise InputError(f"transmission grid: time series {key} has {len(df)} periods, expected {T}")
    demand = values(system.tn, "load", "p_mw", T).sum(axis=0)
    cap = float(system.tn.gen.p_max_mw[system.tn.gen.in_service].sum())
    low, high = exchange_range(system)
    worst_high, worst_low = demand + high.sum(axis=0), demand + low.sum(axis=0)
    if np.any(worst_high > cap) or np.any(worst_low < 0):
        t = int(np.argmax(np.maximum(worst_high - cap, -worst_low)))
        raise InputError(f"{system.name}: in period {t} the transmission units (0 to {cap:.1f} MW) cannot serve every "
                         f"exchange the feeders can choose (grid demand {demand[t]:.1f} MW, feeders {low[:, t].sum():.1f} "
                         f"to {high[:, t].sum():.1f} MW): fewer feeders, less PV or more units")


def exchange_range(system: DsoLedSystem, loss_margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Per feeder and period, the exchange (MW, import positive) a DSO can choose at most and at least: from its
    load less all its PV and battery discharge, to its load (plus ``loss_margin`` for the losses) and battery
    charge; within the substation rating. The TSO's DC OPF must be feasible over all of it."""
    T = system.periods
    low, high = [], []
    for f in system.feeders:
        net = f.net
        on = net.load.in_service.to_numpy(bool)
        load = values(net, "load", "p_mw", T)[on].sum(axis=0)
        pv = values(net, "gen", "p_max_mw", T).sum(axis=0) if len(net.gen) else np.zeros(T)
        st = net.storage[net.storage.in_service]
        low.append(np.maximum(load - pv - float(st.p_discharge_max_mw.sum()), -f.boundary_mva))
        high.append(np.minimum((1.0 + loss_margin) * load + float(st.p_charge_max_mw.sum()), f.boundary_mva))
    return np.array(low).reshape(-1, T), np.array(high).reshape(-1, T)


__all__ = ["DsoLedSystem", "Feeder", "Tariffs", "check_system", "dso_led_system", "exchange_range", "segment_units"]
