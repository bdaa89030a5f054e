"""Description of a built-in case."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class CaseInfo:
    name: str
    kind: str  # transmission | distribution | coupled
    build: Callable[[], Any]
    description: str
