"""Subproblems in long-lived worker processes (multiprocessing, spawn).

Subproblems are assigned to ``workers`` processes round-robin when the
executor is opened; each worker builds its subproblems once from the
factories and keeps them (models, warm starts) until closed. A call sends
each worker only the arguments of its own subproblems and collects the
results; the workers run in parallel.

Fault tolerance (shared with :class:`tdcoord.execution.ray_executor.RayExecutor`
through :class:`HostedExecutor`): the parent never blocks on one worker; it
waits on all pipes and process sentinels with a timeout, so a worker that
dies during a call (killed, segfault, ``os._exit``) is noticed at once. It
is then restarted: a fresh process builds the worker's subproblems from
their factories, replays the calls the old one had completed (so that warm
starts and any state a call left behind, such as fixed capacitor steps, are
exactly as before) and gets the interrupted call again with the same
arguments. Replaying costs about what the worker has computed so far;
``replay=False`` skips it, but then the rebuilt subproblems start cold and
forget whatever earlier calls changed (with ADMM: the warm starts, and the
capacitor steps fixed by ``round_steps``), so results may differ. ``executor.restarts`` counts restarts
and ``executor.events`` says what died and what was rebuilt. A worker that
dies more than ``max_restarts`` times within one call is given up on with a
:class:`WorkerError` naming its subproblems. An exception raised inside a
subproblem method is not a crash: it comes back as a :class:`WorkerError`
with the subproblem's name and the traceback text.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import os
import pickle
import signal
import time
import traceback
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, Iterable

from tdcoord.errors import SolveError
from tdcoord.execution.base import SubproblemCallError, call_subproblems


class WorkerError(SolveError, RuntimeError):
    """A subproblem raised inside a worker, or a worker kept dying."""


def _describe(name: str, what: str, exc: BaseException) -> str:
    return f"subproblem {name!r}: {what} raised {type(exc).__name__}: {exc}\n{traceback.format_exc()}"


class SubproblemHost:
    """The subproblems of one worker, built from factories and kept between calls.

    Replies are ``("ok", payload)`` or ``("error", text)``; an exception in a
    subproblem never escapes, so the worker stays usable.
    """

    def __init__(self) -> None:
        self.subproblems: dict[str, Any] = {}
        self.cache: dict = {}

    def open(self, factories: dict[str, Callable[[], Any]], journal: Iterable[tuple[str, dict]] = ()) -> tuple:
        """Build the subproblems, then replay earlier calls (after a restart)."""
        self.subproblems = {}
        self.cache = {}
        for name, factory in factories.items():
            try:
                self.subproblems[name] = factory()
            except Exception as exc:
                return ("error", _describe(name, "building it", exc))
        for method, args in journal:
            status, payload = self.call(method, args)
            if status == "error":
                return ("error", f"while replaying earlier calls after a restart: {payload}")
        return ("ok", os.getpid())

    def call(self, method: str, args: dict[str, tuple]) -> tuple:
        try:
            return ("ok", call_subproblems(self.subproblems, method, args, self.cache))
        except SubproblemCallError as err:
            return ("error", f"{err}\n{err.trace}")


def own_peak_mb() -> float | None:
    """This process's peak resident memory in MB (Linux: VmHWM; elsewhere None).

    Not ``getrusage``: a process started by fork and exec inherits its
    parent's peak there, which would count the parent once more per worker.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _worker_main(conn: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and closes the workers
    host = SubproblemHost()
    while True:
        try:
            buf = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent is gone
        try:
            msg = pickle.loads(buf)
        except Exception as exc:
            conn.send(("error", f"cannot unpickle a request: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            continue
        kind = msg[0]
        if kind == "stop":
            conn.send(("stopped", own_peak_mb()))
            return
        if kind == "open":
            try:
                journal = [pickle.loads(b)[1:] for b in msg[2]]
            except Exception as exc:
                conn.send(("error", f"cannot unpickle the replay journal: {type(exc).__name__}: {exc}"))
                continue
            reply = host.open(msg[1], journal)
        elif kind == "call":
            reply = host.call(msg[1], msg[2])
        else:
            reply = ("error", f"unknown request {kind!r}")
        try:
            conn.send(reply)
        except Exception as exc:  # a result that does not pickle
            conn.send(("error", f"cannot send the result of {kind!r}: {type(exc).__name__}: {exc}"))


class HostedExecutor:
    """Subproblems in restartable workers; the transport is left to subclasses.

    A subclass implements ``_start(w)`` (replace worker ``w`` by a fresh one
    and send it ``("open", group, journal)``), ``_encode(method, args)`` (a
    snapshot of one worker's request, kept in its journal), ``_send(w,
    payload)`` (False when the worker cannot be reached), ``_wait(ws,
    timeout)`` (events ``(w, "reply", (status, payload))`` or ``(w, "dead",
    why)``), ``_discard(w)`` (kill worker ``w``), ``_prepare(n)`` and
    ``close()``.
    """

    name = "hosted"

    def __init__(self, workers: int | None = None, *, max_restarts: int = 3, replay: bool = True,
                 poll_s: float = 0.5) -> None:
        self.workers = max(1, workers or (os.cpu_count() or 1))
        self.max_restarts = max_restarts
        self.replay = replay
        self.poll_s = poll_s
        self.restarts = 0
        self.events: list[str] = []
        self._groups: list[dict[str, Callable[[], Any]]] = []
        self._journal: list[list[Any]] = []
        self._home: dict[str, int] = {}
        self._pids: dict[int, int | None] = {}

    # -- protocol ---------------------------------------------------------------
    def open(self, factories: dict[str, Callable[[], Any]]) -> None:
        if self._groups:
            self.close()
        n = min(self.workers, max(1, len(factories)))
        self._groups = [{} for _ in range(n)]
        self._journal = [[] for _ in range(n)]
        self._home = {}
        for k, (name, f) in enumerate(factories.items()):
            self._groups[k % n][name] = f
            self._home[name] = k % n
        self._prepare(n)
        try:
            for w in range(n):
                self._start(w)
            self._dispatch("open", dict.fromkeys(range(n)))
        except BaseException:  # callers close only what opened (ADMM's try/finally starts after open)
            self.close()
            raise

    def call(self, method: str, args: dict[str, tuple]) -> dict[str, Any]:
        per_worker: dict[int, dict[str, tuple]] = {}
        for name, a in args.items():
            if name not in self._home:
                raise KeyError(f"{self.name} executor: no subproblem named {name!r} (is the executor open?)")
            per_worker.setdefault(self._home[name], {})[name] = a
        payloads = {w: self._encode(method, a) for w, a in per_worker.items()}
        replies = self._dispatch(method, payloads)
        out: dict[str, Any] = {}
        for r in replies.values():
            out.update(r)
        return {name: out[name] for name in args}

    def __enter__(self) -> "HostedExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def pids(self) -> list[int | None]:
        """The process id of each worker, as it reported it (None: not running or not yet known)."""
        return [self._pids.get(w) for w in range(len(self._groups))]

    # -- the state machine ------------------------------------------------------
    def _names(self, w: int) -> str:
        return ", ".join(repr(k) for k in self._groups[w])

    def _label(self, w: int) -> str:
        pid = self._pids.get(w)
        return f"pid {pid}" if pid else "pid unknown"

    def _dispatch(self, method: str, payloads: dict[int, Any]) -> dict[int, Any]:
        """Send each worker its request (None: only the open already sent); restart workers that die."""
        t0 = time.perf_counter()
        stage: dict[int, str] = {}
        tries = dict.fromkeys(payloads, 0)
        since: dict[int, float] = {}
        replies: dict[int, Any] = {}
        failures: list[str] = []

        def died(w: int, why: str) -> None:
            tries[w] += 1
            if tries[w] > self.max_restarts:
                msg = (f"{self.name} worker {w} (subproblems {self._names(w)}) died {tries[w]} times during "
                       f"{method!r} (last: {why}); gave up after {self.max_restarts} restarts")
                self.events.append(msg)
                failures.append(msg)
                stage.pop(w, None)
                self._discard(w)
                return
            self.restarts += 1
            self.events.append(f"{self.name} worker {w} ({self._label(w)}; subproblems {self._names(w)}) died during "
                               f"{method!r} ({why}; noticed {time.perf_counter() - t0:.2f} s into the call); "
                               f"restarting it (restart {tries[w]} of at most {self.max_restarts} in this call)")
            since[w] = time.perf_counter()
            self._pids[w] = None
            self._start(w)
            stage[w] = "open"

        for w, p in payloads.items():
            if p is None:
                stage[w] = "open"
            elif self._send(w, p):
                stage[w] = "call"
            else:
                stage[w] = "call"
                died(w, "it could not be reached")
        while stage:
            for w, kind, data in self._wait(list(stage), self.poll_s):
                if w not in stage:
                    continue
                if kind == "dead":
                    died(w, data)
                    continue
                status, payload = data
                if status == "error":
                    failures.append(f"{self.name} worker {w}: {payload}")
                    del stage[w]
                    continue
                if stage[w] == "open":
                    self._pids[w] = payload
                    if w in since:
                        n = len(self._journal[w]) if self.replay else 0
                        self.events.append(f"{self.name} worker {w} restarted as {self._label(w)}: rebuilt "
                                           f"{self._names(w)} from their factories and replayed {n} earlier "
                                           f"call(s) in {time.perf_counter() - since.pop(w):.2f} s"
                                           + (f"; re-sending {method!r}" if payloads[w] is not None else ""))
                    if payloads[w] is None:
                        replies[w] = None
                        del stage[w]
                    elif self._send(w, payloads[w]):
                        stage[w] = "call"
                    else:
                        died(w, "it could not be reached after its restart")
                else:
                    replies[w] = payload
                    if self.replay:
                        self._journal[w].append(payloads[w])
                    del stage[w]
        if failures:
            raise WorkerError("\n".join(failures))
        return replies

    def _journal_for(self, w: int) -> list[Any]:
        return list(self._journal[w]) if self.replay else []

    # -- to implement -----------------------------------------------------------
    def _prepare(self, n: int) -> None:
        raise NotImplementedError

    def _start(self, w: int) -> None:
        raise NotImplementedError

    def _encode(self, method: str, args: dict[str, tuple]) -> Any:
        raise NotImplementedError

    def _send(self, w: int, payload: Any) -> bool:
        raise NotImplementedError

    def _wait(self, ws: list[int], timeout: float) -> list[tuple[int, str, Any]]:
        raise NotImplementedError

    def _discard(self, w: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class ProcessExecutor(HostedExecutor):
    """Subproblems spread over long-lived worker processes."""

    name = "process"

    def __init__(self, workers: int | None = None, *, max_restarts: int = 3, replay: bool = True,
                 poll_s: float = 0.5) -> None:
        super().__init__(workers, max_restarts=max_restarts, replay=replay, poll_s=poll_s)
        self._procs: list[Any] = []
        self._conns: list[Any] = []

    def _prepare(self, n: int) -> None:
        self._procs = [None] * n
        self._conns = [None] * n

    def _start(self, w: int) -> None:
        self._discard(w)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        p.start()
        child.close()  # only the worker holds its end: its death reads as EOF here
        self._procs[w], self._conns[w] = p, parent
        self._pids[w] = p.pid
        try:
            parent.send(("open", self._groups[w], self._journal_for(w)))
        except (OSError, EOFError):
            pass  # it died already: _wait sees its sentinel

    def _encode(self, method: str, args: dict[str, tuple]) -> bytes:
        return bytes(ForkingPickler.dumps(("call", method, args)))

    def _send(self, w: int, payload: bytes) -> bool:
        conn, p = self._conns[w], self._procs[w]
        if conn is None or p is None or not p.is_alive():
            return False
        try:
            conn.send_bytes(payload)
            return True
        except (OSError, EOFError):
            return False

    def _wait(self, ws: list[int], timeout: float) -> list[tuple[int, str, Any]]:
        objs = [self._conns[w] for w in ws] + [self._procs[w].sentinel for w in ws]
        mp.connection.wait(objs, timeout)
        events = []
        for w in ws:
            conn, p = self._conns[w], self._procs[w]
            try:
                if conn.poll():
                    events.append((w, "reply", conn.recv()))
                    continue
                gone = not p.is_alive()
            except (EOFError, OSError):  # its end of the pipe is closed: it is gone
                gone = True
            if gone:
                p.join(timeout=2)
                events.append((w, "dead", f"exit code {p.exitcode}"))
        return events

    def _discard(self, w: int) -> None:
        conn, p = self._conns[w], self._procs[w]
        if conn is not None:
            conn.close()
        if p is not None:
            if p.is_alive():
                p.kill()
            p.join(timeout=5)
        self._conns[w] = self._procs[w] = None

    def close(self) -> None:
        self.worker_peak_mb: list[float] = []  # each worker's peak resident memory, as it reports when stopped
        live = []
        for w, (conn, p) in enumerate(zip(self._conns, self._procs)):
            if conn is None or p is None:
                continue
            try:
                conn.send(("stop",))
                live.append(w)
            except (OSError, EOFError):
                pass
        deadline = time.monotonic() + 5.0
        for w in live:  # read up to the stop's answer (a worker may still be busy with an aborted call)
            conn = self._conns[w]
            try:
                while conn.poll(max(0.0, deadline - time.monotonic())):
                    reply = conn.recv()
                    if reply[0] == "stopped":
                        if reply[1] is not None:
                            self.worker_peak_mb.append(reply[1])
                        break
            except (OSError, EOFError):
                pass
        for w, p in enumerate(self._procs):
            if p is not None:
                p.join(timeout=max(0.1, deadline - time.monotonic()))
                if p.is_alive():
                    p.kill()
                    p.join(timeout=5)
            if self._conns[w] is not None:
                self._conns[w].close()
        self._procs, self._conns, self._home, self._groups, self._journal = [], [], {}, [], []
        self._pids = {}
