"""Particle swarm optimization of the slow volt/var step (seed 004, the paper's method).

:func:`solve_slow_pso` searches the slow step's controls with pymoo's PSO
(fixed inertia ``w`` and acceleration factors ``c1``, ``c2``: ``adaptive=False``).
A particle holds, for every horizon period, each OLTC's tap position, each
controllable bank's step (both continuous in the swarm and rounded to the
nearest integer when the particle is evaluated: the paper encodes discrete
positions), and each UPFC's shunt reactive output and series voltage
(real and imaginary part), continuous within their block bounds.

Decoding a particle (the swarm's own coordinates are left as they are):

- taps and steps are rounded and clipped to their limits, then made to
  respect the per-period move limits (``max_tap_change``,
  ``max_step_change``, the first period against the position in force) and a
  bank's ``max_switchings`` over the horizon, period by period (a move that
  goes too far is cut back to the limit): every decoded particle meets the
  model's integer constraints;
- the UPFC's series voltage is scaled back onto the disk ``|V_se| <=
  vse_max`` where it lies outside (the box of the real and imaginary part is
  larger than the disk).

Fitness. The particle's value is the objective of the very model the exact
method solves (:func:`tdcoord.problems.volt_var.build_volt_var`, the same
``m``): every control (taps, steps, UPFC set-points) is fixed by its bounds
and IPOPT solves what is left (the power flow, with the machines' reactive
outputs, the HVDC terminals, the soft-band slacks and the auxiliary
variables of the move and |Q| costs), warm-started from the last solution
it found. The weighted objective of that solution is the particle's
fitness, so the PSO's and the exact method's values are comparable. A
particle whose power flow is infeasible (a machine beyond its reactive
limits, a UPFC beyond its rating, DC link or Eq. (12) limit) gets the
penalty :data:`PENALTY` as its objective and, as pymoo's constraint, the
total violation IPOPT ends at (restoration minimizes it), so that the swarm
prefers feasible particles, and among infeasible ones the less infeasible
(pymoo's feasibility-first comparison of personal and global bests).

Identical decoded particles are solved once (a cache). The swarm starts
from pymoo's Latin-hypercube sampling with random velocities; pymoo's PSO
also perturbs the best particle's personal best by polynomial mutation each
generation (its ``pertube_best``, kept).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tdcoord.problems.volt_var import STEP_BLOCK, TAP_BLOCK

#: the objective of a particle whose fixed controls leave no feasible power flow
PENALTY = 1e12
#: the violation counted for a solve that returned no point at all
FAILED_VIOLATION = 1e3
#: the model's parameters of the per-period move limits (finite rows x periods), by block
MOVE_LIMIT_PARAMS = {TAP_BLOCK: "vv.trafo_tap_change.limit", STEP_BLOCK: "vv.shunt_step_change.limit"}


def _device_extra(m: Any, kind: str, key: str) -> dict[str, np.ndarray] | None:
    """The ``extra`` data of the model's device set of ``kind`` that put ``key`` into the model (one set)."""
    found = [d.ds.extra for d in m.devices if getattr(d.ds, "kind", None) == kind and key in d.other]
    return found[0] if len(found) == 1 else None


