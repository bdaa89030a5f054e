"""OpenDSS feeder scripts to balanced positive-sequence :class:`Network` objects.

:func:`read_opendss` reads the subset of the DSS language used by the IEEE
13-node and 123-node test feeders and returns a *balanced positive-sequence
equivalent* of the (unbalanced, multi-phase) feeder: one bus per DSS bus, one
branch per line, one transformer row per regulator bank or transformer, one
load per bus. It is an approximation made for transmission-distribution
coordination studies, not an unbalanced feeder model.

Language subset
---------------
Commands ``Clear``, ``Set`` (``DefaultBaseFrequency``; solution options are
accepted and ignored), ``New``/``Edit``, ``~``/``More`` continuation lines,
property edits such as ``Transformer.Reg1.Taps=[1.0 1.0625]`` (more
properties of the same element may follow), ``Redirect``/``Compile`` (paths
relative to the file's folder), ``Open``/``Close`` of lines,
``Enable``/``Disable``; ``!`` and ``//`` comments, ``/* */`` blocks; values in
``()``, ``[]``, ``{}`` or quotes; in-line RPN arithmetic such as
``(8 1000 /)`` in numeric properties. ``BusCoords``, ``Solve``, ``CalcV``,
``Show``, ``Plot``, ``Export`` and monitors, energy meters and load shapes are
skipped: they do not change the model. Classes read: ``Circuit``/``Vsource``,
``Transformer``, ``RegControl`` (only to know which transformers are
regulators and which winding they tap), ``LineCode``, ``Line``, ``Load``,
``Capacitor``. Anything else that could change the model (another class, an
unknown property or option, line geometries, three-winding transformers, ...)
raises :class:`~tdcoord.errors.FileFormatError` naming the file, the line and
the element; nothing is dropped silently.

Conversion rules (each one is also written into the network's ``notes``)
-----------------------------------------------------------------------
* Lines: positive-sequence impedance of the phase impedance matrix Z of the
  line code (or of the line's own ``rmatrix``/``r1``... data; sequence data
  are first turned into a phase matrix, Zs = (2 Z1 + Z0)/3, Zm = (Z0 - Z1)/3,
  as OpenDSS does). Three phases: Z1 = mean(diag Z) - mean(offdiag Z). One or
  two phases (m < 3): Z = (3/m) mean(diag Z), so that a balanced three-phase
  equivalent carrying the same total power has the same voltage drop and
  losses (mutual coupling is ignored). Shunt capacitance: C1 = mean(diag C) -
  mean(offdiag C) for three phases, (m/3) mean(diag C) for m < 3 (charging of
  the conductors that exist). Lengths are converted to the line code's length
  unit (mi, kft, km, m, ft, in, cm, mm; ``none`` on either side means the
  same unit); ``b_us`` = 2 pi f C1 for the whole length.
* Switches (``switch=y``) are short lines with the impedance the file gives
  (OpenDSS's switch defaults where it gives none); x may be 0, r = x = 0 is an
  error. Opened switches (``Open`` command, ``enabled=n``) are lines with
  ``in_service=False``; so is a switch whose far bus has nothing else attached
  (a dummy open point such as ``300_OPEN``), and such a bus is out of service.
* The ``Vsource`` becomes an ``ext_grid`` at 1.0 p.u. If its bus feeds only a
  (non-regulator) substation transformer, bus and transformer are dropped and
  the feeder starts at the transformer's other side: in tdcoord a feeder is
  coupled to transmission through its own boundary transformer.
* Two-winding transformers become ``trafo`` rows: r from the windings' %r
  summed, x from XHL, on the rating (three times the per-phase kVA). Units of
  one ``bank`` become one three-phase row; its tap is the mean of the phases'
  ratios, phases without a unit counting as 1.0. Regulators (transformers
  named by a RegControl) are fixed-ratio: taps from ``regulator_taps`` if
  given, else from the file (``Taps=``/``tap=``), else 1.0. For a regulator the
  from side is the tapped (regulated) winding's bus, so ``tap_pu`` is the
  output/input voltage ratio; otherwise it is winding 1.
* Loads: constant power, total kW/kvar of all phases summed per bus, whatever
  the OpenDSS ``model`` and connection. Capacitors: fixed shunts with their
  rated kvar at the bus nominal voltage, scaled by (V_bus/V_rated)^2 when the
  rated kV differs by more than 1 % from the voltage across the unit at
  nominal bus voltage (line-to-line; line-to-neutral for one-phase wye units).
* Bus nominal voltages come from the source (or the dropped transformer's
  feeder-side winding) through lines and transformer kV ratios; labels are the
  DSS bus names in lower case; voltage limits 0.95-1.05 p.u.
* Numerical floors (see :func:`read_opendss`; 0 turns them off): switches get
  r >= 1e-4 ohm and regulators x >= 1e-3 p.u., because the near-zero values
  of the scripts defeat Newton's tolerance or its flat start.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

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

_LENGTH_M = {"mi": 1609.344, "kft": 304.8, "km": 1000.0, "m": 1.0, "ft": 0.3048, "in": 0.0254, "cm": 0.01, "mm": 0.001}
_UNIT_NAMES = {**{u: u for u in _LENGTH_M}, "none": "none", "meter": "m", "meters": "m", "feet": "ft", "miles": "mi"}

_SEQ_DEFAULT = {"r1": 0.058, "x1": 0.1206, "r0": 0.1784, "x0": 0.4047, "c1": 3.4, "c0": 1.6}
"""OpenDSS's default line (code) sequence data: ohm and nF per unit length."""
_SWITCH_SEQ = {"r1": 1.0, "x1": 1.0, "r0": 1.0, "x0": 1.0, "c1": 1.1, "c0": 1.0}
"""What ``switch=y`` sets in OpenDSS (with length 0.001, units none)."""

_TITLE = {
    "vsource": "Vsource", "transformer": "Transformer", "regcontrol": "RegControl", "linecode": "LineCode",
    "line": "Line", "load": "Load", "capacitor": "Capacitor",
}
_SKIPPED_CLASSES = {"monitor", "energymeter", "loadshape"}
_SKIPPED_COMMANDS = {
    "solve", "calcv", "calcvoltagebases", "buscoords", "show", "plot", "export", "makebuslist", "summary",
    "visualize", "sample", "latlongcoords", "help", "cleanup",
}
_SET_USED = {"defaultbasefrequency"}
_SET_IGNORED = {
    "voltagebases", "controlmode", "maxcontroliter", "maxiterations", "maxiter", "tolerance", "mode", "algorithm",
    "editor", "showexport", "markswitches", "marktransformers", "markcapacitors", "markregulators",
    "normvminpu", "normvmaxpu", "emergvminpu", "emergvmaxpu", "trapezoidal", "number", "stepsize", "hour", "sec",
}


# --------------------------------------------------------------------------- tokens
@dataclass(frozen=True)
class _Loc:
    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class _Tok:
    key: str | None  # lower-case property name; None for a positional value
    raw: str  # the value without its brackets or quotes
    bracket: str  # "" or the opening bracket / quote
    loc: _Loc


_CLOSE = {"(": ")", "[": "]", "{": "}", '"': '"', "'": "'"}


def _split(text: str, loc: _Loc) -> list[_Tok]:
    """Tokens of one physical line, comments removed."""
    toks: list[_Tok] = []
    n = len(text)

    def value_at(i: int) -> tuple[str, str, int]:
        if text[i] in _CLOSE:
            j = text.find(_CLOSE[text[i]], i + 1)
            if j < 0:
                raise FileFormatError(f"{loc}: '{text[i]}' is not closed on this line")
            return text[i + 1:j], text[i], j + 1
        j = i
        while j < n and not text[j].isspace() and text[j] not in ",=!" and not text.startswith("//", j):
            j += 1
        return text[i:j], "", j

    i = 0
    while i < n:
        c = text[i]
        if c.isspace() or c == ",":
            i += 1
            continue
        if c == "!" or text.startswith("//", i):
            break
        if c == "=":
            raise FileFormatError(f"{loc}: '=' without a property name")
        raw, br, j = value_at(i)
        k = j
        while k < n and text[k] in " \t":
            k += 1
        if not br and k < n and text[k] == "=":
            k += 1
            while k < n and text[k] in " \t":
                k += 1
            if k >= n or text[k] == "!" or text.startswith("//", k):
                raise FileFormatError(f"{loc}: property {raw!r} has no value")
            val, vbr, j = value_at(k)
            toks.append(_Tok(raw.lower(), val.strip(), vbr, loc))
        else:
            toks.append(_Tok(None, raw.strip(), br, loc))
        i = j
    return toks


