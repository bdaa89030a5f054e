"""AC/DC devices of the volt/var study: UPFC, OLTC, capacitor move limits, LCC-HVDC, sequential AC/DC power flow.

Every check is against an independent computation (an explicit circuit solved with scipy, the power flow
re-run on the optimizer's controls, the converter equations written out again), not against tdcoord's
own formulas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import fsolve

from tdcoord.network.network import Network
from tdcoord.pf.ac import run_newton

BASE = 100.0
VN = 110.0
ZB = VN**2 / BASE  # ohm
R_OHM, X_OHM = 5.0, 30.0
LOAD = (60.0, 25.0)  # MW, Mvar at bus 2
VSE = (0.03, -0.05)  # p.u.
Q_SH = 15.0  # Mvar


# --------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def acdc():
    from tdcoord.cases.acdc30 import ieee30_acdc

    return ieee30_acdc()


def two_bus_upfc(b_us: float, reverse: bool, va_deg: float, vse=VSE, q_sh=Q_SH) -> Network:
    """Slack bus 1 (1.02 p.u.), load bus 2, one line, a UPFC at bus 1 with fixed set-points."""
    n = Network("upfc2", sn_mva=BASE)
    n.add_bus(1, VN)
    n.add_bus(2, VN)
    ends = (2, 1) if reverse else (1, 2)
    li = n.add_line(*ends, R_OHM, X_OHM, b_us=b_us)
    n.add_ext_grid(1, vm_pu=1.02, va_deg=va_deg)
    n.add_load(2, *LOAD)
    n.add("upfc", {"line": li, "bus": "1", "vse_re_pu": vse[0], "vse_im_pu": vse[1], "q_sh_mvar": q_sh})
    return n


def explicit_two_bus(b_us: float, va_deg: float, vse=VSE, q_sh=Q_SH) -> dict[str, complex]:
    """The two-bus circuit written out: V1 -> series source Vse -> pi line (charging b/2 at both line terminals)
    -> bus 2 with a constant-power load. Unknown: V2 (re, im); solved by fsolve."""
    z = (R_OHM + 1j * X_OHM) / ZB
    half_b = b_us * 1e-6 * ZB / 2
    v1 = 1.02 * np.exp(1j * np.deg2rad(va_deg))
    v_se = vse[0] + 1j * vse[1]
    s_load = (LOAD[0] + 1j * LOAD[1]) / BASE

    def currents(v2: complex) -> tuple[complex, complex, complex]:
        v1p = v1 + v_se  # the line's terminal at bus 1's end
        i1 = (v1p - v2) / z + 1j * half_b * v1p  # into the line at bus 1's end
        i2 = (v2 - v1p) / z + 1j * half_b * v2  # into the line at bus 2
        return v1p, i1, i2

    def residual(x: np.ndarray) -> list[float]:
        v2 = x[0] + 1j * x[1]
        _, _, i2 = currents(v2)
        mis = v2 * np.conj(i2) + s_load  # what bus 2 sends into the line = - load
        return [mis.real, mis.imag]

    x, info, ier, msg = fsolve(residual, [v1.real, v1.imag], xtol=1e-13, full_output=True)
    assert np.max(np.abs(residual(x))) < 1e-13, msg
    v2 = x[0] + 1j * x[1]
    v1p, i1, i2 = currents(v2)
    s_se = v_se * np.conj(i1)  # the series converter's output into the line
    s_slack = v1 * np.conj(i1) + s_se.real - 1j * q_sh / BASE  # P_se drawn through the shunt converter, Q_sh given
    return {"v1": v1, "v2": v2, "i1": i1, "s_slack": s_slack * BASE, "s_se": s_se * BASE,
            "s_line_1": v1p * np.conj(i1) * BASE, "s_line_2": v2 * np.conj(i2) * BASE}


def fix_block(m, name: str, value) -> None:
    v = np.asarray(value, float).reshape(-1, 1)
    v = np.repeat(v, m.periods, axis=1)
    m.b.set_bounds(name, v, v)


def voltage_errors(m, sol, res, t: int = 0) -> tuple[float, float]:
    """Largest |vm| (p.u.) and angle (rad) differences between a model's period ``t`` and a power flow."""
    vm, va = m.form.bus_values(sol)
    rb = res.res_bus.loc[list(m.cn.labels)]
    return (float(np.max(np.abs(vm[:, t] - rb.vm_pu.to_numpy(float)))),
            float(np.max(np.abs(va[:, t] - np.deg2rad(rb.va_degree.to_numpy(float))))))


