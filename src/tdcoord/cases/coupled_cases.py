"""The coupled study systems of the papers, with every choice written down.

Boundary transformers follow the defaults of
:mod:`tdcoord.network.coupled` unless stated here.

``ieee14+ieee13@13+ieee13@14`` (seed 001): two IEEE 13-node feeders on
buses 13 and 14 of the IEEE 14-bus system (33 kV buses in tdcoord's ieee14).
The paper joins the two feeders by a tie line but does not give its data or
end points; tdcoord uses a 4.16 kV line between the far ends of the main
trunks (bus 680 of each feeder), 1 mile of line code 601's positive-sequence
impedance (0.1889 + j0.6078 ohm), normally open, closable by the user.

``ieee9+ieee13@5+ieee123@7`` (seed 002): the IEEE 13-node feeder on load bus
5 and the IEEE 123-node feeder on load bus 7 of the WSCC 9-bus system (the
paper does not say which buses; 5 and 7 are two of the three load buses),
with PV behind IEEE 1547 inverters and the regulator positions of
:mod:`tdcoord.cases.smart_inverters` (available PV at 0.90 of installed).

``ieee30+5xieee33`` (seed 003): five Baran-Wu feeders on IEEE 30-bus load
buses 7, 12, 15, 21 and 30 (the paper does not say which; these are the
largest loads on five different parts of the grid). As in the many-feeder
cases (:mod:`tdcoord.cases.scale`), each feeder stands for part of its
bus's load (the bus load is reduced by what the feeder draws, 3.715 MW and
2.3 Mvar) and its substation transformer's tap is at 0.95 (a 5.3 % boost on
the feeder side, what the substation's controller holds for a feeder this
long). Without the boost the 33-bus feeder's far end falls below 0.9 p.u.
behind the transformer whatever the grid does (`tdcoord opt` names the
limits that cannot all be met).

``ieee30+ieee33@6`` (seed 000): the IEEE 33-bus feeder on bus 6 of the IEEE
30-bus system. The full seed-000 study system (renewables, condensers,
inverters, SVGs) is built in :mod:`tdcoord.cases.paper000`.
"""

from __future__ import annotations

from tdcoord.cases.info import CaseInfo
from tdcoord.network.coupled import CoupledSystem


def _spec(spec: str) -> CoupledSystem:
    from tdcoord.cases.registry import build_coupled

    return build_coupled(spec)


def seed001() -> CoupledSystem:
    cs = _spec("ieee14+ieee13@13+ieee13@14")
    cs.name = "ieee14+ieee13@13+ieee13@14"
    cs.add_tie("ieee13@13:680", "ieee13@14:680", r_ohm=0.1889, x_ohm=0.6078, in_service=False, name="tie DS1-DS2")
    cs.notes.append("tie line 680(DS1) - 680(DS2), 1 mile of line code 601 positive sequence, normally open")
    return cs


def seed002() -> CoupledSystem:
    from tdcoord.cases.smart_inverters import PV_AVAILABLE, with_der

    cs = _spec("ieee9+ieee13@5+ieee123@7")
    cs.notes.append("feeders on case9 load buses 5 (ieee13) and 7 (ieee123); the paper does not name the buses")
    return with_der(cs, PV_AVAILABLE)


def seed003() -> CoupledSystem:
    from tdcoord.cases.registry import _network

    t = _network("ieee30")
    feeder = _network("ieee33")
    cs = CoupledSystem(t, name="ieee30+5xieee33")
    for bus in ("7", "12", "15", "21", "30"):
        cs.attach(feeder.copy(), bus, tap_pu=0.95)
        rows = t.load.index[(t.load.bus == bus) & t.load.in_service]
        for col, drawn in (("p_mw", feeder.load.p_mw.sum()), ("q_mvar", feeder.load.q_mvar.sum())):
            total = t.load.loc[rows, col].sum()
            if total > 0:
                t.load.loc[rows, col] *= max(0.0, 1.0 - drawn / total)
    cs.notes.append("five ieee33 feeders on ieee30 load buses 7, 12, 15, 21, 30 (the paper does not name the buses); "
                    "each bus load reduced by what its feeder draws; substation taps at 0.95")
    return cs


def seed000() -> CoupledSystem:
    from tdcoord.cases.paper000 import build_paper000

    return build_paper000()


NOT_THE_MAIN_STUDY = ("the test system of another study: its plain feeders have no reactive devices for this study's "
                      "study to dispatch; use `tdcoord opt SPEC --strategy NAME` (with `--vm-band`) or `tdcoord pf`")

CASES = [
    CaseInfo("ieee30+ieee33@6", "coupled", seed000,
             "reactive power and reserve study (default case): IEEE 30-bus with wind, PV, condensers, a STATCOM "
             "+ IEEE 33-bus feeder with inverters, SVGs, a capacitor bank at bus 6"),
    CaseInfo("ieee14+ieee13@13+ieee13@14", "coupled", seed001,
             "scheduling test system: IEEE 14-bus + two IEEE 13-node feeders at buses 13, 14, tie line between "
             "them (open)",
             not_for=("run",), why_not=NOT_THE_MAIN_STUDY),
    CaseInfo("ieee9+ieee13@5+ieee123@7", "coupled", seed002,
             "smart-inverter dispatch test system: WSCC 9-bus + IEEE 13-node at bus 5 + IEEE 123-node at bus 7, "
             "PV behind IEEE 1547 inverters",
             not_for=("run",), why_not="the smart-inverter study's test system: run `tdcoord study smart-inverters`, "
                                       "or `tdcoord pf SPEC --inverters MODE` for its local-control power flow"),
    CaseInfo("ieee30+5xieee33", "coupled", seed003,
             "bilevel coordination test system: IEEE 30-bus + five IEEE 33-bus feeders at buses 7, 12, 15, 21, 30",
             not_for=("run",), why_not=NOT_THE_MAIN_STUDY),
]
ALIASES = {"seed000": "ieee30+ieee33@6", "seed001": "ieee14+ieee13@13+ieee13@14",
           "seed002": "ieee9+ieee13@5+ieee123@7", "seed003": "ieee30+5xieee33"}
