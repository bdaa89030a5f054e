"""Smart inverters (seed 002): IEEE 1547 settings, local control, sensitivities, the mode MILP, RLS, the TSO-DSO loop.

The unit tests of the curves run on a two-bus toy feeder whose numbers are worked out by hand; the rest runs on the
study system ``ieee9+ieee13@5+ieee123@7`` (PV behind category B inverters) at hour 12 of the built-in day, mostly
on the IEEE 13-node feeder as its DSO sees it (``feeder_view``: the PCC as slack). Expensive results (the feeder
views, their linearizations, the TSO-DSO loops) are module-scoped fixtures shared by the tests.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import fsolve

from tdcoord.cases import load_case
from tdcoord.cases.profiles import apply_hour, attach_profiles
from tdcoord.cases.smart_inverters import with_der
from tdcoord.coordination.sensitivity_estimation import estimate_sensitivities, estimated_linearization
from tdcoord.coordination.smart_inverters import (BAND_TOL, PCC, solve_dispatch_corrected, feeder_view, recheck,
                                                  solve_tso, solve_tso_dso_loop)
from tdcoord.devices.ieee1547 import (MODES, SETTING_COLUMNS, check_settings, default_settings, inverter_rows,
                                      target_pq)
from tdcoord.devices.inverter_modes import build_menu
from tdcoord.devices.local_control import run_local_control
from tdcoord.errors import InputError
from tdcoord.network.compiled import PV, REF, compile_network
from tdcoord.network.network import Network
from tdcoord.pf.ac import run_newton, solve_compiled
from tdcoord.pf.integrated import run_coupled
from tdcoord.pf.sensitivity import injection_sensitivities
from tdcoord.problems.inverter_dispatch import (DispatchOptions, dispatch_settings, linearize, solve_pcc_capability,
                                                solve_dispatch, spread_periods)
from tdcoord.uncertainty.rls import Rls

SPEC = "ieee9+ieee13@5+ieee123@7"
HOUR = 12
F13, F123 = "ieee13@5", "ieee123@7"
FAST = DispatchOptions(form="binary", solver="HIGHS")  # the quickest form (and the default)
# the loops: without the tie-break towards default curves HiGHS solves them ~3x faster (3 s instead of 8-20 s per
# loop); the loops with the default objective, and with SOS1 on SCIP (1-4 min), are marked slow
LOOP = DispatchOptions(form="binary", solver="HIGHS", change_weight=0.0)
FORM_SOLVERS = (("sos1", "SCIP"), ("sos2", "SCIP"), ("binary", "SCIP"), ("binary", "HIGHS"))

# toy feeder: one 12.47 kV line from the slack to an inverter bus, on a 1 MVA base (Z base 155.5 ohm)
TOY_KV, TOY_R, TOY_X = 12.47, 5.0, 6.0


# ------------------------------------------------------------------------------------------------ fixtures
def toy(p_mw: tuple[float, ...] = (1.0,), sn_mva: tuple[float, ...] = (1.12,),
        p_max_mw: tuple[float, ...] | None = None, vm_pu: float = 1.0) -> Network:
    """Slack bus "0", a line to bus "1" carrying the inverters (one per entry of ``p_mw``)."""
    net = Network("toy", sn_mva=1.0, kind="distribution")
    net.add_bus("0", TOY_KV)
    net.add_bus("1", TOY_KV)
    net.add_ext_grid("0", vm_pu=vm_pu)
    net.add_line("0", "1", TOY_R, TOY_X)
    pm = p_mw if p_max_mw is None else p_max_mw
    for p, s, r in zip(p_mw, sn_mva, pm):
        net.add_sgen("1", p_mw=p, p_max_mw=r, sn_mva=s, kind="pv", controllable=True)
    return net


def settings_of(net: Network, mode: str, category: str = "B", **fields) -> pd.DataFrame:
    st = default_settings(net, mode, category)
    for k, v in fields.items():
        st[k] = v
    return st


@pytest.fixture(scope="module")
def study():
    """The study system at hour 12; the PV is added here unless the case already carries it."""
    cs = load_case(SPEC)
    if all(len(inverter_rows(f)) == 0 for f in cs.feeders.values()):
        with_der(cs, 0.9)
    return apply_hour(cs, HOUR)


@pytest.fixture(scope="module")
def view13(study):
    return feeder_view(study, F13, 1.02)


@pytest.fixture(scope="module")
def lin13(view13):
    return linearize(view13)


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))


# ------------------------------------------------------------------------------------- IEEE 1547 settings
def test_default_curves_per_category():
    net = toy(p_mw=(1.0, 0.5), sn_mva=(1.12, 0.56))
    b = default_settings(net, "volt-var", "B")
    a = default_settings(net, "volt-var", "A")
    assert list(b.columns) == SETTING_COLUMNS and list(b.index) == list(net.sgen.index)
    for st, v, q in ((b, (0.92, 0.98, 1.02, 1.08), (0.44, 0.0, 0.0, -0.44)),
                     (a, (0.90, 1.00, 1.00, 1.10), (0.25, 0.0, 0.0, -0.25))):
        for k in range(4):
            assert st[f"vv_v{k + 1}"].to_numpy() == pytest.approx([v[k]] * 2, abs=1e-12)
            assert st[f"vv_q{k + 1}"].to_numpy() == pytest.approx([q[k]] * 2, abs=1e-12)
        assert (st.vref_pu == 1.0).all() and (st.pf == 1.0).all() and st.p_limit_mw.isna().all()
        for col, val in (("vw_v1", 1.06), ("vw_v2", 1.10), ("vw_p2", 0.2), ("wv_p1", 0.2), ("wv_p2", 0.5),
                         ("wv_p3", 1.0), ("wv_q1", 0.0), ("wv_q2", 0.0)):
            assert st[col].to_numpy() == pytest.approx([val] * 2, abs=1e-12), col
    assert b.wv_q3.to_numpy() == pytest.approx([-0.44] * 2)  # full absorption of the category
    assert a.wv_q3.to_numpy() == pytest.approx([-0.25] * 2)


@pytest.mark.parametrize("category", ["A", "B"])
@pytest.mark.parametrize("mode", MODES)
def test_defaults_pass_the_check(mode, category):
    net = toy(p_mw=(1.0, 0.5), sn_mva=(1.12, 0.56))
    st = default_settings(net, mode, category)
    assert (st["mode"] == mode).all() and (st["category"] == category).all()
    check_settings(net, st)


def test_default_settings_skip_non_inverters_and_reject_unknowns():
    net = toy(p_mw=(1.0, 0.5, 0.3), sn_mva=(1.12, float("nan"), 0.4))
    net.sgen.loc[2, "in_service"] = False
    assert list(default_settings(net).index) == [0]  # no rating, or out of service: not an inverter
    with pytest.raises(InputError, match="volt-watt-var"):
        default_settings(net, "volt-watt-var")
    with pytest.raises(InputError, match="category 'C'"):
        default_settings(net, "volt-var", "C")


@pytest.mark.parametrize("category, v, frac", [
    ("B", 1.05, -0.22),  # halfway between (1.02, 0) and (1.08, -0.44)
    ("B", 0.95, 0.22),
    ("B", 1.00, 0.0),  # deadband
    ("B", 1.15, -0.44),  # flat beyond V4
    ("B", 0.80, 0.44),  # flat below V1
    ("A", 1.05, -0.125),  # halfway between (1.0, 0) and (1.1, -0.25)
    ("A", 0.96, 0.10),
])
def test_target_volt_var(category, v, frac):
    net = toy(p_mw=(0.8,), sn_mva=(1.12,), p_max_mw=(1.0,))
    st = default_settings(net, "volt-var", category)
    p, q = target_pq(net, st, np.array([v]))
    assert p == pytest.approx([0.8])  # volt-var leaves P alone
    assert q == pytest.approx([frac * 1.12], abs=1e-12)


def test_target_volt_var_shifted_vref():
    """The curve moves with VRef: VRef 1.03 puts V = 1.08 where V = 1.05 sits on the default curve."""
    net = toy(p_mw=(0.8,), sn_mva=(1.12,), p_max_mw=(1.0,))
    st = settings_of(net, "volt-var", vref_pu=1.03, vv_v1=0.95, vv_v2=1.01, vv_v3=1.05, vv_v4=1.11)
    check_settings(net, st)
    assert target_pq(net, st, np.array([1.08]))[1] == pytest.approx([-0.22 * 1.12])


@pytest.mark.parametrize("p_frac, frac", [(0.75, -0.22), (0.3, 0.0), (0.5, 0.0), (1.0, -0.44), (0.9, -0.352)])
def test_target_watt_var(p_frac, frac):
    """Q follows P / P_rated on (0.2, 0), (0.5, 0), (1.0, -0.44); P_rated is p_max_mw (2 MW), not p_mw."""
    net = toy(p_mw=(0.1,), sn_mva=(2.24,), p_max_mw=(2.0,))
    st = default_settings(net, "watt-var", "B")
    p, q = target_pq(net, st, np.array([1.0]), p_avail=np.array([p_frac * 2.0]))
    assert p == pytest.approx([p_frac * 2.0])
    assert q == pytest.approx([frac * 2.24], abs=1e-12)
    # p_now is what the curve reads (the present P), not the available power
    _, q2 = target_pq(net, st, np.array([1.0]), p_now=np.array([1.5]), p_avail=np.array([p_frac * 2.0]))
    assert q2 == pytest.approx([-0.22 * 2.24])


@pytest.mark.parametrize("pf, sign", [(0.9, 1.0), (-0.9, -1.0), (0.95, 1.0), (-0.95, -1.0), (1.0, 0.0)])
def test_target_power_factor(pf, sign):
    net = toy(p_mw=(0.8,), sn_mva=(1.12,), p_max_mw=(1.0,))
    st = settings_of(net, "pf", pf=pf)
    p, q = target_pq(net, st, np.array([1.07]))
    k = math.tan(math.acos(abs(pf)))
    assert p == pytest.approx([0.8])
    assert q == pytest.approx([sign * k * 0.8], abs=1e-12)
    assert abs(p[0]) / math.hypot(p[0], q[0]) == pytest.approx(abs(pf))


@pytest.mark.parametrize("v, avail, expect", [
    (1.08, 1.0, 0.6),  # between (1.06, 1) and (1.10, 0.2): 0.6 of P_rated
    (1.08, 0.5, 0.5),  # the cap is above what is available
    (1.05, 1.0, 1.0),
    (1.12, 1.0, 0.2),  # flat beyond V2
    (1.07, 0.9, 0.8),
])
def test_target_volt_watt(v, avail, expect):
    net = toy(p_mw=(avail,), sn_mva=(1.12,), p_max_mw=(1.0,))
    st = default_settings(net, "volt-watt", "B")
    p, q = target_pq(net, st, np.array([v]))
    assert p == pytest.approx([expect], abs=1e-12)
    assert q == pytest.approx([0.0], abs=1e-15)


def test_target_limits_active_power_priority_and_capability():
    """Q is clipped to the category's capability and to what the rating leaves beside P; p_limit_mw caps P."""
    net = toy(p_mw=(0.95, 0.5, 0.5, 0.9), sn_mva=(1.0, 1.0, 1.0, 1.0), p_max_mw=(1.0, 1.0, 1.0, 1.0))
    st = default_settings(net, "volt-var", "B")
    st.loc[1, ["mode", "category", "q_set_mvar"]] = ["constant_q", "A", -0.6]  # beyond A's absorption (0.25)
    st.loc[2, ["mode", "q_set_mvar"]] = ["constant_q", 0.6]  # beyond B's injection (0.44)
    st.loc[3, "p_limit_mw"] = 0.4
    p, q = target_pq(net, st, np.array([0.85, 1.0, 1.0, 0.85]))
    assert p == pytest.approx([0.95, 0.5, 0.5, 0.4])
    assert q[0] == pytest.approx(math.sqrt(1.0 - 0.95**2))  # 0.312 < 0.44: the rating binds
    assert q[1] == pytest.approx(-0.25) and q[2] == pytest.approx(0.44) and q[3] == pytest.approx(0.44)
    fixed = settings_of(net, "fixed")
    net.sgen["q_mvar"] = [0.7, -0.7, 0.0, 0.1]
    p, q = target_pq(net, fixed, np.ones(4), p_avail=np.zeros(4))
    assert p == pytest.approx([0.95, 0.5, 0.5, 0.9]) and q == pytest.approx([0.7, -0.7, 0.0, 0.1])  # no control


