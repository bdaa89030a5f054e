"""OpenDSS circuits to balanced positive-sequence :class:`Network` objects.

:func:`read_opendss` runs an OpenDSS script in the OpenDSS engine of
DSS-Extensions (through ``OpenDSSDirect.py``) and reduces the circuit the
engine built to a *balanced positive-sequence equivalent* of the (unbalanced,
multi-phase) feeder: one bus per DSS bus, one branch per line, transformer
rows for transformers and regulator banks, one load per bus. It is an
approximation made for transmission-distribution coordination studies, not
an unbalanced feeder model.

Reading
-------
The engine does the parsing and the physics of the data: every command,
class and property it knows (``Redirect``/``Compile``, ``~`` continuations,
in-line RPN, ``like=``, property edits, ``Open``/``Close``, ...), line
constants from line codes, a line's own matrices or sequence data, or
``LineGeometry``/``LineSpacing`` with ``WireData``/``CNData``/``TSData``
(Kron-reduced to the phase conductors), load kvar from power factors, and the
script's own ``Solve`` commands with their control actions. The reduction
reads the state the engine holds once the script has run.

The script runs in a private engine instance of the process, cleared before
each read and with its default base frequency set back to 60 Hz, so that two
reads never mix and a caller's own use of ``opendssdirect`` is not
disturbed; files that ``Show``/``Export`` commands write go to a temporary
folder that is deleted afterwards, and the working directory of the process
does not change. A script the engine rejects raises
:class:`~tdcoord.errors.FileFormatError` with the engine's message and the
file and line it names (and the lines that redirected to that file).

Elements read: ``Vsource.source`` (the circuit's source), ``Line``,
``Transformer``, ``RegControl`` (which transformers are regulators and which
winding they tap), ``Load``, ``Capacitor``. Ignored: meters (``EnergyMeter``,
``Monitor``, ``Sensor``), which measure only, and the devices that act on
the state of elements read (``CapControl``, ``SwtControl``, ``Fuse``,
``Recloser``, ``Relay``): the reduction takes the capacitor steps and open
terminals the engine holds, fixed. Any other circuit element (``PVSystem``,
``Generator``, ``Storage``, ``Reactor``, a second ``Vsource``, ...) would
change the power flow without a rule below: it raises
:class:`~tdcoord.errors.FileFormatError` naming the file and the element, as
do elements that cannot be reduced (see the rules); nothing is dropped
silently.

Conversion rules (each one is also written into the network's ``notes``)
-----------------------------------------------------------------------
* Lines: the engine's phase matrices Z = R + jX (ohm) and C (nF) per unit
  length times the length (both in the line's length unit). Three phases:
  Z1 = mean(diag Z) - mean(offdiag Z), C1 = mean(diag C) - mean(offdiag C).
  One or two phases (m < 3): Z = (3/m) mean(diag Z), so that a balanced
  three-phase equivalent carrying the same total power has the same voltage
  drop and losses (mutual coupling is ignored), and C = (m/3) mean(diag C)
  (charging of the conductors that exist). ``b_us`` = 2 pi f C1 with f the
  circuit's base frequency. More than three conductors (no Kron reduction)
  cannot be reduced; r = x = 0 and r < 0 are errors.
* Switches (``switch=y``) are short lines with the impedance the engine holds
  (OpenDSS's switch defaults where the file gives none); x may be 0. A line
  whose terminal is opened (``Open`` command, all its conductors) or that is
  disabled (``enabled=n``) is a line with ``in_service=False``; so is a switch
  whose far bus has nothing else attached (a dummy open point such as
  ``300_OPEN``), and such a bus is out of service. A line with only some
  conductors opened cannot be reduced.
* The ``Vsource`` becomes an ``ext_grid`` at 1.0 p.u. If its bus feeds only a
  (non-regulator, two-winding, single-unit) substation transformer, bus and
  transformer are dropped and the feeder starts at the transformer's other
  side: in tdcoord a feeder is coupled to transmission through its own
  boundary transformer.
* Two-winding transformers become ``trafo`` rows: r from the windings' %R
  summed, x from XHL, on winding 1's rating (three times its per-phase kVA),
  as OpenDSS defines them; magnetizing g = %noloadloss/100,
  b = -%imag/100. Units of one ``bank`` become one three-phase row with the
  mean per-unit values; its tap is the mean of the phases' ratios, phases
  without a unit counting as 1.0. A ratio is tap x rated kV / bus nominal kV
  on either side. Regulators (transformers named by a RegControl) are
  fixed-ratio: taps from ``regulator_taps`` if given, else the tap the
  engine holds after the script (set in the file, or moved by the
  RegControls in the script's ``Solve`` commands). For a regulator the from
  side is the tapped winding's bus, so ``tap_pu`` is the output/input
  voltage ratio; otherwise it is winding 1.
* Three-winding transformers become a star of three ``trafo`` rows, each from
  a winding's bus to an internal star bus ``<name>.star`` (no DSS bus name
  contains a dot) at the nominal voltage of winding 1, all on winding 1's
  rating: row i has r_i = %R_i/100 and x_1 = (XHL + XHT - XLT)/200,
  x_2 = (XHL + XLT - XHT)/200, x_3 = (XHT + XLT - XHL)/200, so that the
  short-circuit impedance between windings i and j is R_i + R_j + j X_ij,
  which is how OpenDSS defines it (one of the star branches may have x < 0).
  The magnetizing branch is on winding 1's row; each row carries its
  winding's tap (ratio as above, the star side at 1.0). Transformers with
  more windings cannot be reduced.
* Phase shifts of delta-wye connections (30 degrees) are not represented
  (``shift_deg`` = 0): in a radial feeder they only rotate the voltage angles
  beyond the transformer and change no magnitude, flow or loss, while a flat
  start across a 30 degree shift can make Newton diverge. A circuit in which
  such a transformer lies on a loop of closed branches is refused.
* Loads: constant power, kW/kvar as the engine holds them (kvar computed by
  the engine from pf, kVA or allocation data) times the circuit's load
  multiplier, all phases summed per bus, whatever the OpenDSS ``model`` and
  connection.
* Capacitors: fixed shunts with their rated kvar at the bus nominal voltage,
  scaled by (V_bus/V_rated)^2 when the rated kV differs by more than 1 % from
  the voltage across the unit at nominal bus voltage (line-to-line;
  line-to-neutral for one-phase wye units); equal steps are kept as steps,
  with the engine's step states. Series and ungrounded-wye capacitors cannot
  be reduced.
* Bus nominal voltages come from the source (or the dropped transformer's
  feeder-side winding) through lines and transformer kV ratios; labels (and
  names) are the engine's bus names, in lower case; voltage limits 0.95-1.05
  p.u.
* Numerical floors (see :func:`read_opendss`; 0 turns them off): switches get
  r >= 1e-4 ohm and two-winding regulators x >= 1e-3 p.u., because the
  near-zero values of the scripts defeat Newton's tolerance or its flat
  start.
"""

