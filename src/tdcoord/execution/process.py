"""Subproblems in long-lived worker processes (multiprocessing, spawn).

Subproblems are assigned to ``workers`` processes round-robin when the
executor is opened; each worker builds its subproblems once from the
factories and keeps them (models, warm starts) until closed. A call sends
each worker only the arguments of its own subproblems and collects the
results; the workers run in parallel.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from typing import Any, Callable


def _worker_main(conn: Any) -> None:
    subproblems: dict[str, Any] = {}
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        kind = msg[0]
        if kind == "stop":
            conn.send(("ok", None))
            return
        try:
            if kind == "open":
                for name, factory in msg[1].items():
                    subproblems[name] = factory()
                conn.send(("ok", os.getpid()))
            elif kind == "call":
                method, args = msg[1], msg[2]
                out = {}
                for name, a in args.items():
                    t0 = time.perf_counter()
                    res = getattr(subproblems[name], method)(*a)
                    if isinstance(res, dict):
                        res.setdefault("wall_s", time.perf_counter() - t0)
                    out[name] = res
                conn.send(("ok", out))
        except Exception as exc:  # reported to the parent with the traceback text
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class WorkerError(RuntimeError):
    """A subproblem raised inside a worker process."""


class ProcessExecutor:
    """Subproblems spread over long-lived worker processes."""

    name = "process"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or (os.cpu_count() or 1))
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        self._home: dict[str, int] = {}

    def open(self, factories: dict[str, Callable[[], Any]]) -> None:
        ctx = mp.get_context("spawn")
        n = min(self.workers, max(1, len(factories)))
        for _ in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(child,), daemon=True)
            p.start()
            self._procs.append(p)
            self._conns.append(parent)
        groups: list[dict[str, Callable[[], Any]]] = [{} for _ in range(n)]
        for k, (name, f) in enumerate(factories.items()):
            groups[k % n][name] = f
            self._home[name] = k % n
        for conn, g in zip(self._conns, groups):
            conn.send(("open", g))
        for conn in self._conns:
            self._receive(conn)

    def _receive(self, conn: Any) -> Any:
        status, payload = conn.recv()
        if status == "error":
            raise WorkerError(payload)
        return payload

    def call(self, method: str, args: dict[str, tuple]) -> dict[str, Any]:
        per_worker: list[dict[str, tuple]] = [{} for _ in self._conns]
        for name, a in args.items():
            per_worker[self._home[name]][name] = a
        busy = []
        for w, (conn, a) in enumerate(zip(self._conns, per_worker)):
            if a:
                conn.send(("call", method, a))
                busy.append(w)
        out: dict[str, Any] = {}
        for w in busy:
            out.update(self._receive(self._conns[w]))
        return out

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(("stop",))
                conn.recv()
            except (OSError, EOFError, BrokenPipeError):
                pass
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        self._procs, self._conns, self._home = [], [], {}

    def __enter__(self) -> "ProcessExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
