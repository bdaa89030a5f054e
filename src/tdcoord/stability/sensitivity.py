"""Sensitivity of a loading margin to the controls (Dobson and Lu, 1992).

At the nose (x*, lambda*) of F(x, lambda, p) = S(V) - S0(p) - lambda d = 0
the Jacobian F_x is singular with left null vector w. Differentiating
along the family of noses gives

    d lambda* / dp = (w^T F_p) / (w^T d)

with the equations ordered as in Newton (P of PV/PQ buses, Q of PQ buses).
For the controls of reactive power optimization:

- a reactive injection at a bus that is PQ at the nose: F_p = -e (its Q
  row), so d lambda*/dq_j = -w_Qj / (w^T d); at a bus whose voltage is
  still controlled at the nose the injection changes nothing;
- a voltage set-point at a PV or slack bus: F_p = dS/dVm_j (rows as
  above), so d lambda*/dV_j = (w^T dS/dVm_j) / (w^T d).

For the Q-V margin of bus i (d = -j e_i) the first formula reduces to
w_Qj / w_Qi, which is 1 at bus i itself: an injection at the weak bus adds
to its margin one for one. w is found by two steps of inverse iteration on
F_x^T at the located nose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from tdcoord.network.compiled import PQ, PV, REF
from tdcoord.pf.newton import JacobianPattern
from tdcoord.stability.cpf import CpfResult


@dataclass
class MarginGradient:
    margin_pu: float  # lambda* (p.u. on the network base)
    dq: np.ndarray  # d lambda*/d q_j per bus (p.u./p.u.)
    dv: np.ndarray  # d lambda*/d V_j per bus (p.u./p.u.), set-point buses
    vm_nose: np.ndarray


def margin_gradient(cn, d: np.ndarray, cpf: CpfResult) -> MarginGradient:
    """Gradient of the margin ``cpf.lambda_max`` along direction ``d`` w.r.t. injections and set-points."""
    bus_type = cpf.bus_type
    v = cpf.v_nose
    ybus = cn.ybus()[0]
    pv = np.flatnonzero(bus_type == PV)
    pq = np.flatnonzero(bus_type == PQ)
    pvpq = np.r_[pv, pq]
    ibus = ybus @ v
    j = JacobianPattern(ybus, pvpq, pq).jacobian(v, ibus)
    jt = j.T.tocsc()
    rng = np.random.default_rng(0)
    w = rng.standard_normal(j.shape[0])
    for _ in range(3):
        w = spsolve(jt, w, permc_spec="MMD_AT_PLUS_A")
        w /= np.linalg.norm(w)
    dvec = np.r_[d.real[pvpq], d.imag[pq]]
    den = w @ dvec
    nb = cn.n_bus
    dq = np.zeros(nb)
    qrow = len(pvpq) + np.arange(len(pq))
    dq[pq] = -w[qrow] / den
    # dS/dVm columns at set-point buses: V_i conj(Y_ij) e^{-j th_j} + (i == j) conj(I_j) e^{j th_j}
    setp = np.flatnonzero((bus_type == PV) | (bus_type == REF))
    dv = np.zeros(nb)
    if len(setp):
        vn = v / np.abs(v)
        ds = sp.diags(v) @ np.conj(ybus[:, setp] @ sp.diags(vn[setp]))
        ds = ds.toarray()
        ds[setp, np.arange(len(setp))] += np.conj(ibus[setp]) * vn[setp]
        rows = np.r_[ds[pvpq].real, ds[pq].imag]
        dv[setp] = (w @ rows) / den
    return MarginGradient(cpf.lambda_max, dq, dv, np.abs(v))
