"""Voltage stability margins from the continuation power flow.

- ``q_margin_mvar`` of a bus: the extra reactive load at that bus alone that
  brings the power flow to the nose of its Q-V curve (generator reactive
  limits enforced, all other injections fixed);
- ``vsm_pu``: the same on the MVA base of the network the bus belongs to
  (the transmission base for transmission buses, the feeder's own base for
  feeder buses); seed 000's threshold is 0.15;
- loadability margin: the factor lambda by which every load (at constant
  power factor) can grow, with generation growing with it in proportion to
  the base dispatch (the slack taking the rest), before the system reaches
  its nose.

A coupled system is analysed on its merged network, so that the margins of
transmission buses include the feeders and vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.network.compiled import PV, CompiledNetwork, compile_network
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.pf.ac import solve_compiled
from tdcoord.pf.newton import newton_pf
from tdcoord.stability.cpf import CpfResult, bus_q_limits, run_cpf

THRESHOLD = 0.15


@dataclass
class Operating:
    """A solved operating point on compiled arrays, ready for continuation."""

    cn: CompiledNetwork
    v: np.ndarray
    s0: np.ndarray
    bus_type: np.ndarray
    base_of_bus: np.ndarray  # MVA base of the network each bus belongs to
    network_of_bus: np.ndarray
    q_limits: tuple[np.ndarray, np.ndarray] | None


def operating_point(system: Network | CoupledSystem, *, enforce_q_lims: bool = True) -> Operating:
    """Solve the power flow (Q limits as asked) and keep what the CPF needs."""
    from tdcoord.pf.acdc import refuse_acdc_devices

    refuse_acdc_devices(system, "the continuation power flow (voltage stability margins)")
    if isinstance(system, CoupledSystem):
        net = system.merge().network
        feeder_base = {f: n.sn_mva for f, n in system.feeders.items()}
    else:
        net = system
        feeder_base = {}
    cn = compile_network(net)
    out, _ = solve_compiled(cn, enforce_q_lims=enforce_q_lims)
    if not out.converged:
        from tdcoord.errors import SolveError

        raise SolveError(f"the operating point of {net.name!r} has no power-flow solution "
                         f"({out.iterations} iterations, mismatch {out.max_mismatch:.2e} p.u.)")
    bus_type = cn.bus_type.copy()
    s0 = cn.s_spec() + cn.gen_p_bus()
    qlim = bus_q_limits(cn) if enforce_q_lims else None
    if enforce_q_lims:
        # buses whose machines sit at a limit are PQ at that limit
        qm = (out.v * np.conj(cn.ybus()[0] @ out.v) - s0).imag
        qmin, qmax = qlim
        at = (bus_type == PV) & ((qm > qmax + 1e-7) | (qm < qmin - 1e-7) | np.isclose(qm, qmax, atol=1e-7) | np.isclose(qm, qmin, atol=1e-7))
        for b in np.flatnonzero(at):
            s0[b] += 1j * np.clip(qm[b], qmin[b], qmax[b])
            bus_type[b] = 1
    labels = cn.labels
    owner = np.array([lab.split(":", 1)[0] if ":" in lab else "T" for lab in labels], dtype=object)
    base = np.array([feeder_base.get(o, cn.base_mva) for o in owner], dtype=float)
    return Operating(cn, out.v, s0, bus_type, base, owner, qlim)


def q_margin(op: Operating, bus: int, **kw: Any) -> CpfResult:
    """Continuation along a reactive load increase at one bus (1 p.u. per unit lambda)."""
    d = np.zeros(op.cn.n_bus, complex)
    d[bus] = -1j
    return run_cpf(op.cn, op.v, op.s0, d, bus_type=op.bus_type, q_limits=op.q_limits, **kw)


def q_margins(system: Network | CoupledSystem, buses: list[str] | None = None, *, enforce_q_lims: bool = True,
              op: Operating | None = None, progress=None) -> pd.DataFrame:
    """Q-V margins of the given buses (all in-service buses by default)."""
    op = op or operating_point(system, enforce_q_lims=enforce_q_lims)
    pos = op.cn.position()
    labels = list(op.cn.labels) if buses is None else list(buses)
    rows = []
    for k, lab in enumerate(labels):
        b = pos[lab]
        if op.bus_type[b] == 3:
            rows.append({"bus": lab, "q_margin_mvar": np.inf, "vsm_pu": np.inf, "base_mva": op.base_of_bus[b],
                         "network": op.network_of_bus[b], "vm_pu": abs(op.v[b]), "vm_nose_pu": np.nan, "reason": "slack"})
            continue
        r = q_margin(op, b)
        q = r.lambda_max * op.cn.base_mva
        rows.append({"bus": lab, "q_margin_mvar": q, "vsm_pu": q / op.base_of_bus[b], "base_mva": op.base_of_bus[b],
                     "network": op.network_of_bus[b], "vm_pu": abs(op.v[b]), "vm_nose_pu": abs(r.v_nose[b]),
                     "reason": r.reason})
        if progress:
            progress(k + 1, len(labels))
    return pd.DataFrame(rows).set_index("bus")


@dataclass
class Loadability:
    """The system's loadability margin along a uniform load increase (generation scaled with it)."""

    lambda_max: float  # load increase at the nose, fraction of the base load
    p_load_mw: float  # the base load
    p_load_max_mw: float  # the load at the nose
    reason: str  # how the trace ended: "nose", "limit-induced nose", ...
    converged: bool
    steps: int
    vm_min_nose_pu: float  # the lowest voltage at the nose
    trace: dict[str, list] | None = None  # with keep_trace: "lambda" and "vm" along the curve

    def summary(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("lambda_max", "p_load_mw", "p_load_max_mw", "reason", "converged",
                                             "steps", "vm_min_nose_pu")}
        if self.trace is not None:
            out["trace"] = self.trace
        return out


