"""Voltage-stability margins at key nodes inside the optimization.

Margins have no closed form, so each key node's margin is linearized at the
current operating point:

    vsm_k(u) ~ vsm_k(u0) + sum_j dq_kj (q_j - q0_j) + sum_j dv_kj (V_j - V0_j)

where ``vsm_k(u0)`` comes from the continuation power flow and the
gradients from :mod:`tdcoord.stability.sensitivity`; q_j is the reactive
injection of the controllable inverters, SVCs and capacitor banks at bus j
(machines are voltage-controlled: their effect enters through V_j at
set-point buses). In the NLP the linearization is built from parameters,
so a new linearization needs no rebuild. Two uses, both on by default:

- hard constraint ``vsm_lin_k >= threshold`` (0.15);
- the penalty ``Phi_VSM = sum_k exp(kappa s_k) - 1 - kappa s_k`` with
  ``s_k = max(0, threshold - vsm_lin_k)`` (kappa = 20): zero above the
  threshold, exponential below it, with a continuous first derivative,
  weighted by ``delta``.

:func:`tdcoord.coordination.vsm_loop.solve_with_vsm` iterates: optimize,
re-check the point by power flow, recompute margins and gradients by CPF,
re-linearize, until every key node's CPF-checked margin meets the threshold
(within ``tol``) and the margins stop moving.

Key nodes (default screening, :func:`screen_key_nodes`): the three
transmission buses with the lowest margins and the lowest-margin bus of
each feeder (at most three feeder buses in all), at the base operating point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import casadi as ca
import numpy as np
import pandas as pd

THRESHOLD = 0.15
KAPPA = 20.0


@dataclass
class VsmSettings:
    threshold: float = THRESHOLD
    key_nodes: list[str] | None = None
    n_transmission: int = 3
    n_feeder: int = 3
    hard: bool = True
    penalty: bool = True
    kappa: float = KAPPA
    max_outer: int = 8
    tol: float = 1e-3  # on vsm, p.u.
    enforce_q_lims: bool = True


@dataclass
class Linearization:
    """Affine model of the key nodes' margins around an operating point."""

    nodes: list[str]
    margin: np.ndarray  # vsm_pu at the point (CPF)
    node_base: np.ndarray  # MVA base of each node's vsm
    labels: np.ndarray  # merged bus labels, order of the columns below
    dq: np.ndarray  # K x n: d vsm / d q (q in p.u. on the system base)
    dv: np.ndarray  # K x n: d vsm / d V (set-point buses)
    q0: np.ndarray  # n: controllable reactive injection at the point (p.u., system base)
    v0: np.ndarray  # n: voltage magnitudes at the point
    system_base: float
    margins_mvar: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def inactive(cls, nodes: list[str], labels: np.ndarray, base: float) -> "Linearization":
        k, n = len(nodes), len(labels)
        return cls(nodes, np.full(k, 10.0), np.full(k, base), labels, np.zeros((k, n)), np.zeros((k, n)),
                   np.zeros(n), np.ones(n), base)


def screen_key_nodes(margins: pd.DataFrame, settings: VsmSettings) -> list[str]:
    """Default key nodes: lowest-margin buses (see module docstring)."""
    m = margins[np.isfinite(margins.vsm_pu)]
    t = m[m.network == "T"].sort_values("vsm_pu").head(settings.n_transmission)
    f = m[m.network != "T"].sort_values("vsm_pu")
    per_feeder = f.groupby("network", sort=False).head(1).sort_values("vsm_pu").head(settings.n_feeder)
    return list(t.index) + list(per_feeder.index)


