"""Power flow speed: tdcoord vs pandapower's runpp, measured in one run.

Two comparisons per case, each the median of repeated solves:

- ``built``: the model is already built on both sides. tdcoord solves its
  compiled arrays (Newton from a flat start, result tables not built);
  pandapower re-runs with ``recycle`` so that it reuses its internal ppc,
  Ybus and lookups (it still writes its result tables).
- ``end-to-end``: from element tables to result tables on both sides
  (``run_newton`` / ``run_coupled`` vs ``runpp``).

Both solve to the same tolerance (1e-10 p.u. of power, i.e. 1e-8 MVA on a
100 MVA base) from a flat start; the largest voltage difference between the
two answers is printed as a check. Usage::

    python benchmarks/bench_pf.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np


def median_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_case(spec: str, repeat: int) -> dict:
    import pandapower as pp

    from tdcoord.cases import load_case
    from tdcoord.io.pandapower_io import to_pandapower
    from tdcoord.network.compiled import compile_network
    from tdcoord.network.coupled import CoupledSystem
    from tdcoord.pf.ac import run_newton, solve_compiled
    from tdcoord.pf.integrated import run_coupled

    system = load_case(spec)
    net = system.merge().network if isinstance(system, CoupledSystem) else system
    cn = compile_network(net)
    pnet = to_pandapower(system)
    opts = dict(trafo_model="pi", tolerance_mva=1e-8, calculate_voltage_angles=True, init="flat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(pnet, **opts)
        t_pp_built = median_time(lambda: pp.runpp(pnet, recycle=dict(bus_pq=True, trafo=False, gen=False), **opts), repeat)
        t_pp_full = median_time(lambda: pp.runpp(pnet, **opts), repeat)
    t_td_built = median_time(lambda: solve_compiled(cn, tol=1e-10), repeat)
    if isinstance(system, CoupledSystem):
        t_td_full = median_time(lambda: run_coupled(system, "merged", check=False), repeat)
        res = run_coupled(system, "merged")
    else:
        t_td_full = median_time(lambda: run_newton(net, check=False), repeat)
        res = run_newton(net)
    vm = res.res_bus.vm_pu.reindex(list(pnet.bus.name)).to_numpy()
    dv = float(np.max(np.abs(vm - pnet.res_bus.vm_pu.to_numpy())))
    return {
        "case": spec, "buses": len(net.bus), "td_built": t_td_built, "pp_built": t_pp_built,
        "td_full": t_td_full, "pp_full": t_pp_full, "dv": dv,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--cases", nargs="*", default=["ieee118", "ieee30+ieee33@6", "ieee118+ieee33@59x10+ieee33@80x10"])
    args = ap.parse_args()
    try:
        import numba  # noqa: F401

        numba_note = "pandapower with numba"
    except ImportError:
        numba_note = "pandapower without numba (pip install numba speeds its Newton up)"
    print(f"median of {args.repeat} solves; {numba_note}")
    print(f"{'case':42s} {'buses':>6s} {'built: tdcoord':>15s} {'pandapower':>11s} {'ratio':>7s} "
          f"{'end-to-end: tdcoord':>20s} {'pandapower':>11s} {'ratio':>7s} {'max |dV|':>9s}")
    for spec in args.cases:
        r = bench_case(spec, args.repeat)
        print(f"{r['case']:42s} {r['buses']:6d} {r['td_built'] * 1e3:12.2f} ms {r['pp_built'] * 1e3:8.2f} ms "
              f"{r['pp_built'] / r['td_built']:6.1f}x {r['td_full'] * 1e3:17.2f} ms {r['pp_full'] * 1e3:8.2f} ms "
              f"{r['pp_full'] / r['td_full']:6.1f}x {r['dv']:9.1e}")
    print("ratio = pandapower time / tdcoord time (above 1: tdcoord is faster)")


if __name__ == "__main__":
    main()
