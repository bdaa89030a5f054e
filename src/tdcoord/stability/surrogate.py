"""CNN surrogate of short-term voltage stability (seed 001, section 2.2), in PyTorch on the CPU.

The network of the paper: three convolution-pooling blocks (32, 64, 128
filters, 3x1 kernels, 2x1 max pooling, ReLU), two fully connected layers
(128 and 64, ReLU, dropout 0.5), a softmax TVCI head and a linear VDSI
head; cross-entropy plus mean squared error, L2 1e-4 on the weights and
biases (the paper's (lambda/2) ||W||^2, whose gradient is Adam's weight
decay lambda W), Adam 1e-3, batch 32, at most 100 epochs with early
stopping on the validation loss. Inputs are standardized with the
training set's mean and standard deviation, and so is the VDSI target:
unscaled, its squared error is small beside the cross-entropy and the
regression is learnt poorly (on the 3,000-sample dataset of docs/stvs.md,
three seeds: VDSI error 0.053-0.060 unscaled, 0.030-0.042 scaled). Both
scalings are saved with the model.

Labels: TVCI 1 (stable) or 0 (unstable) and VDSI; samples whose simulation
failed carry no label and are left out by the caller. With
``class_weight="balanced"`` the cross-entropy weighs each class by the
inverse of its frequency in the training split (unstable cases are rare).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tdcoord.errors import InputError
from tdcoord.results.serialize import atomic_path, plain  # plain data: what a file loaded with weights_only may hold

FORMAT = "tdcoord-stvs-cnn"
VERSION = 2  # 2: the VDSI target's scaling is saved


def require_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise InputError('the STVS surrogate needs PyTorch, which is not installed: pip install "tdcoord[stvs]"') \
            from exc
    return torch


def build_network(n_inputs: int) -> Any:
    """The paper's CNN for ``n_inputs`` features (one channel, a 1-D signal)."""
    torch = require_torch()
    nn = torch.nn

    class StvsCnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers, ch, length = [], 1, n_inputs
            for filters in (32, 64, 128):
                layers += [nn.Conv1d(ch, filters, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True)]
                ch, length = filters, -(-length // 2)
            self.features = nn.Sequential(*layers)
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(ch * length, 128), nn.ReLU(), nn.Dropout(0.5),
                                    nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.5))
            self.tvci = nn.Linear(64, 2)  # logits; softmax in the loss and the prediction
            self.vdsi = nn.Linear(64, 1)

        def forward(self, x: Any) -> tuple[Any, Any]:
            h = self.fc(self.features(x.unsqueeze(1)))
            return self.tvci(h), self.vdsi(h).squeeze(1)

    return StvsCnn()


