"""`tdcoord study stvs-flex`: bad input ends with exit code 2 and a message naming the option; a short run works."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tdcoord.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["study", "stvs-flex", *args])


@pytest.mark.parametrize("args, words", [
    (("--eps", "1.5"), ("eps", "[0, 1]")),
    (("--eps-grid", "0.5,2"), ("eps", "[0, 1]")),
    (("--eps-grid", "0.5,x"), ("--eps-grid", "numbers")),
    (("--penetration", "medium"), ("--penetration", "base, high, both")),
    (("--faults", ","), ("--faults", "bus numbers")),
    (("--executor", "gpu", "--model", "m.pt"), ("--executor", "serial, process or ray")),
])
def test_bad_options(tmp_path, args, words):
    r = run(*args, "--out", str(tmp_path / "out"))
    assert r.exit_code == 2, r.output
    for w in words:
        assert w in r.output
    assert "Traceback" not in r.output


def test_missing_surrogate_names_the_command_that_trains_one(tmp_path):
    r = run("--model", str(tmp_path / "none.pt"), "--executor", "serial", "--out", str(tmp_path / "out"))
    assert r.exit_code == 2, r.output
    assert "tdcoord stvs train" in r.output and "none.pt" in r.output


def test_without_a_surrogate(tmp_path):
    out, js = tmp_path / "out", tmp_path / "s.json"
    r = run("--eps-grid", "", "--out", str(out), "--json", str(js))
    assert r.exit_code == 0, r.output
    s = json.loads(js.read_text())
    assert [m["name"] for m in s["methods"]] == ["method1", "method2", "proposed"]
    assert s["eps"] == 0.5 and set(s["flex_margins_mw"]) == {"thermal", "hydro", "distribution", "demand"}
    m1, m2 = s["methods"][0], s["methods"][1]
    assert m1["vm_max_pu"] > 1.05 and m1["violations"] > 0  # no voltage control: over-voltages in the feeders
    assert m2["vm_max_pu"] <= 1.05 and m2["violations"] == 0
    assert m2["tvci_unstable_faults"] is None  # no surrogate: no STVS figures, and a note says so
    assert any("tdcoord stvs train" in n for n in s["notes"])
    assert (out / "fig7_voltages_base.png").stat().st_size > 0
