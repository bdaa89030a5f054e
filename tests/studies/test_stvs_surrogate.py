"""The CNN surrogate of short-term voltage stability: scores, training, model files, the dataset study, the CLI,
the window-only simulations of an assessment, and the time-domain fixes it relies on.

PyTorch, scikit-learn and ANDES are hard requirements here: nothing is skipped (without them the tests fail, the
first ones saying why). They are imported where they are used, so that collecting this file needs none of them.
The dataset is conftest.py's `dataset` (48 samples, made once per session, shared with test_stvs_dataset.py);
the trainings are tiny (a few epochs) so that the file runs in well under a minute beyond it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import pytest
from typer.testing import CliRunner

from tdcoord.errors import InputError
from tdcoord.stability.surrogate import (TrainSettings, build_network, evaluate_surrogate, load_surrogate, score,
                                         train_surrogate)
from tdcoord.stability.time_domain import FaultSpec
from tdcoord.studies.stvs_surrogate import evaluate_on_dataset, labelled, split, train_on_dataset

KEY = ["14", "13", "12", "10"]  # the dataset's key nodes (conftest.py)
TEST_SAMPLES = 10
CONTRACT = ("accuracy", "vdsi_mae", "vdsi_rel_error_pct", "confusion", "baseline_accuracy", "train_samples",
            "test_samples", "time_s")


def tiny(**kw) -> TrainSettings:
    """Settings of a training that takes a fraction of a second."""
    return TrainSettings(**{"epochs": 3, **kw})


def test_torch_and_sklearn_are_installed():
    import sklearn  # a missing package fails here, never skips: .ci/run installs the stvs extra
    import torch

    assert torch.__version__ and sklearn.__version__


# ------------------------------------------------------------------ score
def test_score_on_hand_made_arrays():
    # TVCI 1 = stable. Simulated: 4 stable, 2 unstable; one stable case predicted unstable.
    tvci = np.array([1, 1, 1, 1, 0, 0])
    pred = np.array([1, 1, 0, 1, 0, 0])
    vdsi = np.array([0.1, 0.2, 0.3, 0.0, 0.6, 0.8])
    vdsi_pred = np.array([0.1, 0.25, 0.2, 0.05, 0.6, 0.5])
    ev = score(pred, vdsi_pred, tvci, vdsi)
    # rows: simulated stable, unstable; columns: predicted stable, unstable (asymmetric: a transposed or
    # row-swapped matrix fails)
    assert ev.confusion == [[3, 1], [0, 2]]
    assert all(isinstance(c, int) for row in ev.confusion for c in row)
    assert ev.accuracy == pytest.approx(5 / 6)
    assert ev.balanced_accuracy == pytest.approx((3 / 4 + 2 / 2) / 2)
    err = np.array([0.0, 0.05, 0.1, 0.05, 0.0, 0.3])
    assert ev.vdsi_mae == pytest.approx(err.mean())
    assert ev.vdsi_rel_error_pct == pytest.approx(100 * 0.5 / 2.0)  # sum |err| / sum |sim| x 100
    assert ev.vdsi_sum == pytest.approx(2.0)
    assert ev.test_samples == 6


def test_score_one_class_and_zero_vdsi():
    ev = score([1, 0, 1, 1], [0.0, 0.1, 0.0, 0.0], [1, 1, 1, 1], [0.0, 0.0, 0.0, 0.0])
    assert ev.confusion == [[3, 1], [0, 0]]
    assert ev.accuracy == pytest.approx(0.75)
    assert ev.balanced_accuracy == pytest.approx(0.75)  # the recall of the only class present
    assert ev.vdsi_mae == pytest.approx(0.025)
    assert np.isnan(ev.vdsi_rel_error_pct)  # nothing to relate to
    with pytest.raises(InputError, match="no labelled samples"):
        score([], [], [], [])


# ------------------------------------------------------------------ the network and its training
@pytest.mark.parametrize("n_inputs", [111, 7])
def test_build_network_shapes(n_inputs):
    import torch

    net = build_network(n_inputs)
    net.eval()
    with torch.no_grad():
        logits, v = net(torch.zeros(5, n_inputs))
    assert tuple(logits.shape) == (5, 2)
    assert tuple(v.shape) == (5,)


def random_rows(n=40, m=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, m))
    tvci = (x[:, 0] > 0).astype(int)
    vdsi = np.abs(0.1 * x[:, 1])
    return x, tvci, vdsi


OTHER_NAMES = [f"other:{k}" for k in range(12)]  # a feature set that is not the dataset's


@pytest.fixture(scope="module")
def rows():
    return random_rows()


@pytest.fixture(scope="module")
def other_model(rows):
    """A surrogate of another feature set (12 made-up inputs)."""
    return train_surrogate(*rows, OTHER_NAMES, ["7"], tiny(seed=0))


def test_training_is_reproducible(rows, other_model):
    x = rows[0]
    again = train_surrogate(*rows, OTHER_NAMES, ["7"], tiny(seed=0))
    c0, p0, v0 = other_model.predict(x)
    c1, p1, v1 = again.predict(x)
    np.testing.assert_array_equal(p0, p1)
    np.testing.assert_array_equal(v0, v1)
    np.testing.assert_array_equal(c0, c1)
    other = train_surrogate(*rows, OTHER_NAMES, ["7"], tiny(seed=1))
    _, p2, v2 = other.predict(x)
    assert not np.allclose(p0, p2) and not np.allclose(v0, v2)
    assert (v0 >= 0).all() and (v2 >= 0).all()  # VDSI predictions are clipped at 0
    # what predict returns: TVCI 0/1 from P(stable) >= 0.5, a VDSI per row
    assert p0.shape == v0.shape == c0.shape == (len(x),)
    assert ((p0 >= 0) & (p0 <= 1)).all()
    np.testing.assert_array_equal(c0, (p0 >= 0.5).astype(int))
    # what training records
    info = other_model.info
    assert info["train_rows"] + info["val_rows"] == len(x) and info["val_rows"] == 10
    assert info["epochs_run"] == len(other_model.history) <= 3
    assert info["best_val_loss"] == pytest.approx(min(h["val_loss"] for h in other_model.history))
    assert info["settings"]["seed"] == 0
    # inputs standardized with the training rows' statistics
    assert other_model.mean.shape == other_model.std.shape == (12,) and (other_model.std > 0).all()


def test_training_learns_which_class_is_stable():
    """A separable toy problem (stable where the first input is positive): the classes come out the right
    way round (P(stable) is the probability of TVCI 1, in training and in prediction alike)."""
    x, tvci, vdsi = random_rows(n=80, m=8, seed=3)
    s = train_surrogate(x, tvci, vdsi, [f"f{k}" for k in range(8)], ["1"],
                        TrainSettings(epochs=40, patience=40, lr=3e-3, seed=0))
    pred, p, _ = s.predict(x)
    assert (pred == tvci).mean() >= 0.85
    assert p[tvci == 1].mean() > p[tvci == 0].mean()
    ev = evaluate_surrogate(s, x, tvci, vdsi)
    assert ev.accuracy == pytest.approx((pred == tvci).mean())


def test_vdsi_comes_back_on_its_own_scale():
    """The VDSI target is standardized for training and the predictions are scaled back: on a target 50 times
    larger (offset by 3), the predictions follow it (a model that forgot to scale back would predict about 0)."""
    x, tvci, vdsi = random_rows(n=80, m=8, seed=3)
    big = 3.0 + 50.0 * vdsi
    s = train_surrogate(x, tvci, big, [f"f{k}" for k in range(8)], ["1"],
                        TrainSettings(epochs=60, patience=60, lr=3e-3, seed=0))
    assert s.vdsi_scale == pytest.approx((big.mean(), big.std()), rel=0.5)  # of the training rows
    _, _, v = s.predict(x)
    assert abs(v.mean() - big.mean()) < 0.5 * big.std()
    assert np.corrcoef(v, big)[0, 1] > 0.5


def test_balanced_class_weight_trains(rows):
    s = train_surrogate(*rows, OTHER_NAMES, ["7"], tiny(class_weight="balanced"))
    assert s.info["settings"]["class_weight"] == "balanced"
    assert np.isfinite(s.predict(rows[0])[1]).all()


@pytest.mark.parametrize("change, needle", [
    ({"tvci": -1}, "TVCI 0 or 1"),
    ({"vdsi": np.nan}, "finite VDSI"),
    ({"x": np.nan}, "finite VDSI and inputs"),
])
def test_training_refuses_unlabelled_rows(rows, change, needle):
    x, tvci, vdsi = (a.copy() for a in rows)
    (key, value), = change.items()
    {"x": x[:, 0], "tvci": tvci, "vdsi": vdsi}[key][3] = value
    with pytest.raises(InputError, match=needle):
        train_surrogate(x, tvci, vdsi, OTHER_NAMES, ["7"], tiny())


def test_training_needs_four_rows(rows):
    x, tvci, vdsi = rows
    with pytest.raises(InputError, match="at least 4 labelled samples, got 3"):
        train_surrogate(x[:3], tvci[:3], vdsi[:3], OTHER_NAMES, ["7"], tiny())


@pytest.mark.parametrize("change, needle", [
    ({"epochs": 0}, "epochs"),
    ({"batch": 0}, "batch"),
    ({"patience": 0}, "patience"),
    ({"lr": 0.0}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"l2": -1e-4}, "l2"),
    ({"val_fraction": 0.0}, "val_fraction"),
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"class_weight": "x"}, "class_weight"),
])
def test_train_settings_check(rows, change, needle):
    st = TrainSettings(**change)
    with pytest.raises(InputError, match=f"training setting {needle}"):
        st.check()
    with pytest.raises(InputError, match=f"training setting {needle}"):  # training checks them first
        train_surrogate(*rows, OTHER_NAMES, ["7"], st)
    TrainSettings().check()  # the defaults are fine


# ------------------------------------------------------------------ model files
def test_save_and_load_round_trip(rows, other_model, tmp_path):
    path = tmp_path / "m.pt"
    other_model.save(path)
    back = load_surrogate(path, feature_names=OTHER_NAMES)
    for a, b in zip(other_model.predict(rows[0]), back.predict(rows[0])):
        np.testing.assert_array_equal(a, b)
    assert back.feature_names == OTHER_NAMES and back.key_nodes == ["7"]
    np.testing.assert_array_equal(back.mean, other_model.mean)
    np.testing.assert_array_equal(back.std, other_model.std)
    assert back.vdsi_scale == pytest.approx(other_model.vdsi_scale)
    assert back.history == other_model.history and back.info == other_model.info
    assert load_surrogate(path).feature_names == OTHER_NAMES  # without feature names: no check


def test_load_refuses_another_feature_set(other_model, tmp_path):
    path = tmp_path / "m.pt"
    other_model.save(path)
    with pytest.raises(InputError, match="another feature set") as exc:
        load_surrogate(path, feature_names=OTHER_NAMES[:-1] + ["something else"])
    assert "12 inputs" in str(exc.value) and "key nodes 7" in str(exc.value)
    with pytest.raises(InputError, match="another feature set"):
        load_surrogate(path, feature_names=OTHER_NAMES[:5])


def test_load_refuses_what_is_not_a_model(other_model, tmp_path):
    import torch

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model, just bytes" * 10)
    with pytest.raises(InputError, match="not a model file"):
        load_surrogate(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "something else", "state": {}}, foreign)
    with pytest.raises(InputError, match="not a tdcoord STVS surrogate"):
        load_surrogate(foreign)
    path = tmp_path / "m.pt"
    other_model.save(path)
    d = torch.load(path, weights_only=False)
    d["version"] = 99
    torch.save(d, path)
    with pytest.raises(InputError, match="version 99"):
        load_surrogate(path)


def test_load_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(InputError, match="no such model file") as exc:
        load_surrogate(tmp_path / "nothing.pt")
    assert "tdcoord stvs train" in str(exc.value)


# ------------------------------------------------------------------ training on the dataset
@pytest.fixture(scope="module")
def trained(dataset):
    out, _, _ = dataset
    return train_on_dataset(out, tiny(), test_samples=TEST_SAMPLES, curve=[20, 8, 20])


def test_labelled_rows_of_the_dataset(dataset):
    out, run, d = dataset
    data = labelled(out)
    assert len(data) + data.unlabelled == 48
    assert len(data) == run.stable + run.unstable and data.unlabelled == run.failed
    assert data.x.shape == (len(data), len(d["feature_names"])) and data.feature_names == d["feature_names"]
    assert data.key_nodes == KEY
    assert set(np.unique(data.tvci)) <= {0, 1} and np.isfinite(data.vdsi).all()


def test_train_on_dataset_report(dataset, trained):
    out, _, _ = dataset
    model, rep = trained
    data = labelled(out)
    n = len(data)
    assert rep.test_samples == TEST_SAMPLES
    assert rep.train_samples + rep.test_samples == n
    assert rep.unlabelled == 48 - n
    assert np.asarray(rep.confusion).shape == (2, 2) and sum(map(sum, rep.confusion)) == TEST_SAMPLES
    assert rep.unstable_test == sum(rep.confusion[1])
    assert 0.0 <= rep.accuracy <= 1.0 and 0.0 <= rep.majority_accuracy <= 1.0
    assert rep.accuracy == pytest.approx((rep.confusion[0][0] + rep.confusion[1][1]) / TEST_SAMPLES)
    assert 1 <= rep.epochs <= 3 and rep.time_s >= rep.train_time_s > 0
    assert rep.test_data == ""
    # the figures are the model's on the held-out rows (the seed's split), which it was not trained on
    tr, te = split(n, TEST_SAMPLES, 0)
    ev = evaluate_surrogate(model, *data.take(te))
    assert (ev.accuracy, ev.confusion) == (rep.accuracy, rep.confusion)
    assert ev.vdsi_mae == pytest.approx(rep.vdsi_mae, rel=1e-9)
    assert model.info["train_rows"] + model.info["val_rows"] == rep.train_samples == len(tr)
    majority = int(np.bincount(data.tvci[tr], minlength=2).argmax())
    assert rep.majority_accuracy == pytest.approx(float((data.tvci[te] == majority).mean()))
    # the baseline on the same rows
    assert 0.0 <= rep.baseline_accuracy <= 1.0 and rep.baseline_vdsi_mae >= 0.0
    assert rep.baseline_beats_cnn == (rep.baseline_accuracy >= rep.accuracy)
    # the learning curve: each size once, in order, on the same test samples
    assert [r["train_samples"] for r in rep.learning_curve] == [8, 20]
    for r in rep.learning_curve:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["baseline_accuracy"] is not None
    assert model.info["dataset"] == str(out) and model.info["evaluation"]["accuracy"] == rep.accuracy
    assert model.feature_names == data.feature_names and model.key_nodes == KEY


def test_train_on_dataset_is_reproducible(dataset, trained):
    out, _, _ = dataset
    _, rep = trained
    _, again = train_on_dataset(out, tiny(), test_samples=TEST_SAMPLES)
    assert (again.accuracy, again.vdsi_mae, again.confusion) == (rep.accuracy, rep.vdsi_mae, rep.confusion)
    assert (again.baseline_accuracy, again.baseline_vdsi_mae) == (rep.baseline_accuracy, rep.baseline_vdsi_mae)
    assert again.learning_curve == []


def reseeded_copy(src, dst, seed=1000):
    """A copy of a dataset folder whose manifest names another seed (the plumbing of a separate test dataset,
    without simulating one)."""
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    m["settings"]["seed"] = seed
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def test_train_on_a_separate_test_folder(dataset, tmp_path):
    out, _, _ = dataset
    n = len(labelled(out))
    test = reseeded_copy(out, tmp_path / "test")
    _, rep = train_on_dataset(out, tiny(epochs=1), test_folder=test, max_train=20, baseline=False)
    assert (rep.train_samples, rep.test_samples) == (20, n)
    assert rep.test_data == str(test)
    assert rep.baseline_accuracy is None and rep.baseline_beats_cnn is None


def test_the_training_data_is_not_a_test_set(dataset, tmp_path):
    out, _, _ = dataset
    with pytest.raises(InputError, match="is the training data"):
        train_on_dataset(out, tiny(epochs=1), test_folder=out, baseline=False)
    shutil.copytree(out, tmp_path / "copy")  # same seed and ranges: the same samples
    with pytest.raises(InputError, match="training data's seed"):
        train_on_dataset(out, tiny(epochs=1), test_folder=tmp_path / "copy", baseline=False)


def test_split():
    tr, te = split(30, 10, 4)
    assert len(tr) == 20 and len(te) == 10
    assert sorted(np.r_[tr, te]) == list(range(30))
    np.testing.assert_array_equal(split(30, 10, 4)[1], te)  # seeded
    assert not np.array_equal(split(30, 10, 5)[1], te)
    for bad in (30, 31, 0):
        with pytest.raises(InputError, match="--test-samples"):
            split(30, bad, 0)


def test_train_on_dataset_bad_input(dataset):
    out, _, _ = dataset
    n = len(labelled(out))
    with pytest.raises(InputError, match="--test-samples"):
        train_on_dataset(out, tiny(), test_samples=n)
    with pytest.raises(InputError, match="--max-train"):
        train_on_dataset(out, tiny(), test_samples=TEST_SAMPLES, max_train=3)
    with pytest.raises(InputError, match="learning curve size 3"):
        train_on_dataset(out, tiny(epochs=1), test_samples=TEST_SAMPLES, baseline=False, curve=[3])
    with pytest.raises(InputError, match="class_weight"):
        train_on_dataset(out, tiny(class_weight="x"))


def renamed_copy(src, dst):
    """A copy of a dataset folder whose features carry other names (checksums updated): another feature set."""
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    for k in range(m["n_chunks"]):
        path = dst / f"chunk_{k:05d}.npz"
        with np.load(path) as z:
            arrays = {name: z[name] for name in z.files}
        arrays["feature_names"] = np.array([f"renamed:{n}" for n in arrays["feature_names"]])
        np.savez_compressed(path, **arrays)
        m["chunks"][str(k)] = hashlib.sha256(path.read_bytes()).hexdigest()
    m["settings"]["seed"] += 1000  # not the training data's draw, so only the feature set is wrong
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def test_another_feature_set_is_refused(dataset, trained, tmp_path):
    out, _, _ = dataset
    other = renamed_copy(out, tmp_path / "renamed")
    with pytest.raises(InputError, match="another feature set"):
        train_on_dataset(out, tiny(), test_folder=other)
    with pytest.raises(InputError, match="another feature set"):
        evaluate_on_dataset(trained[0], other)


# ------------------------------------------------------------------ CLI
runner = CliRunner()


def invoke(*args):
    from tdcoord.cli import app

    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def cli_model(dataset, tmp_path_factory):
    out, _, _ = dataset
    where = tmp_path_factory.mktemp("stvs-cli")
    model, js = where / "models" / "cnn.pt", where / "train.json"
    r = invoke("stvs", "train", "--data", out, "--out", model, "--test-samples", TEST_SAMPLES, "--epochs", 3,
               "--class-weight", "balanced", "--learning-curve", "8,20", "--json", js)
    return r, model, js


def test_cli_stvs_train(dataset, cli_model):
    out, _, _ = dataset
    r, model, js = cli_model
    assert r.exit_code == 0, r.output
    assert model.exists() and f"model written to {model}" in r.output
    s = json.loads(js.read_text())
    assert set(CONTRACT) <= set(s)
    n = len(labelled(out))
    assert (s["train_samples"], s["test_samples"]) == (n - TEST_SAMPLES, TEST_SAMPLES)
    conf = s["confusion"]
    assert len(conf) == 2 and all(len(row) == 2 for row in conf) and sum(map(sum, conf)) == TEST_SAMPLES
    assert 0.0 <= s["accuracy"] <= 1.0 and 0.0 <= s["baseline_accuracy"] <= 1.0
    assert s["vdsi_mae"] >= 0 and s["vdsi_rel_error_pct"] >= 0 and s["time_s"] > 0
    assert [c["train_samples"] for c in s["learning_curve"]] == [8, 20]
    assert s["model"] == str(model)
    m = load_surrogate(model, feature_names=labelled(out).feature_names)  # the options reached the training
    assert m.info["settings"]["epochs"] == 3 and m.info["settings"]["class_weight"] == "balanced"
    assert m.info["evaluation"]["accuracy"] == s["accuracy"]


def test_cli_stvs_assess_a_dataset(dataset, cli_model, tmp_path):
    out, _, _ = dataset
    _, model, _ = cli_model
    js = tmp_path / "a.json"
    r = invoke("stvs", "assess", "--model", model, "--data", out, "--json", js)
    assert r.exit_code == 0, r.output
    s = json.loads(js.read_text())
    ev = evaluate_on_dataset(load_surrogate(model), out)
    assert s["accuracy"] == ev["accuracy"] and s["confusion"] == ev["confusion"]
    assert s["test_samples"] == len(labelled(out))
    assert s["model"] == str(model) and s["data"] == str(out)


@pytest.fixture(scope="module")
def fault14(stvs_flex):
    """The default operating point (every factor 1) and a 0.2 s fault at bus 14, simulated to the end of the
    CNN's window and over the whole 5 s."""
    from tdcoord.stability.time_domain import simulate
    from tdcoord.studies.stvs_dataset import sample_operating_point, uniform_point, window_end

    op = sample_operating_point(stvs_flex, uniform_point(stvs_flex))
    f = FaultSpec("14", 0.4)
    return op, f, simulate(op, f, window_end(f)), simulate(op, f)


