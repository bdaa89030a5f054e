"""The smart-inverter study (seed 002) on ``ieee9+ieee13@5+ieee123@7``.

Steps, all at the study's operating point (:func:`tdcoord.cases.smart_inverters.study_point`: feeders at
half load, PV at full output):

1. The TSO-DSO loop (:func:`tdcoord.coordination.smart_inverters.solve_tso_dso_loop`):
   the TSO's reactive power optimization requests Q at the PCCs, each DSO
   answers with its capability range and a dispatch; then the same with a
   transmission line out of service. Each ends with the whole coupled
   system, every inverter on its settings, simulated by the local-control
   AC power flow.
2. At the PCC voltages the TSO settled on: each feeder with every inverter
   on the category's default volt-var curve (VRef 1.0; the DSO may only
   curtail) against the optimized modes and curves: least curtailment,
   and the PCC reactive capability range without curtailing more (two
   MILPs each), each dispatch re-checked by the local-control AC power flow.
3. The four formulations of the same MILP side by side on each feeder
   (sos1/SCIP, sos2/SCIP, binary/SCIP, binary/HiGHS): objective and time.
4. Limited observability: the ieee123 feeder's sensitivities estimated by
   RLS at the inverter buses from noisy measurements; dispatch with the
   estimate against dispatch with the model's sensitivities, both seeing
   only the measured buses, re-checked by AC at every bus.
5. Optionally (``periods`` > 0), the multi-period model of the ieee123
   feeder over that many hours of the built-in day
   (:mod:`tdcoord.cases.profiles`), spaced evenly from noon
   (:func:`~tdcoord.problems.inverter_dispatch.spread_periods`: 2 hours
   are 00:00 and 12:00, 24 every hour), one setting per inverter for the
   horizon, timed in every formulation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tdcoord.cases.profiles import attach_profiles
from tdcoord.cases.smart_inverters import FEEDER_LOAD, PV_OUTPUT, TRANSMISSION_LOAD, study_point
from tdcoord.coordination.sensitivity_estimation import estimate_sensitivities, estimated_linearization
from tdcoord.coordination.smart_inverters import solve_dispatch_corrected, feeder_view, recheck, solve_tso_dso_loop
from tdcoord.errors import InputError, SolveError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.inverter_dispatch import (DispatchOptions, linearize, solve_dispatch, solve_pcc_capability,
                                              spread_periods)

FORMS = (("sos1", "SCIP"), ("sos2", "SCIP"), ("binary", "SCIP"), ("binary", "HIGHS"))
FORM_KEYS = {("sos1", "SCIP"): "sos1", ("sos2", "SCIP"): "sos2", ("binary", "SCIP"): "binary_scip",
             ("binary", "HIGHS"): "binary_highs"}
PAPER = {"curtailment_pct": {"default_vv": 14.0, "optimized": 0.0}, "pcc_q_range_mvar": {"default_vv": 0.7,
         "optimized": 2.3}, "runtime": "SOS1 an order of magnitude faster than a binary MILP",
         "loop_iterations": "5-10", "band_pu": [0.95, 1.05]}


@dataclass
class SmartInverterSettings:
    feeder_load: float = FEEDER_LOAD
    pv: float = PV_OUTPUT
    transmission_load: float = TRANSMISSION_LOAD
    category: str = "B"
    band: tuple[float, float] = (0.95, 1.05)
    # variations (pv, load) of the point that one setting must also hold, the forecast first, e.g.
    # ((1, 1), (0.5, 1)) for a cloud halving PV within the interval (None: the forecast only; see the docs for
    # what the variations cost in solve time)
    scenarios: tuple[tuple[float, float], ...] | None = None
    outage_line: int | None = 1  # ieee9 line 4-5
    loop_form: str = "binary"  # the fastest single-period form measured (see docs/smart-inverters.md)
    loop_solver: str = "HIGHS"
    time_limit_s: float = 120.0
    rls_steps: int = 300
    rls_noise_pu: float = 2e-4
    rls_forgetting: float = 0.99
    seed: int = 0
    periods: int = 0  # the multi-period scale run on ieee123 (0: not run)
    scale_feeder: str = "ieee123@7"
    rls_feeder: str = "ieee123@7"

    def check(self) -> None:
        if not 0 < self.band[0] < self.band[1]:
            raise InputError(f"voltage band {self.band}: expected 0 < low < high")
        if not 0 <= self.periods <= 24:
            raise InputError(f"periods {self.periods}: expected 0 (no multi-period run) to 24")
        if self.time_limit_s <= 0:
            raise InputError(f"time limit {self.time_limit_s}: expected > 0 s")
        if self.rls_steps < 2:
            raise InputError(f"RLS steps {self.rls_steps}: expected 2 or more")
        if self.seed < 0:
            raise InputError(f"seed {self.seed}: expected an integer >= 0")


def _opts(st: SmartInverterSettings, **kw: object) -> DispatchOptions:
    base = DispatchOptions(form=st.loop_form, solver=st.loop_solver, category=st.category, v_band=st.band,
                           time_limit_s=st.time_limit_s, scenarios=st.scenarios)
    return replace(base, **kw)


def _scenario(view, lin, st: SmartInverterSettings, menu: str) -> dict:
    """Least curtailment with ``menu``, its AC re-check, and the PCC range without curtailing more."""
    o = _opts(st, menu=menu)
    disp = solve_dispatch(lin, o)
    if not disp.ok:
        return {"status": disp.status, "solver_status": disp.solver_status}
    chk = recheck(view, lin, disp, 0, st.band, st.category)
    others = [recheck(view, lin, disp, k, st.band, st.category) for k in range(1, lin.periods)]
    lo, hi = solve_pcc_capability(lin, o, curtailment_cap_mwh=float(disp.curtailment_by_column.sum()) + 1e-4)
    return {"status": disp.status, "dispatch": disp, "check": chk, "scenario_checks": others,
            "curtailment_mw": disp.curtailment_mwh, "available_mw": disp.available_mwh,
            "q_range": (lo.q_pcc_point, hi.q_pcc_point), "q_range_ok": lo.ok and hi.ok}


def _formulations(lin, st: SmartInverterSettings, feeder: str, periods: int) -> list[dict]:
    rows = []
    for form, solver in FORMS:
        d = solve_dispatch(lin, _opts(st, form=form, solver=solver))
        rows.append({"feeder": feeder, "periods": periods, "form": form, "solver": solver,
                     "key": FORM_KEYS[(form, solver)], "status": d.status, "objective": d.objective,
                     "time_s": d.time_s, "build_s": d.build_s, "nodes": d.info.get("nodes"),
                     "mip_gap": d.info.get("mip_gap"), "curtailment_mwh": d.curtailment_mwh})
    return rows


def run_study(st: SmartInverterSettings | None = None, cs: CoupledSystem | None = None) -> dict:
    """Run the study; returns the summary (JSON-ready) and the tables (DataFrames) under ``tables``."""
    from tdcoord.cases import load_case

    st = st or SmartInverterSettings()
    st.check()
    t0 = time.perf_counter()
    registered = cs if cs is not None else load_case("ieee9+ieee13@5+ieee123@7")
    system = study_point(registered, st.feeder_load, st.pv, st.transmission_load)
    out: dict = {"case": system.name, "category": st.category, "band_pu": list(st.band), "paper": PAPER,
                 "variations": [list(sc) for sc in st.scenarios] if st.scenarios else None,
                 "operating_point": {"feeder_load": st.feeder_load, "pv": st.pv,
                                     "transmission_load": st.transmission_load}}
    tables: dict[str, pd.DataFrame] = {}
    timings: dict[str, float] = {}

    # 1. the TSO-DSO loop, normal and with the outage
    t = time.perf_counter()
    loop = solve_tso_dso_loop(system, _opts(st))
    timings["loop"] = time.perf_counter() - t
    loops = {"normal": loop}
    if st.outage_line is not None:
        t = time.perf_counter()
        loops["outage"] = solve_tso_dso_loop(system, _opts(st), outage=st.outage_line)
        timings["loop_outage"] = time.perf_counter() - t
    hist = []
    for name, lp in loops.items():
        h = lp.history.copy()
        h.insert(0, "case", name)
        hist.append(h)
    tables["loop"] = pd.concat(hist, ignore_index=True)
    out["loop_iterations"] = loop.iterations
    out["loop"] = {name: {"converged": lp.converged, "iterations": lp.iterations, "outage_line": lp.outage,
                          "time_s": lp.time_s, "system_check": lp.system_check,
                          "tso_p_loss_mw": lp.tso.get("p_loss_mw"),
                          "requests_mvar": lp.tso.get("request"), "vm_pcc_pu": lp.tso.get("vm_pcc"),
                          "correction_passes": {f: c.passes for f, c in lp.final.items()},
                          "final_mismatch_q_mvar": float(lp.history[lp.history.iteration == lp.iterations]
                                                         .mismatch_q_mvar.max())}
                   for name, lp in loops.items()}

    # 2. default volt-var against optimized droop, at the PCC voltages of the loop
    vm_pcc = loop.tso.get("vm_pcc") or {}
    scen: dict[str, dict[str, dict]] = {"default_vv": {}, "optimized": {}}
    volt_rows, inv_rows, form_rows = [], [], []
    lins = {}
    for f in system.feeders:
        view = feeder_view(system, f, vm_pcc.get(f))
        lin = linearize(view, scenarios=st.scenarios)
        lins[f] = (view, lin)
        for key, menu in (("default_vv", "default-vv"), ("optimized", "full")):
            scen[key][f] = _scenario(view, lin, st, menu)
        for key in scen:
            r = scen[key][f]
            if "check" in r:
                for bus, v in r["check"].vm_pu.items():
                    volt_rows.append({"feeder": f, "bus": bus, "scenario": key, "vm_pu": float(v)})
        for key in scen:
            r = scen[key][f]
            if "dispatch" not in r:
                continue
            d = r["dispatch"]
            for k, i in enumerate(lin.index):
                inv_rows.append({"feeder": f, "sgen": int(i), "bus": d.inverters.loc[i, "bus"], "scenario": key,
                                 "option": d.inverters.loc[i, "option"], "mode": d.inverters.loc[i, "mode"],
                                 "vref_pu": d.inverters.loc[i, "vref_pu"], "p_avail_mw": float(lin.p_avail[k, 0]),
                                 "p_mw": float(d.p_mw[k, 0]), "q_mvar": float(d.q_mvar[k, 0])})
        t = time.perf_counter()
        form_rows += _formulations(lin, st, f, 1)
        timings[f"formulations_{f}"] = time.perf_counter() - t
    out["curtailment_pct"] = {}
    out["pcc_q_range_mvar"] = {}
    out["pcc_q_range_by_feeder"] = {}
    out["scenarios"] = {}
    for key, per in scen.items():
        ok = all("dispatch" in r for r in per.values())
        cur = sum(r.get("curtailment_mw", 0.0) for r in per.values())
        avail = sum(r.get("available_mw", 0.0) for r in per.values())
        out["curtailment_pct"][key] = 100.0 * cur / avail if ok and avail > 0 else None
        ok_range = ok and all(r["q_range_ok"] for r in per.values())
        out["pcc_q_range_mvar"][key] = ([sum(r["q_range"][0] for r in per.values()),
                                         sum(r["q_range"][1] for r in per.values())] if ok_range else None)
        out["pcc_q_range_by_feeder"][key] = {f: list(r["q_range"]) if r.get("q_range_ok") else None
                                             for f, r in per.items()}
        out["scenarios"][key] = {f: ({"curtailment_mw": r["curtailment_mw"], "available_mw": r["available_mw"],
                                      "options": r["dispatch"].inverters.option.value_counts().to_dict(),
                                      "recheck": r["check"].as_dict(),
                                      "recheck_variations": [c.as_dict() for c in r["scenario_checks"]]}
                                     if "dispatch" in r else
                                     {"status": r["status"], "solver_status": r["solver_status"]})
                                 for f, r in per.items()}
    runtimes = pd.DataFrame(form_rows)
    big = runtimes[runtimes.feeder == "ieee123@7"] if (runtimes.feeder == "ieee123@7").any() else runtimes
    out["runtime_s"] = {r.key: float(r.time_s) for r in big.itertuples()}
    out["objective"] = {r.key: float(r.objective) for r in big.itertuples()}
    objs = big.objective.to_numpy(float)
    out["formulations_agree"] = bool(np.all(np.isfinite(objs)) and np.ptp(objs) <= 1e-5 * max(1.0, np.abs(objs).max()))

    # 3. iterative correction, on the loop's final requests
    out["correction_passes"] = {f: c.passes for f, c in loop.final.items()}

    # 4. limited observability
    t = time.perf_counter()
    view, lin = lins[st.rls_feeder]
    est = estimate_sensitivities(lin, steps=st.rls_steps, noise_pu=st.rls_noise_pu, forgetting=st.rls_forgetting,
                                 seed=st.seed)
    tables["rls"] = pd.DataFrame({"step": np.arange(1, len(est.error) + 1), "relative_error": est.error})
    rls_cmp = {}
    for key, e in (("true", None), ("estimated", est)):
        lin_e = estimated_linearization(lin, e, est.observed)
        d = solve_dispatch(lin_e, _opts(st))
        rls_cmp[key] = ({"status": d.status, **recheck(view, lin_e, d, 0, st.band, st.category).as_dict(),
                         "curtailment_mw": d.curtailment_mwh} if d.ok else {"status": d.status})
    try:
        corr = solve_dispatch_corrected(view, _opts(st), lin=estimated_linearization(lin, est, est.observed))
        rls_cmp["estimated_corrected"] = {"passes": corr.passes, **corr.check.as_dict()}
    except SolveError as exc:  # the estimate can make the band look unreachable: a result, not a crash
        rls_cmp["estimated_corrected"] = {"status": "failed", "message": str(exc)}
    out["rls_error"] = est.final_error
    out["rls"] = {"feeder": st.rls_feeder, "observed_buses": [str(lin.labels[b]) for b in est.observed],
                  "steps": est.steps, "noise_pu": est.noise_pu, "noise_mvar": est.noise_mvar,
                  "forgetting": est.forgetting, "seed": est.seed,
                  "error_at": {str(k): float(est.error[k - 1]) for k in (1, 10, 50, 100, est.steps)
                               if k <= len(est.error)},
                  "dispatch": rls_cmp}
    timings["rls"] = time.perf_counter() - t

    # 5. the multi-period model
    if st.periods:
        t = time.perf_counter()
        day = attach_profiles(registered)
        view_d = feeder_view(day, st.scale_feeder, vm_pcc.get(st.scale_feeder))
        hours = spread_periods(st.periods)
        lin_d = linearize(view_d, periods=hours)
        rows = _formulations(lin_d, st, st.scale_feeder, st.periods)
        runtimes = pd.concat([runtimes, pd.DataFrame(rows)], ignore_index=True)
        out["scale"] = {"feeder": st.scale_feeder, "periods": st.periods, "hours": hours,
                        "runtime_s": {r["key"]: r["time_s"] for r in rows},
                        "objective": {r["key"]: r["objective"] for r in rows},
                        "status": {r["key"]: r["status"] for r in rows}}
        timings["scale"] = time.perf_counter() - t
    tables["runtimes"] = runtimes

    # voltages after the AC re-checks, the outage included
    checks = [lp.system_check for lp in loops.values()]
    checks += [r["check"].as_dict() for r in scen["optimized"].values() if "check" in r]
    checks += [c.as_dict() for r in scen["optimized"].values() for c in r.get("scenario_checks", [])]
    out["vm_min_pu"] = float(min(c["vm_min_pu"] for c in checks))
    out["vm_max_pu"] = float(max(c["vm_max_pu"] for c in checks))
    out["violations"] = int(sum(c["violations"] for c in checks))
    tables["voltages"] = pd.DataFrame(volt_rows)
    tables["inverters"] = pd.DataFrame(inv_rows)
    out["timings_s"] = timings
    out["time_s"] = time.perf_counter() - t0
    out["tables"] = tables
    out["_curves"] = {f: (scen["default_vv"][f].get("dispatch"), scen["optimized"][f].get("dispatch"), lins[f][1])
                      for f in system.feeders}
    return out


__all__ = ["FORMS", "PAPER", "SmartInverterSettings", "run_study"]
