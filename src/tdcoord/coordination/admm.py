"""ADMM between the transmission grid and its feeders.

Each boundary has duplicated variables x = (V, P, Q) on both sides, in
engineering units (V in percent, P in MW, Q in Mvar; flow into the feeder). With a consensus
variable z and multipliers lam per side, one iteration is

1. every subproblem minimizes its own objective plus
   ``lam . (x - z) + rho/2 |x - z|^2`` (in parallel, through the executor);
2. ``z = (x_T + x_D)/2 + (lam_T + lam_D)/(2 rho)``;
3. ``lam += rho (x - z)`` on each side.

Primal residual: max |x_T - x_D|; dual residual: max rho |z - z_prev|
(in the same units: percent of voltage, MW, Mvar). Both below the
tolerance (default 1e-4, i.e. 1e-6 p.u. on a 100 MVA base) means converged.
The penalty is diagonal, one rho per boundary quantity, because the
objective's curvature differs by orders of magnitude between them (on the
default case: about 0.1 per %^2 for the transmission side's voltage,
0.0008 per MW^2 for its P, 0.0006 per Mvar^2 for its Q, while a feeder's P
is nearly fixed by its loads). Two adaptation rules:

- ``residual`` (the paper's rule; Boyd et al. 2011, section 3.4.1): a rho is
  multiplied by ``tau`` when its primal residual exceeds ``mu`` times its
  dual one and divided by ``tau`` in the opposite case;
- ``spectral`` (default; Xu, Figueiredo, Goldstein, "Adaptive ADMM with
  spectral penalty parameter selection", AISTATS 2017): rho = sqrt(h_T h_D)
  where h is a side's curvature along the boundary quantity. Before the
  first iteration every subproblem probes it (its objective with the
  boundary pinned at z0 and z0 +- 0.1 unit: 6 solves, in parallel, about
  the cost of three iterations); afterwards each side re-estimates it from
  its own iterates, h = -d(lam_hat)/dx (Barzilai-Borwein on the implied
  gradient -lam_hat = -(lam + rho (x - z))). A change of rho is bounded by
  a factor 1 + c/(1 + k/k0)^2 at iteration k (c = 1, k0 = 20: at most x2
  early, x1.25 at k = 20), so the adaptivity dies out (the factors' excess
  over 1 is summable) and the convergence guarantee of bounded-adaptivity
  ADMM holds;
- ``fixed``: rho0 throughout.

Measured on the default case (tolerance 1e-4): from the paper's rho0 = 0.5,
residual balancing is still 0.3 % above the centralized objective after 50
iterations (unit weights); the spectral rule converges in 32-36 iterations
under unit and entropy weights; hence the default. Only boundary values cross between subproblems:
per iteration and boundary, 3 numbers from each side to the coordinator and
3 back to each side (12 floats).

Capacitor steps are relaxed until ADMM converges; then every subproblem
fixes its steps by the discrete search of :mod:`tdcoord.coordination.discrete`
on its own augmented objective, and ADMM continues with the steps fixed
until it converges again.

A subproblem sees only its own network: a feeder subproblem gets its feeder
and a one-bus stub of the transmission side (the boundary bus's voltage
level and limits), the transmission subproblem no feeder data at all.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.coordination.common import base_case, finish, start_point
from tdcoord.coordination.discrete import solve_discrete
from tdcoord.coordination.problem import AreaProblem
from tdcoord.execution.base import Executor, SerialExecutor
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.problems.rpo import RpoConfig
from tdcoord.results.optimization import StrategyResult


@dataclass
class AdmmSettings:
    rho0: float = 0.5  # seed 000, section 5.1
    max_iter: int = 50  # seed 000, section 5.1
    tol_primal: float = 1e-4  # % / MW / Mvar
    tol_dual: float = 1e-4
    penalty: str = "spectral"  # spectral | residual | fixed
    mu: float = 10.0
    tau: float = 2.0
    rho_min: float = 1e-5
    rho_max: float = 1e4
    discrete: str = "search"
    max_extra_iter: int = 30  # iterations allowed after the steps are fixed
    relax: float = 1.0  # over-relaxation alpha in [1, 1.8]; 1 = plain ADMM
    probe: bool = True  # spectral rule: probe the curvatures before iterating
    probe_delta: float = 0.1  # % / MW / Mvar
    adapt_c: float = 1.0  # spectral rule: rho may change by 1 + c / (1 + k / k0)^2 at iteration k
    adapt_k0: float = 20.0
    probe_low: float = 1e-3  # probed rho kept within [rho0 * probe_low, rho0 * probe_high]
    probe_high: float = 10.0


def private_view(cs: CoupledSystem, area: str) -> CoupledSystem:
    """What the subproblem of ``area`` needs, and nothing more."""
    if area == "T":
        view = CoupledSystem(cs.transmission, name=cs.name)
        view.boundary = cs.boundary.copy()
        return view
    tbus = cs.boundary.at[area, "bus"]
    t = cs.transmission
    stub = Network(name=f"{t.name} boundary bus", sn_mva=t.sn_mva, f_hz=t.f_hz)
    stub.add_bus(tbus, float(t.bus.at[tbus, "vn_kv"]), vm_min_pu=float(t.bus.at[tbus, "vm_min_pu"]),
                 vm_max_pu=float(t.bus.at[tbus, "vm_max_pu"]))
    stub.add_ext_grid(tbus)
    view = CoupledSystem(stub, name=cs.name)
    view.feeders[area] = cs.feeders[area]
    view.boundary = cs.boundary.loc[[area]].copy()
    return view


AGGREGATE_PROBE_ABOVE = 4  # boundaries; beyond this the probe moves all boundaries at once


class AdmmSubproblem:
    """One area's augmented problem, kept alive between iterations."""

    def __init__(self, view: CoupledSystem, cfg: RpoConfig, area: str, starts: dict, discrete: str) -> None:
        self.area = area
        self.discrete = discrete
        self.problem = AreaProblem(view, cfg, [area], coupling="admm", starts=starts, name="admm")
        self.n = len(self.problem.boundary_names) * 3
        self.rounding: dict = {}

    def _set(self, z: np.ndarray, lam: np.ndarray, rho: float) -> None:
        b = self.problem.b
        b.set_param("admm.z", z)
        b.set_param("admm.lam", lam)
        b.set_param("admm.rho", rho)

    def _report(self, sol: Any) -> dict:
        return {"x": self.problem.boundary_vector(sol, engineering=True), "ok": sol.ok, "status": sol.solver_status,
                "iterations": sol.iterations, "solve_s": sol.time_s, "objective": self.problem.weighted_terms(sol)}

    def solve(self, z: np.ndarray, lam: np.ndarray, rho: float) -> dict:
        self._set(z, lam, rho)
        return self._report(self.problem.solve())

    def round_steps(self, z: np.ndarray, lam: np.ndarray, rho: float) -> dict:
        self._set(z, lam, rho)
        sol, info = solve_discrete(self.problem, self.discrete)
        self.rounding = info
        out = self._report(sol)
        out["info"] = info
        return out

    def curvature(self, z0: np.ndarray, delta: float) -> np.ndarray:
        """Curvature of this side's objective along each boundary quantity at z0 (NaN where unknown).

        The boundary is pinned by a stiff penalty (1e4) and the pinned
        objective, penalty included, is differenced. Where the side cannot
        follow the pin (a passive feeder's P and Q are functions of its
        voltage), the estimate is the pin's own stiffness: that side is
        rigid along that quantity, which calls for a large rho.
        """
        pin = np.full(self.n, 1e4)
        lam = np.zeros(self.n)

        def value(z: np.ndarray) -> float:
            self._set(z, lam, pin)
            sol = self.problem.solve()
            return float(sol.objective) if sol.ok else np.nan

        # probe around the point this side actually reaches when pinned to z0: a start
        # that does not match its own data (loads moved since z0 was computed) would
        # otherwise make every difference measure the pin
        self._set(z0, lam, pin)
        sol = self.problem.solve()
        if sol.ok:
            z0 = self.problem.boundary_vector(sol, engineering=True)
        f0 = value(z0)
        h = np.full(self.n, np.nan)
        nb = self.n // 3
        if nb <= AGGREGATE_PROBE_ABOVE:
            for i in range(self.n):
                e = np.zeros(self.n)
                e[i] = delta
                h[i] = (value(z0 + e) - 2 * f0 + value(z0 - e)) / delta**2
        else:
            # many boundaries: move one quantity at every boundary together (6 solves in all);
            # for weakly coupled boundaries the second difference is the sum of their curvatures
            for q in range(3):
                e = np.zeros(self.n)
                e[q::3] = delta
                h[q::3] = (value(z0 + e) - 2 * f0 + value(z0 - e)) / delta**2 / nb
        self._set(z0, lam, pin)
        self.problem.solve()  # leave the warm start at z0
        return h

    def has_steps(self) -> bool:
        return bool(self.problem.shunt_blocks())

    def final(self) -> dict:
        from tdcoord.problems.reserve import shortfalls

        sol = self.problem.last
        return {"solutions": self.problem.solutions(sol), "objective": self.problem.weighted_terms(sol),
                "rounding": self.rounding, "soc_gap": self._soc_gap(sol), "shortfall": shortfalls(self.problem.b, sol)}

    def _soc_gap(self, sol: Any) -> dict:
        a = self.problem.areas[0]
        if a.kind != "feeder" or not a.model.relaxed:
            return {}
        from tdcoord.formulations.branch_flow import soc_gap

        x = sol.x
        return soc_gap(a.model.o, x[f"{a.name}.vm"], x[f"{a.name}.p"], x[f"{a.name}.q"], x[f"{a.name}.l"])


