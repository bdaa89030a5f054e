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
  ADMM holds. A key whose agents still disagree (spread above the
  tolerance), whose disagreement has stopped shrinking (above 0.9 of what it
  was five iterations earlier) and whose consensus no longer moves (spread >
  mu x dual movement) gets its penalty multiplied by tau: without this safeguard, a key where one side is nearly
  indifferent (a transmission bus whose voltage a generator holds) can end
  up with a penalty so small that the iteration stalls;
- ``fixed``: rho0 throughout.

The spectral rule is the default because it needs fewer iterations on the
default case than residual balancing (``benchmarks/README.md`` gives the
counts). Only boundary values cross between subproblems:
per iteration and boundary, 3 numbers from each side to the coordinator and
3 back to each side (12 floats).

Capacitor steps are relaxed until ADMM converges; then every subproblem
fixes its steps by the discrete search of :mod:`tdcoord.coordination.discrete`
on its own augmented objective, and ADMM continues with the steps fixed
until it converges again.

A subproblem sees only its own network: a feeder subproblem gets its feeder
and a one-bus stub of the transmission side (the boundary bus's voltage
level and limits), the transmission subproblem no feeder data at all.

The feeder subproblems that share a worker are solved together, up to
``AdmmSettings.batch`` at a time, as one block-diagonal IPOPT problem
(:class:`tdcoord.backends.casadi_nlp.NlpBatch`; same optimum as solving
each alone, IPOPT's fixed cost per solve paid once; ``benchmarks/README.md``
measures what it saves). A failed joint solve is repeated member by member, so failures are still
reported per feeder. The critical path (``extra["time_critical_path_s"]``)
sums over the iterations the longest unit of work: a subproblem solved
alone, or a whole joint solve; it is the time with one worker per unit.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tdcoord.coordination.centralized import note_shortfall
from tdcoord.coordination.common import base_case, build_strategy_result, start_point
from tdcoord.coordination.discrete import solve_discrete
from tdcoord.backends.casadi_nlp import WARM_START, NlpBatch
from tdcoord.coordination.problem import AreaProblem
from tdcoord.errors import InputError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.problems.rpo import RpoConfig
from tdcoord.results.optimization import AdmmOutcome, StrategyResult
from tdcoord.results.subproblems import FinalReport, SolveReport

if TYPE_CHECKING:
    from tdcoord.execution.base import Executor


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
    batch: int = 50  # feeder subproblems of one worker solved together in one IPOPT problem; 1 = one by one

    @classmethod
    def for_studies(cls) -> "AdmmSettings":
        """Settings of the scenario study and the dispatch: 300 iterations per phase.

        Reserve requirements that a feeder cannot meet put an exact (linear)
        penalty on its reactive sources; the subproblem's response then has
        kinks and, once the capacitor steps are fixed, the areas agree only
        after the penalty has grown by one to two orders of magnitude (on the
        combined scenario of the default case: 42 iterations relaxed, 67 with
        the steps fixed).
        """
        return cls(max_iter=300, max_extra_iter=300)


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


AGGREGATE_PROBE_ABOVE = 4
STALL_WINDOW = 5  # iterations over which a key's disagreement must have stopped shrinking  # boundaries; beyond this the probe moves all boundaries at once