def test_cli_stvs_assess_an_operating_point(cli_model, fault14, tmp_path):
    from tdcoord.stability.stvs_indices import stvs_indices
    from tdcoord.studies.stvs_dataset import window_features

    _, model, _ = cli_model
    js = tmp_path / "a.json"
    r = invoke("stvs", "assess", "--model", model, "--faults", "14", "--confirm", 1, "--json", js)
    assert r.exit_code == 0, r.output
    s = json.loads(js.read_text())
    assert len(s["faults"]) == 1
    f = s["faults"][0]
    assert f["bus"] == "14" and f["duration_s"] == pytest.approx(0.2)
    assert f["source"] == "cnn" and f["tvci"] in (0, 1)
    assert 0.0 <= f["p_stable"] <= 1.0 and f["tvci"] == int(f["p_stable"] >= 0.5)
    assert s["confirmed"] == 1 and s["agree"] == int(f["tvci"] == f["simulated_tvci"])
    # the confirmation is the whole run's indices; the prediction is the CNN's on the window's inputs
    op, fault, window, full = fault14
    m = load_surrogate(model)
    ind = stvs_indices(full.t, full.v[:, [full.buses.index(b) for b in KEY]], fault.t_clear, 5.0,
                       completed=full.completed, delta_deg=full.delta_deg)
    assert f["simulated_status"] == "completed"
    assert f["simulated_tvci"] == ind.tvci and f["simulated_vdsi"] == pytest.approx(ind.vdsi, abs=1e-9)
    x, _ = window_features(op, window, m.key_nodes)
    _, p, v = m.predict(x[None, :])
    assert f["p_stable"] == pytest.approx(float(p[0]), abs=1e-6)
    assert f["vdsi"] == pytest.approx(float(v[0]), abs=1e-6)


