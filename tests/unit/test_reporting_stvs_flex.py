"""The stvs-flex study's outputs hold what the study computed: the summary's contract keys, the hourly AC re-check,
the bus voltages (the operating point), the flexibility balance, the costs, the sweep and the figures."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tdcoord.problems.flex_check import AcCheck, HourCheck
from tdcoord.reporting.stvs_flex import bus_voltages_table, hourly_table, voltage_figure_name, write_outputs
from tdcoord.studies.stvs_flex import StvsFlexSettings, run_study

METHOD_NAMES = ["method1", "method2", "proposed"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A real study (base case, no surrogate, a sweep of two eps) and its outputs."""
    study = run_study(StvsFlexSettings(model=None, penetration="base", eps_grid=(0.5, 1.0)))
    out = tmp_path_factory.mktemp("stvs-flex")
    json_out = tmp_path_factory.mktemp("json") / "result.json"
    result = write_outputs(study, out / "out", json_out)
    return study, out / "out", json_out, result


def _case(written):
    return written[0].cases["base"]


def test_every_file_written_is_listed_and_non_empty(written):
    _, out, json_out, result = written
    expected = {"summary.json", "hourly_base.csv", "flex_base.csv", "costs_base.csv", "eps_sweep.csv",
                "fig7_voltages_base.png", "fig9_flexibility.png", "fig10_dn_surplus.png", "fig11_boundary.png",
                "pareto_eps.png"} | {f"bus_voltages_base_{m}.csv" for m in METHOD_NAMES}
    on_disk = {p.name for p in out.iterdir()}
    assert on_disk == expected  # nothing else (no temporary file left behind)
    assert result["files"] == sorted(expected)
    for name in expected:
        assert (out / name).stat().st_size > 0, name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == PNG, name
    assert json.loads(json_out.read_text()) == json.loads((out / "summary.json").read_text())


def test_figures_are_closed(written):
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def test_voltage_figure_names_follow_the_paper():
    assert voltage_figure_name("base") == "fig7_voltages_base.png"
    assert voltage_figure_name("high") == "fig8_voltages_high.png"


def test_summary_contract_keys(written):
    study, out, _, result = written
    s = json.loads((out / "summary.json").read_text())
    assert s == result
    assert [m["name"] for m in s["methods"]] == METHOD_NAMES
    case = _case(written)
    for m in s["methods"]:
        for key in ("name", "cost", "vm_max_pu", "vm_min_pu", "violations", "tvci_unstable_faults", "vdsi_max"):
            assert key in m, (m["name"], key)
        ac = case.methods[m["name"]].ac
        assert m["vm_max_pu"] == pytest.approx(ac.vm_max_pu, abs=1e-12)
        assert m["vm_min_pu"] == pytest.approx(ac.vm_min_pu, abs=1e-12)
        assert m["violations"] == ac.n_violations
        assert m["tvci_unstable_faults"] is None and m["vdsi_max"] is None  # no surrogate: not simulated
        assert m["cost"] > 0
    by = {m["name"]: m for m in s["methods"]}
    # method 1 has no voltage band: its AC re-check finds the over-voltages that the others avoid
    assert by["method1"]["violations"] > 0 and by["method1"]["vm_max_pu"] > 1.05
    assert by["method2"]["vm_max_pu"] <= 1.05
    fm = s["flex_margins_mw"]
    for kind in ("thermal", "hydro", "distribution"):
        assert fm[kind]["up"] > 0 and fm[kind]["down"] < 0, kind
    assert fm["demand"]["up"] > 0 and fm["demand"]["down"] < 0
    assert s["eps"] == 0.5
    assert [e["eps"] for e in s["eps_sweep"]] == [0.5, 1.0]
    assert "stress" not in s