BAD_SETTINGS = [
    # (mode, category, changes of sgen 1, the field the message must name)
    ("volt-var", "B", {"vv_v2": 1.01, "vv_v3": 0.99}, "volt-var voltages"),  # not monotone
    ("volt-var", "B", {"vv_v1": 0.81}, "vv_v1"),  # below VRef - 0.18
    ("volt-var", "B", {"vv_v1": 0.97}, "vv_v1"),  # above V2 - 0.02
    ("volt-var", "B", {"vv_v4": 1.19}, "vv_v4"),
    ("volt-var", "B", {"vv_v2": 0.96}, "vv_v2"),  # deadband wider than 0.03
    ("volt-var", "A", {"vv_v2": 0.99}, "vv_v2"),  # category A has no deadband
    ("volt-var", "B", {"vref_pu": 1.07}, "vref_pu"),
    ("volt-var", "B", {"vv_q1": 0.5}, "vv_q1"),
    ("volt-var", "A", {"vv_q4": -0.3}, "vv_q4"),  # A absorbs 0.25 at most
    ("volt-var", "B", {"vv_q2": 0.1, "vv_q1": 0.05}, "must not rise"),
    ("pf", "B", {"pf": 0.85}, "pf"),
    ("pf", "B", {"pf": -0.85}, "pf"),
    ("pf", "A", {"pf": -0.95}, "pf"),  # A absorbs down to 0.97
    ("watt-var", "B", {"wv_p2": 0.9}, "wv_p2"),
    ("watt-var", "B", {"wv_p1": 0.45}, "wv_p1"),  # above P2 - 0.1
    ("watt-var", "B", {"wv_p3": 0.55}, "wv_p3"),  # below P2 + 0.1
    ("watt-var", "B", {"wv_q3": 0.1}, "wv_q3"),
    ("volt-watt", "B", {"vw_v1": 1.04}, "vw_v1"),
    ("volt-watt", "B", {"vw_v2": 1.065}, "vw_v2"),  # below V1 + 0.01
    ("volt-watt", "A", {"vw_p2": 0.5}, "vw_p2"),  # A: 0.2 only
    ("constant_q", "B", {"q_set_mvar": float("nan")}, "q_set_mvar"),
    ("volt-var", "B", {"p_limit_mw": -0.1}, "p_limit_mw"),
    ("volt-var", "B", {"mode": "volt-watt-var"}, "mode"),
    ("volt-var", "B", {"category": "C"}, "category"),
]


