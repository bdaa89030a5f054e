"""Newton-Raphson AC power flow in polar coordinates (bus injection model).

The Jacobian's sparsity pattern depends only on Ybus and the bus types, so
it is built once (:class:`JacobianPattern`); each iteration fills its values
from the complex derivatives of S = V conj(Ybus V) with vectorized numpy:
for every Ybus entry (i, j), a_ij = V_i conj(Y_ij V_j) gives
dS_i/dVa_j = -j a_ij and dS_i/dVm_j = a_ij / |V_j|, and the diagonal adds
j V_i conj(I_i) and conj(I_i) V_i / |V_i| (MATPOWER's ``dSbus_dV``). The
linear systems are solved by SuperLU (``scipy.sparse.linalg.spsolve``).
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


def mismatch(ybus: sp.csr_matrix, v: np.ndarray, s_spec: np.ndarray) -> np.ndarray:
    """Complex power mismatch S(V) - S_spec at every bus."""
    return v * np.conj(ybus @ v) - s_spec


class JacobianPattern:
    """Fixed sparsity of the polar power-flow Jacobian for given bus types."""

    def __init__(self, ybus: sp.csr_matrix, pvpq: np.ndarray, pq: np.ndarray) -> None:
        nb = ybus.shape[0]
        coo = ybus.tocoo()
        self.i, self.j, self.y = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        self.nb = nb
        ang = np.full(nb, -1)
        ang[pvpq] = np.arange(len(pvpq))
        mag = np.full(nb, -1)
        mag[pq] = len(pvpq) + np.arange(len(pq))
        self.n = len(pvpq) + len(pq)
        # entries: all Ybus nonzeros then the diagonal of every bus
        ei = np.r_[self.i, np.arange(nb)]
        ej = np.r_[self.j, np.arange(nb)]
        rows, cols, src, part = [], [], [], []
        # part: 0 = Re dSa, 1 = Re dSm, 2 = Im dSa, 3 = Im dSm
        for k, (req, cvar) in enumerate(((ang, ang), (ang, mag), (mag, ang), (mag, mag))):
            ok = (req[ei] >= 0) & (cvar[ej] >= 0)
            rows.append(req[ei[ok]])
            cols.append(cvar[ej[ok]])
            src.append(np.flatnonzero(ok))
            part.append(np.full(ok.sum(), k))
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        self.src, self.part = np.concatenate(src), np.concatenate(part)
        key = cols * self.n + rows  # column-major order for CSC
        uniq, self.slot = np.unique(key, return_inverse=True)
        self.indices = (uniq % self.n).astype(np.int32)
        counts = np.bincount(uniq // self.n, minlength=self.n)
        self.indptr = np.r_[0, np.cumsum(counts)].astype(np.int32)
        self.nslots = len(uniq)

    def jacobian(self, v: np.ndarray, ibus: np.ndarray) -> sp.csc_matrix:
        vm = np.abs(v)
        a = v[self.i] * np.conj(self.y * v[self.j])
        dsa = np.r_[-1j * a, 1j * v * np.conj(ibus)]
        dsm = np.r_[a / vm[self.j], np.conj(ibus) * v / vm]
        e = dsa[self.src], dsm[self.src]
        val = np.where(self.part == 0, e[0].real, np.where(self.part == 1, e[1].real, np.where(self.part == 2, e[0].imag, e[1].imag)))
        data = np.bincount(self.slot, weights=val, minlength=self.nslots)
        return sp.csc_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))


def newton_pf(
    ybus: sp.csr_matrix,
    s_spec: np.ndarray,
    v0: np.ndarray,
    ref: np.ndarray,
    pv: np.ndarray,
    pq: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 30,
    pattern: JacobianPattern | None = None,
) -> NewtonOutcome:
    """Solve S(V) = S_spec for the angles of PV/PQ buses and magnitudes of PQ buses."""
    v = v0.astype(complex).copy()
    vm, va = np.abs(v), np.angle(v)
    pvpq = np.r_[pv, pq].astype(int)
    npvpq, npq = len(pvpq), len(pq)
    if pattern is None:
        pattern = JacobianPattern(ybus, pvpq, np.asarray(pq, dtype=int))

    def f_of(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ibus = ybus @ v
        mis = v * np.conj(ibus) - s_spec
        return np.r_[mis.real[pvpq], mis.imag[pq]], ibus

    f, ibus = f_of(v)
    norm = float(np.max(np.abs(f))) if f.size else 0.0
    it = 0
    while norm > tol and it < max_iter:
        it += 1
        dx = spsolve(pattern.jacobian(v, ibus), -f, permc_spec="MMD_AT_PLUS_A")
        if not np.all(np.isfinite(dx)):
            break
        va[pvpq] += dx[:npvpq]
        vm[pq] += dx[npvpq:npvpq + npq]
        v = vm * np.exp(1j * va)
        f, ibus = f_of(v)
        norm = float(np.max(np.abs(f))) if f.size else 0.0
        if not np.isfinite(norm):
            break
    return NewtonOutcome(v=v, converged=bool(norm <= tol), iterations=it, max_mismatch=norm)
