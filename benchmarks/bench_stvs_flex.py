"""Speed of the flexibility schedule (``tdcoord study stvs-flex``): one 24 h schedule, and the whole study.

One run, on the base case: the day's MILP (DC transmission, two LinDistFlow
feeders, deep peak shaving, flexibility and tail penalties) solved
``--repeats`` times with voltage control and once without, the AC re-check of
its 24 hours, and, with ``--model``, the whole study (three methods, the STVS
loop, the confirming simulations, the eps sweep) on ``--workers`` processes,
against the serial assessment of the same hours.

    python benchmarks/bench_stvs_flex.py [--repeats 3] [--model cnn.pt] [--workers 2] [--serial]

Targets: one schedule <= 5 s; the whole study <= 5 min with the surrogate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from tdcoord.cases.stvs_flex import flex_data, flex_system
from tdcoord.execution import make_executor
from tdcoord.problems.flex_check import recheck
from tdcoord.problems.flex_schedule import solve_schedule, system_profiles
from tdcoord.studies.stvs_flex import StvsFlexSettings, run_study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default=None, help="a surrogate from `tdcoord stvs train` (the whole study)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--serial", action="store_true", help="also run the study with serial assessments")
    args = ap.parse_args()
    for pen in ("base", "high"):
        data = flex_data(pen)
        cs = flex_system(pen, data)
        prof = system_profiles(cs, data)
        times, builds = [], []
        for _ in range(args.repeats):
            s = solve_schedule(cs, data, voltage_control=True, profiles=prof)
            times.append(s.time_s)
            builds.append(s.build_s)
        s1 = solve_schedule(cs, data, voltage_control=False, profiles=prof)
        t0 = time.perf_counter()
        ac = recheck(cs, s, True)
        t_ac = time.perf_counter() - t0
        print(f"{pen}: one 24 h schedule (voltage control) {statistics.median(times):.2f} s median of "
              f"{len(times)} (build {statistics.median(builds):.2f} s, {s.binaries} binaries, {s.variables} "
              f"variables); without voltage control {s1.time_s:.2f} s; AC re-check of 24 hours {t_ac:.2f} s "
              f"(V {ac.vm_min_pu:.4f}-{ac.vm_max_pu:.4f})")
    if args.model:
        runs = [("process", args.workers)] + ([("serial", 1)] if args.serial else [])
        walls = {}
        for kind, w in runs:
            t0 = time.perf_counter()
            st = run_study(StvsFlexSettings(model=args.model), executor=make_executor(kind, w if kind != "serial"
                                                                                        else None))
            walls[kind] = time.perf_counter() - t0
            print(f"whole study, base case, assessments on {kind} ({w} worker(s)): {walls[kind]:.1f} s; "
                  + "; ".join(st.notes))
        if len(walls) == 2:
            print(f"process / serial: {walls['serial'] / walls['process']:.2f}x faster")


if __name__ == "__main__":
    main()
