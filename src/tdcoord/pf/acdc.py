"""AC power flow with UPFCs and LCC-HVDC terminals: the sequential method.

The devices of :mod:`tdcoord.devices.upfc` and :mod:`tdcoord.devices.hvdc`
hold set-points (a UPFC its series voltage ``vse_re_pu + j vse_im_pu`` and
shunt output ``q_sh_mvar``; a link its DC power ``p_mw``) and inject powers
that depend on the bus voltages. The sequential AC/DC power flow alternates
the Newton power flow of :mod:`tdcoord.pf.ac`, with the devices' injections
held as fixed injections, and the devices' equations at the new voltages,
until the injections change by less than the tolerance (each pass's
injections extrapolate the last two passes: Anderson acceleration with
memory 1, which does not move the fixed point). Machines that reach a
reactive limit (with ``enforce_q_lims``) stay PQ at it in the following
passes. The converged point satisfies the AC equations and every device
equation together; its mismatch is the Newton residual of the last pass.

The device equations are the ones the optimization models use
(:func:`tdcoord.network.acdc.injections`, :func:`tdcoord.network.acdc.converter_state`).
The result has the usual tables, the UPFC's line with its true flows (the
line sees ``V_n + V_se`` at the UPFC's end), and ``res_upfc`` and
``res_hvdc`` in ``PowerFlowResult.extra_tables``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.network.acdc import converter_state, injections, link_data, q_limit, upfc_arrays
from tdcoord.network.compiled import PV, REF, CompiledNetwork, compile_network
from tdcoord.network.network import Network
from tdcoord.pf.flows import build_result, initial_voltage
from tdcoord.results.powerflow import PowerFlowResult

MAX_PASSES = 60


def has_acdc_devices(net: Network) -> bool:
    """Whether ``net`` has an in-service UPFC or HVDC link."""
    return bool(net.upfc.in_service.any() or net.hvdc.in_service.any())


def refuse_acdc_devices(system: Any, what: str) -> None:
    """An :class:`~tdcoord.errors.InputError` naming the element when ``system`` (a network or a coupled system)
    has an in-service UPFC or HVDC link, which ``what`` does not model (rather than ignore it)."""
    from tdcoord.errors import InputError

    nets = [system] if isinstance(system, Network) else [system.transmission, *system.feeders.values()]
    for net in nets:
        for table in ("upfc", "hvdc"):
            df = getattr(net, table)
            live = df.index[df.in_service.to_numpy(bool)]
            if len(live):
                raise InputError(f"{table} {live[0]} of network {net.name!r}: {what} does not model UPFCs or HVDC "
                                 f"links; use `tdcoord pf` on the network alone or `tdcoord study double-time-scale`, "
                                 f"or take the element out of service")


def _rows(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    return a * x


def device_data(net: Network, cn: CompiledNetwork) -> dict[str, Any]:
    """The devices' data the power flow needs (read once per power flow)."""
    live = net.hvdc.in_service.to_numpy(bool) & net.hvdc.bus.isin(cn.position()).to_numpy() if len(net.hvdc) else None
    return {"upfc": upfc_arrays(net, cn) if len(net.upfc) else None,
            "hvdc": link_data(net) if live is not None and live.any() else None,
            "hvdc_bus": np.array([cn.position()[b] for b in net.hvdc.bus[net.hvdc.in_service.to_numpy(bool)]], int)
            if live is not None and live.any() else None}


