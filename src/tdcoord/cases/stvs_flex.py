"""The seed-001 study system with the distributed resources of the paper's Table 3.

``ieee14+ieee13@13+ieee13@14`` (:func:`tdcoord.cases.coupled_cases.seed001`:
two IEEE 13-node feeders on buses 13 and 14 of the IEEE 14-bus grid, with a
normally open tie line between them) gets the PV, wind and batteries of
Table 3. The paper numbers the feeders' buses 15-26 (DS1, on bus 13) and
27-38 (DS2, on bus 14) without a map to the IEEE 13-node names; tdcoord
numbers the 12 nodes other than the source node 650 in the standard's
order (632, 633, 634, 645, 646, 671, 680, 684, 611, 652, 692, 675), so that
DS1 bus 24 is node 652, 25 is 692 and 26 is 675, and DS2 bus 36 is 652, 37
is 692 and 38 is 675: the resources sit at the feeders' far ends, where
they move voltages most.

Choices the paper leaves open, written down here:

- inverters rated 1.1 x their active capacity (``sn_mva``), so that they
  give 0.458 of their active rating as reactive power at full output (the
  IEEE 1547 category B requirement of 0.44);
- batteries (0.5 MW each) hold 2 hours (1.0 MWh), charge and discharge at
  95 % efficiency, and keep their state of charge in 10-90 % (starting and
  ending at 50 %);
- PV and wind available at ``availability`` of capacity (default 1.0: the
  installed capacities; a schedule's profiles replace it per hour).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tdcoord.errors import InputError
from tdcoord.network.coupled import CoupledSystem

#: the paper's bus numbers -> the IEEE 13-node names (see the module docstring)
NODE_ORDER = ("632", "633", "634", "645", "646", "671", "680", "684", "611", "652", "692", "675")
FEEDERS = {"DS1": ("ieee13@13", 15), "DS2": ("ieee13@14", 27)}
#: Table 3: (subsystem, kind, paper bus, capacity MW)
TABLE3 = (
    ("DS1", "pv", 24, 0.5), ("DS1", "pv", 25, 0.4), ("DS1", "pv", 26, 0.6),
    ("DS1", "bess", 26, 0.5), ("DS1", "bess", 25, 0.5),
    ("DS2", "pv", 36, 0.5), ("DS2", "pv", 38, 0.6), ("DS2", "wind", 37, 0.8),
    ("DS2", "bess", 38, 0.5), ("DS2", "bess", 36, 0.5),
)
SN_OVERSIZE = 1.1
BESS_HOURS = 2.0
BESS_ETA = 0.95


def paper_bus(subsystem: str, number: int) -> tuple[str, str]:
    """(feeder name, IEEE 13-node label) of the paper's bus ``number`` in ``subsystem``."""
    if subsystem not in FEEDERS:
        raise ValueError(f"subsystem {subsystem!r}: expected one of {', '.join(FEEDERS)}")
    feeder, first = FEEDERS[subsystem]
    k = number - first
    if not 0 <= k < len(NODE_ORDER):
        raise ValueError(f"{subsystem} bus {number}: expected {first}..{first + len(NODE_ORDER) - 1}")
    return feeder, NODE_ORDER[k]


def with_der(cs: CoupledSystem, availability: float = 1.0) -> CoupledSystem:
    """``cs`` (the seed-001 system) with Table 3's resources added to its feeders (in place; returned)."""
    for sub, kind, number, mw in TABLE3:
        feeder, bus = paper_bus(sub, number)
        net = cs.feeders[feeder]
        name = f"{sub} {kind} {number}"
        if kind in ("pv", "wind"):
            net.add("sgen", {"bus": [bus], "p_mw": [mw * availability], "q_mvar": [0.0], "p_max_mw": [mw],
                             "sn_mva": [SN_OVERSIZE * mw], "pf_min": [float("nan")], "kind": [kind], "controllable": [True],
                             "name": [name]})
        else:
            net.add("storage", {"bus": [bus], "p_mw": [0.0], "q_mvar": [0.0], "e_max_mwh": [BESS_HOURS * mw],
                                "p_charge_max_mw": [mw], "p_discharge_max_mw": [mw], "eta_charge": [BESS_ETA],
                                "eta_discharge": [BESS_ETA], "soc_min": [0.1], "soc_max": [0.9], "soc_init": [0.5],
                                "soc_final": [0.5], "sn_mva": [SN_OVERSIZE * mw], "name": [name]})
    cs.notes.append("Table 3 resources (PV, wind, batteries) added: tdcoord.cases.stvs_flex")
    return cs