@pytest.mark.parametrize("mode, category, changes, field", BAD_SETTINGS,
                         ids=[f"{m}-{c}-{'-'.join(ch)}" for m, c, ch, _ in BAD_SETTINGS])
def test_check_settings_rejects(mode, category, changes, field):
    net = toy(p_mw=(1.0, 0.5), sn_mva=(1.12, 0.56))
    st = default_settings(net, mode, category)
    check_settings(net, st)  # the defaults are fine: the change below is what breaks them
    for k, v in changes.items():
        st.loc[1, k] = v
    with pytest.raises(InputError, match=rf"sgen 1\b.*{field}"):
        check_settings(net, st)


def test_check_settings_rejects_foreign_rows_and_missing_columns():
    net = toy(p_mw=(1.0, 0.5), sn_mva=(1.12, float("nan")))
    st = default_settings(net)
    with pytest.raises(InputError, match="sgen 1 is not an in-service inverter"):
        check_settings(net, pd.concat([st, st.rename(index={0: 1})]))
    with pytest.raises(InputError, match="missing columns vv_q4"):
        check_settings(net, st.drop(columns="vv_q4"))


@pytest.mark.parametrize("category", ["A", "B"])
def test_menu_options_are_valid_settings(category):
    """Every option of the dispatch's menu, at either end of VRef's range, is a setting the standard allows."""
    net = toy()
    for opt in build_menu("full", category):
        for vref in (0.95, 1.05):
            st = default_settings(net, opt.mode, category)
            for col, val in opt.settings.items():
                st[col] = val + (vref if col.startswith("vv_v") else 0.0)
            st["vref_pu"] = vref
            check_settings(net, st)


# ------------------------------------------------------------------------------------------- local control
def test_local_control_two_bus_matches_the_analytic_fixed_point():
    """One inverter on volt-var behind one line: the fixed point solved independently (two real equations)."""
    net = toy(p_mw=(1.0,), sn_mva=(1.12,))
    st = default_settings(net, "volt-var", "B")
    z = complex(TOY_R, TOY_X) / (TOY_KV**2 / 1.0)

    def vv(vm: float) -> float:
        return float(np.interp(vm, [0.92, 0.98, 1.02, 1.08], [0.44, 0.0, 0.0, -0.44])) * 1.12

    def eqs(x):
        v = complex(x[0], x[1])
        s = v * np.conj((v - 1.0) / z)
        return [s.real - 1.0, s.imag - vv(abs(v))]

    x = fsolve(eqs, [1.02, 0.0], xtol=1e-12)
    vm = abs(complex(*x))
    assert 1.02 < vm < 1.08  # on the droop: a real fixed point, not the deadband
    lc = run_local_control(net, st, tol=1e-10)
    assert lc.converged and lc.pf.converged
    assert lc.inverters.vm_pu.iloc[0] == pytest.approx(vm, abs=1e-9)
    assert lc.inverters.q_mvar.iloc[0] == pytest.approx(vv(vm), abs=1e-8)
    assert lc.residuals[-1] <= 1e-10 and lc.iterations == len(lc.residuals)


