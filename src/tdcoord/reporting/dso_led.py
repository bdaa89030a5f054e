"""Outputs of the DSO-led study (:mod:`tdcoord.studies.dso_led`).

Written into the output folder:

- ``summary.json``: the comparison, the KKT check, SOC exactness and growth (the study's JSON keys);
- ``schedules.csv``: per scheme, feeder and period: exchange (MW, import positive), price at the boundary bus
  ($/MWh), PV produced and available, battery charge, discharge and state of charge, P2P sold and bought,
  cross-feeder sales and purchases, grid purchases;
- ``tso_dispatch.csv``: per scheme, unit segment and period, MW;
- ``feeder_buses.csv`` and ``feeder_branches.csv``: the feeders' operating points (bus voltages; branch
  power at the parent end and squared current), so that a reader can rebuild every feeder-hour;
- ``soc_gap.csv``: per scheme, feeder and period, the SOC relaxation's gap and the AC power flow re-check
  (converged, largest voltage error, exchange error, voltage range, violations);
- ``growth.csv``: one row per feeder count;
- figures: ``battery_soc.png``, ``boundary_exchange.png``, ``prices.png``, ``growth.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.coordination.dso_led import system_lp
from tdcoord.problems.dso_market import n_units
from tdcoord.reporting.files import save_figure, write_summary
from tdcoord.studies.dso_led import DsoLedStudy


#: schedules.csv's columns (per feeder and period, summed over a feeder's units) and the series they come from
SCHEDULE_COLUMNS = (("pv_mw", "pv_mw"), ("pv_available_mw", "pv_available_mw"), ("load_mw", "load_mw"),
                    ("charge_mw", "charge"), ("discharge_mw", "discharge"), ("p2p_sold_mw", "sold"),
                    ("p2p_bought_mw", "bought"), ("cross_sold_mw", "xout"), ("cross_bought_mw", "xin"),
                    ("consumers_grid_mw", "consumers_grid"))


def _per_period(series: dict[str, Any], key: str, T: int) -> np.ndarray:
    """A feeder's series summed over its units, per period (NaN where the feeder has none)."""
    v = series.get(key)
    if v is None:
        return np.full(T, np.nan)
    a = np.asarray(v, float)
    return a.reshape(-1, T).sum(axis=0) if a.size >= T else np.full(T, float(a.sum()))


def schedules_table(study: DsoLedStudy) -> pd.DataFrame:
    rows = []
    for scheme, r in (("dso_led", study.dso_led), ("tso_led", study.tso_led)):
        T = r.periods
        for k, name in enumerate(r.feeders):
            s = r.series[name]
            soc = (np.asarray(s["energy"], float) / np.asarray(s["e_max"], float).reshape(-1, 1)).sum(axis=0) \
                if "energy" in s else np.full(T, np.nan)
            cols = {col: _per_period(s, key, T) for col, key in SCHEDULE_COLUMNS}
            for t in range(T):
                rows.append({"scheme": scheme, "feeder": name, "bus": r.buses[k], "period": t,
                             "exchange_mw": float(r.exchange_mw[k, t]), "price_usd_mwh": float(r.price[k, t]),
                             **{col: float(v[t]) for col, v in cols.items()}, "soc": float(soc[t])})
    order = ["scheme", "feeder", "bus", "period", "exchange_mw", "price_usd_mwh", "pv_mw", "pv_available_mw",
             "load_mw", "charge_mw", "discharge_mw", "soc", "p2p_sold_mw", "p2p_bought_mw", "cross_sold_mw",
             "cross_bought_mw", "consumers_grid_mw"]
    return pd.DataFrame(rows, columns=order).set_index(["scheme", "feeder", "period"])


def dispatch_table(study: DsoLedStudy) -> pd.DataFrame:
    lp = system_lp(study.system)
    names = [n.removeprefix("pg ") for n in lp.x_names[:n_units(lp)]]  # the units in the TSO's LP
    frames = []
    for scheme, r in (("dso_led", study.dso_led), ("tso_led", study.tso_led)):
        df = pd.DataFrame(r.tso_dispatch_mw.T, columns=names)
        df.index.name = "period"
        df["scheme"] = scheme
        frames.append(df.reset_index().set_index(["scheme", "period"]))
    return pd.concat(frames)


