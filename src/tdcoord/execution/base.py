"""The Executor protocol: where subproblems live and run.

A coordination algorithm hands an executor *factories* (picklable callables
that build a subproblem object) and then calls methods on the subproblems by
name. The executor decides where they live: in this process (serial), in
long-lived worker processes (process pool), or in Ray actors. Subproblems
keep their built models and warm starts between calls, so an ADMM iteration
ships only boundary values. Algorithms receive an executor; they never
create one.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

from tdcoord.results.subproblems import TimedReport


class Executor(Protocol):
    name: str

    def open(self, factories: dict[str, Callable[[], Any]]) -> None:
        """Build one subproblem per name (in the executor's workers)."""

    def call(self, method: str, args: dict[str, tuple]) -> dict[str, Any]:
        """Call ``method(*args[name])`` on every named subproblem; results by name."""

    def close(self) -> None:
        """Release workers and subproblems."""


class SubproblemCallError(Exception):
    """A subproblem method raised; ``name`` says which subproblem."""

    def __init__(self, name: str, method: str, exc: BaseException, trace: str, together: int = 1) -> None:
        joint = f" (called together with {together - 1} other subproblem(s) of its class)" if together > 1 else ""
        super().__init__(f"subproblem {name!r}{joint}: {method} raised {type(exc).__name__}: {exc}")
        self.name, self.method, self.exc, self.trace = name, method, exc, trace


def call_subproblems(subproblems: dict[str, Any], method: str, args: dict[str, tuple],
                     cache: dict) -> dict[str, Any]:
    """``method(*args[name])`` on the named subproblems of one worker; results by name.

    A subproblem class may handle all its instances here in one go: a
    classmethod ``call_batch(method, subs, args, cache)`` returning their
    results in order (or ``None`` where it does not batch ``method``). The
    ``cache`` belongs to the worker and lives until its subproblems are
    rebuilt. A result that says how long it took
    (:class:`~tdcoord.results.subproblems.TimedReport`) gets ``wall_s`` where
    it has none: the time of its own call or of the joint call. Raises :class:`SubproblemCallError` naming
    the subproblem (when a joint call raised: its first member, and how many
    were called with it).
    """
    import traceback

    out: dict[str, Any] = {}
    by_class: dict[type, list[str]] = {}
    for name in args:
        by_class.setdefault(type(subproblems[name]), []).append(name)
    for cls, names in by_class.items():
        batch = getattr(cls, "call_batch", None)
        if batch is not None and len(names) > 1:
            t0 = time.perf_counter()
            try:
                res = batch(method, [subproblems[n] for n in names], [args[n] for n in names], cache)
            except Exception as exc:
                raise SubproblemCallError(names[0], method, exc, traceback.format_exc(), len(names)) from exc
            if res is not None:
                dt = time.perf_counter() - t0
                for n, r in zip(names, res):
                    _timed(r, dt)
                    out[n] = r
                continue
        for n in names:
            t0 = time.perf_counter()
            try:
                r = getattr(subproblems[n], method)(*args[n])
            except Exception as exc:
                raise SubproblemCallError(n, method, exc, traceback.format_exc()) from exc
            _timed(r, time.perf_counter() - t0)
            out[n] = r
    return {n: out[n] for n in args}


def _timed(result: Any, seconds: float) -> None:
    if isinstance(result, TimedReport) and result.wall_s is None:
        result.wall_s = seconds


class SerialExecutor:
    """Every subproblem in this process, called one after the other."""

    name = "serial"

    def __init__(self) -> None:
        self.subproblems: dict[str, Any] = {}
        self.cache: dict = {}

    def open(self, factories: dict[str, Callable[[], Any]]) -> None:
        self.subproblems = {k: f() for k, f in factories.items()}
        self.cache = {}

    def call(self, method: str, args: dict[str, tuple]) -> dict[str, Any]:
        try:
            return call_subproblems(self.subproblems, method, args, self.cache)
        except SubproblemCallError as err:
            raise err.exc

    def close(self) -> None:
        self.subproblems = {}
        self.cache = {}

    def __enter__(self) -> "SerialExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
