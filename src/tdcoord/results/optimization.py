"""Result of one coordination strategy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class VsmOutcome:
    """The key nodes' voltage-stability margins at a strategy's re-checked point (continuation power flow)."""

    nodes: list[str] = field(default_factory=list)
    margins_pu: dict[str, float] = field(default_factory=dict)
    margins_mvar: dict[str, float] = field(default_factory=dict)
    min_pu: float = float("nan")
    outer: int = 0  # optimize - re-check - re-linearize passes
    ok: bool = False  # every margin meets the threshold
    time_s: float = 0.0
    history: list = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"vsm_min_pu": self.min_pu, "vsm_outer": self.outer, "vsm_ok": self.ok, "vsm_time_s": self.time_s}


@dataclass
class AdmmOutcome:
    """How an ADMM run went: penalties, where the time went, where the areas disagreed most."""

    executor: str = ""
    penalty: str = ""
    time_critical_path_s: float = float("nan")  # sum over iterations of the longest unit of work
    time_phases_s: dict[str, float] = field(default_factory=dict)
    rho_probed: dict[str, list] = field(default_factory=dict)
    rho_final: dict[str, list] = field(default_factory=dict)
    largest_disagreement: list = field(default_factory=list)
    tol_primal: float = float("nan")  # the tolerances the residuals were held to (% V, MW, Mvar)
    tol_dual: float = float("nan")
    worker_restarts: int = 0  # workers that died during the run and were restarted (the messages say which)

    def summary(self) -> dict[str, Any]:
        return {"time_critical_path_s": self.time_critical_path_s, "executor": self.executor, "penalty": self.penalty,
                "tol_primal": self.tol_primal, "tol_dual": self.tol_dual, "worker_restarts": self.worker_restarts}


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
    n_violations: int | None = None  # the sum of ``violations`` (None: no re-checked point to judge)
    violations: dict[str, int] = field(default_factory=dict)  # voltage, q_limit, p_limit, branch_rating
    violation_list: list[dict] = field(default_factory=list)  # each: kind, element, value, limit
    recheck_q_limits: dict = field(default_factory=dict)  # the re-check with machine Q limits enforced
    dv_max_pu: float = float("nan")
    dv_max_t_pu: float = float("nan")
    dv_max_d_pu: float = float("nan")
    iterations: int = 0
    time_s: float = 0.0
    floats_per_iteration: int = 0
    floats_total: int = 0
    pf_mismatch_pu: float = float("nan")  # the re-check power flow's Newton residual (largest |mismatch|, p.u.)
    recheck_dvm_pu: float = float("nan")  # largest |Vm optimizer - Vm re-check| over buses (p.u.)
    dispatch: Any = None
    pf: Any = None  # CoupledPowerFlowResult of the re-check
    devices: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    table_maker: Any = None  # makes the result tables of the re-checked point on first use (see ``tables``)
    discrete: dict[str, Any] = field(default_factory=dict)
    soc_gap: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    applied: Any = None  # the coupled system at the strategy's set-points (what the re-check solved)
    vm_min_bus: str = ""
    vm_max_bus: str = ""
    assumption_error_pu: float | None = None  # independent strategies: how far the optimized side's voltages moved
    reserve_shortfall_mvar: float | None = None  # reserve requirements not met (None: none set, or all met)
    solver: str = ""  # where the strategy's model was not an IPOPT NLP, what solved it
    vsm: VsmOutcome | None = None
    admm: AdmmOutcome | None = None

    _tables: dict[str, pd.DataFrame] | None = field(default=None, repr=False)

    SUMMARY_KEYS = ("objective", "p_loss_mw", "q_reserve_t_mvar", "q_reserve_d_mvar", "vm_min_pu", "vm_max_pu",
                    "n_violations", "dv_max_pu", "iterations", "time_s", "converged", "pf_mismatch_pu",
                    "recheck_dvm_pu", "floats_per_iteration", "floats_total")

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
        if self.violations:
            out["violations"] = dict(self.violations)
            out["violation_list"] = list(self.violation_list)
        if self.recheck_q_limits:
            out["recheck_q_limits"] = dict(self.recheck_q_limits)
        out.update({"vm_min_bus": self.vm_min_bus, "vm_max_bus": self.vm_max_bus})
        for key in ("assumption_error_pu", "reserve_shortfall_mvar"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.solver:
            out["solver"] = self.solver
        if self.vsm is not None:
            out.update(self.vsm.summary())
        if self.admm is not None:
            out.update(self.admm.summary())
        if self.dispatch is not None and hasattr(self.dispatch, "to_json"):
            out["dispatch"] = self.dispatch.to_json()  # the set-points, per area and element table
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
