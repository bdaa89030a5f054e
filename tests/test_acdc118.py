"""The IEEE 118-bus case with three UPFCs (tdcoord.cases.acdc118): data, power flow, one slow step.

The slow step's schedule is checked against an independent computation: the AC/DC power flow (Newton, sequential
device equations) of the first hour under the schedule's controls must give the model's own voltages, and fewer
bus voltages outside the band than the same hour without control.
"""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.cases.acdc118 import CB_BUSES, HVDC_BUS, OLTC_BRANCHES, PV_BUSES, UPFC_LINES, ieee118_upfc
from tdcoord.coordination.volt_var import apply_controls, controls_of, solve_slow, window
from tdcoord.pf.ac import run_newton
from tdcoord.problems.volt_var import VoltVarWeights

BAND = (0.95, 1.05)
WEIGHTS = VoltVarWeights(oltc=0.3227, cb=0.2775, upfc=0.3998)  # the paper's (section 4.2)
HOUR = 10  # the morning peak: bus 53 is below the band without control


def outside(vm: np.ndarray) -> int:
    return int(np.sum((vm < BAND[0] - 1e-6) | (vm > BAND[1] + 1e-6)))


@pytest.fixture(scope="module")
def net():
    return ieee118_upfc()


@pytest.fixture(scope="module")
def slow(net):
    win = window(net, HOUR, 3, 12)
    return win, solve_slow(win, WEIGHTS)


def test_case_validates_with_the_documented_devices(net):
    from tdcoord.network.validate import validate

    validate(net, radial=False)
    assert len(net.bus) == 118 and net.n_periods == 288
    # three UPFCs, in three different lines, at the documented line ends
    u = net.upfc
    assert len(u) == 3 and u.line.nunique() == 3 and u.bus.nunique() == 3
    for (f, t, b), (_, row) in zip(UPFC_LINES, u.iterrows()):
        line = net.line.loc[int(row.line)]
        assert (line.from_bus, line.to_bus, row.bus) == (f, t, b)
        assert (row.vse_max_pu, row.x_sh_pu, row.v_sh_max_pu, row.s_sh_max_mva) == (0.40, 0.05, 1.10, 110.0)
    # OLTCs: 1 + 1.25 % n, n in -8..8, starting at the step nearest the data's ratio
    tr = net.trafo[net.trafo.tap_step_pu.notna()]
    assert len(tr) == len(OLTC_BRANCHES) == 9
    assert set(zip(tr.from_bus, tr.to_bus)) == set(OLTC_BRANCHES)
    assert np.allclose(tr.tap_min_pu, 0.9) and np.allclose(tr.tap_max_pu, 1.1) and np.allclose(tr.tap_step_pu, 0.0125)
    assert (tr.max_tap_change == 5).all() and (tr.tap_cost == 60).all()
    from tdcoord.cases.standard import ieee118

    data = ieee118().trafo.set_index(["from_bus", "to_bus"]).tap_pu
    nearest = [round((data[(f, t)] - 1.0) / 0.0125) for f, t in zip(tr.from_bus, tr.to_bus)]
    assert controls_of(net).taps.tolist() == nearest  # 0.985 -> -1, 0.96 -> -3, 0.935 -> -5
    # capacitor banks: 6 x 5 Mvar, 3 switchings an hour, all off
    sh = net.shunt[net.shunt.controllable]
    assert list(sh.bus) == list(CB_BUSES) and (sh.max_step == 6).all() and (sh.bs_mvar == 5.0).all()
    assert (sh.step == 0).all() and (sh.max_step_change == 3).all()
    # one 200 MW LCC link at bus 64 with its filters; three 100 MW PV plants
    assert list(net.hvdc.bus) == [HVDC_BUS] and net.hvdc.p_rated_mw.iat[0] == 200.0
    assert net.hvdc.p_rated_mw.iat[0] < 0.1 * net.load.p_mw.sum()
    assert list(net.sgen.bus) == list(PV_BUSES) and (net.sgen.kind == "pv").all()
    # machine set-points inside the band; the dispatch follows the net demand (not the slack)
    assert net.gen.vm_pu.between(*BAND).all()
    ts = net.timeseries
    share = ts["gen.p_mw"].to_numpy(float)[:, ~net.gen.slack.to_numpy(bool)].sum(axis=1)
    demand = ts["load.p_mw"].to_numpy(float).sum(axis=1) - ts["sgen.p_mw"].to_numpy(float).sum(axis=1) \
        - ts["hvdc.p_mw"].to_numpy(float).sum(axis=1)
    assert np.corrcoef(share, demand)[0, 1] > 0.999


