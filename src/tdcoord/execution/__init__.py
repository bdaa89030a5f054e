"""Executors: where subproblems live (serial, process pool, Ray)."""

from __future__ import annotations

from tdcoord.execution.base import Executor, SerialExecutor

KINDS = ("serial", "process", "ray")


def make_executor(kind: str = "serial", workers: int | None = None, **kwargs):
    """An executor by name: ``serial``, ``process`` or ``ray``.

    ``workers`` is the number of worker processes (``process``) or actors
    (``ray``). Keyword arguments go to the executor: ``max_restarts``,
    ``replay``, ``poll_s`` for both, ``address`` (``None``: a local Ray;
    ``"auto"`` or ``"ray://host:port"``: an existing cluster),
    ``cpus_per_worker`` and ``init_kwargs`` for Ray. Ray is imported only
    here, when a ``ray`` executor is made.
    """
    from tdcoord.errors import InputError

    kwargs = {k: v for k, v in kwargs.items() if v is not None}  # an option left unset is no option
    if kind == "serial":
        if kwargs:
            raise InputError(f"executor 'serial' takes no options (got {', '.join(sorted(kwargs))})")
        return SerialExecutor()
    if kind == "process":
        from tdcoord.execution.process import ProcessExecutor

        if "address" in kwargs:
            raise InputError("executor 'process': 'address' is an option of the 'ray' executor")
        return ProcessExecutor(workers, **kwargs)
    if kind == "ray":
        from tdcoord.execution.ray_executor import RayExecutor

        return RayExecutor(workers, **kwargs)
    raise InputError(f"executor {kind!r}: expected one of {', '.join(repr(k) for k in KINDS)}")


def __getattr__(name: str):
    if name == "WorkerError":
        from tdcoord.execution.process import WorkerError

        return WorkerError
    raise AttributeError(name)


__all__ = ["Executor", "KINDS", "SerialExecutor", "WorkerError", "make_executor"]
