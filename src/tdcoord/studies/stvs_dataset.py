"""Monte-Carlo dataset of short-term voltage stability (seed 001, section 2.2), on an executor.

Each sample is one operating point of the seed-001 system
(:mod:`tdcoord.cases.stvs_flex`) and one fault, simulated in the time
domain (:mod:`tdcoord.stability.time_domain`) and labelled with TVCI and
VDSI (:mod:`tdcoord.stability.stvs_indices`) over the key nodes.

**Sampling** ("interval random sampling"): every quantity's range is cut
into N equal intervals and each interval is drawn once, uniformly inside
it, in a random order per quantity (a Latin hypercube, scipy's
``qmc.LatinHypercube``, seeded). The quantities (:class:`SampleRanges`):
each transmission load bus's load (P and Q together), each machine's share
of the generation (the machines carry the load in these shares; the slack
takes the rest), each feeder's load and its inverters' output (PV and wind
availability; batteries idle), hence the PCC exchange, and the fault: its
bus (the interval picks one of the candidate buses) and its duration
(cleared 0.1-0.5 s after it starts at 0.2 s, in steps of 0.01 s: the grid
of the saved trajectories, so that the indices recomputed from them are
the saved ones). Faults held up to 0.3 s make only about 2 % of the
samples unstable (seed 0, 150 samples: 146 stable, 3 unstable, 1 failed);
up to 0.5 s reaches the critical clearing times of faults near the
machines.

**Key nodes**, by the paper's three steps (:func:`select_key_nodes`):
(1) static vulnerability: each bus's voltage sensitivity to its own
reactive injection, dV_i/dQ_i, at the base power flow; (2) dynamic fault
disturbance: each bus's mean voltage deviation after clearing, over one
pilot fault at every candidate bus; (3) coupling with the feeders' voltage
support: the bus's sensitivity to the PCCs' reactive injections,
sum_pcc |dV_i/dQ_pcc|. Each score is scaled to its largest value; the
buses with the largest sum are the key nodes.

**CNN inputs** per sample (``features``, named in ``feature_names``): the
machines' active outputs at the initial power flow, the transmission
loads (P and Q per bus), the PCC exchanges (P and Q per feeder), and each
key node's voltage at the first ``WINDOW`` steps of 0.01 s after clearing
(the paper's "key nodes x 20").

**Storage**: ``DIR/manifest.json`` (settings, key nodes and their scores,
each chunk's SHA-256) and ``DIR/chunk_NNNNN.npz`` with, per sample, the
inputs, TVCI, VDSI, the simulation's status and reason, the sampled
quantities and the key nodes' trajectories on a 0.01 s grid over the whole
run (NaN after a run that stopped early), from which the indices can be
recomputed. A run with the same settings resumes: chunks whose files are
present and match their checksums are kept, missing or corrupted ones are
(re)computed. The same seed gives the same dataset, on any executor.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tdcoord.errors import InputError
from tdcoord.results.serialize import atomic_path, write_json

VERSION = 2  # 2: the faulted bus angle restored at clearing (time_domain.restore_fault_angle)
WINDOW = 20  # key-node voltage samples after clearing in the CNN inputs
DT_SAVE = 0.01  # grid of the saved trajectories, s
T_FAULT = 0.2
CANDIDATE_BUSES = tuple(str(b) for b in range(2, 15))  # every bus but the slack's


@dataclass
class SampleRanges:
    """The intervals the samples are drawn from (factors on the base case; seconds for the fault)."""

    load: tuple[float, float] = (0.7, 1.5)  # each transmission load bus
    gen_share: tuple[float, float] = (0.7, 1.3)  # each machine's share of the generation
    feeder_load: tuple[float, float] = (0.5, 1.3)  # each feeder's loads
    der: tuple[float, float] = (0.0, 1.0)  # each feeder's PV/wind availability
    # fault clearing time after its start. Up to 0.5 s: with 0.1-0.3 s only about 2 % of the samples are
    # unstable (faults next to machine 2 held the longest), too few for a classifier to learn from
    duration: tuple[float, float] = (0.1, 0.5)
    fault_buses: tuple[str, ...] = CANDIDATE_BUSES

    def check(self) -> None:
        for name in ("load", "gen_share", "feeder_load", "der", "duration"):
            lo, hi = getattr(self, name)
            if not (0 <= lo <= hi):
                raise InputError(f"sample range {name}: ({lo}, {hi}); expected 0 <= low <= high")
        if not self.duration[0] > 0:
            raise InputError(f"sample range duration: {self.duration}; a fault lasts a positive time")
        if not self.fault_buses:
            raise InputError("sample range fault_buses: no candidate bus")


@dataclass
class DatasetSettings:
    samples: int
    seed: int = 0
    chunk_size: int = 25
    key_nodes: tuple[str, ...] = ()
    t_end: float = 5.0
    ranges: SampleRanges = field(default_factory=SampleRanges)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["key_nodes"] = list(self.key_nodes)
        d["ranges"]["fault_buses"] = list(self.ranges.fault_buses)
        d["version"] = VERSION
        return d


# ------------------------------------------------------------------ sampling
def load_buses(cs: Any) -> list[str]:
    ld = cs.transmission.load
    return sorted({str(b) for b in ld.bus[ld.in_service]}, key=lambda b: (len(b), b))


MACHINE_BUSES = ("2", "3", "6", "8")  # the dynamic case's machines other than the slack


def draw_samples(cs: Any, settings: DatasetSettings) -> list[dict]:
    """Every sample's quantities, drawn at once from the seed (a Latin hypercube over all of them)."""
    from scipy.stats import qmc

    r = settings.ranges
    r.check()
    lo, hi = r.duration
    if round(lo / DT_SAVE) < 1:
        raise InputError(f"sample range duration: {r.duration} s; the shortest fault must last at least one step of "
                         f"{DT_SAVE} s (durations are rounded to that grid)")
    if T_FAULT + hi + (WINDOW + 1) * DT_SAVE > settings.t_end + 1e-9:
        raise InputError(f"sample range duration: {r.duration} s; a fault from {T_FAULT} s must be cleared "
                         f"{(WINDOW + 1) * DT_SAVE:.2f} s before the end ({settings.t_end} s) to leave the CNN's "
                         "window after clearing inside the run")
    if settings.samples < 1:
        raise InputError(f"--samples {settings.samples}: expected at least 1")
    buses = load_buses(cs)
    feeders = list(cs.feeders)
    dims = len(buses) + len(MACHINE_BUSES) + 2 * len(feeders) + 2
    u = qmc.LatinHypercube(d=dims, seed=np.random.default_rng(settings.seed)).random(settings.samples)

    def scale(col: np.ndarray, lo_hi: tuple[float, float]) -> np.ndarray:
        return lo_hi[0] + col * (lo_hi[1] - lo_hi[0])

    out = []
    for row in u:
        k = 0
        s: dict[str, Any] = {"load": {}, "gen_share": {}, "feeder_load": {}, "der": {}}
        for b in buses:
            s["load"][b] = float(scale(row[k], r.load)); k += 1
        for b in MACHINE_BUSES:
            s["gen_share"][b] = float(scale(row[k], r.gen_share)); k += 1
        for f in feeders:
            s["feeder_load"][f] = float(scale(row[k], r.feeder_load)); k += 1
            s["der"][f] = float(scale(row[k], r.der)); k += 1
        s["fault_bus"] = r.fault_buses[min(int(row[k] * len(r.fault_buses)), len(r.fault_buses) - 1)]; k += 1
        # on the 0.01 s grid, so that the saved trajectories' grid is the indices' grid (exact recomputation)
        s["duration"] = float(np.round(scale(row[k], r.duration) / DT_SAVE) * DT_SAVE)
        out.append(s)
    return out


