"""The seed-000 study system: IEEE 30-bus with the IEEE 33-bus feeder at bus 6.

Chai, Gong, Qian, "Key Technologies for Online Joint Optimization of
Transmission-Distribution Coordination for Reactive Power Reserve
Requirements in New Power Systems" (section 5.1).

Coupling: the IEEE 33-bus feeder (12.66 kV) hangs on transmission bus 6
(132 kV) through a boundary transformer with the defaults of
:mod:`tdcoord.network.coupled`.
"""

from __future__ import annotations

from tdcoord.cases import standard
from tdcoord.network.coupled import CoupledSystem


def build_paper000() -> CoupledSystem:
    cs = CoupledSystem(standard.ieee30(), name="ieee30+ieee33@6")
    cs.attach(standard.ieee33(), "6")
    return cs
