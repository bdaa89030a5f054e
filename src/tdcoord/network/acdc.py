"""The equations of the AC/DC devices, for numbers and for model expressions alike.

The UPFC's power-injection model and the LCC-HVDC converter and DC-line
equations, written once here and used by the optimization devices
(:mod:`tdcoord.devices.upfc`, :mod:`tdcoord.devices.hvdc`, where they are
explained) and by the sequential AC/DC power flow (:mod:`tdcoord.pf.acdc`).
:func:`upfc_arrays` and :func:`link_data` read a network's rows into the
arrays both need.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.optimize import brentq

from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network
from tdcoord.network.timeseries import values


def admittances(cn: CompiledNetwork, row: np.ndarray, near_is_from: np.ndarray) -> dict[str, np.ndarray]:
    """The line's pi-model admittances seen from the near end: ``nn, nm, mn, mm``."""
    yff, yft, ytf, ytt = (y[row] for y in cn.branch_admittances())
    return {"nn": np.where(near_is_from, yff, ytt), "nm": np.where(near_is_from, yft, ytf),
            "mn": np.where(near_is_from, ytf, yft), "mm": np.where(near_is_from, ytt, yff)}


def injections(vm_n: Any, va_n: Any, vm_m: Any, va_m: Any, e: Any, f: Any, q_sh: Any, y: dict[str, np.ndarray],
               rows: Callable[[np.ndarray, Any], Any], cos: Callable, sin: Callable) -> dict[str, Any]:
    """``p_n, q_n, p_m, q_m`` (injections at the near and far buses), ``p_se`` and ``q_se`` (the series
    converter's output), ``i_re``, ``i_im`` (the line current at the near end) and ``p_line_n, q_line_n,
    p_line_m, q_line_m`` (the line's own flows at its two ends, with V_n + V_se at the near one), all p.u.

    Written with ``+ - *`` and the given ``rows`` (scale each row by a constant), ``cos`` and ``sin`` only, so that
    it serves numbers and casadi expressions alike.
    """
    vnr, vni = vm_n * cos(va_n), vm_n * sin(va_n)
    vmr, vmi = vm_m * cos(va_m), vm_m * sin(va_m)

    def cmul(yc: np.ndarray, a: Any, b: Any) -> tuple[Any, Any]:
        return rows(yc.real, a) - rows(yc.imag, b), rows(yc.real, b) + rows(yc.imag, a)

    ann_r, ann_i = cmul(y["nn"], e, f)  # y_nn V_se
    amn_r, amn_i = cmul(y["mn"], e, f)  # y_mn V_se
    a1r, a1i = cmul(y["nn"], vnr + e, vni + f)
    a2r, a2i = cmul(y["nm"], vmr, vmi)
    i_r, i_i = a1r + a2r, a1i + a2i  # I_n
    p_se = e * i_r + f * i_i  # Re(V_se conj(I_n))
    q_se = f * i_r - e * i_i  # Im(V_se conj(I_n))
    b1r, b1i = cmul(y["mn"], vnr + e, vni + f)
    b2r, b2i = cmul(y["mm"], vmr, vmi)
    im_r, im_i = b1r + b2r, b1i + b2i  # I_m, into the line at the far end
    # -V conj(a) = -(vr + j vi)(ar - j ai) = -(vr ar + vi ai) - j (vi ar - vr ai)
    return {"p_n": -(vnr * ann_r + vni * ann_i) - p_se, "q_n": -(vni * ann_r - vnr * ann_i) + q_sh,
            "p_m": -(vmr * amn_r + vmi * amn_i), "q_m": -(vmi * amn_r - vmr * amn_i),
            "p_se": p_se, "q_se": q_se, "i_re": i_r, "i_im": i_i,
            # the line's own end flows: (V_n + V_se) conj(I_n) at the near end, V_m conj(I_m) at the far end
            "p_line_n": (vnr + e) * i_r + (vni + f) * i_i, "q_line_n": (vni + f) * i_r - (vnr + e) * i_i,
            "p_line_m": vmr * im_r + vmi * im_i, "q_line_m": vmi * im_r - vmr * im_i}


def q_limit(vm_n: Any, v_sh_max: np.ndarray, x_sh: np.ndarray, rows: Callable[[np.ndarray, Any], Any]) -> Any:
    """Eq. (12): the largest |Q_sh| (p.u.) at near-bus voltage ``vm_n`` (for ``vm_n <= v_sh_max``)."""
    return rows(v_sh_max / x_sh, vm_n) - rows(1.0 / x_sh, vm_n * vm_n)


def upfc_arrays(net: Network, cn: CompiledNetwork) -> dict[str, Any]:
    """The in-service UPFCs in a compiled network (their line and near bus in service): ``index``, ``row`` (branch
    position), ``near``/``far`` (bus positions), ``near_is_from``, ``y`` (:func:`admittances`) and their limits and
    set-points in system p.u. (empty ``index`` when there is none)."""
    u = net.upfc
    pos = cn.position()
    u = u[u.in_service.to_numpy(bool)]
    line_rows = {int(i): k for k, i in enumerate(cn.br_index) if cn.br_table[k] == "line"}
    u = u.loc[[i for i in u.index if int(u.at[i, "line"]) in line_rows and u.at[i, "bus"] in pos]]
    base = cn.base_mva
    row = np.array([line_rows[int(li)] for li in u.line], dtype=int)
    near = np.array([pos[b] for b in u.bus], dtype=int)
    near_is_from = cn.f[row] == near
    return {"index": u.index.to_numpy(), "row": row, "near": near, "far": np.where(near_is_from, cn.t[row], cn.f[row]),
            "near_is_from": near_is_from, "y": admittances(cn, row, near_is_from),
            "vse_max": u.vse_max_pu.to_numpy(float), "x_sh": u.x_sh_pu.to_numpy(float),
            "v_sh_max": u.v_sh_max_pu.to_numpy(float), "s_max": u.s_sh_max_mva.to_numpy(float) / base,
            "p_dc_max": u.p_dc_max_mw.to_numpy(float) / base, "q_cost_mvar": u.q_cost_mvar.to_numpy(float),
            "vse_re": u.vse_re_pu.to_numpy(float), "vse_im": u.vse_im_pu.to_numpy(float),
            "q_sh": u.q_sh_mvar.to_numpy(float) / base}