def test_local_control_rejects_bad_input():
    net = toy()
    st = default_settings(net)
    for damping in (0.0, 1.5):
        with pytest.raises(InputError, match="damping"):
            run_local_control(net, st, damping=damping)
    with pytest.raises(InputError, match="p_avail"):
        run_local_control(net, st, p_avail=np.ones(2))
    bad = st.copy()
    bad["vref_pu"] = 1.2
    with pytest.raises(InputError, match="vref_pu"):
        run_local_control(net, bad)


@pytest.fixture(scope="module")
def local13(view13):
    st = default_settings(view13, "volt-var", "B")
    return st, run_local_control(view13, st, tol=1e-8)


def test_local_control_fixed_point_on_feeder(view13, local13):
    st, lc = local13
    inv = lc.inverters
    assert lc.converged and lc.residuals[-1] <= 1e-8
    assert (inv.q_mvar < -1e-3).all()  # the droop is active at every inverter: the test is not trivial
    # the curve at the AC terminal voltage gives back the inverters' Q (and P)
    p, q = target_pq(lc.network, st, inv.vm_pu.to_numpy(), p_now=inv.p_mw.to_numpy(),
                     p_avail=inv.p_avail_mw.to_numpy())
    assert np.abs(q - inv.q_mvar.to_numpy()).max() < 1e-5
    assert np.abs(p - inv.p_mw.to_numpy()).max() < 1e-5
    # and the reported voltages are those of an ordinary power flow of the network with that P and Q
    pf = run_newton(lc.network)
    assert pf.converged
    assert np.abs(pf.res_bus.vm_pu.loc[inv.bus].to_numpy() - inv.vm_pu.to_numpy()).max() < 1e-8
    assert lc.network.sgen.loc[st.index, "q_mvar"].to_numpy() == pytest.approx(inv.q_mvar.to_numpy())
    assert view13.sgen.q_mvar.abs().max() == 0.0  # the input network is left alone


def test_local_control_heavy_damping_reaches_the_same_point(view13, local13):
    st, lc = local13
    slow = run_local_control(view13, st, damping=0.1, tol=1e-8)
    assert slow.converged
    assert slow.iterations > lc.iterations  # heavier damping: more, smaller steps
    assert np.abs(slow.inverters.q_mvar - lc.inverters.q_mvar).max() < 1e-5
    assert np.abs(slow.inverters.vm_pu - lc.inverters.vm_pu).max() < 1e-5


@pytest.mark.parametrize("mode", ["volt-watt", "watt-var"])
def test_local_control_active_power_modes(study, mode):
    """At PCC 1.05 p.u. volt-watt curtails every inverter (all above 1.06 p.u.); watt-var absorbs by its P."""
    view = feeder_view(study, F13, 1.05)
    st = default_settings(view, mode, "B")
    lc = run_local_control(view, st, tol=1e-8)
    inv = lc.inverters
    assert lc.converged
    pr = view.sgen.loc[st.index, "p_max_mw"].to_numpy(float)
    vm = inv.vm_pu.to_numpy()
    if mode == "volt-watt":
        cap = np.interp(vm, [1.06, 1.10], [1.0, 0.2]) * pr
        assert (vm > 1.06).all()
        assert inv.p_mw.to_numpy() == pytest.approx(np.minimum(inv.p_avail_mw.to_numpy(), cap), abs=1e-6)
        assert (inv.p_mw < inv.p_avail_mw - 1e-3).all() and inv.q_mvar.abs().max() < 1e-9
    else:
        sn = view.sgen.loc[st.index, "sn_mva"].to_numpy(float)
        expect = np.interp(inv.p_mw.to_numpy() / pr, [0.2, 0.5, 1.0], [0.0, 0.0, -0.44]) * sn
        assert inv.p_mw.to_numpy() == pytest.approx(inv.p_avail_mw.to_numpy())
        assert inv.q_mvar.to_numpy() == pytest.approx(expect, abs=1e-6)
        assert (expect < -0.1).all()


# ------------------------------------------------------------------------------------------ sensitivities
def _slack_s(cn, v) -> complex:
    ref = int(np.flatnonzero(cn.bus_type == REF)[0])
    return complex((v * np.conj(cn.ybus()[0] @ v))[ref] - cn.s_spec()[ref])


def _finite_differences(cn, v0, bus: int, which: str, h: float = 1e-4):
    """Central differences of |V| and of the slack's injection for ``h`` p.u. more P (or Q) injected at ``bus``."""
    arr = cn.p_fix if which == "p" else cn.q_fix
    out = []
    for sgn in (1.0, -1.0):
        arr[bus] += sgn * h
        res, _ = solve_compiled(cn, v0)
        arr[bus] -= sgn * h
        assert res.converged
        out.append((np.abs(res.v), _slack_s(cn, res.v)))
    return (out[0][0] - out[1][0]) / (2 * h), (out[0][1] - out[1][1]) / (2 * h)


def test_sensitivities_match_finite_differences_on_feeder(view13):
    cn = compile_network(view13)
    base, _ = solve_compiled(cn)
    pos = cn.position()
    buses = np.array([pos[b] for b in inverter_rows(view13).bus])
    s = injection_sensitivities(cn, base.v, buses)
    assert complex(s.p_slack, s.q_slack) == pytest.approx(_slack_s(cn, base.v), abs=1e-12)
    assert np.abs(s.vm - np.abs(base.v)).max() == 0.0
    ref = int(np.flatnonzero(cn.bus_type == REF)[0])
    for k, b in enumerate(buses):
        for which, dv, dp, dq in (("p", s.dv_dp, s.dps_dp, s.dqs_dp), ("q", s.dv_dq, s.dps_dq, s.dqs_dq)):
            fd_v, fd_s = _finite_differences(cn, base.v, b, which)
            assert rel(dv[:, k], fd_v) < 1e-6, (k, which)
            assert dv[ref, k] == 0.0
            scale = abs(complex(dp[k], dq[k]))
            assert abs(complex(dp[k], dq[k]) - fd_s) / scale < 1e-6, (k, which)
    # what is injected at a feeder bus mostly leaves through the slack, a little less by the losses
    assert (-1.0 < s.dps_dp).all() and (s.dps_dp < -0.9).all()
    assert (s.dv_dq[buses, np.arange(len(buses))] > 0).all()


