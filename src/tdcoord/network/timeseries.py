"""Time series attached to a network: one value per element and period.

A network's ``timeseries`` maps ``"table.column"`` (``"load.p_mw"``,
``"sgen.p_mw"``, ``"gen.p_max_mw"``, ...) to a DataFrame whose index is the
period (0, 1, ..., T-1) and whose columns are element indices of that
table, in the column's unit. Elements without a column keep their static
value in every period. Every series of a network has the same periods.

- :func:`set_series` checks and attaches a series;
- :func:`values` gives a column's (elements x periods) array, static values
  where no series is given: what multi-period models read;
- :func:`at_period` gives a copy of the network with period ``t`` written
  into its tables: what a single-period computation of that period reads.

What a series of each common column means: ``load.p_mw``/``load.q_mvar``
the consumption; ``sgen.p_mw`` a renewable unit's available power (its
forecast); ``gen.p_mw`` a machine's scheduled output; ``gen.p_max_mw`` /
``gen.p_min_mw`` time-varying limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tdcoord.errors import SchemaError
from tdcoord.network.schema import TABLES

if TYPE_CHECKING:
    from tdcoord.network.network import Network


def _key(table: str, column: str) -> str:
    if table not in TABLES or table == "bus":
        raise SchemaError(f"time series: unknown element table {table!r}; expected one of "
                          f"{', '.join(t for t in TABLES if t != 'bus')}")
    col = next((c for c in TABLES[table] if c.name == column), None)
    if col is None or col.kind != "float":
        floats = [c.name for c in TABLES[table] if c.kind == "float"]
        raise SchemaError(f"time series: {table} has no numeric field {column!r}; expected one of {', '.join(floats)}")
    return f"{table}.{column}"


def set_series(net: "Network", table: str, column: str, data: Any) -> pd.DataFrame:
    """Attach a series (DataFrame: periods x element index, or a 2-D array for every element in order)."""
    key = _key(table, column)
    elements = getattr(net, table).index
    if isinstance(data, pd.DataFrame):
        df = data.copy()
    else:
        arr = np.asarray(data, float)
        if arr.ndim != 2 or arr.shape[1] != len(elements):
            raise SchemaError(f"time series {key}: expected a (periods x {len(elements)}) array, got shape {arr.shape}")
        df = pd.DataFrame(arr, columns=elements)
    if len(df) == 0:
        raise SchemaError(f"time series {key}: no periods")
    df.index = pd.RangeIndex(len(df), name="period")
    cols = []
    for c in df.columns:
        match = [e for e in elements if str(e) == str(c)]
        if not match:
            raise SchemaError(f"time series {key}: column {c!r} names no {table} element "
                              f"(indices: {', '.join(map(str, list(elements)[:10]))}{', ...' if len(elements) > 10 else ''})")
        cols.append(match[0])
    df.columns = pd.Index(cols, name=table)
    try:
        df = df.astype(float)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"time series {key}: values must be numbers ({exc})") from None
    bad = ~np.isfinite(df.to_numpy())
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise SchemaError(f"time series {key}: period {r}, {table} {df.columns[c]!r}: {df.iat[r, c]!r} is not a "
                          f"finite number")
    other = {k: len(v) for k, v in net.timeseries.items() if k != key}
    if other and len(df) not in set(other.values()):
        k0, n0 = next(iter(other.items()))
        raise SchemaError(f"time series {key}: {len(df)} periods, but {k0} has {n0}; every series of a network "
                          f"must have the same periods")
    net.timeseries[key] = df
    return df


def n_periods(net: "Network") -> int:
    """Number of periods of the network's series (0: none attached)."""
    return max((len(v) for v in net.timeseries.values()), default=0)


def values(net: "Network", table: str, column: str, periods: int | None = None) -> np.ndarray:
    """(elements x periods) values of a column, in table order; static values where no series is given."""
    key = _key(table, column)
    tab = getattr(net, table)
    t = n_periods(net) if periods is None else int(periods)
    t = max(t, 1)
    out = np.repeat(tab[column].to_numpy(float).reshape(-1, 1), t, axis=1)
    df = net.timeseries.get(key)
    if df is not None:
        if len(df) < t:
            raise SchemaError(f"time series {key}: {len(df)} periods, {t} asked for")
        pos = tab.index.get_indexer(df.columns)
        out[pos, :] = df.to_numpy(float)[:t].T
    return out


def at_period(net: "Network", t: int) -> "Network":
    """A copy of ``net`` with period ``t`` of every series written into its tables (no series kept)."""
    n = n_periods(net)
    if not 0 <= int(t) < max(n, 1) or (n == 0 and int(t) != 0):
        raise SchemaError(f"network {net.name!r}: period {t} asked for, but its series have {n} period(s)")
    out = net.copy(timeseries=False)  # the series are read from ``net``; copying them would be thrown away
    for key, df in net.timeseries.items():
        table, column = key.split(".", 1)
        tab = getattr(out, table)
        tab.loc[df.columns, column] = df.iloc[int(t)].to_numpy(float)
    return out




def bus_values(net: "Network", cn: Any, table: str, column: str, periods: int, scale: float = 1.0) -> np.ndarray:
    """(buses x periods) sums of a column over the in-service elements at each in-service bus, times ``scale``.

    ``cn`` is the network's compiled view (bus positions); a load table's
    ``p_mw`` with ``scale = 1 / base`` gives the per-unit bus loads of every
    period.
    """
    tab = getattr(net, table)
    vals = values(net, table, column, periods)
    pos = cn.position()
    live = tab.in_service.to_numpy(bool) & tab.bus.isin(pos).to_numpy()
    out = np.zeros((cn.n_bus, vals.shape[1]))
    if live.any():
        np.add.at(out, np.array([pos[b] for b in tab.bus[live]]), vals[live] * scale)
    return out


__all__ = ["at_period", "bus_values", "n_periods", "set_series", "values"]