@dataclass
class TrainSettings:
    epochs: int = 100
    batch: int = 32
    lr: float = 1e-3
    l2: float = 1e-4
    patience: int = 10
    val_fraction: float = 0.25  # of the samples left for training (the paper's 6:2 train:validation)
    seed: int = 0
    class_weight: str = "none"  # or "balanced"

    def check(self) -> None:
        for name in ("epochs", "batch", "patience"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InputError(f"training setting {name}: expected an integer >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise InputError(f"training setting lr: expected a positive learning rate, got {self.lr!r}")
        if not self.l2 >= 0:
            raise InputError(f"training setting l2: expected >= 0, got {self.l2!r}")
        if not 0 < self.val_fraction < 1:
            raise InputError(f"training setting val_fraction: expected a fraction in (0, 1), got {self.val_fraction!r}")
        if self.class_weight not in ("none", "balanced"):
            raise InputError(f"training setting class_weight: expected 'none' or 'balanced', got {self.class_weight!r}")


@dataclass
class Surrogate:
    network: Any
    mean: np.ndarray
    std: np.ndarray
    vdsi_scale: tuple[float, float]  # (mean, standard deviation) of the training VDSI
    feature_names: list[str]
    key_nodes: list[str]
    history: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # how it was trained: settings, dataset, evaluation

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(TVCI 0/1, probability of stable, VDSI >= 0) of feature rows ``x``."""
        torch = require_torch()
        self.network.eval()
        with torch.no_grad():
            z = torch.as_tensor((np.asarray(x, float) - self.mean) / self.std, dtype=torch.float32)
            logits, v = self.network(z)
            p = torch.softmax(logits, dim=1)[:, 1].numpy()
        vdsi = v.numpy().astype(float) * self.vdsi_scale[1] + self.vdsi_scale[0]
        return (p >= 0.5).astype(int), p, np.maximum(vdsi, 0.0)  # VDSI is a sum of magnitudes: never negative

    def save(self, path: str | Path) -> None:
        """Written to a temporary file beside ``path`` and renamed, so a failed save leaves no half file."""
        torch = require_torch()
        path = Path(path)
        try:
            with atomic_path(path) as tmp:
                self._save(torch, tmp)
        except (OSError, RuntimeError) as exc:
            raise InputError(f"{path}: cannot write the model there ({exc})") from exc

    def _save(self, torch: Any, path: Path) -> None:
        torch.save({"format": FORMAT, "version": VERSION, "state": self.network.state_dict(),
                    "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std],
                    "vdsi_scale": [float(v) for v in self.vdsi_scale],
                    "feature_names": [str(n) for n in self.feature_names],
                    "key_nodes": [str(b) for b in self.key_nodes], "history": plain(self.history),
                    "info": plain(self.info)}, path)


def load_surrogate(path: str | Path, feature_names: list[str] | None = None) -> Surrogate:
    """A saved surrogate; with ``feature_names``, refused unless it was trained on those features."""
    torch = require_torch()
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such model file; train one with `tdcoord stvs train --data DIR --out {path}`")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only: no code runs
    except Exception as exc:
        raise InputError(f"{path}: not a model file ({type(exc).__name__})") from exc
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise InputError(f"{path}: not a tdcoord STVS surrogate")
    if d.get("version") != VERSION:
        raise InputError(f"{path}: surrogate file version {d.get('version')!r}, this tdcoord reads {VERSION}; "
                         "train it again")
    if feature_names is not None and list(d["feature_names"]) != list(feature_names):
        raise InputError(f"{path}: trained on another feature set ({len(d['feature_names'])} inputs, key nodes "
                         f"{', '.join(d['key_nodes'])}); this data has {len(feature_names)} inputs")
    net = build_network(len(d["feature_names"]))
    try:
        net.load_state_dict(d["state"])
    except (RuntimeError, KeyError) as exc:
        raise InputError(f"{path}: the weights do not fit the network of {len(d['feature_names'])} inputs "
                         f"({str(exc).splitlines()[0]})") from exc
    return Surrogate(net, np.asarray(d["mean"]), np.asarray(d["std"]), tuple(d["vdsi_scale"]),
                     list(d["feature_names"]),
                     list(d["key_nodes"]), list(d.get("history", [])), dict(d.get("info", {})))


def train_surrogate(x: np.ndarray, tvci: np.ndarray, vdsi: np.ndarray, feature_names: list[str],
                    key_nodes: list[str], settings: TrainSettings | None = None) -> Surrogate:
    """Train on labelled rows (TVCI 0/1, VDSI finite); early stopping on a validation split of them."""
    torch = require_torch()
    st = settings or TrainSettings()
    st.check()
    x, tvci, vdsi = np.asarray(x, float), np.asarray(tvci, int), np.asarray(vdsi, float)
    if len(x) < 4:
        raise InputError(f"training needs at least 4 labelled samples, got {len(x)}")
    if not set(np.unique(tvci)) <= {0, 1} or not np.isfinite(vdsi).all() or not np.isfinite(x).all():
        raise InputError("training rows need TVCI 0 or 1 and finite VDSI and inputs (leave failed simulations out)")
    torch.manual_seed(st.seed)
    rng = np.random.default_rng(st.seed)
    order = rng.permutation(len(x))
    n_val = max(1, int(round(st.val_fraction * len(x))))
    val, tr = order[:n_val], order[n_val:]
    mean = x[tr].mean(axis=0)
    std = x[tr].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    v_mean, v_std = float(vdsi[tr].mean()), float(vdsi[tr].std())
    v_std = v_std if v_std > 1e-12 else 1.0

    def tensors(idx: np.ndarray) -> tuple[Any, Any, Any]:
        return (torch.as_tensor((x[idx] - mean) / std, dtype=torch.float32), torch.as_tensor(tvci[idx]),
                torch.as_tensor((vdsi[idx] - v_mean) / v_std, dtype=torch.float32))

    xt, ct, vt = tensors(tr)
    xv, cv, vv = tensors(val)
    net = build_network(x.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=st.lr, weight_decay=st.l2)
    weight = None
    if st.class_weight == "balanced":
        counts = np.bincount(tvci[tr], minlength=2).astype(float)
        weight = torch.as_tensor(np.where(counts > 0, len(tr) / (2 * np.maximum(counts, 1)), 0.0),
                                 dtype=torch.float32)
    ce, mse = torch.nn.CrossEntropyLoss(weight=weight), torch.nn.MSELoss()
    best, best_state, waited, history = float("inf"), None, 0, []
    for epoch in range(st.epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.as_tensor(rng.permutation(len(tr)))
        total = 0.0
        for k in range(0, len(tr), st.batch):
            b = perm[k:k + st.batch]
            logits, v = net(xt[b])
            loss = ce(logits, ct[b]) + mse(v, vt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        net.eval()
        with torch.no_grad():
            logits, v = net(xv)
            val_loss = float(ce(logits, cv) + mse(v, vv))
        history.append({"epoch": epoch + 1, "train_loss": total / len(tr), "val_loss": val_loss,
                        "time_s": time.perf_counter() - t0})
        if val_loss < best - 1e-9:
            best, waited = val_loss, 0
            best_state = {k: t.clone() for k, t in net.state_dict().items()}
        else:
            waited += 1
            if waited >= st.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    info = {"settings": asdict(st), "train_rows": int(len(tr)), "val_rows": int(len(val)),
            "epochs_run": len(history), "best_val_loss": best}
    return Surrogate(net, mean, std, (v_mean, v_std), list(feature_names), list(key_nodes), history, info)


@dataclass
class Evaluation:
    """A classifier and regressor judged against simulated labels."""

    accuracy: float
    confusion: list[list[int]]  # rows: simulated stable, unstable; columns: predicted stable, unstable
    vdsi_mae: float
    vdsi_rel_error_pct: float  # aggregated over the test set: sum |error| / sum |simulated| x 100
    test_samples: int
    balanced_accuracy: float  # mean of the recall of each class present
    vdsi_sum: float  # the simulated VDSI summed over the test set (the scale of vdsi_rel_error_pct)


def score(pred: np.ndarray, vdsi_pred: np.ndarray, tvci: np.ndarray, vdsi: np.ndarray) -> Evaluation:
    """Accuracy, confusion matrix (as the paper's Fig. 6) and VDSI errors (as its Table 4)."""
    pred, tvci = np.asarray(pred, int), np.asarray(tvci, int)
    vdsi, vdsi_pred = np.asarray(vdsi, float), np.asarray(vdsi_pred, float)
    if len(tvci) == 0:
        raise InputError("nothing to evaluate: no labelled samples")
    conf = [[int(((tvci == a) & (pred == b)).sum()) for b in (1, 0)] for a in (1, 0)]
    recalls = [conf[i][i] / sum(conf[i]) for i in (0, 1) if sum(conf[i])]
    err = np.abs(vdsi_pred - vdsi)
    denom = float(np.abs(vdsi).sum())
    return Evaluation(float((pred == tvci).mean()), conf, float(err.mean()),
                      float(100.0 * err.sum() / denom) if denom > 0 else float("nan"), int(len(tvci)),
                      float(np.mean(recalls)), float(vdsi.sum()))


def evaluate_surrogate(s: Surrogate, x: np.ndarray, tvci: np.ndarray, vdsi: np.ndarray) -> Evaluation:
    pred, _, v = s.predict(x)
    return score(pred, v, tvci, vdsi)


__all__ = ["Evaluation", "Surrogate", "TrainSettings", "build_network", "evaluate_surrogate", "load_surrogate",
           "require_torch", "score", "train_surrogate"]
