"""Outputs of the smart-inverter study (:mod:`tdcoord.studies.smart_inverters`).

Written into the output folder:

- ``summary.json``: the study's JSON keys (curtailment, PCC ranges, runtimes and objectives of the
  formulations, loop iterations, voltages after the AC re-checks, RLS error) and the details;
- ``inverters.csv``: per scenario, feeder and inverter: the option (mode and curve) chosen, VRef, available,
  dispatched P and Q;
- ``settings.csv``: the IEEE 1547 settings of every inverter, default and optimized (what the re-checks ran);
- ``voltages.csv``: per scenario, feeder and bus, the AC voltage of the re-check;
- ``loop.csv``: the TSO-DSO loop, per case (normal, outage), iteration and feeder: request, capability
  range, AC exchange, mismatches, correction passes;
- ``rls.csv``: the RLS estimate's relative error after every step;
- ``runtimes.csv``: the formulations side by side (feeder, periods, form, solver, status, objective, time);
- figures: ``curves.png`` (curves before and after, with the operating points), ``voltage_profile.png``,
  ``loop_convergence.png``, ``rls_error.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.devices.ieee1547 import curve_points, p_rated
from tdcoord.problems.inverter_dispatch import dispatch_settings
from tdcoord.reporting.files import save_figure, write_summary


def settings_table(out: dict) -> pd.DataFrame:
    rows = []
    for f, (default, opt, lin) in out["_curves"].items():
        for key, d in (("default_vv", default), ("optimized", opt)):
            if d is None:
                continue
            st = dispatch_settings(lin, d, 0, out["category"])
            st.insert(0, "scenario", key)
            st.insert(0, "feeder", f)
            rows.append(st.reset_index())
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def write_outputs(out: dict, folder: str | Path, json_file: str | Path | None = None) -> dict[str, Any]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = out["tables"]
    for name in ("inverters", "voltages", "loop", "rls", "runtimes"):
        tables[name].to_csv(folder / f"{name}.csv", index=False)
    settings_table(out).to_csv(folder / "settings.csv", index=False)
    summary = {k: v for k, v in out.items() if not k.startswith("_") and k != "tables"}
    write_summary(folder, summary, json_file)
    write_figures(out, folder)
    return summary


def write_figures(out: dict, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    tables = out["tables"]
    feeders = list(out["_curves"])
    fig, axes = plt.subplots(1, len(feeders), figsize=(5.5 * len(feeders), 4.2), squeeze=False)
    for ax, f in zip(axes[0], feeders):
        default, opt, lin = out["_curves"][f]
        sg = lin.net.sgen.loc[lin.index]
        sn, pr = sg.sn_mva.to_numpy(float), p_rated(sg)
        for key, scenario, d, style in (("default", "default_vv", default, "--"), ("optimized", "optimized", opt, "-")):
            if d is None:
                continue
            st = dispatch_settings(lin, d, 0, out["category"])
            inv = tables["inverters"]
            pts = inv[(inv.feeder == f) & (inv.scenario == scenario)]
            vm = tables["voltages"]
            vm = vm[(vm.feeder == f) & (vm.scenario == scenario)]
            vmap = dict(zip(vm.bus, vm.vm_pu))
            for k, i in enumerate(lin.index):
                cp_ = curve_points(st.loc[i], sn[k], pr[k])
                if cp_ is None or cp_[0] != "V (p.u.)" or st.loc[i, "mode"] != "volt-var":
                    continue
                x = np.r_[0.9, cp_[1], 1.1]
                y = np.r_[cp_[2][0], cp_[2], cp_[2][-1]] / sn[k]
                ax.plot(x, y, style, color="C0" if key == "default" else "C1", alpha=0.5, lw=1,
                        label=f"{key} curves" if k == 0 else None)
            ax.scatter([vmap.get(b, np.nan) for b in pts.bus], pts.q_mvar.to_numpy() / sn,
                       marker="o" if key == "default" else "x", color="C0" if key == "default" else "C1",
                       label=f"{key} operating points", zorder=3)
        ax.axvspan(*out["band_pu"], color="0.9", zorder=0)
        ax.set_xlabel("terminal voltage (p.u.)")
        ax.set_ylabel("Q / rating (injection +)")
        ax.set_title(f"{f}: volt-var curves and operating points")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    paths.append(save_figure(fig, folder / "curves.png"))

    vm = tables["voltages"]
    fig, axes = plt.subplots(1, len(feeders), figsize=(5.5 * len(feeders), 4), squeeze=False)
    for ax, f in zip(axes[0], feeders):
        for key, style in (("default_vv", "o"), ("optimized", "x")):
            part = vm[(vm.feeder == f) & (vm.scenario == key)].sort_values("vm_pu")
            ax.plot(np.arange(len(part)), part.vm_pu.to_numpy(), style, ms=3, label=key)
        ax.axhline(out["band_pu"][1], color="r", lw=0.8)
        ax.axhline(out["band_pu"][0], color="r", lw=0.8)
        ax.set_xlabel("bus (sorted by voltage)")
        ax.set_ylabel("V (p.u.), AC re-check")
        ax.set_title(f"{f}: voltages")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder / "voltage_profile.png"))

    loop = tables["loop"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for (case, f), g in loop.groupby(["case", "feeder"], sort=False):
        ax.semilogy(g.iteration, np.maximum(g.mismatch_q_mvar.fillna(np.nan), 1e-6), marker="o",
                    linestyle="-" if case == "normal" else "--", label=f"{f}, {case}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("|Q requested - Q AC| at the PCC (Mvar)")
    ax.set_title("TSO-DSO loop")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder / "loop_convergence.png"))

    rls = tables["rls"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(rls.step, rls.relative_error)
    ax.set_xlabel("measurement step")
    ax.set_ylabel("relative error of the sensitivities")
    ax.set_title(f"RLS estimate, {out['rls']['feeder']} (forgetting {out['rls']['forgetting']})")
    ax.grid(alpha=0.3, which="both")
    paths.append(save_figure(fig, folder / "rls_error.png"))
    return paths


__all__ = ["settings_table", "write_figures", "write_outputs"]