def sample_system(base: Any, s: dict) -> Any:
    """A copy of the coupled system at a sample's loads and inverter outputs."""
    cs = base.copy()
    t = cs.transmission
    for b, f in s["load"].items():
        rows = t.load.index[t.load.bus == b]
        t.load.loc[rows, ["p_mw", "q_mvar"]] = base.transmission.load.loc[rows, ["p_mw", "q_mvar"]].to_numpy() * f
    for name, net in cs.feeders.items():
        src = base.feeders[name]
        net.load[["p_mw", "q_mvar"]] = src.load[["p_mw", "q_mvar"]].to_numpy() * s["feeder_load"][name]
        if len(net.sgen):
            net.sgen["p_mw"] = src.sgen.p_max_mw.fillna(src.sgen.p_mw).to_numpy() * s["der"][name]
    return cs


def uniform_point(cs: Any, load: float = 1.0, gen_share: float = 1.0, feeder_load: float = 1.0,
                  der: float = 1.0) -> dict:
    """A sample's quantities (no fault) with one factor for every load bus, machine, feeder and inverter group."""
    for name, v in (("load", load), ("gen_share", gen_share), ("feeder_load", feeder_load), ("der", der)):
        if not (np.isfinite(v) and v >= 0):
            raise InputError(f"operating point: {name} factor {v!r}; expected a finite number >= 0")
    return {"load": {b: float(load) for b in load_buses(cs)}, "gen_share": {b: float(gen_share) for b in MACHINE_BUSES},
            "feeder_load": {f: float(feeder_load) for f in cs.feeders}, "der": {f: float(der) for f in cs.feeders}}


