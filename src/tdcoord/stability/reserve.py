"""Dynamic reactive reserve demand of every node (seed 000, section 2.2).

For each case (the operating point itself, renewable forecast-error
scenarios, N-1 outages of transmission branches) and each node i, the
demand is the smallest reactive compensation at i that restores
``vsm_i >= threshold``. A constant reactive injection at i shifts i's Q-V
curve by exactly its size, so the demand is ``max(0, threshold * B_i -
q_margin_i)`` (B_i the MVA base of i's network). A node's dynamic reserve
demand is the maximum over the cases.

These are per-node figures: each says what node i alone would need, and
nodes that one outage weakens together each count the same shortage. They
do not add up to what the system needs (one injection supports every node
near it). The summary therefore gives the largest node demand in each
network, not a sum; what the reactive sources must hold is the system
requirement of :func:`tdcoord.problems.reserve.allocate` (each source's
largest share of any node's demand, summed over the sources).

Speed: the margin is only needed where it is short. Each node is first
screened by one warm-started Newton power flow with ``threshold * B_i`` of
extra reactive load at i: if it converges, the margin is at least the
threshold and the demand is zero; only the other nodes get a continuation
power flow. A case without a power-flow solution (an outage the grid
cannot survive) is reported as such and does not enter the maxima.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from tdcoord.errors import SolveError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.transforms import outage
from tdcoord.stability.vsm import THRESHOLD, Operating, operating_point, pf_with_extra_q, q_margin
from tdcoord.uncertainty.forecast import n_minus_1, sample_renewables


@dataclass
class ReserveAssessment:
    threshold: float
    demand: pd.DataFrame  # per node: network, base_mva, demand_mvar, worst_case, vsm_min_pu
    per_case: pd.DataFrame  # node x case demand (Mvar)
    cases: pd.DataFrame  # per case: kind, solved, demand_max_t_mvar, demand_max_d_mvar, worst_node, nodes_short, vsm_min_pu
    time_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Per-node figures: the largest node demand in T and in D and where (not a sum over nodes)."""
        d = self.demand
        out: dict[str, Any] = {"threshold": self.threshold}
        for tag, part in (("t", d[d.network == "T"]), ("d", d[d.network != "T"])):
            short = part[part.demand_mvar > 0]
            out[f"node_demand_max_{tag}_mvar"] = float(part.demand_mvar.max()) if len(part) else 0.0
            out[f"worst_node_{tag}"] = str(short.demand_mvar.idxmax()) if len(short) else None
            out[f"worst_case_{tag}"] = str(short.worst_case[short.demand_mvar.idxmax()]) if len(short) else None
        return {
            **out,
            "nodes_with_demand": int((d.demand_mvar > 0).sum()),
            "cases": len(self.cases),
            "cases_without_solution": int((~self.cases.solved).sum()),
            "time_s": self.time_s,
            **self.settings,
        }