class _Fitness:
    """Decoding of particles and their evaluation on the model (bounds fixed, IPOPT)."""

    def __init__(self, m: Any, upfc_blocks: tuple[str, ...]) -> None:
        self.m = m
        b = m.b
        T = m.periods
        self.T = T
        # (block name, rows, integer?) in the order of the decision vector, each block row-major (rows x T)
        self.layout: list[tuple[str, int, bool]] = []
        for name, integer in ((TAP_BLOCK, True), (STEP_BLOCK, True)) + tuple((n, False) for n in upfc_blocks):
            if name in b.blocks and b.blocks[name].lb.size:
                self.layout.append((name, b.blocks[name].lb.shape[0], integer))
        self.saved = {name: (b.blocks[name].lb.copy(), b.blocks[name].ub.copy()) for name, _, _ in self.layout}
        bounds0 = m.info.get("bounds0", {})
        self.limits = {name: bounds0.get(name, self.saved[name]) if integer else self.saved[name]
                       for name, _, integer in self.layout}
        xl, xu = [], []
        for name, _, integer in self.layout:
            lo, hi = self.limits[name]
            pad = 0.5 - 1e-9 if integer else 0.0  # each position gets the same share of the interval
            xl.append((lo - pad).ravel())
            xu.append((hi + pad).ravel())
        self.xl = np.concatenate(xl) if xl else np.zeros(0)
        self.xu = np.concatenate(xu) if xu else np.zeros(0)
        self.moves = {TAP_BLOCK: self._move_limits("oltc", "tap_pos", "n0", "max_change", None, TAP_BLOCK),
                      STEP_BLOCK: self._move_limits("capacitor", "step", "step0", "max_step_change", "max_switchings",
                                                    STEP_BLOCK)}
        ext = _device_extra(m, "upfc", "vse_re")
        self.vse_max = None
        if len(upfc_blocks) == 3 and upfc_blocks[1] in self.saved:
            self.vse_max = (np.asarray(ext["vse_max"], float) if ext is not None
                            else self.saved[upfc_blocks[1]][1][:, 0]).reshape(-1, 1)
        self.upfc_blocks = upfc_blocks
        self.cache: dict[bytes, tuple[float, float]] = {}
        self.evaluations = 0
        self.solves = 0
        self.feasible = 0
        self.last_ok = None  # the last solution found: the warm start of the next solve
        self.best = (np.inf, None, None)  # objective, decoded controls, solution

    def _move_limits(self, kind: str, key: str, initial: str, change: str, switchings: str | None,
                     block: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(initial positions, per-period move limits (rows x T), switchings over the horizon)`` of a block's
        devices; the initial positions and the limits from the model's parameters where it has them (a model
        re-used for another horizon has them updated), else from the device data it was built from."""
        if block not in self.saved:
            return None
        ext = _device_extra(self.m, kind, key)
        rows = self.saved[block][0].shape[0]
        if ext is None or len(np.atleast_1d(ext[initial])) != rows:
            return None
        params = self.m.b.params
        n0 = np.asarray(ext[initial], float).ravel()
        name0 = f"{block}0"
        if name0 in params and np.size(params[name0][1]) == rows:
            n0 = np.asarray(params[name0][1], float).ravel()
        base = np.asarray(ext[change], float) if change in ext else np.full(rows, np.inf)
        lim = np.repeat(np.where(np.isfinite(base), base, np.inf).reshape(-1, 1), self.T, axis=1)
        finite = np.flatnonzero(np.isfinite(base))
        pname = MOVE_LIMIT_PARAMS[block]
        if pname in params and np.shape(params[pname][1]) == (len(finite), self.T):
            lim[finite, :] = np.asarray(params[pname][1], float)
        sw = np.asarray(ext[switchings], float) if switchings and switchings in ext else np.full(rows, np.inf)
        return n0, lim, np.where(np.isfinite(sw), sw, np.inf)

    # ------------------------------------------------------------------ decoding
    def decode(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The controls (block name -> rows x T) a particle stands for (module docstring)."""
        out: dict[str, np.ndarray] = {}
        k = 0
        for name, rows, integer in self.layout:
            v = np.asarray(x[k:k + rows * self.T], float).reshape(rows, self.T).copy()
            k += rows * self.T
            lo, hi = self.limits[name]
            if integer:
                v = np.clip(np.rint(v), lo, hi)
                if self.moves.get(name) is not None:
                    v = self._repair_moves(v, lo, hi, *self.moves[name])
                v = v + 0.0  # no -0.0 (the cache compares bytes)
            else:
                v = np.clip(v, lo, hi)
            out[name] = v
        if self.vse_max is not None:
            e, f = out[self.upfc_blocks[1]], out[self.upfc_blocks[2]]
            r = np.hypot(e, f)
            scale = np.where(r > self.vse_max, self.vse_max * (1.0 - 1e-12) / np.maximum(r, 1e-300), 1.0)
            out[self.upfc_blocks[1]], out[self.upfc_blocks[2]] = e * scale, f * scale
        return out

    @staticmethod
    def _repair_moves(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, initial: np.ndarray, lim: np.ndarray,
                      switchings: np.ndarray) -> np.ndarray:
        """Cut every move back to the per-period limit and to the switchings left, period by period."""
        prev = np.clip(initial, lo[:, 0], hi[:, 0])
        budget = switchings.copy()
        for t in range(v.shape[1]):
            allowed = np.minimum(lim[:, t], budget)
            low = np.maximum(np.ceil(prev - allowed - 1e-9), lo[:, t])
            high = np.minimum(np.floor(prev + allowed + 1e-9), hi[:, t])
            col = np.where(low <= high, np.clip(v[:, t], low, high), prev)
            budget = budget - np.abs(col - prev)
            v[:, t] = col
            prev = col
        return v

    # ----------------------------------------------------------------- evaluation
    def fix(self, controls: dict[str, np.ndarray]) -> None:
        for name, v in controls.items():
            self.m.b.set_bounds(name, v, v)

    def restore(self) -> None:
        for name, (lo, hi) in self.saved.items():
            self.m.b.set_bounds(name, lo, hi)

    def solve(self, controls: dict[str, np.ndarray], warm: Any = None) -> Any:
        self.fix(controls)
        sol = self.m.b.solve(warm=warm if warm is not None else self.last_ok)
        self.solves += 1
        if sol.ok:
            self.last_ok = sol
        return sol

    def violation(self, sol: Any) -> float:
        """Total (L1) violation of the constraints and bounds at a solve's end point."""
        b = self.m.b
        if not sol.g:
            return FAILED_VIOLATION
        total = 0.0
        for name, _, lb, ub in b.cons:
            v = sol.g[name]
            total += float(np.sum(np.maximum(0.0, np.maximum(lb - v, v - ub))))
        x = sol.x_raw
        total += float(np.sum(np.maximum(0.0, np.maximum(b._vec("lb") - x, x - b._vec("ub")))))
        return total if np.isfinite(total) else FAILED_VIOLATION

    def __call__(self, x: np.ndarray) -> tuple[float, float]:
        """``(objective, violation)`` of one particle (the penalty and > 0 where infeasible)."""
        self.evaluations += 1
        controls = self.decode(x)
        key = np.concatenate([controls[name].ravel() for name, _, _ in self.layout]).tobytes()
        if key in self.cache:
            return self.cache[key]
        sol = self.solve(controls)
        if sol.ok and np.isfinite(sol.objective):
            value = (float(sol.objective), 0.0)
            self.feasible += 1
            if value[0] < self.best[0]:
                self.best = (value[0], controls, sol)
        else:
            value = (PENALTY, max(self.violation(sol), 1e-9))
        self.cache[key] = value
        return value