class AdmmSubproblem:
    """One area's augmented problem, kept alive between iterations."""

    def __init__(self, view: CoupledSystem, cfg: RpoConfig, area: str, starts: dict, discrete: str,
                 batch: int = 1) -> None:
        self.area = area
        self.discrete = discrete
        self.problem = AreaProblem(view, cfg, [area], coupling="admm", starts=starts, name="admm")
        self.n = len(self.problem.admm_keys)
        self.rounding: dict = {}
        self.batch = max(1, int(batch)) if area != "T" else 1

    @classmethod
    def call_batch(cls, method: str, subs: list["AdmmSubproblem"], args: list[tuple], cache: dict) -> list | None:
        """``solve`` and ``curvature`` for several subproblems of one worker at once.

        Feeder subproblems are solved together in joint IPOPT problems of up
        to ``batch`` members (see :class:`NlpBatch`), built on first use and
        kept in the worker's ``cache``; the transmission subproblem, and every
        subproblem when the batch size is 1, one by one. Returns ``None`` for
        the methods that are not batched.
        """
        if method == "solve":
            for sp, a in zip(subs, args):
                sp._set(*a)
            sols, times = cls._solve_together(subs, cache)
            out = [sp._report(sol) for sp, sol in zip(subs, sols)]
            for r, t in zip(out, times):
                r.wall_s = t  # its own solve, or the whole joint solve it was part of
            return out
        if method == "curvature":
            steps = [sp._curvature_steps(*a) for sp, a in zip(subs, args)]
            result: dict[int, np.ndarray] = {}
            live = []
            for k, g in enumerate(steps):
                try:
                    g.send(None)  # the first pin
                    live.append(k)
                except StopIteration as stop:
                    result[k] = stop.value
            while live:
                sols, _ = cls._solve_together([subs[k] for k in live], cache)
                nxt = []
                for k, sol in zip(live, sols):
                    try:
                        steps[k].send(sol)
                        nxt.append(k)
                    except StopIteration as stop:
                        result[k] = stop.value
                live = nxt
            return [result[k] for k in range(len(subs))]
        return None

    @staticmethod
    def _solve_together(subs: list["AdmmSubproblem"], cache: dict) -> tuple[list, list]:
        """Solve subproblems whose parameters are set: solutions, and each one's unit of work in seconds.

        The unit of work is a subproblem's own solve, or the whole joint solve
        it was part of (failed attempts included).

        A joint solve starts from every member's last solution with IPOPT's
        warm-start options (the points of consecutive ADMM iterations are
        close); if it fails, it is repeated from the same point without them,
        and if that fails too the members are solved one by one, so that a
        failure is reported by the feeder's name and its own solver status.
        """
        sols: list = [None] * len(subs)
        times: list = [0.0] * len(subs)
        groups: dict[int, list[int]] = {}
        for i, sp in enumerate(subs):
            groups.setdefault(sp.batch, []).append(i)
        for size, members in groups.items():
            for k in range(0, len(members), size):
                chunk = members[k:k + size]
                joint = None
                t0 = time.perf_counter()
                if len(chunk) > 1:
                    builders = [subs[i].problem.b for i in chunk]
                    warms = [subs[i].problem.last for i in chunk]
                    key = tuple(subs[i].area for i in chunk)
                    modes = [("warm", WARM_START)] if all(w is not None for w in warms) else []
                    for mode, options in modes + [("cold", None)]:
                        batch = cache.get(key + (mode,))
                        if batch is None or not batch.current(builders):
                            batch = cache[key + (mode,)] = NlpBatch(builders, name="admm_batch", options=options)
                        joint, _ = batch.solve(warms)
                        if joint is not None:
                            break
                for j, i in enumerate(chunk):
                    if joint is None:
                        t1 = time.perf_counter()
                        sols[i] = subs[i].problem.solve()
                        times[i] = time.perf_counter() - t1
                    else:
                        sols[i] = subs[i].problem.keep_warm_start(joint[j])
                if joint is not None:
                    for i in chunk:
                        times[i] = time.perf_counter() - t0
        return sols, times

    def _set(self, z: np.ndarray, lam: np.ndarray, rho: float) -> None:
        b = self.problem.b
        b.set_parameter("admm.z", z)
        b.set_parameter("admm.lam", lam)
        b.set_parameter("admm.rho", rho)

    def _report(self, sol: Any) -> SolveReport:
        return SolveReport(x=self.problem.admm_vector(sol), ok=sol.ok, status=sol.solver_status,
                           iterations=sol.iterations, solve_s=sol.time_s, objective=self.problem.weighted_terms(sol))

    def solve(self, z: np.ndarray, lam: np.ndarray, rho: float) -> SolveReport:
        self._set(z, lam, rho)
        return self._report(self.problem.solve())

    def round_steps(self, z: np.ndarray, lam: np.ndarray, rho: float) -> SolveReport:
        self._set(z, lam, rho)
        sol, info = solve_discrete(self.problem, self.discrete)
        self.rounding = info
        out = self._report(sol)
        out.info = info
        return out

    def curvature(self, z0: np.ndarray, delta: float) -> np.ndarray:
        """Curvature of this side's objective along each boundary quantity at z0 (NaN where unknown).

        The boundary is pinned by a stiff penalty (1e4) and the pinned
        objective, penalty included, is differenced. Where the side cannot
        follow the pin (a passive feeder's P and Q are functions of its
        voltage), the estimate is the pin's own stiffness: that side is
        rigid along that quantity, which calls for a large rho.
        """
        return self.call_batch("curvature", [self], [(z0, delta)], {})[0]

    def _curvature_steps(self, z0: np.ndarray, delta: float):
        """:meth:`curvature` as a sequence of pinned solves: yields after setting each pin, gets its solution."""
        pin = np.full(self.n, 1e4)
        lam = np.zeros(self.n)

        def value(z: np.ndarray):
            self._set(z, lam, pin)
            sol = yield
            return float(sol.objective) if sol.ok else np.nan

        # probe around the point this side actually reaches when pinned to z0: a start
        # that does not match its own data (loads moved since z0 was computed) would
        # otherwise make every difference measure the pin
        self._set(z0, lam, pin)
        sol = yield
        if sol.ok:
            z0 = self.problem.admm_vector(sol)
        f0 = yield from value(z0)
        h = np.full(self.n, np.nan)
        kinds = np.array([k[0] for k in self.problem.admm_keys])
        if self.n <= 3 * AGGREGATE_PROBE_ABOVE:
            for i in range(self.n):
                e = np.zeros(self.n)
                e[i] = delta
                h[i] = ((yield from value(z0 + e)) - 2 * f0 + (yield from value(z0 - e))) / delta**2
        else:
            # many boundaries: move one quantity at every boundary together (6 solves in all);
            # for weakly coupled boundaries the second difference is the sum of their curvatures
            for q in ("V", "P", "Q"):
                m = kinds == q
                e = np.where(m, delta, 0.0)
                h[m] = ((yield from value(z0 + e)) - 2 * f0 + (yield from value(z0 - e))) / delta**2 / max(1, int(m.sum()))
        self._set(z0, lam, pin)
        yield  # leave the warm start at z0
        return h

    def has_steps(self) -> bool:
        return bool(self.problem.shunt_blocks())

    def keys(self) -> list[tuple[str, str]]:
        return list(self.problem.admm_keys)

    def final(self) -> FinalReport:
        from tdcoord.problems.reserve import shortfalls

        sol = self.problem.last
        return FinalReport(solutions=self.problem.solutions(sol), objective=self.problem.weighted_terms(sol),
                           rounding=self.rounding, soc_gap=self._soc_gap(sol), shortfall=shortfalls(self.problem.b, sol))

    def _soc_gap(self, sol: Any) -> dict:
        from tdcoord.problems.solutions import soc_gap_of

        return soc_gap_of(self.problem.areas[0], sol)


