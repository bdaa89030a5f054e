"""CLI: vsm, reserve and the scenario study."""

from __future__ import annotations

import json

import pytest

from typer.testing import CliRunner

from tdcoord.cli import app

runner = CliRunner()


def test_vsm_json(tmp_path):
    j = tmp_path / "vsm.json"
    r = runner.invoke(app, ["vsm", "ieee30", "--json", str(j), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    d = json.loads(j.read_text())
    assert {"buses", "loadability_margin"} <= set(d)
    b30 = next(b for b in d["buses"] if b["bus"] == "30")
    assert set(b30) >= {"bus", "q_margin_mvar", "vsm_pu"}
    assert 25 < b30["q_margin_mvar"] < 40 and b30["vsm_pu"] == b30["q_margin_mvar"] / 100
    assert 0.4 < d["loadability_margin"] < 0.7
    assert (tmp_path / "o" / "margins.csv").exists()


def test_vsm_coupled_labels(tmp_path):
    j = tmp_path / "v.json"
    r = runner.invoke(app, ["vsm", "ieee30+ieee33@6", "--buses", "ieee33@6:18,30", "--json", str(j)])
    assert r.exit_code == 0, r.output
    labels = {b["bus"] for b in json.loads(j.read_text())["buses"]}
    assert labels == {"ieee33@6:18", "30"}


def test_vsm_unknown_bus_exit_2():
    r = runner.invoke(app, ["vsm", "ieee30", "--buses", "99"])
    assert r.exit_code == 2 and "bus '99'" in r.output


def test_reserve_and_resume(tmp_path):
    out = tmp_path / "res"
    args = ["reserve", "ieee30+ieee33@6", "--scenarios", "2", "--contingencies", "28-27,27-29", "--out", str(out)]
    r = runner.invoke(app, args + ["--json", str(tmp_path / "a.json")])
    assert r.exit_code == 0, r.output
    a = json.loads((tmp_path / "a.json").read_text())
    assert a["cases"] and a["nodes"] and a["key_nodes"]
    assert a["demand_t_mvar"] > 0
    # per node: each node's own demand, the largest reported, never summed; the system requirement is what the
    # counted sources must hold (each source's largest share, summed over the sources)
    t_nodes = [n["demand_mvar"] for n in a["nodes"] if n["network"] == "T"]
    assert a["node_demand_max_t_mvar"] == max(t_nodes) and sum(d > 0 for d in t_nodes) > 1
    assert a["worst_node_t"] == "30" and a["worst_case_t"] == "n-1 28-27"
    t_sources = [x["requirement_mvar"] for x in a["sources"] if x["network"] == "T"]
    assert a["demand_t_mvar"] == pytest.approx(sum(t_sources)) and a["demand_t_mvar"] != pytest.approx(sum(t_nodes))
    assert all("demand_t_mvar" not in c for c in a["cases"])  # per case: the largest node demand, not a sum
    n1 = next(c for c in a["cases"] if c["case"] == "n-1 28-27")
    assert n1["demand_max_t_mvar"] == pytest.approx(max(t_nodes)) and n1["worst_node"] == "30"
    assert isinstance(n1["nodes_short"], int) and n1["nodes_short"] == sum(d > 0 for d in t_nodes)
    r = runner.invoke(app, args + ["--resume", "--json", str(tmp_path / "b.json")])
    assert r.exit_code == 0 and "resuming: 5 case(s)" in r.output
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["demand_t_mvar"] == a["demand_t_mvar"]
    r = runner.invoke(app, ["reserve", "--contingencies", "6"])
    assert r.exit_code == 2 and "FROM-TO" in r.output


def test_reserve_at_a_scenario(tmp_path):
    base = ["reserve", "--scenarios", "0", "--contingencies", "28-27"]
    demand = {}
    for name in (None, "peak-load"):
        j = tmp_path / f"{name}.json"
        r = runner.invoke(app, base + (["--scenario", name] if name else []) + ["--json", str(j)])
        assert r.exit_code == 0, r.output
        d = json.loads(j.read_text())
        assert d["scenario"] == name
        demand[name] = d["demand_t_mvar"] + d["demand_d_mvar"]
    assert demand["peak-load"] > demand[None] > 0  # 120 % load needs more reserve
    r = runner.invoke(app, base + ["--scenario", "bogus"])
    assert r.exit_code == 2 and "unknown scenario 'bogus'" in r.output


def test_study_scenarios(tmp_path):
    j = tmp_path / "s.json"
    r = runner.invoke(app, ["study", "scenarios", "--strategy", "centralized", "--weights", "equal", "--scenarios", "1",
                            "--contingencies", "28-27", "--no-compare", "--out", str(tmp_path / "o"), "--json", str(j)])
    assert r.exit_code == 0, r.output
    d = json.loads(j.read_text())
    assert [s["name"] for s in d["scenarios"]] == ["high-re", "peak-load", "n-1", "combined"]
    for s in d["scenarios"]:
        assert {"name", "q_reserve_t_mvar", "q_reserve_d_mvar", "p_loss_mw", "vsm_min_pu", "dv_max_pu", "n_violations",
                "time_s", "converged"} <= set(s)
        assert s["converged"] is True
        assert list(s["strategies"]) == ["centralized"]  # --no-compare
    assert len(list((tmp_path / "o" / "scenarios").glob("*.json"))) == 4


def test_dispatch_and_resume(tmp_path):
    out = tmp_path / "d"
    j = tmp_path / "d.json"
    r = runner.invoke(app, ["dispatch", "--hours", "2", "--start-hour", "11", "--weights", "equal", "--out", str(out),
                            "--json", str(j)])
    assert r.exit_code == 0, r.output
    d = json.loads(j.read_text())
    assert {"periods", "time_s"} <= set(d)
    assert [p["hour"] for p in d["periods"]] == [11, 12]
    for p in d["periods"]:
        assert {"hour", "objective", "p_loss_mw", "vsm_min_pu", "n_violations", "converged"} <= set(p)
        assert p["converged"] is True
    r = runner.invoke(app, ["dispatch", "--hours", "3", "--start-hour", "11", "--weights", "equal", "--out", str(out),
                            "--resume"])
    assert r.exit_code == 0, r.output
    assert "2 hour(s) resumed" in r.output
    r = runner.invoke(app, ["dispatch", "--hours", "30"])
    assert r.exit_code == 2