def device(m, kind: str):
    return next(d for d in m.devices if d.ds.kind == kind)


# ------------------------------------------------------------------------------------ 1. UPFC, power flow
@pytest.mark.parametrize("b_us, reverse, va_deg", [(0.0, False, 0.0), (150.0, True, 0.0), (150.0, False, -4.0)],
                         ids=["no-charging", "charging-upfc-at-to-end", "charging-slack-angle"])
def test_upfc_power_flow_equals_explicit_two_port(b_us, reverse, va_deg):
    net = two_bus_upfc(b_us, reverse, va_deg)
    res = run_newton(net)
    assert res.converged, res.messages
    ref = explicit_two_bus(b_us, va_deg)

    # bus 2's voltage: 1e-8 p.u. and rad (measured ~2e-10)
    assert abs(res.res_bus.at["2", "vm_pu"] - abs(ref["v2"])) < 1e-8
    assert abs(np.deg2rad(res.res_bus.at["2", "va_degree"]) - np.angle(ref["v2"])) < 1e-8
    # the slack supplies V1 conj(I) + P_se - j Q_sh (MW/Mvar; measured ~1e-7, i.e. 1e-9 p.u.)
    slack = res.res_ext_grid.iloc[0]
    assert abs(slack.p_mw - ref["s_slack"].real) < 1e-6
    assert abs(slack.q_mvar - ref["s_slack"].imag) < 1e-6
    # the series converter's output
    u = res.extra_tables["res_upfc"].iloc[0]
    assert abs(u.p_se_mw - ref["s_se"].real) < 1e-6
    assert abs(u.q_se_mvar - ref["s_se"].imag) < 1e-6
    assert u.p_se_mw > 1.0  # a real exchange through the DC link, not a trivial case
    # the line's true flows: at bus 1's end the line sees V1 + Vse
    row = res.res_line.iloc[0]
    s_from, s_to = (ref["s_line_2"], ref["s_line_1"]) if reverse else (ref["s_line_1"], ref["s_line_2"])
    for col, val in (("p_from_mw", s_from.real), ("q_from_mvar", s_from.imag), ("p_to_mw", s_to.real),
                     ("q_to_mvar", s_to.imag), ("pl_mw", (s_from + s_to).real), ("ql_mvar", (s_from + s_to).imag)):
        assert abs(row[col] - val) < 1e-6, col
    # lossless UPFC: slack P - load P = the line's losses
    assert abs(slack.p_mw - LOAD[0] - row.pl_mw) < 1e-6


def test_upfc_line_currents_are_the_true_currents():
    net = two_bus_upfc(0.0, False, 0.0)
    res = run_newton(net)
    ref = explicit_two_bus(0.0, 0.0)
    i_ka = abs(ref["i1"]) * BASE / (np.sqrt(3) * VN)  # no charging: one current along the line
    row = res.res_line.iloc[0]
    assert abs(row.i_from_ka - i_ka) < 1e-8
    assert abs(row.i_to_ka - i_ka) < 1e-8


