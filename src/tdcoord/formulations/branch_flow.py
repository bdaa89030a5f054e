"""Branch-flow (DistFlow) model of a radial network, exact (NLP).

Every branch k is oriented from its parent bus p to its child bus c (breadth
first from the root). Variables: squared bus voltage magnitudes ``w``; the
power ``P_k + jQ_k`` entering the series impedance from the parent side;
the squared current ``l_k`` through it. For a transformer with ratio t at its
from side, the series element sees ``u = w_p / t^2`` when the tap is on the
parent side, and the child's ``w_c = t^2 w`` when it is on the child side.
With ``z^2 = r^2 + x^2``:

    w_k = u_k - 2 (r_k P_k + x_k Q_k) + z_k^2 l_k          (voltage drop)
    l_k u_k = P_k^2 + Q_k^2                                 (current)
    P_k - r_k l_k + p_dev(c) - g_sh(c) w_c = sum of P of c's child branches

The pi-model shunts (line charging, transformer magnetizing) are lumped at
the buses, the from-end half through the ratio (1/t^2), exactly as in the
bus-injection model. Phase shifts do not change magnitudes in a radial
network and drop out. The root's injection ``p_root + j q_root`` is what the
network draws from its source (the boundary power of a feeder).

This module holds what the three radial formulations share (orientation,
drop, balance, values); :mod:`tdcoord.formulations.soc_bf` relaxes the
current equation to the cone ``P^2 + Q^2 <= l u`` and
:mod:`tdcoord.formulations.lindistflow` drops the losses. Working in ``w``
keeps the drop and the balance linear in every one of them; the voltage
magnitude, where a term needs it, is ``sqrt(w)``, and the voltage
deviation ``(V - V_ref)^2 = w - 2 V_ref sqrt(w) + V_ref^2`` is convex in w.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from tdcoord.errors import TopologyError
from tdcoord.formulations.base import Formulation
from tdcoord.network.compiled import REF, CompiledNetwork
from tdcoord.network.topology import first_loop_branch, tree_order


@dataclass
class RadialOrientation:
    root: int
    parent: np.ndarray  # parent bus of each branch
    child: np.ndarray
    tap_at_parent: np.ndarray  # bool
    r: np.ndarray
    x: np.ndarray
    t2: np.ndarray  # squared tap ratio
    gsh: np.ndarray  # bus shunt conductance incl. lumped branch shunts (p.u. at 1 p.u.)
    bsh: np.ndarray
    a_child: sp.csr_matrix  # bus x branch, 1 at the child bus
    a_parent: sp.csr_matrix  # bus x branch, 1 at the parent bus
    order: np.ndarray | None = None  # buses from the root outwards (each after its parent)

    @property
    def u_factor(self) -> np.ndarray:
        """u = factor * w_parent."""
        return np.where(self.tap_at_parent, 1.0 / self.t2, 1.0)

    @property
    def w_factor(self) -> np.ndarray:
        """w (child side of the series element) = factor * w_child."""
        return np.where(self.tap_at_parent, 1.0, 1.0 / self.t2)


def orient(cn: CompiledNetwork, root: int | None = None) -> RadialOrientation:
    """The tree of a radial network from its root (the slack bus unless given); kept with ``cn``."""
    key = ("orient", root)
    if key not in cn._cache:
        cn._cache[key] = _orient(cn, root)
    return cn._cache[key]


def _orient(cn: CompiledNetwork, root: int | None) -> RadialOrientation:
    nb = cn.n_bus
    if root is None:
        ref = np.flatnonzero(cn.bus_type == REF)
        if len(ref) != 1:
            raise TopologyError(f"network {cn.name!r}: a branch-flow model needs exactly one root (slack) bus, found {len(ref)}")
        root = int(ref[0])
    k = first_loop_branch(nb, cn.f, cn.t)
    if k is not None or cn.n_branch != nb - 1:
        raise TopologyError(f"network {cn.name!r} is not a connected tree; the branch-flow model needs a radial network")
    order, parent = tree_order(nb, cn.f, cn.t, root)
    from_is_parent = parent[cn.t] == cn.f
    par = np.where(from_is_parent, cn.f, cn.t)
    chi = np.where(from_is_parent, cn.t, cn.f)
    ysh = cn.g_sh + 1j * cn.b_sh
    gsh, bsh = cn.gs.copy(), cn.bs.copy()
    np.add.at(gsh, cn.f, (ysh / (2 * cn.tap**2)).real)
    np.add.at(bsh, cn.f, (ysh / (2 * cn.tap**2)).imag)
    np.add.at(gsh, cn.t, (ysh / 2).real)
    np.add.at(bsh, cn.t, (ysh / 2).imag)
    nl = cn.n_branch
    cols = np.arange(nl)
    return RadialOrientation(
        root=root, parent=par, child=chi, tap_at_parent=from_is_parent, r=cn.r, x=cn.x, t2=cn.tap**2,
        gsh=gsh, bsh=bsh,
        a_child=sp.csr_matrix((np.ones(nl), (chi, cols)), shape=(nb, nl)),
        a_parent=sp.csr_matrix((np.ones(nl), (par, cols)), shape=(nb, nl)),
        order=order,
    )


class BranchFlowFormulation(Formulation):
    """Exact branch flow: the current equation ``l u = P^2 + Q^2`` as an equality (NLP)."""

    name = "branch_flow"
    family = "ac"
    backends = ("nlp",)
    radial = True
    description = "branch flow (DistFlow), exact (nonconvex NLP); radial networks"
    has_current = True

    def __init__(self, b: Any, cn: Any, prefix: str, **kw: Any) -> None:
        super().__init__(b, cn, prefix, **kw)
        self.o = orient(cn, self.root)
        self.variable_voltage()
        self.variable_branch_flow()
        self.constraint_voltage_drop()
        self.constraint_current()

    # ------------------------------------------------------------- variables
    def variable_voltage(self) -> None:
        """The exact model's voltages are magnitudes ``vm`` (``w = vm^2``): an NLP anyway."""
        self.vm_var = self.b.variable(f"{self.prefix}.vm", self.shape(self.cn.n_bus), self.vm_min, self.vm_max,
                                      self.voltage_start())
        self.w = self.vm_var**2

    def fix_voltage(self, bus: int, vm: float) -> None:
        """Hold one bus's voltage magnitude (e.g. the root, when the other side of a boundary gives it)."""
        name, value = (f"{self.prefix}.vm", vm) if self.vm_var is not None else (f"{self.prefix}.w", vm**2)
        blk = self.b.blocks[name]
        lb, ub = blk.lb.copy(), blk.ub.copy()
        lb[bus, :] = ub[bus, :] = value
        self.b.set_bounds(name, lb, ub)

    def variable_branch_flow(self) -> None:
        nl = self.cn.n_branch
        s = self.shape(nl)
        self.p = self.b.variable(f"{self.prefix}.p", s, -np.inf, np.inf, self.start_of("p", 0.0))
        self.q = self.b.variable(f"{self.prefix}.q", s, -np.inf, np.inf, self.start_of("q", 0.0))
        self.l = self.b.variable(f"{self.prefix}.l", s, 0.0, np.inf, self.start_of("l", 0.0)) if self.has_current else None

    # ----------------------------------------------------------- constraints
    def _selectors(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        o, nl, nb = self.o, self.cn.n_branch, self.cn.n_bus
        rows = np.arange(nl)
        sel_p = sp.csr_matrix((o.u_factor, (rows, o.parent)), shape=(nl, nb))
        sel_c = sp.csr_matrix((o.w_factor, (rows, o.child)), shape=(nl, nb))
        return sel_p, sel_c

    def constraint_voltage_drop(self) -> None:
        ops, o = self.ops, self.o
        sel_p, sel_c = self._selectors()
        self.u = ops.mm(sel_p, self.w)
        w_c = ops.mm(sel_c, self.w)
        drop = ops.rows(2 * o.r, self.p) + ops.rows(2 * o.x, self.q)
        if self.l is not None:
            drop = drop - ops.rows(o.r**2 + o.x**2, self.l)
        self.b.constraint_eq(f"{self.prefix}.drop", w_c - (self.u - drop))

    def constraint_current(self) -> None:
        """``l u = P^2 + Q^2`` (exact)."""
        self.b.constraint_eq(f"{self.prefix}.cone", self.p**2 + self.q**2 - self.l * self.u)

    def series_losses(self) -> tuple[Any, Any]:
        """Active and reactive series losses of each branch (expressions)."""
        ops, o = self.ops, self.o
        return ops.rows(o.r, self.l), ops.rows(o.x, self.l)

    def constraint_power_balance(self, p_dev: Any, q_dev: Any) -> None:
        """Balance at every bus but the root; the root's defines ``p_root``/``q_root``."""
        ops, o, cn = self.ops, self.o, self.cn
        lp, lq = self.series_losses()
        bal_p = ops.mm(o.a_child, self.p - lp) + p_dev - ops.rows(o.gsh, self.w) - ops.mm(o.a_parent, self.p)
        bal_q = ops.mm(o.a_child, self.q - lq) + q_dev + ops.rows(o.bsh, self.w) - ops.mm(o.a_parent, self.q)
        keep = np.delete(np.arange(cn.n_bus), o.root)
        sel = sp.csr_matrix((np.ones(len(keep)), (np.arange(len(keep)), keep)), shape=(len(keep), cn.n_bus))
        self.b.constraint_eq(f"{self.prefix}.p_balance", ops.mm(sel, bal_p))
        self.b.constraint_eq(f"{self.prefix}.q_balance", ops.mm(sel, bal_q))
        self.p_root = -ops.take(bal_p, [o.root])
        self.q_root = -ops.take(bal_q, [o.root])

    def constraint_thermal_limits(self, limit: str = "mva") -> None:
        """|S| <= rating on the parent side of every rated branch (as a cone: convex)."""
        cn = self.cn
        rated = np.flatnonzero(np.isfinite(cn.rate))
        if not len(rated) or limit == "none":
            return
        ops = self.ops
        r = self.columns(cn.rate[rated])
        self.b.constraint_cone(f"{self.prefix}.s_parent", [ops.take(self.p, rated), ops.take(self.q, rated)], r, r)

    # ----------------------------------------------------------- expressions
    def vm(self) -> Any:
        return self.vm_var

    def vm_sq(self) -> Any:
        return self.w

    def objective_losses(self) -> Any:
        """Series and shunt-conductance losses, p.u. (summed over periods)."""
        ops, o = self.ops, self.o
        lp, _ = self.series_losses()
        return ops.sum(lp) + ops.sum(ops.rows(o.gsh, self.w))

    def objective_voltage_deviation(self, vm_ref: float, buses: np.ndarray | None = None) -> Any:
        """sum of (V - vm_ref)^2."""
        ops = self.ops
        vm = self.vm_var if buses is None else ops.take(self.vm_var, buses)
        return ops.sumsq(vm - vm_ref) if (self.cn.n_bus if buses is None else len(buses)) else 0.0

    # ----------------------------------------------------------------- values
    def _values(self, sol: Any, key: str, n: int) -> np.ndarray:
        return np.asarray(sol.x[f"{self.prefix}.{key}"], float).reshape(n, -1)

    def squared_voltages(self, sol: Any) -> np.ndarray:
        return self._values(sol, "vm", self.cn.n_bus) ** 2

    def bus_values(self, sol: Any) -> tuple[np.ndarray, np.ndarray]:
        """(vm, va): angles recovered along the tree from the branch flows (radial: exact)."""
        return radial_bus_values(self, sol)

    def branch_values(self, sol: Any) -> dict[str, np.ndarray]:
        return radial_branch_values(self, sol)


class SquaredVoltageMixin:
    """Voltages as squared magnitudes ``w`` (the convex formulations: the drop and balance stay linear)."""

    def variable_voltage(self) -> None:
        vm0 = self.voltage_start()
        self.w = self.b.variable(f"{self.prefix}.w", self.shape(self.cn.n_bus), self.vm_min**2, self.vm_max**2,
                                 vm0**2)
        self.vm_var = None

    def vm(self) -> Any:
        return self.ops.sqrt(self.w)

    def squared_voltages(self, sol: Any) -> np.ndarray:
        return self._values(sol, "w", self.cn.n_bus)

    def objective_voltage_deviation(self, vm_ref: float, buses: np.ndarray | None = None) -> Any:
        """sum of (V - vm_ref)^2 = w - 2 vm_ref sqrt(w) + vm_ref^2 (convex in w)."""
        ops = self.ops
        w = self.w if buses is None else ops.take(self.w, buses)
        n = (self.cn.n_bus if buses is None else len(buses)) * self.T
        if n == 0:
            return 0.0
        return ops.sum(w) - 2 * vm_ref * ops.sum(ops.sqrt(w)) + n * vm_ref**2


def radial_bus_values(form: Any, sol: Any) -> tuple[np.ndarray, np.ndarray]:
    """(vm, va) of a radial formulation: angles recovered along the tree from the branch flows (exact)."""
    cn, o = form.cn, form.o
    vm = np.sqrt(np.maximum(form.squared_voltages(sol), 0.0))
    p, q = form._values(sol, "p", cn.n_branch), form._values(sol, "q", cn.n_branch)
    va = np.zeros_like(vm)
    order = o.order if o.order is not None else tree_order(cn.n_bus, cn.f, cn.t, o.root)[0]
    ref, angle = form.reference_angles()
    va[o.root] = angle[0] if len(ref) and ref[0] == o.root else 0.0
    by_child = {int(c): k for k, c in enumerate(o.child)}
    for bus in order:
        k = by_child.get(int(bus))
        if k is None:
            continue
        par = o.parent[k]
        # voltage behind the series element on the parent side: V_u = V_p / t (tap at parent), at angle 0
        vu = vm[par] * np.sqrt(o.u_factor[k])
        current = (p[k] - 1j * q[k]) / np.maximum(vu, 1e-12)  # I = conj(S / V_u)
        drop = (o.r[k] + 1j * o.x[k]) * current
        shift = cn.shift[k] if cn.f[k] == par else -cn.shift[k]
        va[bus] = va[par] + np.angle(vu - drop) - shift
    return vm, va


def radial_branch_values(form: Any, sol: Any) -> dict[str, np.ndarray]:
    """Terminal flows of the pi model (into the branch at each end), from a radial formulation's variables."""
    cn, o = form.cn, form.o
    w = form.squared_voltages(sol)
    p, q = form._values(sol, "p", cn.n_branch), form._values(sol, "q", cn.n_branch)
    lv = form._values(sol, "l", cn.n_branch) if form.l is not None else np.zeros_like(p)
    tp = o.tap_at_parent[:, None]
    gh, bh = (cn.g_sh / 2)[:, None], (cn.b_sh / 2)[:, None]
    t2 = (cn.tap**2)[:, None]
    # series-element flows at the parent (in) and child (out) sides
    p_chi, q_chi = -(p - o.r[:, None] * lv), -(q - o.x[:, None] * lv)
    pf, qf = np.where(tp, p, p_chi), np.where(tp, q, q_chi)
    pt, qt = np.where(tp, p_chi, p), np.where(tp, q_chi, q)
    wf, wt = w[cn.f], w[cn.t]
    return {"pf": pf + gh * wf / t2, "qf": qf - bh * wf / t2, "pt": pt + gh * wt, "qt": qt - bh * wt}


def soc_gap(o: RadialOrientation, w: np.ndarray, p: np.ndarray, q: np.ndarray, l: np.ndarray) -> dict[str, float]:
    """How far a (relaxed) solution is from the exact branch-flow equations (``w`` squared voltages)."""
    u = np.asarray(w)[o.parent] * (o.u_factor if np.ndim(w) == 1 else o.u_factor[:, None])
    gap = l * u - (p**2 + q**2)
    rel = gap / np.maximum(l * u, 1e-12)
    return {"max_abs_pu2": float(np.max(np.abs(gap))) if gap.size else 0.0,
            "max_rel": float(np.max(np.abs(rel))) if rel.size else 0.0,
            "loss_excess_pu": float(np.sum((o.r if np.ndim(w) == 1 else o.r[:, None])
                                           * (l - (p**2 + q**2) / np.maximum(u, 1e-12))))}


__all__ = ["BranchFlowFormulation", "RadialOrientation", "orient", "soc_gap"]