# --------------------------------------------------------------------------- values
def _fail(loc: _Loc, what: str, msg: str) -> FileFormatError:
    return FileFormatError(f"{loc}: {what}: {msg}")


_RPN_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "^": lambda a, b: a**b,
    "atan2": lambda a, b: math.degrees(math.atan2(a, b)),
}
_RPN_UNARY: dict[str, Callable[[float], float]] = {
    "sqrt": math.sqrt, "sqr": lambda a: a * a, "inv": lambda a: 1.0 / a, "ln": math.log, "exp": math.exp,
    "log10": math.log10, "chs": lambda a: -a,
    "sin": lambda a: math.sin(math.radians(a)), "cos": lambda a: math.cos(math.radians(a)),
    "tan": lambda a: math.tan(math.radians(a)), "asin": lambda a: math.degrees(math.asin(a)),
    "acos": lambda a: math.degrees(math.acos(a)), "atan": lambda a: math.degrees(math.atan(a)),
}


def _rpn(expr: str, loc: _Loc, what: str) -> float:
    """Value of a DSS in-line RPN expression such as ``8 1000 /``."""
    stack: list[float] = []
    for t in expr.replace(",", " ").split():
        low = t.lower()
        try:
            stack.append(float(t))
            continue
        except ValueError:
            pass
        try:
            if low in _RPN_BINARY:
                if len(stack) < 2:
                    raise ValueError(f"operator {t!r} needs two operands")
                b, a = stack.pop(), stack.pop()
                stack.append(_RPN_BINARY[low](a, b))
            elif low in _RPN_UNARY:
                if not stack:
                    raise ValueError(f"function {t!r} needs an operand")
                stack.append(_RPN_UNARY[low](stack.pop()))
            elif low == "pi":
                stack.append(math.pi)
            elif low == "swap":
                if len(stack) < 2:
                    raise ValueError("'swap' needs two operands")
                stack[-1], stack[-2] = stack[-2], stack[-1]
            else:
                raise ValueError(f"unknown token {t!r}")
        except (ValueError, ZeroDivisionError, OverflowError) as exc:
            raise _fail(loc, what, f"malformed in-line RPN expression ({expr}): {exc}") from None
    if len(stack) != 1:
        raise _fail(loc, what, f"malformed in-line RPN expression ({expr}): leaves {len(stack)} values, expected 1")
    return stack[0]


def _num(tok: _Tok, what: str) -> float:
    try:
        return float(tok.raw)
    except ValueError:
        if tok.bracket:
            return _rpn(tok.raw, tok.loc, what)
        raise _fail(tok.loc, what, f"expected a number, got {tok.raw!r}") from None


def _int(tok: _Tok, what: str) -> int:
    v = _num(tok, what)
    if not float(v).is_integer():
        raise _fail(tok.loc, what, f"expected an integer, got {tok.raw!r}")
    return int(v)


def _bool(tok: _Tok, what: str) -> bool:
    v = tok.raw.lower()
    if v in ("y", "yes", "t", "true", "1"):
        return True
    if v in ("n", "no", "f", "false", "0"):
        return False
    raise _fail(tok.loc, what, f"expected yes/no, got {tok.raw!r}")


def _words(tok: _Tok) -> list[str]:
    return tok.raw.replace(",", " ").split()


def _vec(tok: _Tok, what: str) -> list[float]:
    try:
        return [float(v) for v in _words(tok)]
    except ValueError:
        raise _fail(tok.loc, what, f"expected numbers, got {tok.raw!r}") from None