def make_subproblem(view: CoupledSystem, cfg: RpoConfig, area: str, starts: dict, discrete: str,
                    batch: int = 1) -> AdmmSubproblem:
    return AdmmSubproblem(view, cfg, area, starts, discrete, batch)


@dataclass
class Consensus:
    """The consensus variables: one per boundary quantity (key), and which element of each agent maps to it."""

    agents: list[str]
    keys: list[tuple[str, str]]  # ("V" | "P" | "Q", bus or feeder)
    idx: dict[str, np.ndarray]  # agent -> key position of each of its elements
    kind: np.ndarray  # per key: "V", "P" or "Q"
    n_feeders: np.ndarray  # per key: feeder elements that share it

    @classmethod
    def of(cls, agent_keys: dict[str, list]) -> "Consensus":
        keys: list = []
        where: dict = {}
        for a, ks in agent_keys.items():
            for k in ks:
                if k not in where:
                    where[k] = len(keys)
                    keys.append(k)
        idx = {a: np.array([where[k] for k in ks], dtype=int) for a, ks in agent_keys.items()}
        n_d = np.zeros(len(keys))
        for a in agent_keys:
            if a != "T":
                np.add.at(n_d, idx[a], 1.0)
        return cls(list(agent_keys), keys, idx, np.array([k[0] for k in keys]), n_d)

    @property
    def n(self) -> int:
        return len(self.keys)

    def start(self, base_pf: Any) -> np.ndarray:
        """z at the base case's power flow (V in %, P in MW, Q in Mvar)."""
        z = np.zeros(self.n)
        for k, (q, name) in enumerate(self.keys):
            if q == "V":
                z[k] = 100.0 * base_pf.transmission.res_bus.at[name, "vm_pu"]
            else:
                z[k] = base_pf.res_boundary.at[name, "p_mw" if q == "P" else "q_mvar"]
        return z

    def penalty(self, h: dict[str, np.ndarray], current: dict[str, np.ndarray], cap: float | None,
                st: AdmmSettings) -> dict[str, np.ndarray]:
        """rho per key from the transmission side's and the feeders' curvatures (spectral rule).

        Per key, H_T is the transmission side's curvature and H_D the sum
        over the feeders sharing it; rho_key = sqrt(H_T H_D) goes to the
        transmission element and rho_key / n to each of the n feeder
        elements, so that the group weighs as much as the transmission side.
        """
        h_t = np.full(self.n, np.nan)
        h_t[self.idx["T"]] = h["T"]
        h_d = np.zeros(self.n)
        bad = np.zeros(self.n, bool)
        for a in self.agents:
            if a == "T":
                continue
            v = h[a]
            np.add.at(h_d, self.idx[a], np.where(np.isfinite(v), v, 0.0))
            np.logical_or.at(bad, self.idx[a], ~np.isfinite(v) | (v <= 0))
        ok = np.isfinite(h_t) & (h_t > 0) & (h_d > 0) & ~bad
        rk = np.sqrt(np.abs(h_t * h_d))
        out = {}
        for a in self.agents:
            target = rk[self.idx[a]] / (1.0 if a == "T" else np.maximum(self.n_feeders[self.idx[a]], 1.0))
            new = np.where(ok[self.idx[a]], target, current[a])
            if cap is not None:
                new = np.clip(new, current[a] / cap, current[a] * cap)
            out[a] = np.clip(new, st.rho_min, st.rho_max)
        return out

    def largest_disagreement(self, spread: np.ndarray | None, x: dict[str, np.ndarray], top: int = 5) -> list[dict]:
        if spread is None or not self.n:
            return []
        return [{"key": list(self.keys[k]), "spread": float(spread[k]),
                 "values": {a: float(x[a][list(self.idx[a]).index(k)]) for a in self.agents if k in self.idx[a]}}
                for k in np.argsort(-spread)[:top]]


