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
every voltage inside whenever that is possible.

Machines behave as their voltage regulators make them, as in the power
flow: a machine with reactive limits holds its set-point (PV) unless it is
at a limit, where its voltage may leave the set-point (PQ): below it only
at the upper limit, above it only at the lower one. This is written as the
complementarity ``d_down (Q_max - Q) <= eps``, ``d_up (Q - Q_min) <= eps``
with ``V = V_set - d_down + d_up`` (eps :data:`COMPLEMENTARITY_EPS`), so
the optimizer may choose a state with a machine at its limit when that is
cheaper, as the power flow would have it. Sources without reactive limits
hold their set-points. Without ``soft_band`` every machine holds its
set-point.

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
import scipy.sparse as sp

from tdcoord.devices import DeviceOptions, build_devices
from tdcoord.devices.base import columns
from tdcoord.network.compiled import PV, REF, compile_network
from tdcoord.network.network import Network
from tdcoord.network.timeseries import bus_values, n_periods
from tdcoord.network.validate import validate
from tdcoord.problems.rpo import cost_sum, device_free_network
from tdcoord.problems.scheduling import Schedule, constraint_balance_with_loads

PREFIX = "vv"
TAP_BLOCK = f"{PREFIX}.trafo_tap_pos"
STEP_BLOCK = f"{PREFIX}.shunt_step"
DEVICE_COSTS = ("tap_cost", "switch_cost", "upfc_cost")
#: IPOPT options of these models: a small model solved hundreds of times, each solve warm-started from the last
#: horizon's solution (shifted by a period): SX evaluation (``expand``) and IPOPT's warm start from a barrier
#: parameter of 1e-3 (measured on the 30-bus day: about 18 iterations per fast step instead of 17-28 cold; of the
#: starting barriers tried, 1e-3 with pushes of 1e-5 took the fewest)
SOLVER_OPTIONS: dict[str, Any] = {
    "expand": True, "ipopt.warm_start_init_point": "yes", "ipopt.mu_init": 1e-3,
    "ipopt.warm_start_bound_push": 1e-5, "ipopt.warm_start_mult_bound_push": 1e-5,
    "ipopt.warm_start_slack_bound_push": 1e-5,
    # MUMPS without its (permuting) scaling and with AMD ordering: the p.u. KKT systems of these small models
    # need neither, and the day's ~440 solves take about 20 % less time (same iterates to the printed digits)
    "ipopt.mumps_permuting_scaling": 0, "ipopt.mumps_scaling": 0, "ipopt.mumps_pivot_order": 0}
BAND_PENALTY = 1e6
SETPOINT_PENALTY = 1.0  # per p.u. and period: picks among equal optima; the complementarity decides
COMPLEMENTARITY_EPS = 1e-8  # p.u.^2
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
class VoltVarModel(Schedule):
    """A built volt/var model: a multi-period model (:class:`~tdcoord.problems.scheduling.Schedule`) with its
    objective (``slow`` or ``fast``) and what re-solves need (``info["bounds0"]``: the taps' and steps' bounds)."""

    objective: str = "slow"
    info: dict[str, Any] = field(default_factory=dict)


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
    b.build_options = dict(SOLVER_OPTIONS)
    vm_min, vm_max = cn.vm_min.copy(), cn.vm_max.copy()
    if soft_band:
        form = AcpFormulation(b, cn, PREFIX, periods=T, vm_min=np.full(cn.n_bus, SOFT_RANGE[0]),
                              vm_max=np.full(cn.n_bus, SOFT_RANGE[1]))
    else:
        form = AcpFormulation(b, cn, PREFIX, periods=T)
    devices = build_devices(b, form, net, cn, PREFIX, DeviceOptions(free_p=False, steps=steps, dt_h=dt_h))
    base = cn.base_mva
    constraint_balance_with_loads(b, form, net, cn, devices, PREFIX, T)
    _hold_setpoints(b, form, cn, soft_band, devices)
    if soft_band:
        o = b.ops
        viol = b.variable(f"{PREFIX}.band_violation", (cn.n_bus, T), 0.0, np.inf, 0.0)
        b.constraint_ineq(f"{PREFIX}.band_low", form.vm() + viol - form.columns(vm_min), 0.0, np.inf)
        b.constraint_ineq(f"{PREFIX}.band_high", form.vm() - viol - form.columns(vm_max), -np.inf, 0.0)
        b.objective_term("band_violation", o.sum(viol), BAND_PENALTY)
    costs = {k: cost_sum(devices, k) for k in DEVICE_COSTS}
    if objective == "slow":
        for term, expr, value in (("loss_cost", form.objective_losses() * base, w.loss_price * dt_h),
                                  ("tap_cost", costs["tap_cost"], w.oltc), ("switch_cost", costs["switch_cost"], w.cb),
                                  ("upfc_cost", costs["upfc_cost"], w.upfc * dt_h)):
            b.parameter(f"{PREFIX}.w_{term}", value)  # weights are parameters: set_weights changes them
            b.objective_term(term, expr, f"{PREFIX}.w_{term}")
    else:
        b.objective_term("v_dev", _voltage_deviation(b, form, vm_ref, vm_prev), 1.0)
        b.objective_term("upfc_cost", costs["upfc_cost"], 1e-4 * dt_h)
    m = VoltVarModel(b, form, devices, net, cn, T, dt_h, time.perf_counter() - t0, objective)
    m.info["bounds0"] = {k: (b.blocks[k].lb.copy(), b.blocks[k].ub.copy()) for k in (TAP_BLOCK, STEP_BLOCK)
                         if k in b.blocks}
    return m


