"""Element tables of a :class:`~tdcoord.network.Network`, defined once.

Each table is a list of :class:`Column` with its type, default, unit and
meaning. Units are in the column names, as in pandapower. Sign convention:
an injection into the network is positive, loads are positive consumption.

Per-unit quantities (``*_pu``) of a transformer are on the transformer's own
``sn_mva`` and on the nominal voltages of the buses it connects; off-nominal
ratios are in ``tap_pu``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REQUIRED = object()
"""Marker for columns without a default: the user must give them."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "float", "int", "bool", "str", "bus"
    default: Any
    doc: str

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _c(name: str, kind: str, default: Any, doc: str) -> Column:
    return Column(name, kind, default, doc)


NAN = float("nan")

BUS = [
    _c("vn_kv", "float", REQUIRED, "nominal line-to-line voltage, kV"),
    _c("vm_min_pu", "float", 0.9, "lower voltage limit, p.u."),
    _c("vm_max_pu", "float", 1.1, "upper voltage limit, p.u."),
    _c("in_service", "bool", True, "bus in service"),
    _c("name", "str", "", "free-text name"),
    _c("zone", "str", "", "area or zone tag"),
]

LINE = [
    _c("from_bus", "bus", REQUIRED, "sending-end bus label"),
    _c("to_bus", "bus", REQUIRED, "receiving-end bus label"),
    _c("r_ohm", "float", REQUIRED, "series resistance, ohm (whole line)"),
    _c("x_ohm", "float", REQUIRED, "series reactance, ohm (whole line)"),
    _c("b_us", "float", 0.0, "total shunt charging susceptance, microsiemens"),
    _c("rate_mva", "float", NAN, "thermal rating, MVA (NaN: unlimited)"),
    _c("ang_min_deg", "float", -360.0, "lower limit of the angle difference from - to, degrees"),
    _c("ang_max_deg", "float", 360.0, "upper limit of the angle difference from - to, degrees"),
    _c("in_service", "bool", True, "line in service (closed)"),
    _c("name", "str", "", "free-text name"),
]

TRAFO = [
    _c("from_bus", "bus", REQUIRED, "tap-side bus label"),
    _c("to_bus", "bus", REQUIRED, "other-side bus label"),
    _c("sn_mva", "float", REQUIRED, "rating, MVA; also the base of r_pu, x_pu, g_pu, b_pu"),
    _c("r_pu", "float", REQUIRED, "series resistance, p.u. on sn_mva"),
    _c("x_pu", "float", REQUIRED, "series reactance, p.u. on sn_mva"),
    _c("g_pu", "float", 0.0, "magnetizing conductance, p.u. on sn_mva"),
    _c("b_pu", "float", 0.0, "magnetizing/charging susceptance, p.u. on sn_mva"),
    _c("tap_pu", "float", 1.0, "off-nominal turns ratio at from_bus, p.u."),
    _c("shift_deg", "float", 0.0, "phase shift, degrees (from_bus leads)"),
    _c("tap_min_pu", "float", NAN, "OLTC lower tap limit, p.u. (NaN: fixed tap)"),
    _c("tap_max_pu", "float", NAN, "OLTC upper tap limit, p.u. (NaN: fixed tap)"),
    _c("tap_step_pu", "float", NAN, "OLTC tap step, p.u. (NaN: continuous)"),
    _c("max_tap_change", "float", NAN, "OLTC: most tap steps moved between consecutive periods (NaN: no limit)"),
    _c("tap_cost", "float", 0.0, "OLTC: cost of moving one tap step (currency per step)"),
    _c("rate_mva", "float", NAN, "thermal rating, MVA (NaN: unlimited)"),
    _c("ang_min_deg", "float", -360.0, "lower limit of the angle difference from - to, degrees"),
    _c("ang_max_deg", "float", 360.0, "upper limit of the angle difference from - to, degrees"),
    _c("in_service", "bool", True, "transformer in service"),
    _c("name", "str", "", "free-text name"),
]

EXT_GRID = [
    _c("bus", "bus", REQUIRED, "bus label of the slack source"),
    _c("vm_pu", "float", 1.0, "voltage magnitude set-point, p.u."),
    _c("va_deg", "float", 0.0, "voltage angle set-point, degrees"),
    _c("in_service", "bool", True, "source in service"),
    _c("name", "str", "", "free-text name"),
]

