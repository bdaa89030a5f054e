"""The double-time-scale study's method on the IEEE 118-bus system with three UPFCs (seed 004, scaled up).

``ieee118-upfc``: MATPOWER ``case118`` (the IEEE 118-bus test case, 4242 MW
and 1438 Mvar of load at peak, 54 machines) with the devices of seed 004's
AC/DC system (:mod:`tdcoord.cases.acdc30`) placed on it: OLTCs, capacitor
banks, **three UPFCs**, one LCC-HVDC link and PV, and the same typical day
at 5-minute resolution (288 periods). The paper validates its method with
one UPFC on the IEEE 30-bus system and leaves scalability untested; this
case is that test. Every choice is listed here.

Devices:

- **OLTCs** on the nine transformers whose ratio in the IEEE data is off
  nominal (the 345/138 kV transformers 8-5, 26-25, 30-17, 38-37, 63-59,
  64-61, 65-66, 68-69 and 81-80; data ratios 0.935-0.985): ratio
  ``1 + 1.25 % n``, n in -8..8, at most 5 steps moved per hour, 60 per step
  moved (as acdc30, Table A1). Each starts the day at the step nearest its
  data ratio (0.985 -> n = -1, 0.96 -> -3, 0.935 -> -5). The case's two
  other "transformers", 86-87 and 68-116, are lines in the MATPOWER data
  (ratio 0) that join buses of different nominal voltage; they stay fixed
  at ratio 1.
- **Capacitor banks** at the eight load buses without a machine that have
  the lowest voltages at the evening peak (hour 19, no control), the two
  UPFC buses 53 and 118 aside: 20, 52, 21, 58, 115, 114, 106, 28 (0.958 to
  0.962 p.u.). 6 steps of **5 Mvar** (30 Mvar a bank, 240 Mvar in all, 17 %
  of the reactive load; acdc30's 1-Mvar steps would be lost on 138-kV buses
  that carry 8-43 MW each), at most 3 steps switched per hour, 50 per step
  switched, all off at the start. The IEEE data's fixed shunts (capacitors
  and reactors at 14 buses) stay as they are.
- **Three UPFCs**, each with the data of Table 2 on the 100 MVA base as in
  acdc30 (X_sh = 0.05, U_sh,max = 1.10, |V_se| <= 0.40, S_sh,max = 110 MVA,
  20 MW through the DC link, 150 per Mvar and hour of shunt output). They
  are device ratings, not system quantities, so they are not scaled with
  the grid: a 110-MVA converter is the size of the UPFCs built at 138 kV
  (Inez: 2 x 160 MVA), and three of them give 330 Mvar of shunt output,
  23 % of the reactive load. Placement:

  * UPFC1 in line 53-54 at bus 53 and UPFC2 in line 75-118 at bus 118: the
    two load buses with the lowest voltages of the grid (0.946 and 0.953
    p.u. at the morning peak, no control; bus 53 is the only bus outside
    the band in the no-control day: 170 of the 288 steps, hours 7-21, down
    to 0.945 p.u.), each in the line that feeds its pocket from the
    neighbouring machine area (54, and 75-77).
  * UPFC3 in line 23-25 at bus 23: the most heavily loaded 138-kV line with
    a load bus at one end (148-160 MVA at the peaks). The more loaded lines
    are 345 kV (8-9-10 is radial: a series source there moves nothing) or,
    like 89-92, join two machine buses, where a shunt converter only trades
    reactive power with the machine.
- **LCC-HVDC**, one monopolar link, inverter terminal at bus 64 (a 345-kV
  substation without machine or load, joined to 63, 65 and, through
  transformer 64-61, to the 138-kV grid), rated **200 MW**: 4.7 % of the
  peak load, and well within what the two 345-kV lines at bus 64 carry (at
  the peaks, with the link at rated power, 63-64 carries 185-191 MVA, 64-65
  82-87 MVA and the transformer 52-68 MVA; a 345-kV line's thermal rating
  is beyond 1000 MVA. The MATPOWER data give no ratings, so check_hvdc has
  none to compare with). Rectifier constant power, 70 % of rated in the night
  valley to 100 % at the load peak (acdc30's hourly schedule, Fig. 7);
  inverter DC voltage 1.0 p.u., DC line resistance 0.01 p.u., commutation
  reactance 0.15 p.u. on the link's rating, extinction angle 20 degrees at
  1.0 p.u. and rated power, limits 15-30 degrees (all as acdc30). The
  station's AC filters are a fixed **100 Mvar** shunt at bus 64 (the
  converter absorbs 75-105 Mvar over the day: about half its power, as
  LCC stations do). Its voltage is set by the network and the devices
  (0.986-0.991 p.u. over the no-control day, extinction angle 18.3-21.8
  degrees).
- **PV**, 100 MW each, at buses 11, 60 and 78: the largest load bus without
  a machine in each of the three areas of the IEEE 118-bus one-line diagram
  (buses 1-32 and 113-117; 33-67; 68-112, 116 and 118). 300 MW is 7 % of
  the peak load (acdc30: 60 MW, 21 %); power factor between 0.9 and 1.0
  drawn per hour, injecting reactive power (the plants' own schedule).

Operating data:

- Bus voltage limits [0.95, 1.05] (the band the study judges; the IEEE
  data's are 0.94-1.06).
- **Machine voltage set-points**: the IEEE data's lie in 0.943-1.050, none
  above the band; bus 76's 0.943 is below it and is raised to 0.950 (the
  set-points are clipped into the band; no other changes).
- **Machine reactive limits** widened to at least -100..+100 Mvar (28 of the
  54 machines have narrower ranges; the others keep theirs). With the
  data's limits the IEEE operating point is itself out of reach: seven
  machines (buses 19, 32, 34, 74, 92, 105 absorbing, 103 producing) cannot
  hold their set-points at any hour of the day, and 18 at some hour. The
  slow step's model prices a machine off its set-point at 1e7 per p.u.
  (:data:`tdcoord.problems.volt_var.SETPOINT_PENALTY`), so that with the
  data's limits that term, not the losses, drove the slow steps (at hours
  10 and 19 it was three to five times the loss cost, and the other terms
  are far smaller: taps moved by up to the hourly limit and UPFC3's series
  voltage went to its 0.40 p.u. limit to bring those machines' voltages
  nearer their set-points).
  acdc30 widened its slack machine's limits likewise (to +-100 Mvar). With
  the wider limits no machine reaches a limit in the no-control day.
- **Load**, every bus alike with power factors kept: acdc30's day
  (:func:`tdcoord.cases.acdc30.load_profile`: the IEEE RTS spring/autumn
  weekday, the case's loads being the peak, interpolated to 5 minutes,
  times an AR(1) fluctuation of 1.5 %).
- **Dispatch**: the machines' active powers follow the net demand: every
  machine but the slack (bus 69) runs at its data dispatch times
  ``(load - PV - HVDC infeed) / 4242 MW`` in every period (the IEEE data's
  dispatch is the peak's); the slack covers the rest and the losses
  (256-496 MW over the day, within its 0-805 MW). With the data's fixed
  dispatch the slack would have to absorb 1.4 GW at night. The dispatch is
  the time series ``gen.p_mw``: a volt/var model re-used from one horizon
  to the next must take it from there, like the loads.
- **PV** availability: acdc30's (:func:`tdcoord.cases.acdc30.pv_profile`:
  clear-day envelope times Beta(6, 1.2) clearness per 5-minute sample).
- Everything random is drawn from ``numpy.random.default_rng(seed)`` in
  acdc30's order (load, PV, power factors), seed 4 by default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tdcoord.cases.acdc30 import PERIODS, STEPS_PER_HOUR, TAP_STEP, VM_BAND, hvdc_schedule, load_profile, pv_profile
from tdcoord.cases.profiles import LOAD
from tdcoord.network.network import Network

DEFAULT_SEED = 4

OLTC_BRANCHES = (("8", "5"), ("26", "25"), ("30", "17"), ("38", "37"), ("63", "59"), ("64", "61"), ("65", "66"),
                 ("68", "69"), ("81", "80"))
TAP_RANGE = 8  # positions either side of neutral
CB_BUSES = ("20", "52", "21", "58", "115", "114", "106", "28")
CB_STEP_MVAR = 5.0
CB_STEPS = 6
UPFC_LINES = (("53", "54", "53"), ("75", "118", "118"), ("23", "25", "23"))  # (from bus, to bus, shunt converter's bus)
UPFC_DATA = {"vse_max_pu": 0.40, "x_sh_pu": 0.05, "v_sh_max_pu": 1.10, "s_sh_max_mva": 110.0, "p_dc_max_mw": 20.0,
             "q_cost_mvar": 150.0}
PV_BUSES = ("11", "60", "78")
PV_MW = 100.0
HVDC_BUS = "64"
HVDC_RATED_MW = 200.0
HVDC_FILTER_MVAR = 100.0
Q_RANGE_MVAR = 100.0
PEAK_LOAD_MW = 4242.0  # the IEEE data's total load


def ieee118_upfc(seed: int = DEFAULT_SEED) -> Network:
    """The system described in the module docstring, with its 288-period day attached."""
    from tdcoord.cases.standard import ieee118

    rng = np.random.default_rng(seed)
    net = ieee118()
    net.name = "ieee118-upfc"
    net.bus["vm_min_pu"], net.bus["vm_max_pu"] = VM_BAND
    # machines: set-points into the band, reactive ranges of at least +-100 Mvar
    g = net.gen
    g["vm_pu"] = g.vm_pu.clip(*VM_BAND)
    g["q_min_mvar"] = np.minimum(g.q_min_mvar.to_numpy(float), -Q_RANGE_MVAR)
    g["q_max_mvar"] = np.maximum(g.q_max_mvar.to_numpy(float), Q_RANGE_MVAR)
    # OLTCs, starting at the step nearest the data's ratio
    tr = net.trafo
    for k, (f, t) in enumerate(OLTC_BRANCHES):
        i = tr.index[(tr.from_bus == f) & (tr.to_bus == t)][0]
        n0 = float(np.clip(np.round((float(tr.at[i, "tap_pu"]) - 1.0) / TAP_STEP), -TAP_RANGE, TAP_RANGE))
        tr.loc[i, ["tap_pu", "tap_min_pu", "tap_max_pu", "tap_step_pu", "max_tap_change", "tap_cost"]] = \
            [1.0 + n0 * TAP_STEP, 1.0 - TAP_RANGE * TAP_STEP, 1.0 + TAP_RANGE * TAP_STEP, TAP_STEP, 5.0, 60.0]
        tr.loc[i, "name"] = f"OLTC{k + 1}"
    # capacitor banks and the HVDC station's filters
    for k, bus in enumerate(CB_BUSES):
        net.add_shunt(bus, bs_mvar=CB_STEP_MVAR, step=0, max_step=CB_STEPS, controllable=True, max_step_change=3.0,
                      switch_cost=50.0, name=f"CB{k + 1}")
    net.add_shunt(HVDC_BUS, bs_mvar=HVDC_FILTER_MVAR, step=1, max_step=1, name="HVDC filters")
    # UPFCs
    ln = net.line
    for k, (f, t, bus) in enumerate(UPFC_LINES):
        li = int(ln.index[(ln.from_bus == f) & (ln.to_bus == t)][0])
        net.add("upfc", {"line": li, "bus": bus, **UPFC_DATA, "name": f"UPFC{k + 1}"})
    # LCC-HVDC
    net.add("hvdc", {"bus": HVDC_BUS, "p_mw": HVDC_RATED_MW, "p_rated_mw": HVDC_RATED_MW, "u_d_pu": 1.0,
                     "r_d_pu": 0.01, "x_c_pu": 0.15, "gamma_nom_deg": 20.0, "gamma_min_deg": 15.0,
                     "gamma_max_deg": 30.0, "name": "LCC-HVDC"})
    # PV
    for bus in PV_BUSES:
        net.add_sgen(bus, p_mw=0.0, p_max_mw=PV_MW, sn_mva=PV_MW / 0.9, kind="pv", name=f"PV{bus}")
    # the day
    load = load_profile(rng)
    pv = pv_profile(rng, len(PV_BUSES))
    pf = rng.uniform(0.9, 1.0, size=(24, len(PV_BUSES))).repeat(STEPS_PER_HOUR, axis=0)
    lo = net.load
    p_load = np.outer(load, lo.p_mw.to_numpy(float))
    net.set_timeseries("load", "p_mw", pd.DataFrame(p_load, columns=lo.index))
    net.set_timeseries("load", "q_mvar", pd.DataFrame(np.outer(load, lo.q_mvar.to_numpy(float)), columns=lo.index))
    sg = net.sgen
    p_pv = pv * sg.p_max_mw.to_numpy(float)
    net.set_timeseries("sgen", "p_mw", pd.DataFrame(p_pv, columns=sg.index))
    net.set_timeseries("sgen", "q_mvar", pd.DataFrame(p_pv * np.tan(np.arccos(pf)), columns=sg.index))
    p_dc = hvdc_schedule(np.asarray(LOAD, float)).repeat(STEPS_PER_HOUR) * HVDC_RATED_MW
    net.set_timeseries("hvdc", "p_mw", pd.DataFrame(p_dc.reshape(-1, 1), columns=net.hvdc.index))
    # dispatch: every machine but the slack follows the net demand
    g = net.gen
    share = (p_load.sum(axis=1) - p_pv.sum(axis=1) - p_dc) / PEAK_LOAD_MW
    p_gen = np.outer(share, g.p_mw.to_numpy(float))
    slack = g.slack.to_numpy(bool)
    p_gen[:, slack] = g.p_mw.to_numpy(float)[slack]  # the slack's value is its start; the power flow sets it
    net.set_timeseries("gen", "p_mw", pd.DataFrame(p_gen, columns=g.index))
    net.note(f"seed 004 method on IEEE 118: {len(OLTC_BRANCHES)} OLTCs, {len(CB_BUSES)} capacitor banks, "
             f"{len(UPFC_LINES)} UPFCs, {HVDC_RATED_MW:g} MW LCC-HVDC, {len(PV_BUSES)} x {PV_MW:g} MW PV; machine "
             f"set-points clipped into {VM_BAND}, reactive ranges widened to +-{Q_RANGE_MVAR:g} Mvar, dispatch "
             f"following the net demand; 288 five-minute periods, seed {seed} (see tdcoord.cases.acdc118)")
    return net


__all__ = ["CB_BUSES", "HVDC_BUS", "OLTC_BRANCHES", "PV_BUSES", "UPFC_LINES", "ieee118_upfc"]