def test_period0_power_flow_converges(net):
    r = run_newton(net.at_period(0), enforce_q_lims=True)
    assert r.converged, r.messages
    vm = r.res_bus.vm_pu.to_numpy(float)
    assert outside(vm) == 0  # the night valley: every bus in the band without control
    hv = r.extra_tables["res_hvdc"].iloc[0]
    assert 15.0 <= hv.gamma_deg <= 30.0 and 0.95 <= hv.vm_pu <= 1.05
    slack = r.res_gen.p_mw[net.gen.slack.to_numpy(bool)].iat[0]
    assert 0.0 < slack < 805.2  # the machines follow the demand: the slack covers the rest within its limits


def test_slow_step_schedule_rechecked_by_power_flow(slow):
    from tdcoord.problems.volt_var import build_volt_var, fix_discrete

    win, out = slow
    assert out.ok, out.status
    assert len(out.schedule) == 3
    c0 = controls_of(win)
    first = out.schedule[0]
    assert np.allclose(first.taps, np.round(first.taps)) and np.all(np.abs(first.taps - c0.taps) <= 5 + 1e-9)
    assert np.allclose(first.steps, np.round(first.steps)) and np.all(np.abs(first.steps - c0.steps) <= 3 + 1e-9)
    assert np.all(np.hypot(first.vse_re, first.vse_im) <= 0.40 + 1e-6)

    # the hour without control, and under the schedule's first-hour controls: the AC/DC power flow
    base = run_newton(win.at_period(0), enforce_q_lims=True)
    assert base.converged
    n_base = outside(base.res_bus.vm_pu.to_numpy(float))
    assert n_base >= 1  # bus 53 at the morning peak
    r = run_newton(apply_controls(win.copy(), first).at_period(0), enforce_q_lims=True)
    assert r.converged, r.messages
    vm_pf = r.res_bus.vm_pu.to_numpy(float)
    assert outside(vm_pf) < n_base

    # the model's voltages under the whole schedule, every control fixed at the schedule's values
    m = build_volt_var(win, objective="slow", dt_h=1.0, weights=WEIGHTS)
    fix_discrete(m, np.column_stack([c.taps for c in out.schedule]), np.column_stack([c.steps for c in out.schedule]))
    for name, attr in (("vv.upfc_q_sh", "q_sh_mvar"), ("vv.upfc_vse_re", "vse_re"), ("vv.upfc_vse_im", "vse_im")):
        v = np.column_stack([getattr(c, attr) for c in out.schedule]) / (m.cn.base_mva if attr == "q_sh_mvar" else 1.0)
        m.b.set_bounds(name, v, v)
    sol = m.b.solve()
    assert sol.ok, sol.solver_status
    vm_model = m.form.bus_values(sol)[0][:, 0]
    order = [list(m.cn.labels).index(b) for b in r.res_bus.index]
    assert np.max(np.abs(vm_model[order] - vm_pf)) < 1e-5


def test_reused_fast_model_follows_the_dispatch(net):
    """A fast-step model re-used from 00:00 (ModelCache, as the study re-uses it) and one built for 10:00 agree."""
    from tdcoord.coordination.volt_var import ModelCache, solve_fast

    c = controls_of(net)
    cache = ModelCache()
    vm0 = run_newton(net.at_period(0), enforce_q_lims=True).res_bus.vm_pu.to_numpy(float)
    assert solve_fast(apply_controls(window(net, 0, 5), c), vm0, cache=cache)[0] is not None
    k = 12 * HOUR
    vm = run_newton(net.at_period(k), enforce_q_lims=True).res_bus.vm_pu.to_numpy(float)
    fresh, s_fresh = solve_fast(apply_controls(window(net, k, 5), c), vm)
    reused, s_reused = solve_fast(apply_controls(window(net, k, 5), c), vm, cache=cache)
    assert fresh is not None and reused is not None
    assert abs(s_reused.terms["v_dev"] - s_fresh.terms["v_dev"]) < 1e-3 * s_fresh.terms["v_dev"]
