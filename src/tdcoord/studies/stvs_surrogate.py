"""The STVS surrogate on a dataset: training, held-out evaluation, baseline, learning curve, assessment.

Training (:func:`train_on_dataset`) reads a dataset folder made by
:func:`tdcoord.studies.stvs_dataset.generate_dataset`, leaves out the
samples without a label (failed simulations, counted in the report), holds
out ``test_samples`` labelled samples (the paper's 100 test scenarios;
drawn at random with the seed) or takes a separately generated test
dataset, and trains :mod:`tdcoord.stability.surrogate`'s CNN on the rest
(75 % training, 25 % validation for early stopping: the paper's 6:2).

The report gives the TVCI accuracy and confusion matrix (Fig. 6), the
VDSI absolute and aggregated relative error (Table 4), and, so that the
CNN's figures can be judged, the accuracy of always answering the
majority class and of a gradient-boosting baseline (scikit-learn's
``HistGradientBoostingClassifier`` and ``...Regressor``, seeded) trained
on the same features and on all the CNN's rows (its training and its
validation rows: it needs no validation split). When the baseline is at least as accurate,
the report says so (``baseline_beats_cnn``; for VDSI,
``baseline_beats_cnn_vdsi``).

Assessment (:func:`assess`) of an operating point of the coupled system
for a list of faults: the CNN's inputs include the key nodes' voltages in
the first 0.2 s after clearing (the paper's online measurements), so each
fault is simulated up to the end of that window only
(:func:`~tdcoord.studies.stvs_dataset.window_end`), the CNN predicts TVCI
and VDSI from there, and ``confirm`` of the predictions, drawn with the
seed, are checked by simulating the whole 5 s.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tdcoord.errors import InputError

TEST_SAMPLES = 100


# ------------------------------------------------------------------ data
@dataclass
class Labelled:
    """The labelled rows of a dataset: inputs, TVCI (1 stable, 0 unstable), VDSI."""

    x: np.ndarray
    tvci: np.ndarray
    vdsi: np.ndarray
    feature_names: list[str]
    key_nodes: list[str]
    unlabelled: int  # samples left out: their simulation failed
    folder: str

    def __len__(self) -> int:
        return len(self.tvci)

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.x[idx], self.tvci[idx], self.vdsi[idx]


def labelled(folder: str | Path) -> Labelled:
    """A dataset folder's labelled samples (those whose simulation completed or was stopped by instability)."""
    from tdcoord.studies.stvs_dataset import load_dataset

    d = load_dataset(folder)
    ok = (d["tvci"] >= 0) & np.isfinite(d["vdsi"])
    key_nodes = list(d["manifest"].get("key_nodes", {}).get("nodes") or d["manifest"]["settings"]["key_nodes"])
    return Labelled(np.asarray(d["features"][ok], float), np.asarray(d["tvci"][ok], int),
                    np.asarray(d["vdsi"][ok], float), [str(n) for n in d["feature_names"]], [str(b) for b in key_nodes],
                    int((~ok).sum()),
                    str(folder))


def check_same_features(data: Labelled, names: list[str], key_nodes: list[str], reference: str) -> None:
    """``data`` has the inputs ``names`` (of ``reference``, a training folder or a model)."""
    if data.feature_names != list(names):
        raise InputError(f"{data.folder}: another feature set than {reference} ({len(data.feature_names)} inputs, key "
                         f"nodes {', '.join(data.key_nodes)}; {reference}: {len(names)} inputs, key nodes "
                         f"{', '.join(key_nodes)})")


def check_held_out(folder: str | Path, test_folder: str | Path) -> None:
    """A test dataset is not the training data: another folder, and not drawn with the same settings (the same seed
    and settings draw the same samples)."""
    import json

    a, b = Path(folder), Path(test_folder)
    if a.resolve() == b.resolve():
        raise InputError(f"--test-data {str(b)!r} is the training data; make a test set with another seed "
                         "(tdcoord stvs dataset --seed S)")
    try:
        sa = json.loads((a / "manifest.json").read_text())["settings"]
        sb = json.loads((b / "manifest.json").read_text())["settings"]
    except (OSError, ValueError, KeyError):
        return  # labelled() reports a missing or unreadable manifest
    if sa.get("seed") == sb.get("seed") and sa.get("ranges") == sb.get("ranges"):
        raise InputError(f"--test-data {str(b)!r} was drawn with the training data's seed ({sa.get('seed')}) and "
                         "ranges, so its samples are the training samples; make a test set with another seed")