def test_sensitivities_on_meshed_grid_with_pv_buses():
    """The 9-bus grid: PV buses keep their magnitude (zero sensitivity), the others match finite differences."""
    net = load_case("ieee9")
    cn = compile_network(net)
    base, _ = solve_compiled(cn)
    assert base.converged
    pos = cn.position()
    buses = np.array([pos[b] for b in ("5", "7", "9")])
    s = injection_sensitivities(cn, base.v, buses)
    pv = np.flatnonzero(cn.bus_type == PV)
    assert len(pv) == 2
    assert np.all(s.dv_dp[pv] == 0.0) and np.all(s.dv_dq[pv] == 0.0)
    for k, b in enumerate(buses):
        for which, dv, dps in (("p", s.dv_dp, s.dps_dp), ("q", s.dv_dq, s.dps_dq)):
            fd_v, fd_s = _finite_differences(cn, base.v, b, which)
            assert rel(dv[:, k], fd_v) < 1e-6
            assert abs(dps[k] - fd_s.real) < 1e-6


# ------------------------------------------------------------------------------------- the mode MILP
def _predicted_vm(lin, disp) -> np.ndarray:
    dp = disp.p_mw[:, 0] - lin.p0[:, 0]
    dq = disp.q_mvar[:, 0] - lin.q0[:, 0]
    return lin.vm0[:, 0] + lin.dv_dp[0] @ dp + lin.dv_dq[0] @ dq


def _check_dispatch(lin, disp, band=(0.95, 1.05)) -> None:
    """A dispatch is what its settings do at the voltages it predicts, and keeps the band (linear model)."""
    vm = _predicted_vm(lin, disp)
    mon = lin.monitored
    assert np.abs(vm[mon] - disp.vm_pu[mon, 0]).max() < 1e-7
    assert vm[mon].max() <= band[1] + 1e-6 and vm[mon].min() >= band[0] - 1e-6
    st = dispatch_settings(lin, disp)
    check_settings(lin.net, st)
    p, q = target_pq(lin.net, st, vm[lin.inv_bus], p_now=disp.p_mw[:, 0], p_avail=lin.p_avail[:, 0])
    assert np.abs(p - disp.p_mw[:, 0]).max() < 1e-6
    assert np.abs(q - disp.q_mvar[:, 0]).max() < 1e-6
    q_pcc = lin.q_pcc0[0] + lin.dqpcc_dp[0] @ (disp.p_mw[:, 0] - lin.p0[:, 0]) \
        + lin.dqpcc_dq[0] @ (disp.q_mvar[:, 0] - lin.q0[:, 0])
    assert disp.q_pcc_mvar[0] == pytest.approx(q_pcc, abs=1e-7)
    assert disp.curtailment_mwh == pytest.approx(float((lin.p_avail - disp.p_mw).sum()), abs=1e-7)


@pytest.mark.parametrize("vm_pcc, menu", [(1.02, "full"), (1.02, "default-vv"), (1.04, "full")])
def test_formulations_agree(study, vm_pcc, menu):
    lin = linearize(feeder_view(study, F13, vm_pcc))
    assert lin.vm0[lin.monitored, 0].max() > 1.05 + 1e-3  # without control the band is broken: work to do
    objs = {}
    for form, solver in FORM_SOLVERS:
        d = solve_dispatch(lin, DispatchOptions(form=form, solver=solver, menu=menu))
        assert d.ok, (form, solver, d.status, d.solver_status)
        objs[(form, solver)] = d.objective
        assert d.vm_pu[lin.monitored].max() <= 1.05 + 1e-6
        _check_dispatch(lin, d)
        if menu == "default-vv":
            assert set(d.inverters.option) == {"vv-default"}
            assert d.inverters.vref_pu.to_numpy() == pytest.approx(1.0)
    vals = np.array(list(objs.values()))
    assert vals.max() - vals.min() < 1e-5, objs


def test_formulations_agree_on_infeasibility(study):
    """PCC 1.045 p.u. (the regulator adds 4.4 %): the default curve with VRef 1.0 cannot hold the band, whatever
    the curtailment; every form says so, none returns a dispatch."""
    lin = linearize(feeder_view(study, F13, 1.045))
    for form, solver in FORM_SOLVERS:
        d = solve_dispatch(lin, DispatchOptions(form=form, solver=solver, menu="default-vv"))
        assert d.status == "infeasible", (form, solver, d.status)
        assert not d.ok


def test_dispatch_rejects_bad_options(lin13):
    with pytest.raises(InputError, match="HiGHS only the binary form"):
        solve_dispatch(lin13, DispatchOptions(form="sos1", solver="HIGHS"))
    with pytest.raises(InputError, match="form 'hull'"):
        solve_dispatch(lin13, DispatchOptions(form="hull"))
    with pytest.raises(InputError, match="voltage band"):
        solve_dispatch(lin13, DispatchOptions(form="binary", solver="HIGHS", v_band=(1.05, 0.95)))


