"""MATPOWER case files (``.m``, case format version 2) to :class:`Network`.

Only data assignments are read (``mpc.baseMVA``, ``mpc.bus``, ``mpc.gen``,
``mpc.branch``, ``mpc.gencost``, ``mpc.bus_name``). A file that also holds
MATLAB code changing the data after it is assigned (e.g. unit conversions)
is refused with an error rather than read wrongly.

Mapping: a branch with ratio 0 between buses of equal ``baseKV`` becomes a
``line`` (impedance converted to ohm on that base); any other branch becomes
a ``trafo`` on the case's ``baseMVA`` with ``tap_pu`` = ratio (1 where 0).
``Pd``/``Qd`` become loads, ``Gs``/``Bs`` fixed shunts, the generators at the
reference bus the slack. ``rateB``/``rateC`` and the result columns are not
used. Polynomial costs up to quadratic are kept; piecewise-linear or reactive
cost rows are refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tdcoord.errors import FileFormatError
from tdcoord.network.network import Network

_ASSIGN = re.compile(r"mpc\.(\w+)\s*=\s*", re.S)
_MATRIX_FIELDS = ("bus", "gen", "branch", "gencost", "areas")


def _strip_comments(text: str) -> str:
    out = []
    for line in text.splitlines():
        inq = False
        for i, ch in enumerate(line):
            if ch == "'":
                inq = not inq
            elif ch == "%" and not inq:
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


def _parse_matrix(body: str, field: str, source: str) -> np.ndarray:
    rows = []
    for raw in re.split(r"[;\n]", body):
        raw = raw.strip().strip(",")
        if not raw:
            continue
        try:
            rows.append([float(v) for v in re.split(r"[\s,]+", raw) if v])
        except ValueError as exc:
            raise FileFormatError(f"{source}: mpc.{field}: cannot read row {raw[:60]!r} as numbers") from exc
    if not rows:
        return np.zeros((0, 0))
    width = max(len(r) for r in rows)
    if field != "gencost" and any(len(r) != width for r in rows):
        raise FileFormatError(f"{source}: mpc.{field}: rows have different numbers of columns")
    return np.array([r + [np.nan] * (width - len(r)) for r in rows], dtype=float)


def parse_matpower(text: str, source: str = "<text>") -> dict:
    """Raw arrays of a MATPOWER case: ``baseMVA``, ``bus``, ``gen``, ``branch``, ...

    Plain data only: a file with MATLAB statements besides the assignments
    is refused (what they would do to the data is not known here).
    """
    code = _strip_comments(text)
    code = re.sub(r"^\s*function\s+.*$", "", code, count=1, flags=re.M)
    data: dict = {}
    leftovers = []
    pos = 0
    for m in _ASSIGN.finditer(code):
        if m.start() < pos:
            continue
        leftovers.append(code[pos:m.start()])
        field = m.group(1)
        rest = code[m.end():]
        if rest.startswith("["):
            end = rest.find("]")
            if end < 0:
                raise FileFormatError(f"{source}: mpc.{field}: matrix is not closed with ']'")
            data[field] = _parse_matrix(rest[1:end], field, source)
            pos = m.end() + end + 1
        elif rest.startswith("{"):
            end = rest.find("}")
            if end < 0:
                raise FileFormatError(f"{source}: mpc.{field}: cell array is not closed with '}}'")
            data[field] = re.findall(r"'((?:[^']|'')*)'", rest[1:end])
            pos = m.end() + end + 1
        else:
            end = rest.find(";")
            if end < 0:
                end = rest.find("\n")
            value = rest[:end].strip().strip("'")
            try:
                data[field] = float(value)
            except ValueError:
                data[field] = value
            pos = m.end() + end + 1
    leftovers.append(code[pos:])
    stray = [s.strip() for s in "".join(leftovers).split("\n") if s.strip().strip(";")]
    stray = [s for s in stray if s not in ("end", "return")]
    if stray:
        raise FileFormatError(
            f"{source}: contains MATLAB code besides data assignments (first: {stray[0][:70]!r}); "
            "only plain MATPOWER data files can be read"
        )
    for need in ("baseMVA", "bus", "gen", "branch"):
        if need not in data:
            raise FileFormatError(f"{source}: mpc.{need} is missing; not a MATPOWER case file")
    if str(data.get("version", "2")) not in ("2", "2.0"):
        raise FileFormatError(f"{source}: MATPOWER case format version {data['version']!r}; only version 2 is read")
    return data


def _label(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _check_references(source: str, labels: list, gen: np.ndarray, branch: np.ndarray) -> None:
    """Every generator and branch end names a bus of mpc.bus (row numbers as in the file, from 1)."""
    known = set(labels)
    for k, b in enumerate(gen[:, 0] if len(gen) else []):
        if _label(b) not in known:
            raise FileFormatError(f"{source}: mpc.gen row {k + 1}: bus {_label(b)} is not in mpc.bus")
    for k, row in enumerate(branch):
        for end, b in (("from", row[0]), ("to", row[1])):
            if _label(b) not in known:
                raise FileFormatError(f"{source}: mpc.branch row {k + 1} ({_label(row[0])}-{_label(row[1])}): "
                                      f"{end} bus {_label(b)} is not in mpc.bus")


def _add_buses(net: Network, bus: np.ndarray, names: list, source: str, default_vn_kv: float) -> list[str]:
    """Buses, their loads and shunts; the bus labels."""
    labels = [_label(b) for b in bus[:, 0]]
    if len(set(labels)) != len(labels):
        raise FileFormatError(f"{source}: mpc.bus: bus numbers are not unique")
    vn = bus[:, 9].copy()
    if (vn <= 0).any():
        vn[vn <= 0] = default_vn_kv
        net.note(f"baseKV 0 in the source; nominal voltage {default_vn_kv} kV assumed for {int((bus[:, 9] <= 0).sum())} bus(es) (per-unit results do not depend on it)")
    net.add(
        "bus",
        {
            "vn_kv": vn,
            "vm_min_pu": bus[:, 12],
            "vm_max_pu": bus[:, 11],
            "in_service": bus[:, 1] != 4,
            "name": [str(n).strip() for n in names],
            "zone": [_label(z) for z in bus[:, 10]],
        },
        index=labels,
    )
    has_load = (bus[:, 2] != 0) | (bus[:, 3] != 0)
    if has_load.any():
        net.add("load", {"bus": np.array(labels, dtype=object)[has_load], "p_mw": bus[has_load, 2], "q_mvar": bus[has_load, 3]})
    has_sh = (bus[:, 4] != 0) | (bus[:, 5] != 0)
    if has_sh.any():
        net.add("shunt", {"bus": np.array(labels, dtype=object)[has_sh], "gs_mw": bus[has_sh, 4], "bs_mvar": bus[has_sh, 5]})
    return labels


def _polynomial_costs(data: dict, n_gen: int, source: str) -> np.ndarray:
    """(c2, c1, c0) per generator from mpc.gencost (zeros where none); other cost models are refused."""
    cost = np.zeros((n_gen, 3))
    if "gencost" not in data or not len(data["gencost"]):
        return cost
    gc = data["gencost"]
    if len(gc) > n_gen:
        raise FileFormatError(f"{source}: mpc.gencost has reactive-power cost rows; they are not supported")
    for k, row in enumerate(gc):
        if row[0] == 1:
            raise FileFormatError(f"{source}: mpc.gencost row {k + 1}: piecewise-linear costs (model 1) are not supported")
        n = int(row[3])
        coeffs = row[4:4 + n]
        if n > 3 and np.any(coeffs[: n - 3] != 0):
            raise FileFormatError(f"{source}: mpc.gencost row {k + 1}: polynomial of degree {n - 1}; at most quadratic is supported")
        cost[k] = np.r_[np.zeros(3), coeffs][-3:]
    return cost


def _add_generators(net: Network, data: dict, labels: list[str], source: str) -> None:
    """Generators: the first in-service machine at each reference bus is the slack, with the bus's angle."""
    bus, gen = data["bus"], data["gen"]
    ref_buses = {labels[i] for i in np.flatnonzero(bus[:, 1] == 3)}
    va_of = dict(zip(labels, bus[:, 8]))
    gbus = [_label(b) for b in gen[:, 0]]
    slack = np.zeros(len(gen), bool)
    for r in ref_buses:
        live = [k for k, b in enumerate(gbus) if b == r and gen[k, 7] > 0]
        if live:
            slack[live[0]] = True
    cost = _polynomial_costs(data, len(gen), source)
    net.add(
        "gen",
        {
            "bus": gbus,
            "p_mw": gen[:, 1],
            "vm_pu": gen[:, 5],
            "va_deg": np.where(slack, [va_of[b] for b in gbus], 0.0),
            "q_max_mvar": gen[:, 3],
            "q_min_mvar": gen[:, 4],
            "p_max_mw": gen[:, 8],
            "p_min_mw": gen[:, 9],
            "in_service": gen[:, 7] > 0,
            "slack": slack,
            "cost_c2": cost[:, 0],
            "cost_c1": cost[:, 1],
            "cost_c0": cost[:, 2],
        },
    )


