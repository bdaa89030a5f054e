"""Unified power flow controllers, in the power-injection model.

A UPFC sits in a line at one of its ends, the *near* bus n (its shunt
converter's bus); m is the line's far end. Its series converter inserts a
voltage ``V_se = e + j f`` between bus n and the line, so the line sees
``V_n + V_se`` at that end; its shunt converter exchanges the series
converter's active power with bus n through the DC link (lossless) and
injects a reactive power ``Q_sh`` of its own. With the line's pi-model
admittances ``y_nn, y_nm, y_mn, y_mm`` (the near end's charging is on the
line side of the series source), the line current leaving the near end is
``I_n = y_nn (V_n + V_se) + y_nm V_m`` and the device is equivalent to the
injections (the line itself stays in the network's admittance matrix):

    S_m = -V_m conj(y_mn V_se)
    S_n = -V_n conj(y_nn V_se) - P_se + j Q_sh,   P_se = Re(V_se conj(I_n))

Limits (seed 004, Eqs. (10)-(12) and (32)-(34), Table 2):

- ``|V_se| <= vse_max_pu``;
- ``|Q_sh| <= V_n |V_n - U_sh,max| / X_sh`` (Eq. (12), with the shunt
  converter's largest voltage ``v_sh_max_pu`` and coupling reactance
  ``x_sh_pu``);
- ``P_se^2 + Q_sh^2 <= S_sh,max^2`` (the shunt converter's rating) and
  ``|P_se| <= p_dc_max_mw`` (the DC link).

What a UPFC contributes, per formulation:

========= ============================================= ======================
where     variables and constraints                     objective terms
========= ============================================= ======================
acp       ``vse_re``, ``vse_im``, ``q_sh``; the limits  ``upfc_cost``: q_cost
          above; the injections S_n, S_m; the line's     _mvar |Q_sh| (Mvar)
          true end flows for its rating and values
          (``expression_series_source``)
other     not available (InputError): the series        -
          source needs voltage angles and magnitudes
========= ============================================= ======================

:func:`tdcoord.network.acdc.injections` is the one place the injection
formulas are written: the optimization model evaluates it on casadi
expressions, the power flow (:mod:`tdcoord.pf.acdc`) on numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars, injection
from tdcoord.errors import InputError
from tdcoord.network.acdc import admittances, injections, q_limit, upfc_arrays
from tdcoord.network.compiled import CompiledNetwork
from tdcoord.network.network import Network


def device_sets(net: Network, cn: CompiledNetwork, periods: int | None = None) -> list[DeviceSet]:
    if not len(net.upfc):
        return []
    d = upfc_arrays(net, cn)
    n = len(d["index"])
    if not n:
        return []
    return [DeviceSet(
        kind="upfc", table="upfc", index=d["index"], bus=d["near"], subtype=np.array(["upfc"] * n, dtype=object),
        q0=d["q_sh"], q_min=-d["s_max"], q_max=d["s_max"], cost=np.zeros(n), response_ms=np.full(n, 20.0),
        base_mva=cn.base_mva, p=np.zeros(n),
        extra={**d, "vse_re0": d["vse_re"], "vse_im0": d["vse_im"]},
    )]


def build_upfc(b: Any, form: Any, ds: DeviceSet, prefix: str, opts: DeviceOptions) -> DeviceVars:
    """Series voltage, shunt reactive output, their limits and the bus injections (module docstring)."""
    if not hasattr(form, "va_var") or form.family != "ac" or getattr(form, "radial", False):
        raise InputError(f"upfc {', '.join(map(str, ds.index))}: a UPFC needs the acp formulation "
                         f"(voltage magnitudes and angles), not {form.name!r}")
    x = ds.extra
    o = b.ops
    n, nb = len(ds), form.cn.n_bus
    shape = form.shape(n)
    vmax = x["vse_max"]
    e = b.variable(f"{prefix}.upfc_vse_re", shape, -vmax, vmax, x["vse_re0"])
    f = b.variable(f"{prefix}.upfc_vse_im", shape, -vmax, vmax, x["vse_im0"])
    q_sh = b.variable(f"{prefix}.upfc_q_sh", shape, ds.q_min, ds.q_max, np.clip(ds.q0, ds.q_min, ds.q_max))
    b.constraint_ineq(f"{prefix}.upfc_vse_max", e * e + f * f - form.columns(vmax**2), -np.inf, 0.0)
    vm, va = form.vm(), form.va_var
    vm_n, va_n = o.take(vm, ds.bus), o.take(va, ds.bus)
    vm_m, va_m = o.take(vm, x["far"]), o.take(va, x["far"])
    import casadi as ca

    inj = injections(vm_n, va_n, vm_m, va_m, e, f, q_sh, x["y"], o.rows, ca.cos, ca.sin)
    qlim = q_limit(vm_n, x["v_sh_max"], x["x_sh"], o.rows)
    b.constraint_ineq(f"{prefix}.upfc_q_sh_up", q_sh - qlim, -np.inf, 0.0)
    b.constraint_ineq(f"{prefix}.upfc_q_sh_down", q_sh + qlim, 0.0, np.inf)
    b.constraint_ineq(f"{prefix}.upfc_rating", inj["p_se"] * inj["p_se"] + q_sh * q_sh - form.columns(x["s_max"] ** 2),
                      -np.inf, 0.0)
    lim = np.flatnonzero(np.isfinite(x["p_dc_max"]))
    if len(lim):
        b.constraint_ineq(f"{prefix}.upfc_p_dc", o.take(inj["p_se"], lim), -form.columns(x["p_dc_max"][lim]),
                          form.columns(x["p_dc_max"][lim]))
    nif = x["near_is_from"].astype(float)
    sel = {"near": nif, "far": 1.0 - nif}  # rows whose near end is the branch's from end, and the others
    flows = {"pf": o.rows(sel["near"], inj["p_line_n"]) + o.rows(sel["far"], inj["p_line_m"]),
             "qf": o.rows(sel["near"], inj["q_line_n"]) + o.rows(sel["far"], inj["q_line_m"]),
             "pt": o.rows(sel["far"], inj["p_line_n"]) + o.rows(sel["near"], inj["p_line_m"]),
             "qt": o.rows(sel["far"], inj["q_line_n"]) + o.rows(sel["near"], inj["q_line_m"])}
    form.expression_series_source(x["row"], flows, inj["p_n"] + inj["p_m"])
    far = sp.csr_matrix((np.ones(n), (x["far"], np.arange(n))), shape=(nb, n))
    p_bus = injection(b, ds, nb, inj["p_n"]) + o.mm(far, inj["p_m"])
    q_bus = injection(b, ds, nb, inj["q_n"]) + o.mm(far, inj["q_m"])
    other = {"vse_re": e, "vse_im": f, "q_sh": q_sh, "p_se": inj["p_se"], "q_se": inj["q_se"]}
    costs: dict[str, Any] = {}
    if np.any(x["q_cost_mvar"] > 0):
        # |Q_sh| as q_up + q_down with q_sh = q_up - q_down, both >= 0 (exact at an optimum that prices them)
        q_up = b.variable(f"{prefix}.upfc_q_up", shape, 0.0, np.inf, np.maximum(ds.q0, 0.0))
        q_down = b.variable(f"{prefix}.upfc_q_down", shape, 0.0, np.inf, np.maximum(-ds.q0, 0.0))
        b.constraint_eq(f"{prefix}.upfc_q_split", q_sh - q_up + q_down)
        costs["upfc_cost"] = o.sum(o.rows(x["q_cost_mvar"] * ds.base_mva, q_up + q_down))
        other["q_abs"] = q_up + q_down
    return DeviceVars(ds, q_sh, None, p_bus, q_bus, other=other, costs=costs)


__all__ = ["admittances", "build_upfc", "device_sets", "injections", "q_limit"]
