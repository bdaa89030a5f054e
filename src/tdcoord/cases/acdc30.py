"""The AC/DC IEEE 30-bus system of the double-time-scale study (seed 004).

``ieee30-acdc``: MATPOWER ``case_ieee30`` (the IEEE 30-bus test case) with
the devices of seed 004's Table 1, Table 2 and section 4.1, and a typical
day at 5-minute resolution (288 periods) attached as time series. The
paper leaves much of the system unspecified; every choice is listed here.

Devices (paper's placement):

- **OLTCs** on the transformers 6-9, 6-10, 4-12 and 28-27: ratio
  ``1 + 1.25 % n``, n in -8..8, at most 5 steps moved per hour, 60 per step
  moved (Table A1). They start the day at the neutral position (ratio 1.0,
  the "no control" setting of scenario 1) in place of the IEEE data's
  fixed ratios (0.978, 0.969, 0.932, 0.968). The other three transformers
  keep their fixed ratios.
- **Capacitor banks** at buses 5, 10, 13, 21 and 24: 6 steps of 1 Mvar, at
  most 3 steps switched per hour, 50 per step switched (Table A1), all off
  at the start. The IEEE data's fixed shunts at buses 10 (19 Mvar) and 24
  (4.3 Mvar) stay as they are.
- **UPFC** in line 23-24 at bus 23, Table 2 on the 100 MVA base: X_sh =
  0.05, U_sh,max = 1.10, |V_se| <= 0.40, S_sh,max = 110 MVA; 150 per Mvar
  and hour of shunt reactive output (Table A1). The DC link between the
  converters carries at most 20 MW (the paper gives no value).
- **LCC-HVDC**, inverter terminal at bus 5, monopolar. The paper's rating,
  6.0 p.u. (600 MW), is twice the grid's 283.4 MW load and cannot be
  absorbed; the rating here is **60 MW** (21 % of the peak load, within the
  200 MVA of the lines 2-5 and 5-7 that carry it away). Rectifier constant
  power, 70 % of rated in the night valley to 100 % at the load peak
  (Fig. 7: linear in the hour's load between the day's minimum and maximum,
  set per hour); inverter constant DC voltage 1.0 p.u.; DC line resistance
  0.01 p.u. (paper). The paper's commutation reactance, 0.006 p.u., is not
  credible on any base of a real converter; 0.15 p.u. on the link's rating
  is used (typical converter transformers: 0.12-0.20). Extinction angle 20
  degrees at 1.0 p.u. and rated power (sets the converter transformer
  ratio), limits 15-30 degrees. The station's AC filters are a fixed 25
  Mvar shunt at bus 5 (LCC stations compensate about half their active
  power).
- The **synchronous condenser at bus 5** of the IEEE data is removed: the
  HVDC terminal takes its place, so bus 5's voltage is set by the network
  and the devices (the paper's Table 4 reports it varying).
- **PV** at buses 5 and 21, 30 MW each, at a power factor between 0.9 and
  1.0 (drawn per hour, injecting reactive power: the plants' own schedule,
  not a control of this study).

Operating data:

- Machine voltage set-points: the IEEE data's 1.060 (bus 1), 1.045 (2),
  1.082 (11) and 1.071 (13) lie above the study's [0.95, 1.05] band; the
  set-points are 1.04 at bus 1 and 1.03 at 2, 8, 11 and 13, held by the
  machines within their reactive limits. The machine at bus 1 is the
  slack, the connection to the wider grid: its reactive limits, 0 to 10
  Mvar in the IEEE data, are widened to +-100 Mvar.
- Bus voltage limits [0.95, 1.05] (the band the paper's figures judge).
- **Load**, every bus alike with power factors kept: the IEEE RTS
  spring/autumn weekday of :mod:`tdcoord.cases.profiles`, the case's loads
  being the peak, interpolated to 5 minutes between hour midpoints, times a
  fluctuation: an AR(1) process, coefficient 0.8 between 5-minute samples,
  standard deviation 1.5 %.
- **PV** availability: the clear-day envelope of
  :mod:`tdcoord.cases.profiles` (sunrise 06:30, sunset 18:30, 0.9 at noon)
  times a clearness drawn per 5-minute sample from a Beta distribution
  (seed 004, Eq. (1)) with a = 6, b = 1.2 (mean 0.83, standard deviation
  0.14: a day of passing clouds).
- Everything random is drawn from ``numpy.random.default_rng(seed)``,
  seed 4 by default: the day is the same on every machine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tdcoord.cases.profiles import LOAD

STEPS_PER_HOUR = 12
PERIODS = 24 * STEPS_PER_HOUR
DEFAULT_SEED = 4

OLTC_BRANCHES = (("6", "9"), ("6", "10"), ("4", "12"), ("28", "27"))
CB_BUSES = ("5", "10", "13", "21", "24")
PV_BUSES = ("5", "21")
HVDC_BUS = "5"
HVDC_RATED_MW = 60.0
UPFC_LINE = ("23", "24")
TAP_STEP = 0.0125
VM_BAND = (0.95, 1.05)


def load_profile(rng: np.random.Generator) -> np.ndarray:
    """Per-unit load at 5-minute resolution (288 values)."""
    t = (np.arange(PERIODS) + 0.5) / STEPS_PER_HOUR  # sample midpoints, hours
    hourly = np.asarray(LOAD, float)
    mid = np.arange(24) + 0.5
    base = np.interp(t, np.r_[mid[-1] - 24, mid, mid[0] + 24], np.r_[hourly[-1], hourly, hourly[0]])
    noise = np.zeros(PERIODS)
    e = rng.normal(0.0, 0.015 * np.sqrt(1 - 0.8**2), PERIODS)
    for k in range(PERIODS):
        noise[k] = (0.8 * noise[k - 1] if k else 0.0) + e[k]
    return base * (1.0 + noise)


def pv_profile(rng: np.random.Generator, n_plants: int) -> np.ndarray:
    """Per-unit PV output, (288 x plants): the clear-day envelope times Beta-distributed clearness."""
    t = (np.arange(PERIODS) + 0.5) / STEPS_PER_HOUR
    env = np.where((t > 6.5) & (t < 18.5), 0.9 * np.clip(np.sin(np.pi * (t - 6.5) / 12), 0, None) ** 1.5, 0.0)
    clear = rng.beta(6.0, 1.2, size=(PERIODS, n_plants))
    return env.reshape(-1, 1) * clear


def hvdc_schedule(load_hourly: np.ndarray) -> np.ndarray:
    """Rectifier power, per unit of rating, per hour: 0.7 at the day's minimum load to 1.0 at its maximum."""
    lo, hi = load_hourly.min(), load_hourly.max()
    return 0.7 + 0.3 * (load_hourly - lo) / (hi - lo)