def test_linearization_matches_the_ac_point(view13, lin13):
    pf = run_newton(view13)
    eg = pf.res_ext_grid
    assert lin13.q_pcc0[0] == pytest.approx(float(eg.q_mvar.sum()), abs=1e-8)
    assert lin13.p_pcc0[0] == pytest.approx(float(eg.p_mw.sum()), abs=1e-8)
    assert lin13.vm0[:, 0] == pytest.approx(pf.res_bus.vm_pu.loc[lin13.labels].to_numpy(), abs=1e-9)
    assert PCC not in set(lin13.labels[lin13.monitored])
    assert lin13.p_avail[:, 0] == pytest.approx(view13.sgen.p_mw.to_numpy())


def test_feeder_view_exchange_is_the_boundary_flow(study):
    """Behind its PCC at the coupled solution's voltage, each feeder draws exactly the coupled boundary flow."""
    pf = run_coupled(study, "merged")
    assert pf.converged
    for f in (F13, F123):
        b = pf.res_boundary.loc[f]
        res = run_newton(feeder_view(study, f, float(b.vm_pu)))
        assert float(res.res_ext_grid.p_mw.sum()) == pytest.approx(float(b.p_mw), abs=1e-6)
        assert float(res.res_ext_grid.q_mvar.sum()) == pytest.approx(float(b.q_mvar), abs=1e-6)
    with pytest.raises(InputError, match="ieee34"):
        feeder_view(study, "ieee34@5")


@pytest.mark.parametrize("vm_pcc", [1.02, 1.04])
def test_recheck_of_corrected_dispatch(study, vm_pcc):
    view = feeder_view(study, F13, vm_pcc)
    corr = solve_dispatch_corrected(view, DispatchOptions())
    chk = corr.check
    assert corr.dispatch.ok and 1 <= corr.passes <= len(corr.history)
    assert chk.local.converged
    assert chk.violations == 0 and chk.dv_linear_pu < 0.01
    # the re-check's voltages are those of a plain power flow of the network the inverters end in
    pf = run_newton(chk.local.network)
    vm = pf.res_bus.vm_pu.drop(PCC)
    assert np.abs(vm.reindex(chk.vm_pu.index) - chk.vm_pu).max() < 1e-8
    assert ((vm < 0.95 - BAND_TOL) | (vm > 1.05 + BAND_TOL)).sum() == 0
    assert chk.vm_max_pu == pytest.approx(float(vm.max())) and chk.vm_max_pu > 1.04  # the band is used
    assert chk.q_pcc_mvar == pytest.approx(float(pf.res_ext_grid.q_mvar.sum()), abs=1e-8)
    # the linear prediction is close to AC at every monitored bus
    lin_vm = pd.Series(corr.dispatch.vm_pu[corr.lin.monitored, 0], index=corr.lin.labels[corr.lin.monitored])
    assert np.abs(chk.vm_pu.reindex(lin_vm.index) - lin_vm).max() == pytest.approx(chk.dv_linear_pu, abs=1e-12)


def test_recheck_counts_violations(view13, lin13):
    """Without a band the dispatch leaves the feeder above 1.05 p.u.: the re-check counts those buses."""
    d = solve_dispatch(lin13, DispatchOptions(form="binary", solver="HIGHS", v_band=(0.9, 1.1)))
    assert d.ok
    chk = recheck(view13, lin13, d)
    assert chk.violations == int((chk.vm_pu > 1.05 + BAND_TOL).sum()) > 0
    assert chk.vm_max_pu > 1.05


@pytest.fixture(scope="module")
def capability13(lin13):
    return solve_pcc_capability(lin13, FAST)


def test_pcc_capability_range(lin13, capability13):
    lo, hi = capability13
    assert lo.ok and hi.ok
    assert lo.q_pcc_point < lin13.q_pcc0[0] < hi.q_pcc_point
    for d in (lo, hi):
        _check_dispatch(lin13, d)
    # a cap on curtailment narrows the range
    cap_lo, cap_hi = solve_pcc_capability(lin13, FAST, curtailment_cap_mwh=1e-4)
    assert cap_lo.curtailment_mwh <= 1e-4 + 1e-7 and cap_hi.curtailment_mwh <= 1e-4 + 1e-7
    assert lo.q_pcc_point - 1e-6 <= cap_lo.q_pcc_point and cap_hi.q_pcc_point <= hi.q_pcc_point + 1e-6
    assert cap_lo.q_pcc_point > lo.q_pcc_point + 1e-3  # here the lowest exchange needs curtailment


@pytest.mark.parametrize("form, solver", [("binary", "HIGHS"), ("sos1", "SCIP")])
def test_pcc_request_inside_met_outside_infeasible(lin13, capability13, form, solver):
    lo, hi = capability13
    a, b = lo.q_pcc_point, hi.q_pcc_point
    for req in (a - 0.05, b + 0.05):
        d = solve_dispatch(lin13, DispatchOptions(form=form, solver=solver, q_request_mvar=np.array([req])))
        assert d.status == "infeasible", (req, d.status)
    for req in (a + 0.25 * (b - a), 0.5 * (a + b), b - 1e-3):
        d = solve_dispatch(lin13, DispatchOptions(form=form, solver=solver, q_request_mvar=np.array([req])))
        assert d.ok, (req, d.status)
        assert abs(d.q_pcc_mvar[0] - req) < 1e-6
        _check_dispatch(lin13, d)


# --------------------------------------------------------------------------------------------------- RLS
def test_rls_recovers_a_linear_system():
    rng = np.random.default_rng(7)
    theta = rng.normal(size=(3, 5))
    for forgetting in (1.0, 0.98):
        rls = Rls(3, 5, forgetting=forgetting)
        for _ in range(400):
            phi = rng.normal(size=5)
            before = rls.theta.copy()
            y = theta @ phi + rng.normal(0.0, 0.02, 3)
            err = rls.update(phi, y)
            assert err == pytest.approx(y - before @ phi)  # the a-priori prediction error
        assert np.linalg.norm(rls.theta - theta) / np.linalg.norm(theta) < 0.05
        assert rls.steps == 400
        assert np.allclose(rls.p, rls.p.T)