@dataclass
class _Iterate:
    """The state of the iterations: consensus, multipliers, penalties, and what has been recorded."""

    z: np.ndarray
    lam: dict[str, np.ndarray]
    rho: dict[str, np.ndarray]
    it: int = 0
    critical_s: float = 0.0
    rows: list[dict] = dataclass_field(default_factory=list)
    spreads: list[np.ndarray] = dataclass_field(default_factory=list)
    spread: np.ndarray | None = None  # set by the first iteration whose subproblems all solve
    x: dict[str, np.ndarray] = dataclass_field(default_factory=dict)
    memory: tuple | None = None  # the previous iteration's x and implied multipliers (spectral rule)
    lh: dict[str, np.ndarray] = dataclass_field(default_factory=dict)  # this iteration's implied multipliers
    move: np.ndarray | None = None  # this iteration's consensus movement, rho |z - z_prev|
    z_prev: np.ndarray | None = None
    rounded: bool = False
    converged: bool = False
    status: str = "max_iter"
    messages: list[str] = dataclass_field(default_factory=list)


def _check_settings(st: AdmmSettings) -> None:
    if st.penalty not in ("spectral", "residual", "fixed"):
        raise InputError(f"ADMM penalty rule {st.penalty!r}: expected 'spectral', 'residual' or 'fixed'")
    if not 1.0 <= st.relax <= 1.8:
        raise InputError(f"ADMM over-relaxation {st.relax}: expected a value in [1, 1.8]")
    if int(st.batch) != st.batch or st.batch < 1:
        raise InputError(f"ADMM batch size {st.batch}: expected a whole number of feeders, 1 or more")


