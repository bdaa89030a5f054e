"""Short-term voltage stability: TVCI/VDSI on hand-made trajectories, the Table 3 system, feeder equivalents.

Fast and without ANDES: the simulations and the dataset are tested in
tests/studies/test_stvs_dataset.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.errors import InputError
from tdcoord.stability.stvs_indices import (ANGLE_LIMIT_DEG, DT, EPS, RECOVERY_S, stvs_indices, tvci, uniform,
                                            vdsi)


def test_constants_are_the_papers():
    assert (EPS, RECOVERY_S, DT, ANGLE_LIMIT_DEG) == (0.2, 1.0, 0.01, 180.0)


# ------------------------------------------------------------------ uniform grid
def test_uniform_grid_and_linear_interpolation():
    t = np.array([0.0, 0.1, 0.3])
    v = np.array([[1.0, 0.0], [0.5, 1.0], [0.9, 3.0]])
    grid, u = uniform(t, v, 0.05, 0.3, 0.05)
    np.testing.assert_allclose(grid, [0.1, 0.15, 0.2, 0.25, 0.3], atol=1e-12)
    np.testing.assert_allclose(u[:, 0], [0.5, 0.6, 0.7, 0.8, 0.9], atol=1e-12)
    np.testing.assert_allclose(u[:, 1], [1.0, 1.5, 2.0, 2.5, 3.0], atol=1e-12)


def test_uniform_gives_nan_after_the_last_saved_time():
    grid, u = uniform([0.0, 0.1], [1.0, 1.0], 0.0, 0.2, 0.05)  # a 1-D trajectory is one node
    assert u.shape == (4, 1)
    np.testing.assert_allclose(u[:2, 0], 1.0)
    assert np.isnan(u[2:, 0]).all()


# ------------------------------------------------------------------ VDSI
def test_vdsi_two_nodes_by_hand():
    # node 0 at 0.7 p.u. (deviation 0.3 >= 0.2: counts) and node 1 at 0.9 (0.1 < 0.2: 0) after clearing at
    # 0.5 s; before clearing both sit in a deep fault (0.1 p.u.), which must not count
    t = np.array([0.0, 0.2, 0.2, 0.5, 0.5, 2.0])
    v = np.array([[1.0, 1.0], [1.0, 1.0], [0.1, 0.1], [0.1, 0.1], [0.7, 0.9], [0.7, 0.9]])
    n = 150  # grid 0.51, 0.52, ..., 2.00
    assert vdsi(t, v, 0.5, 2.0) == pytest.approx(0.3 * n / (2 * n), abs=1e-12)
    assert vdsi(t, v, 0.5, 2.0) == pytest.approx(0.15, abs=1e-12)


def test_vdsi_counts_a_deviation_equal_to_eps():
    # |6 - 5| / 5 == 0.2 == EPS exactly in floating point (1.2 - 1.0 is not; the comparison allows for rounding)
    t = np.array([0.0, 0.5, 2.0])
    assert abs(6.0 - 5.0) / 5.0 == EPS
    assert vdsi(t, np.full((3, 1), 6.0), 0.5, 2.0, u0=5.0) == pytest.approx(0.2, abs=1e-12)
    assert vdsi(t, np.full((3, 1), 4.0), 0.5, 2.0, u0=5.0) == pytest.approx(0.2, abs=1e-12)
    # and with a binary-exact threshold at u0 = 1
    assert vdsi(t, np.full((3, 1), 1.25), 0.5, 2.0, eps=0.25) == pytest.approx(0.25, abs=1e-12)
    assert vdsi(t, np.full((3, 1), 0.75), 0.5, 2.0, eps=0.25) == pytest.approx(0.25, abs=1e-12)
    # just inside the band: 0
    assert vdsi(t, np.full((3, 1), 1.199), 0.5, 2.0) == 0.0
    assert vdsi(t, np.full((3, 1), 0.801), 0.5, 2.0) == 0.0


def test_vdsi_node_at_1_2_pu_counts():
    t = np.array([0.0, 0.5, 2.0])
    assert vdsi(t, np.full((3, 1), 1.2), 0.5, 2.0) == pytest.approx(0.2, abs=1e-12)


def test_vdsi_piecewise_by_hand():
    # node 0: 0.4 p.u. at clearing (0.5 s), back to 1.0 at 0.7 s (3 p.u./s), then flat;
    # node 1: flat 1.3 p.u. (0.3) until 0.8 s, then 1.0 from 0.9 s (down 3 p.u./s) to the end
    t = np.array([0.0, 0.5, 0.7, 0.8, 0.9, 1.0])
    v = np.array([[1.0, 1.3], [0.4, 1.3], [1.0, 1.3], [1.0, 1.3], [1.0, 1.0], [1.0, 1.0]])
    n = 50  # grid 0.51 ... 1.00
    # node 0 at 0.5 + 0.01 k: 0.4 + 0.03 k, deviation 0.6 - 0.03 k >= 0.2 for k = 1..13 (0.57 ... 0.21)
    node0 = sum(0.6 - 0.03 * k for k in range(1, 14))
    assert node0 == pytest.approx(5.07)
    # node 1: 0.3 for k = 1..30 (up to 0.80 s), then 0.3 - 0.03 j at 0.80 + 0.01 j: 0.27, 0.24, 0.21 count, 0.18 not
    node1 = 0.3 * 30 + 0.27 + 0.24 + 0.21
    expected = (node0 + node1) / (2 * n)
    assert vdsi(t, v, 0.5, 1.0) == pytest.approx(expected, abs=1e-12)
    # the first node alone, and T - T_C counted in steps of the grid (t_end = 1.005: still 50 steps)
    assert vdsi(t, v[:, :1], 0.5, 1.005) == pytest.approx(node0 / n, abs=1e-12)


def test_vdsi_deviations_before_clearing_do_not_count():
    # a bolted fault (0 V) from 0.2 s to 0.405 s, 1 p.u. before and after
    t = np.array([0.0, 0.2, 0.2, 0.405, 0.405, 1.405])
    v = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    assert vdsi(t, v, 0.405, 1.405) == 0.0
    # taken as cleared at 0.3 s, the 0 V of 0.31 ... 0.40 s (10 of the 100 grid points) counts in full
    assert vdsi(t, v, 0.3, 1.3) == pytest.approx(10 / 100, abs=1e-12)


def test_vdsi_time_not_simulated_counts_as_zero_volts():
    # a run that stopped at 0.805 s: grid 0.51 ... 1.00 (50 points), 0.81 ... 1.00 (20) not simulated
    t = np.array([0.0, 0.805])
    assert vdsi(t, np.ones(2), 0.5, 1.0) == pytest.approx(20 / 50, abs=1e-12)


# ------------------------------------------------------------------ TVCI
def recovered():
    t = np.array([0.0, 0.2, 0.2, 0.3, 0.3, 0.5, 1.0, 2.0, 5.0])
    v = np.array([1.0, 1.0, 0.2, 0.2, 0.85, 0.95, 1.0, 1.0, 1.0])
    return t, np.c_[v, v * 1.01]


def test_tvci_recovered_is_stable():
    t, v = recovered()
    assert tvci(t, v, 0.3, 5.0) == (1, "")
    ind = stvs_indices(t, v, 0.3, 5.0)
    assert (ind.tvci, ind.reason) == (1, "")
    assert ind.vdsi == pytest.approx(vdsi(t, v, 0.3, 5.0), abs=0)


def test_tvci_low_voltage_one_second_after_clearing_is_unstable():
    t, v = recovered()
    v = v.copy()
    v[t >= 1.3, 1] = 0.75  # node 1 sustained at 0.75 p.u. from t_clear + 1 s on
    flag, why = tvci(t, v, 0.3, 5.0)
    assert flag == 0
    assert "key node 1" in why and "0.750" in why
    # below 0.8 only at exactly t_clear + 1 s counts too ("or later")
    t2 = np.array([0.0, 0.3, 1.3, 1.31, 5.0])
    v2 = np.array([1.0, 0.5, 0.79, 0.95, 1.0])
    flag2, why2 = tvci(t2, v2, 0.3, 5.0)
    assert flag2 == 0 and "key node 0" in why2 and "1.300" in why2
    # a slow recovery that is back above 0.8 p.u. by t_clear + 1 s is stable
    t3 = np.array([0.0, 0.3, 1.29, 1.3, 5.0])
    v3 = np.array([1.0, 0.5, 0.7, 0.95, 1.0])
    assert tvci(t3, v3, 0.3, 5.0) == (1, "")
    assert stvs_indices(t, v, 0.3, 5.0).tvci == 0


def test_tvci_incomplete_simulation_is_unstable():
    t, v = recovered()
    flag, why = tvci(t[:6], v[:6], 0.3, 5.0, completed=False)
    assert flag == 0 and "stopped" in why and "0.500" in why
    ind = stvs_indices(t[:6], v[:6], 0.3, 5.0, completed=False)
    assert ind.tvci == 0
    assert ind.vdsi > 0.9  # 0.51 ... 5.00 s not simulated: 0 V


def test_tvci_rotor_angle_spread():
    t, v = recovered()
    base = np.zeros(len(t))
    apart = np.c_[base, base + 10.0, base + np.where(t > 0.3, 200.0, 20.0)]
    flag, why = tvci(t, v, 0.3, 5.0, delta_deg=apart)
    assert flag == 0 and "200 degrees" in why
    assert stvs_indices(t, v, 0.3, 5.0, delta_deg=apart).tvci == 0
    # more than 180 apart only up to clearing (t <= t_clear): stable
    before = np.c_[base, np.where(t <= 0.3, 250.0, 30.0)]
    assert tvci(t, v, 0.3, 5.0, delta_deg=before) == (1, "")
    # 179 degrees apart after clearing: within the limit
    near = np.c_[base, base + 179.0]
    assert tvci(t, v, 0.3, 5.0, delta_deg=near) == (1, "")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("fn", [
    lambda t, v, tc: vdsi(t, v, tc, 5.0),
    lambda t, v, tc: tvci(t, v, tc, 5.0),
    lambda t, v, tc: stvs_indices(t, v, tc, 5.0),
])
@pytest.mark.parametrize("t, v, tc, needle", [
    ([0.0, 0.5, 0.4, 1.0], np.ones((4, 2)), 0.3, "non-decreasing"),
    ([0.5, 1.0, 2.0], np.ones((3, 2)), 0.3, "before the first saved time"),
    ([0.0, 1.0, 2.0], np.ones((4, 2)), 0.3, "expected 3 rows"),
    ([0.0, 1.0, 2.0], np.ones((2, 3)), 0.3, "expected 3 rows"),
    ([[0.0, 1.0], [2.0, 3.0]], np.ones((2, 2)), 0.3, "1-D array"),
    ([0.0], np.ones((1, 2)), 0.0, "at least 2 times"),
])
def test_bad_trajectories_raise_input_error(fn, t, v, tc, needle):
    with pytest.raises(InputError, match=needle):
        fn(np.asarray(t), v, tc)


def test_vdsi_needs_time_after_clearing():
    with pytest.raises(InputError, match="no time after clearing"):
        vdsi([0.0, 1.0], [1.0, 1.0], 0.5, 0.5)


# ------------------------------------------------------------------ the Table 3 system
@pytest.fixture(scope="module")
def flex_pf(stvs_flex):
    from tdcoord.pf.integrated import run_coupled

    return run_coupled(stvs_flex)


def test_paper_bus_map():
    from tdcoord.cases.stvs_flex import NODE_ORDER, paper_bus

    assert len(NODE_ORDER) == 12 and "650" not in NODE_ORDER
    assert paper_bus("DS1", 15) == ("ieee13@13", "632")
    assert paper_bus("DS1", 24) == ("ieee13@13", "652")
    assert paper_bus("DS1", 25) == ("ieee13@13", "692")
    assert paper_bus("DS1", 26) == ("ieee13@13", "675")
    assert paper_bus("DS2", 27) == ("ieee13@14", "632")
    assert paper_bus("DS2", 36) == ("ieee13@14", "652")
    assert paper_bus("DS2", 37) == ("ieee13@14", "692")
    assert paper_bus("DS2", 38) == ("ieee13@14", "675")


@pytest.mark.parametrize("sub, number", [("DS1", 14), ("DS1", 27), ("DS2", 26), ("DS2", 39)])
def test_paper_bus_outside_the_feeder_raises(sub, number):
    from tdcoord.cases.stvs_flex import paper_bus

    with pytest.raises(ValueError, match=f"{sub} bus {number}"):
        paper_bus(sub, number)


def test_table3_resources_on_the_feeders(stvs_flex):
    from tdcoord.cases.stvs_flex import TABLE3

    assert len(TABLE3) == 10
    ds1, ds2 = stvs_flex.feeders["ieee13@13"], stvs_flex.feeders["ieee13@14"]
    for net in (ds1, ds2):
        assert len(net.sgen) == 3 and len(net.storage) == 2
        assert net.sgen.in_service.all() and net.storage.in_service.all()
        np.testing.assert_allclose(net.sgen.sn_mva, 1.1 * net.sgen.p_max_mw, rtol=1e-12)
        np.testing.assert_allclose(net.sgen.p_mw, net.sgen.p_max_mw, rtol=1e-12)  # availability 1
        np.testing.assert_allclose(net.storage.p_mw, 0.0)
        np.testing.assert_allclose(net.storage.sn_mva, 0.55, rtol=1e-12)
        np.testing.assert_allclose(net.storage.e_max_mwh, 1.0, rtol=1e-12)
        np.testing.assert_allclose(net.storage.p_charge_max_mw, 0.5)
        np.testing.assert_allclose(net.storage.p_discharge_max_mw, 0.5)
    pv1 = dict(zip(ds1.sgen.bus.astype(str), ds1.sgen.p_max_mw))
    assert pv1 == pytest.approx({"652": 0.5, "692": 0.4, "675": 0.6})
    assert set(ds1.sgen.kind) == {"pv"}
    assert sorted(ds1.storage.bus.astype(str)) == ["675", "692"]
    ds2_sgen = {str(b): (k, p) for b, k, p in zip(ds2.sgen.bus, ds2.sgen.kind, ds2.sgen.p_max_mw)}
    assert ds2_sgen == {"652": ("pv", 0.5), "675": ("pv", 0.6), "692": ("wind", 0.8)}
    assert sorted(ds2.storage.bus.astype(str)) == ["652", "675"]
    assert ds1.sgen.p_max_mw.sum() == pytest.approx(1.5)
    assert ds2.sgen.p_max_mw.sum() == pytest.approx(1.9)
    assert ds1.sgen.sn_mva.sum() == pytest.approx(1.65) and ds2.sgen.sn_mva.sum() == pytest.approx(2.09)
    # the transmission grid and the open tie are those of seed 001
    from tdcoord.cases.coupled_cases import seed001

    plain = seed001()
    assert len(stvs_flex.transmission.load) == len(plain.transmission.load)
    assert stvs_flex.transmission.load.p_mw.sum() == pytest.approx(plain.transmission.load.p_mw.sum())
    assert len(stvs_flex.tie) == 1 and not bool(stvs_flex.tie.in_service.iloc[0])
    assert any("Table 3" in n for n in stvs_flex.notes)


def test_availability_scales_pv_and_wind_only():
    from tdcoord.cases.stvs_flex import stvs_flex_system

    half = stvs_flex_system(0.5)
    for net in half.feeders.values():
        np.testing.assert_allclose(net.sgen.p_mw, 0.5 * net.sgen.p_max_mw, rtol=1e-12)
        np.testing.assert_allclose(net.sgen.sn_mva, 1.1 * net.sgen.p_max_mw, rtol=1e-12)


def test_integrated_power_flow_converges_and_der_offsets_the_import(stvs_flex, flex_pf):
    from tdcoord.cases.coupled_cases import seed001
    from tdcoord.pf.integrated import run_coupled

    assert flex_pf.converged
    rb = flex_pf.res_boundary
    assert list(rb.index) == ["ieee13@13", "ieee13@14"]
    assert (rb.vm_pu > 0.95).all() and (rb.vm_pu < 1.06).all()
    plain = run_coupled(seed001())
    assert plain.converged
    # the feeders import less by their PV/wind output and by the feeder losses that output saves (resources at
    # the far ends relieve the lines: less than the ~0.1 MW the plain feeder loses)
    drop = plain.res_boundary.p_mw - rb.p_mw
    assert 1.5 < drop["ieee13@13"] < 1.5 + 0.1
    assert 1.9 < drop["ieee13@14"] < 1.9 + 0.1


# ------------------------------------------------------------------ feeder equivalents (no ANDES)
def test_feeder_equivalents_match_the_power_flow(stvs_flex, flex_pf):
    from tdcoord.stability.time_domain import feeder_equivalents

    eqs = feeder_equivalents(stvs_flex, flex_pf)
    assert [e.name for e in eqs] == ["ieee13@13", "ieee13@14"]
    assert [e.bus for e in eqs] == ["13", "14"]
    for e in eqs:
        net = stvs_flex.feeders[e.name]
        assert e.p_mw == pytest.approx(flex_pf.res_boundary.at[e.name, "p_mw"], abs=1e-12)
        assert e.q_mvar == pytest.approx(flex_pf.res_boundary.at[e.name, "q_mvar"], abs=1e-12)
        assert e.p_der_mw == pytest.approx(net.sgen.p_mw.sum() + net.storage.p_mw.sum(), abs=1e-12)
        assert e.q_der_mvar == pytest.approx(net.sgen.q_mvar.sum() + net.storage.q_mvar.sum(), abs=1e-12)
        assert e.sn_der_mva == pytest.approx(net.sgen.sn_mva.sum() + net.storage.sn_mva.sum(), abs=1e-12)
        assert e.p_load_mw == pytest.approx(e.p_mw + e.p_der_mw, abs=1e-12)
        assert e.q_load_mvar == pytest.approx(e.q_mvar + e.q_der_mvar, abs=1e-12)
        # the equivalent load is the feeder's own load plus its losses (a few kW)
        loss = e.p_load_mw - net.load.p_mw[net.load.in_service].sum()
        assert 0.01 < loss < 0.06
    assert eqs[0].p_der_mw == pytest.approx(1.5) and eqs[1].p_der_mw == pytest.approx(1.9)
    assert eqs[0].sn_der_mva == pytest.approx(1.1 * 2.5) and eqs[1].sn_der_mva == pytest.approx(1.1 * 2.9)
    # without a power flow given, it runs one: the same numbers
    again = feeder_equivalents(stvs_flex)
    assert [a.p_mw for a in again] == pytest.approx([e.p_mw for e in eqs], abs=1e-9)


def test_feeder_equivalents_follow_der_output_and_storage(stvs_flex, flex_pf):
    from tdcoord.stability.time_domain import feeder_equivalents

    before = {e.name: e for e in feeder_equivalents(stvs_flex, flex_pf)}
    cs = stvs_flex.copy()
    cs.feeders["ieee13@13"].sgen["p_mw"] *= 0.5  # PV at half output on DS1
    cs.feeders["ieee13@14"].storage.loc[:, "p_mw"] = [0.3, 0.2]  # DS2's batteries discharge 0.5 MW
    after = {e.name: e for e in feeder_equivalents(cs)}
    assert stvs_flex.feeders["ieee13@13"].sgen.p_mw.sum() == pytest.approx(1.5)  # the original is untouched
    a, b = before["ieee13@13"], after["ieee13@13"]
    assert b.p_der_mw == pytest.approx(0.75, abs=1e-12)
    assert b.p_mw - a.p_mw == pytest.approx(0.75, abs=0.05)  # imports what the PV no longer gives
    assert 0 < abs(b.p_load_mw - a.p_load_mw) < 0.05  # only the losses change
    c, d = before["ieee13@14"], after["ieee13@14"]
    assert d.p_der_mw == pytest.approx(1.9 + 0.5, abs=1e-12)
    assert c.p_mw - d.p_mw == pytest.approx(0.5, abs=0.05)
    assert abs(d.p_load_mw - c.p_load_mw) < 0.05


def test_feeder_equivalents_refuse_a_diverged_power_flow(stvs_flex, flex_pf):
    from types import SimpleNamespace

    from tdcoord.stability.time_domain import feeder_equivalents

    with pytest.raises(InputError, match="does not converge"):
        feeder_equivalents(stvs_flex, SimpleNamespace(converged=False, res_boundary=flex_pf.res_boundary))


def test_operating_point_loads_and_features(stvs_flex, flex_pf):
    from tdcoord.stability.time_domain import operating_point

    op = operating_point(stvs_flex, flex_pf)
    ld = stvs_flex.transmission.load[stvs_flex.transmission.load.in_service]
    assert sum(op.load_mw.values()) == pytest.approx(ld.p_mw.sum(), abs=1e-9)
    assert sum(op.load_mvar.values()) == pytest.approx(ld.q_mvar.sum(), abs=1e-9)
    assert set(op.load_mw) == {str(b) for b in ld.bus}
    f = op.features()
    assert f["p_ex_mw:ieee13@13"] == pytest.approx(flex_pf.res_boundary.at["ieee13@13", "p_mw"], abs=1e-12)
    assert f["q_ex_mvar:ieee13@14"] == pytest.approx(flex_pf.res_boundary.at["ieee13@14", "q_mvar"], abs=1e-12)
    assert len(f) == 2 * len(op.load_mw) + 4
