"""The smart-inverter study system (seed 002): WSCC 9-bus + IEEE 13-node at bus 5 + IEEE 123-node at bus 7.

The paper gives neither the DER nor the operating point; tdcoord's choices:

- **PV behind IEEE 1547 category B inverters** on both feeders, a high
  penetration (installed PV about 1.5 times each feeder's peak load),
  placed at the larger loads and towards the feeder ends, where voltage rise
  is largest:

  - ieee13: 675 (1.6 MW), 680 (1.1), 652 (0.6), 611 (0.6), 646 (0.6),
    684 (0.5): 5.0 MW;
  - ieee123: 76, 48, 65, 49, 47, 66, 114, 35, 100, 108, 300, 83, 57, 29,
    104, 95 (0.35 MW each): 5.6 MW.

  Each inverter is rated ``sn_mva`` = 1.12 times its PV's rated power: the
  smallest rating (1.114) with which a category B unit still has its full
  reactive capability (0.44 of the rating) at rated active power, rounded
  up. Rated power is ``p_max_mw``; ``p_mw`` is the available power.
- **The operating point of the study** (:func:`study_point`) is the
  stress case of a high-DER feeder: a clear spring weekend noon, the
  feeders' (residential) load at 0.5 of peak and PV at 1.0 of installed
  (cool panels, clear sky), the transmission load at 0.93 of peak (hour 12
  of the built-in weekday of :mod:`tdcoord.cases.profiles`; the 9-bus grid
  at half load cannot hold 0.95-1.05 p.u. with its machines' limits). PV
  then exceeds each feeder's load about threefold and power flows back to
  the grid.
- **Regulators** are held at fixed positions chosen for a day with this
  much PV (the case data's taps are set for peak load without PV and would
  put the regulator's own bus above 1.05 p.u. under reverse flow):
  ieee13 ``reg1`` at 1.04375 (+7 steps of 0.625 %), ieee123 ``reg1a`` at
  1.025 (+4 steps), ``reg2``-``reg4`` at neutral. Without PV the feeders
  then stay at or above 0.967 p.u. at peak load behind a 1.0 p.u. PCC;
  the voltage-rise problem is left to the inverters, as in the paper.
- ``controllable`` is true: the inverters' P and Q are the dispatch's
  decisions (and a plain power flow uses the table's ``p_mw`` and
  ``q_mvar``: the available power at unity power factor).
"""

from __future__ import annotations

from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network

PV_IEEE13 = {"675": 1.6, "680": 1.1, "652": 0.6, "611": 0.6, "646": 0.6, "684": 0.5}
PV_IEEE123 = {b: 0.35 for b in ("76", "48", "65", "49", "47", "66", "114", "35", "100", "108", "300", "83", "57",
                                "29", "104", "95")}
SN_PER_P = 1.12
PV_AVAILABLE = 0.90  # the registered case: hour 12 of the built-in PV profile
FEEDER_LOAD = 0.5  # the study point: feeders' load, of peak
PV_OUTPUT = 1.0  # the study point: PV, of installed
TRANSMISSION_LOAD = 0.93  # the study point: transmission load, of peak


def add_pv(feeder: Network, units: dict[str, float], available: float = 1.0) -> list[int]:
    """PV inverters at ``units`` (bus -> rated MW), ``available`` of it at the moment; returns sgen indices."""
    return [feeder.add_sgen(bus, p_mw=round(p * available, 6), p_max_mw=p, sn_mva=round(SN_PER_P * p, 6),
                            kind="pv", controllable=True, name=f"PV {bus}") for bus, p in units.items()]


REGULATOR_TAPS = {"ieee13@5": {"reg1": 1.04375},
                  "ieee123@7": {"reg1a": 1.025, "reg2": 1.0, "reg3": 1.0, "reg4": 1.0}}


def with_der(cs: CoupledSystem, available: float = 1.0) -> CoupledSystem:
    """``ieee9+ieee13@5+ieee123@7`` with the PV and regulator positions above (in place)."""
    add_pv(cs.feeders["ieee13@5"], PV_IEEE13, available)
    add_pv(cs.feeders["ieee123@7"], PV_IEEE123, available)
    for f, taps in REGULATOR_TAPS.items():
        tr = cs.feeders[f].trafo
        for name, tap in taps.items():
            tr.loc[tr.name == name, "tap_pu"] = tap
    cs.notes.append("PV behind IEEE 1547 category B inverters: 5.0 MW on ieee13@5, 5.6 MW on ieee123@7 "
                    "(cases/smart_inverters.py)")
    return cs


def study_point(cs: CoupledSystem, feeder_load: float = FEEDER_LOAD, pv: float = PV_OUTPUT,
                transmission_load: float = TRANSMISSION_LOAD) -> CoupledSystem:
    """A copy of ``cs`` at the study's operating point: every feeder load times ``feeder_load``, every PV unit at
    ``pv`` of its installed power, every transmission load times ``transmission_load`` (P and Q alike)."""
    from tdcoord.errors import InputError

    for name, v, top in (("feeder load", feeder_load, 2.0), ("PV", pv, SN_PER_P),
                         ("transmission load", transmission_load, 2.0)):
        if not 0 <= v <= top:
            why = " (the inverters are rated 1.12 times their PV)" if name == "PV" else ""
            raise InputError(f"study point: {name} factor {v}, expected within [0, {top:g}] (per unit of "
                             f"{'installed' if name == 'PV' else 'peak'}){why}")
    out = cs.copy()
    for net, k in [(out.transmission, transmission_load)] + [(f, feeder_load) for f in out.feeders.values()]:
        net.load["p_mw"] *= k
        net.load["q_mvar"] *= k
        sel = (net.sgen.kind == "pv") & net.sgen.p_max_mw.notna()
        net.sgen.loc[sel, "p_mw"] = net.sgen.loc[sel, "p_max_mw"] * pv
    out.notes.append(f"study point: feeder load x{feeder_load}, PV x{pv} of installed, transmission load "
                     f"x{transmission_load}")
    return out


__all__ = ["FEEDER_LOAD", "PV_AVAILABLE", "PV_IEEE123", "PV_IEEE13", "PV_OUTPUT", "REGULATOR_TAPS", "SN_PER_P",
           "TRANSMISSION_LOAD", "add_pv", "study_point", "with_der"]
