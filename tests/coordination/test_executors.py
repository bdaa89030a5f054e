"""Executors: same ADMM result serial, in processes and in Ray actors; workers that die or raise.

The system is ieee9+ieee13@5+ieee13@7 (two feeders; ADMM with RpoConfig()
converges in about 40 iterations). Faults are injected by wrapping one
subproblem's factory: its ``solve`` kills its own worker (SIGKILL or
``os._exit``) or raises, on a given call. A marker file, created before the
kill, makes the kill happen once only, so the restarted worker (which
replays the earlier calls) gets through.
"""

from __future__ import annotations

import dataclasses

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from tdcoord.cases import load_case
from tdcoord.coordination.admm import solve_admm
from tdcoord.coordination.common import base_case, start_point
from tdcoord.results.subproblems import TimedReport
from tdcoord.execution import make_executor
from tdcoord.execution.process import WorkerError
from tdcoord.problems.rpo import RpoConfig

CASE = "ieee9+ieee13@5+ieee13@7"
WORKERS = 2


# -- fault injection (module level: the factories must pickle) ------------------
class _Faulty:
    """A subproblem that misbehaves on its ``at``-th ``solve`` (once, if ``marker`` is set)."""

    def __init__(self, inner: Any, mode: str, at: int, marker: str | None) -> None:
        self.inner, self.mode, self.at, self.marker = inner, mode, at, marker
        self.solves = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def solve(self, *args: Any) -> dict:
        self.solves += 1
        if self.solves == self.at and not (self.marker and os.path.exists(self.marker)):
            if self.marker:
                Path(self.marker).touch()
            if self.mode == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.mode == "exit":
                os._exit(1)
            if self.mode == "status":  # the solver fails: the subproblem answers with IPOPT's status
                return dataclasses.replace(self.inner.solve(*args), ok=False, status="Maximum_Iterations_Exceeded")
            raise ValueError(f"injected failure in solve #{self.solves}")
        return self.inner.solve(*args)


class FaultyFactory:
    def __init__(self, factory: Callable[[], Any], mode: str, at: int, marker: str | None = None) -> None:
        self.factory, self.mode, self.at, self.marker = factory, mode, at, marker

    def __call__(self) -> _Faulty:
        return _Faulty(self.factory(), self.mode, self.at, self.marker)


class Inject:
    """An executor that wraps one subproblem's factory in :class:`FaultyFactory`."""

    def __init__(self, executor: Any, target: str, **fault: Any) -> None:
        self.executor, self.target, self.fault = executor, target, fault
        self.name = executor.name

    def open(self, factories: dict) -> None:
        factories = dict(factories)
        factories[self.target] = FaultyFactory(factories[self.target], **self.fault)
        self.executor.open(factories)

    def call(self, method: str, args: dict) -> dict:
        return self.executor.call(method, args)

    def close(self) -> None:
        self.executor.close()

    @property
    def events(self) -> list[str]:
        return self.executor.events

    @property
    def restarts(self) -> int:
        return self.executor.restarts


