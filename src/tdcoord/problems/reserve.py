"""Reserve requirements of reactive sources, from the nodes' demand.

Which sources count: controllable reactive sources whose response time
meets the online requirement (``response_ms <= limit``, 100 ms by default;
seed 000, section 3.3): synchronous condensers (80 ms), STATCOMs (20 ms),
SVGs (30 ms), inverters (50 ms) and capacitor banks (100 ms); generators
(500 ms) and the external grid do not.

How a node's demand is assigned: with s_kj = dV_k/dQ_j the voltage
sensitivity of node k to reactive injection at source j (power-flow
Jacobian at the operating point, voltage-controlled buses held, the source's
own bus treated as PQ: reserve is used as injection), node k is served by
its effective sources, those with s_kj >= 0.5 max_j s_kj. Its demand D_k
is split among them so that together they give node k the voltage support
of D_k injected at k itself, sum_j s_kj R_kj = s_kk D_k, with the smallest
capacity-weighted sum of squares sum_j R_kj^2 / c_j (c_j the source's
reactive range): R_kj = D_k s_kk s_kj c_j / sum_j' s_kj'^2 c_j'. Near,
effective and large sources carry more. A source's requirement is the
largest share any single node needs from it: a reserve, once deployed,
supports every node it serves at once (summing the shares would count the
same injection once per nearby node). A source's reserve is
its remaining upward capability, q_max - q (Mvar).

In the optimization the requirement is a bound, ``q <= q_max - R`` (for a
capacitor bank, ``step <= max_step - R / bs`` at 1 p.u.); a requirement
larger than the source's range is capped at the range and the shortfall
reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse.linalg import splu

from tdcoord.network.compiled import REF
from tdcoord.network.coupled import CoupledSystem
from tdcoord.pf.newton import JacobianPattern
from tdcoord.problems.evaluate import device_table
from tdcoord.stability.vsm import Operating, operating_point

RESPONSE_LIMIT_MS = 100.0
EFFECTIVE = 0.5  # a source serves node k if s_kj >= EFFECTIVE * max_j s_kj


@dataclass
class ReservePlan:
    sources: pd.DataFrame  # one row per counted source: network, table, index, bus, subtype, response_ms, q_max_mvar, requirement_mvar
    shares: pd.DataFrame  # node x source requirement (Mvar)
    nodes: pd.DataFrame  # per node with demand: demand_mvar, main_source, main_subtype, main_response_ms
    limit_ms: float
    shortfall: dict = field(default_factory=dict)

    def totals(self) -> dict[str, float]:
        """The system requirement: what the counted sources must hold, Mvar, in T and in D (``"T"``, ``"D"``)."""
        s = self.sources
        if not len(s) or "requirement_mvar" not in s:
            return {"T": 0.0, "D": 0.0}
        is_t = s.network == "T"
        return {"T": float(s.requirement_mvar[is_t].sum()), "D": float(s.requirement_mvar[~is_t].sum())}

    def requirement(self) -> dict[tuple[str, str, int], float]:
        s = self.sources
        return {(r.network, r.table, int(r["index"])): float(r.requirement_mvar) for _, r in s.iterrows()}


def sources_of(cs: CoupledSystem, pf, limit_ms: float = RESPONSE_LIMIT_MS) -> pd.DataFrame:
    parts = [device_table(cs.transmission, pf.transmission, "T")]
    parts += [device_table(n, pf.feeders[f], f) for f, n in cs.feeders.items()]
    dev = pd.concat([p for p in parts if len(p)], ignore_index=True)
    dev["label"] = [b if n == "T" else f"{n}:{b}" for n, b in zip(dev.network, dev.bus)]
    return dev[dev.controllable & (dev.response_ms <= limit_ms)].reset_index(drop=True)


def sensitivities(op: Operating, nodes: list[int], sources: list[int]) -> np.ndarray:
    """dV_node/dQ_source at the operating point (rows: nodes, columns: sources).

    Voltage-controlled buses keep their voltage, except the source buses,
    which inject (PQ).
    """
    cn = op.cn
    types = op.bus_type.copy()
    types[[s for s in sources if types[s] != REF]] = 1
    types[[k for k in nodes if types[k] != REF]] = 1
    pv = np.flatnonzero(types == 2)
    pq = np.flatnonzero(types == 1)
    pvpq = np.r_[pv, pq]
    ybus = cn.ybus()[0]
    j = JacobianPattern(ybus, pvpq, pq).jacobian(op.v, ybus @ op.v)
    lu = splu(j.tocsc())
    n = len(pvpq)
    where = np.full(cn.n_bus, -1)
    where[pq] = np.arange(len(pq))
    rhs = np.zeros((j.shape[0], len(sources)))
    for c, s in enumerate(sources):
        if where[s] >= 0:
            rhs[n + where[s], c] = 1.0
    sol = lu.solve(rhs)
    out = np.zeros((len(nodes), len(sources)))
    for r, k in enumerate(nodes):
        if where[k] >= 0:
            out[r] = sol[n + where[k]]
    return out


def allocate(cs: CoupledSystem, demand_mvar: pd.Series, pf=None, limit_ms: float = RESPONSE_LIMIT_MS) -> ReservePlan:
    """Requirements of the fast sources covering ``demand_mvar`` (merged bus labels -> Mvar)."""
    from tdcoord.pf.integrated import run_coupled

    pf = pf or run_coupled(cs, "merged")
    src = sources_of(cs, pf, limit_ms)
    demand = demand_mvar[demand_mvar > 0]
    op = operating_point(cs)
    pos = op.cn.position()
    if not len(src) or not len(demand):
        src = src.assign(requirement_mvar=0.0)
        return ReservePlan(src, pd.DataFrame(index=demand.index), pd.DataFrame(columns=["demand_mvar"]), limit_ms)
    node_pos = [pos[b] for b in demand.index]
    src_pos = [pos[b] for b in src.label]
    s = sensitivities(op, node_pos, src_pos)
    self_s = np.array([sensitivities(op, [k], [k])[0, 0] for k in node_pos])
    cap = np.maximum((src.q_max_mvar - src.q_mvar).to_numpy() + 0.0, 0.0)
    cap = np.where(cap > 0, cap, 1e-6)
    eff = s >= EFFECTIVE * s.max(axis=1, keepdims=True)
    sw = np.where(eff, s, 0.0)
    norm = (sw**2 * cap).sum(axis=1)
    shares = np.where(norm[:, None] > 0, demand.to_numpy()[:, None] * self_s[:, None] * sw * cap / norm[:, None], 0.0)
    names = [f"{n}:{t} {i}" for n, t, i in zip(src.network, src.table, src["index"])]
    sh = pd.DataFrame(shares, index=demand.index, columns=names)
    src = src.assign(requirement_mvar=shares.max(axis=0))
    main = sh.idxmax(axis=1)
    by_name = dict(zip(names, src.itertuples()))
    nodes = pd.DataFrame({
        "demand_mvar": demand,
        "main_source": main,
        "main_subtype": [by_name[m].subtype for m in main],
        "main_response_ms": [by_name[m].response_ms for m in main],
        "main_share_mvar": [sh.at[k, m] for k, m in zip(sh.index, main)],
    })
    return ReservePlan(src, sh, nodes, limit_ms)


def check(plan: ReservePlan, cs_applied: CoupledSystem, pf) -> pd.DataFrame:
    """Each counted source's reserve at a re-checked point against its requirement."""
    now = sources_of(cs_applied, pf, plan.limit_ms).set_index(["network", "table", "index"])
    req = plan.sources.set_index(["network", "table", "index"]).requirement_mvar
    out = pd.DataFrame({"requirement_mvar": req, "reserve_mvar": now.reserve_mvar.reindex(req.index)})
    out["met"] = out.reserve_mvar >= out.requirement_mvar - 1e-3
    return out