def device_injections(net: Network, cn: CompiledNetwork, v: np.ndarray, data: dict[str, Any] | None = None,
                      tables: bool = True) -> tuple[np.ndarray, dict[str, pd.DataFrame]]:
    """The devices' complex injections per bus (p.u.) at voltages ``v``, and (with ``tables``) their result
    tables; ``data`` is :func:`device_data`'s (read here when not given)."""
    data = device_data(net, cn) if data is None else data
    s = np.zeros(cn.n_bus, complex)
    out: dict[str, pd.DataFrame] = {}
    base = cn.base_mva
    vm, va = np.abs(v), np.angle(v)
    u = data["upfc"]
    if u is not None and len(u["index"]):
        near, far = u["near"], u["far"]
        inj = injections(vm[near], va[near], vm[far], va[far], u["vse_re"], u["vse_im"], u["q_sh"], u["y"], _rows,
                         np.cos, np.sin)
        np.add.at(s, near, inj["p_n"] + 1j * inj["q_n"])
        np.add.at(s, far, inj["p_m"] + 1j * inj["q_m"])
        qlim = q_limit(vm[near], u["v_sh_max"], u["x_sh"], _rows)
        if tables:
            out["res_upfc"] = pd.DataFrame({
                "vse_re_pu": u["vse_re"], "vse_im_pu": u["vse_im"], "vse_pu": np.hypot(u["vse_re"], u["vse_im"]),
                "q_sh_mvar": u["q_sh"] * base, "q_sh_limit_mvar": np.minimum(qlim, u["s_max"]) * base,
                "p_se_mw": inj["p_se"] * base, "q_se_mvar": inj["q_se"] * base, "vm_pu": vm[near]},
                index=pd.Index(u["index"], name="upfc"))
    d = data["hvdc"]
    if d is not None:
        rows = []
        for j, i in enumerate(d["index"]):
            bus = int(data["hvdc_bus"][j])
            p = float(d["p_inv"][j])
            st = converter_state(vm[bus], p, d["x"][j], d["k"][j], d["u_d"][j])
            s[bus] += p - 1j * st["q_s"]
            rows.append({"p_mw": p * base, "q_mvar": -st["q_s"] * base, "gamma_deg": st["angle_deg"],
                         "alpha_deg": float(d["alpha_deg"][j]), "i_d_pu": float(d["i_d"][j]),
                         "u_d_rect_pu": float(d["u_dr"][j]), "vm_pu": vm[bus]})
        if tables:
            out["res_hvdc"] = pd.DataFrame(rows, index=pd.Index(d["index"], name="hvdc"))
    return s, out


def _correct_upfc_lines(cn: CompiledNetwork, v: np.ndarray, u: dict[str, Any] | None, res: PowerFlowResult) -> None:
    """The UPFC's line carries the flows of ``V_n + V_se`` at its near end (``u``: :func:`device_data`'s UPFCs)."""
    if u is None or not len(u["index"]):
        return
    base = cn.base_mva
    vm, va = np.abs(v), np.angle(v)
    near, far = u["near"], u["far"]
    inj = injections(vm[near], va[near], vm[far], va[far], u["vse_re"], u["vse_im"], u["q_sh"], u["y"], _rows,
                     np.cos, np.sin)
    s_n = (inj["p_line_n"] + 1j * inj["q_line_n"]) * base
    s_m = (inj["p_line_m"] + 1j * inj["q_line_m"]) * base
    # currents in kA: |S| / (|V| sqrt(3) V_nominal), with |V_n + V_se| at the UPFC's end
    ka_n = np.abs(s_n) / np.abs(v[near] + u["vse_re"] + 1j * u["vse_im"]) / (np.sqrt(3) * cn.vn_kv[near])
    ka_m = np.abs(s_m) / vm[far] / (np.sqrt(3) * cn.vn_kv[far])
    for j, row in enumerate(u["row"]):
        sf, st = (s_n[j], s_m[j]) if u["near_is_from"][j] else (s_m[j], s_n[j])
        i_f, i_t = (ka_n[j], ka_m[j]) if u["near_is_from"][j] else (ka_m[j], ka_n[j])
        rate = cn.rate[row] * base
        loading = 100.0 * max(abs(sf), abs(st)) / rate if np.isfinite(rate) else np.nan
        res.res_line.loc[cn.br_index[row], ["p_from_mw", "q_from_mvar", "p_to_mw", "q_to_mvar", "pl_mw", "ql_mvar",
                                            "i_from_ka", "i_to_ka", "loading_percent"]] = \
            [sf.real, sf.imag, st.real, st.imag, (sf + st).real, (sf + st).imag, i_f, i_t, loading]