def stvs_flex_system(availability: float = 1.0) -> CoupledSystem:
    """The seed-001 system with Table 3's resources."""
    from tdcoord.cases.coupled_cases import seed001

    return with_der(seed001(), availability)





# ------------------------------------------------------------ the schedule's data
#
# The paper (section 4.1-4.2, Table 2) names the kinds of the transmission units (thermal units retrofitted for
# deep peak shaving, hydro with a head-dependent output, nuclear as must-run, wind and PV whose curtailment is
# penalized) but none of their parameters. The values below are this module's choices, each with its reason:
#
# - Units on the IEEE 14-bus generator buses (the five of Table 2): bus 1 and bus 2 thermal (deep peak shaving),
#   bus 3 hydro, bus 6 nuclear, bus 8 a wind farm. The thermal fuel-cost coefficients are MATPOWER case14's for
#   those units (a = 0.0430293 and 0.25 $/MW^2h, b = 20 $/MWh); both are rated 100 MW (332.4 and 140 in case14),
#   the rating of every machine of ANDES' IEEE 14-bus dynamic case that the stability assessment simulates (a
#   150 MW dispatch on its 100 MVA machine at bus 1 lost synchronism after 0.2 s faults at the evening peak).
#   With the units' oil-assisted minimum (30 % of rating), the hydro minimum and the must-run nuclear (110.5 MW
#   together) the night valley of the RTS day (0.58 x 259 MW = 150 MW) leaves room for most of the night's wind
#   only when the thermal units shave deep: the deep-peak-shaving story of the paper.
# - Deep peak shaving stages: normal minimum 50 %, deep peak shaving without oil down to 40 %, with oil down to
#   30 % of the rating (the retrofitted coal units of north-east China's peak-regulation market run 30-40 %);
#   wear cost k1 15 $/MWh and oil cost k2 60 $/MWh below the stage limits; compensation ks 30 $/MWh at
#   hs = 1 (market compensation of 0.2-0.4 CNY/kWh, i.e. about 30-55 $/MWh, for the deepest band).
# - Ramping 50 % of the rating per hour (thermal), 60 MW/h (hydro).
# - Generator tables (for the AC re-check): every unit's active range is the schedule's; reactive range
#   -0.3 to +0.5 of its machine's rating (a 0.9 power-factor machine), the rating being the larger of the unit's
#   active rating and the dynamic case's 100 MVA machine on that bus; voltage set-points those of ANDES' IEEE 14-bus
#   dynamic case (1.03 p.u., 1.01 at bus 3), which the stability assessment simulates, in place of case14's
#   1.06-1.09 (above the 0.95-1.05 band).
# - Hydro, 100 MW: the available output follows the head, ``p_max = 100 MW x head ** 1.5`` (discharge through a
#   fixed gate grows as the square root of the head, power as discharge times head); the head (p.u. of the rated
#   head) is ``0.95 + 0.05 cos(2 pi (t - 4) / 24)``: full at 04:00 after the night's refill, 0.90 at 16:00 after
#   the day's drawdown. Minimum discharge 10 MW; a daily water budget of 1,200 MWh (50 MW average) whose unused
#   part is spilled at a penalty c_S of 40 $/MWh; running cost 5 $/MWh.
# - Nuclear: 45 MW rated, must-run at xi_N = 0.9 (40.5 MW).
# - Wind farm, 60 MW at bus 8, on the built-in diurnal wind profile; curtailment penalty c_W 100 $/MWh. The
#   dynamic model of the stability assessment keeps the case's synchronous machine at bus 8 for it (ANDES'
#   IEEE 14-bus case has no converter model there); 60 MW keeps its output near the machine's 35 MW of the
#   dynamic case that the surrogate was trained around.
# - Load shedding: c_L 1,000 $/MWh (value of lost load), at most xi_L = 2 % of the day's energy.
# - Line ratings: case14 gives none; none are imposed (the DC flows are reported).
# - Feeders: the boundary transformers' 6.3 MVA is P_Bmax, each way. Purchase price (time of use): 40 $/MWh in
#   the valley (23:00-07:00), 95 $/MWh at the peaks (10:00-12:00, 18:00-21:00), 65 $/MWh otherwise; the feeders
#   sell back at half the purchase price. Battery operation and maintenance 5 $/MWh of charge and of discharge.
#   PV and wind curtailment c_P = c_W = 100 $/MWh. Batteries run at unity power factor (their reactive power is
#   not scheduled: the model stays a MILP); the inverters' reactive range at each hour is
#   ``sqrt(sn^2 - p_forecast^2)`` (a box, not a cone: the forecast fixes it).
# - The tie line DS1-DS2 (680-680): the paper uses it for exchange between the feeders. Closed as a line it would
#   mesh the two feeders through the grid, which the radial LinDistFlow model cannot hold; it is scheduled as a
#   controlled transfer (a back-to-back converter, or soft open point, in the tie) of at most tie_mw = 2.0 MW
#   either way, lossless, at c_tie = 1 $/MWh (converter wear; it also keeps the transfer at 0 where it buys
#   nothing). The AC re-check injects the scheduled transfer at both ends of the (still open) tie.
# - Flexibility (section 3.2): confidence beta = 0.95, so the multiplier 1/(1 - beta) = 20; shortfall penalty
#   c_F 30 $/MWh up and down, tail (CVaR) penalty c_CVaR 20 $/MWh (at most c_F: see problems.flex_schedule);
#   the error history is 60 days drawn with seed 0 (uncertainty.pbox.synthetic_history).
# - eps = 0.5 (the paper gives no value).
# - High DER penetration (the paper's Fig. 8): every PV and wind unit of Table 3, and the batteries, at three
#   times the capacity (the feeders' midday output then exceeds their load).

