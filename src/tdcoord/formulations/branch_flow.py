"""Branch-flow (DistFlow) model of a radial network, exact (NLP) or SOC-relaxed.

Every branch k is oriented from its parent bus p to its child bus c (breadth
first from the root). Variables: bus voltage magnitudes ``vm``; the power
``P_k + jQ_k`` entering the series impedance from the parent side; the
squared current ``l_k`` through it. For a transformer with ratio t at its
from side, the series element sees ``u = vm_p^2 / t^2`` when the tap is on
the parent side, and the child's ``vm_c^2 = t^2 w`` when it is on the child
side. With ``z^2 = r^2 + x^2``:

    w_k = u_k - 2 (r_k P_k + x_k Q_k) + z_k^2 l_k          (voltage drop)
    l_k u_k = P_k^2 + Q_k^2       (exact)   or  >=  (SOC relaxation)
    P_k - r_k l_k + p_dev(c) - g_sh(c) vm_c^2 = sum of P of c's child branches

The pi-model shunts (line charging, transformer magnetizing) are lumped at
the buses, the from-end half through the ratio (1/t^2), exactly as in the
bus-injection model. Phase shifts do not change magnitudes in a radial
network and drop out. The root's injection ``p_root + j q_root`` is what the
network draws from its source (the boundary power of a feeder).

The relaxed model writes ``P^2 + Q^2 - l u <= 0`` (a rotated second-order
cone in (l, u) for fixed u); its exactness gap ``l u - P^2 - Q^2`` is
reported after a solve by :func:`soc_gap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import casadi as ca
import numpy as np
import scipy.sparse as sp

from tdcoord.backends.casadi_nlp import NlpBuilder, sparse_dm
from tdcoord.errors import TopologyError
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


def orient(cn: CompiledNetwork, root: int | None = None) -> RadialOrientation:
    nb = cn.n_bus
    if root is None:
        ref = np.flatnonzero(cn.bus_type == REF)
        if len(ref) != 1:
            raise TopologyError(f"network {cn.name!r}: a branch-flow model needs exactly one root (slack) bus, found {len(ref)}")
        root = int(ref[0])
    k = first_loop_branch(nb, cn.f, cn.t)
    if k is not None or cn.n_branch != nb - 1:
        raise TopologyError(f"network {cn.name!r} is not a connected tree; the branch-flow model needs a radial network")
    _, parent = tree_order(nb, cn.f, cn.t, root)
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
    )


@dataclass
class BranchFlowModel:
    prefix: str
    cn: CompiledNetwork
    o: RadialOrientation
    vm: Any
    p: Any
    q: Any
    l: Any
    p_root: Any
    q_root: Any
    relaxed: bool

    @property
    def loss_pu(self) -> Any:
        """Series and shunt-conductance losses, p.u."""
        return ca.dot(self.o.r, self.l) + ca.dot(self.o.gsh, self.vm**2)


def build_branch_flow(b: NlpBuilder, cn: CompiledNetwork, prefix: str, p_dev: Any, q_dev: Any, *,
                      relaxed: bool = False, root: int | None = None, vm0: np.ndarray | None = None,
                      vm_min: np.ndarray | None = None, vm_max: np.ndarray | None = None,
                      start: dict | None = None, vm: Any = None) -> BranchFlowModel:
    """Variables and constraints of the branch-flow model.

    ``p_dev``/``q_dev`` are the device injections at every bus (p.u.,
    expressions or numbers); the root bus's balance defines ``p_root`` and
    ``q_root`` instead of being a constraint. ``vm`` may be an existing
    voltage block (when devices were declared on it first).
    """
    o = orient(cn, root)
    nb, nl = cn.n_bus, cn.n_branch
    vm_min = cn.vm_min if vm_min is None else vm_min
    vm_max = cn.vm_max if vm_max is None else vm_max
    start = start or {}
    vm0 = np.clip(np.ones(nb) if vm0 is None else vm0, vm_min, vm_max)
    if vm is None:
        vm = b.var(f"{prefix}.vm", nb, vm_min, vm_max, start.get("vm", vm0))
    p = b.var(f"{prefix}.p", nl, -np.inf, np.inf, start.get("p", 0.0))
    q = b.var(f"{prefix}.q", nl, -np.inf, np.inf, start.get("q", 0.0))
    l = b.var(f"{prefix}.l", nl, 0.0, np.inf, start.get("l", 0.0))
    sel_p = sparse_dm(sp.csr_matrix((np.ones(nl), (np.arange(nl), o.parent)), shape=(nl, nb)))
    sel_c = sparse_dm(sp.csr_matrix((np.ones(nl), (np.arange(nl), o.child)), shape=(nl, nb)))
    vmp2 = ca.mtimes(sel_p, vm) ** 2
    vmc2 = ca.mtimes(sel_c, vm) ** 2
    u = vmp2 * np.where(o.tap_at_parent, 1.0 / o.t2, 1.0)
    w = vmc2 * np.where(o.tap_at_parent, 1.0, 1.0 / o.t2)
    z2 = o.r**2 + o.x**2
    b.eq(f"{prefix}.drop", w - (u - 2 * (o.r * p + o.x * q) + z2 * l))
    cone = p**2 + q**2 - l * u
    if relaxed:
        b.ineq(f"{prefix}.cone", cone, -np.inf, 0.0)
    else:
        b.eq(f"{prefix}.cone", cone)
    ac, ap = sparse_dm(o.a_child), sparse_dm(o.a_parent)
    bal_p = ca.mtimes(ac, p - o.r * l) + p_dev - o.gsh * vm**2 - ca.mtimes(ap, p)
    bal_q = ca.mtimes(ac, q - o.x * l) + q_dev + o.bsh * vm**2 - ca.mtimes(ap, q)
    keep = np.delete(np.arange(nb), o.root)
    sel = sparse_dm(sp.csr_matrix((np.ones(nb - 1), (np.arange(nb - 1), keep)), shape=(nb - 1, nb)))
    b.eq(f"{prefix}.p_balance", ca.mtimes(sel, bal_p))
    b.eq(f"{prefix}.q_balance", ca.mtimes(sel, bal_q))
    p_root = -bal_p[o.root]
    q_root = -bal_q[o.root]
    return BranchFlowModel(prefix, cn, o, vm, p, q, l, p_root, q_root, relaxed)


def soc_gap(o: RadialOrientation, vm: np.ndarray, p: np.ndarray, q: np.ndarray, l: np.ndarray) -> dict[str, float]:
    """How far a (relaxed) solution is from the exact branch-flow equations."""
    u = vm[o.parent] ** 2 * np.where(o.tap_at_parent, 1.0 / o.t2, 1.0)
    gap = l * u - (p**2 + q**2)
    rel = gap / np.maximum(l * u, 1e-12)
    return {"max_abs_pu2": float(np.max(np.abs(gap))) if len(gap) else 0.0,
            "max_rel": float(np.max(np.abs(rel))) if len(rel) else 0.0,
            "loss_excess_pu": float(np.sum(o.r * (l - (p**2 + q**2) / u)))}
