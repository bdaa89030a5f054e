"""Plots of a 24-hour dispatch (seed 000, Fig. 5), read from its result only.

- ``dispatch_reactive.png``: reactive power dispatch per hour by device type,
  stacked and signed (injection up, absorption down), one panel for the
  transmission side and one for the distribution side;
- ``dispatch_reserve.png``: the reactive reserve (remaining upward
  capability) per hour by device type, stacked, same two panels;
- ``dispatch_loss_vsm.png``: losses and the smallest key-node voltage
  stability margin per hour (with the threshold), and below them the hour's
  load, wind and PV factors; the title gives the day's energy lost over the
  converged hours and names the failed ones, which it leaves out
  (:meth:`~tdcoord.studies.dispatch.DispatchResult.totals`).

:func:`write_dispatch_outputs` also writes the tables
(:meth:`tdcoord.studies.dispatch.DispatchResult.write_tables`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tdcoord.studies.dispatch import TYPE_LABELS, DispatchResult

COLORS = {
    "T_wind": "#4c72b0", "T_pv": "#f2b701", "T_condenser": "#55a868", "T_statcom": "#c44e52",
    "T_generator": "#8c8c8c", "T_other": "#bcbcbc",
    "D_inverter": "#dd8452", "D_svg": "#8172b3", "D_capacitor": "#64b5cd", "D_other": "#bcbcbc",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _hour_ticks(ax, hours: list[int]) -> None:
    x = np.arange(len(hours))
    step = 1 if len(hours) <= 12 else 2
    ax.set_xticks(x[::step])
    ax.set_xticklabels([f"{h:02d}:00" for h in hours][::step], rotation=45, fontsize=7)
    ax.set_xlim(-0.6, len(hours) - 0.4)


def stacked_bars(ax, df: pd.DataFrame, signed: bool = True) -> None:
    """Bars of ``df``'s columns stacked per row; negatives stacked downwards when ``signed``."""
    x = np.arange(len(df))
    pos = np.zeros(len(df))
    neg = np.zeros(len(df))
    for col in df.columns:
        v = df[col].fillna(0.0).to_numpy(float)
        if not np.any(np.abs(v) > 1e-9):
            continue
        up = np.where(v > 0, v, 0.0) if signed else v
        ax.bar(x, up, 0.8, bottom=pos, color=COLORS.get(col), label=TYPE_LABELS.get(col, col).split(": ", 1)[-1],
               edgecolor="white", linewidth=0.3)
        pos += up
        if signed and np.any(v < 0):
            down = np.where(v < 0, v, 0.0)
            ax.bar(x, down, 0.8, bottom=neg, color=COLORS.get(col), edgecolor="white", linewidth=0.3)
            neg += down
    if signed:
        ax.axhline(0.0, color="black", lw=0.8)


def _side_panels(result: DispatchResult, what: str, path: Path, title: str, ylabel: str, signed: bool) -> Path:
    plt = _plt()
    df = result.by_type(what)
    hours = result.hours
    fig, axes = plt.subplots(2, 1, figsize=(12, 7.5), sharex=True)
    for ax, side, name in zip(axes, ("T_", "D_"), ("(a) transmission network", "(b) distribution network")):
        cols = [c for c in df.columns if c.startswith(side)]
        stacked_bars(ax, df[cols], signed=signed)
        if side == "T_" and signed:
            total = df[cols].sum(axis=1, min_count=1).to_numpy(float)
            ax.plot(np.arange(len(df)), total, color="black", lw=1.2, marker=".", label="net")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{name}: {title}", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        _hour_ticks(ax, hours)
    axes[-1].set_xlabel("hour")
    case = f"{result.case}" + (f" [{result.scenario}]" if result.scenario else "")
    fig.suptitle(f"24-hour dynamic dispatch ({result.strategy}): {case}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reactive(result: DispatchResult, path: Path) -> Path:
    return _side_panels(result, "q_mvar", path, "reactive power dispatch by device type",
                        "reactive power (Mvar, + injected)", signed=True)


def plot_reserve(result: DispatchResult, path: Path) -> Path:
    return _side_panels(result, "reserve_mvar", path, "reactive power reserve by device type",
                        "reserve (Mvar)", signed=False)


def plot_loss_vsm(result: DispatchResult, path: Path) -> Path:
    plt = _plt()
    p = result.periods()
    x = np.arange(len(p))
    fig, (a1, a3) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    a1.plot(x, p.p_loss_mw.to_numpy(float), color="C3", marker="o", ms=3, label="losses (MW)")
    a1.set_ylabel("active losses (MW)", color="C3")
    a1.grid(alpha=0.3)
    bad = ~p.converged.astype(bool).to_numpy()
    if bad.any():
        a1.plot(x[bad], p.p_loss_mw.to_numpy(float)[bad], "x", color="black", ms=8, label="not converged")
    a2 = a1.twinx()
    vsm = p.vsm_min_pu.to_numpy(float)
    handles = a1.get_legend_handles_labels()
    if np.isfinite(vsm).any():
        a2.plot(x, vsm, color="C0", marker="s", ms=3, label="smallest key-node VSM (p.u.)")
        thr = result.settings.get("vsm", {}) or {}
        if thr.get("threshold") is not None:
            a2.axhline(float(thr["threshold"]), color="C0", ls=":", lw=1.0, label="VSM threshold")
        a2.set_ylabel("voltage stability margin (p.u.)", color="C0")
        h2 = a2.get_legend_handles_labels()
        handles = (handles[0] + h2[0], handles[1] + h2[1])
    a1.legend(*handles, fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=4, frameon=False)
    case = f"{result.case}" + (f" [{result.scenario}]" if result.scenario else "")
    tot = result.totals()
    left_out = tot["hours_not_counted"]
    not_counted = f" (failed, not counted: {', '.join(f'{h:02d}' for h in left_out)})" if left_out else ""
    fig.suptitle(f"losses and voltage stability per hour ({result.strategy}): {case}; "
                 f"{tot['energy_loss_mwh']:.1f} MWh lost over {tot['n_hours_counted']} h{not_counted}", fontsize=10)
    for col, color in (("load", "black"), ("wind", "#4c72b0"), ("pv", "#f2b701")):
        a3.plot(x, p[col].to_numpy(float), color=color, marker=".", label=col)
    a3.set_ylabel("profile (p.u.)")
    a3.set_ylim(0, max(1.05, float(np.nanmax(p[["load", "wind", "pv"]].to_numpy(float))) * 1.05))
    a3.grid(alpha=0.3)
    a3.legend(fontsize=8, ncol=3, loc="lower center")
    _hour_ticks(a3, result.hours)
    a3.set_xlabel("hour")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_dispatch_outputs(result: DispatchResult, out: str | Path) -> list[Path]:
    """Tables (CSV, summary.json) and the three PNG plots of a dispatch in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = result.write_tables(out)
    files.append(plot_reactive(result, out / "dispatch_reactive.png"))
    files.append(plot_reserve(result, out / "dispatch_reserve.png"))
    files.append(plot_loss_vsm(result, out / "dispatch_loss_vsm.png"))
    return files


__all__ = ["plot_loss_vsm", "plot_reactive", "plot_reserve", "stacked_bars", "write_dispatch_outputs"]