def test_hourly_table_matches_the_ac_recheck_and_schedule(written):
    _, out, _, _ = written
    df = pd.read_csv(out / "hourly_base.csv")
    assert df.groupby("method").size().to_dict() == {m: 24 for m in METHOD_NAMES}
    case = _case(written)
    for name in METHOD_NAMES:
        part = df[df.method == name].set_index("hour").sort_index()
        assert list(part.index) == list(range(24))
        mr = case.methods[name]
        hours = mr.ac.hours
        np.testing.assert_allclose(part["vm_max_pu"], [h.vm_max_pu for h in hours], rtol=0, atol=1e-12)
        np.testing.assert_allclose(part["vm_min_pu"], [h.vm_min_pu for h in hours], rtol=0, atol=1e-12)
        np.testing.assert_allclose(part["vm_max_feeder_pu"], [h.vm_max_feeder_pu for h in hours], atol=1e-12)
        assert list(part["violations"]) == [h.n_violations for h in hours]
        assert int(part["violations"].sum()) == mr.ac.n_violations
        for f in mr.schedule.boundary_mw:
            np.testing.assert_allclose(part[f"boundary_mw:{f}"], mr.schedule.boundary_mw[f], atol=1e-12)
            np.testing.assert_allclose(part[f"boundary_mvar:{f}"], mr.schedule.boundary_mvar[f], atol=1e-12)
            np.testing.assert_allclose(part[f"ac_boundary_mw:{f}"], [h.boundary_mw[f] for h in hours], atol=1e-12)
            np.testing.assert_allclose(part[f"tap:{f}"], [h.taps[f] for h in hours], atol=1e-12)
        for u, p in mr.schedule.gen_mw.items():
            np.testing.assert_allclose(part[f"gen_mw:{u}"], p, atol=1e-12)
    # without voltage control the taps stay nominal; with it they move
    taps = [c for c in df.columns if c.startswith("tap:")]
    assert len(taps) == 2
    assert (df.loc[df.method == "method1", taps] == 1.0).all().all()
    assert (df.loc[df.method == "method2", taps] != 1.0).any().any()


def test_bus_voltages_rebuild_the_ac_point(written):
    _, out, _, _ = written
    case = _case(written)
    for name in METHOD_NAMES:
        df = pd.read_csv(out / f"bus_voltages_base_{name}.csv", index_col="hour")
        assert list(df.index) == list(range(24))
        hours = case.methods[name].ac.hours
        n_feeder_cols = sum(1 for c in df.columns if ":" in c)
        assert n_feeder_cols == sum(len(b) for b in hours[0].feeder_vm.values()) > 0
        for h, hc in enumerate(hours):
            for f, buses in hc.feeder_vm.items():
                for bus, v in buses.items():
                    assert df.at[h, f"{f}:{bus}"] == pytest.approx(v, abs=1e-12)
            for bus, v in hc.t_vm.items():
                assert df.at[h, bus] == pytest.approx(v, abs=1e-12)
            feeder = df.loc[h, [c for c in df.columns if ":" in c]]
            assert feeder.max() == pytest.approx(hc.vm_max_feeder_pu, abs=1e-12)
            assert feeder.min() == pytest.approx(hc.vm_min_feeder_pu, abs=1e-12)