T_PERIODS = 24
HOURS_ = np.arange(T_PERIODS)
PENETRATIONS = {"base": 1.0, "high": 3.0}


def _tou(valley: float = 40.0, flat: float = 65.0, peak: float = 95.0) -> tuple[float, ...]:
    out = []
    for h in range(T_PERIODS):
        if h >= 23 or h < 7:
            out.append(valley)
        elif 10 <= h < 12 or 18 <= h < 21:
            out.append(peak)
        else:
            out.append(flat)
    return tuple(out)


@dataclass(frozen=True)
class ThermalUnit:
    """A thermal unit's deep-peak-shaving data (the fields of :class:`tdcoord.devices.deep_peak.DeepPeakUnit`,
    which checks them)."""

    name: str
    p_max_mw: float
    p_a_mw: float
    p_b_mw: float
    p_c_mw: float
    a: float
    b: float
    c: float
    k1: float
    k2: float
    hs: float
    ks: float


@dataclass(frozen=True)
class HydroUnit:
    """A hydro unit whose available output follows its head (see the module's notes)."""

    name: str
    bus: str
    p_rated_mw: float
    p_min_mw: float
    ramp_mw_per_h: float
    energy_mwh: float  # the day's water, as energy at the turbine
    head: tuple[float, ...]  # per unit of the rated head, hourly
    cost_mwh: float
    spill_cost_mwh: float

    def p_max(self) -> np.ndarray:
        return self.p_rated_mw * np.asarray(self.head, float) ** 1.5


