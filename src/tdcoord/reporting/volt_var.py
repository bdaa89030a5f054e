"""Outputs of the double-time-scale study (seed 004), read from its result only.

Tables (CSV):

- ``scenarios.csv``: one row per scenario (the JSON's ``scenarios``);
- ``table3_voltages.csv``: largest and smallest bus voltage at 1, 7, 13 and
  19 h per scenario (the paper's Table 3 gives scenario 3's);
- ``table4_hvdc.csv``: the HVDC terminal's voltage at those hours (Table 4);
- ``table5_loss_cost.csv``: energy lost and cost per scenario (Table 5);
- ``actions.csv``: tap and capacitor moves per device and scenario
  (Figs. 8-9);
- ``steps_<scenario>.csv``: every 5-minute step: losses, violations,
  extreme voltages, the HVDC terminal, every tap position, capacitor step
  and UPFC set-point (series voltage re/im, shunt Mvar) in force;
- ``voltages_<scenario>.csv``: every bus's voltage at every step.

Together with the case (``tdcoord cases``, ``ieee30-acdc``) the step tables
hold the full operating point of every step: applying a step's controls to
the case's period and running any AC power flow with the UPFC and HVDC
models reproduces ``voltages_<scenario>.csv``.

Figures (PNG): ``fig8_oltc.png`` (tap positions over the day),
``fig9_cb.png`` (capacitor steps), ``fig10_upfc.png`` (UPFC shunt output,
the slow step's hourly value against the fast step's), ``fig11_voltages.png``
(bus voltage profiles at 1, 7, 13 and 19 h, one panel per hour, one line per
scenario, with the band).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.reporting.files import write_summary
from tdcoord.studies.double_time_scale import REPORT_HOURS, DtsStudy, device_moves, indexed_columns

STYLE = {"no-control": ("#8c8c8c", "--", "o"), "slow": ("#4c72b0", "-.", "s"), "double": ("#c44e52", "-", "^")}


def study_tables(study: DtsStudy) -> dict[str, pd.DataFrame]:
    """Every table the study writes, by file stem."""
    out: dict[str, pd.DataFrame] = {"scenarios": pd.DataFrame(study.scenario_rows()).set_index("name")}
    out["table3_voltages"] = study.table3()
    out["table4_hvdc"] = study.table4()
    rows = study.scenario_rows()
    out["table5_loss_cost"] = pd.DataFrame({"loss_mwh": {r["name"]: r["loss_mwh"] for r in rows},
                                            "cost": {r["name"]: r["cost"] for r in rows}}).rename_axis("scenario")
    act = []
    for name, r in study.results.items():
        moved = device_moves(r)
        for kind, label in (("tap", "OLTC"), ("cb", "CB")):
            act += [{"scenario": name, "device": f"{label}{j + 1}", "moves": float(n)}
                    for j, n in enumerate(moved[kind])]
    out["actions"] = pd.DataFrame(act)
    for name in study.results:
        out[f"steps_{name}"] = study.steps(name)
        out[f"voltages_{name}"] = study.voltages(name)
    return out


def write_outputs(study: DtsStudy, out: str | Path, json_file: str | Path | None = None) -> dict[str, Any]:
    """Write the tables, figures and ``summary.json`` into ``out`` (and the summary to ``json_file``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stem, df in study_tables(study).items():
        df.to_csv(out / f"{stem}.csv")
    summary = study.summary()
    write_summary(out, summary, json_file)
    write_figures(study, out)
    return summary


def _hours(df: pd.DataFrame, spd: int) -> np.ndarray:
    return df.index.to_numpy(float) / spd


def write_figures(study: DtsStudy, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spd = study.settings.steps_per_hour
    paths: list[Path] = []
    main = "double" if "double" in study.results else next(iter(study.results))
    steps = study.steps(main)
    t = _hours(steps, spd)
    moved = device_moves(study.results[main])
    for stem, prefix, kind, label, title in (("fig8_oltc", "tap_", "tap", "OLTC", "OLTC tap positions"),
                                             ("fig9_cb", "cb_", "cb", "CB", "capacitor bank steps (1 Mvar each)")):
        fig, ax = plt.subplots(figsize=(9, 4))
        for j, col in enumerate(indexed_columns(steps.columns, prefix)):
            ax.step(t, steps[col], where="post", label=f"{label}{j + 1} ({int(moved[kind][j])} moves)")
        ax.set_xlabel("hour")
        ax.set_ylabel("position" if prefix == "tap_" else "steps in service")
        ax.set_title(f"{title}, scenario {main}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=3)
        fig.tight_layout()
        paths.append(out / f"{stem}.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 4))
    q_cols = indexed_columns(steps.columns, "upfc_q_")
    for col in q_cols:
        ax.plot(t, steps[col], color=STYLE["double"][0], label="fast time scale (5 min)")
    if "upfc_slow_q" in steps.columns:
        ax.step(t, steps["upfc_slow_q"], where="post", color=STYLE["slow"][0], ls="--",
                label="slow time scale (hourly)")
    if "slow" in study.results:
        s2 = study.steps("slow")
        for col in indexed_columns(s2.columns, "upfc_q_"):
            ax.step(_hours(s2, spd), s2[col], where="post", color="#55a868", ls=":", label="scenario slow (hourly)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("hour")
    ax.set_ylabel("UPFC shunt output, Mvar")
    ax.set_title("UPFC reactive output: slow schedule and fast correction")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "fig10_upfc.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharey=True)
    lo, hi = study.settings.band
    for ax, h in zip(axes.ravel(), REPORT_HOURS):
        k = h * spd
        for name in study.results:
            v = study.voltages(name)
            if k not in v.index:
                continue
            color, ls, marker = STYLE.get(name, ("k", "-", "."))
            ax.plot(np.arange(1, v.shape[1] + 1), v.loc[k].to_numpy(float), color=color, ls=ls, marker=marker,
                    ms=3, label=name)
        for y, txt in ((lo, f"{lo:g} p.u."), (hi, f"{hi:g} p.u.")):
            ax.axhline(y, color="k", lw=0.8, ls=":")
            ax.text(0.5, y, txt, fontsize=7, va="bottom")
        ax.set_title(f"{h:02d}:00" + ("" if any(h * spd in study.voltages(n).index for n in study.results)
                                           else " (not run)"))
        ax.set_xlabel("bus")
        ax.set_ylabel("V, p.u.")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle("bus voltages at 1, 7, 13 and 19 h (AC/DC power flow re-check)")
    fig.tight_layout()
    paths.append(out / "fig11_voltages.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


__all__ = ["study_tables", "write_figures", "write_outputs"]