def node_demands(op: Operating, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Demand (Mvar) and, where short, the margin of every non-slack node at one operating point."""
    cn = op.cn
    rows = []
    for b in range(cn.n_bus):
        if op.bus_type[b] == 3:
            continue
        need = threshold * op.base_of_bus[b] / cn.base_mva  # p.u. on the system base
        ok, _ = pf_with_extra_q(op, b, need, op.v, op.q_limits)
        if ok:
            rows.append((cn.labels[b], 0.0, np.nan))
            continue
        r = q_margin(op, b)
        vsm = r.lambda_max * cn.base_mva / op.base_of_bus[b]
        rows.append((cn.labels[b], max(0.0, (threshold - vsm) * op.base_of_bus[b]), vsm))
    return pd.DataFrame(rows, columns=["bus", "demand_mvar", "vsm_pu"]).set_index("bus")


def assess_reserve_demand(cs: CoupledSystem, *, n_scenarios: int = 20, sigma: float = 0.125, seed: int = 0,
                          contingencies: list[tuple[str, str]] | str | None = "all", threshold: float = THRESHOLD,
                          enforce_q_lims: bool = True, progress: Callable[[str, int, int], None] | None = None,
                          done: dict[str, pd.DataFrame] | None = None,
                          on_case: Callable[[str, pd.DataFrame, dict], None] | None = None) -> ReserveAssessment:
    """Reserve demand of every node over forecast scenarios and N-1 outages.

    ``done`` holds per-case results already computed (resume); ``on_case``
    is called after each case with its name, node table and case row.
    """
    t0 = time.perf_counter()
    cases: list[tuple[str, str, Callable[[], CoupledSystem]]] = [("base", "operating point", lambda: cs)]
    for k, sc in enumerate(sample_renewables(cs, n_scenarios, sigma, seed)):
        cases.append((f"forecast-{k + 1}", "forecast", lambda sc=sc: sc))
    if contingencies == "all":
        outs = [(a, b) for a, b, _, _ in n_minus_1(cs)]
    else:
        outs = list(contingencies or [])
    for a, b in outs:
        def make(a=a, b=b) -> CoupledSystem:
            c = cs.copy()
            outage(c.transmission, a, b)
            return c
        cases.append((f"n-1 {a}-{b}", "n-1", make))
    done = dict(done or {})
    per_case: dict[str, pd.Series] = {}
    vsm_case: dict[str, pd.Series] = {}
    rows = []
    base_info = None
    for k, (name, kind, make) in enumerate(cases):
        if progress:
            progress(name, k, len(cases))
        if name in done:
            nd = done[name]
            solved = bool(len(nd))
        else:
            try:
                op = operating_point(make(), enforce_q_lims=enforce_q_lims)
                nd = node_demands(op, threshold)
                solved = True
            except SolveError:
                nd = pd.DataFrame(columns=["demand_mvar", "vsm_pu"])
                solved = False
        if base_info is None and solved:
            labels = list(nd.index)
            owner = pd.Series([lab.split(":", 1)[0] if ":" in lab else "T" for lab in labels], index=labels)
            base_info = owner
        row = {"case": name, "kind": kind, "solved": solved}
        if solved:
            is_t = np.array([":" not in lab for lab in nd.index])
            dm = nd.demand_mvar
            row.update({"demand_max_t_mvar": float(dm[is_t].max()) if is_t.any() else 0.0,
                        "demand_max_d_mvar": float(dm[~is_t].max()) if (~is_t).any() else 0.0,
                        "worst_node": str(dm.idxmax()) if (dm > 0).any() else None,
                        "nodes_short": int((dm > 0).sum()),
                        "vsm_min_pu": float(nd.vsm_pu.min()) if nd.vsm_pu.notna().any() else np.nan})
            per_case[name] = nd.demand_mvar
            vsm_case[name] = nd.vsm_pu
        rows.append(row)
        if on_case:
            on_case(name, nd, row)
    pc = pd.DataFrame(per_case).fillna(0.0)
    vs = pd.DataFrame(vsm_case)
    nodes = pc.index
    owner = pd.Series([lab.split(":", 1)[0] if ":" in lab else "T" for lab in nodes], index=nodes)
    base_mva = pd.Series([cs.feeders[o].sn_mva if o != "T" else cs.transmission.sn_mva for o in owner], index=nodes)
    demand = pd.DataFrame({
        "network": owner,
        "base_mva": base_mva,
        "demand_mvar": pc.max(axis=1),
        "worst_case": pc.idxmax(axis=1).where(pc.max(axis=1) > 0, ""),
        "vsm_min_pu": vs.min(axis=1) if len(vs.columns) else np.nan,
    })
    return ReserveAssessment(threshold=threshold, demand=demand, per_case=pc,
                             cases=pd.DataFrame(rows).set_index("case"), time_s=time.perf_counter() - t0,
                             settings={"n_scenarios": n_scenarios, "sigma": sigma, "seed": seed,
                                       "contingencies": len(outs)})