def test_rls_forgetting_tracks_a_change():
    """After a step change of Theta, forgetting 0.95 follows it; without forgetting the estimate stays between."""
    rng = np.random.default_rng(3)
    t1, t2 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    fast, rigid = Rls(2, 3, forgetting=0.95), Rls(2, 3, forgetting=1.0)
    for k in range(600):
        phi = rng.normal(size=3)
        y = (t1 if k < 300 else t2) @ phi + rng.normal(0.0, 0.01, 2)
        fast.update(phi, y)
        rigid.update(phi, y)
    err = lambda r: np.linalg.norm(r.theta - t2) / np.linalg.norm(t2)  # noqa: E731
    assert err(fast) < 0.05
    assert err(rigid) > 0.2


@pytest.mark.parametrize("kwargs, what", [({"forgetting": 0.0}, "forgetting"), ({"forgetting": 1.5}, "forgetting"),
                                          ({"forgetting": -0.5}, "forgetting"), ({"delta": 0.0}, "covariance")])
def test_rls_rejects_bad_parameters(kwargs, what):
    with pytest.raises(InputError, match=what):
        Rls(2, 2, **kwargs)


# ------------------------------------------------------------------------------ sensitivity estimation
@pytest.fixture(scope="module")
def estimate13(lin13):
    return estimate_sensitivities(lin13, steps=150, seed=3)


def test_estimated_sensitivities_converge(lin13, estimate13):
    est = estimate13
    n = len(lin13.index)
    assert len(est.error) == est.steps == 150
    assert est.theta.shape == (len(est.observed) + 1, 2 * n)
    assert est.final_error < est.error[0] / 5
    assert est.final_error < 0.1
    # the truth is the model's sensitivities at the observed buses (per MW, Mvar) and the PCC's
    assert est.truth[:-1, :n] == pytest.approx(lin13.dv_dp[0][est.observed])
    assert est.truth[:-1, n:] == pytest.approx(lin13.dv_dq[0][est.observed])
    assert est.truth[-1, n:] == pytest.approx(lin13.dqpcc_dq[0])
    assert set(est.observed) == set(lin13.inv_bus)


def test_estimation_is_seeded(lin13, estimate13):
    again = estimate_sensitivities(lin13, steps=150, seed=3)
    other = estimate_sensitivities(lin13, steps=150, seed=4)
    assert np.array_equal(again.theta, estimate13.theta)
    assert np.array_equal(again.error, estimate13.error)
    assert not np.allclose(other.theta, estimate13.theta)


def test_estimation_rejects_bad_input(lin13):
    with pytest.raises(InputError, match="steps"):
        estimate_sensitivities(lin13, steps=1)
    with pytest.raises(InputError, match="excitation"):
        estimate_sensitivities(lin13, step=0.0)
    with pytest.raises(InputError, match="nowhere"):
        estimate_sensitivities(lin13, observed=["nowhere"])


def test_estimated_linearization(lin13, estimate13):
    est = estimate13
    n = len(lin13.index)
    only = estimated_linearization(lin13, None, est.observed)
    assert np.array_equal(only.monitored, est.observed)
    assert np.array_equal(only.dv_dq, lin13.dv_dq)
    swapped = estimated_linearization(lin13, est, est.observed)
    assert swapped.dv_dp[0][est.observed] == pytest.approx(est.theta[:-1, :n])
    assert swapped.dv_dq[0][est.observed] == pytest.approx(est.theta[:-1, n:])
    assert swapped.dqpcc_dq[0] == pytest.approx(est.theta[-1, n:])
    others = np.setdiff1d(np.arange(len(lin13.labels)), est.observed)
    assert np.array_equal(swapped.dv_dq[0][others], lin13.dv_dq[0][others])
    assert lin13.monitored.size > est.observed.size  # the original is left alone
    d = solve_dispatch(swapped, FAST)
    assert d.ok and d.vm_pu[est.observed, 0].max() <= 1.05 + 1e-6


# ---------------------------------------------------------------------------------------- TSO-DSO loop
def _check_loop(res, max_iter: int = 10) -> None:
    h = res.history
    assert res.converged and res.iterations <= max_iter
    assert set(h.feeder) == {F13, F123} and len(h) == 2 * res.iterations
    last = h[h.iteration == res.iterations]
    assert (last.mismatch_q_mvar <= 0.01).all() and (last.mismatch_p_mw <= 0.01).all()
    assert (last.violations == 0).all()
    # the TSO asks for what the feeders offered in the round before
    for it in range(2, res.iterations + 1):
        now = h[h.iteration == it].set_index("feeder")
        before = h[h.iteration == it - 1].set_index("feeder")
        assert (now.q_request_mvar >= before.q_min_mvar - 1e-5).all()
        assert (now.q_request_mvar <= before.q_max_mvar + 1e-5).all()
    chk = res.system_check
    assert chk["converged"] and chk["violations"] == 0
    assert chk["vm_max_pu"] <= 1.05 + BAND_TOL and chk["vm_min_pu"] >= 0.95 - BAND_TOL
    for f, st in res.settings.items():
        check_settings(res.final[f].lin.net, st)


@pytest.mark.parametrize("grid_svc", [False, True])
def test_tso_requests_stay_in_the_offered_ranges(study, grid_svc):
    """The TSO's request to each feeder lies in the range that feeder offered, whatever else the grid has."""
    offers = {F13: (-1.2, 1.0, 3.0), F123: (-1.7, 0.5, 4.0)}  # (P exchange, Q min, Q max)
    cs = study.copy()
    if grid_svc:
        cs.transmission.add_svc("6", -20.0, 20.0, q_mvar=0.0, kind="svg", controllable=True, name="grid SVC")
    out = solve_tso(cs, offers)
    for f, (_, lo, hi) in offers.items():
        assert lo - 1e-5 <= out["request"][f] <= hi + 1e-5, (f, out["request"][f])


@pytest.fixture(scope="module")
def loop(study):
    return solve_tso_dso_loop(study, LOOP)


def test_tso_dso_loop_converges(loop):
    _check_loop(loop)
    assert loop.outage is None


