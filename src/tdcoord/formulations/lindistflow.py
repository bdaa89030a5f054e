"""LinDistFlow: the branch-flow model without the loss terms (linear).

Baran and Wu's linearization ("Network reconfiguration in distribution
systems for loss reduction and load balancing", IEEE Trans. Power Deliv.
4(2), 1989): the squared current ``l`` and every term it carries are
dropped, so that

    w_k = u_k - 2 (r_k P_k + x_k Q_k)                        (voltage drop)
    P_k + p_dev(c) - g_sh(c) w_c = sum of P of c's child branches

is linear in (w, P, Q). Voltages come out slightly high (no loss-driven
drop; on the 33-bus feeder by about 0.003 p.u. at the far end, see
``tests/formulations``) and the root injection lacks the series losses.

The model has no losses of its own; the objective's loss term is the usual
estimate ``sum r_k (P_k^2 + Q_k^2)`` (series loss at 1 p.u. voltage, a
convex quadratic) plus shunt conductance. The voltage magnitude of a term
is its first-order value ``V = (1 + w) / 2`` (exact at 1 p.u.), so that the
voltage-deviation term stays quadratic and a model is an LP or QP (HiGHS,
Clarabel), or a MILP with integer devices.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tdcoord.formulations.branch_flow import BranchFlowFormulation, SquaredVoltageMixin


class LinDistFlowFormulation(SquaredVoltageMixin, BranchFlowFormulation):
    name = "lindistflow"
    backends = ("nlp", "conic")
    description = "LinDistFlow (linear, lossless branch flow); radial networks"
    has_current = False

    def constraint_current(self) -> None:
        """No current variable: nothing to write."""

    def series_losses(self) -> tuple[Any, Any]:
        return 0.0, 0.0

    def vm(self) -> Any:
        return 0.5 * (1.0 + self.w)

    def objective_losses(self) -> Any:
        """Estimated series losses sum r (P^2 + Q^2) (at 1 p.u.) plus shunt conductance, p.u."""
        ops, o = self.ops, self.o
        series = ops.sum(ops.rows(o.r, ops.square(self.p))) + ops.sum(ops.rows(o.r, ops.square(self.q)))
        return series + ops.sum(ops.rows(o.gsh, self.w))

    def objective_voltage_deviation(self, vm_ref: float, buses: np.ndarray | None = None) -> Any:
        ops = self.ops
        w = self.w if buses is None else ops.take(self.w, buses)
        if (self.cn.n_bus if buses is None else len(buses)) == 0:
            return 0.0
        return ops.sumsq(0.5 * (1.0 + w) - vm_ref)


__all__ = ["LinDistFlowFormulation"]
