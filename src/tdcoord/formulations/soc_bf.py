"""SOC-relaxed branch flow of one feeder as a convex program (cvxpy + Clarabel).

With the boundary voltage given (a feeder optimized on its own), the
feeder's reactive power optimization is a second-order cone program in
squared voltages v = V^2:

    w_k = u_k - 2 (r_k P_k + x_k Q_k) + z_k^2 l_k          (voltage drop, linear)
    || (2 P_k, 2 Q_k, l_k - u_k) ||_2 <= l_k + u_k         (l u >= P^2 + Q^2, relaxed)
    P_k - r_k l_k + p_dev(c) - g_sh(c) v_c = sum of child branch P   (balance)

with u, w as in :mod:`tdcoord.formulations.branch_flow` (taps through
1/t^2). Inverter and SVC set-points are bounded variables; a capacitor bank
injects ``bs * step * v`` (linear in v for a given step). Objective, in the
same units as the NLP: alpha * losses (MW) + beta * sum c Q^2 ($/h) +
gamma * sum ((v - 1)/2)^2, the last being the second-order equal of
sum (V - 1)^2 (the NLP uses V itself).

Capacitor steps: the relaxation lets a bank inject anything in
[0, bs * max_step * v] (linear, convex); each neighbouring integer setting
is then a convex problem of its own, and the best is kept (as in
:mod:`tdcoord.coordination.discrete`).

The exactness gap ``l u - P^2 - Q^2`` is reported; where it is zero the
relaxed optimum is an optimum of the exact (nonconvex) branch-flow problem.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tdcoord.devices import collect_all
from tdcoord.formulations.branch_flow import orient
from tdcoord.network.compiled import compile_network
from tdcoord.network.coupled import CoupledSystem
from tdcoord.pf.integrated import HV_BUS, feeder_with_boundary

MAX_COMBINATIONS = 256


@dataclass
class SocFeederResult:
    name: str
    status: str
    ok: bool
    objective: float
    vm: np.ndarray
    labels: np.ndarray
    devices: dict[str, pd.DataFrame]
    terms: dict[str, float]
    gap: dict[str, float]
    time_s: float
    discrete: dict[str, Any] = field(default_factory=dict)


def _problem(cs: CoupledSystem, fname: str, weights: dict[str, float], vm_root: float, steps: np.ndarray | None,
             vm_band: tuple[float, float] | None):
    import cvxpy as cp

    from tdcoord.problems.rpo import device_free_network

    net = feeder_with_boundary(cs, fname)
    cn = compile_network(device_free_network(net))
    root = cn.position()[HV_BUS]
    o = orient(cn, root)
    nb, nl = cn.n_bus, cn.n_branch
    lo, hi = cn.vm_min.copy(), cn.vm_max.copy()
    if vm_band is not None:
        lo, hi = np.maximum(lo, vm_band[0]), np.minimum(hi, vm_band[1])
    lo[root] = hi[root] = vm_root
    v = cp.Variable(nb)
    p, q, l = cp.Variable(nl), cp.Variable(nl), cp.Variable(nl, nonneg=True)
    cons = [v >= lo**2, v <= hi**2]
    p_dev = -cn.p_load
    q_dev = -cn.q_load
    devices: list[tuple[Any, Any, Any]] = []
    q_cost = 0
    base = cn.base_mva
    cap_info = None
    for ds in collect_all(net, cn):
        if ds.kind == "ext_grid":
            continue
        inc = ds.incidence(nb)
        if ds.kind == "capacitor":
            bs = ds.extra["bs"]
            sel = sp.csr_matrix((np.ones(len(ds)), (np.arange(len(ds)), ds.bus)), shape=(len(ds), nb))
            qc = cp.Variable(len(ds))
            if steps is None:
                full = cp.multiply(bs * ds.extra["max_step"], sel @ v)  # all steps in, at this voltage
                pos = bs >= 0
                if pos.any():
                    cons += [qc[pos] >= 0, qc[pos] <= full[pos]]
                if (~pos).any():
                    cons += [qc[~pos] <= 0, qc[~pos] >= full[~pos]]
            else:
                cons += [qc == cp.multiply(bs * steps, sel @ v)]
            q_dev = q_dev + inc @ qc
            if np.any(ds.cost > 0):
                q_cost = q_cost + cp.sum(cp.multiply(ds.cost, cp.square(qc * base)))
            devices.append((ds, qc, None))
            cap_info = (ds, qc, sel)
            continue
        qv = cp.Variable(len(ds))
        cons += [qv >= ds.q_min, qv <= ds.q_max] if np.all(np.isfinite(ds.q_min)) else [qv <= ds.q_max]
        p_dev = p_dev + inc @ ds.p
        q_dev = q_dev + inc @ qv
        if np.any(ds.cost > 0):
            q_cost = q_cost + cp.sum(cp.multiply(ds.cost, cp.square(qv * base)))
        devices.append((ds, qv, None))
    u = cp.multiply(np.where(o.tap_at_parent, 1.0 / o.t2, 1.0), sp.csr_matrix((np.ones(nl), (np.arange(nl), o.parent)), shape=(nl, nb)) @ v)
    w = cp.multiply(np.where(o.tap_at_parent, 1.0, 1.0 / o.t2), sp.csr_matrix((np.ones(nl), (np.arange(nl), o.child)), shape=(nl, nb)) @ v)
    z2 = o.r**2 + o.x**2
    cons.append(w == u - 2 * (cp.multiply(o.r, p) + cp.multiply(o.x, q)) + cp.multiply(z2, l))
    cons.append(cp.SOC(l + u, cp.vstack([2 * p, 2 * q, l - u])))
    keep = np.delete(np.arange(nb), root)
    ac, ap = o.a_child[keep], o.a_parent[keep]
    cons.append(ac @ (p - cp.multiply(o.r, l)) + p_dev[keep] - cp.multiply(o.gsh[keep], v[keep]) - ap @ p == 0)
    cons.append(ac @ (q - cp.multiply(o.x, l)) + q_dev[keep] + cp.multiply(o.bsh[keep], v[keep]) - ap @ q == 0)
    loss = (o.r @ l + o.gsh @ v) * base
    dv = cp.sum_squares((v[keep] - 1) / 2)
    obj = weights["alpha"] * loss + weights["beta"] * q_cost + weights["gamma"] * dv
    prob = cp.Problem(cp.Minimize(obj), cons)
    return prob, dict(net=net, cn=cn, o=o, v=v, p=p, q=q, l=l, devices=devices, loss=loss, q_cost=q_cost, dv=dv,
                      keep=keep, cap=cap_info)


def _solve(prob, solver: str) -> str:
    import cvxpy as cp

    try:
        prob.solve(solver=getattr(cp, solver))
    except cp.error.SolverError as exc:
        return f"solver error: {exc}"
    return str(prob.status)


def solve_feeder_soc(cs: CoupledSystem, fname: str, weights: dict[str, float], vm_root: float, *,
                     vm_band: tuple[float, float] | None = None, solver: str = "CLARABEL") -> SocFeederResult:
    """Optimize one feeder with its boundary voltage fixed, by the SOC relaxation."""
    t0 = time.perf_counter()
    prob, m = _problem(cs, fname, weights, vm_root, None, vm_band)
    status = _solve(prob, solver)
    info: dict[str, Any] = {}
    if status in ("optimal", "optimal_inaccurate") and m["cap"] is not None:
        ds, qc, sel = m["cap"]
        bs, vb = ds.extra["bs"], sel @ m["v"].value
        rel = np.where(bs * vb > 0, qc.value / (bs * vb), 0.0)
        opts = [sorted({int(np.clip(np.floor(s + 1e-7), 0, mx)), int(np.clip(np.ceil(s - 1e-7), 0, mx))})
                for s, mx in zip(rel, ds.extra["max_step"])]
        relaxed_obj = prob.value
        best = None
        for k, choice in enumerate(itertools.product(*opts)):
            if k >= MAX_COMBINATIONS:
                break
            p2, m2 = _problem(cs, fname, weights, vm_root, np.array(choice, float), vm_band)
            st2 = _solve(p2, solver)
            if st2 in ("optimal", "optimal_inaccurate") and (best is None or p2.value < best[0].value):
                best = (p2, m2, st2, choice)
        if best is not None:
            prob, m, status, choice = best
            info = {"method": "relax-and-search (SOC)", "relaxed_objective": float(relaxed_obj),
                    "objective": float(prob.value), "gap": float((prob.value - relaxed_obj) / max(abs(relaxed_obj), 1e-12)),
                    "relaxed_steps": rel.round(4).tolist(), "steps": list(choice)}
    ok = status in ("optimal", "optimal_inaccurate")
    cn, o = m["cn"], m["o"]
    labels = np.array([f"{fname}:{lab}" if lab != HV_BUS else cs.boundary.at[fname, "bus"] for lab in cn.labels], dtype=object)
    if not ok:
        return SocFeederResult(fname, status, False, float("nan"), np.full(cn.n_bus, np.nan), labels, {}, {}, {},
                               time.perf_counter() - t0, info)
    v = m["v"].value
    vm = np.sqrt(np.maximum(v, 0.0))
    devices: dict[str, pd.DataFrame] = {}
    for ds, var, _ in m["devices"]:
        qv = np.asarray(var.value, float) * ds.base_mva
        df = pd.DataFrame({"q_mvar": qv, "bus": cn.labels[ds.bus]}, index=ds.index)
        if ds.kind == "capacitor":
            df["step"] = np.array(info.get("steps", ds.extra["step0"]), float)
        if ds.kind == "generator":
            df["vm_pu"] = vm[ds.bus]
            df["p_mw"] = ds.p * ds.base_mva
        devices[ds.table] = df
    p, q, l = m["p"].value, m["q"].value, m["l"].value
    u = v[o.parent] * np.where(o.tap_at_parent, 1.0 / o.t2, 1.0)
    gap = l * u - (p**2 + q**2)
    terms = {"loss_mw": float(m["loss"].value), "q_cost": float(getattr(m["q_cost"], "value", 0.0) or 0.0),
             "dv": float(m["dv"].value)}
    return SocFeederResult(fname, status, True, float(prob.value), vm, labels, devices, terms,
                           {"max_abs_pu2": float(np.max(np.abs(gap))) if len(gap) else 0.0,
                            "max_rel": float(np.max(np.abs(gap) / np.maximum(l * u, 1e-12))) if len(gap) else 0.0,
                            "loss_excess_pu": float(np.sum(o.r * (l - (p**2 + q**2) / np.maximum(u, 1e-12))))},
                           time.perf_counter() - t0, info)
