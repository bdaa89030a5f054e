"""Optimization speed, measured in one run.

1. AC OPF: tdcoord ``opf`` vs pandapower ``runopp`` on case30 and case118,
   the same problem under pandapower's conventions (current limits,
   ``flow_limit="current"``), objectives compared; median of repeated
   solves, each side building its model inside the timed call (tdcoord:
   model build + IPOPT; pandapower: its ppc conversion + PIPS).
2. Joint T-D optimization: centralized vs ADMM (serial executor) on the
   default case and on ieee118 with 20 ieee33 feeders: wall time, ADMM's
   critical path (sum over iterations of the slowest subproblem, the time
   with one worker per subproblem), iterations and objective gap.

Usage::

    python benchmarks/bench_opt.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings


def timed(fn, repeat: int):
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_opf(repeat: int) -> None:
    import pandapower as pp

    from tdcoord.cases import load_case
    from tdcoord.io.pandapower_io import to_pandapower
    from tdcoord.problems.opf import solve_opf

    print("AC OPF, pandapower conventions (current limits); median of", repeat)
    print(f"{'case':10s} {'tdcoord $/h':>14s} {'pandapower $/h':>15s} {'rel. diff':>10s} {'tdcoord s':>10s} {'pandapower s':>13s} {'ratio':>7s}")
    for name in ("case30", "ieee118"):
        net = load_case(name)
        t_td, r = timed(lambda: solve_opf(net, flow_limit="current"), repeat)
        pnet = to_pandapower(net, with_costs=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_pp, _ = timed(lambda: pp.runopp(pnet, init="flat", calculate_voltage_angles=True), repeat)
        obj_pp = float(pnet.res_cost)
        print(f"{name:10s} {r.objective:14.4f} {obj_pp:15.4f} {abs(r.objective - obj_pp) / obj_pp:10.1e} "
              f"{t_td:10.3f} {t_pp:13.3f} {t_pp / t_td:6.1f}x")
    print("ratio = pandapower time / tdcoord time")


def bench_td(spec: str, band) -> None:
    from tdcoord.cases import load_case
    from tdcoord.studies.comparison import compare

    cs = load_case(spec)
    comp = compare(cs, strategies=("centralized", "admm"), weights="equal", vm_band=band)
    c, a = comp.results["centralized"], comp.results["admm"]
    crit = a.admm.time_critical_path_s if a.admm else float("nan")
    print(f"{spec:28s} {len(cs.feeders):4d} {c.time_s:9.2f} {a.time_s:9.2f} {crit:11.2f} {a.iterations:6d} "
          f"{'yes' if a.converged else 'no':>5s} {(a.objective - c.objective) / c.objective:10.1e} "
          f"{a.time_s / c.time_s:8.2f}x {crit / c.time_s:8.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    bench_opf(args.repeat)
    print()
    print("joint T-D optimization, weights alpha = beta = gamma = 1, serial executor")
    print(f"{'case':28s} {'feeders':>4s} {'central s':>9s} {'ADMM s':>9s} {'ADMM crit s':>11s} {'iter':>6s} {'conv':>5s} "
          f"{'obj. gap':>10s} {'ADMM/cen':>9s} {'crit/cen':>9s}")
    bench_td("ieee30+ieee33@6", (0.95, 1.05))
    bench_td("ieee118+20xieee33", (0.9, 1.1))
    print("obj. gap = (ADMM - centralized) / centralized, both re-checked by power flow")


if __name__ == "__main__":
    main()