def ieee30_acdc(seed: int = DEFAULT_SEED):
    """The system described in the module docstring, with its 288-period day attached."""
    from tdcoord.cases.standard import ieee30

    rng = np.random.default_rng(seed)
    net = ieee30()
    net.name = "ieee30-acdc"
    net.bus["vm_min_pu"], net.bus["vm_max_pu"] = VM_BAND
    # machines: the condenser at bus 5 gives way to the HVDC terminal; set-points inside the band
    net.gen = net.gen[net.gen.bus != HVDC_BUS].copy()
    net.gen["vm_pu"] = np.where(net.gen.bus == "1", 1.04, 1.03)
    slack = net.gen.slack.to_numpy(bool)
    net.gen.loc[slack, ["q_min_mvar", "q_max_mvar"]] = [-100.0, 100.0]
    # OLTCs
    tr = net.trafo
    for f, t in OLTC_BRANCHES:
        i = tr.index[(tr.from_bus == f) & (tr.to_bus == t)][0]
        tr.loc[i, ["tap_pu", "tap_min_pu", "tap_max_pu", "tap_step_pu", "max_tap_change", "tap_cost"]] = \
            [1.0, 1.0 - 8 * TAP_STEP, 1.0 + 8 * TAP_STEP, TAP_STEP, 5.0, 60.0]
        tr.loc[i, "name"] = f"OLTC{OLTC_BRANCHES.index((f, t)) + 1}"
    # capacitor banks and the HVDC station's filters
    for k, bus in enumerate(CB_BUSES):
        net.add_shunt(bus, bs_mvar=1.0, step=0, max_step=6, controllable=True, max_step_change=3.0,
                      switch_cost=50.0, name=f"CB{k + 1}")
    net.add_shunt(HVDC_BUS, bs_mvar=25.0, step=1, max_step=1, name="HVDC filters")
    # UPFC
    ln = net.line
    li = int(ln.index[(ln.from_bus == UPFC_LINE[0]) & (ln.to_bus == UPFC_LINE[1])][0])
    net.add("upfc", {"line": li, "bus": UPFC_LINE[0], "vse_max_pu": 0.40, "x_sh_pu": 0.05, "v_sh_max_pu": 1.10,
                     "s_sh_max_mva": 110.0, "p_dc_max_mw": 20.0, "q_cost_mvar": 150.0, "name": "UPFC"})
    # LCC-HVDC
    net.add("hvdc", {"bus": HVDC_BUS, "p_mw": HVDC_RATED_MW, "p_rated_mw": HVDC_RATED_MW, "u_d_pu": 1.0,
                     "r_d_pu": 0.01, "x_c_pu": 0.15, "gamma_nom_deg": 20.0, "gamma_min_deg": 15.0,
                     "gamma_max_deg": 30.0, "name": "LCC-HVDC"})
    # PV
    for bus in PV_BUSES:
        net.add_sgen(bus, p_mw=0.0, p_max_mw=30.0, sn_mva=30.0 / 0.9, kind="pv", name=f"PV{bus}")
    # the day
    load = load_profile(rng)
    pv = pv_profile(rng, len(PV_BUSES))
    pf = rng.uniform(0.9, 1.0, size=(24, len(PV_BUSES))).repeat(STEPS_PER_HOUR, axis=0)
    hourly_load = np.asarray(LOAD, float)
    lo = net.load
    net.set_timeseries("load", "p_mw", pd.DataFrame(np.outer(load, lo.p_mw.to_numpy(float)), columns=lo.index))
    net.set_timeseries("load", "q_mvar", pd.DataFrame(np.outer(load, lo.q_mvar.to_numpy(float)), columns=lo.index))
    sg = net.sgen
    p_pv = pv * sg.p_max_mw.to_numpy(float)
    net.set_timeseries("sgen", "p_mw", pd.DataFrame(p_pv, columns=sg.index))
    net.set_timeseries("sgen", "q_mvar", pd.DataFrame(p_pv * np.tan(np.arccos(pf)), columns=sg.index))
    p_dc = hvdc_schedule(hourly_load).repeat(STEPS_PER_HOUR) * HVDC_RATED_MW
    net.set_timeseries("hvdc", "p_mw", pd.DataFrame(p_dc.reshape(-1, 1), columns=net.hvdc.index))
    net.note(f"seed 004 AC/DC system: OLTCs, capacitor banks, UPFC, 60 MW LCC-HVDC, 2 x 30 MW PV; "
             f"288 five-minute periods, seed {seed} (see tdcoord.cases.acdc30)")
    return net


__all__ = ["CB_BUSES", "HVDC_BUS", "OLTC_BRANCHES", "PERIODS", "PV_BUSES", "STEPS_PER_HOUR", "UPFC_LINE",
           "hvdc_schedule", "ieee30_acdc", "load_profile", "pv_profile"]
