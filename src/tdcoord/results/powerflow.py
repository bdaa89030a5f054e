"""Result objects of power flow computations.

Result tables have the same index as the input tables they describe
(``res_bus`` by bus label, ``res_line`` by line index, ...), as in pandapower.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class PowerFlowResult:
    """Power flow of one network."""

    network: str
    converged: bool
    iterations: int
    max_mismatch_pu: float
    method: str
    time_s: float = 0.0
    res_bus: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_line: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_trafo: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_gen: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_ext_grid: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_sgen: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_svc: pd.DataFrame = field(default_factory=pd.DataFrame)
    res_shunt: pd.DataFrame = field(default_factory=pd.DataFrame)
    messages: list[str] = field(default_factory=list)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # res_upfc, res_hvdc (AC/DC power flow)

    @property
    def res_branch(self) -> pd.DataFrame:
        """Lines and transformers together, indexed by (table, index)."""
        parts = {k: v for k, v in (("line", self.res_line), ("trafo", self.res_trafo)) if len(v)}
        if not parts:
            return pd.DataFrame()
        return pd.concat(parts, names=["table", "index"])

    @property
    def p_loss_mw(self) -> float:
        return float(self.res_line.pl_mw.sum() + self.res_trafo.pl_mw.sum()) if self.converged else float("nan")

    @property
    def q_loss_mvar(self) -> float:
        return float(self.res_line.ql_mvar.sum() + self.res_trafo.ql_mvar.sum()) if self.converged else float("nan")

    def extremes(self) -> dict[str, Any]:
        vm = self.res_bus.vm_pu.dropna()
        return {
            "vm_min_pu": float(vm.min()),
            "vm_min_bus": str(vm.idxmin()),
            "vm_max_pu": float(vm.max()),
            "vm_max_bus": str(vm.idxmax()),
        }


@dataclass
class CoupledPowerFlowResult:
    """Integrated power flow of a transmission grid and its feeders.

    ``res_bus`` covers every bus with namespaced feeder labels;
    ``transmission`` and ``feeders[name]`` hold the per-network results with
    the networks' own indices; ``res_boundary`` gives each boundary's flow
    from transmission into the feeder (at the transmission bus).
    """

    converged: bool
    iterations: int
    max_mismatch_pu: float
    method: str
    transmission: PowerFlowResult
    feeders: dict[str, PowerFlowResult]
    res_boundary: pd.DataFrame
    res_tie: pd.DataFrame = field(default_factory=pd.DataFrame)
    time_s: float = 0.0
    history: list[float] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    merged: Any = None  # (MergedSystem, PowerFlowResult) of a merged solve: everything as one network

    @property
    def res_bus(self) -> pd.DataFrame:
        if self.merged is not None:  # the merged network's table has these rows in this order already
            out = self.merged[1].res_bus.copy()
            out.index.name = "bus"
            return out
        parts = [self.transmission.res_bus]
        for name, r in self.feeders.items():
            df = r.res_bus.copy()
            df.index = [f"{name}:{b}" for b in df.index]
            parts.append(df)
        out = pd.concat(parts)
        out.index.name = "bus"
        return out

    @property
    def p_loss_mw(self) -> float:
        if self.merged is not None:  # every line and transformer, boundaries and ties included
            return self.merged[1].p_loss_mw
        total = self.transmission.p_loss_mw + sum(r.p_loss_mw for r in self.feeders.values())
        total += float(self.res_boundary.pl_mw.sum()) if len(self.res_boundary) else 0.0
        if len(self.res_tie):
            total += float(self.res_tie.pl_mw.sum())
        return total

    @property
    def p_shunt_mw(self) -> float:
        """Active power consumed by every bus shunt (MW)."""
        if self.merged is not None:
            return float(self.merged[1].res_shunt.p_mw.sum())
        return float(self.transmission.res_shunt.p_mw.sum()) + sum(float(r.res_shunt.p_mw.sum())
                                                                  for r in self.feeders.values())

    @property
    def q_loss_mvar(self) -> float:
        if self.merged is not None:
            return self.merged[1].q_loss_mvar
        total = self.transmission.q_loss_mvar + sum(r.q_loss_mvar for r in self.feeders.values())
        total += float(self.res_boundary.ql_mvar.sum()) if len(self.res_boundary) else 0.0
        if len(self.res_tie):
            total += float(self.res_tie.ql_mvar.sum())
        return total

    def extremes(self) -> dict[str, Any]:
        vm = self.res_bus.vm_pu.dropna()
        return {
            "vm_min_pu": float(vm.min()),
            "vm_min_bus": str(vm.idxmin()),
            "vm_max_pu": float(vm.max()),
            "vm_max_bus": str(vm.idxmax()),
        }


def summary_dict(result: PowerFlowResult | CoupledPowerFlowResult) -> dict[str, Any]:
    """The JSON summary printed by ``tdcoord pf --json``."""
    out: dict[str, Any] = {
        "converged": bool(result.converged),
        "iterations": int(result.iterations),
        "method": result.method,
        "max_mismatch_pu": float(result.max_mismatch_pu),
        "time_s": float(result.time_s),
    }
    if result.converged:
        out.update({"p_loss_mw": result.p_loss_mw, "q_loss_mvar": result.q_loss_mvar})
        out.update(result.extremes())
    boundary = []
    if isinstance(result, CoupledPowerFlowResult) and result.converged:
        for name, row in result.res_boundary.iterrows():
            boundary.append(
                {
                    "feeder": str(name),
                    "bus": str(row["bus"]),
                    "p_mw": float(row["p_mw"]),
                    "q_mvar": float(row["q_mvar"]),
                    "vm_pu": float(row["vm_pu"]),
                }
            )
    out["boundary"] = boundary
    if getattr(result, "messages", None):
        out["messages"] = list(result.messages)
    return out


def _nan_frame(index: pd.Index, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(np.nan, index=index, columns=columns)
