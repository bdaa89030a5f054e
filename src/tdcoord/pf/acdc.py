"""AC power flow with UPFCs and LCC-HVDC terminals: the sequential method.

The devices of :mod:`tdcoord.devices.upfc` and :mod:`tdcoord.devices.hvdc`
hold set-points (a UPFC its series voltage ``vse_re_pu + j vse_im_pu`` and
shunt output ``q_sh_mvar``; a link its DC power ``p_mw``) and inject powers
that depend on the bus voltages. The sequential AC/DC power flow alternates
the Newton power flow of :mod:`tdcoord.pf.ac`, with the devices' injections
held as fixed injections, and the devices' equations at the new voltages,
until the injections change by less than the tolerance. The converged point
satisfies the AC equations and every device equation together; its
mismatch is the Newton residual of the last pass.

The device equations are the ones the optimization models use
(:func:`tdcoord.devices.upfc.injections`, :func:`tdcoord.devices.hvdc.converter_state`).
The result has the usual tables, the UPFC's line with its true flows (the
line sees ``V_n + V_se`` at the UPFC's end), and ``res_upfc`` and
``res_hvdc`` in ``PowerFlowResult.extra_tables``.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from tdcoord.devices import hvdc as hvdc_dev
from tdcoord.devices import upfc as upfc_dev
from tdcoord.network.compiled import CompiledNetwork, compile_network
from tdcoord.network.network import Network
from tdcoord.pf.flows import build_result, initial_voltage
from tdcoord.results.powerflow import PowerFlowResult

MAX_PASSES = 60


def has_acdc_devices(net: Network) -> bool:
    """Whether ``net`` has an in-service UPFC or HVDC link."""
    return bool(net.upfc.in_service.any() or net.hvdc.in_service.any())


def _rows(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    return a * x


def device_injections(net: Network, cn: CompiledNetwork, v: np.ndarray) -> tuple[np.ndarray, dict[str, pd.DataFrame]]:
    """The devices' complex injections per bus (p.u.) at voltages ``v``, and their result tables."""
    s = np.zeros(cn.n_bus, complex)
    tables: dict[str, pd.DataFrame] = {}
    base = cn.base_mva
    vm, va = np.abs(v), np.angle(v)
    for ds in upfc_dev.device_sets(net, cn):
        x = ds.extra
        u = net.upfc.loc[ds.index]
        e, f = u.vse_re_pu.to_numpy(float), u.vse_im_pu.to_numpy(float)
        q_sh = u.q_sh_mvar.to_numpy(float) / base
        inj = upfc_dev.injections(vm[ds.bus], va[ds.bus], vm[x["far"]], va[x["far"]], e, f, q_sh, x["y"], _rows,
                                  np.cos, np.sin)
        np.add.at(s, ds.bus, inj["p_n"] + 1j * inj["q_n"])
        np.add.at(s, x["far"], inj["p_m"] + 1j * inj["q_m"])
        qlim = upfc_dev.q_limit(vm[ds.bus], x["v_sh_max"], x["x_sh"], _rows)
        tables["res_upfc"] = pd.DataFrame({
            "vse_re_pu": e, "vse_im_pu": f, "vse_pu": np.hypot(e, f), "q_sh_mvar": q_sh * base,
            "q_sh_limit_mvar": np.minimum(qlim, x["s_max"]) * base, "p_se_mw": inj["p_se"] * base,
            "q_se_mvar": inj["q_se"] * base, "vm_pu": vm[ds.bus]}, index=pd.Index(ds.index, name="upfc"))
    for ds in hvdc_dev.device_sets(net, cn):
        x = ds.extra
        rows = []
        for j in range(len(ds)):
            st = hvdc_dev.converter_state(vm[ds.bus[j]], float(ds.p[j]), x["x"][j], x["k"][j], x["u_d"][j])
            s[ds.bus[j]] += ds.p[j] - 1j * st["q_s"]
            rows.append({"p_mw": ds.p[j] * base, "q_mvar": -st["q_s"] * base, "gamma_deg": st["angle_deg"],
                         "alpha_deg": float(np.asarray(x["alpha_deg"])[j]), "i_d_pu": float(np.asarray(x["i_d"])[j]),
                         "u_d_rect_pu": float(np.asarray(x["u_dr"])[j]), "vm_pu": vm[ds.bus[j]]})
        tables["res_hvdc"] = pd.DataFrame(rows, index=pd.Index(ds.index, name="hvdc"))
    return s, tables


