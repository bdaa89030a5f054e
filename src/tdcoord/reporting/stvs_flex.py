"""Outputs of the T-D scheduling study with flexibility and STVS (:mod:`tdcoord.studies.stvs_flex`, seed 001).

Written into the output folder, read from the study's results only:

- ``summary.json``: :func:`tdcoord.studies.stvs_flex.summary` (the contract keys ``methods``,
  ``flex_margins_mw``, ``eps`` first) with plain numbers, plus ``files``: every file written (itself included);
- ``hourly_<case>.csv``: one row per hour and method: the AC re-check (converged, largest and smallest voltage
  over all buses and over the feeders' buses, violations in that hour in all and by kind, slack and loss MW),
  transmission load shed, then per feeder the scheduled exchange (``boundary_mw:<feeder>``, MW T -> feeder,
  ``boundary_mvar:<feeder>``) and scheduled source voltage (``root_vm:<feeder>``), the AC power flow's exchange
  (``ac_boundary_mw:<feeder>``, ``ac_boundary_mvar:<feeder>``) and the substation tap (``tap:<feeder>``), then
  every unit's output (``gen_mw:<unit>``); a hour whose power flow did not converge has empty AC cells;
- ``flex_<case>.csv``: the proposed method's flexibility balance per hour: the demand (``demand_up_mw`` >= 0,
  ``demand_down_mw`` <= 0), every source's available margin (``margin_up_mw:<source>``,
  ``margin_down_mw:<source>``, both >= 0), those summed by kind as in Table 5 (``thermal_up_mw``, ...,
  ``distribution_down_mw``, >= 0), the uncovered demand (``shortfall_up_mw``, ``shortfall_down_mw``) and each
  feeder's surplus over its own demand (``surplus_up_mw:<feeder>``, ``surplus_down_mw:<feeder>``);
- ``costs_<case>.csv``: one row per method: total, operating and flexibility risk cost, the objective and every
  cost term of the schedule ($ over the day);
- ``eps_sweep.csv`` (when the sweep ran): one row per ``eps`` of the first case's sensitivity sweep;
- ``bus_voltages_<case>_<method>.csv``: the AC re-check's bus voltages (p.u.), one row per hour, one column per
  bus labelled as in the power flow (transmission buses by number, feeder buses ``<feeder>:<bus>``); with the
  hourly table's unit outputs, exchanges and taps they hold the whole operating point of every hour;
- figures mirroring the paper: ``fig7_voltages_<case>.png`` (``fig8_voltages_high.png`` for the high
  penetration case: Fig. 8), the hourly largest and smallest feeder voltage of the three methods after the AC
  re-check with the band; of the first case's proposed schedule ``fig9_flexibility.png`` (thermal, hydro and
  distribution margins against the demand), ``fig10_dn_surplus.png`` (each feeder's surplus),
  ``fig11_boundary.png`` (each feeder's scheduled exchange, proposed against method 2); ``pareto_eps.png``
  (operating cost against flexibility risk cost, labelled by ``eps``) when the sweep ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.problems.flex_schedule import VM_BAND
from tdcoord.reporting.files import save_figure, write_summary
from tdcoord.results.serialize import atomic_path, plain
from tdcoord.studies.stvs_flex import METHODS, CaseResult, MethodResult, StvsFlexStudy, source_kinds, summary

#: line colour and marker of each method in the figures
STYLE = {"method1": ("#8c8c8c", "o"), "method2": ("#4c72b0", "s"), "proposed": ("#c44e52", "^")}
#: the kinds of flexibility source (Table 5, Fig. 9) and their colours
KIND_COLORS = {"thermal": "#dd8452", "hydro": "#4c72b0", "distribution": "#55a868"}


def _write_csv(df: pd.DataFrame, path: Path, index: bool = True) -> Path:
    """``df`` to ``path`` through a temporary file and a rename (never a half-written table); returns ``path``."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index)
    return path


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def voltage_figure_name(case: str) -> str:
    """The voltage figure of a case: the paper's Fig. 8 for the high penetration case, else Fig. 7."""
    return "fig8_voltages_high.png" if case == "high" else f"fig7_voltages_{case}.png"


