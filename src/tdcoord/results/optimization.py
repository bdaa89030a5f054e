"""Result of one coordination strategy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class StrategyResult:
    """What a strategy did and how its operating point re-checks.

    ``objective`` and ``terms`` are evaluated at the re-checked operating
    point with the same weights for every strategy; ``solver_objective`` is
    what the optimizer reported for the part it optimized.
    """

    strategy: str
    converged: bool
    status: str
    objective: float = float("nan")
    terms: dict[str, float] = field(default_factory=dict)
    solver_objective: float = float("nan")
    weights: dict[str, float] = field(default_factory=dict)
    p_loss_mw: float = float("nan")
    q_reserve_t_mvar: float = float("nan")
    q_reserve_d_mvar: float = float("nan")
    vm_min_pu: float = float("nan")
    vm_max_pu: float = float("nan")
    n_violations: int = -1
    dv_max_pu: float = float("nan")
    dv_max_t_pu: float = float("nan")
    dv_max_d_pu: float = float("nan")
    iterations: int = 0
    time_s: float = 0.0
    floats_per_iteration: int = 0
    floats_total: int = 0
    pf_mismatch_pu: float = float("nan")
    dispatch: Any = None
    pf: Any = None  # CoupledPowerFlowResult of the re-check
    devices: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    table_maker: Any = None  # makes the result tables of the re-checked point on first use (see ``tables``)
    discrete: dict[str, Any] = field(default_factory=dict)
    soc_gap: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    _tables: dict[str, pd.DataFrame] | None = field(default=None, repr=False)

    SUMMARY_KEYS = ("objective", "p_loss_mw", "q_reserve_t_mvar", "q_reserve_d_mvar", "vm_min_pu", "vm_max_pu",
                    "n_violations", "dv_max_pu", "iterations", "time_s", "converged", "pf_mismatch_pu",
                    "floats_per_iteration", "floats_total")

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """res_* tables of the re-checked operating point (:mod:`tdcoord.results.tables`), made when first asked
        for (with a thousand feeders they are some thirteen thousand tables)."""
        if self._tables is None:
            self._tables = self.table_maker() if self.table_maker is not None else {}
        return self._tables

    @tables.setter
    def tables(self, value: dict[str, pd.DataFrame]) -> None:
        self._tables = value

    def summary(self, tables: bool = False) -> dict[str, Any]:
        """Plain figures; with ``tables=True`` also every result table (``tables``, orient="split")."""
        out: dict[str, Any] = {"strategy": self.strategy, "status": self.status}
        for k in self.SUMMARY_KEYS:
            out[k] = getattr(self, k)
        out["terms"] = dict(self.terms)
        out.update({k: v for k, v in self.extra.items() if isinstance(v, (int, float, str, bool))})
        if self.discrete:
            out["discrete"] = dict(self.discrete)
        if self.soc_gap:
            out["soc_gap"] = dict(self.soc_gap)
        if self.messages:
            out["messages"] = list(self.messages)
        if tables and self.tables:
            from tdcoord.results.tables import tables_to_json

            out["tables"] = tables_to_json(self.tables)
        return out
