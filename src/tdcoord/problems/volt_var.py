"""Volt/var scheduling of an AC (or AC/DC) grid over a short horizon (seed 004).

One recipe, two objectives, on the ``acp`` formulation with every device
of :mod:`tdcoord.devices` (tap changers, capacitor banks, UPFCs, LCC-HVDC
terminals, PV at its own power factor); machines hold their voltage
set-points within their reactive limits; bus voltages stay in their limits.

``objective="slow"`` (seed 004, Eqs. (18), (26), (27)), per horizon of T periods
of ``dt_h`` hours::

    sum_t pi dt P_loss,t  +  W_OLTC sum tap_cost |n_t - n_{t-1}|
        + W_CB sum switch_cost |s_t - s_{t-1}|  +  W_UPFC dt sum c |Q_sh,t|

with the taps' and steps' per-period move limits (Eqs. (29), (31)).

``objective="fast"`` (Eq. (38)), taps and steps fixed, the UPFCs' outputs
the only decisions::

    sum_t sum_i |V_i,t - V_ref| + |V_i,t - V_i,t-1|

(``V_i,-1`` the voltages before the horizon) written exactly with
auxiliary variables ``d >= +-(...)``, plus a regularization of 1e-4 times
the UPFC cost so that the optimum is unique.

With ``soft_band`` (the default) the bus voltage limits are soft: a
violation ``s >= 0`` of the band costs :data:`BAND_PENALTY` per p.u. and
period (objective term ``band_violation``), far above any other term, so
the model stays solvable when the controls cannot reach the band (a
horizon that starts far from it, with move limits) and the optimum keeps
every voltage inside whenever that is possible. Machine buses hold their
set-points in either case.

Tap positions and capacitor steps are continuous in the model (the
relaxation); :func:`tdcoord.coordination.volt_var.solve_slow` makes them
integer. Fixing them (fast scale, discrete search) uses
:func:`fix_discrete`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tdcoord.devices import DeviceOptions, build_devices
from tdcoord.network.compiled import PV, REF, compile_network
from tdcoord.network.network import Network
from tdcoord.network.timeseries import bus_values, n_periods
from tdcoord.network.validate import validate
from tdcoord.problems.rpo import cost_sum, device_free_network

PREFIX = "vv"
TAP_BLOCK = f"{PREFIX}.trafo_tap_pos"
STEP_BLOCK = f"{PREFIX}.shunt_step"
DEVICE_COSTS = ("tap_cost", "switch_cost", "upfc_cost")
BAND_PENALTY = 1e6
SOFT_RANGE = (0.7, 1.3)


@dataclass
class VoltVarWeights:
    """The cost weights W_OLTC, W_CB, W_UPFC (seed 004, Eq. (25)) and the loss price (per MWh)."""

    oltc: float = 1.0
    cb: float = 1.0
    upfc: float = 1.0
    loss_price: float = 450.0

    def as_dict(self) -> dict[str, float]:
        return {"oltc": self.oltc, "cb": self.cb, "upfc": self.upfc, "loss_price": self.loss_price}


@dataclass
class VoltVarModel:
    """A built volt/var model: builder, formulation, devices."""

    b: Any
    form: Any
    devices: list
    net: Network
    cn: Any
    periods: int
    dt_h: float
    objective: str
    build_s: float
    info: dict[str, Any] = field(default_factory=dict)

    def block(self, name: str) -> bool:
        return name in self.b.blocks


def build_volt_var(net: Network, *, objective: str = "slow", periods: int | None = None, dt_h: float = 1.0,
                   weights: VoltVarWeights | None = None, vm_ref: float = 1.0, vm_prev: np.ndarray | None = None,
                   steps: str = "continuous", soft_band: bool = True) -> VoltVarModel:
    """The model of the module docstring for the time series attached to ``net`` (one column per period)."""
    from tdcoord.backends import new_builder
    from tdcoord.formulations.acp import AcpFormulation

    if objective not in ("slow", "fast"):
        raise ValueError(f"objective must be 'slow' or 'fast', got {objective!r}")
    t0 = time.perf_counter()
    w = weights or VoltVarWeights()
    T = n_periods(net) if periods is None else int(periods)
    T = max(T, 1)
    validate(net, radial=False)
    cn = compile_network(device_free_network(net))
    b = new_builder("nlp", f"volt_var_{net.name}")
    vm_min, vm_max = cn.vm_min.copy(), cn.vm_max.copy()
    if soft_band:
        form = AcpFormulation(b, cn, PREFIX, periods=T, vm_min=np.full(cn.n_bus, SOFT_RANGE[0]),
                              vm_max=np.full(cn.n_bus, SOFT_RANGE[1]))
    else:
        form = AcpFormulation(b, cn, PREFIX, periods=T)
    devices = build_devices(b, form, net, cn, PREFIX, DeviceOptions(free_p=False, steps=steps, dt_h=dt_h))
    base = cn.base_mva
    p_load = b.parameter(f"{PREFIX}.p_load", bus_values(net, cn, "load", "p_mw", T, 1 / base))
    q_load = b.parameter(f"{PREFIX}.q_load", bus_values(net, cn, "load", "q_mvar", T, 1 / base))
    zero = b.ops.zeros(cn.n_bus, T)
    p_dev = sum((d.p_bus for d in devices if d.p_bus is not None), zero) - p_load
    q_dev = sum((d.q_bus for d in devices if d.q_bus is not None), zero) - q_load
    form.constraint_power_balance(p_dev, q_dev)
    form.constraint_thermal_limits("mva")
    _hold_setpoints(b, form, cn)
    if soft_band:
        o = b.ops
        viol = b.variable(f"{PREFIX}.band_violation", (cn.n_bus, T), 0.0, np.inf, 0.0)
        b.constraint_ineq(f"{PREFIX}.band_low", form.vm() + viol - form.columns(vm_min), 0.0, np.inf)
        b.constraint_ineq(f"{PREFIX}.band_high", form.vm() - viol - form.columns(vm_max), -np.inf, 0.0)
        b.objective_term("band_violation", o.sum(viol), BAND_PENALTY)
    costs = {k: cost_sum(devices, k) for k in DEVICE_COSTS}
    if objective == "slow":
        b.objective_term("loss_cost", form.objective_losses() * base, w.loss_price * dt_h)
        b.objective_term("tap_cost", costs["tap_cost"], w.oltc)
        b.objective_term("switch_cost", costs["switch_cost"], w.cb)
        b.objective_term("upfc_cost", costs["upfc_cost"], w.upfc * dt_h)
    else:
        b.objective_term("v_dev", _voltage_deviation(b, form, vm_ref, vm_prev), 1.0)
        b.objective_term("upfc_cost", costs["upfc_cost"], 1e-4 * dt_h)
    m = VoltVarModel(b, form, devices, net, cn, T, dt_h, objective, time.perf_counter() - t0)
    m.info["bounds0"] = {k: (b.blocks[k].lb.copy(), b.blocks[k].ub.copy()) for k in (TAP_BLOCK, STEP_BLOCK)
                         if k in b.blocks}
    return m


def _hold_setpoints(b: Any, form: Any, cn: Any) -> None:
    """Machines hold their voltage set-points (reference and PV buses)."""
    lo = np.repeat(form.vm_min.reshape(-1, 1), form.T, axis=1)
    hi = np.repeat(form.vm_max.reshape(-1, 1), form.T, axis=1)
    for buses, vms in ((cn.gen_bus, cn.gen_vm), (cn.ext_bus, cn.ext_vm)):
        for bus, vm in zip(buses, vms):
            if cn.bus_type[bus] in (PV, REF):
                lo[bus, :] = hi[bus, :] = vm
    b.set_bounds(f"{PREFIX}.vm", lo, hi)


def _voltage_deviation(b: Any, form: Any, vm_ref: float, vm_prev: np.ndarray | None) -> Any:
    """sum |V - V_ref| + |V_t - V_{t-1}| with auxiliary variables (Eq. (38))."""
    o = b.ops
    vm = form.vm()
    nb, T = form.cn.n_bus, form.T
    d_ref = b.variable(f"{PREFIX}.dev_ref", (nb, T), 0.0, np.inf, 0.0)
    b.constraint_ineq(f"{PREFIX}.dev_ref_up", d_ref - (vm - vm_ref), 0.0, np.inf)
    b.constraint_ineq(f"{PREFIX}.dev_ref_down", d_ref + (vm - vm_ref), 0.0, np.inf)
    total = o.sum(d_ref)
    if vm_prev is not None:
        prev = np.asarray(vm_prev, float).reshape(-1, 1)
        first = o.period(vm, 0) - prev
        change = o.hcat([first, vm[:, 1:] - vm[:, :-1]]) if T > 1 else first
        d_ch = b.variable(f"{PREFIX}.dev_change", (nb, T), 0.0, np.inf, 0.0)
        b.constraint_ineq(f"{PREFIX}.dev_change_up", d_ch - change, 0.0, np.inf)
        b.constraint_ineq(f"{PREFIX}.dev_change_down", d_ch + change, 0.0, np.inf)
        total = total + o.sum(d_ch)
    return total


def fix_discrete(m: VoltVarModel, taps: np.ndarray | None, steps: np.ndarray | None) -> None:
    """Fix tap positions and capacitor steps (devices x periods, or devices: every period) by their bounds;
    ``None`` frees them within their limits again."""
    for name, value in ((TAP_BLOCK, taps), (STEP_BLOCK, steps)):
        if name not in m.b.blocks:
            continue
        if value is None:
            m.b.set_bounds(name, *m.info["bounds0"][name])
        else:
            v = np.asarray(value, float)
            v = np.repeat(v.reshape(-1, 1), m.periods, axis=1) if v.ndim == 1 else v
            m.b.set_bounds(name, v, v)


__all__ = ["DEVICE_COSTS", "PREFIX", "STEP_BLOCK", "TAP_BLOCK", "VoltVarModel", "VoltVarWeights",
           "build_volt_var", "fix_discrete"]