GEN = [
    _c("bus", "bus", REQUIRED, "bus label"),
    _c("p_mw", "float", 0.0, "active power set-point, MW (injection)"),
    _c("vm_pu", "float", 1.0, "voltage set-point, p.u."),
    _c("va_deg", "float", 0.0, "voltage angle set-point of a slack machine, degrees"),
    _c("q_min_mvar", "float", -1e9, "lower reactive limit, Mvar"),
    _c("q_max_mvar", "float", 1e9, "upper reactive limit, Mvar"),
    _c("p_min_mw", "float", 0.0, "lower active limit, MW"),
    _c("p_max_mw", "float", 1e9, "upper active limit, MW"),
    _c("slack", "bool", False, "reference (slack) machine"),
    _c("kind", "str", "thermal", "thermal | hydro | condenser (synchronous condenser)"),
    _c("cost_c2", "float", 0.0, "active cost, $/MW^2h"),
    _c("cost_c1", "float", 0.0, "active cost, $/MWh"),
    _c("cost_c0", "float", 0.0, "active cost, $/h"),
    _c("ramp_mw_per_h", "float", NAN, "ramp limit between consecutive periods, MW/h, both ways (NaN: none)"),
    _c("q_cost", "float", NAN, "reactive dispatch cost, $/Mvar^2h (NaN: device default)"),
    _c("response_ms", "float", NAN, "reactive response time, ms (NaN: device default)"),
    _c("in_service", "bool", True, "machine in service"),
    _c("name", "str", "", "free-text name"),
]

LOAD = [
    _c("bus", "bus", REQUIRED, "bus label"),
    _c("p_mw", "float", REQUIRED, "active consumption, MW"),
    _c("q_mvar", "float", 0.0, "reactive consumption, Mvar"),
    _c("in_service", "bool", True, "load in service"),
    _c("name", "str", "", "free-text name"),
]

SHUNT = [
    _c("bus", "bus", REQUIRED, "bus label"),
    _c("bs_mvar", "float", 0.0, "reactive injection per step at 1.0 p.u., Mvar (capacitive > 0)"),
    _c("gs_mw", "float", 0.0, "active consumption per step at 1.0 p.u., MW"),
    _c("step", "int", 1, "steps in service"),
    _c("max_step", "int", 1, "number of steps installed"),
    _c("controllable", "bool", False, "steps may be switched by optimization"),
    _c("max_switchings", "float", NAN, "most step changes over a multi-period horizon (NaN: no limit)"),
    _c("max_step_change", "float", NAN, "most steps switched between consecutive periods (NaN: no limit)"),
    _c("switch_cost", "float", 0.0, "cost of switching one step (currency per step)"),
    _c("q_cost", "float", NAN, "reactive dispatch cost, $/Mvar^2h (NaN: device default)"),
    _c("response_ms", "float", NAN, "switching time, ms (NaN: device default)"),
    _c("in_service", "bool", True, "shunt in service"),
    _c("name", "str", "", "free-text name"),
]

SGEN = [
    _c("bus", "bus", REQUIRED, "bus label"),
    _c("p_mw", "float", 0.0, "active injection, MW"),
    _c("q_mvar", "float", 0.0, "reactive injection, Mvar"),
    _c("p_max_mw", "float", NAN, "installed active power (100 % of a profile), MW (NaN: p_mw)"),
    _c("sn_mva", "float", NAN, "inverter apparent-power rating, MVA (NaN: no limit)"),
    _c("pf_min", "float", NAN, "minimum power factor |p|/s, e.g. 0.9 (NaN: none)"),
    _c("kind", "str", "dg", "wind | pv | dg: the primary source behind the inverter"),
    _c("controllable", "bool", False, "reactive power may be dispatched by optimization"),
    _c("q_cost", "float", NAN, "reactive dispatch cost, $/Mvar^2h (NaN: device default)"),
    _c("response_ms", "float", NAN, "reactive response time, ms (NaN: device default)"),
    _c("in_service", "bool", True, "unit in service"),
    _c("name", "str", "", "free-text name"),
]

SVC = [
    _c("bus", "bus", REQUIRED, "bus label"),
    _c("q_mvar", "float", 0.0, "reactive injection set-point, Mvar"),
    _c("q_min_mvar", "float", REQUIRED, "lower reactive limit, Mvar"),
    _c("q_max_mvar", "float", REQUIRED, "upper reactive limit, Mvar"),
    _c("kind", "str", "svg", "svg | statcom | svc"),
    _c("controllable", "bool", True, "reactive power may be dispatched by optimization"),
    _c("q_cost", "float", NAN, "reactive dispatch cost, $/Mvar^2h (NaN: device default)"),
    _c("response_ms", "float", NAN, "reactive response time, ms (NaN: device default)"),
    _c("in_service", "bool", True, "device in service"),
    _c("name", "str", "", "free-text name"),
]