def feeder_tables(study: DsoLedStudy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The feeders' operating points: per scheme, feeder, period and bus the voltage magnitude (p.u.) and PV
    dispatched (MW); per branch the active and reactive power entering it at its parent end (MW, Mvar) and
    its current squared (p.u.)."""
    buses, branches = [], []
    for scheme, r in (("dso_led", study.dso_led), ("tso_led", study.tso_led)):
        b, dsos, _ = r.model
        x = r.solution.x
        for d in dsos:
            form, cn = d.schedule.form, d.schedule.cn
            pre, base = form.prefix, cn.base_mva
            vm = np.sqrt(np.maximum(np.asarray(x[f"{pre}.w"], float), 0.0))
            p, q, l = (np.asarray(x[f"{pre}.{n}"], float) for n in ("p", "q", "l"))
            o = form.o
            for t in range(r.periods):
                for i, lab in enumerate(cn.labels):
                    buses.append({"scheme": scheme, "feeder": d.name, "period": t, "bus": str(lab),
                                  "vm_pu": float(vm[i, t])})
                for k in range(cn.n_branch):
                    branches.append({"scheme": scheme, "feeder": d.name, "period": t,
                                     "branch": f"{cn.br_table[k]} {cn.br_index[k]}",
                                     "parent_bus": str(cn.labels[o.parent[k]]), "child_bus": str(cn.labels[o.child[k]]),
                                     "p_mw": float(p[k, t] * base), "q_mvar": float(q[k, t] * base),
                                     "i_sq_pu": float(l[k, t])})
    return (pd.DataFrame(buses).set_index(["scheme", "feeder", "period", "bus"]),
            pd.DataFrame(branches).set_index(["scheme", "feeder", "period", "branch"]))


def soc_table(study: DsoLedStudy) -> pd.DataFrame:
    """Per scheme, feeder and period: the SOC relaxation's gap (p.u.^2) and the AC power flow re-check."""
    rows = []
    for scheme, r in (("dso_led", study.dso_led), ("tso_led", study.tso_led)):
        soc = study.soc.get(scheme) or {}
        gaps = soc.get("gap_pu2")
        checks = {(c["feeder"], c["period"]): c for c in soc.get("rechecks", [])}
        for k, name in enumerate(r.feeders):
            for t in range(r.periods):
                c = checks.get((name, t), {})
                rows.append({"scheme": scheme, "feeder": name, "period": t,
                             "soc_gap_pu2": float(gaps[k, t]) if gaps is not None else float("nan"),
                             "ac_converged": c.get("converged"), "ac_vm_error_pu": c.get("vm_error_max_pu"),
                             "ac_exchange_error_mw": c.get("exchange_error_mw"), "ac_vm_min_pu": c.get("vm_min_pu"),
                             "ac_vm_max_pu": c.get("vm_max_pu"), "ac_voltage_violations": c.get("voltage_violations")})
    return pd.DataFrame(rows).set_index(["scheme", "feeder", "period"])


def write_outputs(study: DsoLedStudy, out: str | Path, json_file: str | Path | None = None) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    schedules_table(study).to_csv(out / "schedules.csv")
    dispatch_table(study).to_csv(out / "tso_dispatch.csv")
    soc_table(study).to_csv(out / "soc_gap.csv")
    fb, fl = feeder_tables(study)
    fb.to_csv(out / "feeder_buses.csv")
    fl.to_csv(out / "feeder_branches.csv")
    if study.growth:
        pd.DataFrame(study.growth).to_csv(out / "growth.csv", index=False)
    summary = study.summary()
    write_summary(out, summary, json_file)
    write_figures(study, out)
    return summary


def write_figures(study: DsoLedStudy, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    sched = schedules_table(study).reset_index()
    hours = np.arange(study.system.periods) * study.system.dt_h
    for stem, col, ylabel, title in (("battery_soc", "soc", "state of charge", "battery state of charge"),
                                     ("boundary_exchange", "exchange_mw", "MW (import +)",
                                      "exchange at the substations")):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, scheme in zip(axes, ("dso_led", "tso_led")):
            part = sched[sched.scheme == scheme]
            for name, g in part.groupby("feeder", sort=False):
                if g[col].notna().any():
                    ax.step(hours, g[col].to_numpy(), where="post", label=name)
            ax.set_title(f"{title}, {scheme.replace('_', '-').upper().replace('-LED', '-led')}")
            ax.set_xlabel("hour")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(ylabel)
        axes[1].legend(fontsize=8)
        paths.append(save_figure(fig, out / f"{stem}.png"))
    fig, ax = plt.subplots(figsize=(8, 4))
    for scheme, r, style in (("DSO-led", study.dso_led, "-"), ("TSO-led", study.tso_led, "--")):
        ax.step(hours, r.price[0], where="post", linestyle=style, label=f"{scheme} (bus {r.buses[0]})")
    ax.set_xlabel("hour")
    ax.set_ylabel("$/MWh")
    ax.set_title("locational price at the boundary")
    ax.grid(alpha=0.3)
    ax.legend()
    paths.append(save_figure(fig, out / "prices.png"))
    if study.growth:
        g = pd.DataFrame(study.growth)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key in ("variables", "constraints", "binaries"):
            ax.loglog(g.feeders, g[key], marker="o", label=key)
        ax2 = ax.twinx()
        ax2.loglog(g.feeders, g.time_s, marker="s", color="k", linestyle=":", label="solve time (s)")
        ax2.set_ylabel("s")
        ax.set_xlabel("feeders N")
        ax.set_title(f"DSO-led MISOCP growth (size exponent {study.growth_exponent():.2f})")
        ax.grid(alpha=0.3, which="both")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8)
        paths.append(save_figure(fig, out / "growth.png"))
    return paths


__all__ = ["dispatch_table", "feeder_tables", "schedules_table", "soc_table", "write_figures", "write_outputs"]