# ----------------------------------------------------------------------------- 2. UPFC, optimization model
def three_bus_upfc() -> Network:
    n = Network("upfc3", sn_mva=BASE)
    for b in (1, 2, 3):
        n.add_bus(b, VN, vm_min_pu=0.9, vm_max_pu=1.1)
    li = n.add_line(1, 2, 5.0, 30.0, b_us=100.0)
    n.add_line(2, 3, 4.0, 25.0, b_us=100.0)
    n.add_line(1, 3, 6.0, 35.0, b_us=100.0)
    n.add_ext_grid(1, vm_pu=1.02)
    n.add_load(2, 60.0, 25.0)
    n.add_load(3, 40.0, 10.0)
    n.add("upfc", {"line": li, "bus": "1", "q_cost_mvar": 1.0})
    return n


def model_with_upfc(net, e: float, f: float, q_mvar: float):
    """The volt/var model of ``net`` with the UPFC's set-points fixed by their bounds, and its solution."""
    from tdcoord.problems.volt_var import build_volt_var

    m = build_volt_var(net)
    fix_block(m, "vv.upfc_vse_re", e)
    fix_block(m, "vv.upfc_vse_im", f)
    fix_block(m, "vv.upfc_q_sh", q_mvar / BASE)
    return m, m.b.solve()


def power_flow_with_upfc(net, e: float, f: float, q_mvar: float):
    """The AC/DC power flow of ``net`` with those set-points in the UPFC's row."""
    chk = net.copy()
    chk.upfc.loc[:, ["vse_re_pu", "vse_im_pu", "q_sh_mvar"]] = [e, f, q_mvar]
    return run_newton(chk)


def test_upfc_optimization_model_equals_power_flow_small():
    net = three_bus_upfc()
    e, f, q_mvar = 0.03, -0.05, -12.0  # an absorbing shunt converter: |Q_sh| is priced both ways
    m, sol = model_with_upfc(net, e, f, q_mvar)
    assert sol.ok, sol.solver_status

    res = power_flow_with_upfc(net, e, f, q_mvar)
    assert res.converged
    # measured ~3e-11 p.u., ~2e-10 rad
    d_vm, d_va = voltage_errors(m, sol, res)
    assert d_vm < 1e-6 and d_va < 1e-6
    # the series converter's power in the model and in the power flow
    p_se = float(np.asarray(m.b.evaluate(sol, [device(m, "upfc").other["p_se"]])[0]).ravel()[0]) * BASE
    assert abs(p_se - res.extra_tables["res_upfc"].p_se_mw.iat[0]) < 1e-5
    # the UPFC's cost is q_cost_mvar |Q_sh|
    assert abs(sol.terms["upfc_cost"] - 1.0 * abs(q_mvar)) < 1e-5


def test_upfc_model_loss_term_is_the_true_loss():
    net = three_bus_upfc()
    e, f, q_mvar = 0.03, -0.05, 15.0
    m, sol = model_with_upfc(net, e, f, q_mvar)
    assert sol.ok
    res = power_flow_with_upfc(net, e, f, q_mvar)
    true_loss = res.res_ext_grid.p_mw.sum() - net.load.p_mw.sum()  # lossless UPFC: generation - load
    assert abs(res.p_loss_mw - true_loss) < 1e-6
    assert abs(sol.terms["loss_cost"] - true_loss) < 1e-5  # loss_cost is MW per period (weight: price x dt)


def test_upfc_line_rating_uses_the_true_flow():
    net = three_bus_upfc()
    net.line.loc[int(net.upfc.line.iat[0]), "rate_mva"] = 65.0
    e, f, q_mvar = 0.03, -0.05, 15.0
    res = power_flow_with_upfc(net, e, f, q_mvar)
    row = res.res_line.iloc[0]
    s_true = max(np.hypot(row.p_from_mw, row.q_from_mvar), np.hypot(row.p_to_mw, row.q_to_mvar))
    assert s_true < 63.0  # the true flow is within the rating
    m, sol = model_with_upfc(net, e, f, q_mvar)
    assert sol.ok, sol.solver_status