def kinds(case: CaseResult, method: str = "proposed") -> dict[str, list[str]]:
    """The flexibility sources of each kind (Table 5) in ``case``'s ``method`` schedule."""
    return source_kinds(case.methods[method].schedule, case.data)


# ------------------------------------------------------------------ tables
def hourly_table(case: CaseResult) -> pd.DataFrame:
    """One row per method and hour: the AC re-check and the schedule (see the module docstring)."""
    rows = []
    for name, mr in case.methods.items():
        s, ac = mr.schedule, mr.ac
        feeders = list(s.boundary_mw)
        kinds_seen = sorted({k for hc in ac.hours for k in hc.violations})
        for h, hc in enumerate(ac.hours):
            ok = bool(hc.converged)
            row: dict[str, Any] = {
                "hour": h, "method": name, "converged": ok, "vm_max_pu": _nan(hc.vm_max_pu),
                "vm_min_pu": _nan(hc.vm_min_pu), "vm_max_feeder_pu": _nan(hc.vm_max_feeder_pu),
                "vm_min_feeder_pu": _nan(hc.vm_min_feeder_pu),
                "violations": hc.n_violations if ok else None,
                **{f"violations:{k}": int(hc.violations.get(k, 0)) if ok else None for k in kinds_seen},
                "slack_mw": _nan(hc.slack_mw), "loss_mw": _nan(hc.loss_mw), "shed_mw": float(s.shed_mw[h])}
            for f in feeders:
                row[f"boundary_mw:{f}"] = float(s.boundary_mw[f][h])
                row[f"boundary_mvar:{f}"] = float(s.boundary_mvar[f][h])
                row[f"root_vm:{f}"] = float(s.root_vm[f][h])
                row[f"ac_boundary_mw:{f}"] = _nan(hc.boundary_mw.get(f))
                row[f"ac_boundary_mvar:{f}"] = _nan(hc.boundary_mvar.get(f))
                row[f"tap:{f}"] = _nan(hc.taps.get(f))
            for u, p in s.gen_mw.items():
                row[f"gen_mw:{u}"] = float(p[h])
            rows.append(row)
    return pd.DataFrame(rows).set_index(["method", "hour"])


def flex_table(case: CaseResult, method: str = "proposed") -> pd.DataFrame:
    """The flexibility balance of ``method``'s schedule per hour (see the module docstring)."""
    s = case.methods[method].schedule
    T = len(s.demand_mw["up"])
    cols: dict[str, Any] = {"demand_up_mw": s.demand_mw["up"], "demand_down_mw": s.demand_mw["down"]}
    for src, m in s.margins_mw.items():
        cols[f"margin_up_mw:{src}"] = m["up"]
        cols[f"margin_down_mw:{src}"] = m["down"]
    for kind, names in kinds(case, method).items():
        for d in ("up", "down"):
            cols[f"{kind}_{d}_mw"] = sum((np.asarray(s.margins_mw[n][d], float) for n in names), np.zeros(T))
    cols["shortfall_up_mw"] = s.shortfall_mw["up"]
    cols["shortfall_down_mw"] = s.shortfall_mw["down"]
    for f, v in s.surplus_mw.items():
        cols[f"surplus_up_mw:{f}"] = v["up"]
        cols[f"surplus_down_mw:{f}"] = v["down"]
    df = pd.DataFrame({k: np.asarray(v, float) for k, v in cols.items()})
    df.index.name = "hour"
    return df


def costs_table(case: CaseResult) -> pd.DataFrame:
    """One row per method: the cost totals of :meth:`MethodResult.summary` and every term of the schedule."""
    terms = list(dict.fromkeys(k for mr in case.methods.values() for k in mr.schedule.costs))
    rows = []
    for name, mr in case.methods.items():
        sm = mr.summary()
        rows.append({"method": name, "cost": sm["cost"], "operating_cost": sm["operating_cost"],
                     "flex_risk_cost": sm["flex_risk_cost"], "objective": sm["objective"],
                     **{t: float(mr.schedule.costs.get(t, np.nan)) for t in terms}})
    return pd.DataFrame(rows).set_index("method")