def dc_current(p_rect: np.ndarray, u_d: np.ndarray, r_d: np.ndarray) -> np.ndarray:
    """DC current (p.u. of rated) for rectifier power ``p_rect`` (p.u. of rated) and inverter voltage ``u_d``."""
    p_rect, u_d, r_d = np.broadcast_arrays(np.asarray(p_rect, float), np.asarray(u_d, float), np.asarray(r_d, float))
    with np.errstate(invalid="ignore", divide="ignore"):
        i = np.where(r_d > 0, (-u_d + np.sqrt(u_d**2 + 4 * r_d * p_rect)) / (2 * np.where(r_d > 0, r_d, 1.0)),
                     p_rect / u_d)
    return i


def ratio_k(x: float, p: float, u_d: float, gamma_nom_deg: float) -> float:
    """Converter transformer ratio k giving γ = γ_nom at U_s = 1 p.u. and power ``p`` (system p.u.)."""
    t = np.tan(np.deg2rad(gamma_nom_deg))
    a, b = x * p * t, x * p
    disc = (1 - 2 * a) ** 2 - 4 * (a * a + b * b)
    if disc < 0:
        raise ValueError("no converter state at 1.0 p.u.: the commutation reactance and power are too large")
    uc2 = ((1 - 2 * a) + np.sqrt(disc)) / 2
    return float(u_d / (np.sqrt(uc2) * np.cos(np.deg2rad(gamma_nom_deg))))


def converter_state(u_s: float, p: float, x: float, k: float, u_d: float) -> dict[str, float]:
    """The bridge's ``u_c``, ``delta`` (rad, θ_s - θ_c, for power ``p`` into the AC side; use -p for a rectifier),
    the angle ``angle_deg`` (γ or α) and ``q_s`` (reactive power absorbed from the bus), all system p.u.

    NaN everywhere when no angle in (0, 89] degrees satisfies the equations.
    """
    xp = x * abs(p)

    def g(gam: float) -> float:
        uc = u_d / (k * np.cos(gam))
        return (uc * uc + xp * np.tan(gam)) ** 2 + xp * xp - (u_s * uc) ** 2

    lo, hi = 1e-6, np.deg2rad(89.0)
    if not (np.isfinite(u_s) and u_s > 0) or g(lo) * g(hi) > 0:
        return {"u_c": np.nan, "delta": np.nan, "angle_deg": np.nan, "q_s": np.nan}
    gam = brentq(g, lo, hi, xtol=1e-14, rtol=1e-14)
    uc = u_d / (k * np.cos(gam))
    delta = float(np.arcsin(np.clip(-x * p / (u_s * uc), -1, 1)))
    return {"u_c": float(uc), "delta": delta, "angle_deg": float(np.rad2deg(gam)),
            "q_s": float((u_s * u_s - u_s * uc * np.cos(delta)) / x)}


def link_data(net: Network, periods: int | None = None, rectifier: bool = True) -> dict[str, np.ndarray]:
    """Per link (in-service rows, table order): system-base ``x``, ``k``, ``p_inv`` (system p.u., links x periods
    or links), ``i_d``, ``u_d``, ``u_dr`` (p.u. of rated) and, with ``rectifier``, the rectifier's firing angle
    ``alpha_deg`` (a root search per link and period; the models do not need it)."""
    h = net.hvdc[net.hvdc.in_service.to_numpy(bool)]
    base = net.sn_mva
    rated = h.p_rated_mw.to_numpy(float)
    p_mw = values(net, "hvdc", "p_mw", periods)[net.hvdc.in_service.to_numpy(bool)] if periods is not None \
        else h.p_mw.to_numpy(float)
    scale = (rated / base).reshape(-1, 1) if np.ndim(p_mw) == 2 else rated / base
    u_d, r_d = h.u_d_pu.to_numpy(float), h.r_d_pu.to_numpy(float)
    col = (lambda a: a.reshape(-1, 1)) if np.ndim(p_mw) == 2 else (lambda a: a)
    i_d = dc_current(p_mw / col(rated), col(u_d), col(r_d))
    x = h.x_c_pu.to_numpy(float) * base / rated
    k = np.array([ratio_k(x[j], rated[j] / base * u_d[j] * float(dc_current(1.0, u_d[j], r_d[j])), u_d[j],
                          h.gamma_nom_deg.iat[j]) for j in range(len(h))])
    u_dr = col(u_d) + col(r_d) * i_d
    p_rect = u_dr * i_d * scale
    alpha = None
    if rectifier:
        alpha = np.vectorize(lambda j, pr, ud: converter_state(h.v_rect_pu.iat[j], -pr, x[j], k[j], ud)["angle_deg"])(
            np.arange(len(h)).reshape(-1, 1) if np.ndim(p_mw) == 2 else np.arange(len(h)), p_rect, u_dr)
    return {"index": h.index.to_numpy(), "x": x, "k": k, "u_d": u_d, "i_d": i_d, "u_dr": u_dr,
            "p_inv": col(u_d) * i_d * scale, "p_rect": p_rect, "alpha_deg": alpha}



__all__ = ["admittances", "converter_state", "dc_current", "injections", "link_data", "q_limit", "ratio_k",
           "upfc_arrays"]