@pytest.mark.parametrize("args, needle", [
    (("--faults", "99", "--confirm", 0), "bus '99'"),
    (("--faults", "14", "--duration", "-0.1", "--confirm", 0), "not after the fault"),
    (("--faults", "14", "--confirm", -1), "--confirm"),
])
def test_cli_stvs_assess_bad_input_exits_2(cli_model, args, needle):
    _, model, _ = cli_model
    r = invoke("stvs", "assess", "--model", model, *args)
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output


def test_cli_stvs_assess_bad_model_exits_2(dataset, other_model, tmp_path):
    out, _, _ = dataset
    r = invoke("stvs", "assess", "--model", tmp_path / "none.pt", "--faults", "14")
    assert r.exit_code == 2, r.output
    assert "tdcoord stvs train" in r.output and "Traceback" not in r.output
    # a model of another feature set judged on the dataset
    other = tmp_path / "other.pt"
    other_model.save(other)
    r = invoke("stvs", "assess", "--model", other, "--data", out)
    assert r.exit_code == 2, r.output
    assert "feature set" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("args, needle", [
    (("--class-weight", "x"), "class_weight"),
    (("--learning-curve", "8,a"), "--learning-curve"),
    (("--test-samples", 0), "--test-samples"),
    (("--epochs", 0), "epochs"),
    (("--test-samples", 5, "--test-data", "."), "give one of the two"),
    (("--learning-curve", "100000", "--test-samples", 10), "learning curve size 100000"),
])
def test_cli_stvs_train_bad_input_exits_2(dataset, tmp_path, args, needle):
    out, _, _ = dataset
    model = tmp_path / "m.pt"
    r = invoke("stvs", "train", "--data", out, "--out", model, *args)
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output
    assert not model.exists()