def _factories(cs: CoupledSystem, cfg: RpoConfig, starts: dict, st: AdmmSettings) -> dict:
    """One subproblem factory per area, each with its private view of the system (picklable)."""
    out = {"T": functools.partial(make_subproblem, private_view(cs, "T"), cfg, "T", {"T": starts["T"]}, st.discrete)}
    for f in cs.boundary.index[cs.boundary.in_service]:
        out[f] = functools.partial(make_subproblem, private_view(cs, f), cfg, f, {f: starts[f]}, st.discrete, st.batch)
    return out


def _probe(executor: "Executor", con: Consensus, s: _Iterate, st: AdmmSettings) -> dict[str, np.ndarray] | None:
    """The penalties from the subproblems' probed curvatures (spectral and residual rules); None if not probed."""
    if st.penalty not in ("spectral", "residual") or not st.probe or not con.n:
        return None
    hs = executor.call("curvature", {a: (s.z[con.idx[a]], st.probe_delta) for a in con.agents})
    rho = con.penalty(hs, s.rho, None, st)
    lo, hi = max(st.rho_min, st.rho0 * st.probe_low), min(st.rho_max, st.rho0 * st.probe_high)
    # an active bound makes the pinned value function kink and the probe overshoot
    s.rho = {a: np.clip(r, lo, hi) for a, r in rho.items()}
    return {a: r.copy() for a, r in s.rho.items()}


def _step(executor: "Executor", con: Consensus, s: _Iterate, st: AdmmSettings, t0: float) -> bool:
    """One iteration: every subproblem solves, then z and the multipliers are updated and the residuals
    recorded. False when a subproblem failed (``s.status`` and ``s.messages`` say which)."""
    s.it += 1
    idx, agents = con.idx, con.agents
    out: dict[str, SolveReport] = executor.call("solve", {a: (s.z[idx[a]], s.lam[a], s.rho[a]) for a in agents})
    bad = [k for k, r in out.items() if not r.ok]
    if bad:
        s.status = "subproblem_failed"
        s.messages.extend(f"subproblem {k!r} failed at iteration {s.it}: IPOPT {out[k].status}" for k in bad)
        return False
    s.critical_s += max(r.work_s for r in out.values())
    x = {a: out[a].x for a in agents}
    lh = {a: s.lam[a] + s.rho[a] * (x[a] - s.z[idx[a]]) for a in agents}  # each side's gradient is -lh
    xr = {a: st.relax * x[a] + (1 - st.relax) * s.z[idx[a]] for a in agents}  # over-relaxation (Boyd 3.4.3)
    num = np.zeros(con.n)
    den = np.zeros(con.n)
    for a in agents:
        np.add.at(num, idx[a], s.rho[a] * xr[a] + s.lam[a])
        np.add.at(den, idx[a], s.rho[a])
    z_new = num / np.where(den > 0, den, 1.0)
    for a in agents:
        s.lam[a] = s.lam[a] + s.rho[a] * (xr[a] - z_new[idx[a]])
    hi_x = np.full(con.n, -np.inf)
    lo_x = np.full(con.n, np.inf)
    for a in agents:
        np.maximum.at(hi_x, idx[a], x[a])
        np.minimum.at(lo_x, idx[a], x[a])
    spread = hi_x - lo_x  # largest disagreement on each consensus quantity
    move = np.zeros(con.n)
    for a in agents:
        np.maximum.at(move, idx[a], s.rho[a] * np.abs(z_new[idx[a]] - s.z[idx[a]]))
    r_pri = float(spread.max()) if con.n else 0.0
    r_dual = float(move.max()) if con.n else 0.0
    z_prev, s.z = s.z, z_new
    rmax = {q: max((float(s.rho[a][con.kind[idx[a]] == q].max()) for a in agents if (con.kind[idx[a]] == q).any()),
                   default=0.0) for q in ("V", "P", "Q")}
    per = {f"{name}_{q.lower()}": float(vals[con.kind == q].max()) if (con.kind == q).any() else 0.0
           for name, vals in (("primal", spread), ("dual", move)) for q in ("V", "P", "Q")}
    s.rows.append({"iteration": s.it, "primal_residual": r_pri, "dual_residual": r_dual, **per,
                   "rho_v": rmax["V"], "rho_p": rmax["P"], "rho_q": rmax["Q"],
                   "objective": sum(r.objective for r in out.values()),
                   "time_s": time.perf_counter() - t0, "phase": "continuous" if not s.rounded else "discrete"})
    s.x, s.spread = x, spread
    s.lh, s.move, s.z_prev = lh, move, z_prev  # for the penalty update of this iteration
    return True


