"""Reactive power optimization of a coupled T-D system, as reusable areas.

The system is cut at its boundaries into areas: the transmission grid and
each feeder together with its boundary transformer, rooted at a copy of its
transmission bus. The recipe is written once against the formulation
interface (:mod:`tdcoord.formulations.base`): the transmission area on
``acp`` or ``dc``, the feeders on ``branch_flow``, ``soc_bf`` or
``lindistflow`` (``RpoConfig``), on whichever backend the model is built
(IPOPT for any combination; Clarabel, HiGHS or SCIP where every area is
convex). Each area has

- variables: the formulation's voltages and flows, the devices' set-points
  (:func:`tdcoord.devices.build_devices`), boundary quantities;
- parameters: bus loads (so that periods and scenarios re-solve one model);
- objective terms in physical units: ``loss_mw`` (active losses, MW),
  ``q_cost`` (sum of c Q^2, $/h), ``dv`` (sum over buses of (V - 1)^2,
  p.u.^2), weighted by parameters ``alpha``, ``beta``, ``gamma``;
- boundary handles ``(vm, p, q)`` with p, q in p.u. on the transmission base,
  flow from transmission into the feeder; a quantity the formulation does
  not have (voltage and Q on ``dc``; the root voltage of a feeder on the
  conic backend, where it is only known squared) is ``None``.

Strategies (``tdcoord.coordination``) put one or several areas into one
builder and couple their boundary handles (equalities, fixed values or ADMM
penalties). Extra objective terms and constraints (the voltage-stability
penalty, reserve requirements) are added through ``hooks``: callables
``hook(builder, area)`` run after an area is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from tdcoord.devices import DeviceOptions, DeviceVars, build_devices
from tdcoord.formulations import FEEDER, TRANSMISSION, get_formulation
from tdcoord.formulations.base import Formulation
from tdcoord.network.compiled import CompiledNetwork, compile_network, with_boundary
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.network.transforms import HV_BUS, feeder_with_boundary

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
    transmission_formulation: str = "acp"  # or "dc"
    feeder_formulation: str = "branch_flow"  # or "soc_bf", "lindistflow"
    backend: str = "auto"  # "nlp" (IPOPT), "conic" (Clarabel/HiGHS/SCIP), "auto": conic where every area is convex
    vm_ref: float = 1.0
    vm_band: tuple[float, float] | None = None  # every bus's voltage limits, replacing the data's (None: the data's)
    count_band: tuple[float, float] = (0.95, 1.05)  # buses outside it are counted as violations
    discrete: bool = False  # capacitor steps declared integer (bonmin; SCIP/HiGHS on the conic backend)
    hooks: list[Callable[[Any, "Area"], None]] = field(default_factory=list)
    vsm: Any = None  # VsmSettings: key-node margins in the problem (tdcoord.problems.vsm)
    vsm_nodes: list[str] = field(default_factory=list)
    vsm_lin: Any = None  # Linearization loaded into the problem's parameters
    reserve: dict = field(default_factory=dict)  # (area, table, index) -> reserve requirement, Mvar

    def __post_init__(self) -> None:
        check_formulations(self.transmission_formulation, self.feeder_formulation)
        if self.backend not in ("auto", "nlp", "conic"):
            raise ValueError(f"backend must be 'auto', 'nlp' or 'conic', got {self.backend!r}")

    @property
    def transmission_reactive(self) -> bool:
        """Whether the transmission formulation has voltage magnitudes and reactive power."""
        return get_formulation(self.transmission_formulation).family == "ac"

    def backend_for(self, areas: list[str]) -> str:
        """Where a problem over ``areas`` ("T" and feeder names) is built."""
        forms = [self.transmission_formulation if a == "T" else self.feeder_formulation for a in areas]
        convex = all("conic" in get_formulation(f).backends for f in forms)
        if self.backend == "conic" and not convex:
            nonconvex = sorted({f for f in forms if "conic" not in get_formulation(f).backends})
            raise ValueError(f"formulation(s) {', '.join(nonconvex)} need the NLP backend (IPOPT)")
        if self.backend == "auto":
            return "conic" if convex and not (self.vsm is not None and self.vsm_nodes) and not self.reserve else "nlp"
        return self.backend


def check_formulations(transmission: str, feeder: str) -> None:
    from tdcoord.errors import InputError

    if transmission not in TRANSMISSION:
        raise InputError(f"transmission formulation {transmission!r}: expected one of {', '.join(TRANSMISSION)}")
    if feeder not in FEEDER:
        raise InputError(f"feeder formulation {feeder!r}: expected one of {', '.join(FEEDER)}")


@dataclass
class Area:
    """One area of a model: its network, formulation, devices, objective terms and boundary handles."""

    name: str  # "T" or the feeder's name
    kind: str  # transmission | feeder
    network: Network  # the area's network as optimized (feeder incl. boundary trafo and HV bus)
    cn: CompiledNetwork  # compiled without device injections
    form: Formulation
    devices: list[DeviceVars]
    terms: dict[str, Any]
    boundary: dict[str, tuple[Any, Any, Any]]  # feeder name -> (vm, p, q), p/q in p.u. on the T base
    base_mva: float
    t_base_mva: float
    bus_labels: np.ndarray  # labels as in results (T labels or namespaced feeder labels)
    dv_buses: np.ndarray  # bus positions counted in dv and violations
    vm_expr: Any = None  # the voltage magnitudes when the area was copied in through a template

    @property
    def vm(self) -> Any:
        return self.vm_expr if self.vm_expr is not None else self.form.vm()

    @property
    def prefix(self) -> str:
        return self.form.prefix


def device_free_network(net: Network) -> Network:
    """Copy whose compiled arrays hold loads and fixed shunts only.

    Inverters, SVCs, batteries and controllable shunts are modelled as
    devices with their own variables, so their injections are removed here.
    """
    n = net.copy()
    n.sgen = n.sgen.assign(p_mw=0.0, q_mvar=0.0)
    n.svc = n.svc.assign(q_mvar=0.0)
    n.storage = n.storage.assign(p_mw=0.0, q_mvar=0.0)
    n.shunt.loc[n.shunt.controllable, "step"] = 0
    return n


def device_options(cfg: RpoConfig) -> DeviceOptions:
    return DeviceOptions(steps="integer" if cfg.discrete else "continuous")


def _apply_reserve(b: Any, prefix: str, devices: list[DeviceVars], cfg: RpoConfig) -> None:
    if cfg.reserve:
        from tdcoord.problems.reserve import constraint_reserve

        constraint_reserve(b, prefix, prefix, devices, cfg.reserve)


def bus_sum(b: Any, parts: list[Any], n: int) -> Any:
    """Sum of bus x 1 expressions, ``None`` parts left out."""
    total = b.ops.zeros(n, 1)
    for p in parts:
        if p is not None:
            total = total + p
    return total


def cost_sum(devices: list[DeviceVars], key: str) -> Any:
    """Sum of one named cost term over the devices (0 where none has it)."""
    parts = [d.costs[key] for d in devices if key in d.costs]
    return sum(parts[1:], parts[0]) if parts else 0.0


def _vm_bounds(cn: CompiledNetwork, cfg: RpoConfig) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = cn.vm_min.copy(), cn.vm_max.copy()
    if cfg.vm_band is not None:  # the band replaces the buses' own limits, wider or narrower
        lo = np.full(cn.n_bus, float(cfg.vm_band[0]))
        hi = np.full(cn.n_bus, float(cfg.vm_band[1]))
    return lo, hi


WEIGHT_OF_TERM = {"loss_mw": "alpha", "q_cost": "beta", "dv": "gamma", "vsm": "delta"}


def _weighted_terms(b: Any, prefix: str, terms: dict[str, Any]) -> None:
    for key, expr in terms.items():
        b.objective_term(f"{prefix}.{key}", expr, f"w.{WEIGHT_OF_TERM[key]}")


def ensure_weight_params(b: Any, cfg: RpoConfig) -> None:
    for w in ("alpha", "beta", "gamma", "delta"):
        if f"w.{w}" not in b.params:
            b.parameter(f"w.{w}", getattr(cfg.weights, w), nonneg=True)


def set_weights(b: Any, weights: Weights) -> None:
    for w, v in weights.as_dict().items():
        if f"w.{w}" in b.params:
            b.set_parameter(f"w.{w}", v)


def build_transmission(b: Any, cs: CoupledSystem, cfg: RpoConfig, boundary_names: list[str] | None = None,
                       start: dict | None = None) -> Area:
    """The transmission area; each feeder is a boundary load (p, q variables)."""
    ensure_weight_params(b, cfg)
    net = cs.transmission
    cn = compile_network(device_free_network(net))
    start = start or {}
    lo, hi = _vm_bounds(cn, cfg)
    form = get_formulation(cfg.transmission_formulation)(b, cn, "T", vm_min=lo, vm_max=hi, start=start)
    devices = build_devices(b, form, net, cn, "T", device_options(cfg))
    _apply_reserve(b, "T", devices, cfg)
    names = list(cs.boundary.index[cs.boundary.in_service]) if boundary_names is None else boundary_names
    pos = cn.position()
    nbd = len(names)
    bpos = np.array([pos[cs.boundary.at[n, "bus"]] for n in names], dtype=int)
    pb = b.variable("T.boundary_p", nbd, -np.inf, np.inf, start.get("boundary_p", 0.0))
    qb = b.variable("T.boundary_q", nbd, -np.inf, np.inf, start.get("boundary_q", 0.0)) if form.reactive else None
    inc = sp.csr_matrix((np.ones(nbd), (bpos, np.arange(nbd))), shape=(cn.n_bus, nbd))
    p_load = b.parameter("T.p_load", cn.p_load)
    q_load = b.parameter("T.q_load", cn.q_load)
    o = b.ops
    p_dev = bus_sum(b, [d.p_bus for d in devices], cn.n_bus) - p_load - o.mm(inc, pb)
    q_dev = bus_sum(b, [d.q_bus for d in devices], cn.n_bus) - q_load - (o.mm(inc, qb) if qb is not None else 0.0)
    form.constraint_power_balance(p_dev, q_dev)
    terms = {
        "loss_mw": form.objective_losses() * cn.base_mva,
        "q_cost": cost_sum(devices, "q_cost"),
        "dv": form.objective_voltage_deviation(cfg.vm_ref),
    }
    _weighted_terms(b, "T", terms)
    vm = form.vm()
    boundary = {n: (vm[int(bpos[k])] if vm is not None else None, pb[k], qb[k] if qb is not None else None)
                for k, n in enumerate(names)}
    area = Area("T", "transmission", net, cn, form, devices, terms, boundary, cn.base_mva, cn.base_mva,
                cn.labels.copy(), np.arange(cn.n_bus))
    for hook in cfg.hooks:
        hook(b, area)
    return area


def feeder_network(cs: CoupledSystem, fname: str) -> Network:
    """A feeder with its boundary transformer and a copy of its transmission bus (limits included)."""
    t_bus = cs.boundary.at[fname, "bus"]
    tb = cs.transmission.bus
    return feeder_with_boundary(cs, fname, (float(tb.at[t_bus, "vm_min_pu"]), float(tb.at[t_bus, "vm_max_pu"])))


class AreaInputs:
    """Each feeder's network with its boundary (and its compiled view) of one coupled system, made once.

    The start point and every model built on the same system in one run
    share them (with many feeders, preparing them is most of a model's
    build time). Made for one system as it is: build a new one after
    changing the system.
    """

    def __init__(self, cs: CoupledSystem) -> None:
        self.cs = cs
        self._feeders: dict[str, tuple[Network, CompiledNetwork]] = {}
        self._rows: tuple[dict, dict] | None = None

    def feeder(self, fname: str) -> tuple[Network, CompiledNetwork]:
        """The feeder's network and the compiled view of it with its boundary (:func:`feeder_network`, device free).

        The view is the feeder's own compiled arrays extended by the
        transmission bus copy and the boundary transformer
        (:func:`~tdcoord.network.compiled.with_boundary`), the same arrays
        as compiling :func:`feeder_network` (a test holds them equal)
        without building its tables.
        """
        if fname not in self._feeders:
            cs = self.cs
            net = cs.feeders[fname]
            if self._rows is None:  # the boundary and transmission bus rows as dicts, once (a row lookup is slow)
                self._rows = (cs.boundary.to_dict("index"),
                              cs.transmission.bus[["vn_kv", "vm_min_pu", "vm_max_pu"]].to_dict("index"))
            b = self._rows[0][fname]
            tb = self._rows[1][b["bus"]]
            cn = with_boundary(net, compile_network(net, device_free=True), HV_BUS, float(tb["vn_kv"]),
                               (float(tb["vm_min_pu"]), float(tb["vm_max_pu"])), str(b["root"]),
                               float(b["sn_mva"]), float(b["r_pu"]), float(b["x_pu"]), float(b["tap_pu"]),
                               bool(b["in_service"]))
            self._feeders[fname] = (net, cn)
        return self._feeders[fname]


def inputs_of(cs: CoupledSystem, inputs: AreaInputs | None) -> AreaInputs:
    """``inputs`` when they were made for ``cs``, else new ones."""
    return inputs if inputs is not None and inputs.cs is cs else AreaInputs(cs)


def build_feeder(b: Any, cs: CoupledSystem, fname: str, cfg: RpoConfig, start: dict | None = None,
                 inputs: AreaInputs | None = None) -> Area:
    """A feeder with its boundary transformer, rooted at the transmission bus."""
    ensure_weight_params(b, cfg)
    net, cn = inputs_of(cs, inputs).feeder(fname)
    t_bus = cs.boundary.at[fname, "bus"]
    lo, hi = _vm_bounds(cn, cfg)  # the root, a copy of the transmission bus, has that bus's limits
    root = cn.position()[HV_BUS]
    start = start or {}
    form = get_formulation(cfg.feeder_formulation)(b, cn, fname, vm_min=lo, vm_max=hi, start=start, root=root)
    devices = build_devices(b, form, net, cn, fname, device_options(cfg), skip_ext_grid=True)
    _apply_reserve(b, fname, devices, cfg)
    p_load = b.parameter(f"{fname}.p_load", cn.p_load)
    q_load = b.parameter(f"{fname}.q_load", cn.q_load)
    p_dev = bus_sum(b, [d.p_bus for d in devices], cn.n_bus) - p_load
    q_dev = bus_sum(b, [d.q_bus for d in devices], cn.n_bus) - q_load
    form.constraint_power_balance(p_dev, q_dev)
    scale = cn.base_mva / cs.transmission.sn_mva
    keep = np.delete(np.arange(cn.n_bus), root)
    terms = {
        "loss_mw": form.objective_losses() * cn.base_mva,
        "q_cost": cost_sum(devices, "q_cost"),
        "dv": form.objective_voltage_deviation(cfg.vm_ref, keep),
    }
    _weighted_terms(b, fname, terms)
    vm_root = b.ops.take(form.vm(), [root]) if b.backend == "nlp" else None
    boundary = {fname: (vm_root, form.p_root * scale, form.q_root * scale)}
    labels = np.array([f"{fname}:{lab}" if lab != HV_BUS else t_bus for lab in cn.labels], dtype=object)
    area = Area(fname, "feeder", net, cn, form, devices, terms, boundary, cn.base_mva, cs.transmission.sn_mva,
                labels, keep)
    if not cfg.transmission_reactive:
        # a DC transmission model has no voltage magnitudes: the feeder's root is held at 1 p.u.
        form.fix_voltage(root, 1.0)
    for hook in cfg.hooks:
        hook(b, area)
    return area
