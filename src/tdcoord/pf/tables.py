"""Result tables of an operating point (a solved power flow), in the form of :mod:`tdcoord.results.tables`.

:func:`network_tables` gives the tables of one network from its power-flow
result and its element tables (tap positions, capacitor steps, battery
set-points come from the network as solved); :func:`coupled_tables` those of
a coupled system: the transmission grid's under their own names, each
feeder's prefixed with the feeder's name, and ``res_boundary``. Everything
a reader needs to rebuild the point without tdcoord is there: every bus's
voltage, every unit's P and Q (slack included), taps and steps, branch flows
and losses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.results.powerflow import CoupledPowerFlowResult, PowerFlowResult
from tdcoord.results.tables import BRANCH_FLOW_COLUMNS, tap_position


def network_tables(net: Network, res: PowerFlowResult) -> dict[str, pd.DataFrame]:
    """res_bus, res_line, res_trafo, res_gen, res_ext_grid, res_sgen, res_svc, res_shunt, res_storage, and the
    AC/DC power flow's res_upfc and res_hvdc, of one network."""
    out: dict[str, pd.DataFrame] = {}
    out["res_bus"] = res.res_bus[["vm_pu", "va_degree", "p_mw", "q_mvar"]].copy()
    if len(net.line):
        out["res_line"] = res.res_line[BRANCH_FLOW_COLUMNS + ["loading_percent"]].copy()
    if len(net.trafo):
        t = res.res_trafo[BRANCH_FLOW_COLUMNS + ["loading_percent"]].copy()
        t["tap_pu"] = net.trafo.tap_pu.reindex(t.index).to_numpy(float)
        t["tap_pos"] = tap_position(t.tap_pu.to_numpy(), net.trafo.tap_step_pu.reindex(t.index).to_numpy(float))
        out["res_trafo"] = t
    if len(net.gen):
        out["res_gen"] = res.res_gen[["p_mw", "q_mvar", "vm_pu"]].copy()
    if len(net.ext_grid):
        e = res.res_ext_grid[["p_mw", "q_mvar"]].copy()
        e["vm_pu"] = res.res_bus.vm_pu.reindex(net.ext_grid.bus.reindex(e.index)).to_numpy()
        out["res_ext_grid"] = e
    if len(net.sgen):
        out["res_sgen"] = res.res_sgen[["p_mw", "q_mvar"]].copy()
    if len(net.svc):
        out["res_svc"] = res.res_svc[["q_mvar"]].copy()
    if len(net.shunt):
        s = res.res_shunt[["p_mw", "q_mvar", "vm_pu"]].copy()
        s["step"] = net.shunt.step.reindex(s.index).to_numpy(float)
        s["max_step"] = net.shunt.max_step.reindex(s.index).to_numpy(float)
        out["res_shunt"] = s
    if len(net.storage):
        st = net.storage
        out["res_storage"] = pd.DataFrame({"p_mw": np.where(st.in_service, st.p_mw, 0.0),
                                           "q_mvar": np.where(st.in_service, st.q_mvar, 0.0)}, index=st.index.copy())
    out.update({k: v.copy() for k, v in res.extra_tables.items() if len(v)})  # res_upfc, res_hvdc
    return out


def coupled_tables(cs: CoupledSystem, pf: CoupledPowerFlowResult) -> dict[str, pd.DataFrame]:
    """Tables of a coupled operating point: transmission by name, feeders as ``<feeder>:res_*``, res_boundary."""
    out = network_tables(cs.transmission, pf.transmission)
    for name, net in cs.feeders.items():
        for key, df in network_tables(net, pf.feeders[name]).items():
            if key == "res_ext_grid":
                continue  # a feeder's own source is replaced by the transmission grid (see res_boundary)
            out[f"{name}:{key}"] = df
    if len(pf.res_boundary):
        b = pf.res_boundary.copy()
        b.index.name = "feeder"
        out["res_boundary"] = b
    return out


__all__ = ["coupled_tables", "network_tables"]