def test_upfc_optimization_model_equals_power_flow_ieee30(acdc):
    """One period of ieee30-acdc (night: no machine reaches a reactive limit) with every control fixed by its
    bounds (taps, steps, the UPFC's set-points; the HVDC and PV on their schedules): the model's voltages equal
    the AC/DC power flow of the network with those controls written into its tables."""
    from tdcoord.coordination.volt_var import Controls, apply_controls, controls_of, window
    from tdcoord.problems.volt_var import build_volt_var, fix_discrete

    k = 24
    c = Controls(taps=np.array([2.0, -1.0, 3.0, 1.0]), steps=np.array([2.0, 0.0, 3.0, 1.0, 1.0]),
                 q_sh_mvar=np.array([8.0]), vse_re=np.array([0.02]), vse_im=np.array([-0.03]))
    m = build_volt_var(window(acdc, k, 1))
    fix_discrete(m, c.taps, c.steps)
    fix_block(m, "vv.upfc_vse_re", c.vse_re)
    fix_block(m, "vv.upfc_vse_im", c.vse_im)
    fix_block(m, "vv.upfc_q_sh", c.q_sh_mvar / BASE)
    sol = m.b.solve()
    assert sol.ok, sol.solver_status
    assert sol.terms.get("setpoint_deviation", 0.0) < 1e-5  # every machine at its set-point (interior-point noise)

    net = apply_controls(acdc.at_period(k), c)
    back = controls_of(net)
    assert np.array_equal(back.taps, c.taps) and np.array_equal(back.steps, c.steps)
    res = run_newton(net, enforce_q_lims=True)
    assert res.converged and not res.messages, res.messages
    # measured ~2e-11 p.u. / 5e-12 rad
    d_vm, d_va = voltage_errors(m, sol, res)
    assert d_vm < 1e-6 and d_va < 1e-6
    # the slack's supply, the HVDC terminal's and the UPFC's powers in the model and in the power flow
    slack = m.cn.gen_index[np.flatnonzero(m.cn.bus_type[m.cn.gen_bus] == 3)[0]]
    p_gen = np.asarray(sol.x["vv.gen_p"], float).ravel() * BASE
    assert abs(p_gen[list(m.cn.gen_index).index(slack)] - res.res_gen.at[slack, "p_mw"]) < 1e-5
    q_hvdc = float(np.asarray(m.b.evaluate(sol, [device(m, "hvdc").q])[0]).ravel()[0]) * BASE
    assert abs(q_hvdc - res.extra_tables["res_hvdc"].q_mvar.iat[0]) < 1e-5
    p_se = float(np.asarray(m.b.evaluate(sol, [device(m, "upfc").other["p_se"]])[0]).ravel()[0]) * BASE
    assert abs(p_se - res.extra_tables["res_upfc"].p_se_mw.iat[0]) < 1e-5


def test_q_limited_acdc_power_flow_matches_pq_equivalent(acdc):
    """Period 150: the machine at bus 8 needs more than its 40 Mvar to hold 1.03 p.u.; with enforce_q_lims it
    must end at 40 Mvar as a PQ bus, the same state as the network with that machine replaced by a 40 Mvar
    injection (which the volt/var model also finds, to 1e-10)."""
    net = acdc.at_period(150)
    free = run_newton(net)
    g8 = net.gen.index[net.gen.bus == "8"][0]
    assert free.res_gen.at[g8, "q_mvar"] > net.gen.at[g8, "q_max_mvar"] + 1.0  # the limit matters here

    res = run_newton(net, enforce_q_lims=True)
    assert res.converged
    ref_net = net.copy()
    ref_net.gen = ref_net.gen.drop(g8)
    ref_net.add_sgen("8", p_mw=float(net.gen.at[g8, "p_mw"]), q_mvar=float(net.gen.at[g8, "q_max_mvar"]))
    ref = run_newton(ref_net, enforce_q_lims=True)
    assert ref.converged and not ref.messages
    # a consistent PQ state: below the set-point
    assert ref.res_bus.at["8", "vm_pu"] < net.gen.at[g8, "vm_pu"] - 1e-3
    check_q_limited_state(res, net, ref)
    assert any("bus '8'" in msg for msg in res.messages), res.messages


