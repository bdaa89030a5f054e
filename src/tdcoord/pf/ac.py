"""AC power flow of one network by Newton-Raphson, with optional Q limits."""

from __future__ import annotations

import time

import numpy as np

from tdcoord.network.compiled import PQ, PV, CompiledNetwork, compile_network
from tdcoord.network.network import Network
from tdcoord.network.validate import validate
from tdcoord.pf.flows import build_result, bus_sets, initial_voltage, machine_dispatch
from tdcoord.pf.newton import JacobianPattern, NewtonOutcome, newton_pf
from tdcoord.results.powerflow import PowerFlowResult

DEFAULT_TOL = 1e-10
"""Newton tolerance: largest power mismatch, p.u. on the network's base."""


def solve_compiled(
    cn: CompiledNetwork,
    v0: np.ndarray | None = None,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = 30,
    enforce_q_lims: bool = False,
    switched: dict | None = None,
) -> tuple[NewtonOutcome, list[str]]:
    """Newton on compiled arrays; with Q limits, PV buses switch to PQ.

    Generators at a PV bus whose reactive output leaves its limits are held
    at the violated limit and the bus becomes PQ; the power flow is solved
    again until no limit is violated (MATPOWER's ``enforce_q_lims`` = 1).
    ``switched`` (a dict, read and updated): buses already switched to PQ by
    an earlier solve of nearly the same network (``bus_type``, ``extra_q``,
    ``messages``), so that a sequence of solves does not switch them again
    one by one.
    """
    messages: list[str] = []
    bus_type = cn.bus_type.copy()
    extra_q = np.zeros(cn.n_bus)
    if enforce_q_lims and switched:
        bus_type = switched["bus_type"].copy()
        extra_q = switched["extra_q"].copy()
        messages = list(switched["messages"])
    v = initial_voltage(cn) if v0 is None else v0
    total_it = 0
    while True:
        ref, pv, pq = bus_sets_of(bus_type)
        s = cn.s_spec() + cn.gen_p_bus() + 1j * extra_q
        key = ("jacobian", bus_type.tobytes())
        if key not in cn._cache:
            cn._cache[key] = JacobianPattern(cn.ybus()[0], np.r_[pv, pq].astype(int), pq)
        out = newton_pf(cn.ybus()[0], s, v, ref, pv, pq, tol=tol, max_iter=max_iter, pattern=cn._cache[key])
        total_it += out.iterations
        out.iterations = total_it
        if not (enforce_q_lims and out.converged):
            return out, messages
        _, gen_q, _, _ = machine_dispatch(cn, out.v)
        viol = []
        for k, b in enumerate(cn.gen_bus):
            if bus_type[b] != PV:
                continue
            if gen_q[k] > cn.gen_qmax[k] + 1e-9:
                viol.append((b, cn.gen_qmax[k]))
            elif gen_q[k] < cn.gen_qmin[k] - 1e-9:
                viol.append((b, cn.gen_qmin[k]))
        if not viol:
            if switched is not None:
                switched.update(bus_type=bus_type.copy(), extra_q=extra_q.copy(), messages=list(messages))
            return out, messages
        for b, _ in viol:
            bus_type[b] = PQ
        for b in {b for b, _ in viol}:
            at_bus = cn.gen_bus == b
            q = np.clip(gen_q[at_bus], cn.gen_qmin[at_bus], cn.gen_qmax[at_bus])
            extra_q[b] = q.sum()
            messages.append(f"bus {cn.labels[b]!r}: generator reactive limit reached ({q.sum() * cn.base_mva:.3f} Mvar); bus switched PV -> PQ")
        v = out.v


def bus_sets_of(bus_type: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from tdcoord.network.compiled import REF

    return (np.flatnonzero(bus_type == REF), np.flatnonzero(bus_type == PV), np.flatnonzero(bus_type == PQ))


def run_newton(
    net: Network,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = 30,
    enforce_q_lims: bool = False,
    check: bool = True,
) -> PowerFlowResult:
    """AC power flow of ``net`` by Newton-Raphson.

    The result is returned whether or not Newton converged; ``converged``,
    ``iterations`` and ``max_mismatch_pu`` say how it ended.
    """
    t0 = time.perf_counter()
    if check:
        validate(net, radial=False)
    from tdcoord.pf.acdc import has_acdc_devices, run_acdc

    if has_acdc_devices(net):  # UPFCs and HVDC links: the sequential AC/DC power flow
        return run_acdc(net, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims)
    cn = compile_network(net)
    out, messages = solve_compiled(cn, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims)
    res = build_result(net, cn, out.v, converged=out.converged, iterations=out.iterations,
                       max_mismatch=out.max_mismatch, method="newton")
    res.messages = messages
    res.time_s = time.perf_counter() - t0
    return res


__all__ = ["run_newton", "solve_compiled", "bus_sets", "DEFAULT_TOL"]
