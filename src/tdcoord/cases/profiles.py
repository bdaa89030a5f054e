"""Typical-day profiles of load, wind and PV, and one hour of a coupled system.

Hour ``h`` is the interval ``[h:00, h+1:00)`` of local time (hour 0 is
00:00-01:00), and each value is that hour's average. The built-in day
(:data:`DEFAULT`) is a spring/autumn weekday:

- ``load``, per unit of the case's own load (every load, P and Q alike, so
  power factors are kept): the IEEE Reliability Test System's hourly load
  for a spring/autumn weekday (IEEE RTS Task Force, "IEEE Reliability Test
  System", IEEE Trans. PAS-98(6), 1979, Table 4, weeks 9-17 and 31-43), in
  per unit of the daily peak. Two peaks: 1.00 at 10:00-11:00 and 0.98 at
  19:00-20:00; the night minimum is 0.58-0.59 at 03:00-05:00. The case's
  loads are taken as the day's peak.
- ``wind``, per unit of installed power: the diurnal cycle of an onshore
  continental site, where the stable night-time boundary layer (and its
  low-level jet) keeps hub-height winds strong at night and daytime
  convective mixing slows them in the afternoon: the hourly average of
  ``0.525 + 0.225 cos(2 pi (t - 3.5) / 24)``, 0.75 at 03:00-04:00 and
  0.30 at 15:00-16:00 (a windy day; capacity factor 0.525).
- ``pv``, per unit of installed power: a clear day near the equinox,
  sunrise 06:30, sunset 18:30, solar noon 12:30 (daylight-saving time):
  the hourly average of ``0.9 sin(pi (t - 6.5) / 12) ** 1.5`` over the
  day and 0 at night; the exponent stands for the longer air mass near the
  horizon and 0.9 for the inverter's, temperature and soiling losses. Peak
  0.90 at 12:00-13:00; the evening load peak comes after sunset.

The arrays below are those formulas evaluated (and rounded to 0.01), so
no data file is needed.

:func:`attach_profiles` turns the day into time series on every network
of a coupled system (:mod:`tdcoord.network.timeseries`, 24 periods):
``load.p_mw`` and ``load.q_mvar`` every load (transmission and feeders)
times ``load[h]``; ``sgen.p_mw`` every wind and PV unit with an installed
power (``kind`` wind/pv, ``p_max_mw`` given) at ``wind[h]`` / ``pv[h]``
times ``p_max_mw``; dispatchable DG (``kind`` dg) and everything else as in
the case. A period of the system is then ``cs.at_period(h)``;
:func:`apply_hour` is that for one hour.

User profiles come from a CSV file with a header and the columns ``hour``,
``load``, ``wind``, ``pv`` (any order, more columns ignored), one row per
hour 0-23 (:func:`read_profiles`)::

    hour,load,wind,pv
    0,0.63,0.68,0
    1,0.62,0.72,0
    ...
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tdcoord.errors import InputError
from tdcoord.network.coupled import CoupledSystem

HOURS = 24
COLUMNS = ("hour", "load", "wind", "pv")
RENEWABLE_KINDS = ("wind", "pv")
LOAD_MAX = 3.0  # a load profile value above this is taken for a unit error

#: IEEE RTS (1979), Table 4: spring/autumn weekday, per unit of the daily peak.
LOAD = (0.63, 0.62, 0.60, 0.58, 0.59, 0.65, 0.72, 0.85, 0.95, 0.99, 1.00, 0.99,
        0.93, 0.92, 0.90, 0.88, 0.90, 0.92, 0.96, 0.98, 0.96, 0.90, 0.80, 0.70)
#: Diurnal onshore wind, per unit of installed power.
WIND = (0.68, 0.72, 0.74, 0.75, 0.74, 0.72, 0.68, 0.64, 0.58, 0.53, 0.47, 0.41,
        0.37, 0.33, 0.31, 0.30, 0.31, 0.33, 0.37, 0.41, 0.47, 0.52, 0.58, 0.64)
#: Clear equinox day, per unit of installed power.
PV = (0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.01, 0.12, 0.32, 0.53, 0.72, 0.85,
      0.90, 0.85, 0.72, 0.53, 0.32, 0.12, 0.01, 0.00, 0.00, 0.00, 0.00, 0.00)


@dataclass(frozen=True)
class Profiles:
    """Hourly factors of a typical day (24 values each, hour 0 = 00:00-01:00)."""

    load: tuple[float, ...]
    wind: tuple[float, ...]
    pv: tuple[float, ...]
    source: str = "built-in"
    description: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("load", "wind", "pv"):
            vals = tuple(float(v) for v in getattr(self, name))
            if len(vals) != HOURS:
                raise InputError(f"profile {name!r} of {self.source}: {len(vals)} values; "
                                 f"expected {HOURS} (hours 0-23)")
            hi = LOAD_MAX if name == "load" else 1.0
            for h, v in enumerate(vals):
                if not np.isfinite(v) or v < 0.0 or v > hi:
                    raise InputError(f"profile {name!r} of {self.source}, hour {h}: {v!r}; expected a per-unit "
                                     f"value in [0, {hi:g}]")
            object.__setattr__(self, name, vals)

    def at(self, hour: int) -> dict[str, float]:
        h = check_hour(hour)
        return {"load": self.load[h], "wind": self.wind[h], "pv": self.pv[h]}

    def table(self) -> list[dict[str, float]]:
        return [{"hour": h, **self.at(h)} for h in range(HOURS)]

    def as_dict(self) -> dict:
        return {"source": self.source, "load": list(self.load), "wind": list(self.wind), "pv": list(self.pv)}

    def digest(self) -> str:
        """Short fingerprint of the values (a resumed run must use the same profiles)."""
        text = ",".join(repr(v) for v in self.load + self.wind + self.pv)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for row in self.table():
                w.writerow([row["hour"], row["load"], row["wind"], row["pv"]])
        return path


DEFAULT = Profiles(LOAD, WIND, PV, source="built-in (IEEE RTS spring/autumn weekday load, diurnal wind, clear-day PV)",
                   description=__doc__ or "")


def check_hour(hour: int) -> int:
    try:
        h = int(hour)
    except (TypeError, ValueError) as exc:
        raise InputError(f"hour {hour!r}: expected an integer 0-23") from exc
    if h != hour or not 0 <= h < HOURS:
        raise InputError(f"hour {hour!r}: expected an integer 0-23")
    return h


def read_profiles(path: str | Path) -> Profiles:
    """Profiles from a CSV file with columns hour, load, wind, pv (one row per hour 0-23)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"profiles file {str(path)!r} cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"profiles file {str(path)!r} is not a text (UTF-8) CSV file") from exc
    rows = list(csv.reader(text.splitlines()))
    where = str(path)
    lines = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not lines:
        raise InputError(f"profiles file {where!r} is empty; expected a header 'hour,load,wind,pv' and 24 rows")
    head_line, head = lines[0]
    names = [c.strip().lower() for c in head]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise InputError(f"profiles file {where!r}, line {head_line}: missing column(s) {', '.join(missing)}; "
                         f"expected a header with {', '.join(COLUMNS)} (found: {', '.join(c.strip() for c in head)})")
    dup = sorted({c for c in names if names.count(c) > 1 and c in COLUMNS})
    if dup:
        raise InputError(f"profiles file {where!r}, line {head_line}: column(s) {', '.join(dup)} appear twice")
    col = {c: names.index(c) for c in COLUMNS}
    limits = {"load": LOAD_MAX, "wind": 1.0, "pv": 1.0}
    values: dict[str, dict[int, float]] = {c: {} for c in ("load", "wind", "pv")}
    seen: dict[int, int] = {}
    for line, r in lines[1:]:
        if len(r) < len(head):
            raise InputError(f"profiles file {where!r}, line {line}: {len(r)} fields; expected {len(head)} "
                             f"(columns {', '.join(c.strip() for c in head)})")
        raw = r[col["hour"]].strip()
        try:
            hf = float(raw)
        except ValueError:
            hf = float("nan")
        if not (np.isfinite(hf) and hf == int(hf) and 0 <= hf < HOURS):
            raise InputError(f"profiles file {where!r}, line {line}, column 'hour': {raw!r}; expected an integer 0-23")
        h = int(hf)
        if h in seen:
            raise InputError(f"profiles file {where!r}, line {line}, column 'hour': hour {h} already given on "
                             f"line {seen[h]}; expected each hour 0-23 once")
        seen[h] = line
        for c, hi in limits.items():
            txt = r[col[c]].strip()
            what = ("per unit of the case's load" if c == "load" else "per unit of installed power")
            try:
                v = float(txt)
            except ValueError:
                raise InputError(f"profiles file {where!r}, line {line} (hour {h}), column {c!r}: {txt!r} is not a "
                                 f"number; expected a value in [0, {hi:g}] ({what})") from None
            if not np.isfinite(v) or v < 0.0 or v > hi:
                raise InputError(f"profiles file {where!r}, line {line} (hour {h}), column {c!r}: {v:g}; expected a "
                                 f"value in [0, {hi:g}] ({what})")
            values[c][h] = v
    absent = [h for h in range(HOURS) if h not in seen]
    if absent:
        raise InputError(f"profiles file {where!r}: no row for hour(s) {', '.join(map(str, absent))}; expected one row "
                         f"for each hour 0-23")
    return Profiles(tuple(values["load"][h] for h in range(HOURS)), tuple(values["wind"][h] for h in range(HOURS)),
                    tuple(values["pv"][h] for h in range(HOURS)), source=f"file {path.name}")