def _adapt(con: Consensus, s: _Iterate, st: AdmmSettings) -> None:
    """The penalties for the next iteration (residual balancing or the spectral rule with its safeguard)."""
    idx, spread, move = con.idx, s.spread, s.move
    if st.penalty == "residual":
        # Boyd et al.'s balancing, with a factor that decays as the spectral rule's does, so that the
        # adaptivity is bounded (the excess over 1 summable) and ADMM's convergence guarantee holds
        tau = 1.0 + (st.tau - 1.0) / (1.0 + s.it / st.adapt_k0) ** 2
        for a in con.agents:
            r_el = spread[idx[a]]
            s_el = s.rho[a] * np.abs(s.z[idx[a]] - s.z_prev[idx[a]])
            s.rho[a] = np.clip(np.where(r_el > st.mu * s_el, s.rho[a] * tau,
                                        np.where(s_el > st.mu * r_el, s.rho[a] / tau, s.rho[a])), st.rho_min, st.rho_max)
    elif st.penalty == "spectral" and s.memory is not None:
        x0, lh0 = s.memory
        h = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for a in con.agents:
                dx = s.x[a] - x0[a]
                h[a] = np.where(np.abs(dx) > 1e-10, -(s.lh[a] - lh0[a]) / dx, np.nan)
        s.rho = con.penalty(h, s.rho, 1.0 + st.adapt_c / (1.0 + s.it / st.adapt_k0) ** 2, st)
        # safeguard against stalls: a key whose agents still disagree while its
        # consensus no longer moves gets a stiffer penalty (residual balancing)
        stalled = (spread > st.tol_primal) & (spread > st.mu * np.maximum(move, 1e-12))
        if len(s.spreads) >= STALL_WINDOW:
            stalled &= spread > 0.9 * s.spreads[-STALL_WINDOW]  # not shrinking any more
        else:
            stalled[:] = False
        if stalled.any():
            for a in con.agents:
                s.rho[a] = np.where(stalled[idx[a]], np.minimum(s.rho[a] * st.tau, st.rho_max), s.rho[a])
    s.memory = (s.x, s.lh)
    s.spreads.append(spread)


def _iterate(executor: "Executor", con: Consensus, s: _Iterate, st: AdmmSettings, t0: float) -> None:
    """Iterate until both residuals are below the tolerances with the capacitor steps fixed, or the limit."""
    phase_limit = st.max_iter
    while _step(executor, con, s, st, t0):
        r_pri, r_dual = s.rows[-1]["primal_residual"], s.rows[-1]["dual_residual"]
        if r_pri < st.tol_primal and r_dual < st.tol_dual:
            if s.rounded:
                s.converged, s.status = True, "converged"
                return
            executor.call("round_steps", {a: (s.z[con.idx[a]], s.lam[a], s.rho[a]) for a in con.agents})
            s.rounded = True
            phase_limit = s.it + st.max_extra_iter
            continue
        if s.it >= phase_limit:
            s.status = "max_iter"
            s.messages.append(f"ADMM did not converge in {s.it} iterations: primal residual {r_pri:.2e}, "
                              f"dual residual {r_dual:.2e} (tolerances {st.tol_primal:.0e}, {st.tol_dual:.0e}); "
                              f"allow more iterations (--max-iter {2 * st.max_iter}) or a looser tolerance "
                              f"(--tol {10 * st.tol_primal:.0e})" + ("" if st.penalty == "spectral" else
                                                                    ", or the spectral penalty rule"))
            return
        _adapt(con, s, st)


