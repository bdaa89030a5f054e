"""Switched capacitor (or reactor) banks with discrete steps.

A controllable shunt row has ``max_step`` steps of ``bs_mvar`` each (the
injection at 1.0 p.u.); its injection is ``step * (bs - j gs) * V^2``.
Fixed shunts are part of the network's admittance and are not devices.

What a bank contributes, per formulation and backend (``w`` is the
formulation's squared voltage ``vm_sq()``):

=============== ======================================================= ==================
where           variables and constraints                               objective terms
=============== ======================================================= ==================
NLP (any ac)    ``step`` in [0, max_step], continuous, or integer for   ``q_cost`` c Q^2
                bonmin, or fixed by its bounds (discrete search);
                Q = bs step w, P = -gs step w
conic, relaxed  ``sw`` (= step w) in [0, max_step w]; Q = bs sw,        ``q_cost``
                P = -gs sw (the same set as a continuous step)
conic, integer  one-hot binaries y_ik (bank i at k steps) and           ``q_cost``
                ``z_ik = w_i y_ik`` written exactly by its McCormick
                inequalities (y binary); step = sum k y_ik,
                step w = sum k z_ik
dc              P = -gs step (step at its set-point)                    -
=============== ======================================================= ==================

Over a time axis, the step changes over the horizon are limited to
``max_switchings`` (each step switched counts once), the change between
consecutive periods to ``max_step_change`` (the first period against the
table's ``step``, the initial step), and each step switched costs
``switch_cost`` (objective term ``switch_cost``, on the backends with a
``step``: the NLP and the integer conic model).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, defaults_for, injection, moves, q_cost, \
    step_change_limits, switching_limits
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    if not len(net.shunt):
        return []
    pos = cn.position()
    base = cn.base_mva
    sh = net.shunt[net.shunt.in_service & net.shunt.controllable & net.shunt.bus.isin(pos)]
    if not len(sh):
        return []
    n = len(sh)
    kinds = np.array(["capacitor"] * n, dtype=object)
    cost, ms = defaults_for(kinds, sh.q_cost.to_numpy(float), sh.response_ms.to_numpy(float))
    bs = sh.bs_mvar.to_numpy(float) / base
    steps = sh.max_step.to_numpy(float)
    return [DeviceSet(
        kind="capacitor", table="shunt", index=sh.index.to_numpy(), bus=np.array([pos[b] for b in sh.bus]),
        subtype=kinds, q0=bs * sh.step.to_numpy(float), q_min=np.minimum(0.0, bs * steps),
        q_max=np.maximum(0.0, bs * steps), cost=cost, response_ms=ms, base_mva=base, p=np.zeros(n),
        extra={"bs": bs, "gs": sh.gs_mw.to_numpy(float) / base, "max_step": steps, "step0": sh.step.to_numpy(float),
               "max_switchings": sh.max_switchings.to_numpy(float),
               "max_step_change": sh.max_step_change.to_numpy(float), "switch_cost": sh.switch_cost.to_numpy(float)},
    )]


def build_capacitor(b: Any, form: Any, ds: DeviceSet, prefix: str, opts: DeviceOptions) -> DeviceVars:
    """The bank's variables, constraints and costs (see the module docstring)."""
    x = ds.extra
    n, nb = len(ds), form.cn.n_bus
    o = b.ops
    if not form.reactive:
        p = form.columns(-x["gs"] * x["step0"])
        return DeviceVars(ds, None, p, injection(b, ds, nb, p), None)
    w = o.mm(sp.csr_matrix(ds.incidence(nb).T), form.vm_sq())
    other: dict[str, Any] = {}
    if b.backend == "nlp":
        kind = "integer" if opts.steps == "integer" else "continuous"
        step = b.variable(f"{prefix}.shunt_step", form.shape(n), 0.0, x["max_step"], x["step0"], kind=kind)
        sw = step * w
        other["step"] = step
    elif opts.steps == "integer":
        step, sw = _one_hot(b, form, ds, prefix, w)
        other["step"] = step
    else:
        sw = b.variable(f"{prefix}.shunt_sw", form.shape(n), 0.0, np.inf, x["step0"])
        b.constraint_ineq(f"{prefix}.shunt_sw_max", sw - o.rows(x["max_step"], w), -np.inf, 0.0)
        other["sw"] = sw
    q = o.rows(x["bs"], sw)
    p = o.rows(-x["gs"], sw)
    costs: dict[str, Any] = {}
    if "step" in other and (form.periods is not None or b.backend == "nlp"):
        step = other["step"]
        if form.periods is not None:
            switching_limits(b, f"{prefix}.shunt_switching", step, x["step0"], x["max_switchings"])
        if np.any(np.isfinite(x["max_step_change"])) or np.any(x["switch_cost"] > 0):
            step_start = b.parameter(f"{prefix}.shunt_step0", x["step0"])  # steps before the horizon
            step_change_limits(b, f"{prefix}.shunt_step_change", step, step_start, x["max_step_change"],
                               parametric=True)
        if np.any(x["switch_cost"] > 0):
            _, m = moves(b, f"{prefix}.shunt_switch", step, step_start)
            other["switched"] = m
            costs["switch_cost"] = o.sum(o.rows(x["switch_cost"], m))
    qc = q_cost(b, ds, q)
    if qc is not None:
        costs["q_cost"] = qc
    return DeviceVars(ds, q, p, injection(b, ds, nb, p), injection(b, ds, nb, q), other=other, costs=costs)


def _one_hot(b: Any, form: Any, ds: DeviceSet, prefix: str, w: Any) -> tuple[Any, Any]:
    """Exact integer steps on the conic backend: one-hot levels and McCormick products (module docstring)."""
    x = ds.extra
    o = b.ops
    kmax = x["max_step"].astype(int)
    bank = np.repeat(np.arange(len(ds)), kmax)  # one row per (bank, level >= 1)
    level = np.concatenate([np.arange(1, k + 1) for k in kmax]) if kmax.sum() else np.zeros(0)
    rows = len(bank)
    w_hi = form.vm_max[ds.bus] ** 2
    pick = sp.csr_matrix((np.ones(rows), (np.arange(rows), bank)), shape=(rows, len(ds)))  # level row -> its bank
    start = (level == x["step0"][bank]).astype(float)
    y = b.variable(f"{prefix}.shunt_level", form.shape(rows), 0.0, 1.0, start, kind="binary")
    z = b.variable(f"{prefix}.shunt_level_w", form.shape(rows), 0.0, np.inf, start)
    w_rows = o.mm(pick, w)
    hi = w_hi[bank]
    b.constraint_ineq(f"{prefix}.shunt_one_level", o.mm(pick.T, y), -np.inf, 1.0)
    b.constraint_ineq(f"{prefix}.shunt_mc_y", z - o.rows(hi, y), -np.inf, 0.0)
    b.constraint_ineq(f"{prefix}.shunt_mc_w", z - w_rows, -np.inf, 0.0)
    b.constraint_ineq(f"{prefix}.shunt_mc_low", z - w_rows - o.rows(hi, y), -form.columns(hi), np.inf)
    weights = sp.csr_matrix((level.astype(float), (bank, np.arange(rows))), shape=(len(ds), rows))
    return o.mm(weights, y), o.mm(weights, z)


__all__ = ["build_capacitor", "device_sets"]
