"""Backward/forward sweep power flow for radial networks.

Every branch is the same two-port as in Newton (pi model with an off-nominal
complex ratio), written between its parent-side and child-side buses. With
``J_c`` the current a branch delivers into its child bus:

- backward: the current the branch draws at its parent end is
  ``a_c J_c + b_c V_c``; each bus's ``J`` is its own load and shunt current
  plus what its child branches draw, a triangular sparse system
  ``(I - A) J = I_bus + B V``;
- forward: ``V_c = alpha_c V_parent + beta_c J_c``, the triangular system
  ``(I - D) V = beta J + e_root V_root``.

For a plain series impedance a = 1, b = 0, alpha = 1, beta = -z: the classic
current-summation sweep. Both triangular matrices are constant, so they are
factorized once (SuperLU) and every iteration costs two sparse solves.
Buses are PQ except the single root; iteration stops when the largest bus
power mismatch, computed with Ybus as in Newton, is below the tolerance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from tdcoord.errors import TopologyError
from tdcoord.network.compiled import PV, REF, CompiledNetwork, compile_network
from tdcoord.network.network import Network
from tdcoord.network.topology import first_loop_branch, tree_order
from tdcoord.network.validate import check_islands, check_references, check_values
from tdcoord.pf.flows import build_result
from tdcoord.pf.newton import NewtonOutcome, mismatch
from tdcoord.results.powerflow import PowerFlowResult

DEFAULT_TOL = 1e-10


@dataclass
class SweepModel:
    cn: CompiledNetwork
    root: int
    lu_j: object
    lu_v: object
    b_mat: sp.csr_matrix
    alpha_root: np.ndarray  # column for V_root in the forward system
    beta: np.ndarray
    ysh: np.ndarray


def build_sweep(cn: CompiledNetwork) -> SweepModel:
    """Factorize the sweep's triangular systems for a radial compiled network."""
    ref = np.flatnonzero(cn.bus_type == REF)
    if len(ref) != 1:
        raise TopologyError(f"network {cn.name!r}: the sweep needs exactly one slack (root) bus, found {len(ref)}")
    if (cn.bus_type == PV).any():
        b = cn.labels[np.flatnonzero(cn.bus_type == PV)[0]]
        raise TopologyError(
            f"network {cn.name!r}: bus {b!r} is voltage-controlled (a gen); the sweep handles PQ buses only, use Newton"
        )
    nb = cn.n_bus
    k = first_loop_branch(nb, cn.f, cn.t)
    if k is not None:
        raise TopologyError(
            f"network {cn.name!r} is not radial: {cn.br_table[k]} {cn.br_index[k]} "
            f"({cn.labels[cn.f[k]]!r} - {cn.labels[cn.t[k]]!r}) closes a loop; the sweep needs a tree"
        )
    if cn.n_branch != nb - 1:
        raise TopologyError(f"network {cn.name!r}: {nb - cn.n_branch - 1} bus(es) are not connected to the root")
    root = int(ref[0])
    _, parent = tree_order(nb, cn.f, cn.t, root)
    yff, yft, ytf, ytt = cn.branch_admittances()
    from_is_parent = parent[cn.t] == cn.f
    child = np.where(from_is_parent, cn.t, cn.f)
    par = np.where(from_is_parent, cn.f, cn.t)
    ypp = np.where(from_is_parent, yff, ytt)
    ypc = np.where(from_is_parent, yft, ytf)
    ycp = np.where(from_is_parent, ytf, yft)
    ycc = np.where(from_is_parent, ytt, yff)
    a = -ypp / ycp
    b = ypc - ypp * ycc / ycp
    alpha = -ycp / ycc
    beta_br = -1.0 / ycc
    eye = sp.identity(nb, dtype=complex, format="csc")
    a_mat = sp.csc_matrix((a, (par, child)), shape=(nb, nb))
    b_mat = sp.csr_matrix((b, (par, child)), shape=(nb, nb))
    d_mat = sp.csc_matrix((alpha, (child, par)), shape=(nb, nb))
    beta = np.zeros(nb, dtype=complex)
    beta[child] = beta_br
    ysh = cn.gs + 1j * cn.bs
    e_root = np.zeros(nb, dtype=complex)
    e_root[root] = 1.0
    return SweepModel(cn=cn, root=root, lu_j=splu(eye - a_mat), lu_v=splu(eye - d_mat), b_mat=b_mat,
                      alpha_root=e_root, beta=beta, ysh=ysh)


def sweep_pf(model: SweepModel, v_root: complex, v0: np.ndarray | None = None,
             tol: float = DEFAULT_TOL, max_iter: int = 50) -> NewtonOutcome:
    """Iterate backward/forward sweeps from root voltage ``v_root``."""
    cn = model.cn
    s_cons = -cn.s_spec()  # consumption at each bus
    ybus = cn.ybus()[0]
    v = np.full(cn.n_bus, v_root, dtype=complex) if v0 is None else v0.astype(complex).copy()
    v[model.root] = v_root
    others = np.ones(cn.n_bus, bool)
    others[model.root] = False
    norm = np.inf
    for it in range(1, max_iter + 1):
        i_bus = np.conj(s_cons / v) + model.ysh * v
        j = model.lu_j.solve(i_bus + model.b_mat @ v)
        v = model.lu_v.solve(model.beta * j + model.alpha_root * v_root)
        mis = mismatch(ybus, v, -s_cons)[others]
        norm = float(np.max(np.abs(mis))) if mis.size else 0.0
        if not np.isfinite(norm):
            return NewtonOutcome(v=v, converged=False, iterations=it, max_mismatch=norm)
        if norm <= tol:
            return NewtonOutcome(v=v, converged=True, iterations=it, max_mismatch=norm)
    return NewtonOutcome(v=v, converged=False, iterations=max_iter, max_mismatch=norm)


def run_sweep(net: Network, *, tol: float = DEFAULT_TOL, max_iter: int = 50, check: bool = True) -> PowerFlowResult:
    """Power flow of a radial network by backward/forward sweep."""
    t0 = time.perf_counter()
    if check:
        check_references(net)
        check_values(net)
        check_islands(net)
    cn = compile_network(net)
    model = build_sweep(cn)
    if len(cn.ext_bus):
        v_root = cn.ext_vm[0] * np.exp(1j * cn.ext_va[0])
    else:
        g = np.flatnonzero(cn.gen_bus == model.root)[0]
        v_root = cn.gen_vm[g] * np.exp(1j * cn.gen_va[g])
    out = sweep_pf(model, v_root, tol=tol, max_iter=max_iter)
    res = build_result(net, cn, out.v, converged=out.converged, iterations=out.iterations,
                       max_mismatch=out.max_mismatch, method="sweep")
    res.time_s = time.perf_counter() - t0
    return res
