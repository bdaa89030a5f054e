"""SCIP through cvxpy's canonical data: tdcoord's own construction of the SCIP model.

cvxpy canonicalizes a problem for SCIP and hands the data (``A x + b`` in a product of cones) to its SCIP
interface; :func:`scip_solver_class` subclasses that interface (used by
:class:`tdcoord.backends.cvxpy_conic.ConicBuilder` for every SCIP solve) to

- build the model by rows of a CSR matrix (cvxpy's interface walks every nonzero of the whole constraint matrix
  once per cone: quadratic in the model's size);
- add special ordered sets and a partial start solution at cvxpy's columns;
- keep SCIP's own status, which cvxpy drops when it raises on a stop without a solution.
"""

from __future__ import annotations

from typing import Any


def scip_solver_class() -> Any:
    """cvxpy's SCIP interface, adding special ordered sets before the solve, and building the SCIP model from
    cvxpy's canonical data by rows of a CSR matrix: cvxpy's own interface walks every nonzero of the whole
    constraint matrix once per cone (quadratic in the model's size: half of a one-feeder DSO-led solve, most of
    a five-feeder one). The model built is the same: the same variables, rows, and per cone the same auxiliary
    variables, equalities and quadratic constraint, in the same order."""
    import scipy.sparse as sps
    from cvxpy import settings as cvx_s
    from cvxpy.reductions.solvers.conic_solvers.conic_solver import dims_to_solver_dict
    from cvxpy.reductions.solvers.conic_solvers.scip_conif import SCIP

    class ScipSos(SCIP):
        def __init__(self, sets: list[tuple[int, list[int], list[float]]]) -> None:
            super().__init__()
            self.sets = sets
            self.start: dict[int, float] = {}  # column -> value: a (partial) start solution for SCIP to complete
            self.columns: list = []
            self.scip_status: str | None = None

        def _solve(self, model, variables, constraints, data, dims):  # noqa: ANN001, ANN202 (cvxpy's signature)
            out = super()._solve(model, variables, constraints, data, dims)
            status = out.get("scip_status")  # kept: cvxpy raises on a stop without a solution
            self.scip_status = None if status is None else str(status)
            return out

        def name(self) -> str:
            return "SCIP_SOS"

        def _define_data(self, data):  # noqa: ANN001, ANN202 (cvxpy's signature)
            return sps.csr_matrix(data[cvx_s.A]), data[cvx_s.B], data[cvx_s.C], dims_to_solver_dict(data[cvx_s.DIMS])

        def _add_constraints(self, model, variables, A, b, dims):  # noqa: ANN001, ANN202 (cvxpy's signature)
            from pyscipopt.scip import quicksum

            def row(i: int) -> Any:
                lo, hi = A.indptr[i], A.indptr[i + 1]
                if lo == hi:
                    return None
                return quicksum(c * variables[j] for j, c in zip(A.indices[lo:hi], A.data[lo:hi]))

            self.columns = list(variables)  # the problem's columns, in cvxpy's order, before any cone's aux
            n_eq, n_leq = dims[cvx_s.EQ_DIM], dims[cvx_s.LEQ_DIM]
            eq, leq = [], []
            for i in range(n_eq):
                e = row(i)
                eq.append(model.addCons(e == b[i]) if e is not None else None)
            for i in range(n_eq, n_eq + n_leq):
                e = row(i)
                leq.append(model.addCons(e <= b[i]) if e is not None else None)
            soc, new_leq, start = [], [], n_eq + n_leq
            for size in dims[cvx_s.SOC_DIM]:
                t_vars = [model.addVar(obj=0, name=f"soc_t_{i}", vtype="C", lb=0 if k == 0 else None, ub=None)
                          for k, i in enumerate(range(start, start + size))]
                for k, i in enumerate(range(start, start + size)):
                    e = row(i)
                    new_leq.append(model.addCons(t_vars[k] == (b[i] - e if e is not None else b[i])))
                soc.append(model.addCons(quicksum(v * v for v in t_vars[1:]) <= t_vars[0] * t_vars[0]))
                variables += t_vars
                start += size
            return eq + leq + new_leq + soc

        def _set_params(self, model, verbose, solver_opts, data, dims):  # noqa: ANN001 (cvxpy's signature)
            super()._set_params(model, verbose, solver_opts, data, dims)
            cols = self.columns  # cvxpy's column order (SCIP's getVars() sorts binaries first)
            for kind, idx, weights in self.sets:
                members = [cols[c] for c in idx]
                if kind == 1:
                    model.addConsSOS1(members, weights)
                else:
                    model.addConsSOS2(members, weights)
            if self.start:
                sol = model.createPartialSol()
                for c, v in self.start.items():
                    model.setSolVal(sol, cols[c], float(v))
                model.addSol(sol)

    return ScipSos


__all__ = ["scip_solver_class"]