class Echo:
    """A trivial subproblem."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def echo(self, x: Any) -> tuple:
        return (self.tag, x, os.getpid())


def _broken_factory() -> Any:
    raise RuntimeError("no such feeder data")


# -- fixtures ---------------------------------------------------------------------
TIMES: dict[str, float] = {}


def _note(key: str, value: float) -> None:
    TIMES[key] = value
    print(f"[timing] {key}: {value:.2f} s")


@pytest.fixture(scope="module")
def system():
    cs = load_case(CASE)
    pf = base_case(cs)
    return cs, pf, start_point(cs, pf), RpoConfig()


def run(system, executor):
    cs, pf, starts, cfg = system
    return solve_admm(cs, cfg, base_pf=pf, starts=starts, executor=executor)


@pytest.fixture(scope="module")
def reference(system):
    t0 = time.perf_counter()
    r = run(system, make_executor("serial"))
    _note("serial run", time.perf_counter() - t0)
    assert r.converged, r.messages
    return r


@pytest.fixture(scope="module")
def ray_started():
    """Ray, started once for the module; RayExecutors then join it and leave it running."""
    ray = pytest.importorskip("ray")
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fault injectors, for the actors
    t0 = time.perf_counter()
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    _note("ray start-up", time.perf_counter() - t0)
    yield ray
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(params=["process", "ray"])
def kind(request):
    if request.param == "ray":
        request.getfixturevalue("ray_started")
    return request.param


@pytest.fixture
def deadline():
    """Fail instead of hanging: an alarm 120 s from now."""
    def alarm(*_: Any) -> None:
        raise TimeoutError("the executor hung")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# -- tests --------------------------------------------------------------------------
def test_executors_give_the_serial_result(system, reference, kind, deadline):
    ex = make_executor(kind, WORKERS)
    t0 = time.perf_counter()
    r = run(system, ex)
    _note(f"{kind} run", time.perf_counter() - t0)
    assert r.converged and r.admm.executor == kind
    assert r.iterations == reference.iterations
    assert r.objective == pytest.approx(reference.objective, rel=1e-9)
    assert ex.restarts == 0 and ex.events == []


@pytest.mark.parametrize("mode, target", [("sigkill", "T"), ("exit", "ieee13@5")])
def test_a_killed_worker_is_restarted(system, reference, kind, mode, target, tmp_path, deadline):
    ex = make_executor(kind, WORKERS)
    marker = tmp_path / "killed"
    t0 = time.perf_counter()
    r = run(system, Inject(ex, target, mode=mode, at=20, marker=str(marker)))
    _note(f"{kind} run, {target!r} killed ({mode}) at its 20th solve", time.perf_counter() - t0)
    for e in ex.events:
        print("[event]", e)
    assert marker.exists()  # it was killed
    assert ex.restarts == 1
    assert any("died during 'solve'" in e and repr(target) in e for e in ex.events)
    assert any("rebuilt" in e and repr(target) in e for e in ex.events)
    assert r.converged, r.messages
    assert r.iterations == reference.iterations
    assert r.objective == pytest.approx(reference.objective, rel=1e-9)
    # the restart reaches the user: counted in the outcome, told in the strategy's messages
    assert r.admm.worker_restarts == 1
    assert any("died during 'solve'" in m and repr(target) in m for m in r.messages)


def test_a_crash_loop_ends_in_a_worker_error(system, kind, deadline):
    ex = make_executor(kind, WORKERS, max_restarts=2)
    t0 = time.perf_counter()
    with pytest.raises(WorkerError, match=r"'ieee13@7'.*died 3 times during 'solve'.*gave up after 2 restarts"):
        run(system, Inject(ex, "ieee13@7", mode="exit", at=2))  # no marker: every time
    _note(f"{kind} crash loop (2 restarts)", time.perf_counter() - t0)
    assert ex.restarts == 2


def test_an_exception_in_a_subproblem_is_reported_by_name(system, kind, deadline):
    ex = make_executor(kind, WORKERS)
    t0 = time.perf_counter()
    with pytest.raises(WorkerError) as info:
        run(system, Inject(ex, "ieee13@7", mode="raise", at=3))
    _note(f"{kind} subproblem exception", time.perf_counter() - t0)
    msg = str(info.value)
    assert "subproblem 'ieee13@7': solve raised ValueError: injected failure in solve #3" in msg
    assert "Traceback" in msg
    assert ex.restarts == 0


@pytest.mark.parametrize("at", [1, 4])
def test_a_subproblem_that_fails_to_solve_is_reported_with_its_status(system, at, deadline):
    r = run(system, Inject(make_executor("serial"), "ieee13@7", mode="status", at=at))
    assert not r.converged and r.status == "subproblem_failed" and r.iterations == at
    assert r.messages == [f"subproblem 'ieee13@7' failed at iteration {at}: IPOPT Maximum_Iterations_Exceeded"]


def test_a_factory_that_raises_is_reported_by_name(kind, deadline):
    import functools

    ex = make_executor(kind, WORKERS)
    with pytest.raises(WorkerError, match="subproblem 'bad': building it raised RuntimeError: no such feeder data"):
        ex.open({"good": functools.partial(Echo, "good"), "bad": _broken_factory})
    assert ex.pids == [] and ex.restarts == 0  # closed again


def test_a_worker_killed_between_calls_is_restarted(system, kind, deadline):
    import functools

    from tdcoord.coordination.admm import AdmmSettings, make_subproblem, private_view

    cs, pf, starts, cfg = system
    factories = {a: functools.partial(make_subproblem, private_view(cs, a), cfg, a, {a: starts[a]},
                                      AdmmSettings().discrete) for a in ["T", *cs.boundary.index]}
    ex = make_executor(kind, WORKERS)
    with ex:
        ex.open(factories)
        before = ex.call("has_steps", {a: () for a in factories})
        os.kill(ex.pids[1], signal.SIGKILL)
        time.sleep(0.5)
        after = ex.call("has_steps", {a: () for a in factories})
    for e in ex.events:
        print("[event]", e)
    assert before == after
    assert ex.restarts == 1


def test_more_ray_actors_than_cpus_share_them(ray_started, deadline):
    import functools

    ex = make_executor("ray", 4)  # Ray runs with 2 CPUs here
    with ex:
        ex.open({f"s{k}": functools.partial(Echo, f"s{k}") for k in range(4)})
        out = ex.call("echo", {f"s{k}": (k,) for k in range(4)})
    assert [out[f"s{k}"][:2] for k in range(4)] == [(f"s{k}", k) for k in range(4)]
    assert len({r[2] for r in out.values()}) == 4  # four actor processes
    assert any("each asks for 0.5" in e for e in ex.events)


def test_make_executor():
    from tdcoord.errors import InputError

    assert make_executor("serial").name == "serial"
    assert make_executor("process", 2, address=None).name == "process"
    with pytest.raises(InputError, match="expected one of 'serial', 'process', 'ray'"):
        make_executor("threads")
    with pytest.raises(InputError, match="'address' is an option of the 'ray' executor"):
        make_executor("process", 2, address="auto")


def test_ray_missing_says_how_to_install_it(monkeypatch):
    from tdcoord.errors import InputError

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(InputError, match=r'pip install "tdcoord\[ray\]"'):
        make_executor("ray", 2)


# -- feeders solved together (AdmmSettings.batch) -------------------------------------
def test_feeders_solved_together_give_the_one_by_one_result(system, reference):
    from tdcoord.coordination.admm import AdmmSettings

    cs, pf, starts, cfg = system
    one = solve_admm(cs, cfg, base_pf=pf, starts=starts, executor=make_executor("serial"),
                     settings=AdmmSettings(batch=1))
    assert one.converged and reference.converged
    assert one.objective == pytest.approx(reference.objective, rel=1e-9)
    assert one.iterations == reference.iterations
    assert one.p_loss_mw == pytest.approx(reference.p_loss_mw, abs=1e-7)


class _GoesInfeasible:
    """Wraps ``make_subproblem``: feeder ``target`` gets an impossible constraint before ADMM iteration ``at``."""

    def __init__(self, make: Callable, target: str, at: int) -> None:
        self.make, self.target, self.at = make, target, at

    def __call__(self, view, cfg, area, starts, discrete, batch=1):
        sp = self.make(view, cfg, area, starts, discrete, batch)
        if area == self.target:
            original, count = sp._set, [0]

            def _set(z, lam, rho):
                original(z, lam, rho)
                if np.all(np.asarray(rho) < 1e4):  # an ADMM iteration, not a curvature probe's pin
                    count[0] += 1
                    if count[0] == self.at:
                        vm = sp.problem.b.blocks[f"{area}.vm"].sym
                        sp.problem.b.constraint_ineq("impossible", vm[0], lb=2.0)  # the substation voltage above 2 p.u.

            sp._set = _set
        return sp


def test_a_feeder_failing_inside_a_joint_solve_is_reported_by_name(system, monkeypatch, deadline):
    import tdcoord.backends.casadi_nlp as cn
    import tdcoord.coordination.admm as admm

    joint: list[int] = []
    solve = cn.NlpBatch.solve
    monkeypatch.setattr(cn.NlpBatch, "solve", lambda self, warms: joint.append(len(warms)) or solve(self, warms))
    monkeypatch.setattr(admm, "make_subproblem", _GoesInfeasible(admm.make_subproblem, "ieee13@7", at=2))
    r = run(system, make_executor("serial"))
    assert joint and set(joint) == {2}  # both feeders went through joint solves
    assert not r.converged and r.status == "subproblem_failed" and r.iterations == 2
    assert len(r.messages) == 1
    assert r.messages[0].startswith("subproblem 'ieee13@7' failed at iteration 2: IPOPT "), r.messages
    assert "Solve_Succeeded" not in r.messages[0]


@dataclasses.dataclass
class _Value(TimedReport):
    v: float
    calls: int = 0


class _Joint:
    """Subproblems with a joint call: ``double`` batched, ``boom`` raising inside the batch."""

    def __init__(self, k: int) -> None:
        self.k = k

    def single(self, x: float) -> _Value:
        return _Value(self.k * x)

    @classmethod
    def call_batch(cls, method: str, subs: list, args: list, cache: dict) -> list | None:
        cache[method] = cache.get(method, 0) + 1
        if method == "double":
            return [_Value(2 * s.k * a[0], cache[method]) for s, a in zip(subs, args)]
        if method == "boom":
            raise ZeroDivisionError("inside the joint call")
        return None


def test_a_host_hands_a_class_its_instances_together():
    import functools

    from tdcoord.execution.process import SubproblemHost

    host = SubproblemHost()
    assert host.open({f"s{k}": functools.partial(_Joint, k) for k in range(3)})[0] == "ok"
    status, out = host.call("double", {"s2": (1.0,), "s0": (5.0,), "s1": (2.0,)})
    assert status == "ok" and list(out) == ["s2", "s0", "s1"]  # the caller's order
    assert [out[n].v for n in out] == [4.0, 0.0, 4.0] and all(r.calls == 1 for r in out.values())
    assert all(r.wall_s >= 0 for r in out.values())  # the executor says how long the joint call took
    status, out = host.call("single", {"s1": (3.0,), "s2": (3.0,)})  # not batched: one by one
    assert status == "ok" and out["s1"].v == 3.0 and out["s2"].v == 6.0 and out["s1"].wall_s >= 0
    status, text = host.call("boom", {"s0": (), "s1": ()})
    assert status == "error"
    assert "subproblem 's0' (called together with 1 other subproblem(s) of its class): boom raised ZeroDivisionError" in text
    assert "Traceback" in text