from __future__ import annotations

import math
import re
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import opendssdirect

from tdcoord.errors import FileFormatError, InputError
from tdcoord.network.network import Network

TAP_STEP_PU = 0.00625
"""Ratio change per step of a standard 32-step (+-10 %) line regulator."""

VM_MIN_PU = 0.95
VM_MAX_PU = 1.05
RATED_KV_TOLERANCE = 0.01
"""Relative difference up to which a capacitor's rated kV counts as the bus nominal
(rounding, e.g. 2.4 kV vs 4.16/sqrt(3) = 2.4017 kV)."""

DEFAULT_SN_MVA = 10.0
"""MVA base of the networks read (a feeder of a few MW; as MATPOWER's case33bw)."""

MIN_SWITCH_R_OHM = 1e-4
"""Resistance given to a switch whose impedance in the file is smaller (numerical floor, see read_opendss)."""
MIN_REGULATOR_X_PU = 1e-3
"""Reactance (p.u. on the regulator's rating) given to a regulator whose XHL is smaller (numerical floor)."""

_READ = {"vsource", "line", "transformer", "regcontrol", "load", "capacitor"}
_IGNORED = {"energymeter", "monitor", "sensor", "capcontrol", "swtcontrol", "fuse", "recloser", "relay"}
"""Meters, and devices acting on the state of elements read (capacitor steps, open terminals), which is read."""

_DEFAULT_BASE_FREQUENCY_HZ = 60.0
"""OpenDSS's default base frequency; a script's ``Set DefaultBaseFrequency`` outlives ``Clear``, so each read
starts from this value again."""

_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()


# --------------------------------------------------------------------------- engine
def _engine() -> Any:
    """The reader's own OpenDSS engine instance (created once; guarded by ``_ENGINE_LOCK``)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = opendssdirect.dss.NewContext()
    return _ENGINE


_ENGINE_WHERE = re.compile(r'\[file: "(?P<file>[^"]*)", line: (?P<line>\d+)\]')


def _engine_error(path: Path, exc: Exception) -> FileFormatError:
    """FileFormatError of an engine error: ``file:line: message (OpenDSS error N[; redirected from file:line])``.

    The engine appends the place of the error, innermost file first, then
    the lines that redirected to it.
    """
    number, text = exc.args[:2] if len(exc.args) >= 2 else (None, str(exc))
    text = str(text)
    places = [f"{m['file']}:{m['line']}" for m in _ENGINE_WHERE.finditer(text)]
    first = _ENGINE_WHERE.search(text)
    if first:
        text = text[: first.start()]
    text = re.sub(r"^\(#\d+\)\s*", "", " ".join(text.split()))
    extra = [f"OpenDSS error {number}"] if isinstance(number, int) else []
    if len(places) > 1:
        extra.append(f"redirected from {', '.join(places[1:])}")
    return FileFormatError(f"{places[0] if places else path}: {text}" + (f" ({'; '.join(extra)})" if extra else ""))


def _split_bus(spec: str) -> tuple[str, tuple[int, ...]]:
    """``'rg60.1.2'`` -> ``('rg60', (1, 2))``."""
    parts = spec.strip().lower().split(".")
    return parts[0], tuple(int(p) for p in parts[1:] if p.strip().isdigit())


@dataclass
class _Line:
    name: str
    bus1: tuple[str, tuple[int, ...]]
    bus2: tuple[str, tuple[int, ...]]
    z: np.ndarray  # ohm, whole length (phase matrix)
    c: np.ndarray  # nF, whole length (phase matrix)
    switch: bool
    enabled: bool
    open_terminal: bool  # all conductors of a terminal open
    partly_open: bool  # some, not all, conductors of a terminal open

    @property
    def label(self) -> str:
        return f"Line.{self.name}"


@dataclass
class _Transformer:
    name: str
    phases: int
    buses: list[tuple[str, tuple[int, ...]]]
    kv: list[float]
    kva: list[float]
    r_pct: list[float]
    taps: list[float]
    delta: list[bool]
    x_pct: tuple[float, float, float]  # XHL, XHT, XLT
    noload_pct: float
    imag_pct: float
    bank: str
    enabled: bool
    any_open: bool

    @property
    def label(self) -> str:
        return f"Transformer.{self.name}"

    @property
    def windings(self) -> int:
        return len(self.buses)


@dataclass
class _Load:
    name: str
    bus: str
    kw: float
    kvar: float
    enabled: bool


@dataclass
class _Capacitor:
    name: str
    bus: str
    bus2: tuple[str, tuple[int, ...]]
    phases: int
    delta: bool
    kv: float
    step_kvar: list[float]
    states: list[int]
    enabled: bool

    @property
    def label(self) -> str:
        return f"Capacitor.{self.name}"


@dataclass
class _Source:
    bus: str
    basekv: float
    pu: float
    enabled: bool


@dataclass
class _Circuit:
    """What the reduction needs of the engine's state, copied out of the engine."""

    name: str
    f_hz: float
    load_mult: float
    source: _Source
    lines: list[_Line] = field(default_factory=list)
    transformers: list[_Transformer] = field(default_factory=list)
    regulated: dict[str, tuple[str, int]] = field(default_factory=dict)  # transformer -> (RegControl, tap winding)
    loads: list[_Load] = field(default_factory=list)
    capacitors: list[_Capacitor] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # meters and devices acting on states read


def _floats(text: str) -> list[float]:
    """Numbers of an array property as the engine formats it (``'[ 150 150]'``)."""
    return [float(v) for v in text.strip("[]() ").replace(",", " ").split()]


def _run_script(path: Path) -> _Circuit:
    """Run the script in the (cleared) engine and copy out the circuit."""
    with _ENGINE_LOCK, tempfile.TemporaryDirectory(prefix="tdcoord-opendss-") as out:
        dss = _engine()
        # process-wide switches of the engine library: off while the script runs ('Compile' would change the
        # working directory, 'Show' open an editor), then as the caller had them
        flags = dss.Basic.AllowChangeDir(), dss.Basic.AllowEditor()
        dss.Basic.AllowChangeDir(False)
        dss.Basic.AllowEditor(False)
        dss.Basic.ClearAll()
        try:
            dss.Text.Command(f"set DefaultBaseFrequency={_DEFAULT_BASE_FREQUENCY_HZ:g}")  # Clear keeps it
            dss.Basic.DataPath(out)
            dss.Text.Command(f'redirect "{path.resolve()}"')
            if dss.Basic.NumCircuits() == 0:
                raise FileFormatError(f"{path}: no 'New Circuit' found; not an OpenDSS circuit script")
            return _copy_circuit(dss, path)
        except opendssdirect.DSSException as exc:
            raise _engine_error(path, exc) from None
        finally:
            dss.Basic.ClearAll()
            dss.Basic.AllowChangeDir(flags[0])
            dss.Basic.AllowEditor(flags[1])


