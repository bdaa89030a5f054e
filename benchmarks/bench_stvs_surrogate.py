"""The STVS surrogate against time-domain simulation: learning curve, accuracy, and assessment speed.

Trains the CNN (``tdcoord stvs train``) on growing parts of a dataset and
judges each on the same held-out samples, beside gradient boosting and the
majority class; then times the assessment of one operating point (the
CNN's window simulations and predictions) against whole simulations of the
same faults, in one run.

    python benchmarks/bench_stvs_surrogate.py --data DIR [--test-data DIR] [--sizes 250,500,1000,2000]
"""

from __future__ import annotations

import argparse
import time

from tdcoord.stability.surrogate import TrainSettings
from tdcoord.studies.stvs_surrogate import train_on_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="dataset folder (tdcoord stvs dataset)")
    ap.add_argument("--test-data", default=None, help="separate test dataset (default: 100 held out of --data)")
    ap.add_argument("--sizes", default="250,500,1000,2000", help="training sizes of the learning curve")
    ap.add_argument("--test-samples", type=int, default=100, help="held out of --data without --test-data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--class-weight", default="none")
    args = ap.parse_args()
    sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    st = TrainSettings(seed=args.seed, class_weight=args.class_weight)
    model, rep = train_on_dataset(args.data, st, test_samples=args.test_samples, test_folder=args.test_data,
                                  curve=sizes)
    print(f"test: {rep.test_samples} samples ({rep.unstable_test} unstable); {rep.unlabelled} failed simulations "
          "of the data left out")
    print(f"{'train':>6} {'CNN acc.':>9} {'balanced':>9} {'VDSI MAE':>9} {'VDSI rel.%':>10} {'GBM acc.':>9} "
          f"{'GBM bal.':>9} {'epochs':>6} {'train s':>8}")
    rows = rep.learning_curve + [{k: getattr(rep, k) for k in rep.learning_curve[0]}] if rep.learning_curve else \
        [{k: getattr(rep, k) for k in ("train_samples", "accuracy", "balanced_accuracy", "vdsi_mae",
                                       "vdsi_rel_error_pct", "baseline_accuracy", "baseline_balanced_accuracy",
                                       "epochs", "train_time_s")}]
    for r in rows:
        print(f"{r['train_samples']:>6} {r['accuracy']:>9.3f} {r['balanced_accuracy']:>9.3f} {r['vdsi_mae']:>9.4f} "
              f"{r['vdsi_rel_error_pct']:>10.1f} {r['baseline_accuracy']:>9.3f} "
              f"{r['baseline_balanced_accuracy']:>9.3f} {r['epochs']:>6} {r['train_time_s']:>8.1f}")
    print(f"majority class: {rep.majority_accuracy:.3f}; confusion of the largest (simulated x predicted): "
          f"{rep.confusion}")

    from tdcoord.cases.stvs_flex import stvs_flex_system
    from tdcoord.stability.time_domain import T_FAULT, FaultSpec, simulate
    from tdcoord.studies.stvs_dataset import sample_operating_point, uniform_point
    from tdcoord.studies.stvs_surrogate import assess

    base = stvs_flex_system()
    op = sample_operating_point(base, uniform_point(base))
    faults = [FaultSpec(b, T_FAULT + 0.2) for b in model.key_nodes]
    a = assess(model, op, faults)
    t0 = time.perf_counter()
    for f in faults:
        simulate(op, f)
    t_sim = time.perf_counter() - t0
    print(f"assessing {len(faults)} faults on the base point: surrogate {a.time_s:.2f} s (windows "
          f"{a.window_time_s:.2f} s), whole simulations {t_sim:.2f} s: {t_sim / a.time_s:.1f}x")
    from tdcoord.studies.stvs_surrogate import labelled

    x = labelled(args.test_data or args.data).x[:100]
    t0 = time.perf_counter()
    for _ in range(10):
        model.predict(x)
    t_pred = (time.perf_counter() - t0) / (10 * len(x))
    print(f"CNN alone (inputs measured, as online): {1e3 * t_pred:.3f} ms per fault, "
          f"{t_sim / len(faults) / t_pred:,.0f}x faster than a whole simulation")


if __name__ == "__main__":
    main()
