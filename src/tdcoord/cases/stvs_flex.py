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


__all__ = ["FEEDERS", "NODE_ORDER", "TABLE3", "paper_bus", "stvs_flex_system", "with_der"]