def test_tso_dso_loop_with_outage(study, loop):
    res = solve_tso_dso_loop(study, LOOP, outage=1)
    _check_loop(res)
    assert res.outage == "1"
    first = res.history[res.history.iteration == 1].set_index("feeder").vm_pcc_pu
    intact = loop.history[loop.history.iteration == 1].set_index("feeder").vm_pcc_pu
    assert (first - intact).abs().max() > 1e-3  # the outage changes the operating point


def test_tso_dso_loop_rejects_unknown_outage(study):
    with pytest.raises(InputError, match="line 99"):
        solve_tso_dso_loop(study, LOOP, outage=99)


@pytest.mark.slow
@pytest.mark.parametrize("outage", [None, 1])
@pytest.mark.parametrize("opts", [FAST, DispatchOptions(form="sos1", solver="SCIP")], ids=["default", "sos1-scip"])
def test_tso_dso_loop_default_objective(study, opts, outage):
    """The default objective (with the tie-break towards default curves): 8-20 s per loop on binary/HiGHS, one
    (intact grid) to four (line 1 out) minutes with the SOS1 hull on SCIP."""
    _check_loop(solve_tso_dso_loop(study, opts, outage=outage))


def test_request_outside_the_range_is_reported_with_the_range(lin13, capability13):
    """An infeasible PCC request comes back infeasible, naming the request and the range the feeder can offer."""
    lo, hi = capability13
    req = hi.q_pcc_mvar[0] + 1.0
    d = solve_dispatch(lin13, replace(FAST, q_request_mvar=np.array([req])))
    assert d.status == "infeasible"
    rng = d.info["capability_mvar"]
    assert rng[1] < req and rng[0] < rng[1]
    assert f"{req:.4f}" in d.info["message"] and f"{rng[1]:.4f}" in d.info["message"]


def test_formulations_agree_with_variations(view13):
    """Two columns (the forecast and a cloud halving PV) share one setting: the VRef over the horizon, the constant-Q
    set-point and the P limit; the four forms reach one optimum, and the limit never cuts the variation."""
    sc = ((1.0, 1.0), (0.5, 1.0))
    lin = linearize(view13, scenarios=sc)
    objs = []
    for form, solver in FORM_SOLVERS:
        d = solve_dispatch(lin, DispatchOptions(form=form, solver=solver, scenarios=sc))
        assert d.ok, (form, solver, d.solver_status)
        objs.append(d.objective)
        assert d.curtailment_by_column[1] == pytest.approx(0.0, abs=1e-6)
        vref = [d.inverters.loc[i, "vref_pu"] for i in lin.index if d.inverters.loc[i, "mode"] == "volt-var"]
        assert all(0.95 - 1e-6 <= v <= 1.05 + 1e-6 for v in vref)
    assert max(objs) - min(objs) < 1e-5
    with pytest.raises(InputError, match="scenarios"):
        solve_dispatch(lin, DispatchOptions())  # options that do not match the linearization's columns


def test_injection_at_the_slack_bus_comes_out_of_the_slack():
    net = toy()
    cn = compile_network(net)
    out, _ = solve_compiled(cn)
    s = injection_sensitivities(cn, out.v, np.array([0, 1]))
    assert s.dps_dp[0] == -1.0 and s.dqs_dq[0] == -1.0
    assert s.dps_dq[0] == 0.0 and s.dqs_dp[0] == 0.0
    # at the far bus (exporting 1 MW here) a further injection also raises the line's losses
    assert -1.0 < s.dps_dp[1] < -0.8


@pytest.mark.parametrize("kwargs, what", [({"menu": "fulll"}, "menu"), ({"category": "C"}, "category"),
                                          ({"q_weight": -1.0}, "q_weight"), ({"loop_gain_max": 0.0}, "loop_gain_max"),
                                          ({"solver": "GUROBI"}, "solver")])
def test_dispatch_options_are_checked(lin13, kwargs, what):
    with pytest.raises(InputError, match=what):
        solve_dispatch(lin13, DispatchOptions(**kwargs))


def test_spread_periods_hold_noon_and_span_the_day():
    assert spread_periods(1) == [12]
    assert spread_periods(2) == [0, 12]
    assert spread_periods(3) == [4, 12, 20]
    assert spread_periods(4) == [0, 6, 12, 18]
    assert spread_periods(24) == list(range(24))
    for count in range(1, 25):  # distinct hours, in order, noon always among them
        hours = spread_periods(count)
        assert len(hours) == count and hours == sorted(hours) and 12 in hours and 0 <= min(hours) <= max(hours) < 24
    for count in (0, 25):
        with pytest.raises(InputError, match="expected 1..24"):
            spread_periods(count)


def test_linearize_listed_periods_are_those_of_the_day():
    """``periods=[0, 12]`` linearizes hours 0 and 12 of the series: the same columns as the first 13 hours give at
    those hours; an empty list or an hour outside the series is refused, naming the feeder."""
    day = feeder_view(attach_profiles(load_case(SPEC)), F13, 1.03)
    picked = linearize(day, periods=[0, 12])
    first = linearize(day, periods=13)
    assert picked.periods == 2
    for k, h in enumerate((0, 12)):
        assert picked.vm0[:, k] == pytest.approx(first.vm0[:, h], abs=1e-12)
        assert picked.p_avail[:, k] == pytest.approx(first.p_avail[:, h], abs=1e-12)
        assert picked.dv_dq[k] == pytest.approx(first.dv_dq[h], abs=1e-12)
    assert picked.p_avail[:, 0].sum() == 0.0 and picked.p_avail[:, 1].sum() > 1.0  # midnight and noon
    for bad in ([], [24], [-1, 3]):
        with pytest.raises(InputError, match=r"feeder 'ieee13': periods .*within 0\.\.23"):
            linearize(day, periods=bad)
    with pytest.raises(InputError, match="no time series"):
        linearize(feeder_view(load_case(SPEC), F13, 1.03), periods=[0])
