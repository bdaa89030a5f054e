"""Result tables, pandapower style, and the one writer for them.

A result is a dict of tables keyed by name: ``res_bus`` (``vm_pu``,
``va_degree``, ...), ``res_line`` and ``res_trafo`` (``p_from_mw``,
``q_from_mvar``, ``p_to_mw``, ``q_to_mvar``, ``pl_mw``, ``ql_mvar``; a
transformer also ``tap_pu`` and ``tap_pos``), ``res_gen``, ``res_ext_grid``,
``res_sgen``, ``res_svc`` (``p_mw``, ``q_mvar``), ``res_shunt`` (``p_mw``,
``q_mvar`` consumed, as pandapower, and ``step``), ``res_storage``
(``p_mw`` injected, ``q_mvar``, ``energy_mwh``) and ``res_boundary``. Each
is indexed like the input table it describes (bus labels, element indices).
A multi-period result has a two-level index ``(period, element)``. Tables
of a feeder in a coupled result are keyed ``"<feeder>:res_bus"``.

:func:`tables_to_json` gives each table as pandas ``to_dict(orient="split")``
(``{"columns": [...], "index": [...], "data": [[...]]}``, NaN as null);
:func:`write_tables` writes one CSV per table. Both are the only way tables
are written, for every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.results.serialize import plain

BRANCH_FLOW_COLUMNS = ["p_from_mw", "q_from_mvar", "p_to_mw", "q_to_mvar", "pl_mw", "ql_mvar"]


def periodic(index: Any, columns: dict[str, np.ndarray], name: str | None = None) -> pd.DataFrame:
    """A table from per-element columns: 1-D arrays give one row per element, (n x T) arrays a (period, element) index."""
    index = pd.Index(index, name=name)
    arrays = {k: np.asarray(v) for k, v in columns.items()}
    two_d = [k for k, v in arrays.items() if v.ndim == 2 and v.shape[1] != 1]
    if not two_d:
        return pd.DataFrame({k: (v[:, 0] if v.ndim == 2 else v) for k, v in arrays.items()}, index=index)
    periods = arrays[two_d[0]].shape[1]
    mi = pd.MultiIndex.from_product([range(periods), index], names=["period", name or "element"])
    data = {}
    for k, v in arrays.items():
        v = v.reshape(len(index), -1)
        v = np.repeat(v, periods, axis=1) if v.shape[1] == 1 else v
        data[k] = v.T.ravel()
    return pd.DataFrame(data, index=mi)


def branch_flow_columns(pf: np.ndarray, qf: np.ndarray, pt: np.ndarray, qt: np.ndarray, base: float) -> dict:
    """The flow columns of a branch table (MW, Mvar) from p.u. terminal flows."""
    return {"p_from_mw": pf * base, "q_from_mvar": qf * base, "p_to_mw": pt * base, "q_to_mvar": qt * base,
            "pl_mw": (pf + pt) * base, "ql_mvar": (qf + qt) * base}


def tap_position(tap_pu: np.ndarray, step_pu: np.ndarray) -> np.ndarray:
    """Tap position (steps from the neutral ratio 1.0) where a step is given, else NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(step_pu) & (step_pu > 0), np.round((tap_pu - 1.0) / step_pu, 6), np.nan)


def tables_to_json(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Every table as ``to_dict(orient="split")`` with plain numbers (NaN as null), multi-index rows as lists."""
    out = {}
    for name, df in tables.items():
        d = df.to_dict(orient="split")
        d["index"] = [list(i) if isinstance(i, tuple) else i for i in d["index"]]
        if isinstance(df.index, pd.MultiIndex):
            d["index_names"] = list(df.index.names)
        out[name] = plain(d)
    return out


def safe_name(name: str) -> str:
    """A file-name form of a table key (``ieee33@6:res_bus`` -> ``ieee33_at_6__res_bus``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name.replace("@", "_at_").replace(":", "__"))


def write_tables(tables: dict[str, pd.DataFrame], folder: str | Path, prefix: str = "") -> list[Path]:
    """One CSV per table in ``folder`` (index written as columns); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = folder / f"{prefix}{safe_name(name)}.csv"
        df.to_csv(path, index=True)
        paths.append(path)
    return paths


__all__ = ["BRANCH_FLOW_COLUMNS", "branch_flow_columns", "periodic", "safe_name", "tables_to_json", "tap_position",
           "write_tables"]