@dataclass(frozen=True)
class FlexData:
    """Everything the coordinated schedule needs besides the networks (units, prices, penalties, flexibility)."""

    thermal: tuple[ThermalUnit, ...]
    thermal_bus: tuple[str, ...]
    thermal_ramp_mw_per_h: tuple[float, ...]
    hydro: HydroUnit
    nuclear_bus: str = "6"
    nuclear_rated_mw: float = 45.0
    nuclear_ratio: float = 0.9
    wind_bus: str = "8"
    wind_mw: float = 60.0
    c_shed: float = 1000.0
    c_wind: float = 100.0
    c_pv: float = 100.0
    xi_shed: float = 0.02
    boundary_mw: float = 6.3
    tie_mw: float = 2.0
    c_tie: float = 1.0
    price_buy: tuple[float, ...] = field(default_factory=_tou)
    sell_ratio: float = 0.5
    storage_om: float = 5.0
    beta: float = 0.95
    c_flex_up: float = 30.0
    c_flex_down: float = 30.0
    c_cvar_up: float = 20.0
    c_cvar_down: float = 20.0
    history_days: int = 60
    history_seed: int = 0
    eps: float = 0.5
    penetration: str = "base"

    def __post_init__(self) -> None:
        check_eps(self.eps)
        if len(self.price_buy) != T_PERIODS or len(self.hydro.head) != T_PERIODS:
            raise InputError(f"flexibility schedule data: price and head profiles need {T_PERIODS} hourly values, got "
                             f"{len(self.price_buy)} and {len(self.hydro.head)}")
        if not 0 < self.beta < 1:
            raise InputError(f"beta = {self.beta!r}: expected a confidence level in (0, 1)")
        if self.c_cvar_up > self.c_flex_up or self.c_cvar_down > self.c_flex_down:
            raise InputError("the tail (CVaR) penalties must not exceed the shortfall penalties (c_cvar <= c_flex): "
                             "otherwise the model would buy a tail reduction with a made-up shortfall")
        if len(self.thermal) != len(self.thermal_bus) or len(self.thermal) != len(self.thermal_ramp_mw_per_h):
            raise InputError("flexibility schedule data: one bus and one ramp rate per thermal unit")
        for name in ("c_shed", "c_wind", "c_pv", "xi_shed", "storage_om", "c_flex_up", "c_flex_down", "c_cvar_up",
                     "c_cvar_down", "sell_ratio", "nuclear_ratio", "tie_mw", "c_tie"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise InputError(f"flexibility schedule data: {name} = {v!r}; expected a finite number >= 0")
        for name in ("boundary_mw", "wind_mw", "nuclear_rated_mw"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"flexibility schedule data: {name} = {v!r}; expected a number > 0 (MW)")
        if self.history_days < 2:
            raise InputError(f"flexibility schedule data: history_days = {self.history_days!r}; expected 2 or more")

    @property
    def price_sell(self) -> np.ndarray:
        return self.sell_ratio * np.asarray(self.price_buy, float)

    @property
    def nuclear_mw(self) -> float:
        return self.nuclear_ratio * self.nuclear_rated_mw

    @property
    def beta_hat(self) -> float:
        return 1.0 / (1.0 - self.beta)


def check_eps(eps: float) -> float:
    """The risk preference coefficient: a number in [0, 1]."""
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise InputError(f"eps = {eps!r}: expected a number in [0, 1]") from None
    if not (np.isfinite(e) and 0.0 <= e <= 1.0):
        raise InputError(f"eps = {eps!r}: expected a number in [0, 1] (the weight of the operating cost against the "
                         f"flexibility risk)")
    return e


def flex_data(penetration: str = "base", **changes: object) -> FlexData:
    """The documented data (module notes); ``changes`` replace fields (e.g. ``eps=0.8``)."""
    if penetration not in PENETRATIONS:
        raise InputError(f"penetration {penetration!r}: expected one of {', '.join(PENETRATIONS)}")
    thermal = (ThermalUnit("G1", 100.0, 50.0, 40.0, 30.0, 0.0430293, 20.0, 0.0, 15.0, 60.0, 1.0, 30.0),
               ThermalUnit("G2", 100.0, 50.0, 40.0, 30.0, 0.25, 20.0, 0.0, 15.0, 60.0, 1.0, 30.0))
    head = tuple(float(v) for v in 0.95 + 0.05 * np.cos(2 * np.pi * (HOURS_ - 4) / 24))
    hydro = HydroUnit("H3", "3", 100.0, 10.0, 60.0, 1200.0, head, 5.0, 40.0)
    data = FlexData(thermal, ("1", "2"), (50.0, 50.0), hydro, penetration=penetration)
    unknown = sorted(set(changes) - set(FlexData.__dataclass_fields__))
    if unknown:
        raise InputError(f"flexibility schedule data: no field {', '.join(unknown)} (fields: "
                         f"{', '.join(FlexData.__dataclass_fields__)})")
    return replace(data, **changes) if changes else data  # type: ignore[arg-type]


#: ANDES' IEEE 14-bus dynamic case: generator voltage set-points by bus
VM_SETPOINTS = {"1": 1.03, "2": 1.03, "3": 1.01, "6": 1.03, "8": 1.03}
MACHINE_MVA = 100.0  # every machine of that case


def set_units(cs: CoupledSystem, data: "FlexData") -> CoupledSystem:
    """The transmission generator table made to describe the schedule's units (ranges, kinds, set-points)."""
    g = cs.transmission.gen
    ranges = {b: (u.p_c_mw, u.p_max_mw, "thermal") for u, b in zip(data.thermal, data.thermal_bus)}
    ranges[data.hydro.bus] = (data.hydro.p_min_mw, data.hydro.p_rated_mw, "hydro")
    ranges[data.nuclear_bus] = (data.nuclear_mw, data.nuclear_mw, "thermal")  # tdcoord has no nuclear kind
    ranges[data.wind_bus] = (0.0, data.wind_mw, "wind")
    rated = {data.nuclear_bus: data.nuclear_rated_mw}
    for i in g.index:
        b = str(g.at[i, "bus"])
        if b not in ranges:
            continue
        lo, hi, kind = ranges[b]
        s = max(rated.get(b, hi), MACHINE_MVA)
        g.loc[i, ["p_min_mw", "p_max_mw", "q_min_mvar", "q_max_mvar"]] = [lo, hi, -0.3 * s, 0.5 * s]
        g.loc[i, "kind"] = kind
        g.loc[i, "vm_pu"] = VM_SETPOINTS.get(b, g.at[i, "vm_pu"])
        g.loc[i, "p_mw"] = min(max(g.at[i, "p_mw"], lo), hi)
    return cs


def flex_system(penetration: str = "base", data: "FlexData | None" = None) -> CoupledSystem:
    """The seed-001 system with Table 3's resources (times the penetration's factor), the schedule's units in
    the transmission generator table (:func:`set_units`) and the day's profiles."""
    from tdcoord.cases.profiles import attach_profiles

    if penetration not in PENETRATIONS:
        raise InputError(f"penetration {penetration!r}: expected one of {', '.join(PENETRATIONS)}")
    cs = set_units(stvs_flex_system(), data or flex_data(penetration))
    k = PENETRATIONS[penetration]
    if k != 1.0:
        for f in cs.feeders.values():
            for col in ("p_mw", "p_max_mw", "sn_mva"):
                f.sgen[col] = f.sgen[col] * k
            for col in ("e_max_mwh", "p_charge_max_mw", "p_discharge_max_mw", "sn_mva"):
                f.storage[col] = f.storage[col] * k
        cs.notes.append(f"high DER penetration: Table 3's PV, wind and batteries x{k:g}")
    return attach_profiles(cs)


__all__ = ["FEEDERS", "FlexData", "HydroUnit", "NODE_ORDER", "PENETRATIONS", "TABLE3", "ThermalUnit", "VM_SETPOINTS",
           "check_eps", "flex_data", "flex_system", "paper_bus", "set_units", "stvs_flex_system", "with_der"]
