"""Smart-inverter dispatch MILP: the four formulations side by side, measured in one run.

    python benchmarks/bench_smart_inverters.py [--horizons 2,4,24] [--hourly] [--time-limit 300] [--feeder ieee123@7]

One period: the study point (feeders at half load, PV at full output) with the PCC at the voltage the TSO
settles on (1.03 p.u. at bus 7). Multi-period: for each horizon T of ``--horizons``, T hours of the built-in day
(tdcoord.cases.profiles) spaced evenly from noon (inverter_dispatch.spread_periods: 2 -> 00:00 and 12:00, 24 ->
every hour), one setting per inverter for the horizon. Prints each formulation's status, objective, solver
time, its ratio to the fastest, nodes and gap; then a line per horizon with every formulation's time.
``--hourly``: the day dispatched hour by hour (a setting per hour, the real-time use): 24 single-period models per
formulation, their total, median and largest solve times.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tdcoord.cases import load_case
from tdcoord.cases.profiles import attach_profiles
from tdcoord.cases.smart_inverters import study_point
from tdcoord.coordination.smart_inverters import feeder_view
from tdcoord.problems.inverter_dispatch import DispatchOptions, linearize, solve_dispatch, spread_periods
from tdcoord.studies.smart_inverters import FORMS


def solve_forms(lin, time_limit: float, forms: tuple, change_weight: float):  # noqa: ANN201 (Dispatch, wall s)
    """Each formulation's dispatch of ``lin`` and its wall time (build and solve), keyed "form/solver"."""
    out = {}
    for form, solver in forms:
        t0 = time.perf_counter()
        d = solve_dispatch(lin, DispatchOptions(form=form, solver=solver, time_limit_s=time_limit,
                                                change_weight=change_weight))
        out[f"{form}/{solver}"] = (d, time.perf_counter() - t0)
    return out


def proven(d) -> bool:  # noqa: ANN001 (a Dispatch)
    """Optimal to the requested gap: HiGHS's optimum, or SCIP's (a stop at its gap limit is one too)."""
    return d.status == "optimal" or d.info.get("scip_status") == "gaplimit"


def run(lin, label: str, time_limit: float, forms: tuple = FORMS, change_weight: float = 1e-4) -> list[tuple]:
    rows = [(name, d.status, d.objective, d.time_s, wall, d.info.get("nodes"), d.info.get("mip_gap"), proven(d))
            for name, (d, wall) in solve_forms(lin, time_limit, forms, change_weight).items()]
    best = min((r[3] for r in rows if r[7]), default=float("nan"))
    print(f"\n{label}")
    print(f"{'formulation':14s} {'status':10s} {'objective':>14s} {'solve s':>9s} {'total s':>9s} {'x fastest':>9s}"
          f" {'nodes':>7s} {'gap':>9s}")
    for name, status, obj, ts, tt, nodes, gap, ok in rows:
        ratio = f"{ts / best:9.1f}" if ok else f"{'-':>9s}"
        print(f"{name:14s} {status:10s} {obj:14.8f} {ts:9.3f} {tt:9.3f} {ratio} {str(nodes):>7s} "
              f"{gap if gap is not None else float('nan'):9.2e}")
    return rows


def hourly(day, time_limit: float, forms: tuple, change_weight: float) -> None:
    """The day dispatched hour by hour: each hour's own single-period model in every formulation."""
    times = {f"{f}/{s}": [] for f, s in forms}
    objs = {k: [] for k in times}
    for h in range(day.n_periods):
        for key, (d, _) in solve_forms(linearize(day, periods=[h]), time_limit, forms, change_weight).items():
            times[key].append(d.time_s if proven(d) else float("nan"))
            objs[key].append(d.objective if d.ok else float("nan"))
    obj = np.array(list(objs.values()))
    spread = np.nanmax(obj, axis=0) - np.nanmin(obj, axis=0)
    best = min((sum(v) for v in times.values() if np.all(np.isfinite(v))), default=float("nan"))
    print(f"\nthe day hour by hour ({day.n_periods} single-period models per formulation, {time_limit:g} s limit)")
    print(f"{'formulation':14s} {'optimal':>8s} {'total s':>9s} {'median s':>9s} {'max s':>9s} {'x fastest':>9s}")
    for key, ts in times.items():
        v = np.array(ts)
        ok = np.isfinite(v)
        print(f"{key:14s} {int(ok.sum()):8d} {np.nansum(v):9.2f} {np.nanmedian(v):9.3f} {np.nanmax(v):9.3f} "
              f"{np.nansum(v) / best if ok.all() else float('nan'):9.1f}")
    print(f"largest difference of the formulations' objectives in an hour: {np.nanmax(spread):.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizons", default="24",
                    help="multi-period horizons, comma separated (hours spaced evenly from noon); 0: none")
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--feeder", default="ieee123@7")
    ap.add_argument("--vm-pcc", type=float, default=1.03)
    ap.add_argument("--forms", default="sos1:SCIP,sos2:SCIP,binary:SCIP,binary:HIGHS",
                    help="formulation:solver pairs, comma separated")
    ap.add_argument("--hourly", action="store_true", help="also the day hour by hour: 24 single-period models")
    ap.add_argument("--skip-single", action="store_true", help="only the multi-period model")
    ap.add_argument("--change-weight", type=float, default=1e-4,
                    help="preference for the default curve (DispatchOptions.change_weight; 0: none)")
    a = ap.parse_args()
    forms = tuple(tuple(x.split(":")) for x in a.forms.split(","))
    cs = load_case("ieee9+ieee13@5+ieee123@7")
    view = feeder_view(study_point(cs), a.feeder, a.vm_pcc)
    if not a.skip_single:
        run(linearize(view), f"{a.feeder}, one period (study point), PCC {a.vm_pcc} p.u.", a.time_limit, forms,
            a.change_weight)
    horizons = [int(x) for x in a.horizons.split(",") if int(x) > 0]
    day = feeder_view(attach_profiles(cs), a.feeder, a.vm_pcc)
    if a.hourly:
        hourly(day, a.time_limit, forms, a.change_weight)
    sweep = []
    for t in horizons:
        hours = spread_periods(t)
        label = (f"{a.feeder}, {t} hourly periods of the built-in day (hours {','.join(map(str, hours))}), one setting"
                 f" per inverter, change weight {a.change_weight}, {a.time_limit:g} s limit")
        sweep.append((t, run(linearize(day, periods=hours), label, a.time_limit, forms, a.change_weight)))
    if len(sweep) > 1:  # the horizon sweep in one table: solve time (a status where not optimal to the gap)
        print(f"\nhorizon sweep, solve s ({a.time_limit:g} s limit; a status where not optimal to the gap)")
        print(f"{'periods':>7s} " + " ".join(f"{r[0]:>20s}" for r in sweep[0][1]))
        for t, rows in sweep:
            cells = [f"{r[3]:.2f}" if r[7] else f"{r[3]:.0f} {r[1][:12]}" for r in rows]
            print(f"{t:7d} " + " ".join(f"{c:>20s}" for c in cells))


if __name__ == "__main__":
    main()
