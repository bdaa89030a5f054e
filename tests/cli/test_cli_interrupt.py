"""Ctrl-C: an interrupted solve is no failed solve; commands end with exit code 130 and keep what they finished."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from tdcoord.backends.casadi_nlp import NlpBuilder
from tdcoord.cli import app
from tdcoord.results.checkpoint import Checkpoint

runner = CliRunner()
HINT = "continue with --resume"


def slow_nlp(n: int = 20000) -> NlpBuilder:
    """A chained Rosenbrock problem in a ring: IPOPT needs some 80 iterations, a few seconds."""
    b = NlpBuilder("slow")
    x = b.variable("x", n, -10.0, 10.0, np.where(np.arange(n) % 2, -1.2, 1.0))
    a, c = b.ops.take(x, np.arange(n - 1)), b.ops.take(x, np.arange(1, n))
    b.objective_term("rosenbrock", b.ops.sum(100 * (c - a**2) ** 2 + (1 - a) ** 2))
    b.constraint_ineq("ring", c**2 + a**2, 0.5, 1.9)
    b.build("ipopt", {"ipopt.tol": 1e-14, "ipopt.max_iter": 3000})
    return b


def test_sigint_inside_ipopt_raises_keyboard_interrupt():
    # casadi catches the KeyboardInterrupt raised inside IPOPT and ends the solve as a failure
    # (NonIpopt_Exception_Thrown); the solve raises it again instead of returning that failure
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    b = slow_nlp()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    try:
        t0 = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt, match=r"slow: solve interrupted \("):
            b.solve()
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - t0 < 30
    assert signal.getsignal(signal.SIGINT) is previous  # the solve's handler is gone


class _StoppedByUser:
    """The built IPOPT solver, reporting what IPOPT reports when the user stops it."""

    def __init__(self, solver) -> None:
        self.solver = solver

    def __call__(self, **args):
        return self.solver(**args)

    def stats(self) -> dict:
        return {**self.solver.stats(), "return_status": "User_Requested_Stop", "success": False}


def interrupt_solves(monkeypatch, armed) -> None:
    """From when ``armed()`` is true, every IPOPT solve ends as one the user stopped."""
    orig = NlpBuilder.solve

    def solve(self, *a, **k):
        if armed() and self._solver is not None and not isinstance(self._solver, _StoppedByUser):
            self._solver = _StoppedByUser(self._solver)
        return orig(self, *a, **k)

    monkeypatch.setattr(NlpBuilder, "solve", solve)


def test_dispatch_interrupted_inside_ipopt_keeps_finished_hours_and_resumes(monkeypatch, tmp_path):
    saved: list[str] = []
    orig_save = Checkpoint.save

    def save(self, key, record):
        saved.append(key)
        return orig_save(self, key, record)

    monkeypatch.setattr(Checkpoint, "save", save)
    interrupt_solves(monkeypatch, lambda: len(saved) >= 1)  # after the first hour
    out = tmp_path / "d"
    args = ["dispatch", "--hours", "3", "--start-hour", "11", "--weights", "equal", "--no-vsm", "--out", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 130, r.output
    assert f"interrupted; finished parts kept in {out}; {HINT}" in r.output
    assert "restarted cold" not in r.output and "internal error" not in r.output
    assert [p.name for p in (out / "periods").iterdir()] == ["hour_11.json"]
    assert not (out / "summary.json").exists()
    kept = (out / "periods" / "hour_11.json").read_bytes()
    monkeypatch.undo()
    r = runner.invoke(app, args + ["--resume", "--json", str(tmp_path / "d.json")])
    assert r.exit_code == 0, r.output
    assert "1 hour(s) resumed" in r.output
    assert (out / "periods" / "hour_11.json").read_bytes() == kept
    summ = json.loads((tmp_path / "d.json").read_text())
    assert summ["hours"] == [11, 12, 13] and summ["resumed_hours"] == [11] and summ["computed_hours"] == [12, 13]
    assert all(p["converged"] for p in summ["periods"])


def test_opt_interrupted_inside_ipopt_is_no_solver_failure(monkeypatch):
    interrupt_solves(monkeypatch, lambda: True)
    r = runner.invoke(app, ["opt", "ieee30+ieee33@6", "--strategy", "centralized", "--weights", "equal"])
    assert r.exit_code == 130, r.output
    assert "interrupted" in r.output and HINT not in r.output  # opt has no --resume
    assert "failed" not in r.output


def test_reserve_interrupted_resumes_under_the_same_settings_only(monkeypatch, tmp_path):
    import tdcoord.stability.reserve as reserve_mod

    out = tmp_path / "res"
    args = ["reserve", "ieee30+ieee33@6", "--scenarios", "2", "--contingencies", "28-27,27-29", "--out", str(out)]
    r = runner.invoke(app, args + ["--json", str(tmp_path / "fresh.json")])
    assert r.exit_code == 0, r.output
    fresh = json.loads((tmp_path / "fresh.json").read_text())
    assert sorted(p.name for p in (out / "cases").iterdir()) == [
        "base.json", "forecast-1.json", "forecast-2.json", "n-1_27-29.json", "n-1_28-27.json"]

    orig, calls, stop = reserve_mod.node_demands, [], [True]

    def stop_at_the_second_case(*a, **k):
        calls.append(1)
        if stop[0] and len(calls) == 2:
            raise KeyboardInterrupt
        return orig(*a, **k)

    monkeypatch.setattr(reserve_mod, "node_demands", stop_at_the_second_case)
    r = runner.invoke(app, args)  # a fresh run: the folder is emptied first
    assert r.exit_code == 130, r.output
    assert f"interrupted; finished parts kept in {out}; {HINT}" in r.output
    assert [p.name for p in (out / "cases").iterdir()] == ["base.json"]
    calls.clear()
    stop[0] = False
    r = runner.invoke(app, args + ["--resume", "--json", str(tmp_path / "resumed.json")])
    assert r.exit_code == 0, r.output
    assert "resuming: 1 case(s)" in r.output and len(calls) == 4  # the base case is not recomputed
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    assert resumed["nodes"] == fresh["nodes"] and resumed["demand_t_mvar"] == fresh["demand_t_mvar"]
    # other settings are not mixed into these cases
    r = runner.invoke(app, args[:-2] + ["--sigma", "0.2", "--out", str(out), "--resume"])
    assert r.exit_code == 2 and "sigma (was 0.125, now 0.2)" in r.output, r.output
    assert "use another output folder or run without --resume" in r.output


def test_study_scenarios_interrupted_says_how_to_continue(monkeypatch, tmp_path):
    import tdcoord.studies.scenario_study as study_mod

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(study_mod, "run_scenario", interrupted)
    out = tmp_path / "s"
    r = runner.invoke(app, ["study", "scenarios", "--out", str(out)])
    assert r.exit_code == 130 and f"interrupted; finished parts kept in {out}; {HINT}" in r.output, r.output