def _copy_circuit(dss: Any, path: Path) -> _Circuit:
    dss.Text.Command("get DefaultBaseFrequency")
    f_hz = float(dss.Text.Result())
    ckt = dss.Circuit
    names = ckt.AllElementNames()
    unsupported = [n for n in names if n.split(".", 1)[0].lower() not in _READ | _IGNORED]
    vsources = [n for n in names if n.split(".", 1)[0].lower() == "vsource"]
    if vsources != ["Vsource.source"]:
        unsupported += [n for n in vsources if n != "Vsource.source"]
    if unsupported:
        raise FileFormatError(
            f"{path}: {unsupported[0]}: {unsupported[0].split('.', 1)[0]} elements cannot be reduced to tdcoord's "
            f"positive-sequence network (it reads Vsource.source, Line, Transformer, RegControl, Load, Capacitor)"
            + (f"; also not reduced: {', '.join(unsupported[1:])}" if len(unsupported) > 1 else "")
        )

    ckt.SetActiveElement("Vsource.source")
    el = dss.CktElement
    source = _Source(_split_bus(el.BusNames()[0])[0], dss.Vsources.BasekV(), dss.Vsources.PU(), bool(el.Enabled()))
    circuit = _Circuit(name=ckt.Name(), f_hz=f_hz, load_mult=dss.Solution.LoadMult(), source=source)
    for full in names:
        cls, name = full.split(".", 1)
        cls = cls.lower()
        if cls in _IGNORED:
            circuit.ignored.append(full)
        if cls in _IGNORED or cls == "vsource":
            continue
        ckt.SetActiveElement(full)
        buses = [_split_bus(b) for b in el.BusNames()]
        enabled = bool(el.Enabled())
        if cls == "line":
            circuit.lines.append(_copy_line(dss, name, buses, enabled))
        elif cls == "transformer":
            circuit.transformers.append(_copy_transformer(dss, name, buses, enabled))
        elif cls == "regcontrol":
            dss.RegControls.Name(name)
            circuit.regulated.setdefault(dss.RegControls.Transformer().lower(), (name, dss.RegControls.TapWinding()))
        elif cls == "load":
            dss.Loads.Name(name)
            circuit.loads.append(_Load(name, buses[0][0], dss.Loads.kW(), dss.Loads.kvar(), enabled))
        else:  # capacitor
            dss.Capacitors.Name(name)
            circuit.capacitors.append(_Capacitor(
                name=name, bus=buses[0][0], bus2=buses[1], phases=el.NumPhases(), delta=bool(dss.Capacitors.IsDelta()),
                kv=dss.Capacitors.kV(), step_kvar=_floats(dss.Properties.Value("kvar")),
                states=list(dss.Capacitors.States()), enabled=enabled,
            ))
    return circuit


def _open_state(el: Any, n_terminals: int, n_conductors: int) -> tuple[bool, bool]:
    """(some terminal has all its conductors open, some terminal has only part of them open)."""
    full = partial = False
    for t in range(1, n_terminals + 1):
        opened = [bool(el.IsOpen(t, k)) for k in range(1, n_conductors + 1)]
        full |= all(opened)
        partial |= any(opened) and not all(opened)
    return full, partial


def _copy_line(dss: Any, name: str, buses: list[tuple[str, tuple[int, ...]]], enabled: bool) -> _Line:
    ln = dss.Lines
    ln.Name(name)
    n = ln.Phases()
    length = ln.Length()
    r = np.asarray(ln.RMatrix(), dtype=float).reshape(n, n)
    x = np.asarray(ln.XMatrix(), dtype=float).reshape(n, n)
    c = np.asarray(ln.CMatrix(), dtype=float).reshape(n, n)
    full, partial = _open_state(dss.CktElement, 2, n)
    return _Line(name=name, bus1=buses[0], bus2=buses[1], z=(r + 1j * x) * length, c=c * length,
                 switch=bool(ln.IsSwitch()), enabled=enabled, open_terminal=full, partly_open=partial)


def _copy_transformer(dss: Any, name: str, buses: list[tuple[str, tuple[int, ...]]], enabled: bool) -> _Transformer:
    tr, el, props = dss.Transformers, dss.CktElement, dss.Properties
    tr.Name(name)
    kv, kva, r, taps, delta = [], [], [], [], []
    for w in range(1, tr.NumWindings() + 1):
        tr.Wdg(w)
        kv.append(tr.kV())
        kva.append(tr.kVA())
        r.append(tr.R())
        taps.append(tr.Tap())
        delta.append(bool(tr.IsDelta()))
    full, partial = _open_state(el, el.NumTerminals(), el.NumConductors())
    return _Transformer(
        name=name, phases=el.NumPhases(), buses=buses, kv=kv, kva=kva, r_pct=r, taps=taps, delta=delta,
        x_pct=(tr.Xhl(), tr.Xht(), tr.Xlt()), noload_pct=float(props.Value("%noloadloss")),
        imag_pct=float(props.Value("%imag")),
        bank=props.Value("bank").strip().lower(), enabled=enabled, any_open=full or partial,
    )


# --------------------------------------------------------------------------- reduction
def positive_sequence(z: np.ndarray, c: np.ndarray) -> tuple[complex, float]:
    """Balanced three-phase equivalent (Z1, C1) of m-phase matrices (see module docstring)."""
    m = z.shape[0]
    if m == 3:
        off = ~np.eye(3, dtype=bool)
        return complex(np.diag(z).mean() - z[off].mean()), float(np.diag(c).mean() - c[off].mean())
    if m in (1, 2):
        return complex(3.0 / m * np.diag(z).mean()), float(m / 3.0 * np.diag(c).mean())
    raise ValueError(f"{m} conductors: only 1-, 2- and 3-phase matrices (neutrals Kron-reduced) can be reduced")


def _kv_ll(kv: float, phases: int, delta: bool) -> float:
    """Line-to-line equivalent of a winding voltage (a 1-phase wye winding is rated line-to-neutral)."""
    return kv * math.sqrt(3.0) if phases == 1 and not delta else kv


def _fmt(x: float) -> str:
    return f"{x:.6g}"


