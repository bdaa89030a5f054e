"""Tables of margins and reserves, read from results only."""

from __future__ import annotations

import pandas as pd

from tdcoord.network.coupled import CoupledSystem

KIND_NAMES = {"wind": "Wind farm collection", "pv": "PV station collection", "dg": "DG integration"}
RESERVE_TYPES = {"wind": "Inverter (wind farm)", "pv": "Inverter (PV)", "dg": "Inverter (DG)", "condenser": "Synchronous condenser",
                 "statcom": "STATCOM", "svg": "SVG", "svc": "SVC", "capacitor": "Capacitor bank", "thermal": "Generator",
                 "hydro": "Generator"}


def bus_type(cs: CoupledSystem, label: str) -> str:
    """A power engineer's name for a bus, from what is connected to it."""
    if ":" in label:
        fname, b = label.split(":", 1)
        net = cs.feeders[fname]
    else:
        net, b = cs.transmission, label
    sg = net.sgen[(net.sgen.bus == b) & net.sgen.in_service]
    if len(sg):
        kinds = set(sg.kind)
        if ":" in label:
            return "DG integration"
        return KIND_NAMES.get(sorted(kinds)[0], "Inverter bus")
    g = net.gen[(net.gen.bus == b) & net.gen.in_service]
    if len(g):
        return "Synchronous condenser" if (g.kind == "condenser").all() else "Generator bus"
    sv = net.svc[(net.svc.bus == b) & net.svc.in_service]
    if len(sv):
        return f"{sv.kind.iloc[0].upper()} bus"
    sh = net.shunt[(net.shunt.bus == b) & net.shunt.controllable]
    has_load = bool(((net.load.bus == b) & net.load.in_service).any())
    if ":" in label:
        degree = int((net.line.from_bus == b).sum() + (net.line.to_bus == b).sum())
        if degree <= 1 and has_load:
            return "End load" + (" (capacitor bank)" if len(sh) else "")
    if len(sh):
        return "Capacitor bank bus"
    return "Load bus" if has_load else "Junction"


def key_node_table(cs: CoupledSystem, plan, nodes: list[str] | None = None) -> pd.DataFrame:
    """The analogue of seed 000's Table 3: key nodes, their reserve and who holds it."""
    df = plan.nodes.copy()
    if nodes:
        extra = [n for n in nodes if n not in df.index]
        for n in extra:
            df.loc[n] = {"demand_mvar": 0.0, "main_source": "", "main_subtype": "", "main_response_ms": float("nan"),
                         "main_share_mvar": 0.0}
    rows = []
    for label, r in df.iterrows():
        vn = cs.bus_vn_kv(label)
        side = "D" if ":" in label else "T"
        rows.append({
            "bus": label,
            "bus_id": f"{side}-{label.split(':', 1)[-1]}",
            "bus_type": bus_type(cs, label),
            "voltage_kv": vn,
            "q_reserve_mvar": float(r.demand_mvar),
            "reserve_type": RESERVE_TYPES.get(r.main_subtype, r.main_subtype),
            "source": r.main_source,
            "source_share_mvar": float(r.main_share_mvar),
            "response_ms": float(r.main_response_ms),
        })
    return pd.DataFrame(rows).sort_values("q_reserve_mvar", ascending=False)
