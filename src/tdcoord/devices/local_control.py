"""Quasi-static local control: inverters follow their IEEE 1547 curves on the exact AC power flow.

The steady state of autonomous inverter functions is a fixed point: the
power flow gives the terminal voltages, each inverter's function gives its
P and Q at that voltage (:func:`tdcoord.devices.ieee1547.target_pq`), and
the two must agree. :func:`run_local_control` iterates

    x_{k+1} = x_k + a (f(V(x_k)) - x_k),   x = (P, Q) of the inverters,

with the damping ``a`` (0.5 by default) halved whenever the residual
``max |f(V(x_k)) - x_k|`` grows, and reports every residual. With loop gain
``g`` (the largest eigenvalue of the droop slopes times the Q-V
sensitivities) the undamped iteration diverges for ``g > 1``; the damped one
converges for ``a < 2 / (1 + g)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tdcoord.devices.ieee1547 import check_settings, target_pq
from tdcoord.errors import InputError
from tdcoord.network.compiled import compile_network
from tdcoord.network.network import Network
from tdcoord.pf.ac import solve_compiled
from tdcoord.pf.flows import build_result
from tdcoord.results.powerflow import PowerFlowResult


class InverterInjections:
    """``net`` compiled once, with the injections of the inverters ``index`` (sgen rows) settable in place: the
    loads and every other injection stay as compiled. Power flows in a loop then re-solve ``cn`` without
    compiling the network again."""

    def __init__(self, net: Network, index: pd.Index) -> None:
        s = net.sgen.loc[index]
        self.cn = compile_network(net)
        pos = self.cn.position()
        self.at = np.array([pos[b] for b in s.bus], dtype=int)
        self.p_base = self.cn.p_fix - self._per_bus(s.p_mw.to_numpy(float))
        self.q_base = self.cn.q_fix - self._per_bus(s.q_mvar.to_numpy(float))

    def _per_bus(self, x_mw: np.ndarray) -> np.ndarray:
        return np.bincount(self.at, x_mw / self.cn.base_mva, self.cn.n_bus)

    def set(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> None:
        """The inverters inject ``p_mw``, ``q_mvar`` (rows of ``index``)."""
        self.cn.p_fix = self.p_base + self._per_bus(p_mw)
        self.cn.q_fix = self.q_base + self._per_bus(q_mvar)


@dataclass
class LocalControlResult:
    pf: PowerFlowResult  # the power flow at the last iterate (its net has the inverters' final P and Q)
    inverters: pd.DataFrame  # per sgen: bus, mode, p_avail_mw, p_mw, q_mvar, vm_pu
    converged: bool
    iterations: int
    residuals: list[float] = field(default_factory=list)  # max |f(V) - x| (MW, Mvar) per iteration
    damping: float = 0.5  # the damping at the end
    time_s: float = 0.0
    network: Network | None = None  # the network with the inverters' final P and Q

    def summary(self) -> dict:
        inv = self.inverters
        return {"converged": bool(self.converged), "iterations": int(self.iterations),
                "residual_mw_mvar": float(self.residuals[-1]) if self.residuals else 0.0,
                "damping": float(self.damping),
                "curtailment_mw": float((inv.p_avail_mw - inv.p_mw).sum()),
                "vm_min_pu": float(np.nanmin(self.pf.res_bus.vm_pu)) if self.pf.converged else float("nan"),
                "vm_max_pu": float(np.nanmax(self.pf.res_bus.vm_pu)) if self.pf.converged else float("nan"),
                "time_s": float(self.time_s)}


def run_local_control(net: Network, settings: pd.DataFrame, *, p_avail: np.ndarray | None = None,
                      damping: float = 0.5, tol: float = 1e-6, max_iter: int = 200,
                      check: bool = True) -> LocalControlResult:
    """The steady state of ``net`` with its inverters following ``settings`` (rows: sgen index).

    ``p_avail`` (MW, rows of ``settings``): the power available to each inverter, default its ``p_mw``.
    ``tol`` (MW and Mvar) bounds the last residual. The result holds the power flow, the inverters' P, Q
    and V, and the residual of every iteration; a run that does not converge says so (``converged``)."""
    t0 = time.perf_counter()
    if not 0 < damping <= 1:
        raise InputError(f"local control damping {damping}: expected 0 < damping <= 1")
    if check:
        check_settings(net, settings)
    work = net.copy()
    s = work.sgen.loc[settings.index]
    avail = s.p_mw.to_numpy(float) if p_avail is None else np.asarray(p_avail, float)
    if avail.shape != (len(settings),):
        raise InputError(f"local control: p_avail has {avail.shape} values for {len(settings)} inverters")
    work.sgen.loc[settings.index, "p_mw"] = avail
    inj = InverterInjections(work, settings.index)
    cn, at, nb = inj.cn, inj.at, inj.cn.n_bus
    p, q = avail.copy(), s.q_mvar.to_numpy(float).copy()
    v = None
    residuals: list[float] = []
    a = damping
    converged = False
    it = 0
    out = None
    while it < max_iter:
        inj.set(p, q)
        out, _ = solve_compiled(cn, v)
        if not out.converged:
            break
        v = out.v
        pt, qt = target_pq(work, settings, np.abs(v[at]), p_now=p, p_avail=avail)
        if not (np.all(np.isfinite(pt)) and np.all(np.isfinite(qt))):
            k = int(np.flatnonzero(~(np.isfinite(pt) & np.isfinite(qt)))[0])
            raise InputError(f"local control: sgen {settings.index[k]} ({settings['mode'].iloc[k]}) asks for a "
                             f"non-finite P or Q at V = {abs(v[at[k]]):.4f} p.u.: check its settings and ratings")
        r = float(max(np.max(np.abs(pt - p), initial=0.0), np.max(np.abs(qt - q), initial=0.0)))
        residuals.append(r)
        if r <= tol:
            converged = True
            break
        if len(residuals) > 1 and r > residuals[-2]:
            a = max(a / 2, 1e-3)
        p, q = p + a * (pt - p), q + a * (qt - q)
        it += 1
    work.sgen.loc[settings.index, "p_mw"] = p
    work.sgen.loc[settings.index, "q_mvar"] = q
    ok = out is not None and out.converged
    vv = out.v if out is not None else np.ones(nb, complex)
    res = build_result(work, cn, vv, converged=ok, iterations=out.iterations if out is not None else 0,
                       max_mismatch=out.max_mismatch if out is not None else float("inf"), method="local control")
    table = pd.DataFrame({"bus": s.bus.to_numpy(), "mode": settings["mode"].to_numpy(), "p_avail_mw": avail,
                          "p_mw": p, "q_mvar": q, "vm_pu": np.abs(vv[at])}, index=settings.index)
    res.time_s = time.perf_counter() - t0
    return LocalControlResult(pf=res, inverters=table, converged=converged and ok, iterations=len(residuals),
                              residuals=residuals, damping=a, time_s=res.time_s, network=work)


__all__ = ["InverterInjections", "LocalControlResult", "run_local_control"]
