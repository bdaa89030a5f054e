"""SOC-relaxed branch flow: the exact model with ``P^2 + Q^2 <= l u`` (convex).

The current equation of :mod:`tdcoord.formulations.branch_flow` becomes the
rotated second-order cone ``P_k^2 + Q_k^2 <= l_k u_k`` (Farivar and Low,
"Branch flow model: relaxations and convexification", IEEE Trans. Power
Syst. 28(3), 2013). Everything else is the exact model's, so the same
formulation builds an NLP for IPOPT (the cone as a smooth inequality) or a
second-order cone program for Clarabel or SCIP (the cone as a cone).

Its exactness gap ``l u - P^2 - Q^2`` is reported after a solve
(:func:`tdcoord.formulations.branch_flow.soc_gap`); where it is zero the
relaxed optimum is an optimum of the exact branch-flow problem.
"""

from __future__ import annotations

from tdcoord.formulations.branch_flow import BranchFlowFormulation, SquaredVoltageMixin


class SocBranchFlowFormulation(SquaredVoltageMixin, BranchFlowFormulation):
    name = "soc_bf"
    backends = ("nlp", "conic")
    description = "branch flow with the SOC relaxation (convex); radial networks"

    def constraint_current(self) -> None:
        """``P^2 + Q^2 <= l u`` (l, u >= 0 by their bounds)."""
        self.b.constraint_cone(f"{self.prefix}.cone", [self.p, self.q], self.l, self.u)


__all__ = ["SocBranchFlowFormulation"]