def test_cli_stvs_train_checks_its_model_file_first(dataset, tmp_path, monkeypatch):
    """--out is a folder: refused before any training (the training is made to fail loudly if it is reached)."""
    import tdcoord.stability.surrogate as surrogate

    out, _, _ = dataset
    monkeypatch.setattr(surrogate, "train_surrogate", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    r = invoke("stvs", "train", "--data", out, "--out", tmp_path)
    assert r.exit_code == 2, r.output
    assert "is a folder" in r.output and "--out" in r.output and "Traceback" not in r.output


def test_a_failed_save_leaves_no_file(other_model, tmp_path):
    with pytest.raises(InputError, match="cannot write the model"):
        other_model.save(tmp_path / "missing-folder" / "m.pt")
    assert not (tmp_path / "missing-folder").exists()


def test_cli_stvs_train_without_a_dataset_exits_2(tmp_path):
    r = invoke("stvs", "train", "--data", tmp_path / "nothing", "--out", tmp_path / "m.pt")
    assert r.exit_code == 2, r.output
    assert "no manifest.json" in r.output and "Traceback" not in r.output


# ------------------------------------------------------------------ the window after clearing
def test_window_features_of_a_window_run_equal_the_whole_runs(fault14):
    from tdcoord.studies.stvs_dataset import window_end, window_features

    op, fault, window, full = fault14
    assert window_end(fault) == pytest.approx(0.4 + 0.21)
    assert window.status == full.status == "completed"
    assert window.t[-1] == pytest.approx(window_end(fault)) and full.t[-1] == pytest.approx(5.0)
    a, names_a = window_features(op, window, KEY)
    b, names_b = window_features(op, full, KEY)
    assert names_a == names_b and len(names_a) == 111
    # the voltages are read in the window (not the zeros a too short run would give)
    v = a[[names_a.index(f"v_pu:14@{k}") for k in range(1, 21)]]
    assert (v > 0.5).all()
    np.testing.assert_allclose(a, b, atol=1e-3, rtol=0)


def test_window_run_of_a_dataset_sample_gives_its_features(dataset, stvs_flex):
    """A sample of the dataset (its whole 5 s run saved) simulated again to the window's end only."""
    from tdcoord.stability.time_domain import simulate
    from tdcoord.studies.stvs_dataset import T_FAULT, sample_operating_point, window_end, window_features

    out, _, d = dataset
    with np.load(out / "chunk_00000.npz") as z:
        samples = json.loads(str(z["samples"]))
    i = next(k for k in range(len(samples)) if d["status"][k] == "completed" and samples[k]["fault_bus"] != "14")
    s = samples[i]
    op = sample_operating_point(stvs_flex, s)
    fault = FaultSpec(s["fault_bus"], T_FAULT + s["duration"])
    sim = simulate(op, fault, window_end(fault))
    assert sim.status == "completed"
    x, names = window_features(op, sim, KEY)
    assert names == d["feature_names"]
    np.testing.assert_allclose(x, d["features"][i].astype(float), atol=1e-3, rtol=1e-6)


# ------------------------------------------------------------------ time-domain fixes
def test_restore_fault_angle_lets_a_long_bus_12_fault_clear(stvs_flex, monkeypatch):
    from tdcoord.stability import time_domain as td

    op = td.operating_point(stvs_flex)
    fault = FaultSpec("12", 0.4)  # 0.2 s bolted fault at bus 12
    original = td.restore_fault_angle
    calls = []

    def spy(ss, bus):
        calls.append(bus)
        original(ss, bus)

    monkeypatch.setattr(td, "restore_fault_angle", spy)
    sim = td.simulate(op, fault)
    assert calls == ["12"]  # build_system installs it for the faulted bus
    assert sim.status == "completed", sim.reason
    after = sim.t >= 1.0
    assert after.any() and (sim.v[after, sim.buses.index("12")] > 0.9).all()
    # without it the same run fails at clearing
    monkeypatch.setattr(td, "restore_fault_angle", lambda ss, bus: None)
    failed = td.simulate(op, fault)
    assert failed.status == "failed", failed.reason
    assert failed.t[-1] == pytest.approx(0.4, abs=0.02)


def test_require_andes_makes_no_temporary_folders(tmp_path, monkeypatch):
    from tdcoord.stability.time_domain import require_andes

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # a temporary folder of its own: nothing else writes
    assert tempfile.gettempdir() == str(tmp_path)

    def count():
        return sum(p.startswith("andes-") for p in os.listdir(tempfile.gettempdir()))

    before = count()
    for _ in range(3):
        andes = require_andes()
    assert andes.__name__ == "andes"
    assert count() == before


@pytest.mark.parametrize("module, call", [
    ("torch", "tdcoord.stability.surrogate:require_torch"),
    ("andes", "tdcoord.stability.time_domain:require_andes"),
])
def test_a_missing_extra_is_named(module, call, monkeypatch):
    """Without torch or ANDES the commands say which extra installs them (sys.modules[name] = None makes the
    import fail as if the package were absent)."""
    import importlib

    monkeypatch.setitem(sys.modules, module, None)
    mod, fn = call.split(":")
    with pytest.raises(InputError, match=r"tdcoord\[stvs\]"):
        getattr(importlib.import_module(mod), fn)()


def test_cli_train_without_torch_exits_2(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    r = invoke("stvs", "train", "--data", tmp_path, "--out", tmp_path / "m.pt")
    assert r.exit_code == 2 and "tdcoord[stvs]" in r.output and "Traceback" not in r.output
