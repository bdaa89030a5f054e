"""The seed-000 study system: IEEE 30-bus with the IEEE 33-bus feeder at bus 6.

Chai, Gong, Qian, "Key Technologies for Online Joint Optimization of
Transmission-Distribution Coordination for Reactive Power Reserve
Requirements in New Power Systems", section 5.1: a modified IEEE 30-bus
grid with 2 wind farms (buses 8 and 28, 100 MW each), a PV station (bus 15,
80 MW) and 3 synchronous condensers, and the IEEE 33-bus feeder at bus 6
through a boundary transformer with 5 DG units (45 MW in total), 4 SVGs,
smart inverters and a capacitor bank; base 100 MVA.

The paper's sizes do not fit these test systems (280 MW of renewables on a
283 MW grid, 45 MW of DG on a 3.7 MW feeder). tdcoord's choices, each
physically sound, and why:

Transmission (IEEE 30-bus, MATPOWER ``case_ieee30``, 132/33/11 kV):

- Wind farms at 132 kV buses 8 and 28: 50 MW each, inverter rating 55 MVA
  (1.1 x P, so that a farm still gives +-23 Mvar at full output). The
  machine at bus 8 (a synchronous condenser in the original data) is
  removed, which leaves the paper's three condensers at buses 5, 11, 13.
- PV station at 33 kV bus 15: 30 MW, inverter rating 33 MVA. 80 MW would
  overload the 33 kV lines around bus 15 (r = 0.066-0.22 p.u.).
- A +-20 Mvar STATCOM at bus 15 (the paper's Table 3 puts a STATCOM at the
  PV collection point T-15).
- Operating point of the main study: wind at 50 % and PV at 70 % of rating
  (a sunny, moderately windy hour), loads as in the source, generator 2 at
  its source dispatch (40 MW), the slack (bus 1) covering the rest.
- Slack machine reactive limits widened from [0, 10] Mvar (source) to
  [-20, 60] Mvar: with the source limits even the unmodified grid's power
  flow violates them (-16 Mvar at bus 1), and a slack machine stands for
  the external system.

Distribution (IEEE 33-bus, Baran-Wu, 12.66 kV), per feeder:

- Five DG units behind smart inverters: dispatchable DG at buses 12 and 25
  (0.5 MW each, the paper's DG integration points D-12 and D-25) and PV at
  buses 7, 16 and 31 (0.4, 0.3, 0.3 MW); inverter ratings 1.15 x P. In total
  2.0 MW, 54 % of the feeder's load.
- Four SVGs of +-0.25 Mvar at buses 18, 22, 24 and 33 (the ends of the
  laterals; the paper's Table 3 has an SVG at load bus D-18).
- A capacitor bank at bus 30 (the end-load bus D-30 of Table 3, which has a
  0.6 Mvar reactive load): 4 steps of 0.15 Mvar, 2 steps in service before
  optimization.
- The modelled feeder stands for 10 identical feeders under the same
  substation (:func:`tdcoord.network.transforms.aggregate`): 37 MW and
  23 Mvar of load, 20 MW of DG, +-10 Mvar of SVG, 6 Mvar of capacitors.
  One 3.7 MW feeder could not move a 132 kV bus; ten can (about +-30 Mvar
  of controllable reactive power at bus 6).
- Boundary transformer 132/12.66 kV, 63 MVA, vk 10 %, vkr 0.5 %, its OLTC
  fixed at tap 0.95 (LV voltage raised 5.3 %, the position a substation
  controller takes at this load; the OLTC is not optimized here).
- Voltage band [0.95, 1.05] p.u. everywhere (the paper counts violations
  against it).
- DG and PV output in the main study: DG at 100 %, PV at 70 % of rating.
"""

from __future__ import annotations

from tdcoord.cases import standard
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.transforms import aggregate

WIND_MW = {"8": 50.0, "28": 50.0}
PV_MW = {"15": 30.0}
RE_RATING = 1.1
STATCOM_MVAR = 20.0
WIND_LEVEL = 0.5
PV_LEVEL = 0.7

