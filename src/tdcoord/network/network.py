"""The :class:`Network`: element tables of one grid, in engineering units."""

from __future__ import annotations

import copy as _copy
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from tdcoord.errors import SchemaError
from tdcoord.network.schema import TABLES, Column, dtype_of


_TEMPLATES: dict[str, pd.DataFrame] = {}


def _empty_table(name: str) -> pd.DataFrame:
    if name not in _TEMPLATES:
        cols = TABLES[name]
        df = pd.DataFrame({c.name: pd.Series(dtype=dtype_of(c)) for c in cols})
        if name == "bus":
            df.index = pd.Index([], dtype=object, name="bus")
        else:
            df.index = pd.RangeIndex(0, name=name)
        _TEMPLATES[name] = df
    return _TEMPLATES[name].copy()


def shown(value: Any) -> str:
    """A value as a message shows it: numpy scalars as plain numbers (``0.0``, not ``np.float64(0.0)``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def element_id(table: str, index: Any) -> str:
    """How an element is named in messages: ``line 5``, ``bus '18'``."""
    if isinstance(index, np.generic):
        index = index.item()
    return f"{table} {index!r}" if isinstance(index, str) else f"{table} {index}"


def _coerce(table: str, col: Column, values: pd.Series) -> pd.Series:
    """Cast a column to its schema type, naming the first bad row on failure."""
    if col.kind in ("bus", "str") and values.dtype == object and all(type(v) is str for v in values):
        return values
    if col.kind == "bus":
        return values.map(_label)
    if col.kind == "str":
        return values.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    if col.kind == "bool" and values.dtype == bool:
        return values
    if col.kind == "float" and values.dtype == np.float64:
        return values
    if col.kind == "int" and values.dtype == np.int64:
        return values
    if col.kind == "bool":
        bad = values[~values.map(lambda v: isinstance(v, (bool, np.bool_)) or v in (0, 1))]
        if len(bad):
            raise SchemaError(
                f"{element_id(table, bad.index[0])}: field '{col.name}' must be true/false, got {shown(bad.iloc[0])}"
            )
        return values.astype(bool)
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values[numeric.isna() & ~values.isna()]
    if len(bad):
        raise SchemaError(
            f"{element_id(table, bad.index[0])}: field '{col.name}' must be a number, got {shown(bad.iloc[0])}"
        )
    if col.kind == "int":
        if numeric.isna().any():
            raise SchemaError(
                f"{element_id(table, numeric[numeric.isna()].index[0])}: field '{col.name}' must be an integer"
            )
        frac = numeric[numeric != np.round(numeric)]
        if len(frac):
            raise SchemaError(
                f"{element_id(table, frac.index[0])}: field '{col.name}' must be an integer, got {shown(frac.iloc[0])}"
            )
        return numeric.astype(np.int64)
    return numeric.astype(np.float64)


def _label(value: Any) -> str:
    """Bus labels are strings; integral numbers become '12', not '12.0'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


