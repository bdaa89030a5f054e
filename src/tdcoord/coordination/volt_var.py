"""Double-time-scale volt/var control (seed 004): the slow and fast steps and their weights.

State. The controls in force are kept in a network's tables: each OLTC's
``trafo.tap_pu``, each capacitor bank's ``shunt.step``, each UPFC's
``vse_re_pu``, ``vse_im_pu`` and ``q_sh_mvar``. :func:`controls_of` reads
them as a :class:`Controls`, :func:`apply_controls` writes them.

Slow step (every hour, 3-hour look-ahead, :func:`solve_slow`). The model of
:func:`tdcoord.problems.volt_var.build_volt_var` on the hourly forecasts,
with taps and steps integer:

- ``exact`` (default): the continuous relaxation (IPOPT), its taps and
  steps rounded to the nearest position (a rounded schedule that breaks a
  move limit is infeasible and is not kept: the search moves on from it),
  then a neighbourhood search over the first
  hour's positions (one step up and down, the UPFC re-optimized, first
  improvement, until no move improves), every candidate an IPOPT solve
  warm-started from the relaxation. ``neighbourhood="fractional"`` (the
  default) moves the devices whose relaxed first-hour position is
  fractional, ``"full"`` every device; the search stops at once when the
  rounded point attains the relaxation's objective. The relaxation's
  objective is a lower bound of the local optimum, and the gap to it is
  reported. ``bonmin``: bonmin's B-BB on the same model.
- ``pso``: particle swarm (:mod:`tdcoord.coordination.pso`), the paper's method.

Fast step (every 5 minutes, 5-step look-ahead, :func:`solve_fast`): taps,
steps and the UPFCs' series voltages fixed at the slow step's, the UPFCs'
shunt reactive outputs minimize Eq. (38) (the paper's fast step sets the
UPFC's reactive output only).

Weights (:func:`sensitivity_weights`, Eqs. (19)-(25)): the voltage
sensitivity of every bus to every control, by finite differences on the
AC/DC power flow at the current operating point (one step of a tap or a
bank, 1 Mvar of UPFC output), normalized by the control's base value (the
largest tap position, the largest bank step, the UPFC's rated output) and
averaged over buses (mean |dV|); a kind's sensitivity is the mean over its
devices, and the weights are the kinds' sensitivities normalized to sum to
1 (so C_i = k S_u,i with k = 1 / sum S).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.devices.oltc import is_oltc, positions
from tdcoord.network.network import Network
from tdcoord.problems.volt_var import STEP_BLOCK, TAP_BLOCK, VoltVarModel, VoltVarWeights, build_volt_var, \
    fix_discrete, refresh, set_weights

UPFC_BLOCKS = ("vv.upfc_q_sh", "vv.upfc_vse_re", "vv.upfc_vse_im")
FRACTIONAL = 1e-3  # a relaxed position this far from an integer is fractional
SENS_TOL = 1e-8  # power flow tolerance of the sensitivities (p.u.): their differences are 1e-4 to 1e-2 p.u.


@dataclass
class Controls:
    """Tap positions (OLTCs), capacitor steps (controllable banks) and UPFC set-points, in table order."""

    taps: np.ndarray
    steps: np.ndarray
    q_sh_mvar: np.ndarray
    vse_re: np.ndarray
    vse_im: np.ndarray

    def copy(self) -> "Controls":
        return Controls(*(np.array(a, float) for a in (self.taps, self.steps, self.q_sh_mvar, self.vse_re,
                                                       self.vse_im)))

    def as_dict(self) -> dict[str, list[float]]:
        return {"taps": self.taps.tolist(), "steps": self.steps.tolist(), "q_sh_mvar": self.q_sh_mvar.tolist(),
                "vse_re_pu": self.vse_re.tolist(), "vse_im_pu": self.vse_im.tolist()}


def oltc_rows(net: Network) -> pd.Index:
    """The trafo rows that are in-service tap changers, in the order of :attr:`Controls.taps`."""
    return net.trafo.index[is_oltc(net.trafo) & net.trafo.in_service.to_numpy(bool)]


def bank_rows(net: Network) -> pd.Index:
    """The shunt rows that are in-service controllable banks, in the order of :attr:`Controls.steps`."""
    sh = net.shunt
    return sh.index[(sh.controllable & sh.in_service).to_numpy(bool)]


def _upfc_rows(net: Network) -> pd.Index:
    return net.upfc.index[net.upfc.in_service.to_numpy(bool)]


def controls_of(net: Network) -> Controls:
    tr = net.trafo.loc[oltc_rows(net)]
    u = net.upfc.loc[_upfc_rows(net)]
    return Controls(np.round(positions(tr.tap_pu.to_numpy(float), tr.tap_step_pu.to_numpy(float)), 9),
                    net.shunt.loc[bank_rows(net), "step"].to_numpy(float), u.q_sh_mvar.to_numpy(float),
                    u.vse_re_pu.to_numpy(float), u.vse_im_pu.to_numpy(float))


def apply_controls(net: Network, c: Controls) -> Network:
    """``net`` with the controls written into its tables (in place; returned for chaining)."""
    rows = oltc_rows(net)
    net.trafo.loc[rows, "tap_pu"] = 1.0 + net.trafo.loc[rows, "tap_step_pu"].to_numpy(float) * c.taps
    net.shunt.loc[bank_rows(net), "step"] = np.round(c.steps).astype(int)
    u = _upfc_rows(net)
    net.upfc.loc[u, "q_sh_mvar"] = c.q_sh_mvar
    net.upfc.loc[u, "vse_re_pu"] = c.vse_re
    net.upfc.loc[u, "vse_im_pu"] = c.vse_im
    return net


def window(net: Network, start: int, length: int, group: int = 1, *, wrap: bool = False) -> Network:
    """A copy of ``net`` whose series are periods ``start .. start + length - 1`` of the series averaged over
    blocks of ``group`` periods (``group = 12``: hourly means of 5-minute data); past the end of the day the
    window is clipped, or with ``wrap`` continues with the day's start (a typical day is followed by one like
    it), so that every look-ahead has the same length."""
    out = net.copy(timeseries=False)
    for key, df in net.timeseries.items():
        arr = df.to_numpy(float)
        if group > 1:
            arr = arr[: len(arr) // group * group].reshape(-1, group, arr.shape[1]).mean(axis=1)
        part = arr[np.arange(start, start + length) % len(arr)] if wrap else arr[start:start + length]
        table, column = key.split(".", 1)
        out.set_timeseries(table, column, pd.DataFrame(part, columns=df.columns))
    return out


@dataclass
class SlowOutcome:
    """One slow step: the schedule (controls per horizon period), its objective, how it was found."""

    schedule: list[Controls]
    objective: float
    terms: dict[str, float]
    time_s: float
    method: str
    ok: bool
    status: str
    relaxed_objective: float = float("nan")
    solves: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        r = self.relaxed_objective
        return (self.objective - r) / max(abs(r), 1e-9) if np.isfinite(r) else float("nan")


def _schedule(m: Any, sol: Any) -> list[Controls]:
    T = m.periods

    def get(name: str, rows: int) -> np.ndarray:
        if name not in sol.x:
            return np.zeros((rows, T))
        return np.asarray(sol.x[name], float).reshape(rows, T)

    nt = m.b.blocks[TAP_BLOCK].lb.shape[0] if TAP_BLOCK in m.b.blocks else 0
    ns = m.b.blocks[STEP_BLOCK].lb.shape[0] if STEP_BLOCK in m.b.blocks else 0
    nu = m.b.blocks[UPFC_BLOCKS[0]].lb.shape[0] if UPFC_BLOCKS[0] in m.b.blocks else 0
    taps, steps = get(TAP_BLOCK, nt), get(STEP_BLOCK, ns)
    q, e, f = (get(n, nu) for n in UPFC_BLOCKS)
    if nu:  # a series voltage on its limit may lie a solver tolerance outside it: back onto the circle
        vmax = m.b.blocks[UPFC_BLOCKS[1]].ub[:, :1]
        scale = np.minimum(1.0, vmax / np.maximum(np.hypot(e, f), 1e-300))
        e, f = e * scale, f * scale
    base = m.cn.base_mva
    return [Controls(taps[:, t], steps[:, t], q[:, t] * base, e[:, t], f[:, t]) for t in range(T)]


class ModelCache:
    """Built slow- and fast-step models, re-used from one horizon to the next (:func:`tdcoord.problems.volt_var.refresh`):
    a day's hundreds of steps then build two models, not hundreds."""

    def __init__(self) -> None:
        self.models: dict[tuple, VoltVarModel] = {}
        self.warm: dict[tuple, Any] = {}

    def get(self, key: tuple, net: Network, build: Any, vm_prev: np.ndarray | None = None) -> VoltVarModel:
        m = self.models.get(key)
        if m is None:
            m = self.models[key] = build()
        else:
            refresh(m, net, vm_prev)
        return m


