"""Checkpoints of long runs: each finished item kept as it finishes, resumed only under the same settings.

A run made of independent items (the hours of a dispatch, the scenarios of
a study, the cases of a reserve assessment) writes each finished item to
its own JSON file in a folder, so that an interrupted run can continue
where it stopped (``--resume``). :class:`Checkpoint` is how every such run
does it:

- a file is the item's record (a dict) with three keys added: ``format``
  (what kind of item it is), ``key`` (which item) and ``fingerprint``
  (the settings it was computed under: a dict of plain values that holds
  every setting that changes the item's result, the case's data among
  them, see :func:`system_digest`);
- :meth:`Checkpoint.save` writes through a temporary file and a rename, so
  that an interrupted run never leaves a half-written item behind;
- :meth:`Checkpoint.done` gives the finished items, and refuses (an
  :class:`~tdcoord.errors.InputError`) a folder holding an item computed
  under other settings, naming the settings that differ, so that a resumed
  run never mixes results of two set-ups; a file that cannot be read is
  named;
- :meth:`Checkpoint.clear` empties the folder for a fresh run.

A file is named after its key (``hour_05.json``, ``high-re.json``,
``n-1_28-27.json``: characters other than letters, digits and ``-_.``
become ``_``); the key itself is read from the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from tdcoord.errors import InputError
from tdcoord.results.serialize import plain, write_json

#: keys a checkpoint file adds to the item's record
META = ("format", "key", "fingerprint")
ADVICE = "use another output folder or run without --resume"


def safe_key(key: str) -> str:
    """The file-name form of an item key."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(key))


def _canonical(data: Any) -> Any:
    """``data`` as JSON gives it back (tuples as lists, numpy numbers as Python numbers, NaN as None)."""
    return json.loads(json.dumps(plain(data), sort_keys=True, default=str))


def _tables_as_data(o: Any) -> Any:
    if isinstance(o, pd.DataFrame):
        d = o.to_dict(orient="split")
        return {"columns": [str(c) for c in d["columns"]], "index": [str(i) for i in d["index"]],
                "dtypes": [str(t) for t in o.dtypes], "data": d["data"]}
    if isinstance(o, pd.Series):
        return {"index": [str(i) for i in o.index], "data": o.tolist()}
    if isinstance(o, Mapping):
        return {str(k): _tables_as_data(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_tables_as_data(v) for v in o]
    if isinstance(o, np.ndarray):
        return o.tolist()
    return o


def digest(data: Any) -> str:
    """Short sha256 (16 hex digits) of nested data: dicts, lists, numbers, strings, numpy arrays, pandas tables."""
    text = json.dumps(plain(_tables_as_data(data)), sort_keys=True, default=str, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def system_digest(cs: Any) -> str:
    """:func:`digest` of a coupled system's data: every network's tables and time series, its boundary
    transformers and ties (names of feeders included; notes and source files not, they change no result)."""
    nets = [("T", cs.transmission)] + list(cs.feeders.items())
    parts: dict[str, Any] = {}
    for name, net in nets:
        parts[name] = {"sn_mva": net.sn_mva, "f_hz": net.f_hz,
                       "tables": {t: getattr(net, t) for t in net.TABLE_NAMES if len(getattr(net, t))},
                       "timeseries": dict(net.timeseries)}
    parts["boundary"] = cs.boundary
    parts["tie"] = cs.tie
    return digest(parts)


def _short(v: Any, width: int = 60) -> str:
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= width else text[:width - 3] + "..."


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The settings (dotted names) whose values differ between two fingerprints, each with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            name = f"{prefix}.{k}" if prefix else str(k)
            if k not in old:
                out.append(f"{name} (not set before, now {_short(new[k])})")
            elif k not in new:
                out.append(f"{name} (was {_short(old[k])}, not set now)")
            else:
                out += differences(old[k], new[k], name)
        return out
    if old != new:
        return [f"{prefix or 'settings'} (was {_short(old)}, now {_short(new)})"]
    return []


class Checkpoint:
    """Finished items of one run in ``folder`` (see the module docstring).

    ``format``: the name of the kind of item (e.g. ``tdcoord.dispatch.period/1``);
    ``fingerprint``: the settings of this run (a dict of plain values).
    """

    def __init__(self, folder: str | Path, format: str, fingerprint: Mapping[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.format = format
        self.fingerprint = _canonical(dict(fingerprint or {}))

    def path(self, key: str) -> Path:
        """The file of item ``key``."""
        return self.folder / f"{safe_key(key)}.json"

    def files(self) -> list[Path]:
        """The item files in the folder (temporary files of an interrupted write aside)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("*.json") if not p.name.startswith("."))

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"resume: {path} cannot be read ({exc}); it may be damaged: delete it, "
                             f"or {ADVICE}") from exc
        if not isinstance(doc, dict) or doc.get("format") != self.format or "key" not in doc:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise InputError(f"resume: {path} is not a finished item of this kind of run (format {found!r}, "
                             f"expected {self.format!r}); {ADVICE}")
        return doc

    @staticmethod
    def _record(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in META}

    def load(self, key: str) -> dict[str, Any]:
        """The record of item ``key``, whatever its settings (an :class:`InputError` if it is missing or damaged)."""
        return self._record(self._read(self.path(key)))

    def done(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Finished items, ``{key: record}``: every item in the folder, or those of ``keys`` there, in that order.

        Raises :class:`~tdcoord.errors.InputError` if any item in the folder
        was computed under other settings (naming them) or cannot be read.
        """
        found: dict[str, dict[str, Any]] = {}
        for path in self.files():
            doc = self._read(path)
            diff = differences(doc.get("fingerprint"), self.fingerprint)
            if diff:
                raise InputError(f"resume: {path} was computed under other settings: {'; '.join(diff)}; {ADVICE}")
            found[str(doc["key"])] = self._record(doc)
        if keys is None:
            return found
        return {k: found[k] for k in keys if k in found}

    def save(self, key: str, record: Mapping[str, Any]) -> Path:
        """Write item ``key`` (through a temporary file and a rename); returns its path."""
        clash = [k for k in META if k in record]
        if clash:
            raise ValueError(f"a checkpoint record cannot hold the key(s) {', '.join(clash)}")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        write_json(path, {"format": self.format, "key": str(key), "fingerprint": self.fingerprint, **record})
        return path

    def clear(self) -> None:
        """Remove every item file (and any temporary file an interrupted write left)."""
        if not self.folder.is_dir():
            return
        for p in list(self.folder.glob("*.json")) + list(self.folder.glob(".*.tmp")):
            p.unlink(missing_ok=True)

    def start(self, resume: bool, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """A run's start: with ``resume`` the finished items (:meth:`done`), else none and an emptied folder."""
        if resume:
            return self.done(keys)
        self.clear()
        return {}


__all__ = ["ADVICE", "Checkpoint", "differences", "digest", "safe_key", "system_digest"]
