"""Point-to-point LCC-HVDC links with one terminal in the modelled grid.

The modelled terminal is the inverter at ``bus``; the rectifier sits behind
an equivalent AC source of ``v_rect_pu`` outside the grid. Control modes
(seed 004, section 4.1): the rectifier holds the DC power ``p_mw`` (its
time series is the schedule), the inverter holds the DC voltage ``u_d_pu``.
The DC line (resistance ``r_d_pu``) then fixes the DC current,

    (U_d + R_d I_d) I_d = P_rect   ->   P_inv = U_d I_d  (into the AC grid)

Each converter is an ideal bridge behind its commutation reactance ``X``
(seed 004, Eqs. (4)-(6) with R = 0): with the AC bus at ``U_s∠θ_s`` and the
bridge's AC side at ``U_c∠θ_c``, δ = θ_s - θ_c,

    P_s = U_s U_c sin δ / X                    (active power into the converter)
    Q_s = (U_s^2 - U_s U_c cos δ) / X          (reactive power it absorbs)
    Q_c = (U_s U_c cos δ - U_c^2) / X = |P| tan γ   (the bridge's own need)
    k U_c cos γ = U_d                          (Eq. (6): P_c = P_d)

where γ is the inverter's extinction angle (the rectifier's firing angle α
in the same equations) and ``k`` the converter transformer's fixed ratio,
chosen so that γ = ``gamma_nom_deg`` at 1.0 p.u. AC voltage and rated
power. The extinction angle is held in [``gamma_min_deg``,
``gamma_max_deg``] (Eq. (37)): with a fixed converter transformer ratio
this bounds the terminal's AC voltage. The rectifier's firing angle, from
the equivalent source, is reported and checked against [``alpha_min_deg``,
``alpha_max_deg``] when the data are read.

What a link contributes, per formulation:

========= ============================================== ===============
where     variables and constraints                      objective terms
========= ============================================== ===============
acp       ``u_c``, ``delta``, ``cos_gamma`` per period;  -
          the three converter equations; P = P_inv,
          Q = -Q_s at the bus
other     P = P_inv at the bus (reactive power needs     -
          voltage magnitudes and angles)
========= ============================================== ===============

:func:`converter_state` solves the same equations for numbers (start
values, the power flow of :mod:`tdcoord.pf.acdc`, the rectifier check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import brentq

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, injection
from tdcoord.errors import InputError
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network
from tdcoord.network.timeseries import values


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


def link_data(net: Network, periods: int | None = None) -> dict[str, np.ndarray]:
    """Per link (in-service rows, table order): system-base ``x``, ``k``, ``p_inv`` (system p.u., links x periods
    or links), ``i_d``, ``u_d``, ``u_dr`` (p.u. of rated) and the rectifier's firing angle ``alpha_deg``."""
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
    alpha = np.vectorize(lambda j, pr, ud: converter_state(h.v_rect_pu.iat[j], -pr, x[j], k[j], ud)["angle_deg"])(
        np.arange(len(h)).reshape(-1, 1) if np.ndim(p_mw) == 2 else np.arange(len(h)), p_rect, u_dr)
    return {"index": h.index.to_numpy(), "x": x, "k": k, "u_d": u_d, "i_d": i_d, "u_dr": u_dr,
            "p_inv": col(u_d) * i_d * scale, "p_rect": p_rect, "alpha_deg": alpha}


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    h = net.hvdc
    if not len(h):
        return []
    pos = cn.position()
    live = h.in_service.to_numpy(bool)
    if not h.bus[live].isin(pos).all():
        return []
    d = link_data(net, periods)
    n = len(d["index"])
    hh = h[live]
    zeros = np.zeros(n)
    return [DeviceSet(
        kind="hvdc", table="hvdc", index=d["index"], bus=np.array([pos[b] for b in hh.bus]),
        subtype=np.array(["lcc"] * n, dtype=object), q0=zeros, q_min=zeros, q_max=zeros, cost=zeros,
        response_ms=np.full(n, 100.0), base_mva=cn.base_mva, p=d["p_inv"],
        extra={**d, "cos_gamma_min": np.cos(np.deg2rad(hh.gamma_max_deg.to_numpy(float))),
               "cos_gamma_max": np.cos(np.deg2rad(hh.gamma_min_deg.to_numpy(float)))},
    )]


def build_hvdc(b: Any, form: Any, ds: DeviceSet, prefix: str, opts: DeviceOptions) -> DeviceVars:
    """The converter variables and equations and the terminal's injections (module docstring)."""
    x = ds.extra
    o = b.ops
    nb = form.cn.n_bus
    p = form.columns(ds.p) if form.periods is not None else ds.p
    if not form.reactive:
        return DeviceVars(ds, None, p, injection(b, ds, nb, p), None)
    if not hasattr(form, "va_var") or getattr(form, "radial", False):
        raise InputError(f"hvdc {', '.join(map(str, ds.index))}: an LCC-HVDC terminal needs the acp formulation, "
                         f"not {form.name!r}")
    import casadi as ca

    n = len(ds)
    shape = form.shape(n)
    p_now = np.atleast_2d(np.asarray(p, float).reshape(n, -1))
    start = [converter_state(1.0, float(p_now[j, 0]), x["x"][j], x["k"][j], x["u_d"][j]) for j in range(n)]
    uc = b.variable(f"{prefix}.hvdc_u_c", shape, 0.0, np.inf, np.array([s["u_c"] for s in start]))
    delta = b.variable(f"{prefix}.hvdc_delta", shape, -np.pi / 2, np.pi / 2, np.array([s["delta"] for s in start]))
    cg = b.variable(f"{prefix}.hvdc_cos_gamma", shape, x["cos_gamma_min"], x["cos_gamma_max"],
                    np.clip([np.cos(np.deg2rad(s["angle_deg"])) for s in start], x["cos_gamma_min"],
                            x["cos_gamma_max"]))
    us = o.take(form.vm(), ds.bus)
    xr = x["x"]
    xp = xr.reshape(-1, 1) * np.abs(p_now)  # X |P|, constant (n, T)
    b.constraint_eq(f"{prefix}.hvdc_p", us * uc * ca.sin(delta) + xr.reshape(-1, 1) * p_now)
    b.constraint_eq(f"{prefix}.hvdc_q", (us * uc * ca.cos(delta) - uc * uc) * cg - xp * ca.sqrt(1 - cg * cg))
    b.constraint_eq(f"{prefix}.hvdc_bridge", x["k"].reshape(-1, 1) * uc * cg
                    - np.repeat(x["u_d"].reshape(-1, 1), p_now.shape[1], axis=1))
    q_s = o.rows(1.0 / xr, us * us - us * uc * ca.cos(delta))
    q = -q_s
    return DeviceVars(ds, q, p, injection(b, ds, nb, p), injection(b, ds, nb, q),
                      other={"u_c": uc, "delta": delta, "cos_gamma": cg, "q_s": q_s})


__all__ = ["build_hvdc", "converter_state", "dc_current", "device_sets", "link_data", "ratio_k"]
