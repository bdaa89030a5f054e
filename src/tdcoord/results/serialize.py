"""Results as JSON: plain numbers only, written atomically."""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def plain(o: Any) -> Any:
    """Nested data with numpy scalars and arrays as Python numbers and lists; NaN/inf become None."""
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return [plain(v) for v in o.tolist()]
    if hasattr(o, "item"):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` when the block ends without an error,
    removed otherwise, so ``path`` is never half written. ``suffix`` ends the temporary name (a writer that
    insists on an extension, e.g. ``.npz``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, data: Any, indent: int = 2) -> None:
    """Strict JSON to ``path`` through a temporary file and a rename (never a half-written file)."""
    text = json.dumps(plain(data), indent=indent, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