def get_profiles(spec: Profiles | str | Path | None) -> Profiles:
    """``None``/``"default"``: the built-in day; a path: :func:`read_profiles`; a Profiles: itself."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "default", "built-in")):
        return DEFAULT
    if isinstance(spec, Profiles):
        return spec
    return read_profiles(spec)


def attach_profiles(cs: CoupledSystem, profiles: Profiles = DEFAULT) -> CoupledSystem:
    """A copy of ``cs`` with the profiles' day attached as time series to every network (module docstring)."""
    out = cs.copy()
    load = np.asarray(profiles.load, float)
    for net in [out.transmission] + list(out.feeders.values()):
        if len(net.load):
            net.set_timeseries("load", "p_mw", np.outer(load, net.load.p_mw.to_numpy(float)))
            net.set_timeseries("load", "q_mvar", np.outer(load, net.load.q_mvar.to_numpy(float)))
        s = net.sgen
        sel = s.kind.isin(RENEWABLE_KINDS) & s.p_max_mw.notna()
        if sel.any():
            cols = {}
            for idx, row in s[sel].iterrows():
                cols[idx] = np.asarray(getattr(profiles, row.kind), float) * row.p_max_mw
            net.set_timeseries("sgen", "p_mw", pd.DataFrame(cols))
    out.notes.append(f"time series: {HOURS} hours of {profiles.source}")
    return out


def apply_hour(cs: CoupledSystem, hour: int, profiles: Profiles = DEFAULT) -> CoupledSystem:
    """A copy of ``cs`` at ``hour`` of the profiles' day (see the module docstring)."""
    h = check_hour(hour)
    return hour_of(attach_profiles(cs, profiles), h, profiles)


def hour_of(series: CoupledSystem, hour: int, profiles: Profiles = DEFAULT) -> CoupledSystem:
    """Period ``hour`` of a system carrying the profiles' time series, with a note saying what it is."""
    h = check_hour(hour)
    f = profiles.at(h)
    out = series.at_period(h)
    out.notes.append(f"hour {h:02d}:00 of {profiles.source}: loads x{f['load']:g}, wind at {f['wind']:.0%}, "
                     f"PV at {f['pv']:.0%} of installed power")
    return out


__all__ = ["COLUMNS", "DEFAULT", "HOURS", "LOAD", "PV", "Profiles", "WIND", "apply_hour", "attach_profiles", "check_hour",
           "get_profiles", "hour_of",
           "read_profiles"]