def shifted(m: VoltVarModel, sol: Any, periods: int = 1) -> Any:
    """A warm start for the next horizon: ``sol`` with every (rows x periods) block moved ``periods`` periods
    earlier (the last period repeated); multipliers as they were."""
    import copy

    if sol is None or m.periods < 2 or periods < 1:
        return sol
    out = copy.copy(sol)
    x = np.array(sol.x_raw, float)
    for blk in m.b.blocks.values():
        if blk.lb.ndim == 2 and blk.lb.shape[1] == m.periods:
            v = x[blk.start:blk.start + blk.size].reshape(blk.lb.shape, order="F")
            k = min(periods, m.periods - 1)
            v = np.concatenate([v[:, k:], np.repeat(v[:, -1:], k, axis=1)], axis=1)
            x[blk.start:blk.start + blk.size] = v.ravel(order="F")
    out.x_raw = x
    return out


def slow_model(net: Network, weights: VoltVarWeights, method: str, cache: ModelCache | None) -> VoltVarModel:
    steps = "integer" if method == "bonmin" else "continuous"

    def build() -> VoltVarModel:
        return build_volt_var(net, objective="slow", dt_h=1.0, weights=weights, steps=steps)

    if cache is None:
        return build()
    m = cache.get(("slow", steps, net.n_periods), net, build)
    set_weights(m, weights)
    fix_discrete(m, None, None)
    return m


