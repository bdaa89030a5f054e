"""Throughput of the short-term voltage stability dataset (``tdcoord stvs dataset``): serial vs process pool.

One run, fresh folders, the same seed and settings for both executors:
simulations per second, the ratio, and the wall time of 12,000 samples
(the paper's dataset) extrapolated from the larger run.

    python benchmarks/bench_stvs.py [--samples 100] [--big 500] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tdcoord.execution import make_executor
from tdcoord.studies.stvs_dataset import DatasetSettings, generate_dataset

KEY_NODES = ("14", "10", "9", "13")  # the three-step selection on the base case


def run(kind: str, samples: int, workers: int, folder: Path) -> tuple[float, object]:
    settings = DatasetSettings(samples=samples, seed=11, chunk_size=10, key_nodes=KEY_NODES)
    ex = make_executor(kind, workers if kind != "serial" else None)
    t0 = time.perf_counter()
    r = generate_dataset(folder, settings, executor=ex)
    return time.perf_counter() - t0, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100, help="samples of the serial vs process comparison")
    ap.add_argument("--big", type=int, default=500, help="samples of the process run extrapolated to 12,000 (0: none)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ts, rs = run("serial", args.samples, 1, Path(tmp) / "serial")
        tp, rp = run("process", args.samples, args.workers, Path(tmp) / "process")
        print(f"{args.samples} samples: serial {ts:.1f} s ({args.samples / ts:.2f}/s), process pool with "
              f"{args.workers} workers {tp:.1f} s ({args.samples / tp:.2f}/s): {ts / tp:.2f}x serial")
        print(f"  labels (serial run): {rs.stable} stable, {rs.unstable} unstable, {rs.failed} failed simulations")
        if args.big:
            tb, rb = run("process", args.big, args.workers, Path(tmp) / "big")
            print(f"{args.big} samples, process pool with {args.workers} workers: {tb:.1f} s ({args.big / tb:.2f}/s); "
                  f"12,000 samples extrapolated: {12000 * tb / args.big / 3600:.2f} h")
            print(f"  labels: {rb.stable} stable, {rb.unstable} unstable, {rb.failed} failed simulations")


if __name__ == "__main__":
    main()
