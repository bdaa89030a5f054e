"""Voltage-stability margins in the loop of any strategy.

:func:`iterate_vsm` runs a strategy with the key nodes' margins linearized
(:mod:`tdcoord.problems.vsm`), re-checks the operating point by power flow,
recomputes the key nodes' margins and gradients by continuation power flow
at that point, and repeats with the new linearization until every
CPF-checked margin meets the threshold (within ``tol``) and no margin moved
by more than ``tol`` since the last pass. The first pass runs with the
linearization of the pre-optimization point.

Key-node screening (:func:`screen`): candidate buses are those with the
largest reactive self-sensitivity dV_i/dQ_i of the power-flow Jacobian
(five transmission and five feeder buses); their margins come from the
continuation power flow; the key nodes are chosen among them as
:func:`tdcoord.problems.vsm.screen_key_nodes` says.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd
from scipy.sparse.linalg import splu

from tdcoord.network.compiled import PQ, PV
from tdcoord.network.coupled import CoupledSystem
from tdcoord.pf.newton import JacobianPattern
from tdcoord.problems.vsm import Linearization, VsmSettings, screen_key_nodes
from tdcoord.stability.sensitivity import margin_gradient
from tdcoord.stability.vsm import Operating, operating_point, q_margin, q_margins
from tdcoord.results.optimization import VsmOutcome

N_CANDIDATES = 5


def dv_dq(op: Operating) -> np.ndarray:
    """Reactive self-sensitivity dV_i/dQ_i of every PQ bus (0 elsewhere)."""
    cn = op.cn
    pv = np.flatnonzero(op.bus_type == PV)
    pq = np.flatnonzero(op.bus_type == PQ)
    pvpq = np.r_[pv, pq]
    ybus = cn.ybus()[0]
    j = JacobianPattern(ybus, pvpq, pq).jacobian(op.v, ybus @ op.v)
    lu = splu(j.tocsc())
    n = len(pvpq)
    rhs = np.zeros((j.shape[0], len(pq)))
    rhs[n + np.arange(len(pq)), np.arange(len(pq))] = 1.0
    sol = lu.solve(rhs)
    out = np.zeros(cn.n_bus)
    out[pq] = sol[n + np.arange(len(pq)), np.arange(len(pq))]
    return out


def screen(system: CoupledSystem, settings: VsmSettings, op: Operating | None = None) -> tuple[list[str], pd.DataFrame]:
    """Key nodes of ``system`` and the margins of the screened candidates."""
    op = op or operating_point(system, enforce_q_lims=settings.enforce_q_lims)
    if settings.key_nodes:
        return list(settings.key_nodes), q_margins(system, list(settings.key_nodes), op=op)
    s = dv_dq(op)
    labels = op.cn.labels
    is_t = op.network_of_bus == "T"
    cand = list(labels[is_t][np.argsort(-s[is_t])][:N_CANDIDATES])
    cand += list(labels[~is_t][np.argsort(-s[~is_t])][:N_CANDIDATES])
    margins = q_margins(system, cand, op=op)
    return screen_key_nodes(margins, settings), margins


def controllable_q(system: CoupledSystem, op: Operating) -> np.ndarray:
    """Reactive injection of inverters, SVCs and capacitor banks per merged bus (p.u., system base)."""
    cn = op.cn
    pos = cn.position()
    q = np.zeros(cn.n_bus)
    vm = np.abs(op.v)
    parts = [("", system.transmission)] + [(f + ":", n) for f, n in system.feeders.items()]
    for prefix, net in parts:
        for table in ("sgen", "svc"):
            df = getattr(net, table)
            df = df[df.in_service & (df.controllable if "controllable" in df else True)]
            for b, qv in zip(df.bus, df.q_mvar):
                q[pos[prefix + b]] += qv / cn.base_mva
        sh = net.shunt[net.shunt.in_service & net.shunt.controllable]
        for b, bs, st in zip(sh.bus, sh.bs_mvar, sh.step):
            i = pos[prefix + b]
            q[i] += bs * st * vm[i] ** 2 / cn.base_mva
    return q


def linearize(system: CoupledSystem, nodes: list[str], settings: VsmSettings) -> Linearization:
    """Margins and gradients of the key nodes at the operating point of ``system``."""
    op = operating_point(system, enforce_q_lims=settings.enforce_q_lims)
    cn = op.cn
    pos = cn.position()
    k = len(nodes)
    margin = np.zeros(k)
    mvar = np.zeros(k)
    base = np.zeros(k)
    dq = np.zeros((k, cn.n_bus))
    dv = np.zeros((k, cn.n_bus))
    for i, node in enumerate(nodes):
        b = pos[node]
        d = np.zeros(cn.n_bus, complex)
        d[b] = -1j
        r = q_margin(op, b)
        g = margin_gradient(cn, d, r)
        scale = cn.base_mva / op.base_of_bus[b]
        margin[i] = r.lambda_max * scale
        mvar[i] = r.lambda_max * cn.base_mva
        base[i] = op.base_of_bus[b]
        dq[i] = g.dq * scale
        dv[i] = g.dv * scale
    return Linearization(list(nodes), margin, base, cn.labels.copy(), dq, dv, controllable_q(system, op),
                         np.abs(op.v), cn.base_mva, mvar)


def iterate_vsm(run_once: Callable[[Linearization], object], base_system: CoupledSystem, nodes: list[str],
                settings: VsmSettings, first: Linearization | None = None):
    """Run ``run_once(linearization)`` until the key nodes' CPF margins meet the threshold."""
    lin = first or linearize(base_system, nodes, settings)
    history = []
    result = None
    prev = None
    t_vsm = 0.0
    checked = False
    for outer in range(1, settings.max_outer + 1):
        result = run_once(lin)
        if not result.converged:
            checked = False
            break
        t0 = time.perf_counter()
        applied = result.applied
        new = linearize(applied, nodes, settings)
        t_vsm += time.perf_counter() - t0
        history.append({"outer": outer, "objective": result.objective, "vsm_min": float(new.margin.min()),
                        **{f"vsm[{n}]": float(m) for n, m in zip(nodes, new.margin)}})
        ok = bool(np.all(new.margin >= settings.threshold - settings.tol))
        still = prev is not None and np.max(np.abs(new.margin - prev)) <= settings.tol
        prev = new.margin
        lin = new
        checked = True
        if ok and (still or outer == 1 or not settings.hard):
            break
    if result is not None and checked:
        result.vsm = VsmOutcome(
            nodes=list(nodes), margins_pu=dict(zip(nodes, map(float, lin.margin))),
            margins_mvar=dict(zip(nodes, map(float, lin.margins_mvar))),
            min_pu=float(lin.margin.min()) if len(nodes) else float("nan"), outer=len(history),
            ok=bool(len(nodes) == 0 or np.all(lin.margin >= settings.threshold - settings.tol)), time_s=t_vsm,
            history=history)
    elif result is not None:
        # the last pass failed: no margins were checked at its (non-existent) operating point
        result.vsm = VsmOutcome(nodes=list(nodes), outer=len(history) + 1, history=history)
    return result