def test_flex_table_is_the_proposed_balance(written):
    _, out, _, result = written
    case = _case(written)
    s = case.methods["proposed"].schedule
    df = pd.read_csv(out / "flex_base.csv", index_col="hour")
    assert len(df) == 24
    np.testing.assert_allclose(df["demand_up_mw"], s.demand_mw["up"], atol=1e-12)
    np.testing.assert_allclose(df["demand_down_mw"], s.demand_mw["down"], atol=1e-12)
    assert (df["demand_down_mw"] <= 0).all() and (df["demand_up_mw"] >= 0).all()
    for src, m in s.margins_mw.items():
        np.testing.assert_allclose(df[f"margin_up_mw:{src}"], m["up"], atol=1e-12)
        np.testing.assert_allclose(df[f"margin_down_mw:{src}"], m["down"], atol=1e-12)
    for f, v in s.surplus_mw.items():
        np.testing.assert_allclose(df[f"surplus_up_mw:{f}"], v["up"], atol=1e-12)
        np.testing.assert_allclose(df[f"surplus_down_mw:{f}"], v["down"], atol=1e-12)
    np.testing.assert_allclose(df["shortfall_up_mw"], s.shortfall_mw["up"], atol=1e-12)
    # the kinds' sums give Table 5 (the summary's flex_margins_mw): the day's largest margin, downward negative
    fm = result["flex_margins_mw"]
    for kind in ("thermal", "hydro", "distribution"):
        assert df[f"{kind}_up_mw"].max() == pytest.approx(fm[kind]["up"], abs=1e-9)
        assert -df[f"{kind}_down_mw"].max() == pytest.approx(fm[kind]["down"], abs=1e-9)
    assert df["thermal_up_mw"].to_numpy() == pytest.approx(df["margin_up_mw:G1"] + df["margin_up_mw:G2"])


def test_costs_and_sweep_tables(written):
    _, out, _, result = written
    costs = pd.read_csv(out / "costs_base.csv", index_col="method")
    assert list(costs.index) == METHOD_NAMES
    by = {m["name"]: m for m in result["methods"]}
    case = _case(written)
    for name in METHOD_NAMES:
        assert costs.at[name, "cost"] == pytest.approx(by[name]["cost"], rel=1e-12)
        assert costs.at[name, "operating_cost"] == pytest.approx(by[name]["operating_cost"], rel=1e-12)
        for term, v in case.methods[name].schedule.costs.items():
            assert costs.at[name, term] == pytest.approx(v, rel=1e-12, abs=1e-9), (name, term)
    sweep = pd.read_csv(out / "eps_sweep.csv")
    assert list(sweep["eps"]) == [0.5, 1.0]
    np.testing.assert_allclose(sweep["operating_cost"], [r["operating_cost"] for r in case.sweep], rtol=1e-12)
    np.testing.assert_allclose(sweep["flex_risk_cost"], [r["flex_risk_cost"] for r in case.sweep], rtol=1e-12)
    # eps = 1 ignores the flexibility risk: cheaper to operate, riskier
    assert sweep["operating_cost"].iloc[1] < sweep["operating_cost"].iloc[0]
    assert sweep["flex_risk_cost"].iloc[1] > sweep["flex_risk_cost"].iloc[0]


def test_without_sweep_no_sweep_files(written, tmp_path):
    study = written[0]
    case = replace(_case(written), sweep=[])
    result = write_outputs(replace(study, cases={"base": case}), tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert "eps_sweep.csv" not in names and "pareto_eps.png" not in names
    assert names == set(result["files"]) and "hourly_base.csv" in names
    assert result["eps_sweep"] == []


def test_a_hour_without_power_flow_leaves_empty_ac_cells(written):
    case = _case(written)
    mr = case.methods["method2"]
    bad = HourCheck(3, False, np.nan, np.nan, np.nan, np.nan, {}, [], dict(mr.ac.hours[3].taps), np.nan, {}, {},
                    np.nan)
    hours = list(mr.ac.hours)
    hours[3] = bad
    broken = replace(mr, ac=AcCheck(hours))
    df = hourly_table(replace(case, methods={"method2": broken})).loc["method2"]
    assert not df.at[3, "converged"] and df.loc[df.index != 3, "converged"].all()
    assert np.isnan(df.at[3, "vm_max_pu"]) and pd.isna(df.at[3, "violations"])
    assert df.at[4, "vm_max_pu"] == mr.ac.hours[4].vm_max_pu
    f = next(iter(mr.schedule.boundary_mw))
    assert np.isnan(df.at[3, f"ac_boundary_mw:{f}"]) and df.at[3, f"boundary_mw:{f}"] == mr.schedule.boundary_mw[f][3]
    bv = bus_voltages_table(broken)
    assert len(bv) == 24 and bv.loc[3].isna().all() and bv.loc[2].notna().all()
