"""The double-time-scale study (seed 004): threshold, windows, a short day end to end, resume, CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tdcoord.cases.acdc30 import PERIODS, ieee30_acdc
from tdcoord.coordination.volt_var import apply_controls, controls_of, window
from tdcoord.studies.double_time_scale import DtsSettings, Threshold, run_study


@pytest.fixture(scope="module")
def net():
    return ieee30_acdc()


def test_threshold_follows_eqs_39_to_41():
    s = DtsSettings(eps0=0.02, eps_min=0.01, eps_max=0.03, d_eps=0.005, rho_low=0.1, rho_high=0.3, window_steps=2)
    thr = Threshold(s)
    vm = np.array([1.0, 1.0, 1.05, 1.05])  # deviations 0, 0, 0.05, 0.05: U_dev 0.025, two of four buses cross
    u, exceeded = thr.update(vm)
    assert u == pytest.approx(0.025) and exceeded  # 0.025 > eps 0.02
    # rho = 2 crossings / (T=2 samples x 4 buses) = 0.25: inside [0.1, 0.3], eps unchanged
    assert thr.eps == pytest.approx(0.02)
    thr.update(np.array([1.05, 1.05, 1.05, 1.05]))  # 4 more crossings: rho = 6 / 8 = 0.75 > 0.3
    assert thr.eps == pytest.approx(0.015)  # lowered by d_eps
    thr.update(np.ones(4))  # the window still holds the 4 crossings: rho = 0.5, eps clamped at eps_min
    assert thr.eps == pytest.approx(0.01)
    for _ in range(5):  # quiet steps: rho = 0 < 0.1, eps rises by d_eps each step, capped at eps_max
        thr.update(np.ones(4))
    assert thr.eps == pytest.approx(0.03)
    u, exceeded = thr.update(np.ones(4))
    assert u == 0.0 and not exceeded


def test_window_hourly_means_and_wrap(net):
    w = window(net, 23, 3, 12, wrap=True)
    assert w.n_periods == 3
    load = net.timeseries["load.p_mw"].to_numpy()
    hourly = load.reshape(24, 12, -1).mean(axis=1)
    got = w.timeseries["load.p_mw"].to_numpy()
    assert np.allclose(got, hourly[[23, 0, 1]])
    clipped = window(net, 23, 3, 12)
    assert clipped.n_periods == 1
    five = window(net, PERIODS - 2, 5, wrap=True)
    assert np.allclose(five.timeseries["load.p_mw"].to_numpy(), load[[286, 287, 0, 1, 2]])


def test_controls_round_trip(net):
    c = controls_of(net)
    assert np.all(c.taps == 0) and np.all(c.steps == 0)  # the day starts at neutral taps, banks off
    c.taps[:] = [2, -1, 3, 1]
    c.steps[:] = [1, 2, 3, 4, 5]
    c.q_sh_mvar[:] = 7.5
    c.vse_re[:], c.vse_im[:] = 0.02, -0.01
    back = controls_of(apply_controls(net.copy(), c))
    for a, b in zip(c.as_dict().values(), back.as_dict().values()):
        assert np.allclose(a, b)


@pytest.fixture(scope="module")
def short_study(net, tmp_path_factory):
    out = tmp_path_factory.mktemp("dts")
    s = DtsSettings(hours=2, compare_hour=1, pso_seeds=2, pso_generations=3)
    return run_study(net, s, out=out), out, s


def test_short_day_runs_and_reports(short_study):
    study, out, s = short_study
    summary = study.summary()
    names = [r["name"] for r in summary["scenarios"]]
    assert names == ["no-control", "slow", "double"]
    for r in summary["scenarios"]:
        for key in ("loss_mwh", "cost", "vm_min_pu", "vm_max_pu", "violations"):
            assert key in r
        assert r["not_converged_steps"] == 0
        assert r["loss_mwh"] > 0
    steps = {n: study.steps(n) for n in names}
    assert all(len(df) == 2 * s.steps_per_hour for df in steps.values())
    # no control: nothing moves; the controlled scenarios move taps or banks and hold the move limits per hour
    assert summary["scenarios"][0]["tap_moves"] == 0 and summary["scenarios"][0]["upfc_mvarh"] == 0
    for n in ("slow", "double"):
        df = steps[n]
        taps = df[[c for c in df.columns if c.startswith("tap_")]].to_numpy()
        assert np.all(np.abs(np.diff(taps, axis=0)) <= 5 + 1e-9)
        assert np.allclose(taps, np.round(taps))
    # the slow scenario holds the UPFC for the hour; the double one moves it every 5 minutes
    q_slow = steps["slow"]["upfc_q_0"].to_numpy()
    q_fast = steps["double"]["upfc_q_0"].to_numpy()
    assert np.ptp(q_slow[:12]) == 0.0
    assert np.ptp(q_fast[:12]) > 0.0
    # the slow step's weights follow the sensitivities and are normalized
    w = summary["weights"]["mean"]
    assert w["upfc"] + w["oltc"] + w["cb"] == pytest.approx(1.0)
    # exact vs PSO on the same model
    sc = summary["slow"]
    assert sc["exact"]["objective"] <= sc["pso"]["objective"] * (1 + 1e-9)
    assert len(sc["pso"]["objective_spread"]["objectives"]) == 2
    assert "hvdc_vm_pu" in summary and "retriggers" in summary and summary["time_s"] > 0


def test_outputs_written_and_voltages_rebuild(short_study, net):
    from tdcoord.pf.ac import run_newton
    from tdcoord.reporting.volt_var import write_outputs

    study, out, s = short_study
    summary = write_outputs(study, out, out / "s.json")
    for f in ("summary.json", "table3_voltages.csv", "table4_hvdc.csv", "table5_loss_cost.csv", "actions.csv",
              "steps_double.csv", "voltages_double.csv", "fig8_oltc.png", "fig9_cb.png", "fig10_upfc.png",
              "fig11_voltages.png"):
        assert (out / f).is_file(), f
    assert json.loads((out / "s.json").read_text())["scenarios"][2]["name"] == "double"
    assert summary["scenarios"][1]["name"] == "slow"
    # a step's controls, applied to the case's period, give the reported voltages again
    import pandas as pd

    steps = pd.read_csv(out / "steps_double.csv", index_col="step")
    volts = pd.read_csv(out / "voltages_double.csv", index_col="step")
    k = 17
    row = steps.loc[k]
    c = controls_of(net)
    c.taps[:] = [row[f"tap_{i}"] for i in range(len(c.taps))]
    c.steps[:] = [row[f"cb_{i}"] for i in range(len(c.steps))]
    c.q_sh_mvar[:] = [row["upfc_q_0"]]
    c.vse_re[:], c.vse_im[:] = [row["upfc_vse_re_0"]], [row["upfc_vse_im_0"]]
    r = run_newton(apply_controls(net.at_period(k), c), enforce_q_lims=True)
    assert np.max(np.abs(r.res_bus.vm_pu.to_numpy() - volts.loc[k].to_numpy())) < 1e-9


def test_resume_keeps_finished_hours(net, short_study):
    study, out, s = short_study
    again = run_study(net, s, out=out, resume=True)
    for n in study.results:
        a, b = study.steps(n), again.steps(n)
        assert np.allclose(a.loss_mw, b.loss_mw, rtol=0, atol=1e-12)
    assert again.slow_compare["exact"]["objective"] == study.slow_compare["exact"]["objective"]
    # nothing recomputed: every hour's record, its measured time included, comes back from the checkpoint
    for n in study.results:
        assert [h["time_s"] for h in again.results[n].hours] == [h["time_s"] for h in study.results[n].hours]


def test_cli_bad_input_exit_2(tmp_path, net):
    from tdcoord.cli import app
    from tdcoord.io.json_io import write_json

    runner = CliRunner()
    r = runner.invoke(app, ["study", "double-time-scale", "--solver", "simplex", "--out", str(tmp_path / "a")])
    assert r.exit_code == 2 and "simplex" in r.output
    big = net.copy()
    big.hvdc.loc[0, ["p_rated_mw", "p_mw"]] = 600.0
    big.timeseries.pop("hvdc.p_mw")
    path = tmp_path / "big.json"
    write_json(big, path)
    r = runner.invoke(app, ["study", "double-time-scale", "--case", str(path), "--out", str(tmp_path / "b")])
    assert r.exit_code == 2
    assert "hvdc 0" in r.output and "p_rated_mw" in r.output
    bad = net.copy()
    bad.upfc.loc[0, "bus"] = "7"
    path = tmp_path / "bad.json"
    write_json(bad, path)
    r = runner.invoke(app, ["study", "double-time-scale", "--case", str(path), "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "upfc 0" in r.output
    for table, field, value, named in (("hvdc", "bus", "99", "hvdc 0"), ("trafo", "tap_min_pu", 1.2, "trafo 0")):
        bad = net.copy()
        bad_table = getattr(bad, table)
        bad_table.loc[bad_table.index[0], field] = value  # a link on a missing bus; tap limits inverted
        path = tmp_path / f"bad_{table}.json"
        write_json(bad, path)
        r = runner.invoke(app, ["study", "double-time-scale", "--case", str(path), "--out", str(tmp_path / table)])
        assert r.exit_code == 2 and named in r.output and field in r.output, r.output
        assert "Traceback" not in r.output


def test_pf_json_reports_the_acdc_devices(tmp_path):
    from tdcoord.cli import app

    path = tmp_path / "pf.json"
    r = CliRunner().invoke(app, ["pf", "ieee30-acdc", "--json", str(path)])
    assert r.exit_code == 0, r.output
    tables = json.loads(path.read_text())["tables"]
    hv = dict(zip(tables["res_hvdc"]["columns"], tables["res_hvdc"]["data"][0]))
    assert hv["p_mw"] > 40 and hv["q_mvar"] < -20  # the inverter injects P and absorbs Q
    assert 15 <= hv["gamma_deg"] <= 30
    up = dict(zip(tables["res_upfc"]["columns"], tables["res_upfc"]["data"][0]))
    assert up["vse_pu"] == 0.0 and up["q_sh_mvar"] == 0.0  # idle at the case's set-points
    tr = tables["res_trafo"]
    assert "tap_pos" in tr["columns"]
    col = tr["columns"].index("tap_pos")
    assert [row[col] for row in tr["data"]].count(0.0) >= 4  # the four OLTCs start at the neutral position


def test_other_commands_refuse_acdc_devices():
    from tdcoord.cli import app

    runner = CliRunner()
    for args in (["opf", "ieee30-acdc"], ["vsm", "ieee30-acdc"], ["pf", "ieee30-acdc+ieee33@6"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert "upfc 0" in r.output and "does not model" in r.output


def test_validation_of_acdc_devices(net):
    from tdcoord.errors import SchemaError
    from tdcoord.network.validate import validate

    two = net.copy()
    two.add("upfc", {"line": int(net.upfc.line.iat[0]), "bus": "24"})
    with pytest.raises(SchemaError, match="upfc 1: field 'line'.*one UPFC per line"):
        validate(two, radial=False)
    oos = net.copy()
    oos.bus.loc["5", "in_service"] = False
    with pytest.raises(SchemaError, match="hvdc 0: field 'bus' = '5' is out of service"):
        validate(oos, radial=False)
    weak = net.copy()  # a stronger rectifier source needs a larger firing angle in the 70 % hours of the schedule
    weak.hvdc.loc[0, "v_rect_pu"] = 1.08
    with pytest.raises(SchemaError, match=r"hvdc 0: in period \d+ the rectifier .* firing angle of 30\.0"):
        validate(weak, radial=False)


def test_retrigger_spends_only_the_moves_left(net):
    from tdcoord.studies.double_time_scale import _retrigger, _used

    c = controls_of(net)
    before = c.copy()
    now = c.copy()
    now.taps[0] = 3.0
    moved = _used(before, now, (np.zeros(4), np.zeros(5)))
    back = now.copy()
    back.taps[0] = 1.0
    moved = _used(now, back, moved)  # up 3 and back 2: 5 steps used, not 1
    assert moved[0][0] == 5.0
    s = DtsSettings()
    full = (np.full(4, 5.0), np.full(5, 3.0))  # every tap changer and bank has used its hour's budget
    rt = _retrigger(net, 18 * 12 + 3, back, full, s)
    assert rt is not None
    assert np.array_equal(rt.taps, back.taps) and np.array_equal(rt.steps, back.steps)
    free = _retrigger(net, 18 * 12 + 3, back, (np.zeros(4), np.zeros(5)), s)  # the evening peak wants moves
    assert free is not None and (np.any(free.taps != back.taps) or np.any(free.steps != back.steps))