def solve_slow(net: Network, weights: VoltVarWeights, *, method: str = "exact", warm: Any = None,
               max_passes: int = 3, cache: ModelCache | None = None,
               pso_options: dict[str, Any] | None = None, neighbourhood: str = "fractional") -> SlowOutcome:
    """The slow step on ``net`` (its series: the horizon's hourly forecasts; its tables: the controls in force);
    ``pso_options`` go to :func:`tdcoord.coordination.pso.solve_slow_pso` (seed, population, generations)."""
    t0 = time.perf_counter()
    m = slow_model(net, weights, method, cache)
    if warm is None and cache is not None:
        warm = shifted(m, cache.warm.get(("slow-relaxed", m.periods)))
    if method == "pso":
        from tdcoord.coordination.pso import solve_slow_pso

        return solve_slow_pso(m, t0=t0, **(pso_options or {}))
    relaxed = m.b.solve(warm=warm)
    solves = 1
    if not relaxed.ok and warm is not None:  # a warm start that fails is retried cold
        relaxed = m.b.solve()
        solves += 1
    if relaxed.ok and cache is not None:
        cache.warm[("slow-relaxed", m.periods)] = relaxed
    if not relaxed.ok:
        return SlowOutcome([], float("nan"), {}, time.perf_counter() - t0, method, False,
                           f"IPOPT: {relaxed.solver_status} (relaxation)", solves=solves)
    if method == "bonmin":
        sol = m.b.solve(warm=relaxed, solver="bonmin")
        return SlowOutcome(_schedule(m, sol) if sol.ok else [], float(sol.objective), dict(sol.terms),
                           time.perf_counter() - t0, "bonmin B-BB", sol.ok, f"BONMIN: {sol.solver_status}",
                           relaxed_objective=float(relaxed.objective), solves=2)
    rel = _schedule(m, relaxed)
    taps = np.column_stack([c.taps for c in rel]) if rel and len(rel[0].taps) else np.zeros((0, m.periods))
    steps = np.column_stack([c.steps for c in rel]) if rel and len(rel[0].steps) else np.zeros((0, m.periods))
    frac = {"tap": np.abs(taps[:, 0] - np.round(taps[:, 0])) > FRACTIONAL if len(taps) else np.zeros(0, bool),
            "step": np.abs(steps[:, 0] - np.round(steps[:, 0])) > FRACTIONAL if len(steps) else np.zeros(0, bool)}
    taps, steps = np.round(taps), np.round(steps)
    best_sol, best = None, np.inf

    def trial(tp: np.ndarray, st: np.ndarray) -> tuple[float, Any]:
        nonlocal solves
        fix_discrete(m, tp, st)
        sol = m.b.solve(warm=relaxed)
        solves += 1
        return (float(sol.objective) if sol.ok else np.inf), sol

    best, best_sol = trial(taps, steps)
    lo_t, hi_t = (m.info["bounds0"][TAP_BLOCK] if TAP_BLOCK in m.info["bounds0"] else (None, None))
    lo_s, hi_s = (m.info["bounds0"][STEP_BLOCK] if STEP_BLOCK in m.info["bounds0"] else (None, None))
    for _ in range(max_passes):
        improved = False
        if best - float(relaxed.objective) <= 1e-9 * max(1.0, abs(best)):
            break  # the rounded point attains the relaxation's bound: nothing nearby is better
        for which, arr, lo, hi in (("tap", taps, lo_t, hi_t), ("step", steps, lo_s, hi_s)):
            for i in range(arr.shape[0]):
                if neighbourhood == "fractional" and not frac[which][i]:
                    continue
                for d in (1, -1):
                    cand = arr.copy()
                    cand[i, 0] += d
                    if cand[i, 0] < lo[i, 0] - 1e-9 or cand[i, 0] > hi[i, 0] + 1e-9:
                        continue
                    tp, st = (cand, steps) if which == "tap" else (taps, cand)
                    val, sol = trial(tp, st)
                    if val < best - 1e-7 * max(1.0, abs(best)):
                        best, best_sol, improved = val, sol, True
                        arr[i, 0] = cand[i, 0]
        if not improved:
            break
    fix_discrete(m, taps, steps)
    ok = best_sol is not None and best_sol.ok
    return SlowOutcome(_schedule(m, best_sol) if ok else [], best, dict(best_sol.terms) if ok else {},
                       time.perf_counter() - t0, "relaxation + neighbourhood search", ok,
                       f"IPOPT: {best_sol.solver_status}" if best_sol is not None else "no candidate",
                       relaxed_objective=float(relaxed.objective), solves=solves)


