"""Synchronous machines: generators, synchronous condensers, external grids.

Reactive power is a variable within ``[q_min, q_max]`` (the voltage
set-point of the machine is then the optimized bus voltage). Active power is
fixed at the dispatch (``p_mw``, or its time series) except for the slack
machine, which covers the losses within ``[p_min, p_max]``; an OPF frees
every machine's P (``DeviceOptions.free_p``). An external grid
(``ext_grid``) is a slack source without limits, cost or reserve. Limits of
1e8 MW/Mvar or more (MATPOWER's "unlimited") are infinite.

What a machine contributes, per formulation family:

======== ================================ ========================= ==================================
family   variables                        constraints               objective terms ($/h)
======== ================================ ========================= ==================================
ac       P (fixed or free), Q             Q limits, P limits; ramp  ``gen_cost`` c2 P^2 + c1 P + c0;
                                          between periods           ``q_cost`` c Q^2
dc       P (fixed or free)                P limits; ramp            ``gen_cost``
======== ================================ ========================= ==================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, columns, defaults_for, injection, q_cost, \
    ramp_limits
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network
from tdcoord.network.timeseries import values

UNLIMITED = 1e8


def _lim(x: np.ndarray) -> np.ndarray:
    return np.where(x >= UNLIMITED, np.inf, np.where(x <= -UNLIMITED, -np.inf, x))


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    pos = cn.position()
    base = cn.base_mva
    out = []
    sel = net.gen.in_service.to_numpy(bool) & net.gen.bus.isin(pos).to_numpy() if len(net.gen) else None
    g = net.gen[sel] if sel is not None else net.gen
    if len(g):
        def series(column: str) -> np.ndarray:
            v = values(net, "gen", column, periods)[sel] if periods is not None else g[column].to_numpy(float)
            return v

        cost, ms = defaults_for(g.kind.to_numpy(), g.q_cost.to_numpy(float), g.response_ms.to_numpy(float))
        out.append(DeviceSet(
            kind="generator", table="gen", index=g.index.to_numpy(), bus=np.array([pos[b] for b in g.bus]),
            subtype=g.kind.to_numpy(), q0=np.zeros(len(g)),
            q_min=_lim(g.q_min_mvar.to_numpy(float)) / base, q_max=_lim(g.q_max_mvar.to_numpy(float)) / base,
            cost=cost, response_ms=ms, base_mva=base, p=series("p_mw") / base,
            p_min=_lim(series("p_min_mw")) / base, p_max=_lim(series("p_max_mw")) / base,
            p_free=g.slack.to_numpy(bool),
            extra={"vm_set": g.vm_pu.to_numpy(float), "cost_c": g[["cost_c2", "cost_c1", "cost_c0"]].to_numpy(float),
                   "ramp": g.ramp_mw_per_h.to_numpy(float) / base},
        ))
    e = net.ext_grid[net.ext_grid.in_service & net.ext_grid.bus.isin(pos)] if len(net.ext_grid) else net.ext_grid
    if len(e):
        n = len(e)
        out.append(DeviceSet(
            kind="ext_grid", table="ext_grid", index=e.index.to_numpy(), bus=np.array([pos[b] for b in e.bus]),
            subtype=np.array(["ext_grid"] * n, dtype=object), q0=np.zeros(n), q_min=np.full(n, -np.inf),
            q_max=np.full(n, np.inf), cost=np.zeros(n), response_ms=np.full(n, np.inf), base_mva=base,
            p=np.zeros(n), p_min=np.full(n, -np.inf), p_max=np.full(n, np.inf), p_free=np.ones(n, bool),
            extra={"vm_set": e.vm_pu.to_numpy(float)},
        ))
    return out


def build_generator(b: Any, form: Any, ds: DeviceSet, prefix: str, opts: DeviceOptions) -> DeviceVars:
    """Machine variables, limits, ramps and costs (see the module docstring)."""
    tag = f"{prefix}.{ds.table}"
    n, T = len(ds), form.T
    free = (ds.p_free | opts.free_p).reshape(-1, 1)
    p_set, p_min, p_max = columns(ds.p, T), columns(ds.p_min, T), columns(ds.p_max, T)
    lb = np.where(free, p_min, p_set)
    ub = np.where(free, p_max, p_set)
    q = None
    if form.reactive:
        q = b.variable(f"{tag}_q", form.shape(n), ds.q_min, ds.q_max, np.clip(ds.q0, ds.q_min, ds.q_max))
    p = b.variable(f"{tag}_p", form.shape(n), lb, ub, np.clip(p_set, lb, ub))
    costs: dict[str, Any] = {}
    if ds.kind == "generator":
        if form.periods is not None:
            ramp = ds.extra["ramp"] * opts.dt_h
            ramp_limits(b, f"{tag}_ramp", p, np.where(free.ravel(), ramp, np.inf))
        c = ds.extra["cost_c"]
        base = ds.base_mva
        if np.any(c != 0):
            o = b.ops
            cost = float(c[:, 2].sum()) * T
            quad, lin = np.flatnonzero(c[:, 0]), np.flatnonzero(c[:, 1])
            if len(quad):  # only where a machine has one, so that a linear cost stays an LP/MILP
                cost = cost + o.sum(o.rows(c[quad, 0] * base**2, o.square(o.take(p, quad))))
            if len(lin):
                cost = cost + o.sum(o.rows(c[lin, 1] * base, o.take(p, lin)))
            costs["gen_cost"] = cost
        qc = q_cost(b, ds, q)
        if qc is not None:
            costs["q_cost"] = qc
    nb = form.cn.n_bus
    return DeviceVars(ds, q, p, injection(b, ds, nb, p), injection(b, ds, nb, q) if q is not None else None,
                      costs=costs)


__all__ = ["UNLIMITED", "build_generator", "device_sets"]
