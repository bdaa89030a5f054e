"""CLI: cases, pf, exit codes and error messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tdcoord.cli import app
from tdcoord.io.json_io import write_json

runner = CliRunner()

PF_KEYS = {"converged", "iterations", "p_loss_mw", "q_loss_mvar", "vm_min_pu", "vm_min_bus", "vm_max_pu", "vm_max_bus", "boundary", "time_s"}

BAD_ISLAND = """function mpc = island
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
 1 3 0 0 0 0 1 1 0 230 1 1.1 0.9;
 2 1 50 10 0 0 1 1 0 230 1 1.1 0.9;
 3 1 40 5 0 0 1 1 0 230 1 1.1 0.9;
];
mpc.gen = [
 1 0 0 100 -100 1.02 100 1 200 0 0 0 0 0 0 0 0 0 0 0 0;
];
mpc.branch = [
 1 2 0.01 0.1 0.02 250 0 0 0 0 1 -360 360;
];
"""


def invoke(*args):
    return runner.invoke(app, list(args))


def test_cases_lists_everything():
    r = invoke("cases")
    assert r.exit_code == 0
    for name in ("ieee9", "ieee14", "ieee30", "ieee33", "ieee118", "pegase1354", "ieee13", "ieee123", "ieee30+ieee33@6",
                 "ieee14+ieee13@13+ieee13@14", "ieee9+ieee13@5+ieee123@7", "ieee30+5xieee33"):
        assert name in r.output


@pytest.mark.parametrize("method", ["merged", "split"])
def test_pf_json(tmp_path, method):
    out = tmp_path / "pf.json"
    r = invoke("pf", "ieee30+ieee33@6", "--method", method, "--json", str(out))
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert PF_KEYS <= set(data)
    assert data["converged"] is True
    assert data["vm_min_bus"] == "ieee33@6:33"
    (b,) = data["boundary"]
    assert b["feeder"] == "ieee33@6" and b["bus"] == "6"
    assert set(b) == {"feeder", "bus", "p_mw", "q_mvar", "vm_pu"}
    # 10 aggregated feeders: 37.15 MW of load less 15.4 MW of DG/PV plus losses
    assert 20.0 < b["p_mw"] < 22.0


def test_pf_files(tmp_path):
    from tdcoord.cases import load_case

    write_json(load_case("ieee33"), tmp_path / "f.json")
    r = invoke("pf", str(tmp_path / "f.json"), "--method", "sweep")
    assert r.exit_code == 0 and "0.202677" in r.output


@pytest.mark.crossval
def test_pf_pandapower_file(tmp_path):
    pp = pytest.importorskip("pandapower")
    from tdcoord.cases import load_case
    from tdcoord.io.pandapower_io import to_pandapower

    pp.to_json(to_pandapower(load_case("ieee14")), str(tmp_path / "pp14.json"))
    r = invoke("pf", str(tmp_path / "pp14.json"))
    assert r.exit_code == 0, r.output


def one_or_two_lines(output: str) -> bool:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    return 1 <= len(lines) <= 2 and "Traceback" not in output


@pytest.mark.parametrize(
    "args_of, words",
    [
        (lambda p: ["pf", "ieee999"], "unknown case 'ieee999'"),
        (lambda p: ["pf", "ieee30+ieee33@99"], "transmission bus '99' does not exist"),
        (lambda p: ["pf", str(p / "garbage.m")], "mpc.bus is missing"),
        (lambda p: ["pf", str(p / "island.m")], "not connected to any slack"),
        (lambda p: ["pf", str(p / "meshed.json"), "--method", "sweep"], "closes a loop"),
        (lambda p: ["pf", str(p / "nope.json")], "does not exist"),
        (lambda p: ["pf", "ieee30", "--method", "teleport"], "expected auto, merged, split"),
    ],
)
def test_bad_input_exit_2(tmp_path, args_of, words):
    (tmp_path / "garbage.m").write_text("function mpc = x\nmpc.baseMVA = 100;\n")
    (tmp_path / "island.m").write_text(BAD_ISLAND)
    from tdcoord.cases import load_case

    meshed = load_case("ieee33")
    meshed.line.loc[33, "in_service"] = True
    write_json(meshed, tmp_path / "meshed.json")
    r = invoke(*args_of(tmp_path))
    assert r.exit_code == 2, r.output
    assert words in r.output
    assert one_or_two_lines(r.output), r.output


def test_debug_shows_traceback():
    r = invoke("pf", "ieee999", "--debug")
    assert r.exit_code == 2
    assert "Traceback" in r.output


def test_nonconvergence_exit_1(tmp_path):
    from tdcoord.cases import load_case

    n = load_case("ieee14")
    n.load["p_mw"] *= 8
    write_json(n, tmp_path / "heavy.json")
    out = tmp_path / "heavy_pf.json"
    r = invoke("pf", str(tmp_path / "heavy.json"), "--json", str(out))
    assert r.exit_code == 1
    assert "did not converge after" in r.output and "mismatch" in r.output
    assert json.loads(out.read_text())["converged"] is False


def test_console_script_subprocess():
    r = subprocess.run([sys.executable, "-m", "tdcoord.cli", "pf", "ieee999"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "unknown case" in r.stderr and "Traceback" not in r.stderr