@dataclass
class _Group:
    """Transformers of one bank (or one transformer) between the same buses."""

    name: str
    units: list[_Transformer]
    regulator: bool = False
    tap_winding: int = 0  # 0-based winding whose bus is the from_bus of a two-winding row

    @property
    def buses(self) -> list[str]:
        return [b[0] for b in self.units[0].buses]

    @property
    def star(self) -> str:
        return f"{self.name}.star"

    def edges(self) -> list[tuple[str, str, float]]:
        """(bus a, bus b, nominal kV ratio b/a) of the group's rows, for the nominal-voltage search."""
        u = self.units[0]
        kv = [_kv_ll(u.kv[w], u.phases, u.delta[w]) for w in range(u.windings)]
        if u.windings == 2:
            return [(self.buses[0], self.buses[1], kv[1] / kv[0])]
        return [(self.buses[w], self.star, kv[0] / kv[w]) for w in range(u.windings)]


def read_opendss(
    master_path: str | Path,
    name: str | None = None,
    regulator_taps: Mapping[str, float] | None = None,
    *,
    sn_mva: float = DEFAULT_SN_MVA,
    source: str | None = None,
    min_switch_r_ohm: float = MIN_SWITCH_R_OHM,
    min_regulator_x_pu: float = MIN_REGULATOR_X_PU,
) -> Network:
    """Balanced positive-sequence :class:`Network` of an OpenDSS circuit script.

    The script (and what it redirects to) runs in the OpenDSS engine; see
    the module docstring for what is read and the conversion rules; every
    rule applied is also in the network's ``notes``. ``regulator_taps`` maps
    regulator transformer names (case-insensitive) to the ratio of their
    tapped winding (1 + 0.00625 k for tap position k); it overrides the taps
    the engine holds after the script. ``name`` defaults to the circuit's
    name, ``source`` to the master file's path.

    Two numerical floors (0 turns them off and keeps the file's values):
    OpenDSS scripts model closed switches and ideal regulators with
    near-zero impedances (the IEEE 13-node switch 671-692 is 1e-7 ohm,
    the regulators' XHL 0.001-0.01 %). A switch below ``min_switch_r_ohm``
    puts the round-off floor of Newton's power mismatch (about
    y V^2 eps = 4e-8 MW for 1e-7 ohm at 4.16 kV) above
    :func:`~tdcoord.pf.ac.run_newton`'s tolerance; a regulator below
    ``min_regulator_x_pu`` in mid-feeder (the 123-node feeder's reg4, tap
    1.029) makes Newton diverge from its flat start. Raising them changes
    the bus voltages by less than 4e-4 p.u. in both IEEE feeders.
    """
    path = Path(master_path)
    if not path.is_file():
        raise FileFormatError(f"{path}: file not found")
    conv = _Converter(_run_script(path), path, min_switch_r_ohm, min_regulator_x_pu)
    return conv.network(name, regulator_taps or {}, sn_mva, str(path) if source is None else source)


