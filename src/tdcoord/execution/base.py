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


class Executor(Protocol):
    name: str

    def open(self, factories: dict[str, Callable[[], Any]]) -> None:
        """Build one subproblem per name (in the executor's workers)."""

    def call(self, method: str, args: dict[str, tuple]) -> dict[str, Any]:
        """Call ``method(*args[name])`` on every named subproblem; results by name."""

    def close(self) -> None:
        """Release workers and subproblems."""


class SerialExecutor:
    """Every subproblem in this process, called one after the other."""

    name = "serial"

    def __init__(self) -> None:
        self.subproblems: dict[str, Any] = {}

    def open(self, factories: dict[str, Callable[[], Any]]) -> None:
        self.subproblems = {k: f() for k, f in factories.items()}

    def call(self, method: str, args: dict[str, tuple]) -> dict[str, Any]:
        out = {}
        for name, a in args.items():
            t0 = time.perf_counter()
            res = getattr(self.subproblems[name], method)(*a)
            if isinstance(res, dict):
                res.setdefault("wall_s", time.perf_counter() - t0)
            out[name] = res
        return out

    def close(self) -> None:
        self.subproblems = {}

    def __enter__(self) -> "SerialExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
