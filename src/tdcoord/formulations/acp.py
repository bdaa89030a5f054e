"""AC polar formulation (NLP): bus voltage magnitudes and angles.

Branch flows follow the pi model of :mod:`tdcoord.network.compiled`, written
per branch from Yff, Yft, Ytf, Ytt and summed into bus injections with the
sparse incidence matrices, so the model is built with a handful of
vectorized operations whatever the network's size (and, over a time axis,
whatever the number of periods: every expression is bus x period):

    P_f = G_ff Vf^2 + Vf Vt (G_ft cos(th_f - th_t) + B_ft sin(th_f - th_t))
    Q_f = -B_ff Vf^2 + Vf Vt (G_ft sin(th_f - th_t) - B_ft cos(th_f - th_t))

and symmetrically at the to end. The bus balance is ``P(V) = sum of device
injections``; losses are the sum of all bus injections into branches and
bus shunts (shunt conductance included).

A device may make the turns ratio of some branches a decision
(:meth:`AcpFormulation.expression_branch_ratio`, an on-load tap changer):
with ratio tau in place of the data's tau0, ``Y_ff`` scales by
``(tau0/tau)^2`` and ``Y_ft``, ``Y_tf`` by ``tau0/tau``. The flows are
written when first needed (by the balance, the limits or the losses), so
devices that change them are built first.
"""

from __future__ import annotations

from typing import Any

import casadi as ca
import numpy as np
import scipy.sparse as sp

from tdcoord.formulations.base import Formulation