def sweep_table(sweep: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(sweep).set_index("eps")


def bus_voltages_table(mr: MethodResult) -> pd.DataFrame:
    """The AC re-check's bus voltages (p.u.): one row per hour, one column per power flow bus label
    (transmission buses, then ``<feeder>:<bus>``); NaN in a hour whose power flow did not converge."""
    rows = []
    for h, hc in enumerate(mr.ac.hours):
        row: dict[str, float] = {k: float(v) for k, v in hc.t_vm.items()}
        for f, buses in hc.feeder_vm.items():
            row.update({f"{f}:{b}": float(v) for b, v in buses.items()})
        rows.append(row)
    df = pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="hour"), dtype=float)
    return df


def write_tables(study: StvsFlexStudy, out: Path) -> list[Path]:
    paths = []
    for p, case in study.cases.items():
        paths.append(_write_csv(hourly_table(case), out / f"hourly_{p}.csv"))
        paths.append(_write_csv(flex_table(case), out / f"flex_{p}.csv"))
        paths.append(_write_csv(costs_table(case), out / f"costs_{p}.csv"))
        for name, mr in case.methods.items():
            paths.append(_write_csv(bus_voltages_table(mr), out / f"bus_voltages_{p}_{name}.csv"))
    sweep = _first(study).sweep
    if sweep:
        paths.append(_write_csv(sweep_table(sweep), out / "eps_sweep.csv"))
    return paths


def _first(study: StvsFlexStudy) -> CaseResult:
    return study.cases[study.settings.cases[0]]