def solve_fast(net: Network, vm_prev: np.ndarray | None, *, vm_ref: float = 1.0, dt_h: float = 1 / 12,
               cache: ModelCache | None = None) -> tuple[Controls | None, Any]:
    """The fast step on ``net`` (its series: the next 5-minute steps; its tables: the controls in force, taps
    and steps held); the UPFC set-points of the first step, or ``None`` when IPOPT fails."""
    c = controls_of(net)

    def build() -> VoltVarModel:
        return build_volt_var(net, objective="fast", dt_h=dt_h, vm_ref=vm_ref, vm_prev=vm_prev)

    key = ("fast", net.n_periods, vm_prev is None)
    m = build() if cache is None else cache.get(key, net, build, vm_prev)
    fix_discrete(m, c.taps if len(c.taps) else None, c.steps if len(c.steps) else None)
    if UPFC_BLOCKS[1] in m.b.blocks:  # the series voltage stays at the slow step's set-point
        for name, v in ((UPFC_BLOCKS[1], c.vse_re), (UPFC_BLOCKS[2], c.vse_im)):
            vv = np.repeat(np.asarray(v, float).reshape(-1, 1), m.periods, axis=1)
            m.b.set_bounds(name, vv, vv)
    warm = shifted(m, cache.warm.get(key)) if cache is not None else None
    sol = m.b.solve(warm=warm)
    if not sol.ok and warm is not None:
        sol = m.b.solve()
    if not sol.ok:
        return None, sol
    if cache is not None:
        cache.warm[key] = sol
    first = _schedule(m, sol)[0]
    first.taps, first.steps = c.taps, c.steps
    return first, sol