class AcpFormulation(Formulation):
    name = "acp"
    family = "ac"
    backends = ("nlp",)
    description = "AC polar power flow (exact, nonconvex NLP)"

    def __init__(self, b: Any, cn: Any, prefix: str, **kw: Any) -> None:
        super().__init__(b, cn, prefix, **kw)
        self.variable_voltage()
        self._ratio: tuple[np.ndarray, Any] | None = None
        self._series: dict[str, Any] | None = None
        self._flows: dict[str, Any] | None = None

    # ------------------------------------------------------------- variables
    def variable_voltage(self) -> None:
        nb = self.cn.n_bus
        va_lb = np.full(nb, -np.inf)
        va_ub = np.full(nb, np.inf)
        ref, angle = self.reference_angles()
        va_lb[ref] = va_ub[ref] = angle
        va0 = self.start_of("va", None)
        va0 = np.zeros(nb) if va0 is None else np.array(va0, float)
        if va0.ndim == 1:
            va0[ref] = angle
        else:
            va0[ref, :] = angle[:, None]
        self.vm_var = self.b.variable(f"{self.prefix}.vm", self.shape(nb), self.vm_min, self.vm_max, self.voltage_start())
        self.va_var = self.b.variable(f"{self.prefix}.va", self.shape(nb), va_lb, va_ub, va0)

    def expression_branch_ratio(self, rows: np.ndarray, ratio: Any) -> None:
        """Make the turns ratio of branches ``rows`` the expression ``ratio`` (rows x periods), e.g. tap variables."""
        if self._flows is not None:
            raise RuntimeError("branch ratios must be set before the flows are used (build tap changers first)")
        self._ratio = (np.asarray(rows, int), ratio)

    def expression_series_source(self, rows: np.ndarray, flows: dict[str, Any], p_injected: Any) -> None:
        """Branches ``rows`` carry a series voltage source (a UPFC), written by its device as injections at the
        branch's ends (the power-injection model): ``flows`` are the branches' true end flows (``pf, qf, pt, qt``,
        rows x periods) for the thermal limits and the reported flows, ``p_injected`` the injections' active
        power (rows x periods), which is not a loss."""
        if self._flows is not None:
            raise RuntimeError("series sources must be set before the flows are used (build UPFCs first)")
        self._series = {"rows": np.asarray(rows, int), "flows": flows, "p_injected": p_injected}

    def expression_branch_flows(self) -> dict[str, Any]:
        """P and Q into every branch at both ends, and the bus injections (written once, on first use)."""
        if self._flows is not None:
            return self._flows
        o = self.ops
        yff, yft, ytf, ytt = self.cn.branch_admittances()
        cf, ct = self.cn.incidence()
        vm, va = self.vm_var, self.va_var
        vf, vt = o.mm(cf, vm), o.mm(ct, vm)
        d = o.mm(cf, va) - o.mm(ct, va)
        cosd, sind = ca.cos(d), ca.sin(d)
        vfvt = vf * vt
        r = o.rows
        s1 = s2 = 1.0
        if self._ratio is not None:
            rows, ratio = self._ratio
            pick = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(self.cn.n_branch, len(rows)))
            inv = o.rows(self.cn.tap[rows], 1.0 / ratio)  # tau0 / tau
            s1 = 1.0 + o.mm(pick, inv - 1.0)
            s2 = 1.0 + o.mm(pick, inv**2 - 1.0)
        f = {"pf": s2 * r(yff.real, vf**2) + s1 * vfvt * (r(yft.real, cosd) + r(yft.imag, sind)),
             "qf": s2 * r(-yff.imag, vf**2) + s1 * vfvt * (r(yft.real, sind) - r(yft.imag, cosd)),
             "pt": r(ytt.real, vt**2) + s1 * vfvt * (r(ytf.real, cosd) - r(ytf.imag, sind)),
             "qt": r(-ytt.imag, vt**2) + s1 * vfvt * (r(-ytf.real, sind) - r(ytf.imag, cosd))}
        f["p_inj"] = o.mm(cf.T, f["pf"]) + o.mm(ct.T, f["pt"]) + r(self.cn.gs, vm**2)
        f["q_inj"] = o.mm(cf.T, f["qf"]) + o.mm(ct.T, f["qt"]) - r(self.cn.bs, vm**2)
        if self._series is not None:  # the balance keeps the injection model; limits and values take true flows
            rows = self._series["rows"]
            pick = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(self.cn.n_branch, len(rows)))
            for k in ("pf", "qf", "pt", "qt"):
                f[k] = f[k] + o.mm(pick, self._series["flows"][k] - o.take(f[k], rows))
        self._flows = f
        return f

    def __getattr__(self, name: str) -> Any:
        if name in ("pf", "qf", "pt", "qt", "p_inj", "q_inj"):
            return self.expression_branch_flows()[name]
        raise AttributeError(name)

    # ----------------------------------------------------------- expressions
    def vm(self) -> Any:
        return self.vm_var

    def vm_sq(self) -> Any:
        return self.vm_var**2

    @property
    def va(self) -> Any:
        return self.va_var

    # ------------------------------------------------------------ constraints
    def constraint_power_balance(self, p_dev: Any, q_dev: Any) -> None:
        """Kirchhoff at every bus: network injection = device injections (p.u.)."""
        self.b.constraint_eq(f"{self.prefix}.p_balance", self.p_inj - p_dev)
        self.b.constraint_eq(f"{self.prefix}.q_balance", self.q_inj - q_dev)

    def constraint_thermal_limits(self, limit: str = "mva") -> None:
        """|S| <= rating at both ends of every rated branch (``mva``), or |S| <= rating V (``current``)."""
        cn = self.cn
        rated = np.flatnonzero(np.isfinite(cn.rate))
        if not len(rated) or limit == "none":
            return
        o = self.ops
        rate2 = cn.rate[rated] ** 2
        sf = o.take(self.pf, rated) ** 2 + o.take(self.qf, rated) ** 2
        st = o.take(self.pt, rated) ** 2 + o.take(self.qt, rated) ** 2
        if limit == "mva":
            self.b.constraint_ineq(f"{self.prefix}.s_from", sf, -np.inf, self.columns(rate2))
            self.b.constraint_ineq(f"{self.prefix}.s_to", st, -np.inf, self.columns(rate2))
        elif limit == "current":
            vf2 = o.take(self.vm_var, cn.f[rated]) ** 2
            vt2 = o.take(self.vm_var, cn.t[rated]) ** 2
            self.b.constraint_ineq(f"{self.prefix}.i_from", sf - o.rows(rate2, vf2), -np.inf, 0.0)
            self.b.constraint_ineq(f"{self.prefix}.i_to", st - o.rows(rate2, vt2), -np.inf, 0.0)
        else:
            raise ValueError(f"limit must be 'mva', 'current' or 'none', got {limit!r}")

    # -------------------------------------------------------------- objective
    def objective_losses(self) -> Any:
        """Active losses of branches and bus shunts, p.u. (summed over periods); a series source's injections
        are not losses."""
        loss = self.ops.sum(self.p_inj)
        if self._series is not None:
            loss = loss - self.ops.sum(self._series["p_injected"])
        return loss

    def objective_voltage_deviation(self, vm_ref: float, buses: np.ndarray | None = None) -> Any:
        vm = self.vm_var if buses is None else self.ops.take(self.vm_var, buses)
        return ca.sumsqr(vm - vm_ref)

    # ----------------------------------------------------------------- values
    def bus_values(self, sol: Any) -> tuple[np.ndarray, np.ndarray]:
        vm = np.asarray(sol.x[f"{self.prefix}.vm"], float)
        va = np.asarray(sol.x[f"{self.prefix}.va"], float)
        return vm.reshape(len(vm), -1), va.reshape(len(va), -1)

    def branch_ratios(self, sol: Any) -> np.ndarray:
        """Every branch's turns ratio at a solution, branch x period (the data's where no device sets it)."""
        vm, _ = self.bus_values(sol)
        tap = np.repeat(self.cn.tap.reshape(-1, 1), vm.shape[1], axis=1)
        if self._ratio is not None:
            rows, ratio = self._ratio
            tap[rows] = np.asarray(self.b.evaluate(sol, [ratio])[0], float).reshape(len(rows), -1)
        return tap

    def branch_values(self, sol: Any) -> dict[str, np.ndarray]:
        from dataclasses import replace

        from tdcoord.pf.flows import branch_flows

        vm, va = self.bus_values(sol)
        taps = self.branch_ratios(sol)
        out: dict[str, list] = {"pf": [], "qf": [], "pt": [], "qt": []}
        for t in range(vm.shape[1]):
            cn = self.cn if self._ratio is None else replace(self.cn, tap=taps[:, t], _cache={})
            sf, st = branch_flows(cn, vm[:, t] * np.exp(1j * va[:, t]))
            out["pf"].append(sf.real)
            out["qf"].append(sf.imag)
            out["pt"].append(st.real)
            out["qt"].append(st.imag)
        res = {k: np.column_stack(v) if v else np.zeros((self.cn.n_branch, 0)) for k, v in out.items()}
        if self._series is not None:
            rows, fl = self._series["rows"], self._series["flows"]
            vals = self.b.evaluate(sol, [fl[k] for k in ("pf", "qf", "pt", "qt")])
            for k, v in zip(("pf", "qf", "pt", "qt"), vals):
                res[k][rows] = np.asarray(v, float).reshape(len(rows), -1)
        return res


__all__ = ["AcpFormulation"]
