"""CLI: `pf --inverters` and `study smart-inverters` (contract keys, outputs, bad input)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tdcoord.cli import app

runner = CliRunner()
SPEC = "ieee9+ieee13@5+ieee123@7"


def invoke(*args):
    return runner.invoke(app, list(args))


def test_pf_inverters_json_lists_every_inverter(tmp_path):
    out = tmp_path / "pf.json"
    r = invoke("pf", SPEC, "--inverters", "volt-var", "--json", str(out))
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["converged"] and data["local_control"]["converged"]
    assert data["iterations"] == data["local_control"]["iterations"] > 1
    inv = data["inverters"]
    assert len(inv) == 6 + 16  # the case's PV units on ieee13@5 and ieee123@7
    assert {"area", "sgen", "bus", "mode", "p_mw", "q_mvar", "vm_pu"} <= set(inv[0])
    # volt-var with the default category B curve: Q follows the curve at the reported voltage
    for row in inv:
        v = row["vm_pu"]
        assert row["mode"] == "volt-var"
        if v <= 1.02:
            assert abs(row["q_mvar"]) < 1e-4
        else:
            assert row["q_mvar"] < 0


def test_pf_inverters_fixed_is_the_plain_power_flow(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert invoke("pf", SPEC, "--json", str(a)).exit_code == 0
    r = invoke("pf", SPEC, "--inverters", "fixed", "--json", str(b))
    assert r.exit_code == 0, r.output
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert db["vm_max_pu"] == pytest.approx(da["vm_max_pu"], abs=1e-9)
    assert db["p_loss_mw"] == pytest.approx(da["p_loss_mw"], abs=1e-7)


@pytest.mark.parametrize("args, needle", [
    (("pf", SPEC, "--inverters", "droop"), "--inverters 'droop'"),
    (("pf", SPEC, "--inverters", "volt-var", "--category", "C"), "--category 'C'"),
    (("pf", "ieee13", "--inverters", "volt-var"), "no inverter"),
    (("study", "smart-inverters", "--form", "sos1", "--solver", "HIGHS"), "only SCIP"),
    (("study", "smart-inverters", "--category", "Z"), "--category 'Z'"),
    (("study", "smart-inverters", "--pv", "3"), "PV factor 3"),
])
def test_bad_input_exits_2_with_a_message(args, needle, tmp_path):
    r = invoke(*args, "--out", str(tmp_path)) if args[0] == "study" else invoke(*args)
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert "Traceback" not in r.output


def test_study_writes_the_contract(tmp_path):
    out, js = tmp_path / "si", tmp_path / "summary.json"
    r = invoke("study", "smart-inverters", "--out", str(out), "--json", str(js), "--rls-steps", "40")
    assert r.exit_code == 0, r.output
    d = json.loads(js.read_text())
    for key in ("default_vv", "optimized"):
        assert key in d["curtailment_pct"] and len(d["pcc_q_range_mvar"][key]) == 2
    forms = {"sos1", "sos2", "binary_scip", "binary_highs"}
    assert set(d["runtime_s"]) == forms and set(d["objective"]) == forms
    objs = list(d["objective"].values())
    assert max(objs) - min(objs) < 1e-5  # the four formulations reach one optimum
    assert d["curtailment_pct"]["default_vv"] > 1.0 and d["curtailment_pct"]["optimized"] < 1e-6
    lo, hi = d["pcc_q_range_mvar"]["optimized"]
    dlo, dhi = d["pcc_q_range_mvar"]["default_vv"]
    assert hi - lo > 10 * (dhi - dlo)
    assert isinstance(d["loop_iterations"], int) and d["loop_iterations"] >= 2
    assert d["loop"]["outage"]["converged"] and d["loop"]["outage"]["system_check"]["violations"] == 0
    assert 0.95 - 1e-6 <= d["vm_min_pu"] <= d["vm_max_pu"] <= 1.05 + 1e-6
    assert 0 < d["rls_error"] < 1
    for name in ("summary.json", "inverters.csv", "settings.csv", "voltages.csv", "loop.csv", "rls.csv",
                 "runtimes.csv", "curves.png", "voltage_profile.png", "loop_convergence.png", "rls_error.png"):
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_study_scale_run_spreads_its_hours(tmp_path):
    """``--periods 2``: the multi-period run on ieee123 takes 00:00 and 12:00 (not the first two night hours), one
    setting per inverter for both; the binary forms prove their optimum and agree."""
    js = tmp_path / "summary.json"
    r = invoke("study", "smart-inverters", "--out", str(tmp_path / "si"), "--json", str(js), "--rls-steps", "40",
               "--outage-line", "-1", "--periods", "2", "--time-limit", "60")
    assert r.exit_code == 0, r.output
    scale = json.loads(js.read_text())["scale"]
    assert scale["periods"] == 2 and scale["hours"] == [0, 12]
    assert scale["status"]["binary_scip"] == scale["status"]["binary_highs"] == "optimal"
    assert scale["objective"]["binary_scip"] == pytest.approx(scale["objective"]["binary_highs"], rel=1e-5)
