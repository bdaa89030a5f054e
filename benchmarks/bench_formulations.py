"""Model layer speed: build and solve times per formulation and backend, measured in one run.

1. One problem, every formulation and backend that can hold it:
   - the DC OPF of case118 and of case1354_pegase on both backends (cvxpy:
     HiGHS and Clarabel; casadi: IPOPT), against the AC OPF (IPOPT);
   - the 33-bus feeder's loss minimization with the boundary voltage held:
     exact branch flow (IPOPT), SOC relaxation (IPOPT, Clarabel, SCIP),
     LinDistFlow (IPOPT, HiGHS, Clarabel);
   "build" is the model's construction (formulation, devices, constraints);
   "solve" the solver call, for cvxpy including its canonicalization.
2. A 24-period DC schedule of case1354_pegase with 20 batteries: ~40,000
   variables; build, then solve as an LP (HiGHS) and as a MILP with
   charge/discharge binaries (HiGHS branch and bound).
3. The AC OPF of case1354_pegase: model build (compile, formulation,
   machines and casadi's nlpsol) against IPOPT's own time.
4. ``tdcoord opt ieee118+1000xieee33 --strategy centralized --weights
   equal`` as the command line runs it (``--skip-1000`` leaves it out):
   wall time and where it goes.

Usage::

    python benchmarks/bench_formulations.py [--repeat 3] [--skip-1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

DAY = np.array([0.63, 0.62, 0.60, 0.58, 0.59, 0.65, 0.72, 0.85, 0.95, 0.99, 1.00, 0.99,
                0.93, 0.92, 0.90, 0.88, 0.90, 0.92, 0.96, 0.98, 0.96, 0.90, 0.80, 0.70])


def median(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def opf_rows(repeat: int) -> None:
    from tdcoord.cases import load_case
    from tdcoord.problems.opf import solve_opf

    print("OPF: one problem per formulation and backend (median of", repeat, "); build = total - solver")
    print(f"{'case':11s} {'model':5s} {'solver':9s} {'objective':>14s} {'build s':>8s} {'solve s':>8s} {'iter':>5s}")
    for case in ("ieee118", "pegase1354"):
        net = load_case(case)
        runs = [("acp", "nlp", None), ("dc", "nlp", None), ("dc", "conic", "HIGHS"), ("dc", "conic", "CLARABEL")]
        for form, backend, solver in runs:
            solve_opf(net, formulation=form, backend=backend, solver=solver, recheck=False)  # imports, warm caches
            t, r = median(lambda: solve_opf(net, formulation=form, backend=backend, solver=solver, recheck=False),
                          repeat)
            print(f"{case:11s} {form:5s} {r.solver:9s} {r.objective:14.4f} {r.time_s - r.solver_time_s:8.3f} "
                  f"{r.solver_time_s:8.3f} {r.iterations:5d}")


def feeder_rows(repeat: int) -> None:
    from tdcoord.backends import new_builder
    from tdcoord.cases import load_case
    from tdcoord.formulations import get_formulation
    from tdcoord.network.compiled import compile_network

    net = load_case("ieee33")
    cn = compile_network(net)
    root = int(np.flatnonzero(cn.bus_type == 3)[0])
    lo, hi = np.full(cn.n_bus, 0.9), np.full(cn.n_bus, 1.1)
    lo[root] = hi[root] = 1.0

    def build(name: str, backend: str):
        b = new_builder(backend)
        form = get_formulation(name)(b, cn, "f", vm_min=lo, vm_max=hi)
        form.constraint_power_balance((cn.p_fix - cn.p_load).reshape(-1, 1), (cn.q_fix - cn.q_load).reshape(-1, 1))
        b.objective_term("loss", form.objective_losses())
        return b

    print()
    print("33-bus feeder, minimum losses at a fixed boundary voltage (median of", repeat, ")")
    print(f"{'formulation':12s} {'solver':9s} {'losses MW':>10s} {'build s':>8s} {'solve s':>8s}")
    runs = [("branch_flow", "nlp", None), ("soc_bf", "nlp", None), ("soc_bf", "conic", "CLARABEL"),
            ("soc_bf", "conic", "SCIP"), ("lindistflow", "nlp", None), ("lindistflow", "conic", "HIGHS"),
            ("lindistflow", "conic", "CLARABEL")]
    for name, backend, solver in runs:
        tb, b = median(lambda: build(name, backend), repeat)
        kw = {} if backend == "nlp" else {"solver": solver}
        b.solve(**kw)
        ts, sol = median(lambda: build(name, backend).solve(**kw), repeat)
        print(f"{name:12s} {sol.solver:9s} {sol.terms['loss'] * cn.base_mva:10.5f} {tb:8.4f} {ts - tb:8.4f}")


def schedule_rows() -> None:
    from tdcoord.cases import load_case
    from tdcoord.problems.scheduling import solve_schedule

    net = load_case("pegase1354")
    net.set_timeseries("load", "p_mw", np.outer(DAY, net.load.p_mw))
    net.set_timeseries("load", "q_mvar", np.outer(DAY, net.load.q_mvar))
    for bus in list(net.bus.index[:20]):
        net.add_storage(bus, e_max_mwh=200.0, p_charge_max_mw=50.0, p_discharge_max_mw=50.0)
    solve_schedule(load_case("ieee9"), periods=2)  # imports
    print()
    print("24-period DC schedule of case1354_pegase with 20 batteries (linear costs: an LP / a MILP)")
    print(f"{'model':28s} {'variables':>9s} {'solver':7s} {'objective $':>14s} {'build s':>8s} {'solve s':>8s}")
    for binaries in (False, True):
        r = solve_schedule(net, formulation="dc", storage_binaries=binaries)
        what = "MILP (exclusivity binaries)" if binaries else "LP"
        print(f"{what:28s} {r.n_variables:9d} {r.solver:7s} {r.objective:14.2f} {r.build_s:8.3f} {r.solve_s:8.3f}")


def ac_build_row(repeat: int) -> None:
    from tdcoord.cases import load_case
    from tdcoord.problems.opf import solve_opf

    net = load_case("pegase1354")
    solve_opf(net, recheck=False)
    t, r = median(lambda: solve_opf(net, recheck=False), repeat)
    print()
    print(f"AC OPF case1354_pegase: build {r.time_s - r.solver_time_s:.3f} s (compile, formulation, machines, "
          f"nlpsol), IPOPT {r.solver_time_s:.3f} s, {r.iterations} iterations, objective {r.objective:.4f}")


def thousand_feeders() -> None:
    cmd = ["tdcoord", "opt", "ieee118+1000xieee33", "--strategy", "centralized", "--weights", "equal"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    strategy = [line for line in out.stdout.splitlines() if line.startswith("time (s)")]
    print()
    print(f"{' '.join(cmd)}: {wall:.1f} s wall, exit {out.returncode}; strategy time "
          f"{strategy[0].split()[-1] if strategy else 'n/a'} s (build, IPOPT, re-check)")
    phases()


def phases() -> None:
    """Where the 1000-feeder run's time goes, phase by phase (one process, the command's steps)."""
    from tdcoord.cases import load_case
    from tdcoord.coordination.common import base_case, build_strategy_result, start_point
    from tdcoord.coordination.problem import AreaProblem
    from tdcoord.problems.evaluate import evaluate
    from tdcoord.problems.rpo import AreaInputs, RpoConfig, Weights

    t = {}
    t0 = time.perf_counter()
    cs = load_case("ieee118+1000xieee33")
    t["case"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pf = base_case(cs)
    t["base power flow"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate(cs, pf, Weights())
    t["base evaluation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    inputs = AreaInputs(cs)
    starts = start_point(cs, pf, inputs)
    t["start point (feeders prepared)"] = time.perf_counter() - t0
    cfg = RpoConfig(weights=Weights())
    t0 = time.perf_counter()
    p = AreaProblem(cs, cfg, ["T"] + list(cs.boundary.index), coupling="equal", starts=starts, inputs=inputs)
    t["model (areas)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    p.b.build()
    t["nlpsol"] = time.perf_counter() - t0
    sol = p.solve()
    t["IPOPT"] = sol.time_s
    t0 = time.perf_counter()
    sols = p.solutions(sol)
    t["solution values"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_strategy_result(cs, "centralized", sols, status=sol.solver_status, converged=True, time_s=0.0,
                          iterations=sol.iterations, weights=cfg.weights, report_optimizer_vm=True,
                          floats_per_iteration=0, floats_total=0, solver_objective=sol.objective)
    t["re-check, evaluation, tables"] = time.perf_counter() - t0
    print(f"  phases ({p.b.__dict__.get('templates')} feeder templates, {sol.iterations} IPOPT iterations):")
    for k, v in t.items():
        print(f"    {k:34s} {v:7.2f} s")
    print(f"    {'sum':34s} {sum(t.values()):7.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-1000", action="store_true", help="leave out the 1000-feeder command")
    args = ap.parse_args()
    opf_rows(args.repeat)
    feeder_rows(args.repeat)
    schedule_rows()
    ac_build_row(args.repeat)
    if not args.skip_1000:
        thousand_feeders()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
