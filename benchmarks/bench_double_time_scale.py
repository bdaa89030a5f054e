"""Double-time-scale volt/var study: the 30-bus day against the 118-bus case with three UPFCs, in one run.

Scenario ``double`` of :mod:`tdcoord.studies.double_time_scale` (the slow step every hour with the exact
solver, the fast step every 5 minutes, every step re-checked by the AC/DC power flow), on

- ``ieee30-acdc`` (:func:`tdcoord.cases.acdc30.ieee30_acdc`) over ``--hours-30`` hours (default: the day), and
- ``ieee118-upfc`` (:func:`tdcoord.cases.acdc118.ieee118_upfc`) over ``--hours-118`` hours (default 3),

each from hour 0. Measured with ``time.perf_counter`` in this process: the scenario's wall time, and, by
wrapping the study module's calls, every slow step (hourly ones and re-triggers: ``solve_slow``), every fast
step (``solve_fast``), the hourly sensitivity weights and the re-check power flows, each with its count, mean
and median (the mean includes each model's first build, the median mostly not). Printed: a table per case,
and the 118-bus figures over the 30-bus ones. Usage::

    python benchmarks/bench_double_time_scale.py [--hours-30 24] [--hours-118 3] [--json FILE]

Not part of the test suite (timings are not asserted anywhere).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

PARTS = ("slow", "fast", "weights", "recheck")


class Timer:
    """Wraps the study module's calls and records each call's duration."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {p: [] for p in PARTS}

    def wrap(self, part: str, fn: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.times[part].append(time.perf_counter() - t0)

        return timed


def run_case(net: Any, hours: int, solver: str) -> dict[str, Any]:
    import tdcoord.studies.double_time_scale as dts

    timer = Timer()
    names = {"slow": "solve_slow", "fast": "solve_fast", "weights": "sensitivity_weights", "recheck": "_recheck"}
    saved = {p: getattr(dts, n) for p, n in names.items()}
    for p, n in names.items():
        setattr(dts, n, timer.wrap(p, saved[p]))
    try:
        s = dts.DtsSettings(hours=hours, solver=solver)
        t0 = time.perf_counter()
        res = dts.run_scenario(net, "double", s)
        wall = time.perf_counter() - t0
    finally:
        for p, n in names.items():
            setattr(dts, n, saved[p])
    summ = dts.scenario_summary(res, s)
    out: dict[str, Any] = {
        "case": net.name, "buses": len(net.bus), "lines": len(net.line), "machines": len(net.gen),
        "oltcs": int(net.trafo.tap_step_pu.notna().sum()), "banks": int(net.shunt.controllable.sum()),
        "upfcs": len(net.upfc), "hvdc_links": len(net.hvdc), "pv": len(net.sgen), "hours": hours,
        "steps": hours * s.steps_per_hour, "wall_s": wall, "wall_per_hour_s": wall / hours,
        "slow_ok_hours": int(sum(bool(h.get("slow_ok")) for h in res.hours)),
        "retriggers": len(res.retriggers), "retriggers_ok": int(sum(bool(r["ok"]) for r in res.retriggers)),
        "violations": summ["violations"], "not_converged_steps": summ["not_converged_steps"],
        "vm_min_pu": summ["vm_min_pu"], "vm_max_pu": summ["vm_max_pu"], "loss_mwh": summ["loss_mwh"],
        # IPOPT solves of an hourly slow step (relaxation, rounding, neighbourhood search)
        "ipopt_per_slow_step": float(np.mean([h["slow_solves"] for h in res.hours if "slow_solves" in h]))
        if any("slow_solves" in h for h in res.hours) else float("nan"),
    }
    for p in PARTS:
        t = timer.times[p]
        out[f"{p}_count"] = len(t)
        out[f"{p}_total_s"] = float(sum(t))
        out[f"{p}_mean_s"] = float(np.mean(t)) if t else float("nan")
        out[f"{p}_median_s"] = float(statistics.median(t)) if t else float("nan")
    out["other_s"] = wall - sum(out[f"{p}_total_s"] for p in PARTS)
    return out


def print_case(r: dict[str, Any]) -> None:
    print(f"\n{r['case']}: {r['buses']} buses, {r['lines']} lines, {r['machines']} machines, {r['oltcs']} OLTCs, "
          f"{r['banks']} capacitor banks, {r['upfcs']} UPFC(s), {r['hvdc_links']} HVDC link(s), {r['pv']} PV; "
          f"{r['hours']} h = {r['steps']} steps in {r['wall_s']:.1f} s ({r['wall_per_hour_s']:.2f} s per hour)")
    print(f"slow steps ok {r['slow_ok_hours']}/{r['hours']} hours, re-triggers {r['retriggers']} "
          f"({r['retriggers_ok']} ok), bus-steps outside the band {r['violations']}, "
          f"power flows not converged {r['not_converged_steps']}, V {r['vm_min_pu']:.4f}-{r['vm_max_pu']:.4f} p.u., "
          f"{r['ipopt_per_slow_step']:.1f} IPOPT solves per hourly slow step")
    print("| part | count | total s | mean s | median s |")
    print("|---|---|---|---|---|")
    labels = {"slow": "slow step (solve_slow: hourly + re-triggers)", "fast": "fast step (solve_fast)",
              "weights": "sensitivity weights", "recheck": "re-check power flow"}
    for p in PARTS:
        print(f"| {labels[p]} | {r[f'{p}_count']} | {r[f'{p}_total_s']:.2f} | {r[f'{p}_mean_s']:.3f} | "
              f"{r[f'{p}_median_s']:.3f} |")
    print(f"| rest (thresholds, windows, records) | - | {r['other_s']:.2f} | - | - |")


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """``b`` over ``a``, figure by figure."""
    def q(x: float, y: float) -> float:
        return float(y / x) if x and np.isfinite(x) and np.isfinite(y) else float("nan")

    out = {"buses": q(a["buses"], b["buses"]), "upfcs": q(a["upfcs"], b["upfcs"]), "oltcs": q(a["oltcs"], b["oltcs"]),
           "banks": q(a["banks"], b["banks"]), "wall_per_hour": q(a["wall_per_hour_s"], b["wall_per_hour_s"]),
           "ipopt_per_slow_step": q(a["ipopt_per_slow_step"], b["ipopt_per_slow_step"])}
    for p in PARTS:
        out[f"{p}_mean"] = q(a[f"{p}_mean_s"], b[f"{p}_mean_s"])
        out[f"{p}_median"] = q(a[f"{p}_median_s"], b[f"{p}_median_s"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours-30", type=int, default=24, help="hours of the ieee30-acdc day (from hour 0)")
    ap.add_argument("--hours-118", type=int, default=3, help="hours of the ieee118-upfc day (from hour 0)")
    ap.add_argument("--solver", default="exact", choices=["exact", "bonmin"], help="slow-step solver")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    for name in ("hours_30", "hours_118"):
        if not 1 <= getattr(args, name) <= 24:
            ap.error(f"--{name.replace('_', '-')} must be 1..24 (the cases' day), got {getattr(args, name)}")

    from tdcoord.cases.acdc30 import ieee30_acdc
    from tdcoord.cases.acdc118 import ieee118_upfc

    t0 = time.perf_counter()
    net30 = ieee30_acdc()
    build30 = time.perf_counter() - t0
    t0 = time.perf_counter()
    net118 = ieee118_upfc()
    build118 = time.perf_counter() - t0
    print(f"cases built: ieee30-acdc {build30:.2f} s, ieee118-upfc {build118:.2f} s; scenario 'double', "
          f"slow solver {args.solver}", flush=True)
    r30 = run_case(net30, args.hours_30, args.solver)
    r30["build_s"] = build30
    print_case(r30)
    r118 = run_case(net118, args.hours_118, args.solver)
    r118["build_s"] = build118
    print_case(r118)
    rat = ratios(r30, r118)
    print("\nieee118-upfc / ieee30-acdc:")
    print("| figure | ieee30-acdc | ieee118-upfc | ratio |")
    print("|---|---|---|---|")
    print(f"| buses | {r30['buses']} | {r118['buses']} | {rat['buses']:.2f}x |")
    print(f"| UPFCs / OLTCs / banks | {r30['upfcs']} / {r30['oltcs']} / {r30['banks']} | "
          f"{r118['upfcs']} / {r118['oltcs']} / {r118['banks']} | {rat['upfcs']:.0f}x / {rat['oltcs']:.2f}x / "
          f"{rat['banks']:.2f}x |")
    print(f"| wall time per hour of the day, s | {r30['wall_per_hour_s']:.2f} | {r118['wall_per_hour_s']:.2f} | "
          f"{rat['wall_per_hour']:.2f}x |")
    print(f"| IPOPT solves per hourly slow step | {r30['ipopt_per_slow_step']:.1f} | "
          f"{r118['ipopt_per_slow_step']:.1f} | {rat['ipopt_per_slow_step']:.2f}x |")
    for p, label in (("slow", "slow step"), ("fast", "fast step"), ("weights", "weights"),
                     ("recheck", "re-check power flow")):
        print(f"| {label}, mean s | {r30[f'{p}_mean_s']:.3f} | {r118[f'{p}_mean_s']:.3f} | {rat[f'{p}_mean']:.2f}x |")
        print(f"| {label}, median s | {r30[f'{p}_median_s']:.3f} | {r118[f'{p}_median_s']:.3f} | "
              f"{rat[f'{p}_median']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"ieee30-acdc": r30, "ieee118-upfc": r118, "ratios_118_over_30": rat,
                                         "settings": {"hours_30": args.hours_30, "hours_118": args.hours_118,
                                                      "solver": args.solver}}, indent=2))


if __name__ == "__main__":
    main()
