"""Time-domain simulation (ANDES), the Monte-Carlo STVS dataset and `tdcoord stvs dataset`.

ANDES is a hard requirement here: these tests must never be skipped (without it they fail, the first one
saying why). It is imported where it is used, so that collecting this file needs no ANDES (the
cross-validation environment collects every test file and runs only its own).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from tdcoord.errors import InputError
from tdcoord.stability.stvs_indices import stvs_indices, vdsi
from tdcoord.stability.time_domain import FaultSpec, build_system, operating_point, simulate
from tdcoord.studies.stvs_dataset import (DatasetSettings, SampleRanges, chunk_ok, chunk_path, draw_samples,
                                          generate_dataset, load_dataset, sample_system, select_key_nodes)

KEY = ("14", "13", "12", "10")
SETTINGS = DatasetSettings(samples=48, chunk_size=8, seed=5, key_nodes=KEY)  # the `dataset` fixture's (conftest.py)
GRID = np.arange(1, 501) * 0.01  # the saved trajectories' times (DT_SAVE over 5 s)
ARRAYS = ("features", "tvci", "vdsi", "status", "reason", "traj", "fault_bus", "t_clear")


def test_andes_is_installed():
    import andes  # a missing ANDES fails here, never skips: .ci/run installs the stvs extra

    assert andes.__version__


@pytest.fixture(scope="module")
def op(stvs_flex):
    return operating_point(stvs_flex)


# ------------------------------------------------------------------ simulation
@pytest.fixture(scope="module")
def short_fault(op):
    return simulate(op, FaultSpec("14", 0.3))  # 0.1 s at bus 14


@pytest.fixture(scope="module")
def long_fault(op):
    return simulate(op, FaultSpec("4", 0.65))  # 0.45 s at bus 4


def test_short_fault_completes_and_recovers(op, short_fault):
    sim = short_fault
    assert sim.status == "completed" and sim.completed and sim.reason == ""
    assert sim.t[0] == pytest.approx(0.0) and sim.t[-1] == pytest.approx(5.0, abs=1e-9)
    assert np.all(np.diff(sim.t) >= 0)
    assert sim.buses == [str(b) for b in range(1, 15)]
    assert sim.v.shape == (len(sim.t), 14)
    assert sim.delta_deg.shape == (len(sim.t), 5)
    assert np.all((sim.v[-1] > 0.9) & (sim.v[-1] < 1.1))
    # the fault pulls bus 14 down while it lasts (0.2 - 0.3 s), not before
    during = (sim.t > 0.2) & (sim.t < 0.3)
    assert during.any() and sim.v[during, 13].max() < 0.2
    # before the fault the voltages stay near the operating point (flat: see test_no_drift_before_the_fault)
    assert np.all(np.abs(sim.v[sim.t < 0.2] - sim.v[0]) < 0.01)
    ind = stvs_indices(sim.t, sim.v, 0.3, 5.0, completed=sim.completed, delta_deg=sim.delta_deg)
    assert ind.tvci == 1 and ind.reason == "" and 0.0 <= ind.vdsi < 0.01
    # the machines carry the transmission loads, the feeders' import and positive losses (a few %)
    carried = sum(op.load_mw.values()) + sum(f.p_mw for f in op.feeders)
    assert 0.0 < sum(sim.gen_mw.values()) - carried < 0.05 * carried
    assert set(sim.gen_mw) == {"1", "2", "3", "6", "8"}


def test_no_drift_before_the_fault(short_fault):
    sim = short_fault
    assert np.abs(sim.v[sim.t < 0.2] - sim.v[0]).max() < 1e-3


def test_long_fault_is_stopped_by_angle_separation(long_fault):
    sim = long_fault
    assert sim.status == "stopped" and not sim.completed
    assert "degrees apart" in sim.reason
    assert 0.65 < sim.t[-1] < 5.0
    assert np.ptp(sim.delta_deg[-1]) > 179.0
    ind = stvs_indices(sim.t, sim.v, 0.65, 5.0, completed=sim.completed, delta_deg=sim.delta_deg)
    assert ind.tvci == 0 and "stopped" in ind.reason
    assert ind.vdsi > 0.8  # most of (0.65, 5] s is not simulated: counted as 0 V


@pytest.mark.parametrize("fault, needle", [
    (FaultSpec("99", 0.3), "bus '99'"),
    (FaultSpec("14", 0.2, 0.2), "not after the fault"),
    (FaultSpec("14", 0.1, 0.2), "not after the fault"),
    (FaultSpec("14", 5.0), "not before the end"),
    (FaultSpec("14", 6.0), "not before the end"),
    (FaultSpec("14", 0.3, -0.1), "t_fault"),
    (FaultSpec("14", 0.3, line="no-such-line"), "line 'no-such-line'"),
])
def test_bad_fault_raises_input_error(op, fault, needle):
    with pytest.raises(InputError, match=needle):
        simulate(op, fault)


def test_build_system_places_the_operating_point(op):
    ss = build_system(op, FaultSpec("13", 0.35, 0.25))
    p0 = dict(zip(ss.PQ.idx.v, np.asarray(ss.PQ.p0.v) * 100))
    bus = dict(zip(ss.PQ.idx.v, [str(b) for b in ss.PQ.bus.v]))
    for k, f in enumerate(op.feeders):
        assert bus[f"feeder{k}"] == f.bus
        assert p0[f"feeder{k}"] == pytest.approx(f.p_load_mw, rel=1e-12)
    trans = [i for i in p0 if not str(i).startswith("feeder")]
    assert sum(p0[i] for i in trans) == pytest.approx(sum(op.load_mw.values()), rel=1e-12)
    assert list(ss.PVD1.Sn.v) == pytest.approx([f.sn_der_mva for f in op.feeders])
    assert [str(b) for b in ss.Fault.bus.v] == ["13"]
    assert list(ss.Fault.tf.v) == pytest.approx([0.25]) and list(ss.Fault.tc.v) == pytest.approx([0.35])
    # a machine's share factor scales its set-point
    machines = [i for i in ss.PV.idx.v if not str(i).startswith("der")]
    pv_bus = dict(zip(ss.PV.idx.v, [str(b) for b in ss.PV.bus.v]))
    before = {pv_bus[i]: p for i, p in zip(ss.PV.idx.v, ss.PV.p0.v) if i in machines}
    from dataclasses import replace

    ss2 = build_system(replace(op, gen_share={"3": 1.2}), FaultSpec("13", 0.35, 0.25))
    after = {str(b): p for i, b, p in zip(ss2.PV.idx.v, ss2.PV.bus.v, ss2.PV.p0.v) if i in machines}
    assert after["3"] == pytest.approx(1.2 * before["3"], rel=1e-12)
    assert after["2"] == pytest.approx(before["2"], rel=1e-12)


# ------------------------------------------------------------------ sampling
def test_draw_samples_is_seeded(stvs_flex):
    a = draw_samples(stvs_flex, SETTINGS)
    assert a == draw_samples(stvs_flex, DatasetSettings(samples=48, chunk_size=8, seed=5, key_nodes=KEY))
    assert draw_samples(stvs_flex, DatasetSettings(samples=48, seed=5)) == a  # chunks and key nodes do not matter
    b = draw_samples(stvs_flex, DatasetSettings(samples=48, seed=6))
    assert all(x != y for x, y in zip(a, b))


def test_the_latin_hypercube_depends_on_the_sample_count(stvs_flex):
    """The first 8 of 48 samples are not the 8 samples of the same seed: a separate 8-sample dataset is no
    sub-dataset (so executors are compared chunk by chunk in the resume test instead)."""
    assert draw_samples(stvs_flex, DatasetSettings(samples=8, seed=5)) != draw_samples(stvs_flex, SETTINGS)[:8]


def test_draw_samples_one_per_interval(stvs_flex):
    n = SETTINGS.samples
    r = SampleRanges()
    s = draw_samples(stvs_flex, SETTINGS)
    assert len(s) == n
    assert set(s[0]["load"]) == {"2", "3", "4", "5", "6", "9", "10", "11", "12", "13", "14"}
    assert set(s[0]["gen_share"]) == {"2", "3", "6", "8"}
    assert set(s[0]["der"]) == set(s[0]["feeder_load"]) == {"ieee13@13", "ieee13@14"}

    def strata(values, lo_hi):
        lo, hi = lo_hi
        return sorted(np.floor((np.asarray(values) - lo) / (hi - lo) * n).astype(int))

    everyone = list(range(n))
    for b in s[0]["load"]:
        assert strata([x["load"][b] for x in s], r.load) == everyone
    for b in s[0]["gen_share"]:
        assert strata([x["gen_share"][b] for x in s], r.gen_share) == everyone
    for f in s[0]["der"]:
        assert strata([x["der"][f] for x in s], r.der) == everyone
        assert strata([x["feeder_load"][f] for x in s], r.feeder_load) == everyone
    dur = np.array([x["duration"] for x in s])  # drawn by intervals, then put on the 0.01 s grid
    assert np.allclose(np.round(dur / 0.01) * 0.01, dur, atol=1e-12)
    assert (dur >= r.duration[0] - 1e-12).all() and (dur <= r.duration[1] + 1e-12).all()
    assert len(set(np.round(dur, 2))) >= 15  # 21 grid values in 0.1-0.3 s
    counts = {b: sum(x["fault_bus"] == b for x in s) for b in r.fault_buses}
    assert set(counts.values()) <= {3, 4} and sum(counts.values()) == n  # 48 over 13 buses


@pytest.mark.parametrize("settings, needle", [
    (DatasetSettings(samples=0), "--samples 0"),
    (DatasetSettings(samples=4, ranges=SampleRanges(load=(1.5, 0.7))), "sample range load"),
    (DatasetSettings(samples=4, ranges=SampleRanges(duration=(0.0, 0.3))), "positive time"),
    (DatasetSettings(samples=4, ranges=SampleRanges(fault_buses=())), "no candidate bus"),
    (DatasetSettings(samples=4, ranges=SampleRanges(duration=(0.001, 0.004))), "at least one step"),
    (DatasetSettings(samples=4, ranges=SampleRanges(duration=(0.1, 4.7))), "window after clearing"),
])
def test_draw_samples_bad_settings(stvs_flex, settings, needle):
    with pytest.raises(InputError, match=needle):
        draw_samples(stvs_flex, settings)


def test_sample_system_scales_a_copy(stvs_flex):
    s = draw_samples(stvs_flex, SETTINGS)[0]
    cs = sample_system(stvs_flex, s)
    t0, t1 = stvs_flex.transmission.load, cs.transmission.load
    for b, f in s["load"].items():
        rows = t0.index[t0.bus == b]
        np.testing.assert_allclose(t1.loc[rows, "p_mw"], t0.loc[rows, "p_mw"] * f, rtol=1e-12)
        np.testing.assert_allclose(t1.loc[rows, "q_mvar"], t0.loc[rows, "q_mvar"] * f, rtol=1e-12)
    for name, net in cs.feeders.items():
        src = stvs_flex.feeders[name]
        np.testing.assert_allclose(net.load.p_mw, src.load.p_mw * s["feeder_load"][name], rtol=1e-12)
        np.testing.assert_allclose(net.sgen.p_mw, src.sgen.p_max_mw * s["der"][name], rtol=1e-12)
        np.testing.assert_allclose(src.sgen.p_mw, src.sgen.p_max_mw)  # untouched


# ------------------------------------------------------------------ the dataset (process executor)
# the `dataset` fixture (made from SETTINGS, once per session) is in conftest.py: test_stvs_surrogate.py uses it too


def test_dataset_run_summary(dataset):
    out, run, d = dataset
    assert run.samples == run.computed_samples == 48
    assert (run.computed_chunks, run.kept_chunks) == (6, 0)
    assert run.key_nodes == list(KEY)
    assert run.stable == int((d["tvci"] == 1).sum()) and run.unstable == int((d["tvci"] == 0).sum())
    assert run.failed == int(np.isin(d["status"], ["failed", "failed_init"]).sum())
    assert run.stable + run.unstable + run.failed == 48
    assert run.stable >= 24 and run.unstable >= 1  # most sampled faults are survived, not all
    s = run.summary()
    assert s["out"] == str(out) and s["samples_per_s"] > 0
    assert sorted(p.name for p in out.iterdir()) == [f"chunk_{k:05d}.npz" for k in range(6)] + ["manifest.json"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["n_chunks"] == 6 and set(m["chunks"]) == {str(k) for k in range(6)}
    assert m["settings"]["samples"] == 48 and m["settings"]["key_nodes"] == list(KEY)
    assert m["key_nodes"]["nodes"] == list(KEY) and m["key_nodes"]["given"] is True


def test_dataset_shapes(dataset):
    _, _, d = dataset
    names = d["feature_names"]
    assert d["features"].shape == (48, len(names))
    assert d["features"].dtype == np.float32
    # 5 machines, P and Q of 11 load buses, P and Q of 2 PCCs, 20 steps of 4 key nodes
    assert len(names) == 5 + 22 + 4 + 80 == len(set(names))
    assert names[:5] == ["p_gen_mw:1", "p_gen_mw:2", "p_gen_mw:3", "p_gen_mw:6", "p_gen_mw:8"]
    assert names[-1] == "v_pu:10@20" and "v_pu:14@1" in names and "p_ex_mw:ieee13@14" in names
    assert d["traj"].shape == (48, 500, 4)
    for k in ("tvci", "vdsi", "status", "reason", "fault_bus", "t_clear"):
        assert d[k].shape == (48,), k
    assert d["manifest"]["settings"]["seed"] == 5


def test_dataset_matches_its_samples(dataset, stvs_flex):
    out, _, d = dataset
    samples = draw_samples(stvs_flex, SETTINGS)
    assert list(d["fault_bus"]) == [s["fault_bus"] for s in samples]
    np.testing.assert_allclose(d["t_clear"], [0.2 + s["duration"] for s in samples], rtol=0, atol=1e-12)
    assert ((d["t_clear"] >= 0.3) & (d["t_clear"] <= 0.7)).all()  # durations 0.1-0.5 s
    with np.load(chunk_path(out, 2)) as z:
        assert json.loads(str(z["samples"])) == samples[16:24]
        assert list(z["key_nodes"]) == list(KEY)
    names = d["feature_names"]
    t_load = stvs_flex.transmission.load
    for i, s in enumerate(samples):
        for b, f in s["load"].items():
            p = t_load.p_mw[t_load.bus == b].sum() * f
            assert d["features"][i, names.index(f"p_load_mw:{b}")] == pytest.approx(p, rel=1e-6)
        gen = d["features"][i, :5].astype(float)
        if np.isfinite(gen).all():  # the initial power flow ran: machines carry loads, imports and losses
            carried = sum(d["features"][i, names.index(n)] for n in names if n.startswith(("p_load_mw", "p_ex_mw")))
            assert 0.0 < gen.sum() - carried < 0.05 * carried


def test_labels_follow_the_status(dataset):
    _, _, d = dataset
    assert set(np.unique(d["tvci"])) <= {-1, 0, 1}
    assert set(np.unique(d["status"])) <= {"completed", "stopped", "failed", "failed_init"}
    labelled = np.isin(d["status"], ["completed", "stopped"])
    assert labelled.sum() >= 40
    assert np.isin(d["tvci"][labelled], [0, 1]).all()
    assert np.isfinite(d["vdsi"][labelled]).all() and (d["vdsi"][labelled] >= 0).all()
    assert (d["tvci"][~labelled] == -1).all() and np.isnan(d["vdsi"][~labelled]).all()
    stopped = d["status"] == "stopped"
    assert (d["tvci"][stopped] == 0).all()
    assert all("degrees apart" in r for r in d["reason"][stopped])
    assert all(r for r in d["reason"][d["tvci"] != 1])  # every unstable or failed sample says why
    assert all(r == "" for r in d["reason"][d["tvci"] == 1])
    # unstable samples deviate far more than stable ones
    assert d["vdsi"][d["tvci"] == 0].min() > 10 * d["vdsi"][d["tvci"] == 1].max()


def test_trajectories_cover_the_run(dataset):
    _, _, d = dataset
    done = d["status"] == "completed"
    assert np.isfinite(d["traj"][done]).all()
    assert d["traj"].dtype == np.float64
    # before the fault (grid 0.01 ... 0.19 s) every key node stays at its initial voltage (the system starts in
    # equilibrium, see test_no_drift_before_the_fault)
    assert (np.ptp(d["traj"][done][:, :19, :], axis=1) < 1e-3).all()
    for i in np.flatnonzero(d["status"] == "stopped"):
        ok = np.isfinite(d["traj"][i]).all(axis=1)
        last = np.flatnonzero(ok)[-1]
        assert ok[: last + 1].all() and not ok[last + 1:].any()  # NaN after the stop, only there
        assert GRID[last] >= d["t_clear"][i] - 0.2  # it ran into the fault at least


def test_vdsi_and_tvci_recomputed_from_saved_trajectories(dataset):
    """The saved trajectories reproduce the saved indices.

    Fault durations are drawn on the 0.01 s grid of the saved trajectories, so the indices' grid
    (t_clear + 0.01 k) is a subset of the saved one and the recomputation reads the very values the
    dataset's VDSI was computed from (float64).
    """
    _, _, d = dataset
    done = np.flatnonzero(d["status"] == "completed")
    assert len(done) >= 30
    assert np.allclose(np.round(d["t_clear"] / 0.01), d["t_clear"] / 0.01, atol=1e-9)
    for i in done:
        tc = float(d["t_clear"][i])
        ind = stvs_indices(GRID, d["traj"][i], tc, 5.0)
        assert ind.tvci == d["tvci"][i], i
        assert abs(ind.vdsi - d["vdsi"][i]) <= 1e-9, i
    # a run that stopped: the saved part reproduces the index, the stop moves it by about one grid step
    for i in np.flatnonzero(d["status"] == "stopped"):
        tc = float(d["t_clear"][i])
        n = int(np.floor((5.0 - tc) / 0.01 + 1e-9))
        ok = np.isfinite(d["traj"][i]).all(axis=1)
        if GRID[ok][-1] < tc:
            continue
        got = vdsi(GRID[ok], d["traj"][i][ok].astype(float), tc, 5.0)
        assert abs(got - d["vdsi"][i]) <= 2.0 / n, i


def test_window_features_are_the_key_node_voltages_after_clearing(dataset):
    _, _, d = dataset
    names = d["feature_names"]
    for i in np.flatnonzero(d["status"] == "completed"):
        tc = float(d["t_clear"][i])
        for j, b in enumerate(KEY):
            f = d["features"][i, [names.index(f"v_pu:{b}@{k}") for k in range(1, 21)]]
            w = np.interp(tc + 0.01 * np.arange(1, 21), GRID, d["traj"][i][:, j])
            # re-sampled on the saved grid: within 0.01 p.u. in the fast swing after clearing
            np.testing.assert_allclose(f, w, atol=0.01, rtol=0)


def test_chunk_checksums_guard_the_files(dataset, tmp_path):
    out, _, d = dataset
    m = json.loads((out / "manifest.json").read_text())
    assert chunk_ok(out, 0, m["chunks"]["0"], 8)
    assert not chunk_ok(out, 0, m["chunks"]["0"], 7)
    assert not chunk_ok(out, 0, None, 8)
    assert not chunk_ok(out, 0, m["chunks"]["1"], 8)
    # a well-formed chunk with one altered value no longer matches its checksum
    copy = tmp_path / "ds"
    shutil.copytree(out, copy)
    with np.load(chunk_path(copy, 0)) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["vdsi"] = arrays["vdsi"] + 1e-3
    np.savez_compressed(chunk_path(copy, 0), **arrays)
    assert not chunk_ok(copy, 0, m["chunks"]["0"], 8)
    with pytest.raises(InputError, match="chunk 0 is missing or damaged"):
        load_dataset(copy)
    chunk_path(copy, 0).unlink()
    with pytest.raises(InputError, match="chunk 0 is missing or damaged"):
        load_dataset(copy)


def test_resume_recomputes_a_corrupted_chunk_serially(dataset, tmp_path):
    """A garbled chunk is simulated again (here serially, where the dataset was made on worker processes) and
    the others are kept: the result equals the original, so the executor does not change the data."""
    out, _, d = dataset
    copy = tmp_path / "ds"
    shutil.copytree(out, copy)
    kept_bytes = {k: chunk_path(copy, k).read_bytes() for k in range(6) if k != 1}
    chunk_path(copy, 1).write_bytes(b"garbage, not a zip file" * 100)
    with pytest.raises(InputError, match="chunk 1"):
        load_dataset(copy)
    run = generate_dataset(copy, SETTINGS)  # executor None: serial
    assert (run.computed_chunks, run.kept_chunks, run.computed_samples) == (1, 5, 8)
    assert {k: chunk_path(copy, k).read_bytes() for k in kept_bytes} == kept_bytes
    again = load_dataset(copy)
    for k in ARRAYS:
        np.testing.assert_array_equal(again[k], d[k], err_msg=k)
    assert again["feature_names"] == d["feature_names"]
    # resuming a complete dataset simulates nothing
    run2 = generate_dataset(copy, SETTINGS)
    assert (run2.computed_chunks, run2.kept_chunks, run2.computed_samples) == (0, 6, 0)
    assert (run2.stable, run2.unstable, run2.failed) == (run.stable, run.unstable, run.failed)


@pytest.mark.parametrize("change, needle", [
    ({"samples": 40}, "samples: 48 there, 40 now"),
    ({"seed": 6}, "seed"),
    ({"chunk_size": 4}, "chunk_size"),
    ({"key_nodes": ("14", "13", "12", "9")}, "key_nodes"),
])
def test_other_settings_into_the_same_folder_are_refused(dataset, tmp_path, change, needle):
    from dataclasses import replace

    out, _, _ = dataset
    copy = tmp_path / "ds"
    shutil.copytree(out, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    with pytest.raises(InputError, match="other settings") as exc:
        generate_dataset(copy, replace(SETTINGS, **change))
    assert needle in str(exc.value)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before  # nothing touched


def test_load_dataset_needs_a_manifest(tmp_path):
    with pytest.raises(InputError, match="no manifest.json"):
        load_dataset(tmp_path)


def test_bad_manifest_and_chunk_size(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="not a dataset manifest"):
        generate_dataset(tmp_path, SETTINGS)
    with pytest.raises(InputError, match="chunk size 0"):
        generate_dataset(tmp_path / "b", DatasetSettings(samples=4, chunk_size=0, key_nodes=KEY))


# ------------------------------------------------------------------ key nodes (13 pilot simulations, ~20 s)
def test_select_key_nodes():
    kn = select_key_nodes(n=4)
    buses = {str(b) for b in range(1, 15)}
    assert len(kn.nodes) == 4 == len(set(kn.nodes)) and set(kn.nodes) <= buses
    assert set(kn.scores) == buses
    for b, sc in kn.scores.items():
        assert set(sc) == {"static", "dynamic", "coupling", "total"}
        for k in ("static", "dynamic", "coupling"):
            assert 0.0 <= sc[k] <= 1.0, (b, k)
        assert 0.0 <= sc["total"] <= 3.0
        assert sc["total"] == pytest.approx(sc["static"] + sc["dynamic"] + sc["coupling"], abs=1e-12)
    for k in ("static", "dynamic", "coupling"):  # each score is scaled to its largest value
        assert max(sc[k] for sc in kn.scores.values()) == pytest.approx(1.0)
    # the key nodes are the best totals
    worst_key = min(kn.scores[b]["total"] for b in kn.nodes)
    assert all(kn.scores[b]["total"] <= worst_key for b in buses - set(kn.nodes))
    # voltage-controlled buses (the slack and the machines) have no own dV/dQ and no coupling
    for b in ("1", "2", "3", "6", "8"):
        assert kn.scores[b]["static"] == pytest.approx(0.0, abs=1e-9) and b not in kn.nodes
    # bus 14, a feeder's PCC at the end of the grid, is the most sensitive
    assert kn.nodes[0] == "14"


# ------------------------------------------------------------------ CLI
runner = CliRunner()


def invoke(*args):
    from tdcoord.cli import app

    return runner.invoke(app, [str(a) for a in args])


CLI_ARGS = ("--seed", 1, "--executor", "serial", "--chunk-size", 2, "--key-nodes", "14,13,12,10")


def test_cli_stvs_dataset(tmp_path):
    out, js = tmp_path / "ds", tmp_path / "run.json"
    r = invoke("stvs", "dataset", "--samples", 4, *CLI_ARGS, "--out", out, "--json", js)
    assert r.exit_code == 0, r.output
    s = json.loads(js.read_text())
    assert s["samples"] == s["computed_samples"] == 4
    assert s["key_nodes"] == ["14", "13", "12", "10"]
    assert (s["computed_chunks"], s["kept_chunks"]) == (2, 0)
    assert s["stable"] + s["unstable"] + s["failed"] == 4
    assert "4 samples in" in r.output
    d = load_dataset(out)
    assert d["traj"].shape == (4, 500, 4) and d["features"].shape[0] == 4
    assert int((d["tvci"] == 1).sum()) == s["stable"]
    # the same command again resumes: nothing to simulate
    r = invoke("stvs", "dataset", "--samples", 4, *CLI_ARGS, "--out", out, "--json", js)
    assert r.exit_code == 0, r.output
    s2 = json.loads(js.read_text())
    assert (s2["computed_samples"], s2["kept_chunks"]) == (0, 2)
    # other settings into the same folder: refused, with a message
    r = invoke("stvs", "dataset", "--samples", 6, *CLI_ARGS, "--out", out)
    assert r.exit_code == 2, r.output
    assert "other settings" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("args, needle", [
    (("--samples", 0, *CLI_ARGS), "--samples 0"),
    (("--samples", 4, "--executor", "bogus", "--key-nodes", "14,13,12,10"), "--executor 'bogus'"),
    (("--samples", 4, "--seed", 1, "--executor", "serial", "--chunk-size", 0, "--key-nodes", "14"),
     "--chunk-size 0"),
    (("--samples", 4, "--executor", "serial", "--key-nodes", "14", "--durations", "0.001,0.004"), "one step"),
    (("--samples", 4, "--executor", "serial", "--key-nodes", "14", "--durations", "0.1"), "--durations"),
])
def test_cli_bad_input_exits_2(tmp_path, args, needle):
    r = invoke("stvs", "dataset", *args, "--out", tmp_path / "ds")
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "ds" / "manifest.json").exists()


def test_cli_workers_0_is_refused(tmp_path):
    # --samples 0 keeps it cheap: the workers must be refused before the samples are looked at
    r = invoke("stvs", "dataset", "--samples", 0, "--executor", "process", "--workers", 0, "--key-nodes", "14",
               "--out", tmp_path / "ds")
    assert r.exit_code == 2 and "--workers 0" in r.output