def solve_admm(cs: CoupledSystem, cfg: RpoConfig, *, executor: "Executor", base_pf=None, starts=None,
               settings: AdmmSettings | None = None) -> StrategyResult:
    """ADMM over the areas of ``cs``, the subproblems run by ``executor`` (``tdcoord.execution.make_executor``).

    Coordination receives an executor and never makes one: where the
    subproblems run is the caller's choice (``serial`` in one process,
    ``process`` pools, ``ray`` clusters). The steps: the subproblems are
    built where they run (``build``), the penalties probed (``probe``), the
    iterations run (``iterations``), and each subproblem's last solution
    re-checked as one operating point (``finish``); ``admm.time_phases_s``
    says how long each took.
    """
    if executor is None:
        raise TypeError("solve_admm needs an executor, e.g. tdcoord.execution.make_executor('serial')")
    st = settings or AdmmSettings()
    _check_settings(st)
    t0 = time.perf_counter()
    base_pf = base_pf or base_case(cs)
    starts = starts or start_point(cs, base_pf)
    factories = _factories(cs, cfg, starts, st)
    phases: dict[str, float] = {}
    t_phase = time.perf_counter()
    events_before = len(getattr(executor, "events", None) or [])
    restarts_before = int(getattr(executor, "restarts", 0) or 0)
    executor.open(factories)
    try:
        agent_keys = executor.call("keys", {a: () for a in factories})
        con = Consensus.of(agent_keys)
        phases["build"] = time.perf_counter() - t_phase
        t_phase = time.perf_counter()
        s = _Iterate(z=con.start(base_pf), lam={a: np.zeros(len(con.idx[a])) for a in con.agents},
                     rho={a: np.full(len(con.idx[a]), st.rho0) for a in con.agents})
        s.rounded = not any(executor.call("has_steps", {a: () for a in con.agents}).values())
        probe_rho = _probe(executor, con, s, st)
        if probe_rho is not None:
            phases["probe"] = time.perf_counter() - t_phase
            t_phase = time.perf_counter()
        _iterate(executor, con, s, st, t0)
        phases["iterations"] = time.perf_counter() - t_phase
        t_phase = time.perf_counter()
        finals: dict[str, FinalReport] = executor.call("final", {k: () for k in factories})
    finally:
        executor.close()
    t_solve = time.perf_counter() - t0
    history = pd.DataFrame(s.rows)
    if s.status == "subproblem_failed":
        return StrategyResult("admm", False, s.status, iterations=s.it, time_s=t_solve, history=history,
                              messages=s.messages)
    n_floats = 2 * sum(len(v) for v in agent_keys.values())  # each agent element: x out, z back
    res = build_strategy_result(
        cs, "admm", [sol for k in factories for sol in finals[k].solutions], status=s.status, converged=s.converged,
        time_s=t_solve, iterations=s.it, weights=cfg.weights, report_optimizer_vm=True,
        floats_per_iteration=n_floats, floats_total=n_floats * s.it,
        solver_objective=sum(v.objective for v in finals.values()),
        discrete={k: v.rounding for k, v in finals.items() if v.rounding}, messages=s.messages, band=cfg.count_band)
    res.history = history
    res.soc_gap = {k: v.soc_gap for k, v in finals.items() if v.soc_gap}
    note_shortfall(res, {k: x for v in finals.values() for k, x in v.shortfall.items()})
    phases["finish"] = time.perf_counter() - t_phase
    res.messages.extend(list(getattr(executor, "events", None) or [])[events_before:])  # workers died and restarted
    res.admm = AdmmOutcome(executor=getattr(executor, "name", type(executor).__name__), penalty=st.penalty,
                           tol_primal=st.tol_primal, tol_dual=st.tol_dual,
                           worker_restarts=int(getattr(executor, "restarts", 0) or 0) - restarts_before,
                           time_critical_path_s=s.critical_s, time_phases_s=phases,
                           rho_final={a: r.tolist() for a, r in s.rho.items()},
                           largest_disagreement=con.largest_disagreement(s.spread, s.x),
                           rho_probed=probe_rho or {})
    return res