@dataclass
class AcdcOutcome:
    """The converged (or last) state of a sequential AC/DC power flow."""

    v: np.ndarray  # complex bus voltages, p.u.
    s_dev: np.ndarray  # the devices' complex injections per bus, p.u.
    converged: bool
    iterations: int  # Newton iterations over all passes
    passes: int
    max_mismatch: float
    messages: list[str]
    cn: CompiledNetwork
    data: dict[str, Any]
    switched: dict[str, Any] | None = None  # machines at a reactive limit (bus types, their Q), for a warm start

    def losses_mw(self) -> float:
        """Active losses (branches and shunts): everything injected minus everything consumed, the UPFCs'
        injections excepted (a series source moves power, it neither makes nor uses any)."""
        s_net = self.v * np.conj(self.cn.ybus()[0] @ self.v)
        return float((s_net.real.sum() - self.upfc_p_pu()) * self.cn.base_mva)

    def upfc_p_pu(self) -> float:
        u = self.data["upfc"]
        if u is None or not len(u["index"]):
            return 0.0
        vm, va = np.abs(self.v), np.angle(self.v)
        inj = injections(vm[u["near"]], va[u["near"]], vm[u["far"]], va[u["far"]], u["vse_re"], u["vse_im"],
                         u["q_sh"], u["y"], _rows, np.cos, np.sin)
        return float(np.sum(inj["p_n"] + inj["p_m"]))


def solve_acdc(net: Network, *, tol: float = 1e-10, max_iter: int = 30, enforce_q_lims: bool = False,
               cn: CompiledNetwork | None = None, v0: np.ndarray | None = None,
               s0: np.ndarray | None = None, switched0: dict | None = None) -> AcdcOutcome:
    """The sequential passes (module docstring), from the voltages ``v0``, device injections ``s0`` and machines
    at their reactive limits ``switched0`` (an :attr:`AcdcOutcome.switched`) of a neighbouring operating point
    when given: fewer passes, the same solution. A machine started at its limit that ends on the wrong side of
    its set-point (at its upper limit above it, at its lower limit below it) should have stayed PV: the power
    flow is then solved again without the start."""
    if enforce_q_lims and switched0:
        o = solve_acdc_passes(net, tol=tol, max_iter=max_iter, enforce_q_lims=True, cn=cn, v0=v0, s0=s0,
                              _seed=switched0)
        if o.converged and _pq_consistent(o):
            return o
        v0 = s0 = None
    return solve_acdc_passes(net, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims, cn=cn, v0=v0, s0=s0)


def _pq_consistent(o: "AcdcOutcome") -> bool:
    """Every machine switched to PQ sits on the side of its set-point that its limit explains."""
    cn = o.cn
    bt = (o.switched or {}).get("bus_type")
    if bt is None:
        return True
    vm = np.abs(o.v)
    for k, bus in enumerate(cn.gen_bus):
        if cn.bus_type[bus] == PV and bt[bus] != PV:
            q = o.switched["extra_q"][bus]
            at_max = np.isclose(q, cn.gen_qmax[cn.gen_bus == bus].sum())
            if (at_max and vm[bus] > cn.gen_vm[k] + 1e-9) or (not at_max and vm[bus] < cn.gen_vm[k] - 1e-9):
                return False
    return True


