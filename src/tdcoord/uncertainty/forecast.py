"""Renewable forecast errors and contingency lists.

Forecast errors of every wind and PV unit are independent normal variables
with standard deviation ``sigma`` times the unit's forecast (seed 000:
10-15 %), so a scenario's output is ``forecast * (1 + e)``, clipped to
[0, installed power]. The generator is ``numpy.random.default_rng(seed)``:
the same seed gives the same scenarios.
"""

from __future__ import annotations

import numpy as np

from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.topology import components
from tdcoord.network.validate import branch_endpoints, slack_buses


def sample_renewables(cs: CoupledSystem, n: int, sigma: float = 0.125, seed: int = 0) -> list[CoupledSystem]:
    """``n`` copies of ``cs`` with sampled wind and PV outputs."""
    if n < 0 or not 0 <= sigma <= 1:
        from tdcoord.errors import InputError

        raise InputError(f"renewable scenarios: need n >= 0 and 0 <= sigma <= 1, got n={n}, sigma={sigma}")
    rng = np.random.default_rng(seed)
    nets = [("T", cs.transmission)] + list(cs.feeders.items())
    out = []
    for k in range(n):
        c = cs.copy()
        for owner, _ in nets:
            net = c.transmission if owner == "T" else c.feeders[owner]
            s = net.sgen
            re = s.kind.isin(["wind", "pv"]) & s.in_service
            if not re.any():
                continue
            e = rng.standard_normal(int(re.sum())) * sigma
            cap = s.loc[re, "p_max_mw"].fillna(s.loc[re, "sn_mva"]).fillna(np.inf).to_numpy()
            p = np.clip(s.loc[re, "p_mw"].to_numpy() * (1 + e), 0.0, cap)
            s.loc[re, "p_mw"] = p
        c.name = f"{cs.name} [forecast scenario {k + 1}, sigma {sigma:.0%}, seed {seed}]"
        out.append(c)
    return out


def n_minus_1(cs: CoupledSystem) -> list[tuple[str, str, str, int]]:
    """Transmission branches whose loss does not island the grid: (from, to, table, index)."""
    net = cs.transmission
    f, t, ids = branch_endpoints(net)
    slack = set(slack_buses(net))
    pos = {b: i for i, b in enumerate(net.bus.index)}
    live = net.bus.in_service.to_numpy()
    out = []
    for k, (table, idx) in enumerate(ids):
        keep = np.ones(len(f), bool)
        keep[k] = False
        comp = components(len(net.bus), f[keep], t[keep])
        fed = {comp[pos[s]] for s in slack}
        if np.all(np.isin(comp[live], list(fed))):
            df = getattr(net, table)
            out.append((df.at[idx, "from_bus"], df.at[idx, "to_bus"], table, int(idx)))
    return out
