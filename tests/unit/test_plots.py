"""The comparison plots say what they show: coinciding strategies, the band, failures, the ADMM tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tdcoord.reporting.comparison import SAME_PU, legend_labels, plot_admm, plot_voltages


def _profiles() -> pd.DataFrame:
    base = np.linspace(0.96, 1.04, 6)
    return pd.DataFrame({"base": base, "centralized": base + 0.01, "admm": base + 0.01 + SAME_PU / 10,
                         "independent-t": base + 0.02}, index=[str(i) for i in range(1, 7)])


def test_coinciding_strategies_are_named_and_failures_noted():
    labels = legend_labels(_profiles(), failed={"independent-t": "no converged re-check"})
    assert labels["admm"] == f"admm (= centralized within {SAME_PU:g} p.u.)"
    assert labels["centralized"] == "centralized"  # it is the first of the two
    assert labels["independent-t"] == "independent-t (failed: no converged re-check)"
    apart = _profiles().assign(admm=lambda d: d.centralized + 10 * SAME_PU)
    assert legend_labels(apart)["admm"] == "admm"


def test_voltage_plot_has_labelled_band_and_failed_note(tmp_path, monkeypatch):
    import matplotlib.axes

    texts: list[str] = []
    orig_annotate, orig_text = matplotlib.axes.Axes.annotate, matplotlib.axes.Axes.text
    monkeypatch.setattr(matplotlib.axes.Axes, "annotate", lambda self, s, *a, **k: texts.append(s) or orig_annotate(self, s, *a, **k))
    monkeypatch.setattr(matplotlib.axes.Axes, "text", lambda self, x, y, s, *a, **k: texts.append(s) or orig_text(self, x, y, s, *a, **k))
    files = plot_voltages(_profiles(), tmp_path, band=(0.9, 1.1), failed={"independent-d": "Infeasible"})
    assert [f.name for f in files] == ["voltages_transmission.png"] and files[0].stat().st_size > 0
    assert "lower limit 0.9 p.u." in texts and "upper limit 1.1 p.u." in texts
    assert any("not shown (failed): independent-d: Infeasible" in t for t in texts)


def test_admm_plot_draws_tolerance_and_reference(tmp_path, monkeypatch):
    import matplotlib.axes

    lines: list[tuple[float, str]] = []
    orig = matplotlib.axes.Axes.axhline
    monkeypatch.setattr(matplotlib.axes.Axes, "axhline",
                        lambda self, y=0, *a, **k: lines.append((y, k.get("label", ""))) or orig(self, y, *a, **k))
    it = np.arange(1, 6)
    hist = pd.DataFrame({"iteration": it, "objective": 10 + 1 / it, "phase": ["continuous"] * 4 + ["discrete"],
                         **{f"{k}_{q}": 10.0 ** -it for k in ("primal", "dual") for q in "vpq"},
                         **{f"rho_{q}": np.ones(5) for q in "vpq"}})
    path = plot_admm(hist, tmp_path / "a.png", tol=(1e-4, 2e-4), reference=10.0)
    assert path.stat().st_size > 0
    assert (1e-4, "tolerance 0.0001") in lines and (2e-4, "tolerance 0.0002") in lines
    assert (10.0, "centralized optimum 10") in lines