def solve_slow_pso(m: Any, *, t0: float | None = None, seed: int = 0, population: int = 50, generations: int = 40,
                   w: float = 0.7298, c1: float = 1.5, c2: float = 1.5) -> Any:
    """The slow step on the built model ``m`` by particle swarm optimization (module docstring).

    ``population`` particles, ``generations`` generations (the first one the
    initial swarm), pymoo's random state seeded with ``seed``. Returns a
    :class:`tdcoord.coordination.volt_var.SlowOutcome`: the best particle's
    schedule and objective (the model's weighted objective at its controls,
    solved once more from its own solution), ``solves`` the IPOPT solves,
    ``info["history"]`` the best objective after each generation (``inf``
    while no particle was feasible), ``info["evaluations"]`` the fitness
    evaluations (cache hits included). The model's bounds are restored.
    """
    from pymoo.algorithms.soo.nonconvex.pso import PSO
    from pymoo.core.callback import Callback
    from pymoo.core.problem import Problem
    from pymoo.optimize import minimize

    from tdcoord.coordination.volt_var import UPFC_BLOCKS, SlowOutcome, _schedule

    t0 = time.perf_counter() if t0 is None else t0
    method = f"PSO (pymoo), population {population}, {generations} generations, seed {seed}"
    fit = _Fitness(m, UPFC_BLOCKS)
    if not fit.layout:
        raise ValueError("solve_slow_pso: the model has no taps, banks or UPFCs to optimize")

    class SlowProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=len(fit.xl), n_obj=1, n_ieq_constr=1, xl=fit.xl, xu=fit.xu)

        def _evaluate(self, X: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
            vals = np.array([fit(x) for x in np.atleast_2d(X)], float)
            out["F"] = vals[:, :1]
            out["G"] = vals[:, 1:]

    history: list[float] = []

    class Record(Callback):
        def notify(self, algorithm: Any) -> None:
            history.append(float(fit.best[0]))

    algorithm = PSO(pop_size=int(population), w=w, c1=c1, c2=c2, adaptive=False)
    try:
        minimize(SlowProblem(), algorithm, ("n_gen", int(generations)), seed=int(seed), verbose=False,
                 callback=Record())
        best, controls, best_sol = fit.best
        sol = None
        if controls is not None:
            sol = fit.solve(controls, warm=best_sol)
            if not sol.ok or not np.isfinite(sol.objective):
                sol = best_sol
    finally:
        fit.restore()
    info: dict[str, Any] = {"history": history, "evaluations": fit.evaluations, "feasible": fit.feasible,
                            "population": int(population), "generations": int(generations), "seed": int(seed),
                            "w": w, "c1": c1, "c2": c2}
    if sol is None:
        return SlowOutcome([], float("nan"), {}, time.perf_counter() - t0, method, False,
                           "PSO: no feasible particle", solves=fit.solves, info=info)
    return SlowOutcome(_schedule(m, sol), float(sol.objective), dict(sol.terms), time.perf_counter() - t0, method,
                       True, f"IPOPT: {sol.solver_status}", solves=fit.solves, info=info)


class PsoRun:
    """One seed's PSO run of a slow step, as a subproblem an executor can hold (:mod:`tdcoord.execution`)."""

    def __init__(self, net: Any, weights: Any, seed: int, population: int, generations: int) -> None:
        self.net, self.weights, self.seed = net, weights, int(seed)
        self.population, self.generations = int(population), int(generations)

    def run(self) -> dict[str, Any]:
        from tdcoord.problems.volt_var import build_volt_var

        t0 = time.perf_counter()
        m = build_volt_var(self.net, objective="slow", dt_h=1.0, weights=self.weights)
        out = solve_slow_pso(m, t0=t0, seed=self.seed, population=self.population, generations=self.generations)
        return {"objective": float(out.objective) if out.ok else float("nan"), "time_s": float(out.time_s),
                "ok": bool(out.ok), "evaluations": int(out.solves)}


def pso_spread(net: Any, weights: Any, *, seeds: int = 20, population: int = 50, generations: int = 40,
               executor: Any = None) -> dict:
    """:func:`solve_slow_pso` on ``net``'s slow step for seeds ``0 .. seeds - 1`` (the model built anew for each):
    the objectives, their min, median, max and standard deviation, and the total, mean and wall time (build
    included). An infeasible run counts as ``nan`` (ignored by the statistics). With an ``executor``
    (:func:`tdcoord.execution.make_executor`) the seeds run in its workers; it is closed afterwards."""
    from functools import partial

    t_wall = time.perf_counter()
    names = [f"seed_{k:03d}" for k in range(int(seeds))]
    factories = {n: partial(PsoRun, net, weights, k, population, generations) for k, n in enumerate(names)}
    if executor is None:
        runs = {n: f().run() for n, f in factories.items()}
    else:
        executor.open(factories)
        try:
            runs = executor.call("run", {n: () for n in names})
        finally:
            executor.close()
    objectives = [runs[n]["objective"] for n in names]
    times = [runs[n]["time_s"] for n in names]
    arr = np.asarray(objectives, float)
    fin = arr[np.isfinite(arr)]

    def stat(f: Any) -> float:
        return float(f(fin)) if len(fin) else float("nan")

    return {"objectives": objectives, "min": stat(np.min), "median": stat(np.median), "max": stat(np.max),
            "std": stat(np.std), "time_s": float(sum(times)), "mean_time_s": float(np.mean(times)) if times else 0.0,
            "wall_s": time.perf_counter() - t_wall, "seeds": list(range(int(seeds))),
            "ok": [runs[n]["ok"] for n in names], "evaluations": [runs[n]["evaluations"] for n in names],
            "population": int(population), "generations": int(generations)}


__all__ = ["PENALTY", "PsoRun", "pso_spread", "solve_slow_pso"]