def check_q_limited_state(res, net, ref) -> None:
    # each machine holds its set-point or sits at a reactive limit
    for i, g in net.gen.iterrows():
        q, vm = res.res_gen.at[i, "q_mvar"], res.res_bus.at[g.bus, "vm_pu"]
        at_limit = min(abs(q - g.q_max_mvar), abs(q - g.q_min_mvar)) < 1e-6
        assert at_limit or abs(vm - g.vm_pu) < 1e-8, f"gen {i} at bus {g.bus}: vm {vm:.6f}, q {q:.4f} Mvar"
    assert np.max(np.abs(res.res_bus.vm_pu - ref.res_bus.vm_pu)) < 1e-8


# ---------------------------------------------------------------------------------------------- 3. OLTC
STEP = 0.0125


def oltc_net(tap0: float = 1.0, max_change: float = np.nan, loads: list[float] | None = None,
             band: tuple[float, float] = (0.95, 1.05)) -> Network:
    """110 kV slack -- 110 kV line -- OLTC 110/20 kV (ratio 1 + 1.25 % n, n in -8..8) -- 20 kV line -- load.

    The OLTC's tap side is a load bus (not the slack), so that both its Y_ff and Y_ft/Y_tf scalings enter a
    balance equation."""
    n = Network("oltc", sn_mva=BASE)
    n.add_bus(0, 110.0)
    n.add_bus(1, 110.0)
    n.add_bus(2, 20.0, vm_min_pu=band[0], vm_max_pu=band[1])
    n.add_bus(3, 20.0, vm_min_pu=band[0], vm_max_pu=band[1])
    n.add_ext_grid(0, vm_pu=1.02)
    n.add_line(0, 1, 2.0, 12.0, b_us=30.0)
    n.add_load(1, 5.0, 2.0)
    n.add_trafo(1, 2, 40.0, 0.005, 0.10, tap_pu=tap0, tap_min_pu=1 - 8 * STEP, tap_max_pu=1 + 8 * STEP,
                tap_step_pu=STEP, max_tap_change=max_change, tap_cost=1.0)
    n.add_line(2, 3, 0.3, 0.8, b_us=50.0)
    li = n.add_load(3, 20.0, 8.0)
    if loads is not None:
        p = np.asarray(loads, float)
        n.set_timeseries("load", "p_mw", pd.DataFrame({li: p}))
        n.set_timeseries("load", "q_mvar", pd.DataFrame({li: 0.4 * p}))
    return n


@pytest.mark.parametrize("tap0, n_fixed", [(1.0, -3), (1.0 + 2 * STEP, 5)], ids=["from-neutral", "from-plus-2"])
def test_oltc_fixed_position_equals_power_flow(tap0, n_fixed):
    from tdcoord.problems.volt_var import build_volt_var, fix_discrete

    # a wide band: nothing in the model pulls the slack off its set-point (see the set-point test below)
    net = oltc_net(tap0=tap0, band=(0.8, 1.2))
    m = build_volt_var(net)
    fix_discrete(m, np.array([float(n_fixed)]), None)
    sol = m.b.solve()
    assert sol.ok, sol.solver_status
    assert np.asarray(sol.x["vv.trafo_tap_pos"]).ravel()[0] == n_fixed

    chk = net.copy()
    chk.trafo.loc[:, "tap_pu"] = 1.0 + STEP * n_fixed
    res = run_newton(chk)
    assert res.converged
    # measured ~3e-13
    d_vm, d_va = voltage_errors(m, sol, res)
    assert d_vm < 1e-6 and d_va < 1e-6
    # the slack's supply (the OLTC's losses included)
    p_slack = float(np.asarray(sol.x["vv.ext_grid_p"]).ravel()[0]) * BASE
    q_slack = float(np.asarray(sol.x["vv.ext_grid_q"]).ravel()[0]) * BASE
    assert abs(p_slack - res.res_ext_grid.p_mw.iat[0]) < 1e-5
    assert abs(q_slack - res.res_ext_grid.q_mvar.iat[0]) < 1e-5
    # and not the power flow at the table's ratio: the tap matters here (measured 0.04 p.u.)
    assert voltage_errors(m, sol, run_newton(net))[0] > 1e-2
    # the ratio the model reports for the OLTC's branch
    taps = m.form.branch_ratios(sol)
    row = list(m.cn.br_table).index("trafo")  # the one trafo
    assert abs(taps[row, 0] - (1.0 + STEP * n_fixed)) < 1e-12