SHORTFALL_PENALTY = 100.0  # objective units per Mvar of reserve shortfall (exact penalty)


def constraint_reserve(b, prefix: str, area: str, devices: list, requirement: dict[tuple[str, str, int], float]) -> dict:
    """Reserve constraints of the area's counted sources, soft with an exact penalty.

    For each source with a requirement R: ``q - short <= q_max - R`` (for a
    capacitor bank ``step - short / bs <= max_step - R / bs``) with
    ``short >= 0`` (Mvar, p.u. in the model) costing ``SHORTFALL_PENALTY``
    per Mvar. Where the requirement can be met the penalty keeps
    ``short = 0``; where it cannot (more reserve than the source has, or
    than the voltage limits allow), the optimum shows the shortfall instead
    of the problem becoming infeasible. Returns {source: requirement} of
    the constrained sources.
    """
    import casadi as ca

    declared = {}
    for dv in devices:
        ds = dv.ds
        table = ds.table
        base = ds.base_mva
        sel, rhs, scale = [], [], []
        for k, idx in enumerate(ds.index):
            r = requirement.get((area, table, int(idx)))
            if not r or r <= 0:
                continue
            sel.append(k)
            if ds.kind == "capacitor":
                bs = ds.extra["bs"][k] * base
                rhs.append(ds.extra["max_step"][k] - r / bs if bs > 0 else np.inf)
                scale.append(1.0 / bs if bs > 0 else 0.0)
            else:
                rhs.append(ds.q_max[k] - r / base)
                scale.append(1.0 / base)
            declared[(area, table, int(idx))] = r
        if not sel:
            continue
        short = b.variable(f"{prefix}.{table}_reserve_short", len(sel), 0.0, np.inf, 0.0)  # Mvar
        x = dv.other["step"] if ds.kind == "capacitor" else dv.q
        b.constraint_ineq(f"{prefix}.{table}_reserve", x[sel] - short * np.array(scale), -np.inf, np.array(rhs))
        if "w.reserve" not in b.params:
            b.parameter("w.reserve", SHORTFALL_PENALTY)
        b.objective_term(f"{prefix}.{table}_reserve_short", ca.sum1(short), "w.reserve")
    return declared


def shortfalls(b, sol) -> dict[str, float]:
    """Reserve shortfall (Mvar) per constrained source block at a solution."""
    return {k: float(v.sum()) for k, v in sol.x.items() if k.endswith("_reserve_short") and v.sum() > 1e-6}