def solve_acdc_passes(net: Network, *, tol: float = 1e-10, max_iter: int = 30, enforce_q_lims: bool = False,
                      cn: CompiledNetwork | None = None, v0: np.ndarray | None = None,
                      s0: np.ndarray | None = None, _seed: dict | None = None) -> AcdcOutcome:
    """The sequential passes themselves (see :func:`solve_acdc`)."""
    from tdcoord.pf.ac import solve_compiled

    cn = compile_network(net) if cn is None else cn
    v = initial_voltage(cn) if v0 is None else np.asarray(v0, complex)
    data = device_data(net, cn)
    s_dev = np.zeros(cn.n_bus, complex) if s0 is None else np.asarray(s0, complex)
    messages: list[str] = []
    total_it, passes, converged, out = 0, 0, False, None
    held = np.isin(cn.bus_type, (PV, REF))
    vm_set = np.abs(initial_voltage(cn))
    # machines at a reactive limit stay PQ from pass to pass (and start so when seeded)
    switched: dict[str, Any] = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in (_seed or {}).items()}
    prev: tuple[np.ndarray, np.ndarray] | None = None
    for _ in range(MAX_PASSES):
        passes += 1
        # every pass starts from the machines' set-points, with the last pass's angles; a machine that reached
        # its reactive limit in a pass starts the next one PQ at that limit (the injections change little)
        v = np.where(held, vm_set, np.abs(v)) * np.exp(1j * np.angle(v))
        cn_k = replace(cn, p_fix=cn.p_fix + s_dev.real, q_fix=cn.q_fix + s_dev.imag, _cache=cn._cache)
        out, messages = solve_compiled(cn_k, v0=v, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims,
                                       switched=switched)
        total_it += out.iterations
        if not out.converged or not np.all(np.isfinite(out.v)):
            break
        v = out.v
        s_new, _ = device_injections(net, cn, v, data, tables=False)
        if not np.all(np.isfinite(s_new)):
            messages.append("an HVDC converter has no state at these voltages (extinction angle out of reach)")
            break
        r = s_new - s_dev
        change = float(np.max(np.abs(r))) if len(s_new) else 0.0
        if change <= tol * 10:
            s_dev = s_new
            converged = True
            break
        # Anderson acceleration of the fixed point s = g(s) (memory 1): the next injections extrapolate the last
        # two passes; the fixed point, and so the solution, is the same
        s_next = s_new
        if prev is not None:
            dr = r - prev[0]
            denom = float(np.real(np.vdot(dr, dr)))
            if denom > 0:
                s_next = s_new - float(np.real(np.vdot(dr, r))) / denom * (s_new - prev[1])
        prev = (r, s_new)
        s_dev = s_next
    else:
        messages.append(f"the sequential AC/DC power flow did not settle in {MAX_PASSES} passes")
    cn_k = replace(cn, p_fix=cn.p_fix + s_dev.real, q_fix=cn.q_fix + s_dev.imag, _cache={})
    return AcdcOutcome(v, s_dev, bool(converged and out is not None and out.converged), total_it, passes,
                       out.max_mismatch if out is not None else np.inf, messages, cn_k, data, switched)


def run_acdc(net: Network, *, tol: float = 1e-10, max_iter: int = 30, enforce_q_lims: bool = False,
             cn: CompiledNetwork | None = None) -> PowerFlowResult:
    """Sequential AC/DC power flow of ``net`` (module docstring), with the result tables."""
    t0 = time.perf_counter()
    o = solve_acdc(net, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims, cn=cn)
    res = build_result(net, o.cn, o.v, converged=o.converged, iterations=o.iterations, max_mismatch=o.max_mismatch,
                       method="newton, sequential AC/DC")
    _, extra = device_injections(net, o.cn, o.v, o.data)
    _correct_upfc_lines(o.cn, o.v, o.data["upfc"], res)
    res.extra_tables = extra
    res.messages = o.messages
    res.time_s = time.perf_counter() - t0
    return res


__all__ = ["AcdcOutcome", "refuse_acdc_devices", "device_data", "device_injections", "has_acdc_devices", "run_acdc", "solve_acdc"]