def _hold_setpoints(b: Any, form: Any, cn: Any, soft: bool, devices: list) -> None:
    """Machines hold their voltage set-points as their voltage regulators do (module docstring).

    A machine with finite reactive limits (``soft``) is PV or PQ as in the power flow: its bus voltage is
    ``V_set - d_down + d_up`` with ``d_down, d_up >= 0``, and it may fall below the set-point only at its upper
    reactive limit, rise above it only at its lower one, ``d_down (Q_max - Q) <= eps``, ``d_up (Q - Q_min) <= eps``
    (complementarity, relaxed by :data:`COMPLEMENTARITY_EPS`). Sources without reactive limits (an external grid, a
    machine with infinite limits) always hold theirs."""
    hard: dict[int, float] = {}
    loose: dict[int, float] = {}
    for k, (bus, vm) in enumerate(zip(cn.gen_bus, cn.gen_vm)):
        if cn.bus_type[bus] in (PV, REF):
            limited = np.isfinite(cn.gen_qmin[k]) and np.isfinite(cn.gen_qmax[k]) and abs(cn.gen_qmax[k]) < 1e6
            (loose if soft and limited else hard)[int(bus)] = float(vm)
    for bus, vm in zip(cn.ext_bus, cn.ext_vm):
        if cn.bus_type[bus] in (PV, REF):
            hard[int(bus)] = float(vm)
    for bus in hard:  # a bus with an unlimited source is held whatever else is there
        loose.pop(bus, None)
    lo = np.repeat(form.vm_min.reshape(-1, 1), form.T, axis=1)
    hi = np.repeat(form.vm_max.reshape(-1, 1), form.T, axis=1)
    for bus, vm in hard.items():
        lo[bus, :] = hi[bus, :] = vm
    b.set_bounds(f"{PREFIX}.vm", lo, hi)
    gens = [d for d in devices if d.ds.kind == "generator" and d.q is not None]
    if not loose or not gens:
        return
    o = b.ops
    g = gens[0]
    buses = np.array(sorted(loose))
    row_of = {int(bus): r for r, bus in enumerate(buses)}
    machines = [k for k, bus in enumerate(g.ds.bus) if int(bus) in row_of]
    pick = sp.csr_matrix((np.ones(len(machines)), ([row_of[int(g.ds.bus[k])] for k in machines], machines)),
                         shape=(len(buses), len(g.ds)))
    q_bus = o.mm(pick, g.q)
    q_max = form.columns(pick @ np.asarray(g.ds.q_max, float))
    q_min = form.columns(pick @ np.asarray(g.ds.q_min, float))
    vset = form.columns(np.array([loose[k] for k in buses]))
    d_down = b.variable(f"{PREFIX}.setpoint_down", (len(buses), form.T), 0.0, np.inf, 0.0)
    d_up = b.variable(f"{PREFIX}.setpoint_up", (len(buses), form.T), 0.0, np.inf, 0.0)
    b.constraint_eq(f"{PREFIX}.setpoint", o.take(form.vm(), buses) - vset + d_down - d_up)
    b.constraint_ineq(f"{PREFIX}.pq_at_q_max", d_down * (q_max - q_bus), -np.inf, COMPLEMENTARITY_EPS)
    b.constraint_ineq(f"{PREFIX}.pq_at_q_min", d_up * (q_bus - q_min), -np.inf, COMPLEMENTARITY_EPS)
    b.objective_term("setpoint_deviation", o.sum(d_down + d_up), SETPOINT_PENALTY)


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
        prev = b.parameter(f"{PREFIX}.vm_prev", np.asarray(vm_prev, float).reshape(-1, 1))
        first = o.period(vm, 0) - prev
        change = o.hcat([first, vm[:, 1:] - vm[:, :-1]]) if T > 1 else first
        d_ch = b.variable(f"{PREFIX}.dev_change", (nb, T), 0.0, np.inf, 0.0)
        b.constraint_ineq(f"{PREFIX}.dev_change_up", d_ch - change, 0.0, np.inf)
        b.constraint_ineq(f"{PREFIX}.dev_change_down", d_ch + change, 0.0, np.inf)
        total = total + o.sum(d_ch)
    return total