STORAGE = [
    _c("bus", "bus", REQUIRED, "bus label"),
    _c("p_mw", "float", 0.0, "active injection set-point, MW (+ discharging, - charging)"),
    _c("q_mvar", "float", 0.0, "reactive injection set-point, Mvar"),
    _c("e_max_mwh", "float", REQUIRED, "energy capacity, MWh"),
    _c("p_charge_max_mw", "float", REQUIRED, "largest charging power, MW"),
    _c("p_discharge_max_mw", "float", REQUIRED, "largest discharging power, MW"),
    _c("eta_charge", "float", 0.95, "charging efficiency (energy stored per energy drawn)"),
    _c("eta_discharge", "float", 0.95, "discharging efficiency (energy delivered per energy released)"),
    _c("soc_min", "float", 0.0, "lowest state of charge, fraction of e_max_mwh"),
    _c("soc_max", "float", 1.0, "highest state of charge, fraction of e_max_mwh"),
    _c("soc_init", "float", 0.5, "state of charge at the start of the horizon, fraction"),
    _c("soc_final", "float", NAN, "state of charge required at the end, fraction (NaN: at least soc_init)"),
    _c("sn_mva", "float", NAN, "inverter apparent-power rating, MVA (NaN: no reactive capability)"),
    _c("cost_mwh", "float", 0.0, "cost of energy throughput (charge + discharge), $/MWh"),
    _c("controllable", "bool", True, "charging and discharging may be scheduled by optimization"),
    _c("in_service", "bool", True, "unit in service"),
    _c("name", "str", "", "free-text name"),
]

UPFC = [
    _c("line", "int", REQUIRED, "index of the line the series converter sits in"),
    _c("bus", "bus", REQUIRED, "the line's end bus the UPFC sits at (its shunt converter's bus)"),
    _c("vse_max_pu", "float", 0.4, "largest series injected voltage |V_se|, p.u."),
    _c("x_sh_pu", "float", 0.05, "shunt coupling reactance X_sh, p.u. on the system base"),
    _c("v_sh_max_pu", "float", 1.1, "largest shunt converter voltage U_sh,max, p.u."),
    _c("s_sh_max_mva", "float", 110.0, "shunt converter rating, MVA"),
    _c("p_dc_max_mw", "float", NAN, "largest active power through the DC link, MW (NaN: no limit)"),
    _c("vse_re_pu", "float", 0.0, "series voltage set-point, real part, p.u."),
    _c("vse_im_pu", "float", 0.0, "series voltage set-point, imaginary part, p.u."),
    _c("q_sh_mvar", "float", 0.0, "shunt converter reactive injection set-point, Mvar"),
    _c("q_cost_mvar", "float", 0.0, "cost of shunt reactive output, currency per Mvar and hour (on |Q|)"),
    _c("in_service", "bool", True, "device in service"),
    _c("name", "str", "", "free-text name"),
]

HVDC = [
    _c("bus", "bus", REQUIRED, "AC bus of the modelled (inverter) terminal"),
    _c("p_mw", "float", REQUIRED, "rectifier-side DC power set-point (constant power), MW"),
    _c("p_rated_mw", "float", REQUIRED, "rated DC power, MW; the base of x_c_pu and r_d_pu"),
    _c("u_d_pu", "float", 1.0, "inverter DC voltage set-point (constant voltage), p.u."),
    _c("r_d_pu", "float", 0.01, "DC line resistance, p.u. on p_rated_mw and the rated DC voltage"),
    _c("x_c_pu", "float", 0.15, "commutation reactance, p.u. on p_rated_mw and the AC bus voltage"),
    _c("gamma_nom_deg", "float", 20.0, "extinction angle at 1.0 p.u. AC voltage and rated power (sets the "
       "converter transformer ratio), degrees"),
    _c("gamma_min_deg", "float", 15.0, "smallest extinction angle (commutation margin), degrees"),
    _c("gamma_max_deg", "float", 30.0, "largest extinction angle, degrees"),
    _c("alpha_min_deg", "float", 5.0, "smallest rectifier firing angle, degrees"),
    _c("alpha_max_deg", "float", 30.0, "largest rectifier firing angle, degrees"),
    _c("v_rect_pu", "float", 1.0, "AC voltage of the equivalent source behind the rectifier, p.u."),
    _c("in_service", "bool", True, "link in service"),
    _c("name", "str", "", "free-text name"),
]

TABLES: dict[str, list[Column]] = {
    "bus": BUS,
    "line": LINE,
    "trafo": TRAFO,
    "ext_grid": EXT_GRID,
    "gen": GEN,
    "load": LOAD,
    "shunt": SHUNT,
    "sgen": SGEN,
    "svc": SVC,
    "storage": STORAGE,
    "upfc": UPFC,
    "hvdc": HVDC,
}

BRANCH_TABLES = ("line", "trafo")
BUS_REF_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in cols if c.kind == "bus") for name, cols in TABLES.items()
}


def column_names(table: str) -> list[str]:
    return [c.name for c in TABLES[table]]


def default_row(table: str) -> dict[str, Any]:
    return {c.name: c.default for c in TABLES[table] if not c.required}


def dtype_of(col: Column) -> Any:
    return {
        "float": np.float64,
        "int": np.int64,
        "bool": bool,
        "str": object,
        "bus": object,
    }[col.kind]
