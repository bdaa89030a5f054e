"""Multi-period models: time series, storage, ramps, switching counts, period-indexed tables."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.cases import load_case
from tdcoord.errors import InputError, SchemaError
from tdcoord.problems.scheduling import solve_schedule

#: IEEE RTS spring/autumn weekday, per unit of the peak (as in tdcoord.cases.profiles)
DAY = np.array([0.63, 0.62, 0.60, 0.58, 0.59, 0.65, 0.72, 0.85, 0.95, 0.99, 1.00, 0.99,
                0.93, 0.92, 0.90, 0.88, 0.90, 0.92, 0.96, 0.98, 0.96, 0.90, 0.80, 0.70])


def day_case(battery: bool = True):
    """case9 over a day: loads follow the RTS profile; a 100 MWh / 30 MW battery at bus 5 (90 % each way)."""
    net = load_case("ieee9")
    net.set_timeseries("load", "p_mw", np.outer(DAY, net.load.p_mw))
    net.set_timeseries("load", "q_mvar", np.outer(DAY, net.load.q_mvar))
    if battery:
        net.add_storage("5", e_max_mwh=100.0, p_charge_max_mw=30.0, p_discharge_max_mw=30.0,
                        eta_charge=0.9, eta_discharge=0.9, soc_init=0.5, soc_min=0.1, cost_mwh=0.5)
    return net


@pytest.mark.parametrize("backend", ["conic", "nlp"])
def test_24_period_storage_state_of_charge_by_hand(backend):
    net = day_case()
    r = solve_schedule(net, formulation="dc", backend=backend)
    assert r.converged, r.messages
    st = r.tables["res_storage"].xs(0, level="storage")
    assert list(st.index) == list(range(24))
    c, d, e = st.charge_mw.to_numpy(), st.discharge_mw.to_numpy(), st.energy_mwh.to_numpy()
    # hand-computed energy balance, hour by hour, from 50 MWh
    expected = 50.0 + np.cumsum(0.9 * c - d / 0.9)
    np.testing.assert_allclose(e, expected, atol=1e-5)
    assert e.min() >= 10.0 - 1e-6 and e.max() <= 100.0 + 1e-6  # soc within [0.1, 1]
    assert e[-1] >= 50.0 - 1e-6  # no energy taken for free
    assert np.max(np.minimum(c, d)) < 1e-5  # never both at once (binaries on the conic backend)
    np.testing.assert_allclose(st.p_mw, d - c, atol=1e-7)
    # it buys low and sells high: charged in the night valley, discharged at the morning peak
    assert c[2:5].sum() > 10.0 and d[9:12].sum() > 10.0
    # every period balances: generation = load + charging - discharging (DC, lossless)
    gen = r.tables["res_gen"].p_mw.groupby(level="period").sum()
    load = DAY * net.load.p_mw.sum()
    np.testing.assert_allclose(gen.to_numpy() + d - c, load, atol=1e-5)
    assert r.terms["storage_cost"] == pytest.approx(0.5 * (c + d).sum(), rel=1e-6)


def test_storage_lowers_the_cost_of_the_day_and_backends_agree():
    plain = solve_schedule(day_case(battery=False), formulation="dc")
    conic = solve_schedule(day_case(), formulation="dc")
    nlp = solve_schedule(day_case(), formulation="dc", backend="nlp")
    assert conic.objective < plain.objective - 10.0
    # no simultaneous charge and discharge at the optimum, so the binaries do not change it
    assert conic.objective == pytest.approx(nlp.objective, rel=1e-6)
    assert conic.info.get("polished_by") == "CLARABEL"


def test_ramp_limits_bind_and_hold():
    free = solve_schedule(day_case(battery=False), formulation="dc")
    p_free = free.tables["res_gen"].p_mw.unstack("gen")
    ramps = np.abs(np.diff(p_free.to_numpy(), axis=0)).max(axis=0)
    g = int(np.argmax(ramps))  # the machine that ramps most, limited to 70 % of that
    net = day_case(battery=False)
    net.gen.loc[p_free.columns[g], "ramp_mw_per_h"] = 0.7 * ramps[g]
    r = solve_schedule(net, formulation="dc")
    assert r.converged, r.messages
    p = r.tables["res_gen"].p_mw.unstack("gen").to_numpy()
    assert np.abs(np.diff(p[:, g])).max() == pytest.approx(0.7 * ramps[g], rel=1e-5)  # binds, and holds
    assert r.objective > free.objective


def test_ac_schedule_has_voltages_and_prices():
    r = solve_schedule(day_case(), formulation="acp")
    assert r.converged and r.solver == "ipopt"
    bus = r.tables["res_bus"]
    assert bus.index.names == ["period", "bus"] and len(bus) == 24 * 9
    assert bus.vm_pu.between(0.9 - 1e-6, 1.1 + 1e-6).all()
    assert r.tables["res_line"].pl_mw.groupby(level="period").sum().min() > 0.5  # AC has losses in every hour
    assert np.isfinite(bus.lam_p).all()


def test_time_series_from_csv(tmp_path):
    from tdcoord.io.timeseries_csv import read_timeseries

    net = load_case("ieee9")
    path = tmp_path / "load_p.csv"
    rows = ["period," + ",".join(str(i) for i in net.load.index)]
    rows += [f"{t}," + ",".join(f"{v * DAY[t]:.6f}" for v in net.load.p_mw) for t in range(24)]
    path.write_text("\n".join(rows) + "\n")
    df = read_timeseries(net, "load", "p_mw", path)
    assert df.shape == (24, len(net.load)) and net.n_periods == 24
    at_noon = net.at_period(12)
    np.testing.assert_allclose(at_noon.load.p_mw, net.load.p_mw * DAY[12], rtol=1e-6)
    assert at_noon.timeseries == {}
    bad = tmp_path / "bad.csv"
    bad.write_text("period,0,1,99\n0,1,2,3\n")
    with pytest.raises(InputError, match="column '99' names no load element"):
        read_timeseries(load_case("ieee9"), "load", "p_mw", bad)
    bad.write_text("period,0\n0,1\n2,2\n")
    with pytest.raises(InputError, match="line 3: period '2'"):
        read_timeseries(load_case("ieee9"), "load", "p_mw", bad)
    bad.write_text("period,0\n0,x\n")
    with pytest.raises(InputError, match="line 2, column '0': 'x' is not a number"):
        read_timeseries(load_case("ieee9"), "load", "p_mw", bad)
    with pytest.raises(SchemaError, match="has no numeric field"):
        net.set_timeseries("load", "bus", np.zeros((24, len(net.load))))
    with pytest.raises(SchemaError, match="every series of a network must have the same periods"):
        net.set_timeseries("load", "q_mvar", np.zeros((12, len(net.load))))


def test_capacitor_switching_count_over_a_horizon():
    """A feeder over a day with LinDistFlow: the bank may move at most twice; without the limit it moves more."""
    from tdcoord.backends import new_builder
    from tdcoord.devices import DeviceOptions, build_devices
    from tdcoord.formulations import get_formulation
    from tdcoord.network.compiled import compile_network
    from tdcoord.network.timeseries import bus_values
    from tdcoord.problems.rpo import device_free_network

    def solve(limit: float):
        net = load_case("ieee33")
        net.add_shunt("18", bs_mvar=0.3, max_step=4, step=0, controllable=True, max_switchings=limit)
        wave = 0.5 + 0.5 * np.sin(np.linspace(0, 2 * np.pi, 12)) ** 2
        net.set_timeseries("load", "p_mw", np.outer(wave, net.load.p_mw))
        net.set_timeseries("load", "q_mvar", np.outer(wave, net.load.q_mvar))
        cn = compile_network(device_free_network(net))
        b = new_builder("conic")
        form = get_formulation("lindistflow")(b, cn, "f", periods=12)
        devs = build_devices(b, form, net, cn, "f", DeviceOptions(steps="integer"), skip_ext_grid=False)
        p = sum(d.p_bus for d in devs if d.p_bus is not None) - bus_values(net, cn, "load", "p_mw", 12, 1 / cn.base_mva)
        q = sum(d.q_bus for d in devs if d.q_bus is not None) - bus_values(net, cn, "load", "q_mvar", 12, 1 / cn.base_mva)
        form.constraint_power_balance(p, q)
        b.objective_term("loss", form.objective_losses())
        sol = b.solve()
        assert sol.ok, sol.solver_status
        return np.round(b.evaluate(sol, [devs[-1].other["step"]])[0][0])

    free = solve(np.nan)
    limited = solve(2.0)
    moves = lambda s: np.abs(np.diff(np.r_[0.0, s])).sum()  # noqa: E731
    assert moves(free) > 2
    assert moves(limited) <= 2 + 1e-9