class _Converter:
    """Turns the engine's circuit into a Network; each step records its notes in order."""

    def __init__(self, circuit: _Circuit, path: Path, min_switch_r_ohm: float, min_regulator_x_pu: float) -> None:
        self.ckt = circuit
        self.path = path
        self.f_hz = circuit.f_hz
        self.min_switch_r_ohm = min_switch_r_ohm
        self.min_regulator_x_pu = min_regulator_x_pu
        self.lines = circuit.lines
        self.notes: list[str] = []
        self.shifted: dict[str, str] = {}  # trafo rows whose windings' connections differ (delta/wye) -> element

    def fail(self, element: str, msg: str) -> FileFormatError:
        return FileFormatError(f"{self.path}: {element}: {msg}")

    def network(self, name: str | None, regulator_taps: Mapping[str, float], sn_mva: float, source: str) -> Network:
        src = self.ckt.source
        if not src.enabled:
            raise self.fail("Vsource.source", "the circuit's source is disabled")
        self.notes.append(
            f"Balanced positive-sequence equivalent of the unbalanced OpenDSS circuit {self.ckt.name!r} read by "
            f"tdcoord.io.opendss from {self.path.name} (run in the OpenDSS engine of DSS-Extensions); an "
            "approximation (phase imbalance, mutual coupling between phases and the neutral are not represented)."
        )
        if self.ckt.ignored:
            self.notes.append(
                f"Not converted: {', '.join(self.ckt.ignored)} (meters, or devices acting on capacitor steps and "
                "open terminals, which are taken as the engine holds them after the script)."
            )
        self.check_lines()
        taps = self.given_taps(regulator_taps)
        groups = self.transformer_groups()
        root, root_kv = self.root(groups)
        vn, order = self.nominal_voltages(root, root_kv, groups)
        line_cols = self.line_table(groups, root)
        trafo_rows = self.trafo_table(groups, vn, taps)
        self.check_shift_loops(line_cols, trafo_rows)
        live = self.live_buses(root, line_cols, trafo_rows)
        dead = [b for b in order if b not in live]
        if dead:
            self.notes.append(
                f"Buses not connected to the source through closed branches, set out of service: {', '.join(dead)}."
            )

        net = Network(name=name or self.ckt.name, sn_mva=sn_mva, f_hz=self.f_hz, kind="distribution", source=source)
        net.add("bus", {
            "vn_kv": [vn[b] for b in order],
            "vm_min_pu": [VM_MIN_PU] * len(order),
            "vm_max_pu": [VM_MAX_PU] * len(order),
            "in_service": [b in live for b in order],
            "name": list(order),
        }, index=order)
        if self.lines:
            net.add("line", line_cols)
        if trafo_rows:
            net.add("trafo", trafo_rows)
        loads = self.load_table()
        if loads["bus"]:
            net.add("load", loads)
        shunts = self.shunt_table(vn)
        if shunts:
            net.add("shunt", shunts)
        net.add_ext_grid(root, vm_pu=1.0, name="source")
        kvs = sorted({round(v, 6) for v in vn.values()}, reverse=True)
        self.notes.append(
            f"Bus nominal voltages from the source through lines and transformer kV ratios "
            f"({', '.join(_fmt(v) for v in kvs)} kV); bus labels and names are the engine's bus names (lower case); "
            f"voltage limits {VM_MIN_PU}-{VM_MAX_PU} p.u. (assumed; the file gives none)."
        )
        for text in self.notes:
            net.note(text)
        return net

    # ------------------------------------------------------------ checks
    def check_lines(self) -> None:
        for e in self.lines:
            if e.bus1[0] == e.bus2[0]:
                raise self.fail(e.label, f"bus1 and bus2 are the same bus {e.bus1[0]!r}")
            if e.partly_open:
                raise self.fail(e.label, "some but not all conductors of a terminal are open; a balanced equivalent "
                                         "has no single-phase opening")

    def given_taps(self, regulator_taps: Mapping[str, float]) -> dict[str, float]:
        taps = {str(k).lower(): float(v) for k, v in regulator_taps.items()}
        regs = self.ckt.regulated
        unknown = [k for k in taps if k not in regs]
        if unknown:
            raise InputError(
                f"regulator_taps: {unknown[0]!r} is not a regulator (a transformer named by a RegControl) in "
                f"{self.path.name}; regulators: {', '.join(regs) or 'none'}"
            )
        bad = [k for k, v in taps.items() if not v > 0]
        if bad:
            raise InputError(f"regulator_taps: ratio of {bad[0]!r} must be > 0, got {taps[bad[0]]!r}")
        return taps

    # ------------------------------------------------------- transformers
    def transformer_groups(self) -> dict[str, _Group]:
        groups: dict[str, _Group] = {}
        for t in self.ckt.transformers:
            if t.windings not in (2, 3):
                raise self.fail(t.label, f"{t.windings} windings; two- and three-winding transformers can be reduced")
            if t.phases not in (1, 2, 3):
                raise self.fail(t.label, f"{t.phases} phases cannot be reduced")
            if t.any_open:
                raise self.fail(t.label, "open terminal conductors cannot be reduced")
            key = t.bank or t.name.lower()
            g = groups.setdefault(key, _Group(key, []))
            regulated = self.ckt.regulated.get(t.name.lower())
            if g.units:
                first = g.units[0]
                if [b[0] for b in t.buses] != g.buses:
                    raise self.fail(t.label, f"bank {key!r} joins buses {[b[0] for b in t.buses]}, but "
                                             f"{first.label} joins {g.buses}")
                if (regulated is not None) != g.regulator:
                    raise self.fail(t.label, f"bank {key!r} mixes regulated and plain units")
            g.units.append(t)
            if regulated is not None:
                rc, tap_winding = regulated
                w = tap_winding - 1
                if not 0 <= w < t.windings:
                    raise self.fail(f"RegControl.{rc}", f"winding {tap_winding} of a {t.windings}-winding transformer")
                if len(g.units) > 1 and g.tap_winding != w:
                    raise self.fail(f"RegControl.{rc}", f"bank {key!r} regulates different windings")
                g.regulator, g.tap_winding = True, w
        return groups

    def root(self, groups: dict[str, _Group]) -> tuple[str, float]:
        """Feeder root and its nominal kV; drops a substation transformer fed by the source alone."""
        src = self.ckt.source
        sbus = src.bus
        touching = [g for g in groups.values() if sbus in g.buses]
        others = [e for e in self.lines if sbus in (e.bus1[0], e.bus2[0])]
        others += [e for e in self.ckt.loads if e.bus == sbus] + [e for e in self.ckt.capacitors if e.bus == sbus]
        if (len(touching) == 1 and not others and not touching[0].regulator and len(touching[0].units) == 1
                and touching[0].units[0].windings == 2):
            sub = touching[0]
            u = sub.units[0]
            w = 0 if u.buses[0][0] != sbus else 1
            root = u.buses[w][0]
            del groups[sub.name]
            self.notes.append(
                f"Source and substation transformer dropped: the circuit's Vsource at bus {sbus!r} "
                f"({_fmt(src.basekv)} kV, pu={_fmt(src.pu)}) and {u.label} ({_fmt(u.kva[0])} kVA, "
                f"{_fmt(u.kv[0])}/{_fmt(u.kv[1])} kV) are not converted; the feeder starts at bus {root!r}, "
                "where an ext_grid holds 1.0 p.u. (in tdcoord a feeder is coupled to transmission through its own "
                "boundary transformer)."
            )
            return root, _kv_ll(u.kv[w], u.phases, u.delta[w])
        self.notes.append(
            f"The circuit's Vsource at bus {sbus!r} ({_fmt(src.basekv)} kV, pu={_fmt(src.pu)}) becomes an ext_grid "
            "at 1.0 p.u.; its short-circuit impedance is not converted (in tdcoord a feeder is coupled to "
            "transmission through its own boundary transformer)."
        )
        return sbus, src.basekv

    # ----------------------------------------------------------- topology
    def nominal_voltages(self, root: str, root_kv: float,
                         groups: dict[str, _Group]) -> tuple[dict[str, float], list[str]]:
        """Nominal kV of every bus, breadth-first from the root through lines and transformer ratios."""
        adj: dict[str, list[tuple[str, float, str]]] = {}
        for e in self.lines:
            a, b = e.bus1[0], e.bus2[0]
            adj.setdefault(a, []).append((b, 1.0, e.label))
            adj.setdefault(b, []).append((a, 1.0, e.label))
        for g in groups.values():
            for a, b, ratio in g.edges():
                adj.setdefault(a, []).append((b, ratio, g.units[0].label))
                adj.setdefault(b, []).append((a, 1.0 / ratio, g.units[0].label))
        vn, order, queue = {root: root_kv}, [root], deque([root])
        while queue:
            a = queue.popleft()
            for b, ratio, label in adj.get(a, []):
                v = float(f"{vn[a] * ratio:.10g}")  # 4.16 * 0.48 / 4.16 is 0.48, not 0.48000000000000004
                if b not in vn:
                    vn[b] = v
                    order.append(b)
                    queue.append(b)
                elif abs(vn[b] - v) > 1e-6 * v:
                    raise self.fail(
                        label, f"nominal voltages around a loop disagree at bus {b!r} ({vn[b]:g} vs {v:g} kV)"
                    )
        ends: list[tuple[str, str]] = [(e.label, b[0]) for e in self.lines for b in (e.bus1, e.bus2)]
        ends += [(f"Load.{e.name}", e.bus) for e in self.ckt.loads]
        ends += [(e.label, e.bus) for e in self.ckt.capacitors]
        ends += [(g.units[0].label, b) for g in groups.values() for b in g.buses]
        for label, bus in ends:
            if bus not in vn:
                raise self.fail(
                    label, f"bus {bus!r} is not connected to the circuit's source (no path of lines and transformers "
                           f"from {root!r})"
                )
        return vn, order

    @staticmethod
    def live_buses(root: str, line_cols: dict[str, Any], trafo_rows: list[dict[str, Any]]) -> set[str]:
        """Buses reached from the root through closed branches."""
        adj: dict[str, list[str]] = {}
        pairs = [(a, b) for a, b, ok in zip(line_cols.get("from_bus", []), line_cols.get("to_bus", []),
                                            line_cols.get("in_service", [])) if ok]
        pairs += [(t["from_bus"], t["to_bus"]) for t in trafo_rows if t["in_service"]]
        for a, b in pairs:
            adj.setdefault(a, []).append(b)
            adj.setdefault(b, []).append(a)
        live, queue = {root}, deque([root])
        while queue:
            for b in adj.get(queue.popleft(), []):
                if b not in live:
                    live.add(b)
                    queue.append(b)
        return live

    # -------------------------------------------------------------- lines
    def line_table(self, groups: dict[str, _Group], root: str) -> dict[str, Any]:
        """Columns of the line table: positive-sequence impedance and charging of every Line."""
        n = len(self.lines)
        z, c = np.zeros(n, dtype=complex), np.zeros(n)
        for k, e in enumerate(self.lines):
            try:
                z[k], c[k] = positive_sequence(e.z, e.c)
            except ValueError as exc:
                raise self.fail(e.label, str(exc)) from None
            if z[k] == 0:
                raise self.fail(e.label, "zero impedance (r = x = 0); tdcoord needs a non-zero impedance")
            if z[k].real < 0:
                raise self.fail(e.label, f"negative positive-sequence resistance {z[k].real:.6g} ohm")
        b_us = 2 * math.pi * self.f_hz * c * 1e-3  # nF -> uS
        is_switch = np.array([e.switch for e in self.lines], dtype=bool)
        tiny = np.flatnonzero(is_switch & (np.abs(z) < self.min_switch_r_ohm))
        floored = [f"{self.lines[k].name} ({abs(z[k]):.3g} ohm)" for k in tiny]
        z[tiny] = np.maximum(z[tiny].real, self.min_switch_r_ohm) + 1j * z[tiny].imag

        # a switch to a bus that nothing else touches is a normally-open point
        uses: dict[str, int] = {root: 1}
        ends = [b[0] for e in self.lines for b in (e.bus1, e.bus2)]
        ends += [b for g in groups.values() for b in g.buses]
        ends += [e.bus for e in self.ckt.loads] + [e.bus for e in self.ckt.capacitors]
        for b in ends:
            uses[b] = uses.get(b, 0) + 1
        closed, dead_points = [], []
        for e in self.lines:
            b1, b2 = e.bus1[0], e.bus2[0]
            ok = e.enabled and not e.open_terminal
            if ok and e.switch and (uses[b1] == 1 or uses[b2] == 1):
                ok = False
                dead_points.append(f"{e.name} (to {b2 if uses[b2] == 1 else b1!r})")
            closed.append(ok)

        switches = [e.name for e in self.lines if e.switch]
        opened = [e.name for e, ok in zip(self.lines, closed) if not ok]
        self.notes += [
            "Line impedance: the engine's phase impedance matrix Z (from line codes, the line's own data or line "
            "geometries; ohm per length unit) times the length; 3-phase Z1 = mean(diag Z) - mean(offdiag Z); "
            "m-phase lines with m < 3 get Z = (3/m) mean(diag Z) so that a balanced three-phase equivalent carrying "
            "the same total power has the same voltage drop and losses (mutual coupling ignored). Approximation.",
            "Line charging: the engine's capacitance matrix C times the length; C1 = mean(diag C) - mean(offdiag C) "
            "for 3-phase lines, (m/3) mean(diag C) for m < 3 (charging of the conductors that exist); b_us = "
            f"2 pi f C1, f = {_fmt(self.f_hz)} Hz. Approximation.",
        ]
        if switches:
            self.notes.append(
                f"Switch lines ({', '.join(switches)}) are short lines with the impedance the engine holds (OpenDSS's "
                "switch defaults where the file gives none); a switch with x = 0 keeps its small r (subject to the "
                "numerical floor below)."
            )
        if floored:
            self.notes.append(
                f"Numerical floor (not in the file): switches below {_fmt(self.min_switch_r_ohm)} ohm get "
                f"r = {_fmt(self.min_switch_r_ohm)} ohm: {', '.join(floored)} in the file. Such near-zero impedances "
                "put the round-off floor of Newton's power mismatch (about y V^2 eps) above run_newton's tolerance; "
                "the voltage across a switch changes by less than 1e-5 p.u."
            )
        if dead_points:
            self.notes.append(
                "Normally-open points modelled in the file as a switch to a dummy bus with nothing else attached: "
                f"{', '.join(dead_points)}; these switches are lines with in_service=False (no current flowed "
                "through them in OpenDSS either)."
            )
        if opened:
            self.notes.append(f"Open lines (in_service=False): {', '.join(opened)}.")
        return {
            "from_bus": [e.bus1[0] for e in self.lines],
            "to_bus": [e.bus2[0] for e in self.lines],
            "r_ohm": z.real,
            "x_ohm": z.imag,
            "b_us": b_us,
            "in_service": closed,
            "name": [e.name for e in self.lines],
        }

    # -------------------------------------------------------- transformers
    def trafo_table(self, groups: dict[str, _Group], vn: dict[str, float],
                    taps: dict[str, float]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        described: list[str] = []
        floored: list[str] = []
        three: list[str] = []
        for g in groups.values():
            first = g.units[0]
            if first.windings == 2:
                pairs: list[tuple[int, int | None]] = [(g.tap_winding, 1 - g.tap_winding)]
            else:
                pairs = [(w, None) for w in range(3)]
                three.append(g.name)
            enabled = {u.enabled for u in g.units}
            if len(enabled) > 1:
                raise self.fail(first.label, f"bank {g.name!r}: some units are disabled, others not")
            for fw, ow in pairs:
                row, text = self.trafo_row(g, fw, ow, vn, taps)
                row["in_service"] = next(iter(enabled))
                if g.regulator and ow is not None and row["x_pu"] < self.min_regulator_x_pu:
                    floored.append(f"{g.name} ({_fmt(row['x_pu'])} p.u.)")
                    row["x_pu"] = self.min_regulator_x_pu
                rows.append(row)
                described.append(text + f"x_pu={_fmt(row['x_pu'])}, tap_pu={row['tap_pu']:.6f}.")
        if not rows:
            return rows
        self.notes.append(
            "Transformers are trafo rows on winding 1's rating (sn_mva = three times its per-phase kVA), as OpenDSS "
            "defines %R and the reactances: two windings give one row, r_pu = sum of the windings' %R / 100, "
            "x_pu = XHL / 100, g_pu = %noloadloss / 100, b_pu = -%imag / 100. Units of one bank become one "
            "three-phase row with the mean per-unit values; its tap is the mean of the three phases' ratios (tap x "
            "rated kV / bus nominal kV on either side), phases without a unit counting as 1.0. For a regulator the "
            "from side is the regulated (tapped) winding's bus, so tap_pu is the output/input voltage ratio "
            "(1 + 0.00625 k at tap position k); otherwise from_bus is winding 1. Regulator taps: given by the caller "
            "if so, else the engine's after the script (set in the file or moved by the RegControls of the script's "
            "Solve commands); regulators are fixed-ratio (RegControl settings vreg, band, R, X are not used)."
        )
        if three:
            self.notes.append(
                f"Three-winding transformers ({', '.join(three)}) are a star of three trafo rows, from each winding's "
                "bus to an internal star bus '<name>.star' at winding 1's nominal voltage, all on winding 1's rating: "
                "r_pu = %R_i / 100, x_1 = (XHL + XHT - XLT)/200, x_2 = (XHL + XLT - XHT)/200, x_3 = (XHT + XLT - XHL)/"
                "200, so that the short-circuit impedance between windings i and j is R_i + R_j + j X_ij as in "
                "OpenDSS; the magnetizing branch is on winding 1's row; each row has its winding's tap ratio."
            )
        if self.shifted:
            self.notes.append(
                f"Delta-wye phase shifts (30 deg) not represented (shift_deg = 0): {', '.join(self.shifted)}. In a "
                "radial feeder they only rotate the voltage angles beyond the transformer; magnitudes, flows and "
                "losses are unchanged."
            )
        if floored:
            self.notes.append(
                f"Numerical floor (not in the file): regulator reactance raised to {_fmt(self.min_regulator_x_pu)} "
                f"p.u. on the regulator's rating where XHL is smaller: {', '.join(floored)} in the file (near-ideal "
                "regulators; Kersting's test case assumes none). With the file's values Newton diverges from a flat "
                "start when an off-nominal regulator sits in mid-feeder; bus voltages change by less than 4e-4 p.u."
            )
        self.notes += described
        return rows

    def trafo_row(self, g: _Group, fw: int, ow: int | None, vn: dict[str, float],
                  taps: dict[str, float]) -> tuple[dict[str, Any], str]:
        """One trafo row of a group: winding ``fw`` to winding ``ow`` (two windings) or to the star bus (``None``)."""
        first = g.units[0]
        fbus = first.buses[fw][0]
        obus = first.buses[ow][0] if ow is not None else g.star
        ratio = {1: 1.0, 2: 1.0, 3: 1.0}  # per phase; phases without a unit stay at 1.0
        sn, r, x, gm, bm, units = [], [], [], [], [], []
        shifted = False
        for u in g.units:
            kvf = _kv_ll(u.kv[fw], u.phases, u.delta[fw])
            tap, origin = u.taps[fw], "script"
            if g.regulator and fw == g.tap_winding and u.name.lower() in taps:
                tap, origin = taps[u.name.lower()], "given"
            if ow is not None:
                other = u.taps[ow] * _kv_ll(u.kv[ow], u.phases, u.delta[ow]) / vn[obus]
                r_pct = u.r_pct[fw] + u.r_pct[ow]
                x_pct = u.x_pct[0]
            else:  # star: the star side is at winding 1's rated voltage, tap 1
                other = 1.0
                r_pct = u.r_pct[fw]
                xhl, xht, xlt = u.x_pct
                x_pct = ((xhl + xht - xlt), (xhl + xlt - xht), (xht + xlt - xhl))[fw] / 2.0
            nodes = u.buses[fw][1] or tuple(range(1, u.phases + 1))
            phases = [p for p in nodes if p in ratio][: u.phases]
            if len(phases) != u.phases:
                raise self.fail(u.label, f"cannot tell its phases from bus {u.buses[fw][0]!r} nodes {nodes}")
            for p in phases:
                ratio[p] = (tap * kvf / vn[fbus]) / other
            sn.append(3.0 * u.kva[0] / u.phases / 1000.0)
            r.append(r_pct / 100.0)
            x.append(x_pct / 100.0)
            magnetizing = ow is not None or fw == 0
            gm.append(u.noload_pct / 100.0 if magnetizing else 0.0)
            bm.append(-u.imag_pct / 100.0 if magnetizing else 0.0)
            shifted |= u.phases > 1 and u.delta[fw] != u.delta[ow if ow is not None else 0]
            units.append(f"{u.name} phase {''.join('abc'[p - 1] for p in phases)} tap {_fmt(tap)} ({origin})"
                         if g.regulator else u.name)
        name = g.name if ow is not None else f"{g.name}.{fw + 1}"
        if shifted:
            self.shifted[name] = first.label
        row = {
            "from_bus": fbus, "to_bus": obus, "sn_mva": float(np.mean(sn)), "r_pu": float(np.mean(r)),
            "x_pu": float(np.mean(x)), "g_pu": float(np.mean(gm)), "b_pu": float(np.mean(bm)),
            "tap_pu": float(np.mean([ratio[1], ratio[2], ratio[3]])), "name": name,
        }
        kind = "Regulator" if g.regulator else "Transformer"
        text = (f"{kind} {name!r} ({fbus!r} -> {obus!r}; {', '.join(units)}): sn_mva={_fmt(row['sn_mva'])}, "
                f"r_pu={_fmt(row['r_pu'])}, ")
        return row, text

    def check_shift_loops(self, line_cols: dict[str, Any], trafo_rows: list[dict[str, Any]]) -> None:
        """Refuse a dropped phase shift on a loop of closed branches (there it would change the flows)."""
        if not self.shifted:
            return
        branches = [(a, b, f"Line.{n}") for a, b, n, ok in zip(line_cols["from_bus"], line_cols["to_bus"],
                                                                  line_cols["name"], line_cols["in_service"]) if ok]
        branches += [(t["from_bus"], t["to_bus"], t["name"]) for t in trafo_rows if t["in_service"]]
        for k, (a, b, name) in enumerate(branches):
            if name not in self.shifted:
                continue
            adj: dict[str, list[str]] = {}
            for j, (u, v, _) in enumerate(branches):
                if j != k:
                    adj.setdefault(u, []).append(v)
                    adj.setdefault(v, []).append(u)
            seen, queue = {a}, deque([a])
            while queue:
                for v in adj.get(queue.popleft(), []):
                    if v not in seen:
                        seen.add(v)
                        queue.append(v)
            if b in seen:
                raise self.fail(
                    self.shifted[name], "its delta-wye phase shift lies on a loop of closed branches; "
                    "the reduction drops phase shifts and holds only for radial connections"
                )

    # -------------------------------------------------------------- loads
    def load_table(self) -> dict[str, list[Any]]:
        """Constant-power loads: total kW/kvar of all phases, summed per bus (and per in/out of service)."""
        per_bus: dict[tuple[str, bool], list[Any]] = {}
        mult = self.ckt.load_mult
        for e in self.ckt.loads:
            acc = per_bus.setdefault((e.bus, e.enabled), [0.0, 0.0, []])
            acc[0] += e.kw * mult
            acc[1] += e.kvar * mult
            acc[2].append(e.name)
        if per_bus:
            self.notes.append(
                "Loads: every load is a constant-power load of its total (all phases) kW/kvar as the engine holds "
                "them, summed per bus, whatever its OpenDSS model (constant Z, I or PQ) and connection (wye or delta)"
                + (f", times the circuit's load multiplier {_fmt(mult)}." if mult != 1.0 else ".")
            )
        return {
            "bus": [k[0] for k in per_bus],
            "p_mw": [v[0] / 1000.0 for v in per_bus.values()],
            "q_mvar": [v[1] / 1000.0 for v in per_bus.values()],
            "in_service": [k[1] for k in per_bus],
            "name": [",".join(v[2]) for v in per_bus.values()],
        }

    def shunt_table(self, vn: dict[str, float]) -> list[dict[str, Any]]:
        """Fixed shunts of the capacitors at their rated kvar, scaled to the bus nominal voltage if needed."""
        rows, scaled = [], []
        for e in self.ckt.capacitors:
            bus2, nodes2 = e.bus2
            if bus2 != e.bus:
                raise self.fail(e.label, f"bus2 {bus2!r}: series capacitors cannot be reduced")
            if not e.delta and not (nodes2 and set(nodes2) <= {0}):
                raise self.fail(e.label, f"bus2 {bus2}.{'.'.join(map(str, nodes2))}: ungrounded wye capacitors "
                                         "cannot be reduced")
            kvar, states = e.step_kvar, e.states
            if len(kvar) != len(states):
                raise self.fail(e.label, f"{len(kvar)} kvar values for {len(states)} steps")
            bus = e.bus
            v_unit = vn[bus] if (e.phases > 1 or e.delta) else vn[bus] / math.sqrt(3.0)
            scale = 1.0
            if abs(v_unit / e.kv - 1.0) > RATED_KV_TOLERANCE:
                scale = (v_unit / e.kv) ** 2
                scaled.append(
                    f"{e.name} (rated {_fmt(e.kv)} kV, {_fmt(v_unit)} kV at nominal bus voltage: x{scale:.4f})"
                )
            uniform = len(set(kvar)) == 1
            rows.append({
                "bus": bus,
                "bs_mvar": (kvar[0] if uniform else sum(k for k, on in zip(kvar, states) if on)) / 1000.0 * scale,
                "step": sum(1 for on in states if on) if uniform else 1,
                "max_step": len(kvar) if uniform else 1,
                "in_service": e.enabled,
                "name": e.name,
            })
        if rows:
            self.notes.append(
                "Capacitors are fixed shunts: bs_mvar = rated kvar / 1000 at nominal bus voltage (per step for "
                "equal steps, with the engine's step states); a rated kV within "
                f"{RATED_KV_TOLERANCE:.0%} of the voltage across the unit at nominal bus voltage (line-to-line; "
                "line-to-neutral for 1-phase wye units) counts as equal (rounding, e.g. 2.4 kV vs 4.16/sqrt(3))."
            )
        if scaled:
            self.notes.append(f"Capacitor ratings scaled by (V_bus/V_rated)^2: {', '.join(scaled)}.")
        return rows


# --------------------------------------------------------------------------- the IEEE feeders
ELECTRICDSS_TST = "dss-extensions/electricdss-tst"
ELECTRICDSS_TST_COMMIT = "3b208397160213cae4a9e2d0a7d1aa3528ce26e1"

IEEE13_PUBLISHED_TAPS = {"reg1": 1.0625, "reg2": 1.0500, "reg3": 1.06875}
"""Winding-2 taps of the 13-node feeder's regulators, from the master file's 'Alternate Solution Script'."""

IEEE123_PUBLISHED_TAP_POSITIONS = {"reg1a": 7, "reg2a": -1, "reg3a": 0, "reg3c": -1, "reg4a": 8, "reg4b": 1, "reg4c": 5}
"""Published tap positions of the 123-node feeder (Kersting's solution), as fixed by the 2nd script of
``Run_IEEE123Bus.DSS`` in the same repository."""

IEEE_TEST_FEEDERS: dict[str, dict[str, Any]] = {
    "ieee13": {
        "master": "ieee13/IEEE13Nodeckt.dss",
        "upstream": "Version8/Distrib/IEEETestCases/13Bus/IEEE13Nodeckt.dss",
        "taps": IEEE13_PUBLISHED_TAPS,
        "taps_note": (
            "Regulator taps (winding 2) are the published ones, from the 'Alternate Solution Script' comment block "
            "of IEEE13Nodeckt.dss: Reg1 1.0625, Reg2 1.0500, Reg3 1.06875 (tap positions +10, +8, +11)."
        ),
        "title": "IEEE 13-node test feeder",
    },
    "ieee123": {
        "master": "ieee123/IEEE123Switches.dss",
        "upstream": "Version8/Distrib/IEEETestCases/123Bus/IEEE123Switches.dss",
        "taps": {k: 1.0 + TAP_STEP_PU * v for k, v in IEEE123_PUBLISHED_TAP_POSITIONS.items()},
        "taps_note": (
            "Regulator taps are the published tap positions (Kersting's solution) that the 2nd script of "
            "Run_IEEE123Bus.DSS (same repository) fixes: reg1a +7, reg2a -1, reg3a 0, reg3c -1, reg4a +8, reg4b +1, "
            "reg4c +5; ratio 1 + 0.00625 k."
        ),
        "extra_note": (
            "Read from IEEE123Switches.dss, the variant of IEEE123Master.dss in which the normally-open switches "
            "Sw7 (151-300) and Sw8 (54-94) join real buses and are opened with 'open' commands (IEEE123Master.dss "
            "ends them at dummy buses 300_OPEN and 94_OPEN instead); the in-service network is the same, and the "
            "open switches are usable as tie switches."
        ),
        "title": "IEEE 123-node test feeder",
    },
}


def ieee_test_feeder(folder: str | Path, name: str) -> Network:
    """The IEEE 13- or 123-node feeder (``name`` 'ieee13' or 'ieee123') from a folder of the DSS files.

    ``folder`` holds ``ieee13/`` and ``ieee123/`` as in electricdss-tst (the
    shared ``IEEELineCodes.DSS`` one level up from each). Uses the published
    regulator taps; this is how the built-in ``ieee13.json`` and
    ``ieee123.json`` are made.
    """
    spec = IEEE_TEST_FEEDERS.get(name)
    if spec is None:
        raise InputError(f"unknown IEEE test feeder {name!r}; expected one of {', '.join(IEEE_TEST_FEEDERS)}")
    source = (
        f"{spec['title']} (IEEE PES Distribution System Analysis Subcommittee), OpenDSS model "
        f"{ELECTRICDSS_TST}@{ELECTRICDSS_TST_COMMIT[:12]}:{spec['upstream']} (BSD-3-Clause, EPRI and DSS-Extensions)"
    )
    net = read_opendss(Path(folder) / spec["master"], name=name, regulator_taps=spec["taps"], source=source)
    net.note(spec["taps_note"])
    if "extra_note" in spec:
        net.note(spec["extra_note"])
    return net


__all__ = [
    "read_opendss", "positive_sequence", "ieee_test_feeder", "IEEE_TEST_FEEDERS",
    "IEEE13_PUBLISHED_TAPS", "IEEE123_PUBLISHED_TAP_POSITIONS", "TAP_STEP_PU",
]
