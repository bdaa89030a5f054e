"""The four scenarios of seed 000 and the scenario study."""

from __future__ import annotations

import json

import pytest

from tdcoord.cases import load_case
from tdcoord.errors import InputError
from tdcoord.studies.scenario_study import ROW_KEYS, run_scenario_study
from tdcoord.studies.scenarios import apply_scenario


@pytest.fixture(scope="module")
def cs():
    return load_case("ieee30+ieee33@6")


def test_scenarios_change_what_they_say(cs):
    hi = apply_scenario(cs, "high-re")
    w = hi.transmission.sgen
    assert (w.p_mw == 0.8 * w.p_max_mw).all()
    pk = apply_scenario(cs, "peak-load")
    assert pk.transmission.load.p_mw.sum() == pytest.approx(1.2 * cs.transmission.load.p_mw.sum())
    assert pk.feeders["ieee33@6"].load.q_mvar.sum() == pytest.approx(1.2 * cs.feeders["ieee33@6"].load.q_mvar.sum())
    n1 = apply_scenario(cs, "n-1")
    ln = n1.transmission.line
    assert not ln[((ln.from_bus == "6") & (ln.to_bus == "28"))].in_service.any()
    assert cs.transmission.line.in_service.all()  # the input is untouched
    both = apply_scenario(cs, "combined")
    assert len(both.notes) == len(cs.notes) + 3


def test_unknown_outage_is_an_input_error(cs):
    from tdcoord.studies.scenarios import Scenario

    with pytest.raises(InputError, match="no in-service line"):
        apply_scenario(cs, Scenario("x", "x", outages=(("1", "30"),)))


def test_scenario_study_rows_and_resume(cs, tmp_path):
    kw = dict(scenarios=("n-1",), strategy="centralized", weights="equal", n_scenarios=1,
              contingencies=[("28", "27")], out=tmp_path)
    study = run_scenario_study(cs, **kw)
    (row,) = study.rows
    assert set(ROW_KEYS) <= set(row)
    assert row["converged"] and row["reserve_met"] and row["n_violations"] == 0
    assert row["vsm_min_pu"] >= 0.15
    # the other strategies ran on the same problem (same weights, key nodes, requirements)
    strat = row["strategies"]
    assert list(strat) == ["independent-t", "independent-d", "centralized", "admm"]
    assert all(v["converged"] for v in strat.values())
    assert strat["centralized"]["p_loss_mw"] == pytest.approx(row["p_loss_mw"])
    for name in ("independent-t", "independent-d"):
        assert strat[name]["objective"] > strat["centralized"]["objective"]
    assert strat["admm"]["objective"] == pytest.approx(strat["centralized"]["objective"], rel=1e-3)
    assert strat["admm"]["vsm_min_pu"] >= 0.15
    path = tmp_path / "scenarios" / "n-1.json"
    stamp = path.stat().st_mtime_ns
    again = run_scenario_study(cs, resume=True, **kw)
    assert path.stat().st_mtime_ns == stamp  # not recomputed
    assert again.rows[0]["p_loss_mw"] == pytest.approx(row["p_loss_mw"])
    assert json.loads(path.read_text())["name"] == "n-1"


def test_scenario_study_interrupted_resumes_under_the_same_settings_only(cs, tmp_path, monkeypatch):
    import tdcoord.studies.scenario_study as study_mod

    kw = dict(scenarios=("n-1", "peak-load"), strategy="centralized", weights="equal", n_scenarios=1,
              contingencies=[("28", "27")], compare_strategies=False, out=tmp_path)

    def stop_before_the_second(name: str, k: int, n: int) -> None:
        if k == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scenario_study(cs, progress=stop_before_the_second, **kw)
    folder = tmp_path / "scenarios"
    assert [p.name for p in folder.iterdir()] == ["n-1.json"]
    kept = (folder / "n-1.json").read_bytes()
    computed = []
    orig = study_mod.run_scenario

    def counted(cs_, name, **k):
        computed.append(name)
        return orig(cs_, name, **k)

    monkeypatch.setattr(study_mod, "run_scenario", counted)
    study = run_scenario_study(cs, resume=True, **kw)
    assert computed == ["peak-load"]  # the finished scenario is not recomputed
    assert (folder / "n-1.json").read_bytes() == kept
    assert [r["name"] for r in study.rows] == ["n-1", "peak-load"] and all(r["converged"] for r in study.rows)
    assert study.settings["resumed"] == ["n-1"]
    assert study.rows[0] == {k: v for k, v in json.loads(kept).items() if k not in ("format", "key", "fingerprint")}
    # other settings: refused, naming them
    for change, says in ((dict(sigma=0.2), r"sigma \(was 0.125, now 0.2\)"),
                         (dict(n_scenarios=2), r"n_scenarios \(was 1, now 2\)"),
                         (dict(weights="entropy"), r"weights \(was \{"),
                         (dict(contingencies="all"), r"contingencies \(was \[\[")):
        with pytest.raises(InputError, match=r"n-1\.json was computed under other settings: " + says):
            run_scenario_study(cs, resume=True, **{**kw, **change})
    assert computed == ["peak-load"]
    # a damaged file is named
    (folder / "peak-load.json").write_text("{")
    with pytest.raises(InputError, match=r"peak-load\.json cannot be read"):
        run_scenario_study(cs, resume=True, **kw)
