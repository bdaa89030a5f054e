"""AC polar formulation (NLP): bus voltage magnitudes and angles.

Branch flows follow the pi model of :mod:`tdcoord.network.compiled`, written
per branch from Yff, Yft, Ytf, Ytt and summed into bus injections with the
sparse incidence matrices, so the model is built with a handful of
vectorized casadi operations whatever the network's size:

    P_f = G_ff Vf^2 + Vf Vt (G_ft cos(th_f - th_t) + B_ft sin(th_f - th_t))
    Q_f = -B_ff Vf^2 + Vf Vt (G_ft sin(th_f - th_t) - B_ft cos(th_f - th_t))

and symmetrically at the to end. Devices add their injections to the bus
balance ``P(V) = sum of device injections`` that :func:`add_balance` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import casadi as ca
import numpy as np

from tdcoord.backends.casadi_nlp import NlpBuilder, sparse_dm
from tdcoord.network.compiled import REF, CompiledNetwork


@dataclass
class AcpModel:
    prefix: str
    cn: CompiledNetwork
    vm: Any
    va: Any
    p_inj: Any  # network injection at each bus (into branches and bus shunts), p.u.
    q_inj: Any
    pf: Any
    qf: Any
    pt: Any
    qt: Any

    @property
    def loss_pu(self) -> Any:
        """Active losses of branches and bus shunts, p.u."""
        return ca.sum1(self.p_inj)


def build_acp(b: NlpBuilder, cn: CompiledNetwork, prefix: str, vm0: np.ndarray | None = None,
              va0: np.ndarray | None = None, vm_min: np.ndarray | None = None, vm_max: np.ndarray | None = None) -> AcpModel:
    nb = cn.n_bus
    vm_min = cn.vm_min if vm_min is None else vm_min
    vm_max = cn.vm_max if vm_max is None else vm_max
    vm0 = np.clip(np.ones(nb) if vm0 is None else vm0, vm_min, vm_max)
    va0 = np.zeros(nb) if va0 is None else va0
    va_lb = np.full(nb, -np.inf)
    va_ub = np.full(nb, np.inf)
    ref = np.flatnonzero(cn.bus_type == REF)
    ref_angle = np.zeros(len(ref))
    for k, r in enumerate(ref):
        at_ext = np.flatnonzero(cn.ext_bus == r)
        at_gen = np.flatnonzero(cn.gen_bus == r)
        ref_angle[k] = cn.ext_va[at_ext[0]] if len(at_ext) else (cn.gen_va[at_gen[0]] if len(at_gen) else 0.0)
    va_lb[ref] = va_ub[ref] = ref_angle
    va0 = va0.copy()
    va0[ref] = ref_angle
    vm = b.var(f"{prefix}.vm", nb, vm_min, vm_max, vm0)
    va = b.var(f"{prefix}.va", nb, va_lb, va_ub, va0)
    yff, yft, ytf, ytt = cn.branch_admittances()
    cf, ct = cn.incidence()
    cf_dm, ct_dm = sparse_dm(cf), sparse_dm(ct)
    vf, vt = ca.mtimes(cf_dm, vm), ca.mtimes(ct_dm, vm)
    d = ca.mtimes(cf_dm, va) - ca.mtimes(ct_dm, va)
    cosd, sind = ca.cos(d), ca.sin(d)
    vfvt = vf * vt
    pf = yff.real * vf**2 + vfvt * (yft.real * cosd + yft.imag * sind)
    qf = -yff.imag * vf**2 + vfvt * (yft.real * sind - yft.imag * cosd)
    pt = ytt.real * vt**2 + vfvt * (ytf.real * cosd - ytf.imag * sind)
    qt = -ytt.imag * vt**2 + vfvt * (-ytf.real * sind - ytf.imag * cosd)
    cft, ctt = sparse_dm(cf.T), sparse_dm(ct.T)
    p_inj = ca.mtimes(cft, pf) + ca.mtimes(ctt, pt) + cn.gs * vm**2
    q_inj = ca.mtimes(cft, qf) + ca.mtimes(ctt, qt) - cn.bs * vm**2
    return AcpModel(prefix, cn, vm, va, p_inj, q_inj, pf, qf, pt, qt)


def add_balance(b: NlpBuilder, m: AcpModel, p_dev: Any, q_dev: Any) -> None:
    """Kirchhoff at every bus: network injection = device injections (p.u.)."""
    b.eq(f"{m.prefix}.p_balance", m.p_inj - p_dev)
    b.eq(f"{m.prefix}.q_balance", m.q_inj - q_dev)


def add_flow_limits(b: NlpBuilder, m: AcpModel) -> None:
    """|S| <= rating at both ends of every rated branch (MATPOWER's MVA limits)."""
    rated = np.flatnonzero(np.isfinite(m.cn.rate))
    if not len(rated):
        return
    rate2 = m.cn.rate[rated] ** 2
    idx = rated.tolist()
    sf = (m.pf**2 + m.qf**2)[idx]
    st = (m.pt**2 + m.qt**2)[idx]
    b.ineq(f"{m.prefix}.s_from", sf, -np.inf, rate2)
    b.ineq(f"{m.prefix}.s_to", st, -np.inf, rate2)


def add_angle_limits(b: NlpBuilder, m: AcpModel, ang_min_deg: np.ndarray, ang_max_deg: np.ndarray) -> None:
    """Angle-difference limits of branches where they bind (|limit| < 360 degrees)."""
    lim = (ang_min_deg > -360) | (ang_max_deg < 360)
    if not lim.any():
        return
    idx = np.flatnonzero(lim)
    cf, ct = m.cn.incidence()
    sel = sparse_dm((cf - ct)[idx])
    b.ineq(f"{m.prefix}.angle_diff", ca.mtimes(sel, m.va), np.deg2rad(ang_min_deg[idx]), np.deg2rad(ang_max_deg[idx]))
