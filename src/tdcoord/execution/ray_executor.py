"""Subproblems in Ray actors (one actor per worker).

Like :class:`tdcoord.execution.process.ProcessExecutor`, but the workers are
Ray actors, so they can live on other machines of a Ray cluster. Each actor
hosts a group of subproblems (round-robin), builds them once from the
factories and keeps them between calls; a call goes to all actors at once
and the results are gathered as they come.

By default a local Ray is started (``num_cpus=workers``, no dashboard, no
worker logs on the driver) unless Ray is already initialized in this
process; ``address="auto"`` or ``"ray://host:port"`` joins an existing
cluster. ``close()`` kills the actors, and shuts Ray down only if this
executor started it. Ray is imported here only, when an executor is made:
tdcoord itself does not need it (``pip install "tdcoord[ray]"``).

Fault tolerance is that of the process executor: an actor that dies during
a call (the task fails with ``RayActorError``) is replaced by a fresh one,
which rebuilds the subproblems from their factories, replays the calls the
old one had completed (kept in Ray's object store) and gets the interrupted
call again; ``restarts`` and ``events`` record it, and ``max_restarts``
restarts of one actor within one call end in a :class:`WorkerError`.
"""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

from tdcoord.execution.process import HostedExecutor, SubproblemHost, WorkerError, own_peak_mb

__all__ = ["RayExecutor", "WorkerError"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        from tdcoord.errors import InputError

        raise InputError('the Ray executor needs Ray, which is not installed: pip install "tdcoord[ray]"') from exc
    return ray


class _RayHost(SubproblemHost):
    """The actor's class: a :class:`SubproblemHost` that takes requests as pickled blobs.

    The driver pickles each request once, sends the blob and keeps it in the
    worker's replay journal (cheaper than ``ray.put``, about 3 ms a call).
    """

    def open(self, factories: dict, journal: Any = ()) -> tuple:
        return super().open(factories, [pickle.loads(b) for b in journal])

    def call_blob(self, blob: bytes) -> tuple:
        method, args = pickle.loads(blob)
        return self.call(method, args)

    def peak_mb(self) -> float | None:
        return own_peak_mb()


_ACTOR_CLASS: Any = None


def _actor_class(ray: Any) -> Any:
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        _ACTOR_CLASS = ray.remote(_RayHost)
    return _ACTOR_CLASS


class RayExecutor(HostedExecutor):
    """Subproblems spread over Ray actors."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, *, max_restarts: int = 3,
                 replay: bool = True, poll_s: float = 0.5, cpus_per_worker: float = 1.0,
                 init_kwargs: dict | None = None) -> None:
        self._ray = _import_ray()
        super().__init__(workers, max_restarts=max_restarts, replay=replay, poll_s=poll_s)
        self._workers_given = workers
        self.address = address
        self.cpus_per_worker = cpus_per_worker
        self.init_kwargs = dict(init_kwargs or {})
        self.started_ray = False
        self.startup_s: float | None = None  # how long ray.init took, when this executor started Ray
        self._cpus = cpus_per_worker
        self._actors: list[Any] = []
        self._pending: dict[int, Any] = {}

    # -- Ray itself -------------------------------------------------------------
    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        t0 = time.perf_counter()
        kw: dict[str, Any]
        if self.address is None:  # a local Ray, just big enough
            kw = {"num_cpus": self.workers, "include_dashboard": False, "log_to_driver": False,
                  "ignore_reinit_error": True, "logging_level": logging.WARNING}
        elif str(self.address).startswith("ray://"):  # a client: other options would go to the server's ray.init
            kw = {"address": self.address}
        else:  # a cluster on this network: "auto" or "host:port"
            kw = {"address": self.address, "log_to_driver": False, "ignore_reinit_error": True,
                  "logging_level": logging.WARNING}
        kw.update(self.init_kwargs)
        try:
            ray.init(**kw)
        except ConnectionError as exc:
            from tdcoord.errors import InputError

            raise InputError(f"Ray executor: cannot connect to a Ray cluster at {self.address!r}: {exc}") from exc
        self.started_ray = True
        self.startup_s = time.perf_counter() - t0
        if self._workers_given is None and self.address is not None:  # one worker per CPU of the cluster
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))

    # -- HostedExecutor ---------------------------------------------------------
    def open(self, factories: dict) -> None:
        self._connect()
        n = min(self.workers, max(1, len(factories)))
        total = float(self._ray.cluster_resources().get("CPU", 0.0))
        self._cpus = self.cpus_per_worker
        if total > 0 and n * self._cpus > total:  # actors that do not fit would wait for CPUs for ever
            self._cpus = total / n
            self.events.append(f"ray: {n} actors of {self.cpus_per_worker:g} CPU do not fit in the cluster's "
                               f"{total:g} CPUs; each asks for {self._cpus:.3g}")
        super().open(factories)

    def _prepare(self, n: int) -> None:
        self._actors = [None] * n
        self._pending = {}

    def _label(self, w: int) -> str:
        actor = self._actors[w] if w < len(self._actors) else None
        try:
            aid = actor._actor_id.hex()[:8]
        except Exception:  # no actor, or a Ray without this attribute
            aid = "?"
        pid = self._pids.get(w)
        return f"actor {aid}, pid {pid if pid else 'unknown'}"

    def _start(self, w: int) -> None:
        self._discard(w)
        cls = _actor_class(self._ray)
        actor = cls.options(num_cpus=self._cpus, max_restarts=0, max_task_retries=0,
                            max_concurrency=1).remote()
        self._actors[w] = actor
        self._pending[w] = actor.open.remote(self._groups[w], self._journal_for(w))

    def _encode(self, method: str, args: dict) -> bytes:
        return self._ray.cloudpickle.dumps((method, args))  # a snapshot: replayable as it was sent

    def _send(self, w: int, payload: Any) -> bool:
        actor = self._actors[w]
        if actor is None:
            return False
        self._pending[w] = actor.call_blob.remote(payload)
        return True

    def _wait(self, ws: list[int], timeout: float) -> list[tuple[int, str, Any]]:
        ray = self._ray
        refs = {self._pending[w]: w for w in ws}
        ready, _ = ray.wait(list(refs), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
        events = []
        for ref in ready:
            w = refs[ref]
            del self._pending[w]
            try:
                events.append((w, "reply", ray.get(ref)))
            except ray.exceptions.RayActorError as exc:
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                events.append((w, "dead", f"{type(exc).__name__}: {why}"))
            except ray.exceptions.RayError as exc:  # e.g. arguments that do not unpickle in the actor
                events.append((w, "reply", ("error", f"{type(exc).__name__}: {exc}")))
        return events

    def _discard(self, w: int) -> None:
        actor = self._actors[w] if w < len(self._actors) else None
        if actor is not None:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
            self._actors[w] = None
        self._pending.pop(w, None)

    def close(self) -> None:
        self.worker_peak_mb: list[float] = []  # each actor's peak resident memory (Linux), asked before it goes
        live = [a for a in self._actors if a is not None]
        if live:
            try:
                peaks = self._ray.get([a.peak_mb.remote() for a in live], timeout=5)
                self.worker_peak_mb = [p for p in peaks if p is not None]
            except Exception:  # an actor already gone: no figure, nothing else lost
                pass
        for w in range(len(self._actors)):
            self._discard(w)
        self._actors, self._pending, self._home, self._groups, self._journal = [], {}, {}, [], []
        self._pids = {}
        if self.started_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self.started_ray = False
