"""An optimized T-D point rebuilt in pandapower from `tdcoord run --out`'s files alone (docs/rebuild_in_pandapower.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tdcoord.cli import app

pytestmark = pytest.mark.crossval
pytest.importorskip("pandapower")
SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "rebuild_in_pandapower.py"


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("rebuild_in_pandapower", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path_factory.mktemp("run")
    r = CliRunner().invoke(app, ["run", "--out", str(out), "--weights", "equal", "--no-vsm"])
    assert r.exit_code == 0, r.output
    return mod, out


@pytest.mark.parametrize("strategy", ["independent-t", "independent-d", "centralized", "admm"])
def test_rebuilt_point_matches_the_report(rebuilt, strategy):
    mod, out = rebuilt
    diff = mod.compare(out, strategy)
    # voltages, the slack's output, the power balance and the losses of pandapower's power flow at the reported
    # set-points are those tdcoord reported
    assert diff["dvm_pu"] < 1e-6 and diff["dva_deg"] < 1e-5, diff
    assert diff["slack_p_mw"] < 1e-6 and diff["balance_mw"] < 1e-6 and diff["losses_mw"] < 1e-6, diff


def test_every_element_is_in_the_files(rebuilt):
    mod, out = rebuilt
    net, report, label = mod.rebuild(out, "centralized")
    system = json.loads((out / "system.json").read_text())
    n_bus = len(system["transmission"]["tables"]["bus"]["index"]) + sum(
        len(f["network"]["tables"]["bus"]["index"]) for f in system["feeders"])
    assert len(net.bus) == n_bus == len(label)
    tables = report["tables"]
    assert {"res_bus", "res_line", "res_trafo", "res_gen", "res_shunt", "res_boundary"} <= set(tables)
    for key in ("res_gen",):
        cols = tables[key]["columns"]
        assert {"p_mw", "q_mvar", "vm_pu"} <= set(cols)
    assert {"tap_pu", "pl_mw", "p_from_mw", "q_to_mvar"} <= set(tables["res_trafo"]["columns"])
    assert "step" in tables["ieee33@6:res_shunt"]["columns"]


def test_a_wrong_tap_is_seen(rebuilt, tmp_path):
    # the comparison can fail: the same files with one transformer tap changed no longer match
    mod, out = rebuilt
    for name in ("summary.json", "system.json"):
        (tmp_path / name).write_text((out / name).read_text())
    system = json.loads((tmp_path / "system.json").read_text())
    system["feeders"][0]["tap_pu"] += 0.01
    (tmp_path / "system.json").write_text(json.dumps(system))
    diff = mod.compare(tmp_path, "centralized")
    assert diff["dvm_pu"] > 1e-3
