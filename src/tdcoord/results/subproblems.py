"""What decomposed subproblems answer their coordinator: typed records that cross process boundaries.

An executor (:mod:`tdcoord.execution`) carries them between a worker and
the coordinator (:mod:`tdcoord.coordination.admm`) as they are (pickled);
neither side reads string keys out of a dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TimedReport:
    """A subproblem call's answer that says how long its unit of work took.

    ``wall_s`` is set by whoever knows it: a subproblem solved within a
    joint (batched) solve reports the whole joint solve; otherwise the
    executor fills in the time of the call (when it is still ``None``).
    """

    wall_s: float | None = field(default=None, kw_only=True)


@dataclass
class SolveReport(TimedReport):
    """One subproblem solve: the boundary values it reached and how the solver ended."""

    x: np.ndarray  # the subproblem's boundary quantities, in the coordinator's order and units
    ok: bool
    status: str  # the solver's own status
    iterations: int
    solve_s: float  # the solver's time
    objective: float  # the subproblem's own weighted objective (without the augmentation)
    info: dict[str, Any] = field(default_factory=dict)  # e.g. how its capacitor steps were fixed

    @property
    def work_s(self) -> float:
        """The unit of work this solve was part of (a joint solve, or its own)."""
        return self.wall_s if self.wall_s is not None else self.solve_s


@dataclass
class FinalReport(TimedReport):
    """A subproblem's last word: its part of the solution and what the coordinator reports of it."""

    solutions: list[Any]  # per area, what the model layer returns (AreaSolution)
    objective: float
    rounding: dict[str, Any] = field(default_factory=dict)  # how its capacitor steps were fixed
    soc_gap: dict[str, Any] = field(default_factory=dict)  # SOC relaxation gap, where relaxed
    shortfall: dict[Any, float] = field(default_factory=dict)  # reserve requirements not met, Mvar


__all__ = ["FinalReport", "SolveReport", "TimedReport"]
