"""Output folders: checked before any work, locked while written, cleared of the last run's files.

:class:`OutputFolder` is how every command with ``--out`` takes its folder:

- the folder is created (and must be a folder one can write in) before the
  computation starts, so that a bad ``--out`` fails at once, not after it;
- a lock file (``.tdcoord.lock``, holding the writer's process id) keeps a
  second run from writing into the same folder at the same time; a lock
  left by a process that no longer runs is taken over;
- the files the previous run of the command wrote (listed in
  ``.tdcoord-files``) are removed first, so that a folder never mixes two
  runs' plots or tables; ``resume=True`` keeps them (the run continues
  them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from tdcoord.errors import InputError

LOCK = ".tdcoord.lock"
MANIFEST = ".tdcoord-files"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class OutputFolder:
    """A command's output folder (see the module docstring); a context manager."""

    def __init__(self, path: str | Path, option: str = "--out", resume: bool = False) -> None:
        self.path = Path(path)
        self.option = option
        self.resume = resume
        self.files: set[str] = set()
        self._locked = False

    def __enter__(self) -> "OutputFolder":
        p = self.path
        if p.exists() and not p.is_dir():
            raise InputError(f"{self.option} {str(p)!r} is a file; expected a folder (new or existing)")
        try:
            p.mkdir(parents=True, exist_ok=True)
            probe = p / f".tdcoord-probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise InputError(f"{self.option} {str(p)!r}: cannot write there ({exc.strerror or exc})") from None
        self._lock()
        if not self.resume:
            self._clear_previous()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._write_manifest()
        finally:
            self._unlock()

    # ----------------------------------------------------------------- lock
    def _lock(self) -> None:
        lock = self.path / LOCK
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if _alive(pid) and pid != os.getpid():
                    raise InputError(f"{self.option} {str(self.path)!r} is being written by another tdcoord run "
                                     f"(process {pid}); wait for it to end or choose another folder") from None
                lock.unlink(missing_ok=True)  # left by a run that ended without cleaning up
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            self._locked = True
            return
        raise InputError(f"{self.option} {str(self.path)!r}: cannot take the lock {LOCK}")

    def _unlock(self) -> None:
        if self._locked:
            (self.path / LOCK).unlink(missing_ok=True)
            self._locked = False

    # -------------------------------------------------------------- manifest
    def _previous(self) -> list[str]:
        m = self.path / MANIFEST
        try:
            return list(json.loads(m.read_text()))
        except (OSError, ValueError):
            return []

    def _clear_previous(self) -> None:
        root = self.path.resolve()
        emptied: set[Path] = set()
        for rel in self._previous():
            if Path(rel).name in (LOCK, MANIFEST):  # the folder's own bookkeeping (an older manifest may list it)
                continue
            f = (self.path / rel).resolve()
            if root in f.parents and f.is_file():  # only files inside the folder
                f.unlink()
                emptied.update(d for d in f.parents if root in d.parents)
        for d in sorted(emptied, key=lambda d: -len(d.parts)):  # the sub-folders those files leave empty
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        (self.path / MANIFEST).unlink(missing_ok=True)

    def record(self, paths: Iterable[str | Path]) -> None:
        """Files this run wrote (removed by the next run of a command into the folder)."""
        for p in paths:
            p = Path(p)
            if p.name in (LOCK, MANIFEST):  # bookkeeping, not an output
                continue
            try:
                self.files.add(str(p.resolve().relative_to(self.path.resolve())))
            except ValueError:
                continue

    def _write_manifest(self) -> None:
        files = set(self.files)
        if self.resume:
            files |= set(self._previous())
        if files:
            (self.path / MANIFEST).write_text(json.dumps(sorted(files), indent=0))


__all__ = ["LOCK", "MANIFEST", "OutputFolder"]