# ------------------------------------------------------------------ outputs
def write_outputs(study: StvsFlexStudy, out: str | Path, json_out: str | Path | None = None) -> dict[str, Any]:
    """The tables and figures (see the module docstring), then ``summary.json`` (also at ``json_out`` when
    given) listing them under ``files``; returns that summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_tables(study, out)
    paths += write_figures(study, out)
    result = plain(summary(study))
    result["files"] = sorted({p.name for p in paths} | {"summary.json"})
    write_summary(out, result, json_out)
    return result


# ------------------------------------------------------------------ figures
def write_figures(study: StvsFlexStudy, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [_voltages(plt, case, out / voltage_figure_name(p)) for p, case in study.cases.items()]
    first = _first(study)
    paths.append(_flexibility(plt, first, out / "fig9_flexibility.png"))
    paths.append(_surplus(plt, first, out / "fig10_dn_surplus.png"))
    paths.append(_boundary(plt, first, out / "fig11_boundary.png"))
    if first.sweep:
        paths.append(_pareto(plt, first.sweep, out / "pareto_eps.png"))
    return paths


def _case_label(case: CaseResult) -> str:
    return f"{case.penetration} DER penetration"


def _voltages(plt: Any, case: CaseResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    lo, hi = VM_BAND
    ax.axhspan(lo, hi, color="#2ca02c", alpha=0.07)
    ax.axhline(hi, color="k", linestyle=":", linewidth=1, label=f"band [{lo:g}, {hi:g}] p.u.")
    ax.axhline(lo, color="k", linestyle=":", linewidth=1)
    for name, mr in case.methods.items():
        color, marker = STYLE.get(name, (None, "o"))
        hours = np.arange(len(mr.ac.hours))
        vmax = np.array([_nan(h.vm_max_feeder_pu) for h in mr.ac.hours])
        vmin = np.array([_nan(h.vm_min_feeder_pu) for h in mr.ac.hours])
        short = METHODS.get(name, (name,))[0].split(":")[0]
        ax.plot(hours, vmax, color=color, marker=marker, markersize=4, label=f"{short}: max")
        ax.plot(hours, vmin, color=color, marker=marker, markersize=4, linestyle="--", markerfacecolor="none",
                label=f"{short}: min")
    ax.set_xlabel("hour")
    ax.set_ylabel("feeder voltage (p.u.)")
    ax.set_xticks(np.arange(0, 24, 2))
    ax.set_title(f"largest and smallest feeder voltage after the AC re-check, {_case_label(case)}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    return save_figure(fig, path)


def _flexibility(plt: Any, case: CaseResult, path: Path) -> Path:
    s = case.methods["proposed"].schedule
    hours = np.arange(len(s.demand_mw["up"]))
    fig, ax = plt.subplots(figsize=(10, 5))
    up_base, down_base = np.zeros(len(hours)), np.zeros(len(hours))
    for kind, names in kinds(case).items():
        up = sum(np.asarray(s.margins_mw[n]["up"], float) for n in names)
        down = -sum(np.asarray(s.margins_mw[n]["down"], float) for n in names)
        ax.bar(hours, up, bottom=up_base, color=KIND_COLORS[kind], width=0.8, label=f"{kind} (available)")
        ax.bar(hours, down, bottom=down_base, color=KIND_COLORS[kind], width=0.8, alpha=0.6)
        up_base, down_base = up_base + up, down_base + down
    ax.plot(hours, s.demand_mw["up"], color="k", marker="o", markersize=4, label="upward demand")
    ax.plot(hours, s.demand_mw["down"], color="k", marker="v", markersize=4, linestyle="--",
            label="downward demand")
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_xlabel("hour")
    ax.set_ylabel("MW (upward above zero, downward below)")
    ax.set_title(f"flexibility supply and demand, proposed method, {_case_label(case)}")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return save_figure(fig, path)


def _feeder_axes(plt: Any, n: int) -> tuple[Any, list[Any]]:
    fig, axes = plt.subplots(1, max(n, 1), figsize=(5.5 * max(n, 1), 4), sharey=True, squeeze=False)
    return fig, list(axes[0])


def _surplus(plt: Any, case: CaseResult, path: Path) -> Path:
    s = case.methods["proposed"].schedule
    fig, axes = _feeder_axes(plt, len(s.surplus_mw))
    for ax, (f, v) in zip(axes, s.surplus_mw.items()):
        hours = np.arange(len(v["up"]))
        ax.bar(hours - 0.2, v["up"], color="#55a868", width=0.4, label="upward surplus")
        ax.bar(hours + 0.2, -np.asarray(v["down"], float), color="#c44e52", width=0.4,
               label="downward surplus (drawn below zero)")
        ax.axhline(0, color="k", linewidth=0.8)
        ax.set_title(f"{f}: flexibility surplus over its own demand")
        ax.set_xlabel("hour")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("MW")
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"distribution network surplus, proposed method, {_case_label(case)}", fontsize=10)
    return save_figure(fig, path)


def _boundary(plt: Any, case: CaseResult, path: Path) -> Path:
    shown = [m for m in ("method2", "proposed") if m in case.methods]
    feeders = list(case.methods[shown[-1]].schedule.boundary_mw)
    fig, axes = _feeder_axes(plt, len(feeders))
    for ax, f in zip(axes, feeders):
        for name in shown:
            p = case.methods[name].schedule.boundary_mw[f]
            color, marker = STYLE.get(name, (None, "o"))
            ax.step(np.arange(len(p)), p, where="mid", color=color, marker=marker, markersize=4,
                    linestyle="-" if name == "proposed" else "--", label=METHODS.get(name, (name,))[0])
        ax.axhline(0, color="k", linewidth=0.8)
        ax.set_title(f"{f}: scheduled exchange")
        ax.set_xlabel("hour")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MW (T -> feeder +)")
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"boundary exchange, {_case_label(case)}", fontsize=10)
    return save_figure(fig, path)


def _pareto(plt: Any, sweep: list[dict], path: Path) -> Path:
    pts = sorted(sweep, key=lambda r: r["eps"])
    x = [r["operating_cost"] for r in pts]
    y = [r["flex_risk_cost"] for r in pts]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, y, color="#4c72b0", marker="o", linestyle="-", linewidth=1)
    for r, xi, yi in zip(pts, x, y):
        ax.annotate(f"eps={r['eps']:g}", (xi, yi), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("operating cost C_T + C_D ($)")
    ax.set_ylabel("flexibility risk cost C_F ($)")
    ax.set_title("risk preference: operating cost against flexibility risk")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


__all__ = ["bus_voltages_table", "costs_table", "flex_table", "hourly_table", "kinds", "sweep_table",
           "voltage_figure_name", "write_figures", "write_outputs", "write_tables"]