def test_unlimited_slack_keeps_its_setpoint():
    from tdcoord.problems.volt_var import build_volt_var, fix_discrete

    net = oltc_net()  # band [0.95, 1.05]: bus 3 is at 0.943 p.u. in the power flow at the neutral tap
    m = build_volt_var(net)
    fix_discrete(m, np.array([0.0]), None)
    sol = m.b.solve()
    assert sol.ok
    vm, _ = m.form.bus_values(sol)
    assert abs(vm[0, 0] - 1.02) < 1e-6  # the ext_grid's bus
    d_vm, _ = voltage_errors(m, sol, run_newton(net))
    assert d_vm < 1e-6


def test_oltc_max_tap_change_binds():
    from tdcoord.problems.volt_var import build_volt_var

    # heavy load; a wide band so that losses alone drive the taps (no band or set-point penalty in play)
    loads, band = [45.0, 45.0, 45.0], (0.8, 1.2)
    free = build_volt_var(oltc_net(loads=loads, band=band), periods=3)
    sol_free = free.b.solve()
    assert sol_free.ok
    n_free = np.asarray(sol_free.x["vv.trafo_tap_pos"], float).reshape(1, -1)
    assert abs(n_free[0, 0]) > 4  # without the limit, the optimum moves far in the first period (to -8)

    limit = 2.0
    m = build_volt_var(oltc_net(loads=loads, max_change=limit, band=band), periods=3)
    sol = m.b.solve()
    assert sol.ok, sol.solver_status
    assert sol.terms.get("setpoint_deviation", 0.0) < 1e-7 and sol.terms["band_violation"] < 1e-7
    n = np.asarray(sol.x["vv.trafo_tap_pos"], float).reshape(1, -1)[0]
    moves = np.abs(np.diff(np.r_[0.0, n]))  # the first period against the table's position 0
    assert np.all(moves <= limit + 1e-7), n
    # the optimum wants -8 throughout, so the limit binds in every period: 0 -> -2 -> -4 -> -6
    assert np.all(np.abs(moves - limit) < 1e-6), n
    assert n[0] < 0


# --------------------------------------------------------------------------------------------- 4. HVDC
def test_hvdc_converter_state_satisfies_equations():
    from tdcoord.devices.hvdc import converter_state, ratio_k

    x, u_d, gamma_nom = 0.25, 1.0, 20.0
    p_rated = 0.6
    k = ratio_k(x, p_rated, u_d, gamma_nom)
    # gamma = gamma_nom at U_s = 1 and rated power
    st = converter_state(1.0, p_rated, x, k, u_d)
    assert abs(st["angle_deg"] - gamma_nom) < 1e-8
    for u_s, p in ((1.0, p_rated), (1.03, 0.45), (0.97, 0.55), (1.05, -0.4)):
        st = converter_state(u_s, p, x, k, u_d)
        uc, d, gam = st["u_c"], st["delta"], np.deg2rad(st["angle_deg"])
        assert np.isfinite(uc) and 0 < gam < np.pi / 2
        p_s = u_s * uc * np.sin(d) / x  # into the converter
        q_c = (u_s * uc * np.cos(d) - uc**2) / x
        assert abs(p_s + p) < 1e-10  # the inverter sends p into the AC bus
        assert abs(q_c - abs(p) * np.tan(gam)) < 1e-10
        assert abs(k * uc * np.cos(gam) - u_d) < 1e-10
        assert abs(st["q_s"] - (u_s**2 - u_s * uc * np.cos(d)) / x) < 1e-12
        # reactive balance through the reactance: Q_s - Q_c = |I|^2 X (the reactance's own absorption)
        i2 = (u_s**2 + uc**2 - 2 * u_s * uc * np.cos(d)) / x**2
        assert abs(st["q_s"] - q_c - i2 * x) < 1e-10
    # a higher AC voltage needs a larger extinction angle (fixed k, fixed U_d)
    assert converter_state(1.03, p_rated, x, k, u_d)["angle_deg"] > gamma_nom + 1.0


