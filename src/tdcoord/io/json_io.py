"""tdcoord JSON: a lossless text form of a Network or a CoupledSystem.

Layout::

    {"format": "tdcoord-network", "version": 1, "name": ..., "sn_mva": ...,
     "f_hz": ..., "kind": ..., "source": ..., "notes": [...],
     "tables": {"bus": {"index": [...], "columns": {"vn_kv": [...], ...}}, ...}}

Missing numbers (NaN) are written as ``null``. A coupled system is
``{"format": "tdcoord-coupled", "transmission": {...}, "feeders": [...],
"ties": {...}}`` with each feeder's network, its transmission bus and its
boundary transformer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from tdcoord.errors import FileFormatError, SchemaError
from tdcoord.network.network import Network
from tdcoord.network.schema import TABLES

NETWORK_FORMAT = "tdcoord-network"
COUPLED_FORMAT = "tdcoord-coupled"
VERSION = 1


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
        if isinstance(v, float) and math.isnan(v):
            return None
    return v


def table_to_dict(df: pd.DataFrame) -> dict:
    return {
        "index": [_clean(i) for i in df.index],
        "columns": {c: [_clean(v) for v in df[c].tolist()] for c in df.columns},
    }


def network_to_dict(net: Network) -> dict:
    return {
        "format": NETWORK_FORMAT,
        "version": VERSION,
        "name": net.name,
        "sn_mva": net.sn_mva,
        "f_hz": net.f_hz,
        "kind": net.kind,
        "source": net.source,
        "notes": list(net.notes),
        "tables": {t: table_to_dict(getattr(net, t)) for t in Network.TABLE_NAMES if len(getattr(net, t))},
    }


def _nan(values: list, table: str, col: str) -> list:
    kinds = {c.name: c.kind for c in TABLES[table]}
    if kinds.get(col) == "float":
        return [float("nan") if v is None else v for v in values]
    return values


def network_from_dict(data: dict, source: str = "<json>") -> Network:
    if data.get("format") != NETWORK_FORMAT:
        raise FileFormatError(f"{source}: 'format' is {data.get('format')!r}; expected {NETWORK_FORMAT!r}")
    if data.get("version") != VERSION:
        raise FileFormatError(f"{source}: 'version' is {data.get('version')!r}; expected {VERSION}")
    try:
        net = Network(
            name=data["name"], sn_mva=data["sn_mva"], f_hz=data.get("f_hz", 50.0),
            kind=data.get("kind", "transmission"), source=data.get("source", ""),
        )
    except KeyError as exc:
        raise FileFormatError(f"{source}: missing key {exc.args[0]!r}") from exc
    net.notes = list(data.get("notes", []))
    tables = data.get("tables", {})
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        raise FileFormatError(f"{source}: unknown table(s) {', '.join(unknown)}")
    for t in Network.TABLE_NAMES:
        if t not in tables:
            continue
        tab = tables[t]
        cols = {c: _nan(v, t, c) for c, v in tab.get("columns", {}).items()}
        n = len(tab.get("index", []))
        bad = [c for c, v in cols.items() if len(v) != n]
        if bad:
            raise FileFormatError(f"{source}: table {t!r}, column {bad[0]!r} has {len(cols[bad[0]])} values for {n} rows")
        try:
            net.add(t, pd.DataFrame(cols, index=range(n)), index=tab["index"])
        except SchemaError as exc:
            raise FileFormatError(f"{source}: {exc}") from exc
    return net


def coupled_to_dict(cs: Any) -> dict:
    return {
        "format": COUPLED_FORMAT,
        "version": VERSION,
        "name": cs.name,
        "notes": list(cs.notes),
        "transmission": network_to_dict(cs.transmission),
        "feeders": [
            {"name": fname, "network": network_to_dict(net), **{k: _clean(v) for k, v in cs.boundary.loc[fname].items()}}
            for fname, net in cs.feeders.items()
        ],
        "ties": table_to_dict(cs.tie),
    }


def coupled_from_dict(data: dict, source: str = "<json>") -> Any:
    from tdcoord.network.coupled import CoupledSystem

    if data.get("version") != VERSION:
        raise FileFormatError(f"{source}: 'version' is {data.get('version')!r}; expected {VERSION}")
    try:
        cs = CoupledSystem(network_from_dict(data["transmission"], source), name=data.get("name"))
        cs.notes = list(data.get("notes", []))
        for f in data.get("feeders", []):
            fname = cs.attach(network_from_dict(f["network"], source), f["bus"], name=f["name"], root=f["root"],
                              sn_mva=f["sn_mva"], tap_pu=f["tap_pu"], vk_percent=1.0, vkr_percent=0.0)
            cs.boundary.loc[fname, ["r_pu", "x_pu"]] = [f["r_pu"], f["x_pu"]]
            cs.boundary.loc[fname, "in_service"] = bool(f.get("in_service", True))
            if fname != f["name"]:
                raise FileFormatError(f"{source}: feeder name {f['name']!r} is used twice")
        ties = data.get("ties")
        if ties and ties.get("index"):
            cols = {c: _nan(v, "line", c) for c, v in ties["columns"].items()}
            holder = Network(name="ties")
            holder.add("line", pd.DataFrame(cols), index=ties["index"])
            cs.tie = holder.line
    except KeyError as exc:
        raise FileFormatError(f"{source}: missing key {exc.args[0]!r}") from exc
    except SchemaError as exc:
        raise FileFormatError(f"{source}: {exc}") from exc
    return cs


def write_json(obj: Any, path: str | Path) -> None:
    """Write a Network or CoupledSystem as tdcoord JSON."""
    from tdcoord.network.coupled import CoupledSystem

    if isinstance(obj, Network):
        data = network_to_dict(obj)
    elif isinstance(obj, CoupledSystem):
        data = coupled_to_dict(obj)
    else:
        raise TypeError(f"cannot write {type(obj).__name__} as tdcoord JSON")
    Path(path).write_text(json.dumps(data, indent=1, allow_nan=False))


def read_json(path: str | Path) -> Any:
    """Read tdcoord JSON: a Network or a CoupledSystem, whichever the file holds."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise FileFormatError(f"{path}: expected a JSON object")
    if data.get("format") == COUPLED_FORMAT:
        return coupled_from_dict(data, source=str(path))
    return network_from_dict(data, source=str(path))
