"""Linearized voltage and slack-power sensitivities to bus injections at a power-flow solution.

At a solution of S(V) = S_spec, a change of the specified injection at bus
b moves the state by ``dx = J^-1 e_b`` (J the polar Jacobian, MATPOWER's
``dSbus_dV`` blocks at the P rows of PV/PQ buses and the Q rows of PQ
buses); the magnitudes of PQ buses change by the V part of ``dx``, those of
PV and slack buses not at all. The slack bus's injection changes by
``dS_slack/dx . dx``: that is what the network draws through its slack (for
a feeder: the exchange at the point of common coupling), losses included to
first order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from tdcoord.network.compiled import PQ, PV, REF, CompiledNetwork
from tdcoord.pf.newton import JacobianPattern


@dataclass
class Sensitivities:
    """p.u./p.u. on the network's base; columns follow ``buses`` (the injection buses)."""

    buses: np.ndarray  # positions of the injection buses
    vm: np.ndarray  # magnitudes at the linearization point, every bus
    dv_dp: np.ndarray  # (n_bus, k): d|V| / d P_injection
    dv_dq: np.ndarray  # (n_bus, k)
    dps_dp: np.ndarray  # (k,): d P_slack / d P_injection (slack injection: what the network draws, with a - sign)
    dps_dq: np.ndarray
    dqs_dp: np.ndarray
    dqs_dq: np.ndarray
    p_slack: float  # slack injection at the point, p.u.
    q_slack: float


def dsbus_dv(ybus: sp.csr_matrix, v: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """dS/dVa and dS/dVm of the bus injections S = V conj(Y V) (MATPOWER's ``dSbus_dV``, polar)."""
    ibus = ybus @ v
    dv = sp.diags(v)
    dvn = sp.diags(v / np.abs(v))
    d_a = 1j * dv @ np.conj(sp.diags(ibus) - ybus @ dv)
    d_m = dv @ np.conj(ybus @ dvn) + np.conj(sp.diags(ibus)) @ dvn
    return sp.csr_matrix(d_a), sp.csr_matrix(d_m)


def injection_sensitivities(cn: CompiledNetwork, v: np.ndarray, buses: np.ndarray,
                            bus_type: np.ndarray | None = None) -> Sensitivities:
    """Sensitivities of the magnitudes and of the (single) slack injection to P and Q injected at ``buses``."""
    bt = cn.bus_type if bus_type is None else bus_type
    ref, pv, pq = (np.flatnonzero(bt == k) for k in (REF, PV, PQ))
    if len(ref) != 1:
        raise ValueError(f"sensitivities need exactly one slack bus, {cn.name!r} has {len(ref)}")
    pvpq = np.r_[pv, pq]
    ybus = cn.ybus()[0]
    j = JacobianPattern(ybus, pvpq, pq).jacobian(v, ybus @ v)  # Newton's own Jacobian
    d_a, d_m = dsbus_dv(ybus, v)  # the slack's row, which Newton does not solve for
    n_a = len(pvpq)
    row_p = np.full(cn.n_bus, -1)
    row_p[pvpq] = np.arange(n_a)
    row_q = np.full(cn.n_bus, -1)
    row_q[pq] = n_a + np.arange(len(pq))
    buses = np.asarray(buses, int)
    k = len(buses)
    rhs = np.zeros((j.shape[0], 2 * k))
    for c, b in enumerate(buses):  # a unit injection at b: the specified P (Q) of b rises by 1
        if row_p[b] >= 0:
            rhs[row_p[b], c] = 1.0
        if row_q[b] >= 0:
            rhs[row_q[b], k + c] = 1.0
    dx = splu(j).solve(rhs) if j.shape[0] else rhs
    dvm = np.zeros((cn.n_bus, 2 * k))
    dvm[pq] = dx[n_a:]
    s_ref_a = d_a[ref][:, pvpq].toarray().ravel()
    s_ref_m = d_m[ref][:, pq].toarray().ravel()
    ds = (s_ref_a @ dx[:n_a] + s_ref_m @ dx[n_a:]).astype(complex)
    at_ref = np.flatnonzero(buses == ref[0])  # an injection at the slack bus itself: the slack gives that much less
    ds[at_ref] = -1.0
    ds[k + at_ref] = -1j
    s_slack = (v * np.conj(ybus @ v))[ref[0]] - (cn.p_fix - cn.p_load + 1j * (cn.q_fix - cn.q_load))[ref[0]]
    return Sensitivities(buses=buses, vm=np.abs(v), dv_dp=dvm[:, :k], dv_dq=dvm[:, k:],
                         dps_dp=ds[:k].real, dps_dq=ds[k:].real, dqs_dp=ds[:k].imag, dqs_dq=ds[k:].imag,
                         p_slack=float(s_slack.real), q_slack=float(s_slack.imag))


__all__ = ["Sensitivities", "dsbus_dv", "injection_sensitivities"]
