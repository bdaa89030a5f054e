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
    not_for: tuple[str, ...] = ()  # commands the system is not meant for, each with why (see ``refusal``)
    why_not: str = ""

    def refusal(self, command: str) -> str | None:
        """Why ``command`` is not meant for this system (``None``: it is)."""
        return self.why_not if command in self.not_for else None