def refresh(m: VoltVarModel, net: Network, vm_prev: np.ndarray | None = None) -> None:
    """Re-use a built model for another horizon of the same system: ``net`` (same elements, same number of
    periods) gives the new loads, PV, HVDC schedules, and the tap positions and steps before the horizon (its
    tables) and the machines' outputs; ``vm_prev`` the voltages before a fast horizon. Bounds set by
    :func:`fix_discrete` are kept."""
    from tdcoord.devices import all_device_sets

    b, cn, T = m.b, m.cn, m.periods
    base = cn.base_mva
    b.set_parameter(f"{PREFIX}.p_load", bus_values(net, cn, "load", "p_mw", T, 1 / base))
    b.set_parameter(f"{PREFIX}.q_load", bus_values(net, cn, "load", "q_mvar", T, 1 / base))
    sets = all_device_sets(net, cn, T)
    if [(d.kind, len(d)) for d in sets] != [(d.ds.kind, len(d.ds)) for d in m.devices]:
        raise ValueError(f"network {net.name!r} has other devices than the model was built for")
    for ds in sets:
        x = ds.extra
        if ds.kind == "generator":  # machines' outputs may follow a series (a dispatch); the slack's stays free
            free = ds.p_free.reshape(-1, 1)
            p, lo, hi = columns(ds.p, T), columns(ds.p_min, T), columns(ds.p_max, T)
            b.set_bounds(f"{PREFIX}.gen_p", np.where(free, lo, p), np.where(free, hi, p))
        elif ds.kind == "inverter":
            b.set_bounds(f"{PREFIX}.sgen_p", ds.p, ds.p)
            b.set_bounds(f"{PREFIX}.sgen_q", ds.q_min, ds.q_max)
        elif ds.kind == "hvdc":
            b.set_parameter(f"{PREFIX}.hvdc_p_ac", np.asarray(ds.p, float).reshape(len(ds), -1))
        elif ds.kind == "oltc":
            b.set_parameter(f"{PREFIX}.trafo_tap_pos0", x["n0"])
            _set_limit(b, f"{PREFIX}.trafo_tap_change.limit", x["max_change"], T)
        elif ds.kind == "capacitor" and f"{PREFIX}.shunt_step0" in b.params:
            b.set_parameter(f"{PREFIX}.shunt_step0", x["step0"])
            _set_limit(b, f"{PREFIX}.shunt_step_change.limit", x["max_step_change"], T)
    if vm_prev is not None and f"{PREFIX}.vm_prev" in b.params:
        b.set_parameter(f"{PREFIX}.vm_prev", np.asarray(vm_prev, float).reshape(-1, 1))
    m.net = net


def set_weights(m: VoltVarModel, w: VoltVarWeights) -> None:
    """New weights for a built slow-step model."""
    for term, value in (("loss_cost", w.loss_price * m.dt_h), ("tap_cost", w.oltc), ("switch_cost", w.cb),
                        ("upfc_cost", w.upfc * m.dt_h)):
        m.b.set_parameter(f"{PREFIX}.w_{term}", value)


def _set_limit(b: Any, name: str, limit: np.ndarray, T: int) -> None:
    if name in b.params:
        rows = np.flatnonzero(np.isfinite(limit))
        b.set_parameter(name, np.repeat(limit[rows].reshape(-1, 1), T, axis=1))


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
           "build_volt_var", "fix_discrete", "refresh", "set_weights"]
