"""Bad input ends with a clear message and exit code 2 (issue: results a reader can check, failures a user can act on)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from tdcoord.cases import load_case
from tdcoord.cases.standard import data_path
from tdcoord.cli import app
from tdcoord.errors import SchemaError
from tdcoord.network.validate import validate

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def case9_text() -> str:
    return data_path("case9.m").read_text()


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.output.startswith("tdcoord ")


@pytest.mark.parametrize("name", ["my-case.m", "case9.v2.m", "case 9.m", "case__api.m"])
def test_opf_on_ordinary_file_names(tmp_path, name):
    p = tmp_path / name
    p.write_text(case9_text())
    r = run("opf", str(p))
    assert r.exit_code == 0, r.output
    assert "5296.6862" in r.output


def test_bad_bus_references_name_the_element(tmp_path):
    p = tmp_path / "bad.m"
    p.write_text(case9_text().replace("\t1\t4\t0", "\t1\t44\t0", 1))
    r = run("opf", str(p))
    assert r.exit_code == 2
    assert "mpc.branch row 1 (1-44): to bus 44 is not in mpc.bus" in r.output and "internal error" not in r.output
    p.write_text(case9_text().replace("\t2\t163\t6.54", "\t33\t163\t6.54", 1))
    r = run("opf", str(p))
    assert r.exit_code == 2 and "mpc.gen row 2: bus 33 is not in mpc.bus" in r.output


def test_options_are_checked_one_by_one():
    for args, says in ((("--workers", "0", "--executor", "process"), "--workers 0: expected 1 or more"),
                       (("--max-iter", "0"), "--max-iter 0: expected 1 or more iterations"),
                       (("--rho0", "0"), "--rho0 0.0: expected a penalty > 0"),
                       (("--tol", "-1"), "--tol -1.0: expected a tolerance > 0"),
                       (("--weights", "alpha=nan"), "alpha = nan: expected a finite number >= 0"),
                       (("--weights", "alpha=1,alpha=2"), "alpha is given twice")):
        r = run("opt", "ieee30+ieee33@6", "--strategy", "admm", *args)
        assert r.exit_code == 2 and says in r.output, (args, r.output)


def test_partial_weights_say_the_rest_are_one():
    r = run("opt", "ieee30+ieee33@6", "--strategy", "centralized", "--weights", "alpha=2")
    assert r.exit_code == 0
    assert "(beta, gamma not given: 1)" in " ".join(r.output.split())


def test_non_finite_data_is_named():
    net = load_case("ieee9")
    net.load.loc[net.load.index[1], "p_mw"] = np.inf
    with pytest.raises(SchemaError, match=r"load 1: field 'p_mw' must be a finite number .* got inf"):
        validate(net)
    with pytest.raises(SchemaError, match=r"load 3: field 'p_mw' is required .*; got nan, expected a number"):
        load_case("ieee9").add_load("5", p_mw=float("nan"))


def test_opf_without_costs_warns(tmp_path):
    p = tmp_path / "nocost.m"
    text = case9_text()
    p.write_text(text[:text.index("mpc.gencost")] + "\n")
    r = run("opf", str(p))
    assert r.exit_code == 0
    assert "no generator has a cost: every feasible dispatch is optimal (objective 0)" in " ".join(r.output.split())


def test_out_is_checked_before_the_work(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x")
    r = run("opt", "ieee30+ieee33@6", "--strategy", "centralized", "--out", str(f))
    assert r.exit_code == 2 and "is a file; expected a folder" in r.output and "strategies on" not in r.output
    r = run("opt", "ieee30+ieee33@6", "--strategy", "centralized", "--out", str(f / "sub"))
    assert r.exit_code == 2 and "cannot write there" in r.output and "strategies on" not in r.output
    r = run("opt", "ieee30+ieee33@6", "--strategy", "centralized", "--json", str(tmp_path))
    assert r.exit_code == 2 and "is a folder; expected a file name" in r.output


def test_a_folder_another_run_writes_is_refused(tmp_path):
    import subprocess
    import sys

    from tdcoord.results.output import LOCK

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / LOCK).write_text(str(other.pid))
        r = run("opt", "ieee30+ieee33@6", "--strategy", "centralized", "--out", str(tmp_path))
        assert r.exit_code == 2 and f"is being written by another tdcoord run (process {other.pid})" in \
            " ".join(r.output.split())
    finally:
        other.kill()
        other.wait()
    # a lock left by a run that ended is taken over, and released at the end
    r = run("opt", "ieee30+ieee33@6", "--strategy", "centralized", "--weights", "equal", "--out", str(tmp_path))
    assert r.exit_code == 0 and not (tmp_path / LOCK).exists()


def test_a_rerun_clears_the_last_runs_files_and_keeps_others(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    args = ("--strategy", "centralized", "--weights", "equal", "--out", str(tmp_path))
    assert run("opt", "ieee30+ieee33@6", *args).exit_code == 0
    assert (tmp_path / "voltages_ieee33_at_6.png").exists() and (tmp_path / "tables" / "centralized").is_dir()
    assert run("opt", "ieee30+ieee13@6x1", *args).exit_code == 0
    assert not (tmp_path / "voltages_ieee33_at_6.png").exists()  # the previous case's plot is gone
    assert (tmp_path / "voltages_ieee13_at_6.png").exists()
    assert not (tmp_path / "tables" / "centralized" / "ieee33_at_6__res_bus.csv").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"  # not ours: kept


def test_plain_feeder_without_boost_names_the_limits_and_the_boost_solves():
    # the README's plain system: nothing regulates the feeder's voltage behind a nominal substation tap
    r = run("opt", "ieee30+ieee33@6x1", "--strategy", "centralized", "--weights", "equal")
    assert r.exit_code == 1
    assert "limits that cannot all be met" in r.output and "ieee33@6:18 V >= 0.9" in r.output
    r = run("opt", "ieee30+ieee33@6x1~tap0.95", "--strategy", "centralized", "--weights", "equal")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("command", [[], ["run"], ["opt"], ["opf"], ["pf"], ["vsm"], ["reserve"], ["dispatch"],
                                     ["study", "scenarios"], ["bench", "scale"], ["cases"]])
def test_flags_are_shown_without_a_type(command):
    r = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    assert "<bool>" not in r.output and "--help" in r.output


@pytest.mark.parametrize("command, default", [("run", "vsm"), ("opt", "no-vsm")])
def test_one_vsm_convention(command, default):
    r = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert "--vsm" in r.output and "--no-vsm" in r.output and f"[default: {default}]" in r.output


def test_progress_goes_to_stderr_a_line_per_step_when_not_a_terminal():
    r = runner.invoke(app, ["vsm", "ieee9"])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if "Q-V margins" in ln]
    assert len(lines) >= 8 and lines[-1].endswith("Q-V margins: 9/9 done")  # a line per bus done, in a log
    assert "Q-V margins" not in r.stdout
