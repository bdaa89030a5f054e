"""Executors: where subproblems live (serial, process pool, Ray)."""

from __future__ import annotations

from tdcoord.execution.base import Executor, SerialExecutor


def make_executor(kind: str = "serial", workers: int | None = None, **kwargs):
    """An executor by name: ``serial`` or ``process``."""
    if kind == "serial":
        return SerialExecutor()
    if kind == "process":
        from tdcoord.execution.process import ProcessExecutor

        return ProcessExecutor(workers)
    from tdcoord.errors import InputError

    raise InputError(f"executor {kind!r}: expected 'serial' or 'process'")


__all__ = ["Executor", "SerialExecutor", "make_executor"]
