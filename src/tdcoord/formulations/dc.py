"""DC power flow (B-theta), linear, with an optional quadratic loss approximation.

MATPOWER's DC model (``makeBdc``): voltage magnitudes are 1 p.u., only
active power flows, and a branch carries

    P_f = b_k (th_f - th_t - shift_k),   b_k = 1 / (x_k tap_k),   P_t = -P_f

Bus shunt conductance is counted as load (``gs`` at 1 p.u.); line charging
and reactive quantities drop out. Phase shifts are kept (their injection
``-b shift`` is part of P_f). Branch limits are ``|P_f| <= rate`` (rateA).

``losses=True`` adds each branch's series loss as a variable
``loss_k >= r_k P_f^2`` (at 1 p.u. voltage) charged to the to end:
``P_t = -P_f + loss_k``. The inequality is the convex relaxation of the
quadratic loss; it is tight wherever losses cost something (any positive
price of energy), as in PowerModels' ``DCPLLPowerModel``. The model is then
a convex QCQP (an SOCP for Clarabel) instead of an LP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tdcoord.formulations.base import Formulation


class DcFormulation(Formulation):
    name = "dc"
    family = "dc"
    backends = ("nlp", "conic")
    description = "DC power flow, B-theta (linear; optional quadratic losses)"

    def __init__(self, b: Any, cn: Any, prefix: str, *, losses: bool = False, **kw: Any) -> None:
        super().__init__(b, cn, prefix, **kw)
        self.losses = bool(losses)
        cn = self.cn
        self.bk = 1.0 / (cn.x * cn.tap)
        self.variable_angle()
        o = self.ops
        cf, ct = cn.incidence()
        theta_diff = o.mm(cf - ct, self.va_var)
        self.pf = o.rows(self.bk, theta_diff) - self.columns(self.bk * cn.shift)
        if self.losses:
            self.loss_var = b.variable(f"{prefix}.loss", self.shape(cn.n_branch), 0.0, np.inf, 0.0)
            b.constraint_ineq(f"{prefix}.loss_min", o.rows(cn.r, o.square(self.pf)) - self.loss_var, -np.inf, 0.0)
            self.pt = -self.pf + self.loss_var
        else:
            self.loss_var = None
            self.pt = -self.pf
        self.p_inj = o.mm(cf.T, self.pf) + o.mm(ct.T, self.pt) + self.columns(cn.gs)

    def variable_angle(self) -> None:
        nb = self.cn.n_bus
        lb, ub = np.full(nb, -np.inf), np.full(nb, np.inf)
        ref, angle = self.reference_angles()
        lb[ref] = ub[ref] = angle
        va0 = self.start_of("va", np.zeros(nb))
        self.va_var = self.b.variable(f"{self.prefix}.va", self.shape(nb), lb, ub, va0)

    # ----------------------------------------------------------- expressions
    def vm(self) -> Any:
        return None

    def vm_sq(self) -> Any:
        return self.columns(np.ones(self.cn.n_bus))

    @property
    def va(self) -> Any:
        return self.va_var

    # ------------------------------------------------------------ constraints
    def constraint_power_balance(self, p_dev: Any, q_dev: Any = None) -> None:
        self.b.constraint_eq(f"{self.prefix}.p_balance", self.p_inj - p_dev)

    def constraint_thermal_limits(self, limit: str = "mva") -> None:
        cn = self.cn
        rated = np.flatnonzero(np.isfinite(cn.rate))
        if not len(rated) or limit == "none":
            return
        rate = self.columns(cn.rate[rated])
        self.b.constraint_ineq(f"{self.prefix}.p_from", self.ops.take(self.pf, rated), -rate, rate)
        if self.losses:
            self.b.constraint_ineq(f"{self.prefix}.p_to", self.ops.take(self.pt, rated), -rate, rate)

    # -------------------------------------------------------------- objective
    def objective_losses(self) -> Any:
        """Series losses (with ``losses=True``) plus bus shunt conductance, p.u."""
        shunt = float(self.cn.gs.sum()) * self.T
        return (self.ops.sum(self.loss_var) + shunt) if self.losses else shunt

    def objective_voltage_deviation(self, vm_ref: float, buses: np.ndarray | None = None) -> Any:
        return 0.0

    # ----------------------------------------------------------------- values
    def bus_values(self, sol: Any) -> tuple[np.ndarray, np.ndarray]:
        va = np.asarray(sol.x[f"{self.prefix}.va"], float)
        va = va.reshape(len(va), -1)
        return np.ones_like(va), va

    def branch_values(self, sol: Any) -> dict[str, np.ndarray]:
        _, va = self.bus_values(sol)
        cn = self.cn
        pf = self.bk[:, None] * (va[cn.f] - va[cn.t] - cn.shift[:, None])
        pt = -pf
        if self.losses:
            loss = np.asarray(sol.x[f"{self.prefix}.loss"], float).reshape(cn.n_branch, -1)
            pt = pt + loss
        zero = np.zeros_like(pf)
        return {"pf": pf, "qf": zero, "pt": pt, "qt": zero.copy()}


__all__ = ["DcFormulation"]
