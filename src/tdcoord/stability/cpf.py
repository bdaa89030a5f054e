"""Continuation power flow: trace the solution curve to and around its nose.

Injections change along a direction ``d`` (p.u. per unit of the loading
parameter lambda; a load increase is a negative injection):
F(x, lambda) = S(V) - S0 - lambda d = 0 with x = (angles of PV/PQ buses,
magnitudes of PQ buses).

- predictor: the unit tangent z of the curve, from the bordered system
  [J, -d; e_k^T] z = [0; +-1] (k the largest component of the last
  tangent), oriented like the last tangent;
- corrector: Newton on F = 0 plus the pseudo-arclength condition
  z . ((x, lambda) - predicted) = 0;
- step control: the step grows by 1.5 after a corrector of at most 3
  iterations and halves after a failed one;
- the nose: where the tangent's lambda component changes sign; the
  bracket is bisected until the step is below ``step_min`` so that
  ``lambda_max`` is the nose itself, not the last convergent load step;
- generator reactive limits (optional): when a PV bus's machine leaves its
  limits between two points, the crossing is located by bisection, the bus
  becomes PQ at its limit, and the trace continues; if the curve of the new
  bus types already turns there, that point is a limit-induced nose.

All linear systems are solved by SuperLU (scipy.sparse.linalg.spsolve).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from tdcoord.network.compiled import PQ, PV, REF, CompiledNetwork
from tdcoord.pf.newton import JacobianPattern


@dataclass
class CpfResult:
    lambda_max: float
    converged: bool
    reason: str  # nose | limit-induced nose | lambda limit | step too small | base case failed
    v_nose: np.ndarray
    lambdas: list[float] = field(default_factory=list)
    vm_trace: list[np.ndarray] = field(default_factory=list)
    steps: int = 0
    switched: list[int] = field(default_factory=list)  # buses switched PV -> PQ
    messages: list[str] = field(default_factory=list)
    bus_type: np.ndarray | None = None  # bus types at the nose (after PV -> PQ switching)
    s0: np.ndarray | None = None  # specified injections at the nose (limits included)


class _System:
    """Power-flow equations of one set of bus types along direction d."""

    def __init__(self, cn: CompiledNetwork, s0: np.ndarray, d: np.ndarray, bus_type: np.ndarray) -> None:
        self.cn = cn
        self.ybus = cn.ybus()[0]
        self.s0 = s0
        self.d = d
        self.bus_type = bus_type
        self.pv = np.flatnonzero(bus_type == PV)
        self.pq = np.flatnonzero(bus_type == PQ)
        self.pvpq = np.r_[self.pv, self.pq]
        self.n = len(self.pvpq) + len(self.pq)
        self.pattern = JacobianPattern(self.ybus, self.pvpq, self.pq)
        self.dvec = np.r_[d.real[self.pvpq], d.imag[self.pq]]

    def x_of(self, v: np.ndarray) -> np.ndarray:
        return np.r_[np.angle(v)[self.pvpq], np.abs(v)[self.pq]]

    def v_of(self, x: np.ndarray, v_ref: np.ndarray) -> np.ndarray:
        va, vm = np.angle(v_ref).copy(), np.abs(v_ref).copy()
        va[self.pvpq] = x[: len(self.pvpq)]
        vm[self.pq] = x[len(self.pvpq):]
        return vm * np.exp(1j * va)

    def f(self, v: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
        ibus = self.ybus @ v
        mis = v * np.conj(ibus) - self.s0 - lam * self.d
        return np.r_[mis.real[self.pvpq], mis.imag[self.pq]], ibus

    def jac(self, v: np.ndarray, ibus: np.ndarray) -> sp.csc_matrix:
        return self.pattern.jacobian(v, ibus)

    def bordered(self, j: sp.csc_matrix, row: np.ndarray) -> sp.csc_matrix:
        """[J, -d; row] assembled directly in CSC form (row: length n + 1)."""
        n = self.n
        col_nz = np.flatnonzero(self.dvec)
        row_nz = row != 0
        extra = row_nz[:n].astype(np.int64)
        counts = np.diff(j.indptr) + extra
        last = len(col_nz) + int(row_nz[n])
        indptr = np.r_[0, np.cumsum(counts), 0]
        indptr[-1] = indptr[-2] + last
        nnz = indptr[-1]
        indices = np.empty(nnz, dtype=np.int64)
        data = np.empty(nnz)
        starts = indptr[:n]
        # J's entries, shifted by the extra row entries of earlier columns
        shift = np.repeat(starts - j.indptr[:n], np.diff(j.indptr))
        pos = np.arange(j.nnz) + shift
        indices[pos] = j.indices
        data[pos] = j.data
        cols = np.flatnonzero(row_nz[:n])
        at = indptr[1:n + 1][cols] - 1
        indices[at] = n
        data[at] = row[cols]
        tail = indptr[n]
        indices[tail:tail + len(col_nz)] = col_nz
        data[tail:tail + len(col_nz)] = -self.dvec[col_nz]
        if row_nz[n]:
            indices[nnz - 1] = n
            data[nnz - 1] = row[n]
        return sp.csc_matrix((data, indices, indptr), shape=(n + 1, n + 1))


def _solve(a: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
    x = spsolve(a, b, permc_spec="MMD_AT_PLUS_A")
    return np.atleast_1d(x)


def machine_q(cn: CompiledNetwork, v: np.ndarray, s_fixed: np.ndarray) -> np.ndarray:
    """Reactive output needed from the machines of every bus, p.u."""
    ybus = cn.ybus()[0]
    return (v * np.conj(ybus @ v) - s_fixed).imag


class _Tracer:
    """The steps of one continuation: predictor tangent, corrector, limit checks, nose location."""

    def __init__(self, cn: CompiledNetwork, s0: np.ndarray, d: np.ndarray, bus_type: np.ndarray,
                 q_limits: tuple[np.ndarray, np.ndarray] | None, tol: float, step_min: float) -> None:
        self.cn, self.s0, self.d, self.bus_type = cn, s0, d, bus_type
        self.q_limits, self.tol, self.step_min = q_limits, tol, step_min
        self.sysm = _System(cn, s0, d, bus_type)

    def tangent(self, v: np.ndarray, z_prev: np.ndarray | None) -> np.ndarray:
        """Unit tangent of the curve at v, oriented like ``z_prev`` (or with lambda increasing)."""
        sysm = self.sysm
        _, ibus = sysm.f(v, 0.0)
        j = sysm.jac(v, ibus)
        n = sysm.n
        row = np.zeros(n + 1)
        if z_prev is None or len(z_prev) != n + 1:
            row[-1] = 1.0
            rhs_sign = 1.0
        else:
            k = int(np.argmax(np.abs(z_prev)))
            row[k] = 1.0
            rhs_sign = np.sign(z_prev[k])
        rhs = np.zeros(n + 1)
        rhs[-1] = rhs_sign
        z = _solve(sysm.bordered(j, row), rhs)
        z /= np.linalg.norm(z)
        if z_prev is not None and len(z_prev) == n + 1 and z @ z_prev < 0:
            z = -z
        return z

    def correct(self, v: np.ndarray, lam: float, z: np.ndarray, s: float) -> tuple[np.ndarray, float, bool, int]:
        """Predict ``s`` along z from (v, lam), correct on the hyperplane normal to z: (v, lam, ok, iterations)."""
        sysm, tol = self.sysm, self.tol
        xp = np.r_[sysm.x_of(v), lam] + s * z
        x = xp.copy()
        vv = sysm.v_of(x[:-1], v)
        for it in range(1, 11):
            f, ibus = sysm.f(vv, x[-1])
            r = np.r_[f, z @ (x - xp)]
            if np.max(np.abs(r)) < tol:
                return vv, float(x[-1]), True, it
            dx = _solve(sysm.bordered(sysm.jac(vv, ibus), z), -r)
            if not np.all(np.isfinite(dx)):
                break
            x = x + dx
            vv = sysm.v_of(x[:-1], vv)
        f, _ = sysm.f(vv, x[-1])
        return vv, float(x[-1]), np.max(np.abs(np.r_[f, z @ (x - xp)])) < tol, 10

    def violated(self, v: np.ndarray, lam: float) -> np.ndarray:
        """PV buses whose machines are beyond their reactive limits at (v, lam)."""
        if self.q_limits is None:
            return np.zeros(0, int)
        qm = machine_q(self.cn, v, self.s0 + lam * self.d)
        qmin, qmax = self.q_limits
        pv = self.sysm.pv
        return pv[(qm[pv] > qmax[pv] + 1e-9) | (qm[pv] < qmin[pv] - 1e-9)]

    def to_limit(self, v: np.ndarray, lam: float, z: np.ndarray, sigma: float, viol: np.ndarray,
                 switched: list[int]) -> tuple[np.ndarray, float]:
        """Locate where a machine reaches its limit within the step (bisection), switch its bus PV to PQ there
        (the limit holds exactly at the crossing); the point at the crossing."""
        lo, hi = 0.0, sigma
        v_at, lam_at = v, lam
        while hi - lo > max(self.step_min, 1e-4 * sigma):
            mid = (lo + hi) / 2
            vm_, lm_, ok_m, _ = self.correct(v, lam, z, mid)
            if ok_m and not len(self.violated(vm_, lm_)):
                lo, v_at, lam_at = mid, vm_, lm_
            else:
                hi = mid
        hit = self.violated(*self.correct(v, lam, z, hi)[:2]) if hi > 0 else viol
        hit = hit if len(hit) else viol
        qm = machine_q(self.cn, v_at, self.s0 + lam_at * self.d)
        qmin, qmax = self.q_limits
        self.s0 = self.s0.copy()
        for b in hit:
            self.s0[b] += 1j * np.clip(qm[b], qmin[b], qmax[b])
            self.bus_type[b] = PQ
            switched.append(int(b))
        self.sysm = _System(self.cn, self.s0, self.d, self.bus_type)
        return v_at, lam_at

    def nose(self, v: np.ndarray, lam: float, z: np.ndarray, sigma: float, v_new: np.ndarray,
             lam_new: float) -> tuple[float, np.ndarray]:
        """The nose between v (lambda rising) and v_new (falling), by bisection of the step: (lambda, v)."""
        lo, hi = 0.0, sigma
        best_lam, best_v = (lam, v) if lam >= lam_new else (lam_new, v_new)
        # near the nose lambda is flat in the arclength (error ~ step^2): stop once the
        # bracket is below step_min or 1e-3 of the step that crossed the nose
        while hi - lo > max(self.step_min, 1e-3 * sigma):
            mid = (lo + hi) / 2
            vm_, lm_, ok_m, _ = self.correct(v, lam, z, mid)
            if not ok_m:
                hi = mid
                continue
            zt = self.tangent(vm_, z)
            if lm_ > best_lam:
                best_lam, best_v = lm_, vm_
            if zt[-1] > 0:
                lo = mid
            else:
                hi = mid
        return best_lam, best_v


def run_cpf(
    cn: CompiledNetwork,
    v0: np.ndarray,
    s0: np.ndarray,
    d: np.ndarray,
    *,
    bus_type: np.ndarray | None = None,
    q_limits: tuple[np.ndarray, np.ndarray] | None = None,
    step: float = 0.05,
    step_min: float = 1e-5,
    step_max: float = 1.0,
    lambda_limit: float = np.inf,
    tol: float = 1e-9,
    max_steps: int = 400,
    keep_trace: bool = False,
) -> CpfResult:
    """Trace S(V) = S0 + lambda d from ``v0`` (a solution at lambda = 0) to the nose.

    ``q_limits`` = (qmin, qmax) per bus (p.u., summed over the bus's machines;
    +-inf where none) switches PV buses to PQ when a limit is reached.
    """
    tr = _Tracer(cn, s0, d, cn.bus_type.copy() if bus_type is None else bus_type.copy(), q_limits, tol, step_min)
    res = CpfResult(lambda_max=0.0, converged=False, reason="", v_nose=v0.copy())
    v, lam = v0.astype(complex).copy(), 0.0
    f, _ = tr.sysm.f(v, lam)
    if np.max(np.abs(f), initial=0.0) > 1e-6:
        res.reason = "base case failed"
        res.messages.append(f"the starting point is not a power-flow solution (mismatch {np.max(np.abs(f)):.2e})")
        return res
    sigma = step
    best_lam, best_v = 0.0, v.copy()
    z = tr.tangent(v, None)
    steps = 0
    while steps < max_steps:
        steps += 1
        v_new, lam_new, ok, its = tr.correct(v, lam, z, sigma)
        if not ok:
            sigma /= 2
            if sigma < step_min:
                res.reason = "step too small"
                res.messages.append(f"corrector failed with step {sigma * 2:.1e} at lambda {lam:.6f}")
                break
            continue
        viol = tr.violated(v_new, lam_new)
        if len(viol):
            v, lam = tr.to_limit(v, lam, z, sigma, viol, res.switched)
            if lam > best_lam:
                best_lam, best_v = lam, v.copy()
            z_new = tr.tangent(v, None)
            if z_new[-1] <= 0:
                res.lambda_max, res.v_nose, res.converged = best_lam, best_v, True
                res.reason = "limit-induced nose"
                break
            z = z_new
            sigma = max(min(sigma, step), step_min * 10)
            continue
        z_new = tr.tangent(v_new, z)
        if keep_trace:
            res.lambdas.append(lam_new)
            res.vm_trace.append(np.abs(v_new))
        if lam_new >= lambda_limit:
            res.lambda_max, res.v_nose, res.converged, res.reason = lam_new, v_new, True, "lambda limit"
            break
        if z_new[-1] < 0 < z[-1]:
            res.lambda_max, res.v_nose = tr.nose(v, lam, z, sigma, v_new, lam_new)
            res.converged, res.reason = True, "nose"
            break
        v, lam, z = v_new, lam_new, z_new
        if lam > best_lam:
            best_lam, best_v = lam, v.copy()
        sigma = min(sigma * 1.5, step_max) if its <= 3 else (sigma / 1.5 if its > 6 else sigma)
    else:
        res.reason = "step limit"
    if not res.converged:
        res.lambda_max, res.v_nose = best_lam, best_v
    res.steps = steps
    res.bus_type = tr.bus_type.copy()
    res.s0 = tr.s0.copy()
    return res


def bus_q_limits(cn: CompiledNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Summed machine reactive limits per bus (p.u.), infinite where no machine."""
    qmin = np.full(cn.n_bus, -np.inf)
    qmax = np.full(cn.n_bus, np.inf)
    has = np.zeros(cn.n_bus, bool)
    has[cn.gen_bus] = True
    qmin[has] = 0.0
    qmax[has] = 0.0
    np.add.at(qmin, cn.gen_bus, cn.gen_qmin)
    np.add.at(qmax, cn.gen_bus, cn.gen_qmax)
    qmin[cn.bus_type == REF] = -np.inf
    qmax[cn.bus_type == REF] = np.inf
    return qmin, qmax
