"""Thin adapters to modelling layers and solvers (the ground of the layer order).

- :mod:`.casadi_nlp`: casadi + IPOPT (bonmin) for nonconvex NLPs;
- :mod:`.cvxpy_conic`: cvxpy + Clarabel / HiGHS / SCIP for LP, QP, SOCP,
  MILP and MISOCP, with SCIP's special ordered sets through PySCIPOpt
  (:mod:`.scip_model` builds the SCIP model from cvxpy's canonical data).

Both implement the interface of :mod:`.base`, so that a formulation written
once builds on either.
"""

from __future__ import annotations

from typing import Any

BACKENDS = ("nlp", "conic")


def new_builder(backend: str, name: str = "model") -> Any:
    """An empty model builder of ``backend`` (``"nlp"`` or ``"conic"``)."""
    if backend == "nlp":
        from tdcoord.backends.casadi_nlp import NlpBuilder

        return NlpBuilder(name)
    if backend == "conic":
        from tdcoord.backends.cvxpy_conic import ConicBuilder

        return ConicBuilder(name)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


__all__ = ["BACKENDS", "new_builder"]
