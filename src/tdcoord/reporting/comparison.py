"""Files and plots of a strategy comparison, read from its results only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tdcoord.results.serialize import write_json

PLOT_ORDER = ("base", "independent-t", "independent-d", "centralized", "admm")


def voltages(comp) -> pd.DataFrame:
    cols = {"base": comp.base_pf.res_bus.vm_pu}
    for name, r in comp.results.items():
        if r.pf is not None and r.pf.converged:
            cols[name] = r.pf.res_bus.vm_pu
    return pd.DataFrame(cols)


def devices(comp) -> pd.DataFrame:
    parts = []
    for name, r in comp.results.items():
        if len(r.devices):
            parts.append(r.devices.assign(strategy=name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def write_outputs(comp, out: Path) -> list[Path]:
    """summary.json, the system studied (system.json), CSV tables and PNG plots of a comparison.

    ``system.json`` (tdcoord JSON, :mod:`tdcoord.io.json_io`) and each
    strategy's result tables are enough to rebuild its operating point in
    another tool (``docs/rebuild_in_pandapower.py`` does it in pandapower).
    """
    from tdcoord.io.json_io import write_json as write_system

    out.mkdir(parents=True, exist_ok=True)
    files = []
    write_json(out / "summary.json", comp.summary())
    files.append(out / "summary.json")
    if comp.system is not None:
        write_system(comp.system, out / "system.json")
        files.append(out / "system.json")
    comp.table().to_csv(out / "strategies.csv")
    files.append(out / "strategies.csv")
    vm = voltages(comp)
    vm.to_csv(out / "voltages.csv", index_label="bus")
    files.append(out / "voltages.csv")
    dev = devices(comp)
    if len(dev):
        dev.to_csv(out / "devices.csv", index=False)
        files.append(out / "devices.csv")
    from tdcoord.results.tables import write_tables

    for name, r in comp.results.items():
        if r.tables:
            files += write_tables(r.tables, out / "tables" / name)
    admm = comp.results.get("admm")
    if admm is not None and len(admm.history):
        admm.history.to_csv(out / "admm_history.csv", index=False)
        files.append(out / "admm_history.csv")
    band = tuple(comp.settings.get("count_band") or (0.95, 1.05))
    files += plot_voltages(vm, out, band=band, failed=failed_strategies(comp))
    if admm is not None and len(admm.history):
        cen = comp.results.get("centralized")
        reference = cen.solver_objective if cen is not None and cen.converged else None
        tol = (admm.admm.tol_primal, admm.admm.tol_dual) if admm.admm is not None else None
        files.append(plot_admm(admm.history, out / "admm_convergence.png", tol=tol, reference=reference))
    return files


def failed_strategies(comp) -> dict[str, str]:
    """Strategies that did not reach a converged, re-checked point, and why (briefly)."""
    out = {}
    for name, r in comp.results.items():
        if not r.converged:
            out[name] = "no converged re-check" if (r.pf is None or not r.pf.converged) else (r.status or "not converged")
    return out


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: Line style and marker of each strategy, so that lines lying on each other stay distinguishable.
STYLES = {"base": dict(ls="--", marker="", lw=2.0, color="0.45"),
          "independent-t": dict(ls="-", marker="s", lw=1.2, color="C0"),
          "independent-d": dict(ls="-", marker="^", lw=1.2, color="C1"),
          "centralized": dict(ls="-", marker="o", lw=2.4, color="C2", alpha=0.6),
          "admm": dict(ls=":", marker="x", lw=1.4, color="C3")}
SAME_PU = 1e-4  # two strategies' profiles closer than this everywhere are said to coincide


def legend_labels(df: pd.DataFrame, failed: dict[str, str] | None = None) -> dict[str, str]:
    """Strategy (column) -> its legend label, in plotting order: a profile that coincides with an earlier one
    (within ``SAME_PU`` everywhere) says which; a failed strategy says so."""
    failed = failed or {}
    labels: dict[str, str] = {}
    for col in [c for c in PLOT_ORDER if c in df.columns] + [c for c in df.columns if c not in PLOT_ORDER]:
        y = df[col].to_numpy(float)
        same = [d for d in labels if np.nanmax(np.abs(df[d].to_numpy(float) - y)) < SAME_PU]
        labels[col] = col + (f" (= {same[0]} within {SAME_PU:g} p.u.)" if same else "")
        if col in failed:
            labels[col] += f" (failed: {failed[col]})"
    return labels


def plot_voltages(vm: pd.DataFrame, out: Path, band: tuple[float, float] = (0.95, 1.05),
                  failed: dict[str, str] | None = None) -> list[Path]:
    """One voltage-profile plot per network (transmission, each feeder).

    Each strategy has its own line style and marker; a strategy whose
    profile coincides with an earlier one (within ``SAME_PU`` everywhere)
    says so in the legend. The band lines are labelled. ``failed``
    (strategy -> why) are noted on the plot: they have no profile, or one
    that is not a converged optimum.
    """
    plt = _plt()
    files = []
    is_t = ~vm.index.str.contains(":")
    groups = [("transmission", vm[is_t])]
    feeders = sorted({b.split(":", 1)[0] for b in vm.index[~is_t]})
    for f in feeders:
        groups.append((f, vm[vm.index.str.startswith(f + ":")]))
    failed = dict(failed or {})
    for name, df in groups:
        fig, ax = plt.subplots(figsize=(9, 4.4))
        x = np.arange(len(df))
        for col, label in legend_labels(df, failed).items():
            ax.plot(x, df[col].to_numpy(float), ms=4, label=label,
                    **STYLES.get(col, dict(ls="-", marker=".", lw=1.0)))
        lo, hi = band
        ax.axhline(lo, color="grey", lw=0.8, ls="-.")
        ax.axhline(hi, color="grey", lw=0.8, ls="-.")
        ax.annotate(f"lower limit {lo:g} p.u.", (0, lo), xytext=(2, -10), textcoords="offset points", fontsize=7,
                    color="0.35")
        ax.annotate(f"upper limit {hi:g} p.u.", (0, hi), xytext=(2, 3), textcoords="offset points", fontsize=7,
                    color="0.35")
        missing = [f"{k}: {why}" for k, why in failed.items() if k not in df.columns]
        if missing:
            ax.text(0.99, 0.02, "not shown (failed): " + "; ".join(missing), transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=7, color="C3")
        labels = [b.split(":", 1)[1] if ":" in b else b for b in df.index]
        step = max(1, len(labels) // 30)
        ax.set_xticks(x[::step])
        ax.set_xticklabels(labels[::step], rotation=90 if len(labels) > 40 else 0, fontsize=7)
        ax.set_xlabel("bus")
        ax.set_ylabel("voltage (p.u.)")
        ax.set_title(f"voltage profile: {name}" + ("" if name == "transmission" else " (feeder)"))
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        safe = name.replace("@", "_at_").replace("#", "_").replace("/", "_")
        path = out / f"voltages_{safe}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)
    return files


def plot_admm(history: pd.DataFrame, path: Path, tol: tuple[float, float] | None = None,
              reference: float | None = None) -> Path:
    """ADMM convergence: primal and dual residuals per unit (% V, MW, Mvar; one panel each, the tolerance
    drawn), and the objective with the centralized optimum (``reference``) as a line."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    it = history.iteration.to_numpy()
    units = (("v", "V (%)", "C0"), ("p", "P (MW)", "C1"), ("q", "Q (Mvar)", "C2"))
    for ax, kind, title, tol_k in ((axes[0, 0], "primal", "primal residual: largest disagreement", 0),
                                   (axes[0, 1], "dual", "dual residual: rho x change of the consensus", 1)):
        for q, unit, color in units:
            col = f"{kind}_{q}"
            if col in history:
                ax.semilogy(it, np.maximum(history[col].to_numpy(float), 1e-16), color=color, label=unit)
        if tol is not None:
            ax.axhline(tol[tol_k], color="k", lw=0.9, ls="--", label=f"tolerance {tol[tol_k]:g}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("residual (% V, MW or Mvar)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    ax = axes[1, 0]
    for q, unit, color in units:
        col = f"rho_{q}"
        if col in history:
            ax.semilogy(it, history[col].to_numpy(float), color=color, label=unit)
    ax.set_xlabel("iteration")
    ax.set_ylabel("largest penalty rho")
    ax.set_title("penalties per unit", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(it, history.objective, color="C3", label="ADMM: sum of the subproblems' objectives")
    if reference is not None and np.isfinite(reference):
        ax.axhline(reference, color="k", lw=0.9, ls="--", label=f"centralized optimum {reference:.6g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective")
    ax.set_title("objective", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if "phase" in history:
        switch = history.iteration[history.phase != history.phase.iloc[0]]
        if len(switch):
            for a in axes.ravel():
                a.axvline(float(switch.iloc[0]), color="0.6", lw=0.8, ls=":")
            axes[1, 1].annotate("capacitor steps fixed", (float(switch.iloc[0]), 0.02), xycoords=("data", "axes fraction"),
                                fontsize=7, color="0.35", rotation=90, ha="right", va="bottom")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
