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
    another tool (``docs/rebuild.md`` does it in pandapower).
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
    files += plot_voltages(vm, out)
    if admm is not None and len(admm.history):
        files.append(plot_admm(admm.history, out / "admm_convergence.png"))
    return files


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_voltages(vm: pd.DataFrame, out: Path) -> list[Path]:
    plt = _plt()
    files = []
    is_t = ~vm.index.str.contains(":")
    groups = [("transmission", vm[is_t])]
    feeders = sorted({b.split(":", 1)[0] for b in vm.index[~is_t]})
    for f in feeders:
        groups.append((f, vm[vm.index.str.startswith(f + ":")]))
    for name, df in groups:
        fig, ax = plt.subplots(figsize=(9, 4))
        x = np.arange(len(df))
        for col in [c for c in PLOT_ORDER if c in df.columns]:
            ax.plot(x, df[col].to_numpy(), marker="o", ms=3, lw=1.2 if col != "base" else 2.0,
                    ls="--" if col == "base" else "-", label=col)
        ax.axhline(0.95, color="grey", lw=0.8, ls=":")
        ax.axhline(1.05, color="grey", lw=0.8, ls=":")
        labels = [b.split(":", 1)[1] if ":" in b else b for b in df.index]
        step = max(1, len(labels) // 30)
        ax.set_xticks(x[::step])
        ax.set_xticklabels(labels[::step], rotation=90 if len(labels) > 40 else 0, fontsize=7)
        ax.set_xlabel("bus")
        ax.set_ylabel("voltage (p.u.)")
        ax.set_title(f"voltage profile: {name}" + ("" if name == "transmission" else " (feeder)"))
        ax.legend(fontsize=8, ncol=3)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        safe = name.replace("@", "_at_").replace("#", "_").replace("/", "_")
        path = out / f"voltages_{safe}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)
    return files


def plot_admm(history: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    it = history.iteration
    a1.semilogy(it, history.primal_residual, label="primal residual")
    a1.semilogy(it, history.dual_residual, label="dual residual")
    a1.set_xlabel("iteration")
    a1.set_ylabel("residual (% V, MW, Mvar)")
    a1.set_title("ADMM residuals")
    a1.grid(alpha=0.3, which="both")
    a1.legend()
    a2.plot(it, history.objective, color="C2")
    a2.set_xlabel("iteration")
    a2.set_ylabel("objective (sum of subproblems)")
    a2.set_title("ADMM objective")
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