def loadability(system: Network | CoupledSystem, *, enforce_q_lims: bool = True, op: Operating | None = None,
                keep_trace: bool = False) -> Loadability:
    """System loadability margin along a uniform load increase."""
    op = op or operating_point(system, enforce_q_lims=enforce_q_lims)
    cn = op.cn
    d = -(cn.p_load + 1j * cn.q_load) + cn.gen_p_bus()
    r = run_cpf(cn, op.v, op.s0, d, bus_type=op.bus_type, q_limits=op.q_limits, keep_trace=keep_trace, step=0.1)
    p0 = float(cn.p_load.sum() * cn.base_mva)
    return Loadability(lambda_max=r.lambda_max, p_load_mw=p0, p_load_max_mw=p0 * (1 + r.lambda_max), reason=r.reason,
                       converged=r.converged, steps=r.steps, vm_min_nose_pu=float(np.abs(r.v_nose).min()),
                       trace={"lambda": r.lambdas, "vm": [v.tolist() for v in r.vm_trace]} if keep_trace else None)


def brute_force_q_margin(op: Operating, bus: int, step_mvar: float = 1.0, resolution_mvar: float = 0.01) -> float:
    """Largest reactive load at ``bus`` for which Newton still converges (step-wise, then halved).

    Load is added in ``step_mvar`` increments, each power flow warm-started
    from the last one (generator Q limits enforced as in the CPF); after the
    first failure the step is halved until it is below ``resolution_mvar``.
    """
    cn = op.cn
    base = cn.base_mva
    q_lim = op.q_limits
    v, q = op.v.copy(), 0.0
    step = step_mvar
    while step >= resolution_mvar:
        trial = q + step
        ok, v_new = pf_with_extra_q(op, bus, trial / base, v, q_lim)
        if ok:
            q, v = trial, v_new
        else:
            step /= 2
    return q


def pf_with_extra_q(op: Operating, bus: int, dq: float, v0: np.ndarray, q_lim) -> tuple[bool, np.ndarray]:
    cn = op.cn
    s = op.s0.copy()
    s[bus] -= 1j * dq
    bus_type = op.bus_type.copy()
    ybus = cn.ybus()[0]
    v = v0
    for _ in range(len(cn.gen_bus) + 2):
        ref = np.flatnonzero(bus_type == 3)
        pv = np.flatnonzero(bus_type == PV)
        pq = np.flatnonzero(bus_type == 1)
        out = newton_pf(ybus, s, v, ref, pv, pq, tol=1e-9, max_iter=20)
        if not out.converged or np.abs(out.v).min() < 0.3:
            return False, v0
        v = out.v
        if q_lim is None:
            return True, v
        qm = (v * np.conj(ybus @ v) - s).imag
        bad = pv[(qm[pv] > q_lim[1][pv] + 1e-9) | (qm[pv] < q_lim[0][pv] - 1e-9)]
        if not len(bad):
            return True, v
        for b in bad:
            s[b] += 1j * np.clip(qm[b], q_lim[0][b], q_lim[1][b])
            bus_type[b] = 1
    return False, v0
