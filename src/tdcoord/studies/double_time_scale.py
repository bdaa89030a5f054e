"""The double-time-scale study of seed 004: three scenarios over a day of 5-minute steps.

Scenarios (seed 004, sections 4.3-4.5), each over the 288 five-minute steps
of the case's day, every step re-checked by the sequential AC/DC power flow
with the machines' reactive limits enforced (PV buses turn PQ at a limit):

1. ``no-control``: taps, banks and UPFC set-points as the case has them
   (``ieee30-acdc``: neutral taps, banks off, the UPFC idle).
2. ``slow``: every hour the slow step (:func:`tdcoord.coordination.volt_var.solve_slow`)
   on the hourly forecasts of the next 3 hours (the means of the 5-minute
   data); its first hour's taps, steps and UPFC set-points hold for 12 steps.
3. ``double``: the slow step every hour, and every 5 minutes the fast step
   (:func:`tdcoord.coordination.volt_var.solve_fast`) on the next 5 steps'
   data, which re-sets the UPFC. The slow step is re-triggered (seed 004,
   section 3.1: "re-engaged ... when the node voltage exceeds the operation
   limits"), with the moves left in the hour's budget and its first period
   the mean of the hour's remaining steps, at most once every
   :attr:`DtsSettings.retrigger_gap` steps (the hour's budget counts every
   step moved, a tap moved up 3 and back 2 has used 5), when

   - the fast step predicts that it cannot keep the band at this step
     (its band violation above :data:`BAND_TOL`): the slow step is re-run
     from this step, and the fast step again on its schedule, before the
     step is applied;
   - after the step, its mean deviation U_dev exceeds the adaptive
     threshold of Eqs. (39)-(41), or a bus is outside the band in the
     re-check: the slow step is re-run for the hour's later steps.

   Each re-trigger is logged with its reason.

The adaptive threshold (Eqs. (39)-(41)): N_cross is the number of buses
whose |V - V_ref| exceeds the threshold eps; rho the share of crossings
over the last T = 12 steps; eps falls by d_eps (not below eps_min) when
rho > rho_high and rises by d_eps (not above eps_max) when rho < rho_low.
Eq. (41) as printed clamps with ``min`` in both branches, which would pin
eps at eps_min; the clamps here are ``max(eps_min, .)`` and
``min(eps_max, .)``.

Cost of a scenario (its ``cost``, in the currency of Table A1): losses at
the loss price, plus 60 per tap step moved, 50 per capacitor step switched
and 150 per Mvar and hour of UPFC shunt output (the paper's unit costs,
unweighted: money, not the slow step's weighted objective).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from tdcoord.coordination.volt_var import Controls, ModelCache, SlowOutcome, apply_controls, controls_of, sensitivity_weights, \
    solve_fast, solve_slow, window
from tdcoord.errors import InputError
from tdcoord.network.network import Network
from tdcoord.problems.volt_var import VoltVarWeights

SCENARIOS = ("no-control", "slow", "double")
BAND_TOL = 1e-4  # p.u.: a fast step predicting more band violation than this re-triggers the slow step
REPORT_HOURS = (1, 7, 13, 19)


@dataclass
class DtsSettings:
    """Settings of the double-time-scale study (defaults: seed 004's, and tdcoord's where it gives none)."""

    solver: str = "exact"  # slow step: exact | bonmin | pso
    slow_horizon: int = 3  # hours
    fast_horizon: int = 5  # steps
    steps_per_hour: int = 12
    vm_ref: float = 1.0
    band: tuple[float, float] = (0.95, 1.05)
    loss_price: float = 450.0  # per MWh
    tap_cost: float = 60.0
    cb_cost: float = 50.0
    upfc_cost: float = 150.0  # per Mvar and hour
    eps0: float = 0.025
    eps_min: float = 0.015
    eps_max: float = 0.04
    d_eps: float = 0.0025
    rho_low: float = 0.1
    rho_high: float = 0.3
    window_steps: int = 12  # T of Eq. (40)
    retrigger_gap: int = 3
    hours: int = 24
    pso_seeds: int = 20
    pso_generations: int = 40
    pso_population: int = 50
    compare_hour: int = 19

    def fingerprint(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScenarioResult:
    name: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    hours: list[dict[str, Any]] = field(default_factory=list)
    retriggers: list[dict[str, Any]] = field(default_factory=list)
    time_s: float = 0.0
    initial: Controls | None = None

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.steps)


def _recheck(net: Network, k: int, c: Controls, band: tuple[float, float],
             warm: dict[str, Any] | None = None) -> dict[str, Any]:
    """The AC/DC power flow of step ``k`` under controls ``c``, Q limits enforced, judged against ``band``;
    ``warm`` (the last step's state, updated here) starts it near its solution."""
    from tdcoord.pf.acdc import device_injections, solve_acdc

    n = apply_controls(net.at_period(k), c)
    w = warm if warm is not None else {}
    o = solve_acdc(n, enforce_q_lims=True, v0=w.get("v"), s0=w.get("s"), switched0=w.get("switched"))
    if not o.converged and w:  # a warm start that fails is retried from the flat start
        o = solve_acdc(n, enforce_q_lims=True)
    if warm is not None and o.converged:
        warm.update(v=o.v, s=o.s_dev, switched=o.switched)
    vm = np.abs(o.v)
    _, tables = device_injections(n, o.cn, o.v, o.data)
    hv = tables.get("res_hvdc")
    return {"converged": o.converged, "vm": vm, "loss_mw": o.losses_mw() if o.converged else float("nan"),
            "violations": int(np.sum((vm < band[0] - 1e-6) | (vm > band[1] + 1e-6))),
            "q_limit_hits": sum("reactive limit" in m for m in o.messages),
            "hvdc_vm_pu": float(hv.vm_pu.iat[0]) if hv is not None and len(hv) else float("nan"),
            "hvdc_gamma_deg": float(hv.gamma_deg.iat[0]) if hv is not None and len(hv) else float("nan")}


def _step_record(k: int, c: Controls, chk: dict[str, Any], spd: int, **extra: Any) -> dict[str, Any]:
    rec = {"step": k, "hour": k // spd, "converged": chk["converged"], "loss_mw": chk["loss_mw"],
           "violations": chk["violations"], "q_limit_hits": chk["q_limit_hits"], "vm_min_pu": float(chk["vm"].min()),
           "vm_max_pu": float(chk["vm"].max()), "hvdc_vm_pu": chk["hvdc_vm_pu"], "hvdc_gamma_deg": chk["hvdc_gamma_deg"],
           "vm": chk["vm"].tolist(), **{f"tap_{i}": float(v) for i, v in enumerate(c.taps)},
           **{f"cb_{i}": float(v) for i, v in enumerate(c.steps)},
           **{f"upfc_q_{i}": float(v) for i, v in enumerate(c.q_sh_mvar)},
           **{f"upfc_vse_re_{i}": float(v) for i, v in enumerate(c.vse_re)},
           **{f"upfc_vse_im_{i}": float(v) for i, v in enumerate(c.vse_im)}}
    rec.update(extra)
    return rec


class Threshold:
    """The adaptive threshold of Eqs. (39)-(41) (module docstring)."""

    def __init__(self, s: DtsSettings) -> None:
        self.s = s
        self.eps = s.eps0
        self.crossings: list[int] = []

    def update(self, vm: np.ndarray) -> tuple[float, bool]:
        """Record a step's voltages; (U_dev, whether it exceeds the threshold in force)."""
        s = self.s
        dev = np.abs(vm - s.vm_ref)
        u_dev = float(dev.mean())
        exceeded = u_dev > self.eps
        self.crossings.append(int(np.sum(dev > self.eps)))
        self.crossings = self.crossings[-s.window_steps:]
        rho = sum(self.crossings) / (s.window_steps * len(vm))
        if rho > s.rho_high:
            self.eps = max(s.eps_min, self.eps - s.d_eps)
        elif rho < s.rho_low:
            self.eps = min(s.eps_max, self.eps + s.d_eps)
        return u_dev, exceeded

    def state(self) -> dict[str, Any]:
        return {"eps": self.eps, "crossings": list(self.crossings)}

    def restore(self, st: dict[str, Any]) -> None:
        self.eps, self.crossings = float(st["eps"]), list(st["crossings"])


def _weights(net_now: Network, s: DtsSettings) -> tuple[VoltVarWeights, dict[str, Any]]:
    w = sensitivity_weights(net_now)
    return VoltVarWeights(w["oltc"], w["cb"], w["upfc"], s.loss_price), w


def _rest_of_hour(net: Network, first: int, s: DtsSettings) -> Network:
    """Slow-step series for a re-trigger from step ``first`` on: the mean of the hour's steps from ``first``, then
    the next hours' means."""
    spd = s.steps_per_hour
    h = first // spd
    out = window(net, h, s.slow_horizon, spd, wrap=True)
    end = (h + 1) * spd
    for key, df in net.timeseries.items():
        rest = df.to_numpy(float)[first:end].mean(axis=0)
        cur = out.timeseries[key].to_numpy(float).copy()
        cur[0] = rest
        table, column = key.split(".", 1)
        out.set_timeseries(table, column, pd.DataFrame(cur, columns=df.columns))
    return out


def run_scenario(net: Network, name: str, s: DtsSettings, *, progress: Callable[[str], None] | None = None,
                 done: dict[int, dict[str, Any]] | None = None,
                 save: Callable[[int, dict[str, Any]], None] | None = None) -> ScenarioResult:
    """One scenario over ``s.hours`` hours of ``net``'s 5-minute day (module docstring).

    ``done`` holds finished hours from a checkpoint (their records; the run continues after the last one), and
    ``save(hour, record)`` is called after each hour."""
    if name not in SCENARIOS:
        raise InputError(f"scenario {name!r}: expected one of {', '.join(SCENARIOS)}")
    t0 = time.perf_counter()
    spd = s.steps_per_hour
    c = controls_of(net)
    res = ScenarioResult(name, initial=c.copy())
    thr = Threshold(s)
    cache = ModelCache()
    pf_warm: dict[str, Any] = {}
    vm_prev: np.ndarray | None = _recheck(net, 0, c, s.band)["vm"] if name == "double" else None
    done = done or {}
    for h in range(s.hours):
        if h in done:
            rec = done[h]
            res.steps.extend(rec["steps"])
            res.hours.append(rec["hour"])
            res.retriggers.extend(rec["retriggers"])
            c = Controls(*(np.asarray(rec["controls"][k], float) for k in ("taps", "steps", "q_sh_mvar", "vse_re_pu",
                                                                             "vse_im_pu")))
            thr.restore(rec["threshold"])
            vm_prev = np.asarray(rec["steps"][-1]["vm"], float)
            continue
        th = time.perf_counter()
        hour_info: dict[str, Any] = {"hour": h}
        steps_h: list[dict[str, Any]] = []
        retr_h: list[dict[str, Any]] = []
        start_of_hour = c.copy()  # taps and steps before the hour's moves; ``moved``: the steps moved before it
        moved = (np.zeros(len(c.taps)), np.zeros(len(c.steps)))
        if name != "no-control":
            now = apply_controls(window(net, h * spd, 1), c)
            weights, w = _weights(now.at_period(0), s)
            hour_info["weights"] = {k: w[k] for k in ("oltc", "cb", "upfc", "ordered")}
            slow = solve_slow(apply_controls(window(net, h, s.slow_horizon, spd, wrap=True), c), weights,
                              method=s.solver, cache=cache, pso_options=_pso_options(s))
            hour_info.update(_slow_summary(slow))
            if slow.ok:
                c = slow.schedule[0].copy()
            slow_c = c.copy()
        last_retrigger = -10**9
        for k in range(h * spd, (h + 1) * spd):
            extra: dict[str, Any] = {}
            if name == "double":
                fc, predicted = _fast(net, k, c, vm_prev, s, cache)
                if predicted > BAND_TOL and k - last_retrigger >= s.retrigger_gap:
                    # the fast step cannot keep the band with the slow step's taps and banks: re-engage the slow
                    # step now, from this step on, and correct the UPFC again on its new schedule
                    rt = _retrigger(net, k, c, _used(start_of_hour, c, moved), s, cache, first=k)
                    last_retrigger = k
                    retr_h.append({"hour": h, "step": k, "reason": "fast step cannot keep the band",
                                   "predicted_violation_pu": predicted, "eps": thr.eps, "ok": rt is not None})
                    if rt is not None:
                        moved = _used(start_of_hour, c, moved)
                        start_of_hour = rt.copy()
                        c, slow_c = rt.copy(), rt.copy()
                        fc, predicted = _fast(net, k, c, vm_prev, s, cache)
                if fc is not None:
                    c = fc
                extra["upfc_slow_q"] = float(slow_c.q_sh_mvar[0]) if len(slow_c.q_sh_mvar) else float("nan")
            chk = _recheck(net, k, c, s.band, pf_warm)
            if name == "double":
                u_dev, exceeded = thr.update(chk["vm"])
                extra.update(u_dev=u_dev, eps=thr.eps)
                if (exceeded or chk["violations"]) and k + 1 < (h + 1) * spd and k - last_retrigger >= s.retrigger_gap:
                    rt = _retrigger(net, k, c, _used(start_of_hour, c, moved), s, cache, first=k + 1)
                    last_retrigger = k
                    retr_h.append({"hour": h, "step": k, "reason": "threshold exceeded" if exceeded else
                                   "bus outside the band", "u_dev": u_dev, "eps": thr.eps,
                                   "violations": chk["violations"], "ok": rt is not None})
                    if rt is not None:
                        moved = _used(start_of_hour, c, moved)
                        start_of_hour = rt.copy()
                        c = rt.copy()
                        slow_c = c.copy()
            vm_prev = chk["vm"]
            steps_h.append(_step_record(k, c, chk, spd, **extra))
        hour_info["time_s"] = time.perf_counter() - th
        rec = {"hour": hour_info, "steps": steps_h, "retriggers": retr_h, "controls": c.as_dict(),
               "threshold": thr.state()}
        res.steps.extend(steps_h)
        res.hours.append(hour_info)
        res.retriggers.extend(retr_h)
        if save is not None:
            save(h, rec)
        if progress is not None:
            viol = sum(r["violations"] for r in steps_h)
            progress(f"{name}: hour {h:02d} done in {hour_info['time_s']:.1f} s, "
                     f"V {min(r['vm_min_pu'] for r in steps_h):.3f}-{max(r['vm_max_pu'] for r in steps_h):.3f} p.u., "
                     f"{viol} bus-steps outside the band" + (f", {len(retr_h)} re-trigger(s)" if retr_h else ""))
    res.time_s = time.perf_counter() - t0
    return res


def _slow_summary(slow: SlowOutcome) -> dict[str, Any]:
    return {"slow_ok": slow.ok, "slow_status": slow.status, "slow_objective": slow.objective,
            "slow_relaxed": slow.relaxed_objective, "slow_gap": slow.gap, "slow_time_s": slow.time_s,
            "slow_solves": slow.solves, "slow_method": slow.method}


def _fast(net: Network, k: int, c: Controls, vm_prev: np.ndarray | None, s: DtsSettings,
          cache: ModelCache) -> tuple[Controls | None, float]:
    """The fast step at step ``k`` under controls ``c``: its first step's controls and the band violation it
    predicts there (p.u., summed over buses; 0 when it keeps the band)."""
    fw = apply_controls(window(net, k, s.fast_horizon, wrap=True), c)
    fc, sol = solve_fast(fw, vm_prev, vm_ref=s.vm_ref, dt_h=1 / s.steps_per_hour, cache=cache)
    viol = sol.x.get("vv.band_violation") if sol is not None and sol.ok else None
    predicted = float(np.asarray(viol).reshape(-1, s.fast_horizon)[:, 0].sum()) if viol is not None else 0.0
    return fc, predicted


def _used(before: Controls, now: Controls, moved: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Steps moved in the hour so far: ``moved`` (earlier moves) plus those from ``before`` to ``now`` (a tap moved
    up 3 and back 2 has used 5)."""
    return moved[0] + np.abs(now.taps - before.taps), moved[1] + np.abs(now.steps - before.steps)


def _retrigger(net: Network, k: int, c: Controls, used: tuple[np.ndarray, np.ndarray], s: DtsSettings,
               cache: ModelCache | None = None, first: int | None = None) -> Controls | None:
    """Re-run the slow step for the hour's steps from ``first`` (default ``k + 1``) with the moves left in the
    hour's budget (``used``: the steps each tap changer and bank has moved in the hour)."""
    from tdcoord.coordination.volt_var import bank_rows, oltc_rows

    win = apply_controls(_rest_of_hour(net, k + 1 if first is None else first, s), c)
    rows = oltc_rows(win)
    lim = win.trafo.loc[rows, "max_tap_change"].to_numpy(float)
    win.trafo.loc[rows, "max_tap_change"] = np.where(np.isfinite(lim), np.maximum(lim - used[0], 0.0), lim)
    srows = bank_rows(win)
    lim = win.shunt.loc[srows, "max_step_change"].to_numpy(float)
    win.shunt.loc[srows, "max_step_change"] = np.where(np.isfinite(lim), np.maximum(lim - used[1], 0.0), lim)
    weights, _ = _weights(apply_controls(window(net, k, 1), c).at_period(0), s)
    slow = solve_slow(win, weights, method=s.solver, cache=cache, pso_options=_pso_options(s))
    return slow.schedule[0] if slow.ok else None


def _pso_options(s: DtsSettings) -> dict[str, Any]:
    return {"population": s.pso_population, "generations": s.pso_generations, "seed": 0}


def indexed_columns(names: Any, prefix: str) -> list[str]:
    """The names ``<prefix><i>`` (one per device, ``tap_0``, ``tap_1``, ...) in the order of ``i``."""
    return sorted((n for n in names if n.startswith(prefix) and n[len(prefix):].isdigit()),
                  key=lambda n: int(n[len(prefix):]))


def device_moves(r: ScenarioResult) -> dict[str, np.ndarray]:
    """Steps moved over the day per tap changer (``tap``) and bank (``cb``), the first step counted against the
    day's start."""
    df = r.frame()
    out = {}
    for kind, prefix, start in (("tap", "tap_", None if r.initial is None else r.initial.taps),
                                ("cb", "cb_", None if r.initial is None else r.initial.steps)):
        cols = indexed_columns(df.columns, prefix)
        x = df[cols].to_numpy(float)
        first = x[:1] if start is None else np.asarray(start, float).reshape(1, -1)
        out[kind] = np.abs(np.diff(np.vstack([first, x]), axis=0)).sum(axis=0) if cols else np.zeros(0)
    return out


def scenario_summary(r: ScenarioResult, s: DtsSettings) -> dict[str, Any]:
    """The figures of one scenario (JSON keys of the study's ``scenarios`` entries)."""
    df = r.frame()
    dt = 1.0 / s.steps_per_hour
    q_cols = indexed_columns(df.columns, "upfc_q_")
    loss_mwh = float(df.loss_mw.sum() * dt)
    moved = device_moves(r)
    tap_moves, cb_moves = float(moved["tap"].sum()), float(moved["cb"].sum())
    upfc_mvarh = float(np.abs(df[q_cols].to_numpy()).sum() * dt) if q_cols else 0.0
    cost = s.loss_price * loss_mwh + s.tap_cost * tap_moves + s.cb_cost * cb_moves + s.upfc_cost * upfc_mvarh
    return {"name": r.name, "loss_mwh": loss_mwh, "cost": cost, "vm_min_pu": float(df.vm_min_pu.min()),
            "vm_max_pu": float(df.vm_max_pu.max()), "violations": int(df.violations.sum()),
            "tap_moves": tap_moves, "cb_moves": cb_moves, "upfc_mvarh": upfc_mvarh,
            "not_converged_steps": int((~df.converged.astype(bool)).sum()), "q_limit_hits": int(df.q_limit_hits.sum()),
            "retriggers": len(r.retriggers), "time_s": r.time_s}


# ----------------------------------------------------------------------------------------------- the whole study
PAPER = {  # seed 004's reported figures (Tables 3-5, section 4.2)
    "table3_scenario3": {"1": [1.050, 0.995], "7": [1.035, 0.996], "13": [1.042, 0.999], "19": [1.022, 0.999]},
    "table4_hvdc_vm_pu": {"no-control": [0.979, 1.015, 1.010, 1.004], "slow": [1.014, 1.010, 1.010, 1.002],
                          "double": [1.010, 0.997, 1.003, 1.002]},
    "table5": {"loss_mw_sum": {"no-control": 426.6437, "slow": 369.0200, "double": 374.8438},
               "cost": {"no-control": None, "slow": 170350.986, "double": 172639.326}},
    "weights": {"upfc": 0.3998, "oltc": 0.3227, "cb": 0.2775},
    "slow_step_time_s": 240.0, "fast_step_time_s": 45.0,
}


@dataclass
class DtsStudy:
    """The study's results: each scenario's day, the exact-vs-PSO comparison, the settings."""

    case: str
    settings: DtsSettings
    results: dict[str, ScenarioResult]
    slow_compare: dict[str, Any] = field(default_factory=dict)
    time_s: float = 0.0
    bus_labels: list[str] = field(default_factory=list)

    def hour_step(self, hour: int) -> int:
        return hour * self.settings.steps_per_hour

    def table3(self) -> pd.DataFrame:
        """Largest and smallest bus voltage at the report hours (the hour's first 5-minute step), per scenario."""
        rows = []
        for name, r in self.results.items():
            df = r.frame().set_index("step")
            for h in REPORT_HOURS:
                k = self.hour_step(h)
                if k in df.index:
                    rows.append({"scenario": name, "hour": h, "vm_max_pu": df.at[k, "vm_max_pu"],
                                 "vm_min_pu": df.at[k, "vm_min_pu"], "violations": int(df.at[k, "violations"])})
        return pd.DataFrame(rows)

    def table4(self) -> pd.DataFrame:
        """The HVDC terminal's voltage at the report hours, per scenario."""
        out = {}
        for name, r in self.results.items():
            df = r.frame().set_index("step")
            out[name] = {h: df.at[self.hour_step(h), "hvdc_vm_pu"] for h in REPORT_HOURS if self.hour_step(h) in df.index}
        return pd.DataFrame(out).rename_axis("hour")

    def scenario_rows(self) -> list[dict[str, Any]]:
        return [scenario_summary(r, self.settings) for r in self.results.values()]

    def voltages(self, name: str) -> pd.DataFrame:
        r = self.results[name]
        return pd.DataFrame([s["vm"] for s in r.steps], index=pd.Index([s["step"] for s in r.steps], name="step"),
                            columns=self.bus_labels or None)

    def steps(self, name: str) -> pd.DataFrame:
        return self.results[name].frame().drop(columns=["vm"]).set_index("step")

    def summary(self) -> dict[str, Any]:
        t3 = self.table3()
        t4 = self.table4()
        return {
            "case": self.case,
            "scenarios": self.scenario_rows(),
            "table3": {n: {str(int(r.hour)): {"vm_max_pu": r.vm_max_pu, "vm_min_pu": r.vm_min_pu}
                           for r in g.itertuples()} for n, g in t3.groupby("scenario")} if len(t3) else {},
            "hvdc_vm_pu": {n: {str(h): float(v) for h, v in t4[n].items()} for n in t4.columns},
            "slow": self.slow_compare,
            "weights": _weights_summary(self.results),
            "retriggers": [r for res in self.results.values() for r in res.retriggers],
            "hours": [dict(h, scenario=n) for n, res in self.results.items() for h in res.hours],
            "time_s": self.time_s,
            "scenario_time_s": {n: r.time_s for n, r in self.results.items()},
            "settings": self.settings.fingerprint(),
            "paper": PAPER,
        }


def _weights_summary(results: dict[str, ScenarioResult]) -> dict[str, Any]:
    ws = [h["weights"] for r in results.values() for h in r.hours if "weights" in h]
    if not ws:
        return {}
    return {"mean": {k: float(np.mean([w[k] for w in ws])) for k in ("upfc", "oltc", "cb")},
            "hours_ordered": int(sum(bool(w["ordered"]) for w in ws)), "hours": len(ws),
            "ordering": "W_UPFC >= W_OLTC >= W_CB"}


def compare_slow_solvers(net: Network, s: DtsSettings, controls: Controls | None = None, *,
                         progress: Callable[[str], None] | None = None, executor: Any = None) -> dict[str, Any]:
    """The slow step of hour ``s.compare_hour`` solved exactly and by PSO over ``s.pso_seeds`` seeds, on the same
    model (the controls in force ``controls``, default the case's)."""
    from tdcoord.coordination.pso import pso_spread

    h, spd = s.compare_hour, s.steps_per_hour
    c = controls if controls is not None else controls_of(net)
    win = apply_controls(window(net, h, s.slow_horizon, spd, wrap=True), c)
    weights, _ = _weights(apply_controls(window(net, h * spd, 1), c).at_period(0), s)
    exact = solve_slow(win, weights, method="exact")
    if progress is not None:
        progress(f"slow step at hour {h}: exact {exact.objective:.2f} in {exact.time_s:.2f} s; PSO over "
                 f"{s.pso_seeds} seeds ...")
    spread = pso_spread(win, weights, seeds=s.pso_seeds, population=s.pso_population, generations=s.pso_generations,
                        executor=executor)
    objs = np.asarray(spread["objectives"], float)
    best = float(np.nanmin(objs)) if len(objs) else float("nan")
    return {
        "hour": h,
        "weights": weights.as_dict(),
        "exact": {"objective": exact.objective, "time_s": exact.time_s, "relaxed_objective": exact.relaxed_objective,
                  "gap_to_relaxation": exact.gap, "method": exact.method, "solves": exact.solves},
        "pso": {"objective": best, "time_s": float(spread["mean_time_s"]), "objective_spread": spread,
                "population": s.pso_population, "generations": s.pso_generations, "seeds": s.pso_seeds,
                "exact_not_worse": bool(exact.objective <= best * (1 + 1e-9))},
    }


def run_study(net: Network, s: DtsSettings | None = None, *, out: str | Path | None = None, resume: bool = False,
              scenarios: tuple[str, ...] = SCENARIOS, compare: bool = True,
              progress: Callable[[str], None] | None = None, executor: Any = None) -> DtsStudy:
    """The three scenarios over the day, and the exact-vs-PSO comparison of one slow step (module docstring).

    With ``out``, each finished hour of each scenario is checkpointed in ``out/hours`` so that an interrupted run
    continues with ``resume``. ``executor`` runs the comparison's PSO seeds (default: one after the other)."""
    from tdcoord.results.checkpoint import Checkpoint, digest

    s = s or DtsSettings()
    if len(net.timeseries) == 0 or net.n_periods < s.hours * s.steps_per_hour:
        raise InputError(f"network {net.name!r}: the study needs {s.hours * s.steps_per_hour} five-minute periods of "
                         f"time series; it has {net.n_periods}")
    if s.solver not in ("exact", "bonmin", "pso"):
        raise InputError(f"--solver {s.solver!r}: expected exact, bonmin or pso")
    t0 = time.perf_counter()
    ck = None
    if out is not None:
        fp = {"settings": s.fingerprint(), "case": digest({"tables": {t: getattr(net, t) for t in net.TABLE_NAMES
                                                                        if len(getattr(net, t))},
                                                             "timeseries": dict(net.timeseries)})}
        ck = Checkpoint(Path(out) / "hours", "tdcoord-dts-hour", fp)
    done_all = ck.start(resume) if ck is not None else {}
    results: dict[str, ScenarioResult] = {}
    for name in scenarios:
        done = {int(k.rsplit("_", 1)[1]): v for k, v in done_all.items() if k.startswith(f"{name}_hour_")}
        save = (lambda h, rec, n=name: ck.save(f"{n}_hour_{h:02d}", rec)) if ck is not None else None
        results[name] = run_scenario(net, name, s, progress=progress, done=done, save=save)
    study = DtsStudy(net.name, s, results, bus_labels=[str(b) for b in net.bus.index[net.bus.in_service.to_numpy(bool)]])
    if compare:
        key = "slow_compare"
        if ck is not None and key in done_all:
            study.slow_compare = done_all[key]
        else:
            c = None
            if "double" in results and results["double"].steps:
                rec = next((x for x in results["double"].steps if x["step"] == s.compare_hour * s.steps_per_hour - 1),
                           None)
                if rec is not None:
                    c = _controls_of_record(rec)
            study.slow_compare = compare_slow_solvers(net, s, c, progress=progress, executor=executor)
            if ck is not None:
                ck.save(key, study.slow_compare)
    study.time_s = time.perf_counter() - t0
    return study


def _controls_of_record(rec: dict[str, Any]) -> Controls:
    def cols(prefix: str) -> np.ndarray:
        return np.array([rec[k] for k in indexed_columns(rec, prefix)], float)

    return Controls(cols("tap_"), cols("cb_"), cols("upfc_q_"), cols("upfc_vse_re_"), cols("upfc_vse_im_"))


__all__ = ["DtsSettings", "DtsStudy", "PAPER", "REPORT_HOURS", "SCENARIOS", "ScenarioResult", "Threshold",
           "compare_slow_solvers", "device_moves", "indexed_columns", "run_scenario", "run_study", "scenario_summary"]