def test_hvdc_link_data_rated_point(acdc):
    from tdcoord.devices.hvdc import converter_state, link_data

    h = acdc.hvdc.iloc[0]
    d = link_data(acdc)  # the table's p_mw: 60 MW, the rating
    assert h.p_mw == h.p_rated_mw
    x = h.x_c_pu * acdc.sn_mva / h.p_rated_mw
    assert abs(d["x"][0] - x) < 1e-12
    # DC side: the rectifier's power is the schedule, (U_d + R_d I_d) I_d = P_rect
    assert abs(d["p_rect"][0] * acdc.sn_mva - h.p_mw) < 1e-9
    assert abs((h.u_d_pu + h.r_d_pu * d["i_d"][0]) * d["i_d"][0] - h.p_mw / h.p_rated_mw) < 1e-12
    assert abs(d["p_inv"][0] * acdc.sn_mva - h.u_d_pu * d["i_d"][0] * h.p_rated_mw) < 1e-9
    st = converter_state(1.0, float(d["p_inv"][0]), x, float(d["k"][0]), h.u_d_pu)
    assert abs(st["angle_deg"] - h.gamma_nom_deg) < 1e-8


def test_hvdc_reactive_power_in_power_flow(acdc):
    from tdcoord.devices.hvdc import converter_state, link_data

    net = acdc.at_period(0)
    res = run_newton(net)
    assert res.converged, res.messages
    r = res.extra_tables["res_hvdc"].iloc[0]
    bus = net.hvdc.bus.iat[0]
    vm = res.res_bus.at[bus, "vm_pu"]
    assert r.vm_pu == vm
    d = link_data(net)
    st = converter_state(vm, float(d["p_inv"][0]), float(d["x"][0]), float(d["k"][0]), float(d["u_d"][0]))
    assert abs(r.q_mvar + st["q_s"] * net.sn_mva) < 1e-9
    assert abs(r.gamma_deg - st["angle_deg"]) < 1e-9
    assert r.q_mvar < -10.0  # an LCC inverter absorbs reactive power
    # the terminal's injections are in the bus balance: bus 5 has the HVDC, PV, a load and no machine
    sg = net.sgen[net.sgen.bus == bus]
    ld = net.load[net.load.bus == bus]
    assert abs(res.res_bus.at[bus, "p_mw"] - (r.p_mw + sg.p_mw.sum() - ld.p_mw.sum())) < 1e-6
    assert abs(res.res_bus.at[bus, "q_mvar"] - (r.q_mvar + sg.q_mvar.sum() - ld.q_mvar.sum())) < 1e-6
    assert abs(r.p_mw - d["p_inv"][0] * net.sn_mva) < 1e-9


# ---------------------------------------------------------------------------------------- 5. capacitors
def cap_net(max_step_change: float, loads: list[float], step0: int = 1) -> Network:
    """Slack -- line -- a bus with a poor power-factor load and a 10 x 5 Mvar bank; a wide voltage band, so that
    the losses (and the switching cost) alone decide the steps."""
    n = Network("cap", sn_mva=BASE)
    n.add_bus(1, 110.0)
    n.add_bus(2, 110.0, vm_min_pu=0.8, vm_max_pu=1.2)
    n.add_ext_grid(1, vm_pu=1.0)
    n.add_line(1, 2, 6.0, 40.0)
    li = n.add_load(2, 30.0, 20.0)
    n.add_shunt(2, bs_mvar=5.0, step=step0, max_step=10, controllable=True, max_step_change=max_step_change,
                switch_cost=10.0)
    p = np.asarray(loads, float)
    n.set_timeseries("load", "p_mw", pd.DataFrame({li: p}))
    n.set_timeseries("load", "q_mvar", pd.DataFrame({li: p}))  # pf 0.707: the far bus sags without the bank
    return n


