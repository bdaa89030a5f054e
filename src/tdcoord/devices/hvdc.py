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
          the three converter equations; P = P_inv
          (parameter ``hvdc_p_ac``), Q = -Q_s at the bus
other     P = P_inv at the bus (reactive power needs     -
          voltage magnitudes and angles)
========= ============================================== ===============

:func:`tdcoord.network.acdc.converter_state` solves the same equations for numbers (start
values, the power flow of :mod:`tdcoord.pf.acdc`, the rectifier check).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, injection
from tdcoord.errors import InputError
from tdcoord.network.acdc import converter_state, dc_current, link_data, ratio_k
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    h = net.hvdc
    if not len(h):
        return []
    pos = cn.position()
    live = h.in_service.to_numpy(bool)
    if not h.bus[live].isin(pos).all():
        return []
    d = link_data(net, periods, rectifier=False)
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
    pp = b.parameter(f"{prefix}.hvdc_p_ac", p_now)  # the inverter's AC power, a parameter: schedules change it
    us = o.take(form.vm(), ds.bus)
    xr = x["x"]
    b.constraint_eq(f"{prefix}.hvdc_p", us * uc * ca.sin(delta) + o.rows(xr, pp))
    b.constraint_eq(f"{prefix}.hvdc_q", (us * uc * ca.cos(delta) - uc * uc) * cg - o.rows(xr, pp) * ca.sqrt(1 - cg * cg))
    b.constraint_eq(f"{prefix}.hvdc_bridge", x["k"].reshape(-1, 1) * uc * cg
                    - np.repeat(x["u_d"].reshape(-1, 1), p_now.shape[1], axis=1))
    p = pp
    q_s = o.rows(1.0 / xr, us * us - us * uc * ca.cos(delta))
    q = -q_s
    return DeviceVars(ds, q, p, injection(b, ds, nb, p), injection(b, ds, nb, q),
                      other={"u_c": uc, "delta": delta, "cos_gamma": cg, "q_s": q_s})


__all__ = ["build_hvdc", "converter_state", "dc_current", "device_sets", "link_data", "ratio_k"]
