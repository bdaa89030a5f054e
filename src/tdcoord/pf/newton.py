"""Newton-Raphson AC power flow in polar coordinates (bus injection model).

Vectorized on scipy.sparse: the Jacobian is assembled from the complex
derivatives dS/dVa and dS/dVm (as in MATPOWER's ``newtonpf``) and solved with
SuperLU through ``scipy.sparse.linalg.spsolve``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve


@dataclass
class NewtonOutcome:
    v: np.ndarray
    converged: bool
    iterations: int
    max_mismatch: float  # p.u. of power, infinity norm over the equations solved


def ds_dv(ybus: sp.csr_matrix, v: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Derivatives of the complex bus injections S = V conj(Ybus V)."""
    ibus = ybus @ v
    dv = sp.diags(v)
    di = sp.diags(ibus)
    dvn = sp.diags(v / np.abs(v))
    ds_dvm = dv @ np.conj(ybus @ dvn) + np.conj(di) @ dvn
    ds_dva = 1j * dv @ np.conj(di - ybus @ dv)
    return sp.csr_matrix(ds_dva), sp.csr_matrix(ds_dvm)


def mismatch(ybus: sp.csr_matrix, v: np.ndarray, s_spec: np.ndarray) -> np.ndarray:
    """Complex power mismatch S(V) - S_spec at every bus."""
    return v * np.conj(ybus @ v) - s_spec


def newton_pf(
    ybus: sp.csr_matrix,
    s_spec: np.ndarray,
    v0: np.ndarray,
    ref: np.ndarray,
    pv: np.ndarray,
    pq: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 30,
) -> NewtonOutcome:
    """Solve S(V) = S_spec for the angles of PV/PQ buses and magnitudes of PQ buses."""
    v = v0.astype(complex).copy()
    vm, va = np.abs(v), np.angle(v)
    pvpq = np.r_[pv, pq].astype(int)
    npvpq, npq = len(pvpq), len(pq)

    def f_of(v: np.ndarray) -> np.ndarray:
        mis = mismatch(ybus, v, s_spec)
        return np.r_[mis.real[pvpq], mis.imag[pq]]

    f = f_of(v)
    norm = float(np.max(np.abs(f))) if f.size else 0.0
    it = 0
    while norm > tol and it < max_iter:
        it += 1
        dsa, dsm = ds_dv(ybus, v)
        j11 = dsa[pvpq][:, pvpq].real
        j12 = dsm[pvpq][:, pq].real
        j21 = dsa[pq][:, pvpq].imag
        j22 = dsm[pq][:, pq].imag
        jac = sp.bmat([[j11, j12], [j21, j22]], format="csc")
        dx = spsolve(jac, -f)
        if not np.all(np.isfinite(dx)):
            break
        va[pvpq] += dx[:npvpq]
        vm[pq] += dx[npvpq:npvpq + npq]
        v = vm * np.exp(1j * va)
        f = f_of(v)
        norm = float(np.max(np.abs(f))) if f.size else 0.0
        if not np.isfinite(norm):
            break
    return NewtonOutcome(v=v, converged=bool(norm <= tol), iterations=it, max_mismatch=norm)