def _correct_upfc_lines(net: Network, cn: CompiledNetwork, v: np.ndarray, res: PowerFlowResult) -> None:
    """The UPFC's line carries the flows of ``V_n + V_se`` at its near end."""
    base = cn.base_mva
    for ds in upfc_dev.device_sets(net, cn):
        x = ds.extra
        u = net.upfc.loc[ds.index]
        vse = u.vse_re_pu.to_numpy(float) + 1j * u.vse_im_pu.to_numpy(float)
        vn, vm_ = v[ds.bus] + vse, v[x["far"]]
        i_n = x["y"]["nn"] * vn + x["y"]["nm"] * vm_
        i_m = x["y"]["mn"] * vn + x["y"]["mm"] * vm_
        s_n, s_m = vn * np.conj(i_n) * base, vm_ * np.conj(i_m) * base
        for j, row in enumerate(x["row"]):
            sf, st = (s_n[j], s_m[j]) if x["near_is_from"][j] else (s_m[j], s_n[j])
            idx = cn.br_index[row]
            res.res_line.loc[idx, ["p_from_mw", "q_from_mvar", "p_to_mw", "q_to_mvar", "pl_mw", "ql_mvar"]] = \
                [sf.real, sf.imag, st.real, st.imag, (sf + st).real, (sf + st).imag]


def run_acdc(net: Network, *, tol: float = 1e-10, max_iter: int = 30, enforce_q_lims: bool = False,
             cn: CompiledNetwork | None = None) -> PowerFlowResult:
    """Sequential AC/DC power flow of ``net`` (module docstring)."""
    from tdcoord.pf.ac import solve_compiled

    t0 = time.perf_counter()
    cn = compile_network(net) if cn is None else cn
    v = initial_voltage(cn)
    s_dev = np.zeros(cn.n_bus, complex)
    messages: list[str] = []
    total_it, converged, out = 0, False, None
    for _ in range(MAX_PASSES):
        cn_k = replace(cn, p_fix=cn.p_fix + s_dev.real, q_fix=cn.q_fix + s_dev.imag, _cache=cn._cache)
        out, messages = solve_compiled(cn_k, v0=v, tol=tol, max_iter=max_iter, enforce_q_lims=enforce_q_lims)
        total_it += out.iterations
        if not out.converged or not np.all(np.isfinite(out.v)):
            break
        v = out.v
        s_new, _ = device_injections(net, cn, v)
        if not np.all(np.isfinite(s_new)):
            messages.append("an HVDC converter has no state at these voltages (extinction angle out of reach)")
            break
        change = float(np.max(np.abs(s_new - s_dev))) if len(s_new) else 0.0
        s_dev = s_new
        if change <= tol * 10:
            converged = True
            break
    else:
        messages.append(f"the sequential AC/DC power flow did not settle in {MAX_PASSES} passes")
    cn_k = replace(cn, p_fix=cn.p_fix + s_dev.real, q_fix=cn.q_fix + s_dev.imag, _cache={})
    res = build_result(net, cn_k, v, converged=converged and out is not None and out.converged,
                       iterations=total_it, max_mismatch=out.max_mismatch if out is not None else np.inf,
                       method="newton, sequential AC/DC")
    _, extra = device_injections(net, cn, v)
    _correct_upfc_lines(net, cn, v, res)
    res.extra_tables = extra
    res.messages = messages
    res.time_s = time.perf_counter() - t0
    return res


__all__ = ["device_injections", "has_acdc_devices", "run_acdc"]
