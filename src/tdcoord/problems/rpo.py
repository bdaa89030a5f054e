"""Reactive power optimization of a coupled T-D system, as reusable areas.

The system is cut at its boundaries into areas: the transmission grid (AC
polar) and each feeder together with its boundary transformer (branch flow,
exact or SOC-relaxed), rooted at a copy of its transmission bus. Each area
is built into an :class:`~tdcoord.backends.casadi_nlp.NlpBuilder` with

- variables: voltages, device set-points (generator/condenser Q, inverter Q,
  SVG/STATCOM Q, capacitor steps), boundary quantities;
- parameters: bus loads (so that periods and scenarios re-solve one model);
- objective terms in physical units: ``loss_mw`` (active losses, MW),
  ``q_cost`` (sum of c Q^2, $/h), ``dv`` (sum over buses of (V - 1)^2, p.u.^2),
  weighted by parameters ``alpha``, ``beta``, ``gamma``;
- boundary handles ``(vm, p, q)`` with p, q in p.u. on the transmission base,
  flow from transmission into the feeder.

Strategies (``tdcoord.coordination``) put one or several areas into one
builder and couple their boundary handles (equalities, fixed values or ADMM
penalties). Extra objective terms and constraints (the voltage-stability
penalty, reserve requirements) are added through ``hooks``: callables
``hook(builder, area)`` run after an area is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import casadi as ca
import numpy as np
import pandas as pd

from tdcoord.backends.casadi_nlp import NlpBuilder, sparse_dm
from tdcoord.devices import capacitor, collect_all, generator, inverter, svc
from tdcoord.devices.base import DeviceVars
from tdcoord.formulations.acp import AcpModel, add_balance, build_acp
from tdcoord.formulations.branch_flow import BranchFlowModel, build_branch_flow
from tdcoord.network.compiled import CompiledNetwork, compile_network
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.pf.integrated import HV_BUS, feeder_with_boundary

TERMS = ("loss_mw", "q_cost", "dv")


@dataclass
class Weights:
    """Objective weights: alpha per MW of loss, beta per $/h, gamma per p.u.^2."""

    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    delta: float = 1.0
    method: str = "explicit"
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma, "delta": self.delta}


@dataclass
class RpoConfig:
    weights: Weights = field(default_factory=Weights)
    feeder_formulation: str = "branch_flow"  # or "soc_bf"
    vm_ref: float = 1.0
    vm_band: tuple[float, float] | None = None  # enforced on top of bus limits (None: bus limits only)
    count_band: tuple[float, float] = (0.95, 1.05)  # buses outside it are counted as violations
    discrete: bool = False  # capacitor steps declared integer (bonmin)
    hooks: list[Callable[[NlpBuilder, "Area"], None]] = field(default_factory=list)
    vsm: Any = None  # VsmSettings: key-node margins in the problem (tdcoord.problems.vsm)
    vsm_nodes: list[str] = field(default_factory=list)
    vsm_lin: Any = None  # Linearization loaded into the problem's parameters
    reserve: dict = field(default_factory=dict)  # (area, table, index) -> reserve requirement, Mvar


@dataclass
class Area:
    name: str  # "T" or the feeder's name
    kind: str  # transmission | feeder
    network: Network  # the area's network as optimized (feeder incl. boundary trafo and HV bus)
    cn: CompiledNetwork  # compiled without device injections
    model: AcpModel | BranchFlowModel
    devices: list[DeviceVars]
    terms: dict[str, Any]
    boundary: dict[str, tuple[Any, Any, Any]]  # feeder name -> (vm, p, q), p/q in p.u. on the T base
    base_mva: float
    t_base_mva: float
    bus_labels: np.ndarray  # labels as in results (T labels or namespaced feeder labels)
    dv_buses: np.ndarray  # bus positions counted in dv and violations

    @property
    def vm(self) -> Any:
        return self.model.vm


def device_free_network(net: Network) -> Network:
    """Copy whose compiled arrays hold loads and fixed shunts only.

    Inverters, SVCs and controllable shunts are modelled as devices with
    their own variables, so their injections are removed here.
    """
    n = net.copy()
    n.sgen = n.sgen.assign(p_mw=0.0, q_mvar=0.0)
    n.svc = n.svc.assign(q_mvar=0.0)
    n.shunt.loc[n.shunt.controllable, "step"] = 0
    return n


def _declare_devices(b: NlpBuilder, prefix: str, net: Network, cn: CompiledNetwork, vm: Any, cfg: RpoConfig,
                     skip_ext_grid: bool) -> list[DeviceVars]:
    out = []
    for ds in collect_all(net, cn):
        if ds.kind == "ext_grid" and skip_ext_grid:
            continue
        if ds.kind in ("generator", "ext_grid"):
            out.append(generator.declare(b, prefix, ds, cn.n_bus))
        elif ds.kind == "inverter":
            out.append(inverter.declare(b, prefix, ds, cn.n_bus))
        elif ds.kind == "svc":
            out.append(svc.declare(b, prefix, ds, cn.n_bus))
        elif ds.kind == "capacitor":
            out.append(capacitor.declare(b, prefix, ds, cn.n_bus, vm, discrete=cfg.discrete))
    if cfg.reserve:
        from tdcoord.problems.reserve import apply_requirements

        apply_requirements(b, prefix, prefix, out, cfg.reserve)
    return out


def _sum(parts: list[Any], n: int) -> Any:
    total = ca.SX.zeros(n, 1)
    for p in parts:
        if isinstance(p, (int, float)) and p == 0:
            continue
        total = total + p
    return total


def _q_cost(devices: list[DeviceVars]) -> Any:
    total = 0
    for dv in devices:
        if np.any(dv.ds.cost > 0):
            qm = dv.q * dv.ds.base_mva
            total = total + ca.dot(dv.ds.cost, qm**2)
    return total


def _vm_bounds(cn: CompiledNetwork, cfg: RpoConfig) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = cn.vm_min.copy(), cn.vm_max.copy()
    if cfg.vm_band is not None:
        lo = np.maximum(lo, cfg.vm_band[0])
        hi = np.minimum(hi, cfg.vm_band[1])
    return lo, hi


WEIGHT_OF_TERM = {"loss_mw": "alpha", "q_cost": "beta", "dv": "gamma", "vsm": "delta"}


def _weighted_terms(b: NlpBuilder, prefix: str, terms: dict[str, Any], cfg: RpoConfig) -> None:
    for key, expr in terms.items():
        b.cost(f"{prefix}.{key}", expr, f"w.{WEIGHT_OF_TERM[key]}")


def ensure_weight_params(b: NlpBuilder, cfg: RpoConfig) -> None:
    for w in ("alpha", "beta", "gamma", "delta"):
        if f"w.{w}" not in b.params:
            b.param(f"w.{w}", getattr(cfg.weights, w))


def set_weights(b: NlpBuilder, weights: Weights) -> None:
    for w, v in weights.as_dict().items():
        if f"w.{w}" in b.params:
            b.set_param(f"w.{w}", v)


def build_transmission(b: NlpBuilder, cs: CoupledSystem, cfg: RpoConfig, boundary_names: list[str] | None = None,
                       start: dict | None = None) -> Area:
    """The transmission area; each feeder is a boundary load (p, q variables)."""
    ensure_weight_params(b, cfg)
    net = cs.transmission
    cn = compile_network(device_free_network(net))
    start = start or {}
    lo, hi = _vm_bounds(cn, cfg)
    acp = build_acp(b, cn, "T", vm0=start.get("vm"), va0=start.get("va"), vm_min=lo, vm_max=hi)
    devices = _declare_devices(b, "T", net, cn, acp.vm, cfg, skip_ext_grid=False)
    names = list(cs.boundary.index[cs.boundary.in_service]) if boundary_names is None else boundary_names
    pos = cn.position()
    nbd = len(names)
    bpos = np.array([pos[cs.boundary.at[n, "bus"]] for n in names], dtype=int)
    pb = b.var("T.boundary_p", nbd, -np.inf, np.inf, start.get("boundary_p", 0.0))
    qb = b.var("T.boundary_q", nbd, -np.inf, np.inf, start.get("boundary_q", 0.0))
    import scipy.sparse as sp

    inc = sparse_dm(sp.csr_matrix((np.ones(nbd), (bpos, np.arange(nbd))), shape=(cn.n_bus, nbd)))
    p_load = b.param("T.p_load", cn.p_load)
    q_load = b.param("T.q_load", cn.q_load)
    p_dev = _sum([d.p_bus for d in devices], cn.n_bus) - p_load - ca.mtimes(inc, pb)
    q_dev = _sum([d.q_bus for d in devices], cn.n_bus) - q_load - ca.mtimes(inc, qb)
    add_balance(b, acp, p_dev, q_dev)
    terms = {
        "loss_mw": acp.loss_pu * cn.base_mva,
        "q_cost": _q_cost(devices),
        "dv": ca.sumsqr(acp.vm - cfg.vm_ref),
    }
    _weighted_terms(b, "T", terms, cfg)
    boundary = {n: (acp.vm[int(bpos[k])], pb[k], qb[k]) for k, n in enumerate(names)}
    area = Area("T", "transmission", net, cn, acp, devices, terms, boundary, cn.base_mva, cn.base_mva,
                cn.labels.copy(), np.arange(cn.n_bus))
    for hook in cfg.hooks:
        hook(b, area)
    return area


def build_feeder(b: NlpBuilder, cs: CoupledSystem, fname: str, cfg: RpoConfig, start: dict | None = None) -> Area:
    """A feeder with its boundary transformer, rooted at the transmission bus."""
    ensure_weight_params(b, cfg)
    net = feeder_with_boundary(cs, fname)
    t_bus = cs.boundary.at[fname, "bus"]
    net.bus.loc[HV_BUS, ["vm_min_pu", "vm_max_pu"]] = cs.transmission.bus.loc[t_bus, ["vm_min_pu", "vm_max_pu"]].to_numpy()
    cn = compile_network(device_free_network(net))
    lo, hi = _vm_bounds(cn, cfg)
    root = cn.position()[HV_BUS]
    lo[root], hi[root] = cn.vm_min[root], cn.vm_max[root]
    prefix = fname
    start = start or {}
    devs_vm = b.var(f"{prefix}.vm", cn.n_bus, lo, hi, np.clip(start.get("vm", np.ones(cn.n_bus)), lo, hi))
    # devices need vm (capacitors); the branch-flow model reuses this block
    devices = _declare_devices(b, prefix, net, cn, devs_vm, cfg, skip_ext_grid=True)
    p_load = b.param(f"{prefix}.p_load", cn.p_load)
    q_load = b.param(f"{prefix}.q_load", cn.q_load)
    p_dev = _sum([d.p_bus for d in devices], cn.n_bus) - p_load
    q_dev = _sum([d.q_bus for d in devices], cn.n_bus) - q_load
    model = build_branch_flow(b, cn, prefix, p_dev, q_dev, relaxed=cfg.feeder_formulation == "soc_bf",
                              root=root, start=start, vm=devs_vm)
    scale = cn.base_mva / cs.transmission.sn_mva
    keep = np.delete(np.arange(cn.n_bus), root)
    terms = {
        "loss_mw": model.loss_pu * cn.base_mva,
        "q_cost": _q_cost(devices),
        "dv": ca.sumsqr(devs_vm[keep.tolist()] - cfg.vm_ref) if len(keep) else 0,
    }
    _weighted_terms(b, prefix, terms, cfg)
    boundary = {fname: (devs_vm[root], model.p_root * scale, model.q_root * scale)}
    labels = np.array([f"{fname}:{lab}" if lab != HV_BUS else t_bus for lab in cn.labels], dtype=object)
    area = Area(fname, "feeder", net, cn, model, devices, terms, boundary, cn.base_mva, cs.transmission.sn_mva,
                labels, keep)
    for hook in cfg.hooks:
        hook(b, area)
    return area


# --------------------------------------------------------------- solutions
@dataclass
class AreaSolution:
    """Numbers of one area after a solve."""

    name: str
    vm: np.ndarray
    va: np.ndarray | None
    devices: dict[str, pd.DataFrame]  # table -> set-points (index = element index)
    terms: dict[str, float]
    boundary: dict[str, np.ndarray]  # feeder -> [vm, p, q] (T base p.u.)
    raw: dict[str, np.ndarray]
    bus_labels: np.ndarray  # labels of vm (T labels, namespaced feeder labels)


class AreaEvaluator:
    """One casadi Function giving an area's terms, boundary and set-points.

    Its inputs are only the symbols the area's expressions use (found with
    ``casadi.symvar``), gathered from the solution and parameters by index,
    so that evaluating one area of a model with many costs what that area
    costs, not what the whole model does.
    """

    def __init__(self, b: NlpBuilder, area: Area) -> None:
        outs: list[Any] = []
        self.layout: list[tuple[str, str, int]] = []

        def add(kind: str, key: str, expr: Any) -> None:
            e = ca.vec(ca.SX(expr)) if not isinstance(expr, ca.SX) else ca.vec(expr)
            outs.append(e)
            self.layout.append((kind, key, e.shape[0]))

        for k, e in area.terms.items():
            add("term", k, e)
        for n, hs in area.boundary.items():
            add("boundary", n, ca.vertcat(*hs))
        for k, dv in enumerate(area.devices):
            add("q", str(k), dv.q)
            add("p", str(k), dv.p)
            if "step" in dv.other:
                add("step", str(k), dv.other["step"])
        out = ca.vertcat(*outs)
        syms = ca.symvar(out)
        where = symbol_index(b)
        self.x_idx = np.array([where[s.name()][1] for s in syms if where[s.name()][0] == "x"], dtype=int)
        self.p_idx = np.array([where[s.name()][1] for s in syms if where[s.name()][0] == "p"], dtype=int)
        xs = [s for s in syms if where[s.name()][0] == "x"]
        ps = [s for s in syms if where[s.name()][0] == "p"]
        self.fn = ca.Function("area_eval", [ca.vertcat(*xs) if xs else ca.SX(0, 1), ca.vertcat(*ps) if ps else ca.SX(0, 1)], [out])

    def __call__(self, b: NlpBuilder, sol: Any) -> dict[tuple[str, str], np.ndarray]:
        p = b.param_values()
        flat = np.asarray(self.fn(sol.x_raw[self.x_idx], p[self.p_idx])).ravel()
        out, k = {}, 0
        for kind, key, n in self.layout:
            out[(kind, key)] = flat[k:k + n]
            k += n
        return out


def symbol_index(b: NlpBuilder) -> dict[str, tuple[str, int]]:
    """Name of every scalar symbol of the builder -> ("x" or "p", position in x or p)."""
    cache = b.__dict__.setdefault("_symbol_index", {})
    key = (len(b.blocks), len(b.params))
    if cache.get("key") != key:
        where: dict[str, tuple[str, int]] = {}
        for blk in b.blocks.values():
            for i in range(blk.sym.shape[0]):
                where[blk.sym[i].name()] = ("x", blk.start + i)
        k = 0
        for sym, val in b.params.values():
            for i in range(len(val)):
                where[sym[i].name()] = ("p", k + i)
            k += len(val)
        cache.update(key=key, where=where)
    return cache["where"]


def evaluator(b: NlpBuilder, area: Area) -> AreaEvaluator:
    cache = b.__dict__.setdefault("_evaluators", {})
    if area.name not in cache:
        cache[area.name] = AreaEvaluator(b, area)
    return cache[area.name]


def boundary_values(b: NlpBuilder, area: Area, sol: Any) -> dict[str, np.ndarray]:
    vals = evaluator(b, area)(b, sol)
    return {n: vals[("boundary", n)] for n in area.boundary}


def extract(b: NlpBuilder, area: Area, sol: Any) -> AreaSolution:
    vals = evaluator(b, area)(b, sol)
    x = sol.x
    prefix = "T" if area.kind == "transmission" else area.name
    vm = x[f"{prefix}.vm"]
    va = x.get("T.va") if area.kind == "transmission" else None
    devices: dict[str, pd.DataFrame] = {}
    for k, dv in enumerate(area.devices):
        ds = dv.ds
        q = vals[("q", str(k))] * ds.base_mva
        df = pd.DataFrame({"q_mvar": q, "bus": area.cn.labels[ds.bus]}, index=ds.index)
        df["q_max_mvar"] = ds.q_max * ds.base_mva
        df["q_min_mvar"] = ds.q_min * ds.base_mva
        df["subtype"] = ds.subtype
        df["response_ms"] = ds.response_ms
        if ds.kind in ("generator", "ext_grid"):
            df["p_mw"] = vals[("p", str(k))] * ds.base_mva
            df["vm_pu"] = vm[ds.bus]
        if ds.kind == "capacitor":
            df["step"] = vals[("step", str(k))]
            df["max_step"] = ds.extra["max_step"]
            df["bs_mvar"] = ds.extra["bs"] * ds.base_mva
            df["q_max_mvar"] = ds.extra["bs"] * ds.base_mva * ds.extra["max_step"] * vm[ds.bus] ** 2
        devices[ds.table] = df
    terms = {k: float(vals[("term", k)][0]) if len(vals[("term", k)]) else 0.0 for k in area.terms}
    boundary = {n: vals[("boundary", n)] for n in area.boundary}
    return AreaSolution(area.name, vm, va, devices, terms, boundary,
                        {k: v for k, v in x.items() if k.startswith(prefix + ".")}, area.bus_labels)