class Network:
    """One grid: buses, branches and devices as pandas tables.

    Quantities are in engineering units (kV, MW, Mvar, ohm); the network's
    ``sn_mva`` is the base of every per-unit computation on it. Buses are
    indexed by string labels (``"6"``, ``"18"``); all other tables have an
    integer index that result tables (``res_*``) reuse.

    ``kind`` is ``"transmission"`` (meshed, solved by Newton) or
    ``"distribution"`` (radial, may be solved by the sweep). ``notes`` lists
    every modification made to the source data, in words.
    """

    TABLE_NAMES = tuple(TABLES)

    def __init__(
        self,
        name: str = "network",
        sn_mva: float = 100.0,
        f_hz: float = 50.0,
        kind: str = "transmission",
        source: str = "",
    ) -> None:
        if not sn_mva > 0:
            raise SchemaError(f"network {name!r}: field 'sn_mva' must be > 0, got {sn_mva!r}")
        if kind not in ("transmission", "distribution"):
            raise SchemaError(
                f"network {name!r}: field 'kind' must be 'transmission' or 'distribution', got {kind!r}"
            )
        self.name = name
        self.sn_mva = float(sn_mva)
        self.f_hz = float(f_hz)
        self.kind = kind
        self.source = source
        self.notes: list[str] = []
        self.timeseries: dict[str, pd.DataFrame] = {}
        for t in self.TABLE_NAMES:
            setattr(self, t, _empty_table(t))

    # ------------------------------------------------------------------ tables
    def tables(self) -> dict[str, pd.DataFrame]:
        return {t: getattr(self, t) for t in self.TABLE_NAMES}

    def add(self, table: str, rows: pd.DataFrame | Mapping[str, Any] | Iterable[Mapping[str, Any]], index: Any = None) -> pd.Index:
        """Append rows to ``table``; missing optional columns take their defaults.

        ``rows`` is one mapping of scalars (one row), a mapping of columns
        (arrays), a list of mappings or a DataFrame. For the
        bus table, ``index`` (or a ``label`` column) gives the bus labels.
        Returns the index of the new rows.
        """
        if table not in TABLES:
            raise SchemaError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
        if isinstance(rows, Mapping):
            columnwise = any(isinstance(v, (list, tuple, np.ndarray, pd.Series, pd.Index)) for v in rows.values())
            df = pd.DataFrame({k: list(v) if isinstance(v, (pd.Series, pd.Index)) else v for k, v in rows.items()}) if columnwise else pd.DataFrame([rows])
        else:
            df = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
        cols = TABLES[table]
        known = {c.name for c in cols}
        if table == "bus":
            if "label" in df.columns:
                df.index = df.pop("label")
            elif index is not None:
                df.index = pd.Index(index)
            else:
                raise SchemaError("bus rows need labels: pass index= or a 'label' column")
            df.index = pd.Index([_label(v) for v in df.index], dtype=object, name="bus")
        else:
            start = 0 if getattr(self, table).empty else int(getattr(self, table).index.max()) + 1
            df.index = pd.RangeIndex(start, start + len(df), name=table) if index is None else pd.Index(index, name=table)
        unknown = [c for c in df.columns if c not in known]
        if unknown:
            raise SchemaError(
                f"{table}: unknown field(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(sorted(known))}"
            )
        data = {}
        n = len(df)
        for c in cols:
            if c.name not in df.columns:
                if c.required:
                    raise SchemaError(f"{table}: field '{c.name}' is required ({c.doc})")
                data[c.name] = np.full(n, c.default, dtype=dtype_of(c)) if c.kind != "str" else np.array([c.default] * n, dtype=object)
                continue
            if c.required and df[c.name].isna().any():
                first = df.index[df[c.name].isna()][0]
                got = df.at[first, c.name]
                got = got.item() if hasattr(got, "item") else got
                raise SchemaError(f"{element_id(table, first)}: field '{c.name}' is required ({c.doc})"
                                  + ("" if got is None else f"; got {got!r}, expected a number"))
            data[c.name] = _coerce(table, c, df[c.name]).to_numpy()
        df = pd.DataFrame(data, index=df.index)
        current = getattr(self, table)
        if table == "bus":
            dup = df.index[df.index.duplicated()].tolist() + [b for b in df.index if b in current.index]
            if dup:
                raise SchemaError(f"{element_id('bus', dup[0])}: label used twice; bus labels must be unique")
        merged = df if current.empty else pd.concat([current, df])
        setattr(self, table, merged)
        return df.index

    def append_trusted(self, table: str, index: Any, **fields: Any) -> None:
        """Append one row whose values already have the schema's types (internal, no checks).

        For rows tdcoord makes itself from validated data (the boundary rows
        of a feeder); user data goes through :meth:`add`.
        """
        row = {c.name: fields[c.name] if c.name in fields else c.default for c in TABLES[table]}
        current = getattr(self, table)
        df = pd.DataFrame({k: pd.Series([v], dtype=current[k].dtype) for k, v in row.items()})
        df.index = pd.Index([index], dtype=current.index.dtype if len(current) else None, name=current.index.name)
        setattr(self, table, pd.concat([current, df]) if len(current) else df)

    def set_table(self, table: str, df: pd.DataFrame) -> None:
        """Replace a table by rows that already follow the schema (no coercion).

        For internal use on tables taken from other Networks (merging,
        slicing); user data goes through :meth:`add`.
        """
        cols = [c.name for c in TABLES[table]]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise SchemaError(f"{table}: field(s) {', '.join(missing)} missing")
        setattr(self, table, df[cols])

    def add_bus(self, label: Any, vn_kv: float, **fields: Any) -> str:
        return self.add("bus", {"vn_kv": vn_kv, **fields}, index=[label])[0]

    def add_line(self, from_bus: Any, to_bus: Any, r_ohm: float, x_ohm: float, **fields: Any) -> int:
        return int(self.add("line", {"from_bus": from_bus, "to_bus": to_bus, "r_ohm": r_ohm, "x_ohm": x_ohm, **fields})[0])

    def add_trafo(self, from_bus: Any, to_bus: Any, sn_mva: float, r_pu: float, x_pu: float, **fields: Any) -> int:
        return int(self.add("trafo", {"from_bus": from_bus, "to_bus": to_bus, "sn_mva": sn_mva, "r_pu": r_pu, "x_pu": x_pu, **fields})[0])

    def add_ext_grid(self, bus: Any, **fields: Any) -> int:
        return int(self.add("ext_grid", {"bus": bus, **fields})[0])

    def add_gen(self, bus: Any, **fields: Any) -> int:
        return int(self.add("gen", {"bus": bus, **fields})[0])

    def add_load(self, bus: Any, p_mw: float, q_mvar: float = 0.0, **fields: Any) -> int:
        return int(self.add("load", {"bus": bus, "p_mw": p_mw, "q_mvar": q_mvar, **fields})[0])

    def add_shunt(self, bus: Any, **fields: Any) -> int:
        return int(self.add("shunt", {"bus": bus, **fields})[0])

    def add_sgen(self, bus: Any, **fields: Any) -> int:
        return int(self.add("sgen", {"bus": bus, **fields})[0])

    def add_svc(self, bus: Any, q_min_mvar: float, q_max_mvar: float, **fields: Any) -> int:
        return int(self.add("svc", {"bus": bus, "q_min_mvar": q_min_mvar, "q_max_mvar": q_max_mvar, **fields})[0])

    def add_storage(self, bus: Any, e_max_mwh: float, p_charge_max_mw: float, p_discharge_max_mw: float,
                    **fields: Any) -> int:
        return int(self.add("storage", {"bus": bus, "e_max_mwh": e_max_mwh, "p_charge_max_mw": p_charge_max_mw,
                                        "p_discharge_max_mw": p_discharge_max_mw, **fields})[0])

    # ------------------------------------------------------------- time series
    def set_timeseries(self, table: str, column: str, data: Any) -> pd.DataFrame:
        """Attach one value per period to elements of ``table.column`` (see :mod:`tdcoord.network.timeseries`)."""
        from tdcoord.network.timeseries import set_series

        return set_series(self, table, column, data)

    @property
    def n_periods(self) -> int:
        """Periods of the attached time series (0: none)."""
        from tdcoord.network.timeseries import n_periods

        return n_periods(self)

    def at_period(self, t: int) -> "Network":
        """A copy with period ``t`` of every time series written into the tables."""
        from tdcoord.network.timeseries import at_period

        return at_period(self, t)

    # ----------------------------------------------------------------- helpers
    def copy(self, timeseries: bool = True) -> "Network":
        """A deep copy of the tables (and of the time series, unless ``timeseries=False``: then none)."""
        new = _copy.copy(self)
        new.notes = list(self.notes)
        new.timeseries = {k: v.copy() for k, v in self.timeseries.items()} if timeseries else {}
        for t in self.TABLE_NAMES:
            setattr(new, t, getattr(self, t).copy())
        return new

    def note(self, text: str) -> None:
        """Record a modification of the source data."""
        self.notes.append(text)

    @property
    def bus_labels(self) -> list[str]:
        return list(self.bus.index)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "buses": len(self.bus),
            "lines": len(self.line),
            "trafos": len(self.trafo),
            "gens": len(self.gen),
            "loads": len(self.load),
            "p_load_mw": float(self.load.loc[self.load.in_service, "p_mw"].sum()),
            "q_load_mvar": float(self.load.loc[self.load.in_service, "q_mvar"].sum()),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Network({s['name']!r}, {s['kind']}, {s['buses']} buses, {s['lines']} lines, "
            f"{s['trafos']} trafos, {s['gens']} gens, load {s['p_load_mw']:.3f} MW)"
        )

    def equals(self, other: "Network", rtol: float = 0.0) -> bool:
        """Table-by-table equality (used by round-trip tests)."""
        if (self.name, self.sn_mva, self.f_hz, self.kind) != (other.name, other.sn_mva, other.f_hz, other.kind):
            return False
        for t in self.TABLE_NAMES:
            a, b = getattr(self, t), getattr(other, t)
            if a.shape != b.shape or list(a.index) != list(b.index):
                return False
            for c in TABLES[t]:
                x, y = a[c.name], b[c.name]
                if c.kind == "float":
                    if not np.allclose(x.to_numpy(float), y.to_numpy(float), rtol=rtol, atol=0.0, equal_nan=True):
                        return False
                elif not (x.to_numpy() == y.to_numpy()).all():
                    return False
        return True
