"""Time series from CSV files: one row per period, one column per element.

The file's first column is the period (``period``, 0, 1, ...), every other
column an element index of the table the series belongs to, in the unit of
the column it gives::

    period,0,1,2
    0,21.7,94.2,2.4
    1,20.1,88.0,2.2
    ...

:func:`read_timeseries` attaches one such file to a network as
``table.column`` (see :mod:`tdcoord.network.timeseries`); bad input names
the file, line and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tdcoord.errors import InputError
from tdcoord.network.network import Network


def read_timeseries(net: Network, table: str, column: str, path: str | Path) -> pd.DataFrame:
    """Attach the series in ``path`` to ``net`` as ``table.column``; returns it."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"time series file {str(path)!r} cannot be read: {exc}") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"time series file {str(path)!r} is not a valid CSV file: {exc}") from exc
    if df.shape[1] < 2 or str(df.columns[0]).strip().lower() != "period":
        raise InputError(f"time series file {str(path)!r}: expected a header 'period,<element index>,...'")
    periods = pd.to_numeric(df.iloc[:, 0], errors="coerce")
    expected = np.arange(len(df))
    if periods.isna().any() or not np.array_equal(periods.to_numpy(), expected):
        bad = int(np.flatnonzero(periods.isna().to_numpy() | (periods.to_numpy() != expected))[0])
        raise InputError(f"time series file {str(path)!r}, line {bad + 2}: period {df.iloc[bad, 0]!r}; expected "
                         f"{bad} (periods 0, 1, 2, ... in order)")
    data = df.iloc[:, 1:]
    values = data.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & data.notna() | data.isna()
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise InputError(f"time series file {str(path)!r}, line {r + 2}, column {data.columns[c]!r}: "
                         f"{data.iat[r, c]!r} is not a number")
    values.columns = [c.strip() for c in data.columns]
    try:
        return net.set_timeseries(table, column, values)
    except InputError as exc:
        raise InputError(f"time series file {str(path)!r}: {exc}") from None


__all__ = ["read_timeseries"]