def _add_branches(net: Network, data: dict, labels: list[str], base: float) -> None:
    """Branches: lines where the ratio is 0 and both ends have the same nominal voltage (impedances to ohm),
    transformers otherwise (p.u. on baseMVA, tap at the from side)."""
    bus, br = data["bus"], data["branch"]
    kv = dict(zip(labels, net.bus.vn_kv.to_numpy(float)))
    raw_kv = dict(zip(labels, bus[:, 9]))
    fb = [_label(b) for b in br[:, 0]]
    tb = [_label(b) for b in br[:, 1]]
    ratio = br[:, 8]
    is_line = (ratio == 0) & np.array([raw_kv[a] == raw_kv[b] for a, b in zip(fb, tb)], dtype=bool)
    rate = np.where(br[:, 5] > 0, br[:, 5], np.nan)
    angmin = br[:, 11] if br.shape[1] > 11 else np.full(len(br), -360.0)
    angmax = br[:, 12] if br.shape[1] > 12 else np.full(len(br), 360.0)
    angmin = np.where(angmin == 0, -360.0, angmin)  # MATPOWER: 0 means unlimited
    angmax = np.where(angmax == 0, 360.0, angmax)
    common = lambda idx: {  # noqa: E731
        "from_bus": [fb[i] for i in idx], "to_bus": [tb[i] for i in idx], "rate_mva": rate[idx],
        "ang_min_deg": angmin[idx], "ang_max_deg": angmax[idx], "in_service": br[idx, 10] > 0,
        "name": [f"branch {i + 1}" for i in idx]}
    if is_line.any():
        idx = np.flatnonzero(is_line)
        zb = np.array([kv[fb[i]] ** 2 / base for i in idx])
        net.add("line", {**common(idx), "r_ohm": br[idx, 2] * zb, "x_ohm": br[idx, 3] * zb,
                         "b_us": br[idx, 4] / zb * 1e6})
    if (~is_line).any():
        idx = np.flatnonzero(~is_line)
        net.add("trafo", {**common(idx), "sn_mva": np.full(len(idx), base), "r_pu": br[idx, 2], "x_pu": br[idx, 3],
                          "b_pu": br[idx, 4], "tap_pu": np.where(ratio[idx] == 0, 1.0, ratio[idx]),
                          "shift_deg": br[idx, 9]})


def network_from_matpower(
    data: dict, name: str = "matpower", source: str = "<text>", default_vn_kv: float = 1.0
) -> Network:
    """Network of parsed MATPOWER arrays (see :func:`parse_matpower`)."""
    base = float(data["baseMVA"])
    bus, gen, br = data["bus"], data["gen"], data["branch"]
    if bus.shape[1] < 13 or gen.shape[1] < 10 or br.shape[1] < 11:
        raise FileFormatError(f"{source}: too few columns in mpc.bus/gen/branch for case format version 2")
    net = Network(name=name, sn_mva=base, f_hz=60.0, kind="transmission", source=source)
    labels = _add_buses(net, bus, data.get("bus_name") or [""] * len(bus), source, default_vn_kv)
    _check_references(source, labels, gen, br)
    _add_generators(net, data, labels, source)
    _add_branches(net, data, labels, base)
    return net


def read_matpower(path: str | Path, name: str | None = None, default_vn_kv: float = 1.0) -> Network:
    """Read a MATPOWER ``.m`` case file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({exc.strerror})") from exc
    data = parse_matpower(text, source=str(path))
    return network_from_matpower(data, name=name or path.stem, source=str(path), default_vn_kv=default_vn_kv)