# ------------------------------------------------------------------ one sample
def sample_operating_point(base: Any, s: dict) -> Any:
    """The simulation's starting point of a sample (machines in the sample's shares of the dynamic case's)."""
    from tdcoord.stability.time_domain import operating_point

    op = operating_point(sample_system(base, s))
    op.gen_share = dict(s["gen_share"])
    return op


def window_features(op: Any, sim: Any, key_nodes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The CNN inputs of one simulated fault, and their names (the module's docstring lists them).

    Only the first ``WINDOW`` steps after clearing are read, so a run that
    ends there (:func:`window_end`) gives the same inputs as the whole run.
    """
    from tdcoord.stability.stvs_indices import uniform

    window = np.full((WINDOW, len(key_nodes)), np.nan)
    if len(sim.t) >= 2:
        _, window = uniform(sim.t, sim.voltages(key_nodes), sim.fault.t_clear, sim.fault.t_clear + WINDOW * DT_SAVE,
                            DT_SAVE)
    gen = [sim.gen_mw.get(b, np.nan) for b in ("1",) + MACHINE_BUSES]
    feats = op.features()
    x = np.r_[gen, list(feats.values()), np.nan_to_num(window[:WINDOW], nan=0.0).T.ravel()]
    names = (["p_gen_mw:" + b for b in ("1",) + MACHINE_BUSES] + list(feats)
             + [f"v_pu:{b}@{k + 1}" for b in key_nodes for k in range(WINDOW)])
    return x, names


def window_end(fault: Any) -> float:
    """Where a simulation can stop and still give the CNN's inputs: the window after clearing, one step more."""
    return fault.t_clear + (WINDOW + 1) * DT_SAVE


def run_sample(base: Any, s: dict, key_nodes: list[str], t_end: float) -> dict:
    """Simulate one sample and label it: inputs, indices, status and the key nodes' trajectories."""
    from tdcoord.stability.stvs_indices import uniform
    from tdcoord.stability.time_domain import FaultSpec, simulate

    op = sample_operating_point(base, s)
    fault = FaultSpec(s["fault_bus"], T_FAULT + s["duration"], T_FAULT)
    sim = simulate(op, fault, t_end)
    n_grid = int(round(t_end / DT_SAVE))
    traj = np.full((n_grid, len(key_nodes)), np.nan)
    tvci, vdsi = -1, float("nan")  # -1: no label (the simulation failed; see status and reason)
    reason = sim.reason
    if len(sim.t) >= 2:
        _, grid_v = uniform(sim.t, sim.voltages(key_nodes), 0.0, t_end, DT_SAVE)
        traj[:] = grid_v[:n_grid]
        if sim.status in ("completed", "stopped"):  # a numerical failure is no label: recorded, not learned from
            ind = sim.indices(key_nodes)
            tvci, vdsi = ind.tvci, ind.vdsi
            reason = reason or ind.reason
    x, names = window_features(op, sim, key_nodes)
    return {"features": x.astype(np.float32), "tvci": tvci, "vdsi": vdsi, "status": sim.status, "reason": reason,
            "traj": traj, "names": names}


class SampleRunner:
    """A worker's simulator: the base system, built once, and chunks of samples run on it."""

    def __init__(self, key_nodes: list[str], t_end: float) -> None:
        from tdcoord.cases.stvs_flex import stvs_flex_system

        self.base = stvs_flex_system()
        self.key_nodes = list(key_nodes)
        self.t_end = t_end

    def run_chunk(self, chunk: int, samples: list[dict]) -> dict:
        t0 = time.perf_counter()
        rows = [run_sample(self.base, s, self.key_nodes, self.t_end) for s in samples]
        return {"chunk": chunk, "rows": rows, "time_s": time.perf_counter() - t0}


def _runner(key_nodes: list[str], t_end: float) -> Callable[[], SampleRunner]:
    import functools

    return functools.partial(SampleRunner, list(key_nodes), t_end)


# ------------------------------------------------------------------ key nodes
@dataclass
class KeyNodes:
    nodes: list[str]
    scores: dict[str, dict[str, float]]  # bus -> {static, dynamic, coupling, total}


def select_key_nodes(n: int = 4, *, duration: float = 0.2, t_end: float = 5.0,
                     candidates: tuple[str, ...] = CANDIDATE_BUSES) -> KeyNodes:
    """The paper's three steps (see the module docstring) on the base case; the ``n`` best buses."""
    from tdcoord.cases.stvs_flex import stvs_flex_system
    from tdcoord.network.compiled import compile_network
    from tdcoord.pf.integrated import run_coupled
    from tdcoord.pf.sensitivity import injection_sensitivities
    from tdcoord.stability.time_domain import FaultSpec, operating_point, simulate

    cs = stvs_flex_system()
    pf = run_coupled(cs)
    ms, res = pf.merged
    cn = compile_network(ms.network)
    v = res.res_bus.vm_pu.reindex(cn.labels).to_numpy() * np.exp(1j * np.deg2rad(
        res.res_bus.va_degree.reindex(cn.labels).to_numpy()))
    t_buses = [str(b) for b in cs.transmission.bus.index]
    pos = {lab: k for k, lab in enumerate(cn.labels)}
    t_pos = np.array([pos[b] for b in t_buses])
    sens = injection_sensitivities(cn, v, t_pos)
    dvdq = np.asarray(sens.dv_dq)[t_pos, :]  # [bus, injection bus]
    static = np.abs(np.diag(dvdq))
    pcc = [t_buses.index(str(b)) for b in cs.boundary.bus]
    coupling = np.abs(dvdq[:, pcc]).sum(axis=1)
    op = operating_point(cs, pf)
    dyn = np.zeros(len(t_buses))
    runs = 0
    for b in candidates:
        sim = simulate(op, FaultSpec(b, T_FAULT + duration, T_FAULT), t_end)
        if len(sim.t) < 2:
            continue
        after = sim.t > T_FAULT + duration
        dyn += np.abs(sim.voltages(t_buses)[after] - 1.0).mean(axis=0) if after.any() else 0.0
        runs += 1
    dyn /= max(runs, 1)
    parts = {"static": static, "dynamic": dyn, "coupling": coupling}
    scaled = {k: a / a.max() if a.max() > 0 else a for k, a in parts.items()}
    total = sum(scaled.values())
    order = [t_buses[i] for i in np.argsort(-total, kind="stable")]
    scores = {b: {**{k: float(scaled[k][i]) for k in parts}, "total": float(total[i])} for i, b in enumerate(t_buses)}
    return KeyNodes(order[:n], scores)


# ------------------------------------------------------------------ chunks
def chunk_path(out: Path, k: int) -> Path:
    return out / f"chunk_{k:05d}.npz"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_chunk(out: Path, k: int, samples: list[dict], rows: list[dict], key_nodes: list[str]) -> str:
    path = chunk_path(out, k)
    with atomic_path(path, ".npz") as tmp:  # np.savez adds .npz to a name without it
        np.savez_compressed(
            tmp,
            features=np.stack([r["features"] for r in rows]),
            feature_names=np.array(rows[0]["names"]),
            tvci=np.array([r["tvci"] for r in rows], np.int8),
            vdsi=np.array([r["vdsi"] for r in rows], float),
            status=np.array([r["status"] for r in rows]),
            reason=np.array([r["reason"] for r in rows]),
            traj=np.stack([r["traj"] for r in rows]),
            key_nodes=np.array(key_nodes),
            fault_bus=np.array([s["fault_bus"] for s in samples]),
            t_clear=np.array([T_FAULT + s["duration"] for s in samples]),
            samples=np.array(json.dumps(samples)),
        )
    return sha256(path)


def chunk_ok(out: Path, k: int, digest: str | None, size: int) -> bool:
    """Whether chunk ``k`` is on disk, matches its checksum and holds ``size`` samples."""
    path = chunk_path(out, k)
    if digest is None or not path.exists() or sha256(path) != digest:
        return False
    try:
        with np.load(path) as z:
            return len(z["tvci"]) == size and z["traj"].shape[0] == size
    except Exception:  # a truncated or garbled file
        return False


@dataclass
class DatasetRun:
    out: Path
    samples: int
    computed_samples: int  # simulated in this run (the rest were kept from an earlier one)
    computed_chunks: int
    kept_chunks: int
    time_s: float
    key_nodes: list[str]
    stable: int
    unstable: int
    failed: int  # simulations that did not initialize or failed to integrate

    def summary(self) -> dict:
        d = asdict(self)
        d["out"] = str(self.out)
        d["samples_per_s"] = self.computed_samples / self.time_s if self.time_s > 0 else None
        return d


def generate_dataset(out: str | Path, settings: DatasetSettings, executor: Any = None, workers: int | None = None,
                     progress: Callable[[str], None] | None = None) -> DatasetRun:
    """Simulate ``settings.samples`` samples into ``out`` in chunks on ``executor`` (serial unless given),
    resuming what an earlier run with the same settings left. ``workers``: chunks simulated at a time (default:
    the executor's workers)."""
    from tdcoord.cases.stvs_flex import stvs_flex_system

    t0 = time.perf_counter()
    out = Path(out)
    say = progress or (lambda m: None)
    if settings.chunk_size < 1:
        raise InputError(f"chunk size {settings.chunk_size}: expected at least 1")
    samples = draw_samples(stvs_flex_system(), settings)  # checks the settings before anything is written
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{manifest_path}: not a dataset manifest ({exc})") from exc
    key = dict(manifest.get("key_nodes") or {})
    if settings.key_nodes:
        key = {"nodes": list(settings.key_nodes), "scores": {}, "given": True}
    elif not key:
        say("key nodes (three steps, pilot faults)")
        kn = select_key_nodes(t_end=settings.t_end)
        key = {"nodes": kn.nodes, "scores": kn.scores, "given": False}
    wanted = settings.as_dict()
    wanted["key_nodes"] = key["nodes"]
    wanted = json.loads(json.dumps(wanted))  # as it reads back from the manifest (tuples as lists)
    if manifest.get("settings") and manifest["settings"] != wanted:
        raise InputError(f"{out} holds a dataset made with other settings ({_diff(manifest['settings'], wanted)}); "
                         "use another folder or the same settings to resume")
    chunks = [samples[i:i + settings.chunk_size] for i in range(0, len(samples), settings.chunk_size)]
    digests: dict[str, str] = dict(manifest.get("chunks") or {})
    pending = [k for k in range(len(chunks)) if not chunk_ok(out, k, digests.get(str(k)), len(chunks[k]))]
    kept = len(chunks) - len(pending)

    def save_manifest() -> None:
        write_json(manifest_path, {"settings": wanted, "key_nodes": key, "chunks": digests, "n_chunks": len(chunks)},
                   indent=1)

    save_manifest()
    if pending:
        from tdcoord.execution import make_executor

        ex = executor or make_executor("serial")
        names = [f"sim{i}" for i in range(max(1, workers or getattr(ex, "workers", 1)))]
        ex.open({n: _runner(key["nodes"], settings.t_end) for n in names})
        try:
            for start in range(0, len(pending), len(names)):
                batch = pending[start:start + len(names)]
                res = ex.call("run_chunk", {n: (k, chunks[k]) for n, k in zip(names, batch)})
                for r in res.values():
                    k = r["chunk"]
                    digests[str(k)] = write_chunk(out, k, chunks[k], r["rows"], key["nodes"])
                save_manifest()
                say(f"chunks {start + len(batch)}/{len(pending)} computed")
        finally:
            ex.close()
    stable = unstable = failed = 0
    for k in range(len(chunks)):
        with np.load(chunk_path(out, k)) as z:
            stable += int((z["tvci"] == 1).sum())
            unstable += int((z["tvci"] == 0).sum())
            failed += int(np.isin(z["status"], ["failed_init", "failed"]).sum())
    return DatasetRun(out, len(samples), sum(len(chunks[k]) for k in pending), len(pending), kept,
                      time.perf_counter() - t0, list(key["nodes"]), stable, unstable, failed)


def _diff(a: dict, b: dict) -> str:
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return ", ".join(f"{k}: {a.get(k)!r} there, {b.get(k)!r} now" for k in keys[:3])


def load_dataset(folder: str | Path) -> dict[str, Any]:
    """Every chunk of a dataset folder, concatenated (arrays by name), with the manifest."""
    folder = Path(folder)
    mp = folder / "manifest.json"
    if not mp.exists():
        raise InputError(f"{folder}: no manifest.json; make a dataset with `tdcoord stvs dataset --out {folder}`")
    manifest = json.loads(mp.read_text())
    parts: dict[str, list] = {}
    for k in range(int(manifest.get("n_chunks", 0))):
        path = chunk_path(folder, k)
        if not path.exists() or sha256(path) != manifest["chunks"].get(str(k)):
            raise InputError(f"{folder}: chunk {k} is missing or damaged; run `tdcoord stvs dataset` with the same "
                             "settings again to complete it")
        with np.load(chunk_path(folder, k)) as z:
            for name in ("features", "tvci", "vdsi", "status", "reason", "traj", "fault_bus", "t_clear"):
                parts.setdefault(name, []).append(z[name])
            names = list(z["feature_names"])
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["feature_names"] = names
    out["manifest"] = manifest
    return out


__all__ = ["DatasetRun", "DatasetSettings", "KeyNodes", "SampleRanges", "SampleRunner", "draw_samples",
           "generate_dataset", "load_dataset", "run_sample", "sample_system", "select_key_nodes", "uniform_point",
           "window_end", "window_features"]