# ------------------------------------------------------------------ baseline
def require_sklearn() -> None:
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        raise InputError('the baseline needs scikit-learn, which is not installed: pip install "tdcoord[stvs]" '
                         "(or train without it: --no-baseline)")


def baseline_predict(x_tr: np.ndarray, c_tr: np.ndarray, v_tr: np.ndarray, x_te: np.ndarray,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gradient boosting on the same inputs: (TVCI, VDSI) predictions for ``x_te``."""
    require_sklearn()
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if len(np.unique(c_tr)) < 2:  # one class only: the classifier cannot be fitted; it would answer that class
        pred = np.full(len(x_te), int(c_tr[0]))
    else:
        pred = HistGradientBoostingClassifier(random_state=seed).fit(x_tr, c_tr).predict(x_te)
    v = HistGradientBoostingRegressor(random_state=seed).fit(x_tr, v_tr).predict(x_te)
    return np.asarray(pred, int), np.asarray(v, float)


# ------------------------------------------------------------------ training
@dataclass
class TrainReport:
    """What ``tdcoord stvs train --json`` writes (the first eight keys are the command's contract)."""

    accuracy: float
    vdsi_mae: float
    vdsi_rel_error_pct: float
    confusion: list[list[int]]  # rows: simulated stable, unstable; columns: predicted stable, unstable
    baseline_accuracy: float | None
    train_samples: int  # rows the CNN learned from and was validated on (training + validation)
    test_samples: int
    time_s: float
    balanced_accuracy: float = float("nan")
    majority_accuracy: float = float("nan")  # always answering the training set's most frequent class
    majority_balanced_accuracy: float = float("nan")
    baseline_balanced_accuracy: float | None = None
    baseline_vdsi_mae: float | None = None
    baseline_vdsi_rel_error_pct: float | None = None
    baseline_beats_cnn: bool | None = None  # the baseline's TVCI accuracy is at least the CNN's
    baseline_beats_cnn_vdsi: bool | None = None  # the baseline's VDSI error is smaller than the CNN's
    vdsi_test_sum: float = float("nan")  # the simulated VDSI summed over the test samples
    unstable_test: int = 0
    unlabelled: int = 0  # samples of the data left out (failed simulations)
    epochs: int = 0
    train_time_s: float = 0.0
    test_data: str = ""  # the held-out data's folder, or "" when held out of the training data
    learning_curve: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def split(n: int, test_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, test) row indices: ``test_samples`` rows drawn at random with ``seed``."""
    if not 1 <= test_samples < n:
        raise InputError(f"--test-samples: expected 1 to {n - 1} (there are {n} labelled samples), got {test_samples}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[test_samples:]), np.sort(order[:test_samples])


def fit_and_score(data: Labelled, tr: np.ndarray, test: tuple[np.ndarray, np.ndarray, np.ndarray],
                  settings: Any, baseline: bool) -> tuple[Any, TrainReport]:
    """Train on rows ``tr`` of ``data`` and judge on ``test`` (x, TVCI, VDSI), with the baseline beside."""
    from tdcoord.stability.surrogate import evaluate_surrogate, score, train_surrogate

    x, c, v = data.take(tr)
    t0 = time.perf_counter()
    model = train_surrogate(x, c, v, data.feature_names, data.key_nodes, settings)
    t_train = time.perf_counter() - t0
    ev = evaluate_surrogate(model, *test)
    majority = int(np.bincount(c, minlength=2).argmax())
    me = score(np.full(len(test[1]), majority), np.zeros(len(test[1])), test[1], test[2])
    rep = TrainReport(ev.accuracy, ev.vdsi_mae, ev.vdsi_rel_error_pct, ev.confusion, None, int(len(tr)),
                      ev.test_samples, 0.0, ev.balanced_accuracy, me.accuracy, me.balanced_accuracy,
                      vdsi_test_sum=ev.vdsi_sum, unstable_test=int((test[1] == 0).sum()), unlabelled=data.unlabelled,
                      epochs=len(model.history), train_time_s=t_train)
    if baseline:
        bp, bv = baseline_predict(x, c, v, test[0], settings.seed)
        be = score(bp, bv, test[1], test[2])
        rep.baseline_accuracy, rep.baseline_balanced_accuracy = be.accuracy, be.balanced_accuracy
        rep.baseline_vdsi_mae, rep.baseline_vdsi_rel_error_pct = be.vdsi_mae, be.vdsi_rel_error_pct
        rep.baseline_beats_cnn = bool(be.accuracy >= ev.accuracy)
        rep.baseline_beats_cnn_vdsi = bool(be.vdsi_mae < ev.vdsi_mae)
    return model, rep


def train_on_dataset(folder: str | Path, settings: Any = None, *, test_samples: int = TEST_SAMPLES,
                     test_folder: str | Path | None = None, max_train: int | None = None, baseline: bool = True,
                     curve: list[int] | None = None) -> tuple[Any, TrainReport]:
    """Train the CNN on a dataset folder and evaluate it on held-out samples (see the module's docstring).

    ``max_train`` caps the training rows (the first of a seeded permutation);
    ``curve`` lists training sizes for a learning curve, each trained and
    judged on the same test samples (in the report's ``learning_curve``).
    """
    from tdcoord.stability.surrogate import TrainSettings

    t0 = time.perf_counter()
    st = settings or TrainSettings()
    st.check()
    if baseline:
        require_sklearn()  # before the training, not after it
    data = labelled(folder)
    if test_folder is not None:
        check_held_out(folder, test_folder)
        test_data = labelled(test_folder)
        check_same_features(test_data, data.feature_names, data.key_nodes, data.folder)
        if len(test_data) == 0:
            raise InputError(f"{test_folder}: no labelled samples to test on")
        tr = np.arange(len(data))
        test = (test_data.x, test_data.tvci, test_data.vdsi)
    else:
        tr, te = split(len(data), test_samples, st.seed)
        test = data.take(te)
    order = tr[np.random.default_rng(st.seed + 1).permutation(len(tr))]  # nested subsets for the curve
    if max_train is not None:
        if max_train < 4:
            raise InputError(f"--max-train: expected at least 4 training samples, got {max_train}")
        order = order[:max_train]
    for n in sorted(set(curve or [])):
        if not 4 <= n <= len(order):
            raise InputError(f"learning curve size {n}: expected 4 to {len(order)} (the training rows)")
    model, rep = fit_and_score(data, np.sort(order), test, st, baseline)
    for n in sorted(set(curve or [])):
        _, r = fit_and_score(data, np.sort(order[:n]), test, st, baseline)
        rep.learning_curve.append({k: getattr(r, k) for k in (
            "train_samples", "accuracy", "balanced_accuracy", "vdsi_mae", "vdsi_rel_error_pct", "baseline_accuracy",
            "baseline_balanced_accuracy", "epochs", "train_time_s")})
    rep.test_data = str(test_folder) if test_folder is not None else ""
    rep.time_s = time.perf_counter() - t0
    model.info.update({"dataset": str(folder), "evaluation": rep.as_dict()})
    return model, rep


def evaluate_on_dataset(model: Any, folder: str | Path) -> dict:
    """A trained surrogate judged on every labelled sample of a dataset folder."""
    from tdcoord.stability.surrogate import evaluate_surrogate

    data = labelled(folder)
    check_same_features(data, model.feature_names, model.key_nodes, "the model")
    ev = evaluate_surrogate(model, data.x, data.tvci, data.vdsi)
    out = asdict(ev)
    out["unlabelled"] = data.unlabelled
    out["unstable_test"] = int((data.tvci == 0).sum())
    return out


# ------------------------------------------------------------------ assessment
@dataclass
class FaultAssessment:
    bus: str
    duration_s: float
    tvci: int  # predicted: 1 stable, 0 unstable; -1: no prediction (the window's simulation failed)
    p_stable: float
    vdsi: float
    source: str  # "cnn", "simulation" (instability seen inside the window), "failed"
    reason: str = ""
    simulated_tvci: int | None = None  # from the whole run, where confirmed
    simulated_vdsi: float | None = None
    simulated_status: str | None = None


@dataclass
class Assessment:
    faults: list[FaultAssessment]
    confirmed: int
    agree: int  # confirmed predictions whose TVCI the whole run confirms
    time_s: float
    window_time_s: float  # spent simulating the windows after clearing
    confirm_time_s: float  # spent on the confirming runs

    @property
    def unstable(self) -> list[FaultAssessment]:
        return [f for f in self.faults if f.tvci == 0]

    @property
    def vdsi_max(self) -> float:
        v = [f.vdsi for f in self.faults if f.tvci >= 0]
        return float(max(v)) if v else float("nan")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["unstable_faults"] = [f.bus for f in self.unstable]
        d["vdsi_max"] = self.vdsi_max
        return d


def check_faults(faults: list[Any]) -> None:
    """Every fault on a bus of the IEEE 14-bus dynamic case, cleared after it starts and before the end."""
    from tdcoord.stability.time_domain import T_END, check_fault
    from tdcoord.studies.stvs_dataset import CANDIDATE_BUSES

    if not faults:
        raise InputError("assessment: no faults given")
    buses = ["1", *CANDIDATE_BUSES]  # the simulation checks them again against the case
    for f in faults:
        check_fault(f, buses, T_END)


def assess(model: Any, op: Any, faults: list[Any], *, confirm: int = 0, seed: int = 0) -> Assessment:
    """TVCI and VDSI of ``faults`` (FaultSpec) at operating point ``op``, predicted by ``model``.

    ``confirm`` of the predictions (drawn with ``seed``; all of them when
    there are fewer) are checked by a whole time-domain run; their simulated
    indices are filled in. ``confirmed`` counts the confirming runs that
    gave a label, ``agree`` those whose TVCI is the prediction's.
    """
    from tdcoord.stability.time_domain import T_END, simulate
    from tdcoord.studies.stvs_dataset import window_end, window_features

    check_faults(faults)
    if confirm < 0:
        raise InputError(f"--confirm: expected 0 or more predictions to confirm, got {confirm}")
    t0 = time.perf_counter()
    out = []
    rows, where = [], []
    for f in faults:
        sim = simulate(op, f, window_end(f))
        fa = FaultAssessment(str(f.bus), round(f.duration, 6), -1, float("nan"), float("nan"), "failed", sim.reason)
        if sim.status == "completed":
            x, names = window_features(op, sim, model.key_nodes)
            if names != model.feature_names:
                raise InputError(f"the model was trained on another feature set ({len(model.feature_names)} inputs); "
                                 f"this operating point gives {len(names)}")
            rows.append(x)
            where.append(len(out))
        elif sim.status == "stopped":  # rotor angles ran apart inside the window: unstable, no prediction needed
            fa.tvci, fa.p_stable, fa.source = 0, 0.0, "simulation"
            fa.vdsi = sim.indices(model.key_nodes, T_END).vdsi  # the time after the separation counts as 0 V
        out.append(fa)
    window_time = time.perf_counter() - t0
    if rows:
        pred, p, v = model.predict(np.asarray(rows))
        for k, i in enumerate(where):
            out[i].tvci, out[i].p_stable, out[i].vdsi, out[i].source = int(pred[k]), float(p[k]), float(v[k]), "cnn"
    t1 = time.perf_counter()
    confirmed = agree = 0
    predicted = np.array(where, int)  # the CNN's predictions are the ones to check
    pick = np.sort(predicted[np.random.default_rng(seed).permutation(len(predicted))[:confirm]])
    for i in pick:
        f = faults[i]
        sim = simulate(op, f, T_END)
        fa = out[i]
        fa.simulated_status = sim.status
        if sim.status in ("completed", "stopped"):
            ind = sim.indices(model.key_nodes)
            fa.simulated_tvci, fa.simulated_vdsi = ind.tvci, ind.vdsi
            confirmed += 1
            agree += int(fa.tvci == ind.tvci)
    return Assessment(out, confirmed, agree, time.perf_counter() - t0, window_time, time.perf_counter() - t1)


__all__ = ["Assessment", "FaultAssessment", "Labelled", "TEST_SAMPLES", "TrainReport", "assess", "baseline_predict",
           "check_faults", "check_held_out", "evaluate_on_dataset", "labelled", "split", "train_on_dataset"]