FEEDER_DG = {"12": ("dg", 0.5), "25": ("dg", 0.5), "7": ("pv", 0.4), "16": ("pv", 0.3), "31": ("pv", 0.3)}
DG_RATING = 1.15
FEEDER_SVG = {"18": 0.25, "22": 0.25, "24": 0.25, "33": 0.25}
CAP_BUS, CAP_STEP_MVAR, CAP_STEPS, CAP_STEP0 = "30", 0.15, 4, 2
FEEDERS_AGGREGATED = 10
DG_LEVEL = {"dg": 1.0, "pv": 0.7}
BAND = (0.95, 1.05)


def transmission():
    net = standard.ieee30()
    net.gen = net.gen[net.gen.bus != "8"]
    net.note("machine at bus 8 (synchronous condenser in the source) removed; a wind farm takes its place")
    slack = net.gen.slack
    net.gen.loc[slack, ["q_min_mvar", "q_max_mvar"]] = [-20.0, 60.0]
    net.note("slack machine at bus 1: reactive limits [0, 10] -> [-20, 60] Mvar")
    for bus, mw in WIND_MW.items():
        net.add_sgen(bus, p_mw=WIND_LEVEL * mw, p_max_mw=mw, sn_mva=RE_RATING * mw, kind="wind", controllable=True,
                     name=f"wind farm {bus}")
    for bus, mw in PV_MW.items():
        net.add_sgen(bus, p_mw=PV_LEVEL * mw, p_max_mw=mw, sn_mva=RE_RATING * mw, kind="pv", controllable=True,
                     name=f"PV station {bus}")
    net.add_svc("15", -STATCOM_MVAR, STATCOM_MVAR, kind="statcom", name="STATCOM 15")
    net.note(f"wind farms {WIND_MW} MW at {WIND_LEVEL:.0%}, PV {PV_MW} MW at {PV_LEVEL:.0%}; inverter rating {RE_RATING} x P")
    net.note(f"STATCOM +-{STATCOM_MVAR} Mvar at bus 15")
    net.bus["vm_min_pu"] = net.bus.vm_min_pu.clip(lower=BAND[0])
    net.bus["vm_max_pu"] = net.bus.vm_max_pu.clip(upper=BAND[1])
    net.note(f"voltage band {BAND} p.u. on every bus")
    return net


def feeder():
    net = standard.ieee33()
    for bus, (kind, mw) in FEEDER_DG.items():
        net.add_sgen(bus, p_mw=DG_LEVEL[kind] * mw, p_max_mw=mw, sn_mva=DG_RATING * mw, kind=kind, controllable=True,
                     name=f"{kind.upper()} {bus}")
    for bus, mvar in FEEDER_SVG.items():
        net.add_svc(bus, -mvar, mvar, kind="svg", name=f"SVG {bus}")
    net.add_shunt(CAP_BUS, bs_mvar=CAP_STEP_MVAR, step=CAP_STEP0, max_step=CAP_STEPS, controllable=True,
                  name=f"capacitor bank {CAP_BUS}")
    net.bus["vm_min_pu"] = BAND[0]
    net.bus["vm_max_pu"] = BAND[1]
    net.note(f"DG/PV behind smart inverters {FEEDER_DG} (MW), levels {DG_LEVEL}, rating {DG_RATING} x P")
    net.note(f"SVGs {FEEDER_SVG} Mvar; capacitor bank at {CAP_BUS}: {CAP_STEPS} x {CAP_STEP_MVAR} Mvar, {CAP_STEP0} in service")
    net.note(f"voltage band {BAND} p.u. on every bus")
    agg = aggregate(net, FEEDERS_AGGREGATED, name="ieee33")
    return agg


def build_paper000() -> CoupledSystem:
    cs = CoupledSystem(transmission(), name="ieee30+ieee33@6")
    cs.attach(feeder(), "6", sn_mva=63.0, vk_percent=10.0, vkr_percent=0.5, tap_pu=0.95)
    cs.notes.append("feeder ieee33@6 is an aggregate of 10 identical IEEE 33-bus feeders; boundary transformer "
                    "132/12.66 kV 63 MVA vk 10 % vkr 0.5 %, tap 0.95")
    return cs