def test_capacitor_max_step_change_and_switch_cost():
    from tdcoord.problems.volt_var import build_volt_var

    loads = [40.0, 40.0, 40.0, 5.0]
    free = build_volt_var(cap_net(np.nan, loads), periods=len(loads))
    sf = free.b.solve()
    assert sf.ok
    s_free = np.asarray(sf.x["vv.shunt_step"], float).reshape(1, -1)[0]
    assert abs(s_free[0] - 1.0) > 3  # without the limit the first period jumps (1 -> 9.0)

    limit = 2.0
    m = build_volt_var(cap_net(limit, loads), periods=len(loads))
    sol = m.b.solve()
    assert sol.ok, sol.solver_status
    assert sol.terms.get("setpoint_deviation", 0.0) < 1e-7 and sol.terms["band_violation"] < 1e-7
    s = np.asarray(sol.x["vv.shunt_step"], float).reshape(1, -1)[0]
    change = np.diff(np.r_[1.0, s])  # the first period against the table's step, 1
    assert np.all(np.abs(change) <= limit + 1e-7), s
    assert abs(change[0] - limit) < 1e-6, s  # binding, up, in the first period
    assert abs(change[-1] + limit) < 1e-6, s  # and binding, down, in the light last period
    # switch_cost counts every step moved, the first period's included
    assert abs(sol.terms["switch_cost"] - 10.0 * np.abs(change).sum()) < 1e-5
    assert abs(sf.terms["switch_cost"] - 10.0 * np.abs(np.diff(np.r_[1.0, s_free])).sum()) < 1e-5


# --------------------------------------------------------------------------------- 6. AC/DC power balance
def test_acdc_power_flow_total_balance(acdc):
    from tdcoord.coordination.volt_var import Controls, apply_controls

    c = Controls(taps=np.array([2.0, -1.0, 3.0, 1.0]), steps=np.array([2.0, 0.0, 3.0, 1.0, 4.0]),
                 q_sh_mvar=np.array([8.0]), vse_re=np.array([0.02]), vse_im=np.array([-0.03]))
    net = apply_controls(acdc.at_period(150), c)
    res = run_newton(net)
    assert res.converged, res.messages
    u = res.extra_tables["res_upfc"].iloc[0]
    assert abs(u.p_se_mw) > 1e-3  # the UPFC exchanges real power

    gen = res.res_gen.p_mw.sum() + res.res_ext_grid.p_mw.sum()
    pv = res.res_sgen.p_mw.sum()
    assert pv > 1.0  # midday: the PV produces
    hv = res.extra_tables["res_hvdc"].p_mw.sum()
    load = net.load.p_mw[net.load.in_service].sum()
    losses = res.res_line.pl_mw.sum() + res.res_trafo.pl_mw.sum() + res.res_shunt.p_mw.sum()
    # measured ~1e-11 MW (the UPFC line's uncorrected flows would miss it by 0.017 MW)
    assert abs(gen + pv + hv - load - losses) < 1e-6
    assert abs(res.p_loss_mw - (res.res_line.pl_mw.sum() + res.res_trafo.pl_mw.sum())) < 1e-12
    # the UPFC's line: its loss from its true terminal flows, not from the bus voltages alone
    row = res.res_line.loc[int(net.upfc.line.iat[0])]
    assert abs(row.pl_mw - (row.p_from_mw + row.p_to_mw)) < 1e-12
