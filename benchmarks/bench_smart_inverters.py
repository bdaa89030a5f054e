"""Smart-inverter dispatch MILP: the four formulations side by side, measured in one run.

    python benchmarks/bench_smart_inverters.py [--periods 24] [--time-limit 300] [--feeder ieee123@7]

One period: the study point (feeders at half load, PV at full output) with the PCC at the voltage the TSO
settles on (1.03 p.u. at bus 7). Multi-period: the built-in day (tdcoord.cases.profiles), hours 0..periods-1,
one setting per inverter for the horizon. Prints each formulation's status, objective, solver time and its
ratio to the fastest.
"""

from __future__ import annotations

import argparse
import time

from tdcoord.cases import load_case
from tdcoord.cases.profiles import attach_profiles
from tdcoord.cases.smart_inverters import study_point
from tdcoord.coordination.smart_inverters import feeder_view
from tdcoord.problems.inverter_dispatch import DispatchOptions, linearize, solve_dispatch
from tdcoord.studies.smart_inverters import FORMS


def run(lin, label: str, time_limit: float, forms: tuple = FORMS, change_weight: float = 1e-4) -> None:
    rows = []
    for form, solver in forms:
        t0 = time.perf_counter()
        d = solve_dispatch(lin, DispatchOptions(form=form, solver=solver, time_limit_s=time_limit,
                                                change_weight=change_weight))
        rows.append((f"{form}/{solver}", d.status, d.objective, d.time_s, time.perf_counter() - t0,
                     d.info.get("nodes"), d.info.get("mip_gap")))
    best = min((r[3] for r in rows if r[1] in ("optimal", "acceptable")), default=float("nan"))
    print(f"\n{label}")
    print(f"{'formulation':14s} {'status':10s} {'objective':>14s} {'solve s':>9s} {'total s':>9s} {'x fastest':>9s}"
          f" {'nodes':>7s} {'gap':>9s}")
    for name, status, obj, ts, tt, nodes, gap in rows:
        print(f"{name:14s} {status:10s} {obj:14.8f} {ts:9.3f} {tt:9.3f} {ts / best:9.1f} {str(nodes):>7s} "
              f"{gap if gap is not None else float('nan'):9.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=int, default=24)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--feeder", default="ieee123@7")
    ap.add_argument("--vm-pcc", type=float, default=1.03)
    ap.add_argument("--forms", default="sos1:SCIP,sos2:SCIP,binary:SCIP,binary:HIGHS",
                    help="formulation:solver pairs, comma separated")
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
    if a.periods:
        day = feeder_view(attach_profiles(cs), a.feeder, a.vm_pcc)
        run(linearize(day, periods=a.periods), f"{a.feeder}, {a.periods} hourly periods of the built-in day, "
            f"one setting per inverter, change weight {a.change_weight}", a.time_limit, forms, a.change_weight)


if __name__ == "__main__":
    main()