def sensitivity_weights(net: Network, *, q_step_mvar: float = 1.0) -> dict[str, Any]:
    """Trajectory-sensitivity weights W_OLTC, W_CB, W_UPFC at ``net``'s operating point (module docstring)."""
    from tdcoord.pf.acdc import solve_acdc

    base = solve_acdc(net, enforce_q_lims=True, tol=SENS_TOL)
    if not base.converged:
        return {"oltc": 1 / 3, "cb": 1 / 3, "upfc": 1 / 3, "ok": False}
    v0 = np.abs(base.v)
    c0 = controls_of(net)
    tr = net.trafo.loc[oltc_rows(net)]
    n_max = np.maximum(np.abs(positions(tr.tap_max_pu.to_numpy(float), tr.tap_step_pu.to_numpy(float))), 1.0)
    sh_max = net.shunt.loc[bank_rows(net), "max_step"].to_numpy(float)
    u_rated = net.upfc.loc[_upfc_rows(net), "s_sh_max_mva"].to_numpy(float)
    sens: dict[str, list[float]] = {"oltc": [], "cb": [], "upfc": []}

    def dv(c: Controls, du: float, u_base: float) -> float:
        # the perturbed power flow starts from the base point (same solution, fewer passes)
        r = solve_acdc(apply_controls(net.copy(), c), enforce_q_lims=True, v0=base.v, s0=base.s_dev, tol=SENS_TOL,
                       switched0=base.switched)
        return float(np.mean(np.abs(np.abs(r.v) - v0)) / du * u_base) if r.converged else np.nan

    for i in range(len(c0.taps)):
        c = c0.copy()
        d = 1.0 if c.taps[i] < n_max[i] else -1.0
        c.taps[i] += d
        sens["oltc"].append(dv(c, 1.0, n_max[i]))
    for i in range(len(c0.steps)):
        c = c0.copy()
        d = 1.0 if c.steps[i] < sh_max[i] else -1.0
        c.steps[i] += d
        sens["cb"].append(dv(c, 1.0, sh_max[i]))
    for i in range(len(c0.q_sh_mvar)):
        c = c0.copy()
        c.q_sh_mvar[i] += q_step_mvar
        sens["upfc"].append(dv(c, q_step_mvar, u_rated[i]))
    s = {k: float(np.nanmean(v)) if len(v) else 0.0 for k, v in sens.items()}
    total = sum(s.values())
    w = {k: (v / total if total > 0 else 1 / 3) for k, v in s.items()}
    w["sensitivity"] = s
    w["ordered"] = bool(w["upfc"] >= w["oltc"] >= w["cb"])
    w["ok"] = True
    return w


__all__ = ["Controls", "ModelCache", "SlowOutcome", "apply_controls", "bank_rows", "controls_of", "oltc_rows",
           "sensitivity_weights", "shifted", "solve_fast", "solve_slow", "window"]
