"""Checkpoints of long runs: finished items kept, resumed only under the same settings."""

from __future__ import annotations

import json

import pytest

from tdcoord.errors import InputError
from tdcoord.results.checkpoint import Checkpoint, differences, safe_key, system_digest

FP = {"case": "ieee30+ieee33@6", "sigma": 0.125, "seed": 0, "admm": {"rho0": 0.5, "tol": 1e-4},
      "contingencies": [("28", "27")]}


def run_items(ck: Checkpoint, keys: list[str], resume: bool, stop_after: int | None = None) -> tuple[dict, list]:
    """A run of items, each 'computed' as its key's length; stops (KeyboardInterrupt) after ``stop_after`` items."""
    done = ck.start(resume, keys)
    computed, out = [], {}
    for k, key in enumerate(keys):
        if key in done:
            out[key] = done[key]
            continue
        if stop_after is not None and len(computed) == stop_after:
            raise KeyboardInterrupt
        out[key] = {"value": len(key), "position": k}
        computed.append(key)
        ck.save(key, out[key])
    return out, computed


def test_save_and_done_round_trip(tmp_path):
    ck = Checkpoint(tmp_path / "items", "test.item/1", FP)
    path = ck.save("n-1 28-27", {"value": 1.5, "nan": float("nan"), "nested": {"a": [1, 2]}})
    assert path == tmp_path / "items" / "n-1_28-27.json" and safe_key("n-1 28-27") == "n-1_28-27"
    doc = json.loads(path.read_text())
    assert doc["format"] == "test.item/1" and doc["key"] == "n-1 28-27"
    assert doc["fingerprint"]["contingencies"] == [["28", "27"]]  # as JSON gives it back
    assert doc["value"] == 1.5 and doc["nan"] is None
    # written through a temporary file and a rename: nothing else is left
    assert [p.name for p in (tmp_path / "items").iterdir()] == ["n-1_28-27.json"]
    again = Checkpoint(tmp_path / "items", "test.item/1", dict(FP))
    assert again.done() == {"n-1 28-27": {"value": 1.5, "nan": None, "nested": {"a": [1, 2]}}}
    assert again.load("n-1 28-27")["value"] == 1.5
    ck.save("base", {"value": 2})
    assert list(again.done(["base", "missing", "n-1 28-27"])) == ["base", "n-1 28-27"]  # the order asked for
    with pytest.raises(ValueError, match="fingerprint"):
        ck.save("x", {"fingerprint": 1})


def test_resume_reuses_finished_items_after_an_interruption(tmp_path):
    keys = ["base", "forecast-1", "n-1 6-28"]
    ck = Checkpoint(tmp_path, "test.item/1", FP)
    with pytest.raises(KeyboardInterrupt):
        run_items(ck, keys, resume=False, stop_after=1)
    assert [p.name for p in ck.files()] == ["base.json"]
    stamp = (tmp_path / "base.json").stat().st_mtime_ns
    out, computed = run_items(Checkpoint(tmp_path, "test.item/1", FP), keys, resume=True)
    assert computed == ["forecast-1", "n-1 6-28"]  # the finished item is not recomputed
    assert (tmp_path / "base.json").stat().st_mtime_ns == stamp
    assert out == {k: {"value": len(k), "position": i} for i, k in enumerate(keys)}
    # a fresh run (no resume) starts from an empty folder
    out, computed = run_items(Checkpoint(tmp_path, "test.item/1", FP), keys[:1], resume=False)
    assert computed == ["base"] and [p.name for p in Checkpoint(tmp_path, "test.item/1").files()] == ["base.json"]


def test_other_settings_are_refused_by_name(tmp_path):
    Checkpoint(tmp_path, "test.item/1", FP).save("base", {"value": 1})
    other = {**FP, "sigma": 0.2, "admm": {"rho0": 1.0, "tol": 1e-4}}
    with pytest.raises(InputError) as e:
        Checkpoint(tmp_path, "test.item/1", other).done()
    msg = str(e.value)
    assert "base.json was computed under other settings" in msg
    assert "sigma (was 0.125, now 0.2)" in msg and "admm.rho0 (was 0.5, now 1.0)" in msg
    assert "seed" not in msg and "tol" not in msg  # only what differs
    assert "use another output folder or run without --resume" in msg
    with pytest.raises(InputError, match=r"n_scenarios \(not set before, now 3\)"):
        Checkpoint(tmp_path, "test.item/1", {**FP, "n_scenarios": 3}).start(resume=True)
    # without resume the folder is emptied, whatever it held
    assert Checkpoint(tmp_path, "test.item/1", other).start(resume=False) == {}
    assert not list(tmp_path.glob("*.json"))
    assert differences({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}) == []


def test_damaged_or_foreign_files_are_named(tmp_path):
    ck = Checkpoint(tmp_path, "test.item/1", FP)
    ck.save("base", {"value": 1})
    ck.save("forecast-1", {"value": 2})
    (tmp_path / "forecast-1.json").write_text('{"format": "test.item/1", "key": "forecast-1", "val')  # cut short
    with pytest.raises(InputError, match=r"forecast-1\.json cannot be read .*damaged"):
        ck.done()
    (tmp_path / "forecast-1.json").write_text(json.dumps({"format": "tdcoord.other/1", "key": "x"}))
    with pytest.raises(InputError, match=r"forecast-1\.json is not a finished item of this kind of run"):
        ck.done()
    with pytest.raises(InputError, match=r"missing\.json cannot be read"):
        ck.load("missing")
    # a temporary file left by an interrupted write is no item, and a fresh start removes it
    (tmp_path / "forecast-1.json").unlink()
    (tmp_path / ".forecast-1.json.123.tmp").write_text("{")
    assert list(ck.done()) == ["base"]
    ck.clear()
    assert not list(tmp_path.iterdir())


def test_system_digest_follows_the_data():
    from tdcoord.cases import load_case

    cs = load_case("ieee30+ieee33@6")
    d0 = system_digest(cs)
    same = cs.copy()
    same.notes.append("a note changes no result")
    assert system_digest(same) == d0
    assert system_digest(load_case("ieee30+ieee33@6")) == d0
    more = cs.copy()
    more.feeders["ieee33@6"].load.loc[more.feeders["ieee33@6"].load.index[0], "p_mw"] *= 1.01
    assert system_digest(more) != d0
    series = cs.copy()
    series.transmission.set_timeseries("load", "p_mw", [series.transmission.load.p_mw.to_numpy()] * 2)
    assert system_digest(series) != d0
