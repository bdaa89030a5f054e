"""DSO-led single-level MISOCP: reformulation choices side by side, in one run.

For each feeder count N in ``--feeders`` (the study system of :mod:`tdcoord.cases.dso_led`, 24 hours), the
model is solved by SCIP to ``--gap`` within ``--time-limit`` s, once per choice:

- ``sos1``: the TSO's complementarity as SOS1 sets (tdcoord's default);
- ``bigm``: big-M with bounds from the data (:func:`tdcoord.problems.dso_market.tso_dual_bounds`);
- ``sos1-nosym``: SOS1 with SCIP's symmetry handling off (``misc/usesymmetry = 0``): what symmetry handling
  does on feeders that repeat (the PV shares cycle every five feeders, and prices are the same at every bus).

Printed: a table of time, gap reached, objective and size per N and choice. Usage::

    python benchmarks/bench_dso_led.py [--feeders 2 5 10] [--choices sos1 bigm sos1-nosym] [--json FILE]

Not part of the test suite (timings are not asserted anywhere).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

CHOICES = {"sos1": ("sos1", {}), "bigm": ("bigm", {}), "sos1-nosym": ("sos1", {"misc/usesymmetry": 0})}


def run(n: int, choice: str, gap: float, time_limit: float) -> dict[str, Any]:
    import tdcoord.coordination.dso_led as dl
    from tdcoord.cases.dso_led import dso_led_system

    method, params = CHOICES[choice]
    saved = dict(dl.SCIP_PARAMS)
    dl.SCIP_PARAMS.update(params)
    try:
        system = dso_led_system(n)
        t0 = time.perf_counter()
        r = dl.solve_dso_led(system, method=method, gap=gap, time_limit=time_limit)
        wall = time.perf_counter() - t0
    finally:
        dl.SCIP_PARAMS.clear()
        dl.SCIP_PARAMS.update(saved)
    return {"feeders": n, "choice": choice, "wall_s": wall, "ok": r.ok, "status": r.status, "mip_gap": r.gap,
            "objective": float(r.solution.objective) if r.ok else None, **r.size,
            "multipliers_on_bound": r.info.get("multipliers_on_bound")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeders", type=int, nargs="+", default=[2, 5, 10])
    ap.add_argument("--choices", nargs="+", default=list(CHOICES), choices=list(CHOICES))
    ap.add_argument("--gap", type=float, default=0.005)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    rows = []
    print("| N | choice | wall s | gap reached | objective $ | variables | binaries | SOS1 sets |")
    print("|---|---|---|---|---|---|---|---|")
    for n in a.feeders:
        for c in a.choices:
            r = run(n, c, a.gap, a.time_limit)
            rows.append(r)
            obj = f"{r['objective']:.2f}" if r["objective"] is not None else "-"
            print(f"| {n} | {c} | {r['wall_s']:.1f} | {r['mip_gap']:.2e} | {obj} | {r['variables']} | "
                  f"{r['binaries']} | {r['sos1_sets']} |", flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