# ------------------------------------------------------------- in the NLP
def constraint_vsm(problem: Any, nodes: list[str], settings: VsmSettings) -> None:
    """Parameters, constraint and penalty of the key nodes held by ``problem``.

    A key node is held by the problem that holds its area (transmission
    buses by the T area, feeder buses by their feeder); controls of areas
    the problem does not hold enter the constant term.
    """
    b = problem.b
    own = []
    area_names = {a.name for a in problem.areas}
    for k, node in enumerate(nodes):
        area = node.split(":", 1)[0] if ":" in node else "T"
        if area in area_names:
            own.append(k)
    problem.vsm = {"nodes": nodes, "own": own, "settings": settings, "exprs": {}}
    if not own:
        return
    terms = []
    for k in own:
        expr = b.parameter(f"vsm.c{k}", 10.0)
        for a in problem.areas:
            q_bus, vm = _area_controls(a)
            n = a.cn.n_bus
            gq = b.parameter(f"vsm.gq{k}.{a.name}", np.zeros(n))
            gv = b.parameter(f"vsm.gv{k}.{a.name}", np.zeros(n))
            expr = expr + ca.dot(gq, q_bus) + ca.dot(gv, vm)
        problem.vsm["exprs"][k] = expr
        terms.append(expr)
    lin = ca.vertcat(*terms)
    if settings.hard:
        b.constraint_ineq("vsm.min", lin, settings.threshold, np.inf)
    if settings.penalty:
        s = ca.fmax(0, settings.threshold - lin)
        phi = ca.sum1(ca.exp(settings.kappa * s) - 1 - settings.kappa * s)
        if "w.delta" not in b.params:
            b.parameter("w.delta", 1.0)
        b.objective_term("vsm.penalty", phi, "w.delta")


def _area_controls(area: Any) -> tuple[Any, Any]:
    """Controllable reactive injection per bus (p.u. on the system base) and bus voltages."""
    n = area.cn.n_bus
    q = ca.MX.zeros(n, 1)
    scale = area.base_mva / area.t_base_mva
    for dv in area.devices:
        if dv.ds.kind in ("inverter", "svc", "capacitor") and dv.q_bus is not None:
            q = q + dv.q_bus * scale
    return q, area.vm


def set_linearization(problem: Any, lin: Linearization, absent_values: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """Load a linearization into ``problem``'s parameters.

    ``absent_values``: for areas not in this problem, their current
    (q per bus, V per bus) in the order of ``lin.labels`` restricted to the
    area (used by ADMM subproblems).
    """
    info = getattr(problem, "vsm", None)
    if not info or not info["own"]:
        return
    b = problem.b
    pos = {lab: i for i, lab in enumerate(lin.labels)}
    present = {a.name for a in problem.areas}
    for k in info["own"]:
        c = lin.margin[k] - lin.dq[k] @ lin.q0 - lin.dv[k] @ lin.v0
        covered = np.zeros(len(lin.labels), bool)
        for a in problem.areas:
            cols = np.array([pos.get(lab, -1) for lab in a.bus_labels])
            ok = cols >= 0
            gq = np.zeros(a.cn.n_bus)
            gv = np.zeros(a.cn.n_bus)
            # a feeder area's HV bus is a copy of a transmission bus: its voltage is not a control there
            hv = np.array([":" not in lab for lab in a.bus_labels]) if a.kind == "feeder" else np.zeros(a.cn.n_bus, bool)
            sel = ok & ~hv
            gq[sel] = lin.dq[k, cols[sel]]
            gv[sel] = lin.dv[k, cols[sel]]
            covered[cols[sel]] = True
            b.set_parameter(f"vsm.gq{k}.{a.name}", gq)
            b.set_parameter(f"vsm.gv{k}.{a.name}", gv)
        if absent_values:
            for name, (q_abs, v_abs) in absent_values.items():
                if name in present:
                    continue
                c += lin.dq[k] @ q_abs + lin.dv[k] @ v_abs
        else:
            # areas outside this problem stay at the linearization point
            c += lin.dq[k, ~covered] @ lin.q0[~covered] + lin.dv[k, ~covered] @ lin.v0[~covered]
        b.set_parameter(f"vsm.c{k}", c)