def make_subproblem(view: CoupledSystem, cfg: RpoConfig, area: str, starts: dict, discrete: str) -> AdmmSubproblem:
    return AdmmSubproblem(view, cfg, area, starts, discrete)


def solve_admm(cs: CoupledSystem, cfg: RpoConfig, *, base_pf=None, starts=None, executor: Executor | None = None,
               settings: AdmmSettings | None = None) -> StrategyResult:
    st = settings or AdmmSettings()
    t0 = time.perf_counter()
    base_pf = base_pf or base_case(cs)
    starts = starts or start_point(cs, base_pf)
    feeders = list(cs.boundary.index[cs.boundary.in_service])
    z = np.concatenate([[100.0 * base_pf.res_boundary.at[f, "vm_pu"], base_pf.res_boundary.at[f, "p_mw"],
                         base_pf.res_boundary.at[f, "q_mvar"]] for f in feeders]) if feeders else np.zeros(0)
    sl = {f: slice(3 * k, 3 * k + 3) for k, f in enumerate(feeders)}
    lam_t = np.zeros_like(z)
    lam_d = np.zeros_like(z)
    if st.penalty not in ("spectral", "residual", "fixed"):
        from tdcoord.errors import InputError

        raise InputError(f"ADMM penalty rule {st.penalty!r}: expected 'spectral', 'residual' or 'fixed'")
    if not 1.0 <= st.relax <= 1.8:
        from tdcoord.errors import InputError

        raise InputError(f"ADMM over-relaxation {st.relax}: expected a value in [1, 1.8]")
    rho = np.full(len(z), st.rho0)  # one per boundary quantity
    memory = None
    probe_rho = None
    executor = executor or SerialExecutor()
    factories = {"T": functools.partial(make_subproblem, private_view(cs, "T"), cfg, "T", {"T": starts["T"]}, st.discrete)}
    for f in feeders:
        factories[f] = functools.partial(make_subproblem, private_view(cs, f), cfg, f, {f: starts[f]}, st.discrete)
    rows = []
    converged = False
    status = "max_iter"
    messages: list[str] = []
    it = 0
    critical = 0.0
    executor.open(factories)
    try:
        has_steps = any(executor.call("has_steps", {k: () for k in factories}).values())
        if st.penalty == "spectral" and st.probe and len(z):
            args = {"T": (z, st.probe_delta)}
            args.update({f: (z[sl[f]], st.probe_delta) for f in feeders})
            hs = executor.call("curvature", args)
            h_t = hs["T"]
            h_d = np.concatenate([hs[f] for f in feeders])
            ok = np.isfinite(h_t) & np.isfinite(h_d) & (h_t > 0) & (h_d > 0)
            rho = np.where(ok, np.sqrt(np.abs(h_t * h_d)), rho)
            # an active bound makes the pinned value function kink and the probe overshoot
            rho = np.clip(rho, max(st.rho_min, st.rho0 * st.probe_low), min(st.rho_max, st.rho0 * st.probe_high))
            probe_rho = rho.copy()
        phase_limit = st.max_iter
        rounded = not has_steps
        while True:
            it += 1
            args = {"T": (z, lam_t, rho)}
            args.update({f: (z[sl[f]], lam_d[sl[f]], rho[sl[f]]) for f in feeders})
            out = executor.call("solve", args)
            bad = [k for k, r in out.items() if not r["ok"]]
            if bad:
                status = "subproblem_failed"
                messages.extend(f"subproblem {k!r} failed at iteration {it}: IPOPT {out[k]['status']}" for k in bad)
                break
            critical += max(r.get("wall_s", r["solve_s"]) for r in out.values())
            x_t = out["T"]["x"]
            x_d = np.concatenate([out[f]["x"] for f in feeders]) if feeders else np.zeros(0)
            lh_t = lam_t + rho * (x_t - z)  # the gradients of the two sides are -lh
            lh_d = lam_d + rho * (x_d - z)
            xr_t = st.relax * x_t + (1 - st.relax) * z  # over-relaxation (Boyd et al. 2011, 3.4.3)
            xr_d = st.relax * x_d + (1 - st.relax) * z
            z_new = (xr_t + xr_d) / 2 + (lam_t + lam_d) / (2 * rho)
            lam_t = lam_t + rho * (xr_t - z_new)
            lam_d = lam_d + rho * (xr_d - z_new)
            r3 = np.abs(x_t - x_d).reshape(-1, 3).max(axis=0) if len(z) else np.zeros(3)
            s3 = (rho * np.abs(z_new - z)).reshape(-1, 3).max(axis=0) if len(z) else np.zeros(3)
            r_pri, r_dual = float(r3.max()), float(s3.max())
            z_prev, z = z, z_new
            rho3 = rho.reshape(-1, 3).max(axis=0) if len(rho) else np.zeros(3)
            rows.append({"iteration": it, "primal_residual": r_pri, "dual_residual": r_dual,
                         "rho_v": rho3[0], "rho_p": rho3[1], "rho_q": rho3[2],
                         "objective": sum(r["objective"] for r in out.values()),
                         "time_s": time.perf_counter() - t0, "phase": "continuous" if not rounded else "discrete"})
            if r_pri < st.tol_primal and r_dual < st.tol_dual:
                if rounded:
                    converged = True
                    status = "converged"
                    break
                args = {"T": (z, lam_t, rho)}
                args.update({f: (z[sl[f]], lam_d[sl[f]], rho[sl[f]]) for f in feeders})
                executor.call("round_steps", args)
                rounded = True
                phase_limit = it + st.max_extra_iter
                continue
            if it >= phase_limit:
                status = "max_iter"
                messages.append(f"ADMM did not converge in {it} iterations: primal residual {r_pri:.2e}, "
                                f"dual residual {r_dual:.2e} (tolerances {st.tol_primal:.0e}, {st.tol_dual:.0e})")
                break
            if st.penalty == "residual":
                r_el = np.abs(x_t - x_d)
                s_el = rho * np.abs(z - z_prev)
                rho = np.where(r_el > st.mu * s_el, rho * st.tau, np.where(s_el > st.mu * r_el, rho / st.tau, rho))
            elif st.penalty == "spectral" and memory is not None:
                x_t0, x_d0, lh_t0, lh_d0 = memory
                with np.errstate(divide="ignore", invalid="ignore"):
                    h_t = -(lh_t - lh_t0) / (x_t - x_t0)
                    h_d = -(lh_d - lh_d0) / (x_d - x_d0)
                ok = np.isfinite(h_t) & np.isfinite(h_d) & (h_t > 0) & (h_d > 0)
                ok &= (np.abs(x_t - x_t0) > 1e-10) & (np.abs(x_d - x_d0) > 1e-10)
                cap = 1.0 + st.adapt_c / (1.0 + it / st.adapt_k0) ** 2
                rho = np.where(ok, np.clip(np.sqrt(np.abs(h_t * h_d)), rho / cap, rho * cap), rho)
            rho = np.clip(rho, st.rho_min, st.rho_max)
            memory = (x_t, x_d, lh_t, lh_d)
        finals = executor.call("final", {k: () for k in factories})
    finally:
        executor.close()
    t_solve = time.perf_counter() - t0
    history = pd.DataFrame(rows)
    if status == "subproblem_failed":
        res = StrategyResult("admm", False, status, iterations=it, time_s=t_solve, history=history, messages=messages)
        return res
    sols = [s for k in factories for s in finals[k]["solutions"]]
    rounding = {k: v["rounding"] for k, v in finals.items() if v["rounding"]}
    res = finish(cs, "admm", sols, status=status, converged=converged, time_s=t_solve, iterations=it,
                 weights=cfg.weights.as_dict(), report_optimizer_vm=True, floats_per_iteration=12 * len(feeders),
                 floats_total=12 * len(feeders) * it, solver_objective=sum(v["objective"] for v in finals.values()),
                 discrete=rounding, messages=messages, band=cfg.count_band)
    res.history = history
    res.soc_gap = {k: v["soc_gap"] for k, v in finals.items() if v["soc_gap"]}
    short = {k: x for v in finals.values() for k, x in v.get("shortfall", {}).items()}
    if short:
        res.extra["reserve_shortfall_mvar"] = float(sum(short.values()))
        res.messages.append(f"reserve requirements not met: shortfall {sum(short.values()):.2f} Mvar ({', '.join(short)})")
    res.extra["time_critical_path_s"] = critical
    res.extra["executor"] = getattr(executor, "name", type(executor).__name__)
    res.extra["rho_final"] = rho.tolist()
    res.extra["penalty"] = st.penalty
    if probe_rho is not None:
        res.extra["rho_probed"] = probe_rho.tolist()
    return res
