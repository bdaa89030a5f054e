"""Scaling sweep: centralized vs ADMM on ieee118 with N ieee33 feeders.

Runs ``tdcoord bench scale --feeders N --json ...`` once per N (each in a
fresh process, so that peak memory is per run), collects the results, and
prints a table and the exponent b of a least-squares fit time ~ a N^b for
each strategy (and for ADMM's time per iteration). Usage::

    python benchmarks/bench_scale.py --feeders 10 50 200 1000 --executor process --workers 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def run(n: int, executor: str, workers: int | None, tol: float, max_iter: int, batch: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        cmd = [sys.executable, "-m", "tdcoord", "bench", "scale", "--feeders", str(n), "--executor", executor,
               "--tol", str(tol), "--max-iter", str(max_iter), "--batch", str(batch), "--json", str(out)]
        if workers:
            cmd += ["--workers", str(workers)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0 or not out.exists():
            raise RuntimeError(f"N={n}: tdcoord bench scale failed ({p.returncode}):\n{p.stderr[-2000:]}")
        return json.loads(out.read_text())


def slope(ns: list[int], ts: list[float]) -> float:
    x, y = np.log(np.asarray(ns, float)), np.log(np.asarray(ts, float))
    return float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeders", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--executor", default="serial", choices=["serial", "process", "ray"])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--tol", type=float, default=1e-2)
    ap.add_argument("--max-iter", type=int, default=300)
    ap.add_argument("--batch", type=int, default=50, help="feeders a worker solves together (1: one by one)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--json", type=Path, default=None, help="write all results here")
    args = ap.parse_args()
    rows = []
    for n in args.feeders:
        r = run(n, args.executor, args.workers, args.tol, args.max_iter, args.batch, args.timeout)
        rows.append(r)
        c, a = r.get("centralized", {}), r.get("admm", {})
        print(f"N={n:5d} buses={r['buses']:6d} build {r['build_time_s']:6.1f} s  centralized {c.get('time_s', float('nan')):7.1f} s"
              f"  ADMM {a.get('time_s', float('nan')):7.1f} s ({a.get('iterations', 0)} it, "
              f"{a.get('time_per_iteration_s', float('nan')):.3f} s/it, conv {a.get('converged')})"
              f"  gap {r.get('gap', float('nan')):+.1e}  peak {r['peak_memory_mb']:.0f} MB", flush=True)
    ns = [r["feeders"] for r in rows]
    print()
    print("| N | buses | build s | centralized s | ADMM s | ADMM iterations | ADMM s/iteration | gap | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, a = r.get("centralized", {}), r.get("admm", {})
        print(f"| {r['feeders']} | {r['buses']} | {r['build_time_s']:.1f} | {c.get('time_s', float('nan')):.1f} | "
              f"{a.get('time_s', float('nan')):.1f} | {a.get('iterations', '-')} | {a.get('time_per_iteration_s', float('nan')):.3f} | "
              f"{r.get('gap', float('nan')):+.1e} | {r['peak_memory_mb']:.0f} |")
    print()
    for name, key in (("centralized", ("centralized", "time_s")), ("ADMM", ("admm", "time_s")),
                      ("ADMM per iteration", ("admm", "time_per_iteration_s")), ("ADMM iterations", ("admm", "iterations"))):
        ts = [r.get(key[0], {}).get(key[1]) for r in rows]
        ok = [(n, t) for n, t in zip(ns, ts) if t]
        if len(ok) >= 2:
            print(f"growth exponent of {name}: {slope(*zip(*ok)):.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