def _matrix(tok: _Tok, n: int, what: str) -> np.ndarray:
    """Symmetric n x n matrix: lower triangle (rows split by '|') or full."""
    try:
        rows = [[float(v) for v in r.replace(",", " ").split()] for r in tok.raw.split("|")]
    except ValueError:
        raise _fail(tok.loc, what, f"expected numbers, got {tok.raw!r}") from None
    rows = [r for r in rows if r]
    lens = [len(r) for r in rows]
    if len(rows) == 1:
        flat = rows[0]
        if len(flat) == n * (n + 1) // 2:
            rows = [flat[i * (i + 1) // 2:(i + 1) * (i + 2) // 2] for i in range(n)]
        elif len(flat) == n * n:
            rows = [flat[i * n:(i + 1) * n] for i in range(n)]
        lens = [len(r) for r in rows]
    m = np.zeros((n, n))
    if lens == list(range(1, n + 1)):
        for i, r in enumerate(rows):
            m[i, :i + 1] = r
            m[:i + 1, i] = r
    elif lens == [n] * n:
        m[:] = rows
    else:
        raise _fail(tok.loc, what, f"expected a {n}x{n} matrix (lower triangle or full), got rows of {lens} values")
    return m


def _bus(tok: _Tok, what: str, spelling: dict[str, str]) -> tuple[str, tuple[int, ...]]:
    """``'RG60.1.2'`` -> ``('rg60', (1, 2))``; the first spelling is kept for names."""
    parts = tok.raw.split(".")
    name = parts[0].strip()
    if not name:
        raise _fail(tok.loc, what, f"empty bus name in {tok.raw!r}")
    try:
        nodes = tuple(int(p) for p in parts[1:])
    except ValueError:
        raise _fail(tok.loc, what, f"bus {tok.raw!r}: node numbers must be integers") from None
    spelling.setdefault(name.lower(), name)
    return name.lower(), nodes


def _units(tok: _Tok, what: str) -> str:
    u = _UNIT_NAMES.get(tok.raw.lower())
    if u is None:
        raise _fail(tok.loc, what, f"unknown length unit {tok.raw!r}; expected one of none, {', '.join(_LENGTH_M)}")
    return u


def _conn(tok: _Tok, what: str) -> str:
    v = tok.raw.lower()
    if v in ("wye", "y", "ln"):
        return "wye"
    if v in ("delta", "d", "ll"):
        return "delta"
    raise _fail(tok.loc, what, f"unknown connection {tok.raw!r}; expected wye or delta")


# --------------------------------------------------------------------------- model
class _Elem:
    """One DSS object: its class, name, where it was defined and its properties."""

    def __init__(self, cls: str, name: str, loc: _Loc, state: dict[str, Any]) -> None:
        self.cls = cls
        self.name = name
        self.loc = loc
        self.state = state
        self.enabled = True
        self.where: dict[str, _Loc] = {}

    @property
    def label(self) -> str:
        return f"{_TITLE[self.cls]}.{self.name}"


def _defaults(cls: str) -> dict[str, Any]:
    if cls == "vsource":
        return {"bus": None, "basekv": 115.0, "pu": 1.0, "angle": 0.0, "phases": 3}
    if cls == "linecode":
        return {"nphases": 3, "units": "none", "basefreq": None, "seq": dict(_SEQ_DEFAULT), "mats": {},
                "given": frozenset()}
    if cls == "line":
        return {"bus1": None, "bus2": None, "phases": 3, "linecode": None, "length": 1.0, "units": "none",
                "switch": False, "seq": dict(_SEQ_DEFAULT), "mats": {}, "given": frozenset(), "basefreq": None,
                "closed": True}
    if cls == "transformer":
        return {"phases": 3, "windings": 2, "wdg": 0, "bus": [None, None], "conn": ["wye", "wye"],
                "kv": [12.47, 12.47], "kva": [1000.0, 1000.0], "kva_set": [False, False], "pct_r": [0.2, 0.2],
                "tap": [1.0, 1.0], "tap_set": [False, False], "xhl": 7.0, "xht": 35.0, "xlt": 30.0,
                "noload": 0.0, "imag": 0.0, "bank": None, "basefreq": None}
    if cls == "regcontrol":
        return {"transformer": None, "winding": 1, "tapwinding": None}
    if cls == "load":
        return {"bus": None, "phases": 3, "kw": 10.0, "pf": 0.88, "kvar": 0.0, "kva": 0.0, "spec": "kw_pf"}
    if cls == "capacitor":
        return {"bus": None, "bus2": None, "phases": 3, "kvar": [1200.0], "kv": 12.47, "conn": "wye",
                "numsteps": 1, "states": None}
    raise AssertionError(cls)


_IGNORED_PROPS = {
    "vsource": {"mvasc3", "mvasc1", "x1r1", "x0r0", "isc3", "isc1", "r1", "x1", "r0", "x0", "z1", "z0", "z2",
                "puz1", "puz0", "puz2", "basemva", "scantype", "sequence", "spectrum", "basefreq", "frequency",
                "yearly", "daily", "duty", "model", "puzideal"},
    "linecode": {"normamps", "emergamps", "faultrate", "pctperm", "repair", "rg", "xg", "rho", "linetype",
                 "seasons", "ratings"},
    "line": {"normamps", "emergamps", "faultrate", "pctperm", "repair", "rg", "xg", "rho", "earthmodel",
             "linetype", "seasons", "ratings", "spectrum"},
    "transformer": {"ppm_antifloat", "ppm", "normhkva", "emerghkva", "sub", "subname", "maxtap", "mintap",
                    "numtaps", "thermal", "n", "m", "flrise", "hsrise", "rneut", "xneut", "normamps",
                    "emergamps", "faultrate", "pctperm", "repair", "core", "rdcohms", "seasons", "ratings",
                    "xrconst", "spectrum"},
    "regcontrol": {"vreg", "band", "ptratio", "ctprim", "r", "x", "bus", "delay", "reversible", "revvreg",
                   "revband", "revr", "revx", "tapdelay", "debugtrace", "maxtapchange", "inversetime", "vlimit",
                   "ptphase", "revthreshold", "revdelay", "revneutral", "eventlog", "remoteptratio", "ldc_z",
                   "rev_z", "cogen", "basefreq", "reset", "enabled"},
    "load": {"kv", "model", "conn", "yearly", "daily", "duty", "growth", "status", "class", "vminpu", "vmaxpu",
             "vminnorm", "vminemerg", "vlowpu", "zipv", "cvrwatts", "cvrvars", "numcust", "spectrum", "basefreq",
             "%seriesrl", "puxharm", "xrharm", "relweight", "%mean", "%stddev", "cvrcurve"},
    "capacitor": {"normamps", "emergamps", "faultrate", "pctperm", "repair", "spectrum", "basefreq"},
}


@dataclass
class _Model:
    f_hz: float = 60.0
    circuit: str | None = None
    elements: dict[str, dict[str, _Elem]] = field(default_factory=lambda: {c: {} for c in _TITLE})
    spelling: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- parser
class _Parser:
    MAX_DEPTH = 32

    def __init__(self) -> None:
        self.model = _Model()
        self.active: _Elem | None = None
        self.depth = 0

    # ----------------------------------------------------------------- files
    def run_file(self, path: Path, loc: _Loc | None = None) -> None:
        if self.depth >= self.MAX_DEPTH:
            raise FileFormatError(f"{loc}: redirect nested more than {self.MAX_DEPTH} deep (a redirect loop?)")
        try:
            text = path.read_text(encoding="latin-1")
        except OSError as exc:
            where = f"{loc}: " if loc else ""
            raise FileFormatError(f"{where}{path}: cannot be read ({exc.strerror})") from exc
        self.model.files.append(path)
        self.depth += 1
        in_block = False
        for no, line in enumerate(text.splitlines(), start=1):
            s = line.strip()
            if in_block:
                if "*/" in s:
                    in_block = False
                continue
            if s.startswith("/*"):
                in_block = "*/" not in s[2:]
                continue
            here = _Loc(path, no)
            more = s.startswith("~")
            toks = _split(s[1:] if more else s, here)
            if not toks:
                continue
            if not more and toks[0].key is None and not toks[0].bracket and toks[0].raw.lower() == "more":
                more, toks = True, toks[1:]
            if more:
                if self.active is None:
                    raise FileFormatError(f"{here}: '~' continuation without an element being defined")
                self.apply_all(self.active, toks)
            else:
                self.command(toks, path)
        self.depth -= 1

    def resolve(self, tok: _Tok, current: Path) -> Path:
        p = Path(tok.raw)
        if not p.is_absolute():
            p = current.parent / p
        if p.exists():
            return p
        folder = p.parent
        if folder.is_dir():  # DSS scripts come from Windows: file names are not case-sensitive there
            hits = [q for q in folder.iterdir() if q.name.lower() == p.name.lower()]
            if len(hits) == 1:
                return hits[0]
        raise FileFormatError(f"{tok.loc}: redirect: file {tok.raw!r} not found (looked for {p})")

    # -------------------------------------------------------------- commands
    def command(self, toks: list[_Tok], path: Path) -> None:
        first = toks[0]
        loc = first.loc
        if first.key is not None:
            parts = first.key.split(".")
            if len(parts) < 3:
                raise FileFormatError(f"{loc}: unknown command {first.key!r}")
            elem = self.lookup(parts[0], ".".join(parts[1:-1]), loc)
            if elem is None:
                self.active = None
                return
            self.active = elem
            self.apply_all(elem, [_Tok(parts[-1], first.raw, first.bracket, loc)] + toks[1:])
            return
        verb = first.raw.lower()
        rest = toks[1:]
        if verb in ("new", "edit"):
            if not rest or (rest[0].key not in (None, "object")):
                raise FileFormatError(f"{loc}: {verb}: expected Class.name")
            cls, _, name = rest[0].raw.partition(".")
            cls, name = cls.lower(), name.lower()
            if not name:
                raise FileFormatError(f"{loc}: {verb} {rest[0].raw!r}: expected Class.name")
            if verb == "new":
                elem = self.create(cls, name, loc)
            else:
                elem = self.lookup(cls, name, loc)
            self.active = elem
            if elem is not None:
                self.apply_all(elem, rest[1:])
        elif verb == "set":
            self.active = None
            for t in rest:
                if t.key is None:
                    raise FileFormatError(f"{t.loc}: set: expected option=value, got {t.raw!r}")
                if t.key in _SET_USED:
                    self.model.f_hz = _num(t, "set defaultbasefrequency")
                elif t.key not in _SET_IGNORED:
                    raise FileFormatError(
                        f"{t.loc}: set {t.key}: option not supported by this reader (it may change the model)"
                    )
        elif verb == "clear":
            self.model = _Model(files=self.model.files)
            self.active = None
        elif verb in ("redirect", "compile"):
            if not rest:
                raise FileFormatError(f"{loc}: {verb}: file name missing")
            self.run_file(self.resolve(rest[0], path), loc)
        elif verb in ("open", "close", "enable", "disable"):
            self.switch(verb, rest, loc)
        elif verb in _SKIPPED_COMMANDS:
            return
        else:
            raise FileFormatError(f"{loc}: command {first.raw!r} not supported by this reader")

    def switch(self, verb: str, rest: list[_Tok], loc: _Loc) -> None:
        if not rest or rest[0].key not in (None, "object"):
            raise FileFormatError(f"{loc}: {verb}: expected Class.name")
        cls, _, name = rest[0].raw.partition(".")
        elem = self.lookup(cls.lower(), name.lower(), loc)
        if elem is None:
            return
        if verb in ("enable", "disable"):
            elem.enabled = verb == "enable"
            return
        if elem.cls != "line":
            raise FileFormatError(f"{loc}: {verb} {elem.label}: only lines can be opened or closed by this reader")
        for t in rest[1:]:
            if t.key not in (None, "term", "terminal"):
                raise FileFormatError(f"{t.loc}: {verb} {elem.label}: {t.key!r} not supported (only whole terminals)")
        elem.state["closed"] = verb == "close"
        elem.where["closed"] = loc

    def create(self, cls: str, name: str, loc: _Loc) -> _Elem | None:
        if cls in _SKIPPED_CLASSES:
            return None
        if cls == "circuit":
            if self.model.circuit is not None:
                raise FileFormatError(f"{loc}: New circuit.{name}: a circuit is already defined (missing 'Clear'?)")
            self.model.circuit = name
            cls, name = "vsource", "source"
        if cls not in _TITLE:
            raise FileFormatError(
                f"{loc}: New {cls}.{name}: OpenDSS class {cls!r} is not supported by this reader "
                f"(supported: circuit, {', '.join(sorted(_TITLE))})"
            )
        if cls == "vsource" and name != "source":
            raise FileFormatError(f"{loc}: New vsource.{name}: only the circuit's own source is supported")
        table = self.model.elements[cls]
        if name in table:
            raise FileFormatError(f"{loc}: New {_TITLE[cls]}.{name}: defined twice (first at {table[name].loc})")
        elem = _Elem(cls, name, loc, _defaults(cls))
        table[name] = elem
        return elem

    def lookup(self, cls: str, name: str, loc: _Loc) -> _Elem | None:
        if cls in _SKIPPED_CLASSES:
            return None
        if cls == "circuit":
            cls, name = "vsource", "source"
        if cls not in _TITLE:
            raise FileFormatError(f"{loc}: {cls}.{name}: OpenDSS class {cls!r} is not supported by this reader")
        elem = self.model.elements[cls].get(name)
        if elem is None:
            raise FileFormatError(f"{loc}: {_TITLE[cls]}.{name} is not defined")
        return elem

    # ------------------------------------------------------------ properties
    def apply_all(self, elem: _Elem, toks: list[_Tok]) -> None:
        for t in toks:
            if t.key is None:
                raise FileFormatError(
                    f"{t.loc}: {elem.label}: positional value {t.raw!r}; write property=value "
                    "(positional properties are not supported)"
                )
            what = f"{elem.label}, property {t.key!r}"
            if t.key == "like":
                other = self.model.elements[elem.cls].get(t.raw.lower())
                if other is None:
                    raise _fail(t.loc, what, f"{_TITLE[elem.cls]}.{t.raw.lower()} is not defined")
                elem.state = copy.deepcopy(other.state)
                elem.enabled = other.enabled
            elif t.key == "enabled" and elem.cls != "regcontrol":
                elem.enabled = _bool(t, what)
            elif t.key in _IGNORED_PROPS[elem.cls]:
                pass
            else:
                getattr(self, f"set_{elem.cls}")(elem, t, what)
            elem.where[t.key] = t.loc

    def unsupported(self, t: _Tok, what: str) -> FileFormatError:
        return _fail(t.loc, what, "property not supported by this reader (it would change the model)")

    def set_vsource(self, e: _Elem, t: _Tok, what: str) -> None:
        s = e.state
        if t.key == "bus1":
            s["bus"] = _bus(t, what, self.model.spelling)
        elif t.key in ("basekv", "pu", "angle"):
            s[t.key] = _num(t, what)
        elif t.key == "phases":
            s["phases"] = _int(t, what)
        elif t.key == "bus2" and _bus(t, what, {})[1] and set(_bus(t, what, {})[1]) <= {0}:
            pass
        else:
            raise self.unsupported(t, what)

    def _set_impedance(self, s: dict[str, Any], t: _Tok, what: str, n: int) -> bool:
        """Sequence or matrix impedance data of a line code or a line."""
        k = t.key
        if k in _SEQ_DEFAULT:
            s["seq"][k] = _num(t, what)
            s["mats"] = {}
        elif k in ("b1", "b0"):
            s["seq"]["c" + k[1]] = ("b", _num(t, what))  # microsiemens, converted with the frequency later
            s["mats"] = {}
        elif k in ("rmatrix", "xmatrix", "cmatrix"):
            s["mats"][k[0]] = _matrix(t, n, what)
        else:
            return False
        s["given"] = s["given"] | {"c" if k[0] in "cb" else "z"}
        return True

    def set_linecode(self, e: _Elem, t: _Tok, what: str) -> None:
        s = e.state
        if t.key == "nphases":
            n = _int(t, what)
            if s["mats"] and n != s["nphases"]:
                raise _fail(t.loc, what, "nphases changed after the matrices were given")
            s["nphases"] = n
        elif t.key == "units":
            s["units"] = _units(t, what)
        elif t.key == "basefreq":
            s["basefreq"] = _num(t, what)
        elif t.key == "kron" and not _bool(t, what):
            pass
        elif not self._set_impedance(s, t, what, s["nphases"]):
            raise self.unsupported(t, what)

    def set_line(self, e: _Elem, t: _Tok, what: str) -> None:
        s, k = e.state, t.key
        if k in ("bus1", "bus2"):
            s[k] = _bus(t, what, self.model.spelling)
        elif k == "phases":
            n = _int(t, what)
            if s["mats"] and n != s["phases"]:
                raise _fail(t.loc, what, "phases changed after the impedance matrices were given")
            s["phases"] = n
        elif k == "linecode":
            code = self.model.elements["linecode"].get(t.raw.lower())
            if code is None:
                raise _fail(t.loc, what, f"line code {t.raw!r} is not defined")
            s["linecode"] = code.name
            s["phases"] = code.state["nphases"]
            e.where["phases"] = t.loc
        elif k == "length":
            s["length"] = _num(t, what)
        elif k == "units":
            s["units"] = _units(t, what)
        elif k == "basefreq":
            s["basefreq"] = _num(t, what)
        elif k == "switch":
            s["switch"] = _bool(t, what)
            if s["switch"]:
                s.update(seq=dict(_SWITCH_SEQ), mats={}, linecode=None, length=0.001, units="none",
                         given=frozenset({"z", "c"}))
        elif k in _SEQ_DEFAULT or k in ("b1", "b0", "rmatrix", "xmatrix", "cmatrix"):
            if s["linecode"] is not None:
                raise _fail(t.loc, what, "impedance data after 'linecode' (overriding a line code) is not supported")
            self._set_impedance(s, t, what, s["phases"])
        else:
            raise self.unsupported(t, what)

    def set_transformer(self, e: _Elem, t: _Tok, what: str) -> None:
        s, k = e.state, t.key
        w = s["wdg"]
        per_winding = {"bus": "bus", "conn": "conn", "kv": "kv", "kva": "kva", "%r": "pct_r", "tap": "tap"}
        arrays = {"buses": "bus", "conns": "conn", "kvs": "kv", "kvas": "kva", "%rs": "pct_r", "taps": "tap"}
        if k == "phases":
            s["phases"] = _int(t, what)
        elif k == "windings":
            n = _int(t, what)
            if n < 2:
                raise _fail(t.loc, what, "a transformer needs at least 2 windings")
            for key, default in (("bus", None), ("conn", "wye"), ("kv", 12.47), ("kva", 1000.0), ("pct_r", 0.2),
                                 ("tap", 1.0), ("tap_set", False), ("kva_set", False)):
                s[key] = (s[key] + [default] * n)[:n]
            s["windings"] = n
        elif k == "wdg":
            n = _int(t, what)
            if not 1 <= n <= s["windings"]:
                raise _fail(t.loc, what, f"winding {n} does not exist (windings={s['windings']})")
            s["wdg"] = n - 1
        elif k in per_winding:
            key = per_winding[k]
            s[key][w] = self._winding_value(key, t, what)
            if key == "tap":
                s["tap_set"][w] = True
            elif key == "kva":
                s["kva_set"][w] = True
                if s["windings"] == 2 and not s["kva_set"][1 - w]:  # OpenDSS: the other winding follows
                    s["kva"][1 - w] = s["kva"][w]
        elif k in arrays:
            key = arrays[k]
            vals = [_Tok(None, v, "", t.loc) for v in _words(t)]
            if len(vals) > s["windings"]:
                raise _fail(t.loc, what, f"{len(vals)} values for {s['windings']} windings")
            for i, v in enumerate(vals):
                s[key][i] = self._winding_value(key, v, what)
                if key in ("tap", "kva"):
                    s[f"{key}_set"][i] = True
        elif k in ("xhl", "x12"):
            s["xhl"] = _num(t, what)
        elif k in ("xht", "x13"):
            s["xht"] = _num(t, what)
        elif k in ("xlt", "x23"):
            s["xlt"] = _num(t, what)
        elif k == "%loadloss":
            s["pct_r"][0] = s["pct_r"][1] = _num(t, what) / 2.0
        elif k == "%noloadloss":
            s["noload"] = _num(t, what)
        elif k == "%imag":
            s["imag"] = _num(t, what)
        elif k == "bank":
            s["bank"] = t.raw.lower()
        elif k == "basefreq":
            s["basefreq"] = _num(t, what)
        elif k == "leadlag" and t.raw.lower() in ("lag", "ansi"):
            pass
        else:
            raise self.unsupported(t, what)

    def _winding_value(self, key: str, t: _Tok, what: str) -> Any:
        if key == "bus":
            return _bus(t, what, self.model.spelling)
        if key == "conn":
            return _conn(t, what)
        return _num(t, what)

    def set_regcontrol(self, e: _Elem, t: _Tok, what: str) -> None:
        s = e.state
        if t.key == "transformer":
            s["transformer"] = t.raw.lower()
        elif t.key in ("winding", "tapwinding"):
            s[t.key] = _int(t, what)
        else:
            raise self.unsupported(t, what)

    def set_load(self, e: _Elem, t: _Tok, what: str) -> None:
        s, k = e.state, t.key
        if k == "bus1":
            s["bus"] = _bus(t, what, self.model.spelling)
        elif k == "phases":
            s["phases"] = _int(t, what)
        elif k == "kw":
            s["kw"] = _num(t, what)
            if s["spec"] == "kva_pf":
                s["spec"] = "kw_pf"
        elif k == "pf":
            s["pf"] = _num(t, what)
            if s["spec"] != "kva_pf":
                s["spec"] = "kw_pf"
        elif k == "kvar":
            s["kvar"] = _num(t, what)
            s["spec"] = "kw_kvar"
        elif k == "kva":
            s["kva"] = _num(t, what)
            s["spec"] = "kva_pf"
        else:
            raise self.unsupported(t, what)

    def set_capacitor(self, e: _Elem, t: _Tok, what: str) -> None:
        s, k = e.state, t.key
        if k == "bus1":
            s["bus"] = _bus(t, what, self.model.spelling)
        elif k == "bus2":
            s["bus2"] = _bus(t, what, self.model.spelling)
        elif k == "phases":
            s["phases"] = _int(t, what)
        elif k == "kvar":
            s["kvar"] = _vec(t, what)
        elif k == "kv":
            s["kv"] = _num(t, what)
        elif k == "conn":
            s["conn"] = _conn(t, what)
        elif k == "numsteps":
            s["numsteps"] = _int(t, what)
        elif k == "states":
            s["states"] = [int(v) for v in _vec(t, what)]
        else:
            raise self.unsupported(t, what)


def parse_opendss(master_path: str | Path) -> _Model:
    """Parse a DSS script (and what it redirects to) into the reader's element model."""
    parser = _Parser()
    parser.run_file(Path(master_path))
    return parser.model


# --------------------------------------------------------------------------- conversion
def _line_constants(s: dict[str, Any], n: int, f_hz: float) -> tuple[complex, float]:
    """Positive-sequence (Z1 ohm, C1 nF) per unit length of a line code's or a line's own data.

    Sequence data are reduced in closed form (Z1 itself for 3 phases), so
    that a switch's r1 = 0 stays 0; phase matrices go through
    :func:`positive_sequence`.
    """
    seq = {k: (v[1] / (2 * math.pi * f_hz) * 1e3 if isinstance(v, tuple) else v) for k, v in s["seq"].items()}
    z1, z0 = complex(seq["r1"], seq["x1"]), complex(seq["r0"], seq["x0"])
    c1, c0 = seq["c1"], seq["c0"]
    if n == 1:  # OpenDSS: a 1-phase line's zero sequence is taken equal to its positive sequence
        z0, c0 = z1, c1
    if n not in (1, 2, 3):
        raise ValueError(f"{n} conductors: only 1-, 2- and 3-phase data without neutral are supported")
    mats = s["mats"]
    eye, ones = np.eye(n), np.ones((n, n))
    if "r" in mats or "x" in mats:
        zs, zm = (2 * z1 + z0) / 3, (z0 - z1) / 3
        zseq = zm * ones + (zs - zm) * eye
        z = positive_sequence(mats.get("r", zseq.real) + 1j * mats.get("x", zseq.imag), eye)[0]
    else:
        z = z1 if n == 3 else (2 * z1 + z0) / n  # (3/m) Zs with Zs = (2 Z1 + Z0)/3
    if "c" in mats:
        c = positive_sequence(eye.astype(complex), mats["c"])[1]
    else:
        c = c1 if n == 3 else n / 3 * (2 * c1 + c0) / 3
    return z, c


def positive_sequence(z: np.ndarray, c: np.ndarray) -> tuple[complex, float]:
    """Balanced three-phase equivalent (Z1, C1) of m-phase matrices (see module docstring)."""
    m = z.shape[0]
    if m == 3:
        off = ~np.eye(3, dtype=bool)
        return complex(np.diag(z).mean() - z[off].mean()), float(np.diag(c).mean() - c[off].mean())
    if m in (1, 2):
        return complex(3.0 / m * np.diag(z).mean()), float(m / 3.0 * np.diag(c).mean())
    raise ValueError(f"{m} conductors: only 1-, 2- and 3-phase matrices without neutral are supported")


def _length_factor(line_units: str, code_units: str) -> float:
    if line_units == "none" or code_units == "none":
        return 1.0
    return _LENGTH_M[line_units] / _LENGTH_M[code_units]


def _kv_ll(kv: float, phases: int, conn: str) -> float:
    """Line-to-line equivalent of a winding voltage (a 1-phase wye winding is rated line-to-neutral)."""
    return kv * math.sqrt(3.0) if phases == 1 and conn == "wye" else kv


def _fmt(x: float) -> str:
    return f"{x:.6g}"


@dataclass
class _Group:
    """Transformers of one bank (or one transformer) between the same two buses."""

    name: str
    units: list[_Elem]
    regulator: bool = False
    tap_winding: int = 0  # 0-based winding whose bus is the trafo's from_bus


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
    """Balanced positive-sequence :class:`Network` of an OpenDSS feeder script.

    ``regulator_taps`` maps regulator transformer names (case-insensitive) to
    the ratio of their tapped winding (1 + 0.00625 k for tap position k); it
    overrides taps set in the file. ``name`` defaults to the circuit's name,
    ``source`` to the master file's path. See the module docstring for the
    conversion rules; every rule applied is also in the network's ``notes``.

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
    conv = _Converter(parse_opendss(path), path, min_switch_r_ohm, min_regulator_x_pu)
    return conv.network(name, regulator_taps or {}, sn_mva, str(path) if source is None else source)


class _Converter:
    """Turns the parsed elements into a Network; each step records its notes in order."""

    def __init__(self, model: _Model, path: Path, min_switch_r_ohm: float, min_regulator_x_pu: float) -> None:
        self.model = model
        self.el = model.elements
        self.path = path
        self.f_hz = model.f_hz
        self.min_switch_r_ohm = min_switch_r_ohm
        self.min_regulator_x_pu = min_regulator_x_pu
        self.lines = list(self.el["line"].values())
        self.notes: list[str] = []

    def network(self, name: str | None, regulator_taps: Mapping[str, float], sn_mva: float, source: str) -> Network:
        src = self.source()
        files = ", ".join(dict.fromkeys(p.name for p in self.model.files))
        self.notes.append(
            f"Balanced positive-sequence equivalent of the unbalanced OpenDSS circuit {self.model.circuit!r} read by "
            f"tdcoord.io.opendss from {files}; an approximation (phase imbalance, mutual coupling between phases and "
            "the neutral are not represented)."
        )
        self.check_lines()
        reg_of = self.regulators()
        taps = self.given_taps(regulator_taps, reg_of)
        groups = self.transformer_groups(reg_of)
        root, root_kv = self.root(src, groups)
        vn, order = self.nominal_voltages(root, root_kv, groups)
        line_cols = self.line_table(groups, root)
        trafo_rows = self.trafo_table(groups, vn, taps, reg_of)
        live = self.live_buses(root, line_cols, trafo_rows)
        dead = [b for b in order if b not in live]
        if dead:
            self.notes.append(
                f"Buses not connected to the source through closed branches, set out of service: {', '.join(dead)}."
            )

        net = Network(name=name or self.model.circuit, sn_mva=sn_mva, f_hz=self.f_hz, kind="distribution",
                      source=source)
        net.add("bus", {
            "vn_kv": [vn[b] for b in order],
            "vm_min_pu": [VM_MIN_PU] * len(order),
            "vm_max_pu": [VM_MAX_PU] * len(order),
            "in_service": [b in live for b in order],
            "name": [self.model.spelling.get(b, b) for b in order],
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
            f"({', '.join(_fmt(v) for v in kvs)} kV); bus labels are the DSS bus names in lower case; voltage "
            f"limits {VM_MIN_PU}-{VM_MAX_PU} p.u. (assumed; the file gives none)."
        )
        for text in self.notes:
            net.note(text)
        return net

    # ------------------------------------------------------------ checks
    def source(self) -> _Elem:
        src = self.el["vsource"].get("source")
        if src is None or self.model.circuit is None:
            raise FileFormatError(f"{self.path}: no 'New circuit' found; not an OpenDSS circuit script")
        if src.state["bus"] is None:
            raise FileFormatError(f"{src.loc}: circuit {self.model.circuit}: bus1 of the source is not given")
        if not src.enabled:
            raise FileFormatError(f"{src.loc}: circuit {self.model.circuit}: the source is disabled")
        return src

    def check_lines(self) -> None:
        for e in self.lines:
            s = e.state
            for end in ("bus1", "bus2"):
                if s[end] is None:
                    raise FileFormatError(f"{e.loc}: {e.label}: {end} is not given")
            if s["bus1"][0] == s["bus2"][0]:
                raise FileFormatError(f"{e.loc}: {e.label}: bus1 and bus2 are the same bus {s['bus1'][0]!r}")
            self.check_freq(e)
            if s["linecode"] is not None:
                code = self.el["linecode"][s["linecode"]]
                if s["phases"] != code.state["nphases"]:
                    raise FileFormatError(
                        f"{e.where.get('phases', e.loc)}: {e.label}: phases={s['phases']} but line code "
                        f"{code.name!r} has nphases={code.state['nphases']}"
                    )
                self.check_freq(code)

    def check_freq(self, e: _Elem) -> None:
        f = e.state.get("basefreq")
        if f is not None and f != self.f_hz:
            raise FileFormatError(
                f"{e.where['basefreq']}: {e.label}: basefreq {_fmt(f)} Hz differs from the circuit's {_fmt(self.f_hz)} Hz"
            )

    # ------------------------------------------------------- transformers
    def regulators(self) -> dict[str, _Elem]:
        """RegControl of each regulated transformer."""
        reg_of: dict[str, _Elem] = {}
        for rc in self.el["regcontrol"].values():
            tname = rc.state["transformer"]
            if tname is None:
                raise FileFormatError(f"{rc.loc}: {rc.label}: transformer is not given")
            if tname not in self.el["transformer"]:
                raise FileFormatError(f"{rc.where['transformer']}: {rc.label}: Transformer.{tname} is not defined")
            reg_of.setdefault(tname, rc)
        return reg_of

    def given_taps(self, regulator_taps: Mapping[str, float], reg_of: dict[str, _Elem]) -> dict[str, float]:
        taps = {str(k).lower(): float(v) for k, v in regulator_taps.items()}
        unknown = [k for k in taps if k not in reg_of]
        if unknown:
            raise InputError(
                f"regulator_taps: {unknown[0]!r} is not a regulator (a transformer named by a RegControl) in "
                f"{self.path.name}; regulators: {', '.join(reg_of) or 'none'}"
            )
        bad = [k for k, v in taps.items() if not v > 0]
        if bad:
            raise InputError(f"regulator_taps: ratio of {bad[0]!r} must be > 0, got {taps[bad[0]]!r}")
        return taps

    def transformer_groups(self, reg_of: dict[str, _Elem]) -> dict[str, _Group]:
        groups: dict[str, _Group] = {}
        for t in self.el["transformer"].values():
            s = t.state
            if s["windings"] != 2:
                raise FileFormatError(
                    f"{t.loc}: {t.label}: {s['windings']} windings; only two-winding transformers are supported"
                )
            for w in range(2):
                if s["bus"][w] is None:
                    raise FileFormatError(f"{t.loc}: {t.label}: the bus of winding {w + 1} is not given")
            if abs(s["kva"][0] - s["kva"][1]) > 1e-9 * s["kva"][0]:
                raise FileFormatError(f"{t.loc}: {t.label}: windings of different kVA ({s['kva']}) are not supported")
            if s["phases"] not in (1, 2, 3):
                raise FileFormatError(f"{t.loc}: {t.label}: {s['phases']} phases are not supported")
            self.check_freq(t)
            key = s["bank"] or t.name
            g = groups.setdefault(key, _Group(key, []))
            pair = (s["bus"][0][0], s["bus"][1][0])
            if g.units:
                first = g.units[0]
                fpair = (first.state["bus"][0][0], first.state["bus"][1][0])
                if fpair != pair:
                    raise FileFormatError(
                        f"{t.loc}: {t.label}: bank {key!r} joins buses {pair}, but {first.label} joins {fpair}"
                    )
                if (t.name in reg_of) != g.regulator:
                    raise FileFormatError(f"{t.loc}: {t.label}: bank {key!r} mixes regulated and plain units")
            g.units.append(t)
            if t.name in reg_of:
                rc = reg_of[t.name]
                w = (rc.state["tapwinding"] or rc.state["winding"]) - 1
                if w not in (0, 1):
                    raise FileFormatError(f"{rc.loc}: {rc.label}: winding {w + 1} of a two-winding transformer")
                if len(g.units) > 1 and g.tap_winding != w:
                    raise FileFormatError(f"{rc.loc}: {rc.label}: bank {key!r} regulates different windings")
                g.regulator, g.tap_winding = True, w
        return groups

    def root(self, src: _Elem, groups: dict[str, _Group]) -> tuple[str, float]:
        """Feeder root and its nominal kV; drops a substation transformer fed by the source alone."""
        sbus, s = src.state["bus"][0], src.state
        touching = [g for g in groups.values() if any(b[0] == sbus for b in g.units[0].state["bus"])]
        others = [e for e in self.lines if sbus in (e.state["bus1"][0], e.state["bus2"][0])] + [
            e for c in ("load", "capacitor") for e in self.el[c].values() if e.state["bus"] and e.state["bus"][0] == sbus
        ]
        if len(touching) == 1 and not others and not touching[0].regulator and len(touching[0].units) == 1:
            sub = touching[0]
            u = sub.units[0].state
            w = 0 if u["bus"][0][0] != sbus else 1
            root = u["bus"][w][0]
            del groups[sub.name]
            self.notes.append(
                f"Source and substation transformer dropped: the circuit's Vsource at bus {sbus!r} "
                f"({_fmt(s['basekv'])} kV, pu={_fmt(s['pu'])}) and {sub.units[0].label} ({_fmt(u['kva'][0])} kVA, "
                f"{_fmt(u['kv'][0])}/{_fmt(u['kv'][1])} kV) are not converted; the feeder starts at bus {root!r}, "
                "where an ext_grid holds 1.0 p.u. (in tdcoord a feeder is coupled to transmission through its own "
                "boundary transformer)."
            )
            return root, _kv_ll(u["kv"][w], u["phases"], u["conn"][w])
        self.notes.append(
            f"The circuit's Vsource at bus {sbus!r} ({_fmt(s['basekv'])} kV, pu={_fmt(s['pu'])}) becomes an ext_grid "
            "at 1.0 p.u.; its short-circuit impedance is not converted (in tdcoord a feeder is coupled to "
            "transmission through its own boundary transformer)."
        )
        return sbus, s["basekv"]

    # ----------------------------------------------------------- topology
    def nominal_voltages(self, root: str, root_kv: float, groups: dict[str, _Group]) -> tuple[dict[str, float], list[str]]:
        """Nominal kV of every bus, breadth-first from the root through lines and transformer ratios."""
        adj: dict[str, list[tuple[str, float, str]]] = {}
        for e in self.lines:
            a, b = e.state["bus1"][0], e.state["bus2"][0]
            adj.setdefault(a, []).append((b, 1.0, e.label))
            adj.setdefault(b, []).append((a, 1.0, e.label))
        for g in groups.values():
            u = g.units[0].state
            kv = [_kv_ll(u["kv"][w], u["phases"], u["conn"][w]) for w in range(2)]
            a, b = u["bus"][0][0], u["bus"][1][0]
            adj.setdefault(a, []).append((b, kv[1] / kv[0], g.units[0].label))
            adj.setdefault(b, []).append((a, kv[0] / kv[1], g.units[0].label))
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
                    raise FileFormatError(
                        f"{self.path}: {label}: nominal voltages around a loop disagree at bus {b!r} ({vn[b]:g} vs {v:g} kV)"
                    )
        for e in self.lines + list(self.el["load"].values()) + list(self.el["capacitor"].values()):
            ends = ("bus1", "bus2") if e.cls == "line" else ("bus",)
            for end in ends:
                bus = e.state[end]
                if bus is None:
                    raise FileFormatError(f"{e.loc}: {e.label}: bus1 is not given")
                if bus[0] not in vn:
                    raise FileFormatError(
                        f"{e.loc}: {e.label}: bus {bus[0]!r} is undefined or not connected to the circuit's source "
                        f"(no path of lines and transformers from {root!r})"
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
        f_hz = self.f_hz
        per_code: dict[str, tuple[complex, float]] = {}
        z_unit = np.zeros(len(self.lines), dtype=complex)  # ohm per length unit of the impedance data
        c_unit = np.zeros(len(self.lines))  # nF per length unit
        length = np.zeros(len(self.lines))  # in the impedance data's length unit
        for k, e in enumerate(self.lines):
            s = e.state
            if s["linecode"] is not None:
                code = self.el["linecode"][s["linecode"]]
                if code.name not in per_code:
                    try:
                        per_code[code.name] = _line_constants(code.state, code.state["nphases"], f_hz)
                    except ValueError as exc:
                        raise FileFormatError(f"{code.loc}: {code.label}: {exc}") from None
                z_unit[k], c_unit[k] = per_code[code.name]
                length[k] = s["length"] * _length_factor(s["units"], code.state["units"])
            else:
                try:
                    z_unit[k], c_unit[k] = _line_constants(s, s["phases"], f_hz)
                except ValueError as exc:
                    raise FileFormatError(f"{e.loc}: {e.label}: {exc}") from None
                length[k] = s["length"]  # r1/x1/matrices of a line are per unit of its own length
        z = z_unit * length
        b_us = 2 * math.pi * f_hz * c_unit * length * 1e-3  # nF -> uS
        for k in np.flatnonzero(z == 0):
            e = self.lines[int(k)]
            raise FileFormatError(f"{e.loc}: {e.label}: zero impedance (r = x = 0); tdcoord needs a non-zero impedance")
        for k in np.flatnonzero(z.real < 0):
            e = self.lines[int(k)]
            raise FileFormatError(f"{e.loc}: {e.label}: negative positive-sequence resistance {z.real[k]:.6g} ohm")
        is_switch = np.array([e.state["switch"] for e in self.lines], dtype=bool)
        tiny = np.flatnonzero(is_switch & (np.abs(z) < self.min_switch_r_ohm))
        floored = [f"{self.lines[k].name} ({abs(z[k]):.3g} ohm)" for k in tiny]
        z[tiny] = np.maximum(z[tiny].real, self.min_switch_r_ohm) + 1j * z[tiny].imag

        # a switch to a bus that nothing else touches is a normally-open point
        uses: dict[str, int] = {root: 1}
        ends = [b[0] for e in self.lines for b in (e.state["bus1"], e.state["bus2"])]
        ends += [u for g in groups.values() for u in (g.units[0].state["bus"][0][0], g.units[0].state["bus"][1][0])]
        ends += [e.state["bus"][0] for c in ("load", "capacitor") for e in self.el[c].values()]
        for b in ends:
            uses[b] = uses.get(b, 0) + 1
        closed, dead_points = [], []
        for e in self.lines:
            b1, b2 = e.state["bus1"][0], e.state["bus2"][0]
            ok = e.state["closed"] and e.enabled
            if ok and e.state["switch"] and (uses[b1] == 1 or uses[b2] == 1):
                ok = False
                dead_points.append(f"{e.name} (to {b2 if uses[b2] == 1 else b1!r})")
            closed.append(ok)

        used_codes = dict.fromkeys(self.el["linecode"][e.state["linecode"]] for e in self.lines if e.state["linecode"])
        inline = [e for e in self.lines if not e.state["linecode"]]
        no_c = [x.name for x in list(used_codes) + inline if "c" not in x.state["given"]]
        no_z = [x.name for x in list(used_codes) + inline if "z" not in x.state["given"]]
        switches = [e.name for e in self.lines if e.state["switch"]]
        opened = [e.name for e, ok in zip(self.lines, closed) if not ok]
        self.notes += [
            "Line impedance: positive-sequence impedance of the line code's phase impedance matrix Z (ohm per length "
            "unit): 3-phase Z1 = mean(diag Z) - mean(offdiag Z); m-phase lines with m < 3 get Z = (3/m) mean(diag Z) "
            "so that a balanced three-phase equivalent carrying the same total power has the same voltage drop and "
            "losses (mutual coupling ignored). Sequence data (r1, x1, r0, x0) are first turned into a phase matrix "
            "Zs = (2 Z1 + Z0)/3, Zm = (Z0 - Z1)/3 as OpenDSS does (Z0 = Z1 for 1-phase lines). Approximation.",
            "Line charging: C1 = mean(diag C) - mean(offdiag C) for 3-phase lines, (m/3) mean(diag C) for m < 3 "
            f"(charging of the conductors that exist); b_us = 2 pi f C1 for the whole length, f = {_fmt(f_hz)} Hz. "
            "Approximation.",
            "Lengths are converted to the line code's length unit (mi, kft, km, m, ft, in, cm, mm; 'none' on either "
            "side means the same unit, as in OpenDSS); r_ohm, x_ohm and b_us are for the whole line.",
        ]
        if no_z:
            self.notes.append(
                f"No impedance data, OpenDSS's defaults used (r1 = 0.058, x1 = 0.1206, r0 = 0.1784, x0 = 0.4047 ohm "
                f"per length unit): {', '.join(no_z)}."
            )
        if no_c:
            self.notes.append(
                "No capacitance data (no cmatrix, c1, b1), OpenDSS's defaults used (c1 = 3.4 nF, c0 = 1.6 nF per "
                f"length unit, so C1 = 3.4 nF): {', '.join(no_c)}."
            )
        if switches:
            self.notes.append(
                f"Switch lines ({', '.join(switches)}) are short lines with the impedance the file gives (OpenDSS's "
                "switch defaults where it gives none: r1 = x1 = 1 ohm per unit length, length 0.001); a switch with "
                "x = 0 keeps its small r (subject to the numerical floor below)."
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
            "from_bus": [e.state["bus1"][0] for e in self.lines],
            "to_bus": [e.state["bus2"][0] for e in self.lines],
            "r_ohm": z.real,
            "x_ohm": z.imag,
            "b_us": b_us,
            "in_service": closed,
            "name": [e.name for e in self.lines],
        }

    # -------------------------------------------------------- transformers
    def trafo_table(self, groups: dict[str, _Group], vn: dict[str, float], taps: dict[str, float],
                    reg_of: dict[str, _Elem]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        described: list[str] = []
        floored: list[str] = []
        for g in groups.values():
            fw, ow = g.tap_winding, 1 - g.tap_winding
            first = g.units[0].state
            fbus, obus = first["bus"][fw][0], first["bus"][ow][0]
            ratio = {1: 1.0, 2: 1.0, 3: 1.0}  # per phase; phases without a unit stay at 1.0
            sn, r, x, gm, bm, shift, units = [], [], [], [], [], set(), []
            for u in g.units:
                s = u.state
                kvf = _kv_ll(s["kv"][fw], s["phases"], s["conn"][fw])
                kvo = _kv_ll(s["kv"][ow], s["phases"], s["conn"][ow])
                tap, origin = s["tap"][fw], ("set in the file" if s["tap_set"][fw] else "default")
                if u.name in taps:
                    tap, origin = taps[u.name], "given"
                nodes = s["bus"][fw][1] or tuple(range(1, s["phases"] + 1))
                phases = [p for p in nodes if p in ratio][: s["phases"]]
                if len(phases) != s["phases"]:
                    raise FileFormatError(f"{u.loc}: {u.label}: cannot tell its phases from bus {s['bus'][fw]}")
                for p in phases:
                    ratio[p] = (tap * kvf / vn[fbus]) / (s["tap"][ow] * kvo / vn[obus])
                sn.append(3.0 * s["kva"][0] / s["phases"] / 1000.0)
                r.append((s["pct_r"][0] + s["pct_r"][1]) / 100.0)
                x.append(s["xhl"] / 100.0)
                gm.append(s["noload"] / 100.0)
                bm.append(-s["imag"] / 100.0)
                differ = s["phases"] > 1 and s["conn"][0] != s["conn"][1]
                shift.add((30.0 if kvf >= kvo else -30.0) if differ else 0.0)  # ANSI: HV side leads by 30 deg
                units.append(f"{u.name} phase {''.join('abc'[p - 1] for p in phases)} tap {_fmt(tap)} ({origin})"
                             if g.regulator else u.name)
            if len(shift) > 1:
                raise FileFormatError(f"{g.units[0].loc}: bank {g.name!r}: units with different phase shifts")
            enabled = {u.enabled for u in g.units}
            if len(enabled) > 1:
                raise FileFormatError(f"{g.units[0].loc}: bank {g.name!r}: some units are disabled, others not")
            x_pu = float(np.mean(x))
            if g.regulator and x_pu < self.min_regulator_x_pu:
                floored.append(f"{g.name} ({_fmt(x_pu)} p.u.)")
                x_pu = self.min_regulator_x_pu
            row = {
                "from_bus": fbus, "to_bus": obus, "sn_mva": float(np.mean(sn)), "r_pu": float(np.mean(r)),
                "x_pu": x_pu, "g_pu": float(np.mean(gm)), "b_pu": float(np.mean(bm)),
                "tap_pu": float(np.mean([ratio[1], ratio[2], ratio[3]])), "shift_deg": shift.pop(),
                "in_service": enabled.pop(), "name": g.name,
            }
            rows.append(row)
            described.append(
                f"{'Regulator' if g.regulator else 'Transformer'} {g.name!r} ({fbus!r} -> {obus!r}; {', '.join(units)}): "
                f"sn_mva={_fmt(row['sn_mva'])}, r_pu={_fmt(row['r_pu'])}, x_pu={_fmt(x_pu)}, "
                f"tap_pu={row['tap_pu']:.6f}" + (f", shift {row['shift_deg']:+g} deg." if row["shift_deg"] else ".")
            )
        if not rows:
            return rows
        self.notes.append(
            "Transformers are two-winding trafo rows: r_pu = sum of the windings' %r / 100, x_pu = XHL / 100, on "
            "sn_mva = three times the per-phase kVA. Units of one bank become one three-phase row with the mean of "
            "the per-unit r and x; its tap is the mean of the three phases' ratios, phases without a unit counting "
            "as 1.0. For a regulator the from side is the regulated (tapped) winding's bus, so tap_pu is the "
            "output/input voltage ratio (1 + 0.00625 k at tap position k); otherwise from_bus is winding 1. "
            "Regulator taps: given by the caller if so, else set in the file (Taps=/tap=), else 1.0; regulators "
            "are fixed-ratio (RegControl settings vreg, band, R, X are not used)."
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

    # -------------------------------------------------------------- loads
    def load_table(self) -> dict[str, list[Any]]:
        """Constant-power loads: total kW/kvar of all phases, summed per bus (and per in/out of service)."""
        per_bus: dict[tuple[str, bool], list[Any]] = {}
        for e in self.el["load"].values():
            s = e.state
            if s["spec"] == "kw_kvar":
                p, q = s["kw"], s["kvar"]
            elif s["spec"] == "kw_pf":
                p, q = s["kw"], _q_of_pf(s["kw"], s["pf"], e)
            else:
                p = s["kva"] * abs(s["pf"])
                q = _q_of_pf(p, s["pf"], e)
            acc = per_bus.setdefault((s["bus"][0], e.enabled), [0.0, 0.0, []])
            acc[0] += p
            acc[1] += q
            acc[2].append(e.name)
        if per_bus:
            self.notes.append(
                "Loads: every load is a constant-power load of its total (all phases) kW/kvar, summed per bus, "
                "whatever its OpenDSS model (constant Z, I or PQ) and connection (wye or delta)."
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
        for e in self.el["capacitor"].values():
            s = e.state
            if s["bus2"] is not None and not (s["bus2"][1] and set(s["bus2"][1]) <= {0}):
                raise FileFormatError(
                    f"{e.where['bus2']}: {e.label}: bus2 {s['bus2'][0]!r}: series or ungrounded capacitors "
                    "are not supported"
                )
            n = s["numsteps"]
            kvar = s["kvar"] if len(s["kvar"]) == n else ([s["kvar"][0] / n] * n if len(s["kvar"]) == 1 else None)
            if kvar is None:
                raise FileFormatError(f"{e.where['kvar']}: {e.label}: {len(s['kvar'])} kvar values for numsteps={n}")
            states = s["states"] if s["states"] is not None else [1] * n
            if len(states) != n:
                raise FileFormatError(f"{e.where['states']}: {e.label}: {len(states)} states for numsteps={n}")
            bus = s["bus"][0]
            v_unit = vn[bus] if (s["phases"] > 1 or s["conn"] == "delta") else vn[bus] / math.sqrt(3.0)
            scale = 1.0
            if abs(v_unit / s["kv"] - 1.0) > RATED_KV_TOLERANCE:
                scale = (v_unit / s["kv"]) ** 2
                scaled.append(
                    f"{e.name} (rated {_fmt(s['kv'])} kV, {_fmt(v_unit)} kV at nominal bus voltage: x{scale:.4f})"
                )
            uniform = len(set(kvar)) == 1
            rows.append({
                "bus": bus,
                "bs_mvar": (kvar[0] if uniform else sum(k for k, on in zip(kvar, states) if on)) / 1000.0 * scale,
                "step": sum(1 for on in states if on) if uniform else 1,
                "max_step": n if uniform else 1,
                "in_service": e.enabled,
                "name": e.name,
            })
        if rows:
            self.notes.append(
                "Capacitors are fixed shunts: bs_mvar = rated kvar / 1000 at nominal bus voltage (per step for "
                "equal steps); a rated kV within "
                f"{RATED_KV_TOLERANCE:.0%} of the voltage across the unit at nominal bus voltage (line-to-line; "
                "line-to-neutral for 1-phase wye units) counts as equal (rounding, e.g. 2.4 kV vs 4.16/sqrt(3))."
            )
        if scaled:
            self.notes.append(f"Capacitor ratings scaled by (V_bus/V_rated)^2: {', '.join(scaled)}.")
        return rows


def _q_of_pf(p: float, pf: float, e: _Elem) -> float:
    if not 0 < abs(pf) <= 1:
        raise FileFormatError(f"{e.where.get('pf', e.loc)}: {e.label}: power factor {pf} outside (0, 1]")
    return math.copysign(abs(p) * math.sqrt(1.0 / pf**2 - 1.0), pf)


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
    "read_opendss", "parse_opendss", "positive_sequence", "ieee_test_feeder", "IEEE_TEST_FEEDERS",
    "IEEE13_PUBLISHED_TAPS", "IEEE123_PUBLISHED_TAP_POSITIONS", "TAP_STEP_PU",
]
