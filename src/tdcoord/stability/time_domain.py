"""Time-domain simulation of the seed-001 system with ANDES (short-term voltage stability).

ANDES (a maintained power-system dynamics package, optional extra
``tdcoord[stvs]``) integrates the machines and controls; tdcoord gives it
the operating point and the fault and reads back the bus voltage and rotor
angle trajectories.

**The model.**

- Transmission: ANDES' IEEE 14-bus dynamic case (``ieee14/ieee14_full.xlsx``,
  shipped with ANDES): five GENROU machines with TGOV1 governors, one EXST1
  and four ESST3A exciters, its lines and transformers. The loads are
  tdcoord's (the case's ``load`` table, per bus, in MW/Mvar); the machines
  keep the dynamic case's dispatch shares, scaled so that they carry the
  load (the slack machine takes the losses), unless a dispatch gives their
  output. Loads are constant impedance in the simulation (ANDES' default
  conversion; constant-power loads make the algebraic equations unsolvable
  at a bolted fault).
- Each feeder is aggregated at its point of common coupling (PCC) into a
  load and an inverter-based resource, from tdcoord's network data and its
  integrated power flow (:func:`feeder_equivalents`): the inverters' active
  output (PV, wind and batteries) and reactive set-point, their summed
  rating, and a load equal to the PCC exchange plus that output, so that
  the PCC exchange is the power flow's. The resource is ANDES' PVD1 (WECC
  distributed PV) with IEEE 1547-2018 category B volt-var support: no
  response in 0.98-1.02 p.u., 0.44 of its rating at 0.92 p.u. (droop 7.33
  per p.u.), limits +-0.44, the dead band centred on the PCC voltage of the
  initial power flow (:func:`center_volt_var`). In ANDES' power flow PV
  buses turn PQ at their reactive limits (``PV.pv2pq``): the inverters'
  static generator, whose limits are its set-point, gives that set-point.
  Its ride-through is set so that a deep sag does
  not switch it off for good: it ceases momentarily below 0.05 p.u., gives
  full current from 0.10 p.u. up and resumes by itself (ANDES' defaults trip
  it, latching, below 0.88 p.u., so that its current is 0 during and after
  any fault).
- Faults: a bolted three-phase fault at a bus (ANDES ``Fault``, 1e-4 p.u.
  reactance) from ``t_fault`` to ``t_clear``; a line fault is the fault at
  the line's end named first with the line switched out at clearing.
  Simulated to ``t_end`` (5 s) with ANDES' trapezoidal method and step; ANDES
  stops a run when two rotor angles drift 180 degrees apart.

A simulation that fails to initialize (power flow, or the dynamic
initialization) or to converge is returned as such with ANDES' message,
never dropped.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tdcoord.errors import InputError

ANDES_CASE = "ieee14/ieee14_full.xlsx"
MVA = 100.0  # the ANDES case's system base: its powers are per unit of it
T_FAULT = 0.2
T_END = 5.0
VV_DEADBAND = (0.98, 1.02)  # IEEE 1547 category B volt-var, p.u.
VV_Q = 0.44  # reactive power at the curve's ends, per unit of the rating
VV_DROOP = VV_Q / (0.98 - 0.92)  # per unit of rating per p.u. of voltage
RIDE_THROUGH = {"vt0": 0.05, "vt1": 0.10, "vt2": 1.20, "vt3": 1.30, "vrflag": 1.0}
FAULT_REACTANCE = 1e-4


def require_andes() -> Any:
    """The ``andes`` module, or an error that says which extra to install."""
    try:
        import andes
    except ImportError as exc:
        raise InputError('time-domain simulation needs ANDES, which is not installed: pip install "tdcoord[stvs]"') \
            from exc
    # quiet, no log file; a log_path given, or ANDES makes an empty temporary folder at every call
    andes.config_logger(stream_level=50, file=False, log_path=tempfile.gettempdir())
    return andes


@dataclass
class FeederEquivalent:
    """A feeder seen from its PCC: what it draws and what its inverters give (MW, Mvar, MVA)."""

    name: str
    bus: str
    p_mw: float  # PCC exchange, from transmission into the feeder
    q_mvar: float
    p_der_mw: float  # inverters' active output (PV, wind, batteries discharging)
    q_der_mvar: float
    sn_der_mva: float  # their summed rating
    p_load_mw: float  # equivalent load: exchange + inverter output (loads and losses)
    q_load_mvar: float


@dataclass
class OperatingPoint:
    """What a simulation starts from: transmission loads and machine outputs by bus (MW, Mvar), feeders."""

    load_mw: dict[str, float]
    load_mvar: dict[str, float]
    feeders: list[FeederEquivalent]
    gen_mw: dict[str, float] | None = None  # machine outputs by bus (None: the dynamic case's shares)
    gen_share: dict[str, float] | None = None  # without gen_mw: factors on the dynamic case's shares, by bus

    def features(self) -> dict[str, float]:
        out = {f"p_load_mw:{b}": v for b, v in self.load_mw.items()}
        out.update({f"q_load_mvar:{b}": v for b, v in self.load_mvar.items()})
        for f in self.feeders:
            out[f"p_ex_mw:{f.name}"] = f.p_mw
            out[f"q_ex_mvar:{f.name}"] = f.q_mvar
        return out


@dataclass
class FaultSpec:
    """A bolted three-phase fault at ``bus`` from ``t_fault`` to ``t_clear`` (s); with ``line`` (an ANDES line
    index) that line is switched out at clearing."""

    bus: str
    t_clear: float
    t_fault: float = T_FAULT
    line: str | None = None

    @property
    def duration(self) -> float:
        return self.t_clear - self.t_fault


@dataclass
class Simulation:
    """One simulated fault: trajectories and how the run ended."""

    fault: FaultSpec
    status: str  # "completed", "stopped" (ANDES stopped the run early), "failed_init", "failed"
    reason: str
    t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    buses: list[str] = field(default_factory=list)
    v: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # [time, bus], p.u.
    delta_deg: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # [time, machine]
    gen_mw: dict[str, float] = field(default_factory=dict)  # machine outputs of the initial power flow
    t_end: float = T_END

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def voltages(self, buses: list[str]) -> np.ndarray:
        """The voltage trajectories of ``buses``, columns in that order, p.u."""
        return self.v[:, [self.buses.index(str(b)) for b in buses]]

    def indices(self, key_nodes: list[str], t_end: float | None = None) -> Any:
        """TVCI and VDSI over ``key_nodes`` (:func:`~tdcoord.stability.stvs_indices.stvs_indices`) up to ``t_end``
        (default: the run's own end; a run stopped short of it counts the rest as 0 V)."""
        from tdcoord.stability.stvs_indices import stvs_indices

        return stvs_indices(self.t, self.voltages(key_nodes), self.fault.t_clear,
                            self.t_end if t_end is None else t_end, completed=self.completed,
                            delta_deg=self.delta_deg)


def feeder_equivalents(cs: Any, pf: Any = None) -> list[FeederEquivalent]:
    """Each feeder aggregated at its PCC from tdcoord's data and integrated power flow (run here unless given)."""
    if pf is None:
        from tdcoord.pf.integrated import run_coupled

        pf = run_coupled(cs)
    if not pf.converged:
        raise InputError(f"feeder equivalents of {cs.name!r}: the integrated power flow does not converge")
    out = []
    rb = pf.res_boundary
    for name, net in cs.feeders.items():
        if not bool(cs.boundary.at[name, "in_service"]):
            continue
        p_der = q_der = sn = 0.0
        for table in ("sgen", "storage"):
            df = getattr(net, table)
            on = df[df.in_service] if len(df) else df
            if len(on):
                p_der += float(on.p_mw.sum())
                q_der += float(on.q_mvar.sum())
                sn += float(on.sn_mva.fillna(on.p_mw.abs()).sum())
        p, q = float(rb.at[name, "p_mw"]), float(rb.at[name, "q_mvar"])
        out.append(FeederEquivalent(name, str(cs.boundary.at[name, "bus"]), p, q, p_der, q_der, sn, p + p_der,
                                    q + q_der))
    return out


def operating_point(cs: Any, pf: Any = None, gen_mw: dict[str, float] | None = None) -> OperatingPoint:
    """The simulation's starting point from a coupled system: its transmission loads per bus and its feeders."""
    ld = cs.transmission.load
    ld = ld[ld.in_service]
    p = ld.groupby("bus").p_mw.sum()
    q = ld.groupby("bus").q_mvar.sum()
    return OperatingPoint({str(b): float(v) for b, v in p.items()}, {str(b): float(v) for b, v in q.items()},
                          feeder_equivalents(cs, pf), gen_mw)


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _load_case(andes: Any) -> Any:
    # PV buses become PQ at their reactive limits in the power flow (ANDES' pv2pq): the inverters' static
    # generator has its limits at its set-point, so it gives that reactive power instead of holding a voltage
    return andes.load(andes.get_case(ANDES_CASE), setup=False, no_output=True, default_config=True,
                      config_option=["PV.pv2pq=1"])


def build_system(op: OperatingPoint, fault: FaultSpec, t_end: float = T_END) -> Any:
    """The ANDES system of ``op`` with ``fault`` (set up, power flow not yet run)."""
    andes = require_andes()
    with _quiet():
        ss = _load_case(andes)
    buses = [str(b) for b in ss.Bus.idx.v]
    check_fault(fault, buses, t_end, [str(i) for i in ss.Line.idx.v])
    for name in list(op.load_mw) + [f.bus for f in op.feeders]:
        if name not in buses:
            raise InputError(f"operating point: bus {name!r} is not a bus of the IEEE 14-bus dynamic case")
    for k, f in enumerate(op.feeders):
        ss.add("PQ", {"idx": f"feeder{k}", "bus": int(f.bus), "p0": f.p_load_mw / MVA, "q0": f.q_load_mvar / MVA,
                      "name": f"{f.name} load"})
        if f.sn_der_mva > 0:
            ss.add("PV", {"idx": f"der{k}", "bus": int(f.bus), "p0": f.p_der_mw / MVA, "q0": f.q_der_mvar / MVA,
                          "qmax": f.q_der_mvar / MVA, "qmin": f.q_der_mvar / MVA, "pmax": 999.0, "pmin": -999.0,
                          "v0": 1.0, "Sn": MVA, "name": f"{f.name} inverters"})
            ss.add("PVD1", {"idx": f"pvd{k}", "bus": int(f.bus), "gen": f"der{k}", "Sn": f.sn_der_mva,
                            "qmx": VV_Q, "qmn": -VV_Q, "v0": VV_DEADBAND[0], "v1": VV_DEADBAND[1], "dqdv": -VV_DROOP,
                            "pqflag": 0, **RIDE_THROUGH, "name": f"{f.name} PVD1"})
    ss.add("Fault", {"bus": int(fault.bus), "tf": fault.t_fault, "tc": fault.t_clear, "xf": FAULT_REACTANCE, "rf": 0.0})
    if fault.line is not None:
        ss.add("Toggle", {"model": "Line", "dev": fault.line, "t": fault.t_clear})
    with _quiet():
        ss.setup()
    loads = [i for i in ss.PQ.idx.v if not str(i).startswith("feeder")]
    load_bus = {i: str(b) for i, b in zip(ss.PQ.idx.v, ss.PQ.bus.v)}
    p0 = dict(zip(ss.PQ.idx.v, np.array(ss.PQ.p0.v, float)))
    base_load = sum(p0[i] for i in loads)  # the dynamic case's own load, which its dispatch was made for (p.u.)
    ss.PQ.set("p0", loads, np.array([op.load_mw.get(load_bus[i], 0.0) / MVA for i in loads]))
    ss.PQ.set("q0", loads, np.array([op.load_mvar.get(load_bus[i], 0.0) / MVA for i in loads]))
    machines = [i for i in ss.PV.idx.v if not str(i).startswith("der")]
    pv_bus = {i: str(b) for i, b in zip(ss.PV.idx.v, ss.PV.bus.v)}
    if op.gen_mw is not None:
        p = np.array([op.gen_mw.get(pv_bus[i], 0.0) / MVA for i in machines])
    else:  # the dynamic case's shares, scaled to the load
        pv0 = dict(zip(ss.PV.idx.v, np.array(ss.PV.p0.v, float)))
        total = (sum(op.load_mw.values()) + sum(f.p_mw for f in op.feeders)) / MVA
        share = op.gen_share or {}
        p = np.array([pv0[i] * share.get(pv_bus[i], 1.0) for i in machines]) * total / base_load
    ss.PV.set("p0", machines, p)
    restore_fault_angle(ss, str(fault.bus))
    ss.TDS.config.tf = t_end
    ss.TDS.config.no_tqdm = 1
    return ss


def restore_fault_angle(ss: Any, bus: str) -> None:
    """At clearing, give the faulted bus a voltage angle to restart from.

    ANDES' Fault restores the algebraic variables to their pre-fault values
    at clearing, but not the bus angles. During a bolted fault the faulted
    bus's voltage is about 0, so its angle is free and drifts (by 0.5 rad in
    0.2 s here); Newton's method then fails from it at clearing ("time step
    reduced to zero"), on ANDES' own IEEE 14-bus case too (a 0.2 s fault at
    bus 12). The angle is set to its pre-fault value plus the mean change of
    the other buses' angles, and Newton converges from there.
    """
    fault = ss.Fault
    apply, clear = fault.tf.callback, fault.tc.callback
    uid = ss.Bus.idx2uid(int(bus))
    angles = np.asarray(ss.Bus.a.a, int)  # the bus angles' places in the algebraic variables
    before: list[np.ndarray] = []

    def on_apply(is_time: np.ndarray) -> bool:
        acted = apply(is_time)
        if acted:
            before[:] = [np.array(ss.dae.y[angles])]
        return acted

    def on_clear(is_time: np.ndarray) -> bool:
        now = np.array(ss.dae.y[angles])
        acted = clear(is_time)
        if acted and before:
            others = np.arange(ss.Bus.n) != uid
            ss.dae.y[angles[uid]] = before[0][uid] + float(np.mean(now[others] - before[0][others]))
        return acted

    fault.tf.callback, fault.tc.callback = on_apply, on_clear


def check_fault(fault: FaultSpec, buses: list[str], t_end: float, lines: list[str] | None = None) -> None:
    if str(fault.bus) not in buses:
        raise InputError(f"fault: bus {fault.bus!r} does not exist (buses {', '.join(buses)})")
    if not fault.t_fault >= 0:
        raise InputError(f"fault: t_fault = {fault.t_fault} s; expected >= 0")
    if not fault.t_clear > fault.t_fault:
        raise InputError(f"fault at bus {fault.bus}: clearing time {fault.t_clear} s is not after the fault "
                         f"({fault.t_fault} s)")
    if not fault.t_clear < t_end:
        raise InputError(f"fault at bus {fault.bus}: clearing time {fault.t_clear} s is not before the end of the "
                         f"simulation ({t_end} s)")
    if fault.line is not None and lines is not None and str(fault.line) not in lines:
        raise InputError(f"fault: line {fault.line!r} does not exist")


def center_volt_var(ss: Any) -> None:
    """Centre each PVD1's volt-var dead band on its bus's voltage at the initial power flow.

    IEEE 1547-2018 lets the volt-var reference follow the slowly varying
    voltage (autonomously adjusting V_ref); a band fixed at 0.98-1.02 p.u.
    with a PCC at 1.047 p.u. would ask for reactive power the power flow did
    not give, and the system would drift before any fault.
    """
    if not ss.PVD1.n:
        return
    vb = dict(zip(ss.Bus.idx.v, np.asarray(ss.Bus.v.v, float)))
    v = np.array([vb[b] for b in ss.PVD1.bus.v])
    half = (VV_DEADBAND[1] - VV_DEADBAND[0]) / 2
    ss.PVD1.set("v0", ss.PVD1.idx.v, v - half)
    ss.PVD1.set("v1", ss.PVD1.idx.v, v + half)


WALL_LIMIT_S = 10.0  # a run that takes longer (the integrator crawling in tiny steps) is stopped and recorded


def simulate(op: OperatingPoint, fault: FaultSpec, t_end: float = T_END,
             wall_limit_s: float = WALL_LIMIT_S) -> Simulation:
    """Run one fault on ``op`` to ``t_end``; trajectories of every bus voltage and machine angle.

    A run still going after ``wall_limit_s`` seconds of wall time is stopped
    and recorded as failed, with the simulated time it reached.
    """
    import time

    ss = build_system(op, fault, t_end)
    sim = Simulation(fault=fault, status="failed_init", reason="", t_end=t_end)
    with _quiet():
        try:
            ss.PFlow.run()
        except Exception as exc:  # ANDES raises on singular or ill-posed systems
            sim.reason = f"power flow: {type(exc).__name__}: {exc}"
            return sim
    if not ss.PFlow.converged:
        sim.reason = "the initial power flow did not converge"
        return sim
    center_volt_var(ss)
    gen_bus = {str(i): str(b) for i, b in zip(ss.PV.idx.v, ss.PV.bus.v)}
    sim.gen_mw = {gen_bus[str(i)]: float(p) * MVA for i, p in zip(ss.PV.idx.v, ss.PV.p.v)
                  if not str(i).startswith("der")}
    sim.gen_mw.update({str(b): float(p) * MVA for b, p in zip(ss.Slack.bus.v, ss.Slack.p.v)})
    deadline = time.perf_counter() + wall_limit_s
    timed_out: list[float] = []

    def guard(t: float, system: Any) -> None:  # ANDES calls it before every step
        if time.perf_counter() > deadline:
            timed_out.append(float(t))
            system.TDS.busted = True

    ss.TDS.callpert = guard
    with _quiet():
        try:
            ss.TDS.run()
            err = str(getattr(ss.TDS, "err_msg", "") or "")
        except Exception as exc:
            err = f"{type(exc).__name__}: {exc}"
    if timed_out:
        err = f"stopped after {wall_limit_s:g} s of wall time (the integrator was taking very small steps)"
    ts = ss.dae.ts
    t = np.asarray(ts.t, float)
    if len(t) < 2:
        sim.reason = "the dynamic initialization failed" + (f": {err}" if err else "")
        return sim
    sim.t = t
    sim.buses = [str(b) for b in ss.Bus.idx.v]
    sim.v = np.asarray(ts.y[:, ss.Bus.v.a], float)
    sim.delta_deg = np.rad2deg(np.asarray(ts.x[:, ss.GENROU.delta.a], float))
    if t[-1] >= t_end - 1e-6:
        sim.status, sim.reason = "completed", ""
    else:
        spread = float(np.max(np.ptp(sim.delta_deg[-1:], axis=1))) if sim.delta_deg.size else 0.0
        sim.status = "stopped" if spread > 179.0 and not timed_out else "failed"
        sim.reason = (f"rotor angles {spread:.0f} degrees apart at {t[-1]:.3f} s: ANDES stopped the run"
                      if sim.status == "stopped" else f"the integration failed at {t[-1]:.3f} s" + (f": {err}" if err
                                                                                                else ""))
    return sim


__all__ = ["ANDES_CASE", "FaultSpec", "center_volt_var", "FeederEquivalent", "OperatingPoint", "Simulation", "T_END",
           "T_FAULT", "build_system", "check_fault", "restore_fault_angle", "feeder_equivalents", "operating_point",
           "require_andes", "simulate"]
