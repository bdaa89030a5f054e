"""Operating scenarios of seed 000 (section 5.1), as transformations of a system.

1. ``high-re``: wind and PV at 80 % of their installed power (transmission
   and feeders; dispatchable DG unchanged);
2. ``peak-load``: every load at 120 %;
3. ``n-1``: transmission line 6-28 out of service;
4. ``combined``: all three together.

A scenario never edits its input; it returns a modified copy, with what it
changed in ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tdcoord.errors import InputError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.network.transforms import outage


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    re_level: float | None = None
    load_factor: float = 1.0
    outages: tuple[tuple[str, str], ...] = field(default_factory=tuple)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("high-re", "Scenario 1 (high RE penetration)", re_level=0.8),
        Scenario("peak-load", "Scenario 2 (peak load)", load_factor=1.2),
        Scenario("n-1", "Scenario 3 (N-1 contingency, line 6-28)", outages=(("6", "28"),)),
        Scenario("combined", "Scenario 4 (combined)", re_level=0.8, load_factor=1.2, outages=(("6", "28"),)),
    ]
}


def set_renewables(net: Network, level: float) -> None:
    """Wind and PV units at ``level`` of their installed power."""
    s = net.sgen
    re = s.kind.isin(["wind", "pv"]) & s.p_max_mw.notna()
    s.loc[re, "p_mw"] = level * s.loc[re, "p_max_mw"]


def apply_scenario(cs: CoupledSystem, scenario: Scenario | str) -> CoupledSystem:
    sc = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    out = cs.copy()
    nets = [out.transmission] + list(out.feeders.values())
    if sc.re_level is not None:
        for n in nets:
            set_renewables(n, sc.re_level)
        out.notes.append(f"{sc.name}: wind and PV at {sc.re_level:.0%} of installed power")
    if sc.load_factor != 1.0:
        for n in nets:
            n.load["p_mw"] *= sc.load_factor
            n.load["q_mvar"] *= sc.load_factor
        out.notes.append(f"{sc.name}: loads x{sc.load_factor}")
    for a, b in sc.outages:
        what = outage(out.transmission, a, b)
        out.notes.append(f"{sc.name}: {what} out of service")
    out.name = f"{cs.name} [{sc.name}]"
    return out


def get_scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise InputError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]
