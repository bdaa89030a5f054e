"""On-load tap changers: transformers whose turns ratio is a decision.

A transformer row is an OLTC when ``tap_min_pu``, ``tap_max_pu`` and
``tap_step_pu`` are all given. Its ratio is ``1 + tap_step_pu * n`` with the
tap position ``n`` between ``(tap_min_pu - 1) / step`` and
``(tap_max_pu - 1) / step`` (e.g. ``1 + 1.25 % n``, n in -8..8); the
position before the horizon is the row's ``tap_pu``.

What a tap changer contributes, per formulation:

=============== ======================================================= ==================
where           variables and constraints                               objective terms
=============== ======================================================= ==================
acp (NLP)       ``tap_pos`` n per period, continuous (the relaxation)    ``tap_cost``:
                or integer (bonmin); the branch's ratio becomes          ``tap_cost`` per
                ``1 + step n`` (:meth:`AcpFormulation.                    step moved
                expression_branch_ratio`); ``|n_t - n_{t-1}| <=
                max_tap_change`` (the first period against ``tap_pu``;
                both parameters ``trafo_tap_pos0`` and
                ``trafo_tap_change.limit`` of the model)
other           the ratio stays at ``tap_pu`` (a fixed transformer)     -
=============== ======================================================= ==================

Fixing a position (discrete search, or the fast time scale) is done with
the block's bounds, ``b.set_bounds(f"{prefix}.trafo_tap_pos", n, n)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, moves, step_change_limits
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network


def is_oltc(trafo: Any) -> np.ndarray:
    """Rows of a trafo table that are tap changers (limits and step all given)."""
    return (trafo.tap_min_pu.notna() & trafo.tap_max_pu.notna() & trafo.tap_step_pu.notna()
            & (trafo.tap_step_pu > 0)).to_numpy(bool)


def positions(tap_pu: np.ndarray, step_pu: np.ndarray) -> np.ndarray:
    """Tap positions ``(tap - 1) / step`` of ratios."""
    return (np.asarray(tap_pu, float) - 1.0) / np.asarray(step_pu, float)


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    tr = net.trafo
    if not len(tr):
        return []
    pos = cn.position()
    sel = is_oltc(tr) & tr.in_service.to_numpy(bool) & tr.from_bus.isin(pos).to_numpy() & tr.to_bus.isin(pos).to_numpy()
    t = tr[sel]
    if not len(t):
        return []
    n = len(t)
    rows = {int(i): k for k, i in enumerate(cn.br_index) if cn.br_table[k] == "trafo"}
    step = t.tap_step_pu.to_numpy(float)
    n_min = np.ceil(positions(t.tap_min_pu.to_numpy(float), step) - 1e-9)
    n_max = np.floor(positions(t.tap_max_pu.to_numpy(float), step) + 1e-9)
    zeros = np.zeros(n)
    return [DeviceSet(
        kind="oltc", table="trafo", index=t.index.to_numpy(), bus=np.array([pos[b] for b in t.from_bus]),
        subtype=np.array(["oltc"] * n, dtype=object), q0=zeros, q_min=zeros, q_max=zeros, cost=zeros,
        response_ms=np.full(n, 5000.0), base_mva=cn.base_mva, p=zeros,
        extra={"row": np.array([rows[int(i)] for i in t.index]), "step": step, "n_min": n_min, "n_max": n_max,
               "n0": positions(t.tap_pu.to_numpy(float), step), "max_change": t.max_tap_change.to_numpy(float),
               "tap_cost": t.tap_cost.to_numpy(float)},
    )]


def build_oltc(b: Any, form: Any, ds: DeviceSet, prefix: str, opts: DeviceOptions) -> DeviceVars:
    """The tap positions, their limits and costs (see the module docstring)."""
    x = ds.extra
    if not hasattr(form, "expression_branch_ratio"):
        return DeviceVars(ds, None, None, None, None)
    kind = "integer" if opts.steps == "integer" else "continuous"
    n0 = np.clip(x["n0"], x["n_min"], x["n_max"])
    tap = b.variable(f"{prefix}.trafo_tap_pos", form.shape(len(ds)), x["n_min"], x["n_max"], n0, kind=kind)
    form.expression_branch_ratio(x["row"], 1.0 + b.ops.rows(x["step"], tap))
    n_start = b.parameter(f"{prefix}.trafo_tap_pos0", x["n0"])  # positions before the horizon (re-solves reset it)
    step_change_limits(b, f"{prefix}.trafo_tap_change", tap, n_start, x["max_change"], parametric=True)
    other: dict[str, Any] = {"tap_pos": tap}
    costs: dict[str, Any] = {}
    if np.any(x["tap_cost"] > 0):
        _, m = moves(b, f"{prefix}.trafo_tap", tap, n_start)
        other["tap_moves"] = m
        costs["tap_cost"] = b.ops.sum(b.ops.rows(x["tap_cost"], m))
    return DeviceVars(ds, None, None, None, None, other=other, costs=costs)


__all__ = ["build_oltc", "device_sets", "is_oltc", "positions"]
