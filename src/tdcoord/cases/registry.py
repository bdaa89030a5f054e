"""Built-in cases by name, coupled specs and case files.

``load_case(spec)`` accepts

- a built-in network name (``ieee30``, ``ieee33``, ...; see ``list_cases``);
- a named coupled study system of the papers (``ieee30+ieee33@6``, ...);
- any coupled spec ``T+F@BUS+F@BUS...`` where T is a transmission case and
  each F a feeder hung on transmission bus BUS (each a built-in name or a
  path to a case file); ``F@BUSxN`` hangs N copies, ``F@BUS~tap0.95`` sets
  the substation transformer's ratio;
- ``T+NxF[~SEED]``: N copies of F spread over T's load buses with seeded
  random load factors (:mod:`tdcoord.cases.scale`);
- a path to a MATPOWER ``.m`` file, a pandapower JSON file or a tdcoord JSON
  file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Union

from tdcoord.cases import acdc30, acdc118, coupled_cases, standard
from tdcoord.cases.info import CaseInfo
from tdcoord.errors import UnknownCaseError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network

System = Union[Network, CoupledSystem]


NETWORKS: dict[str, CaseInfo] = {
    c.name: c
    for c in [
        CaseInfo("ieee9", "transmission", standard.ieee9, "WSCC 9-bus (MATPOWER case9)"),
        CaseInfo("ieee14", "transmission", standard.ieee14, "IEEE 14-bus (MATPOWER case14, voltage levels assigned)"),
        CaseInfo("ieee30", "transmission", standard.ieee30, "IEEE 30-bus (MATPOWER case_ieee30), 4 synchronous condensers"),
        CaseInfo("ieee30-acdc", "transmission", acdc30.ieee30_acdc,
                 "IEEE 30-bus AC/DC: 4 OLTCs, 5 capacitor banks, UPFC, 60 MW LCC-HVDC, 2 PV; a day of 5-min steps"),
        CaseInfo("ieee118-upfc", "transmission", acdc118.ieee118_upfc,
                 "IEEE 118-bus AC/DC: 9 OLTCs, 8 capacitor banks, 3 UPFCs, 200 MW LCC-HVDC, 3 PV; 5-min day"),
        CaseInfo("case30", "transmission", standard.case30, "MATPOWER case30 (Alsac-Stott 30-bus, OPF reference)"),
        CaseInfo("ieee118", "transmission", standard.ieee118, "IEEE 118-bus (MATPOWER case118)"),
        CaseInfo("pegase1354", "transmission", standard.pegase1354, "PEGASE 1354-bus part of the European grid (MATPOWER case1354pegase)"),
        CaseInfo("ieee33", "distribution", standard.ieee33, "Baran-Wu 33-bus feeder, 12.66 kV (MATPOWER case33bw)"),
        CaseInfo("ieee13", "distribution", standard.ieee13, "IEEE 13-node feeder, balanced positive-sequence equivalent, 4.16 kV"),
        CaseInfo("ieee123", "distribution", standard.ieee123, "IEEE 123-node feeder, balanced positive-sequence equivalent, 4.16 kV"),
    ]
}
ALIASES = {"case9": "ieee9", "case14": "ieee14", "case118": "ieee118", "case33bw": "ieee33", "case_ieee30": "ieee30",
           "case1354pegase": "pegase1354"}

COUPLED: dict[str, CaseInfo] = {c.name: c for c in coupled_cases.CASES}

_TERM = re.compile(r"^(?P<feeder>.+?)@(?P<bus>[^x@+~\s]+)(?:x(?P<copies>\d+))?(?:~tap(?P<tap>\d*\.?\d+))?$")
_SCALE = re.compile(r"^(?P<n>\d+)x(?P<feeder>[A-Za-z_][\w\-]*)(?:~(?P<seed>\d+))?$")


def list_cases() -> list[CaseInfo]:
    return list(NETWORKS.values()) + list(COUPLED.values())


def _network(name: str) -> Network:
    key = ALIASES.get(name, name)
    if key not in NETWORKS:
        raise UnknownCaseError(
            f"unknown case {name!r}; built-in networks: {', '.join(NETWORKS)} (see `tdcoord cases`), "
            "or give a path to a .m / .json file"
        )
    return NETWORKS[key].build()


def _looks_like_path(name: str) -> bool:
    return any(name.lower().endswith(s) for s in (".m", ".json")) or "/" in name or "\\" in name


def _part(name: str, spec: str, role: str) -> Network:
    """A network of a coupled spec: a built-in name or a case file."""
    if not _looks_like_path(name):
        return _network(name)
    net = _read_file(Path(name))
    if not isinstance(net, Network):
        raise UnknownCaseError(f"coupled spec {spec!r}: {name!r} holds a coupled system, not a single network")
    if role == "feeder":
        net.kind = "distribution"  # a file says nothing of its role; attaching it checks that it is radial
        # its slack machine is the substation: an ext_grid, which the boundary transformer replaces when coupled
        slack = net.gen.index[net.gen.slack & net.gen.in_service]
        for g in slack:
            net.add_ext_grid(net.gen.at[g, "bus"], vm_pu=float(net.gen.at[g, "vm_pu"]), name="substation")
        if len(slack):
            net.gen = net.gen.drop(index=slack)
            net.note(f"slack machine(s) {', '.join(map(str, slack))} of the file taken as the substation (ext_grid)")
    return net


def build_coupled(spec: str) -> CoupledSystem:
    """A coupled system from ``T+F@BUS[xN][~tapT]+...`` built from plain cases or case files.

    T and each F are built-in names or paths to case files; ``xN`` hangs N
    copies; ``~tapT`` sets the substation (boundary) transformer's ratio at
    its HV side (e.g. ``~tap0.95``: a 5.3 % boost on the feeder side).
    """
    parts = [p.strip() for p in spec.split("+")]
    if len(parts) < 2 or not all(parts):
        raise UnknownCaseError(f"coupled spec {spec!r}: expected 'T+FEEDER@BUS[+FEEDER@BUS...]' or 'T+NxFEEDER[~SEED]'")
    m = _SCALE.match(parts[1]) if len(parts) == 2 else None
    if m:
        from tdcoord.cases.scale import build_scale_case

        return build_scale_case(parts[0], m.group("feeder"), int(m.group("n")), seed=int(m.group("seed") or 0))
    trans = _part(parts[0], spec, "transmission")
    if trans.kind != "transmission":
        raise UnknownCaseError(f"coupled spec {spec!r}: {parts[0]!r} is a {trans.kind} network, not a transmission network")
    cs = CoupledSystem(trans, name=spec)
    cache: dict[str, Network] = {}
    for term in parts[1:]:
        m = _TERM.match(term)
        if not m:
            raise UnknownCaseError(f"coupled spec {spec!r}: term {term!r} is not of the form FEEDER@BUS[xN][~tapT]")
        fname = m.group("feeder")
        if fname not in cache:
            feeder = _part(fname, spec, "feeder")
            if feeder.kind != "distribution":
                raise UnknownCaseError(f"coupled spec {spec!r}: {fname!r} is a {feeder.kind} network, not a feeder")
            cache[fname] = feeder
        copies = int(m.group("copies") or 1)
        if copies < 1:
            raise UnknownCaseError(f"coupled spec {spec!r}: term {term!r} asks for {copies} copies")
        tap = float(m.group("tap")) if m.group("tap") else 1.0
        if not 0.8 <= tap <= 1.2:
            raise UnknownCaseError(f"coupled spec {spec!r}: term {term!r}: tap {tap:g} is outside 0.8-1.2")
        for _ in range(copies):
            name = Path(fname).stem if _looks_like_path(fname) else None
            cs.attach(cache[fname].copy(), m.group("bus"), tap_pu=tap,
                      name=f"{name}@{m.group('bus')}" if name else None)
    return cs


def _read_file(path: Path) -> System:
    from tdcoord.io.json_io import read_json

    if not path.exists():
        raise UnknownCaseError(f"case file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".m":
        from tdcoord.io.matpower import read_matpower

        return read_matpower(path)
    if suffix == ".json":
        import json

        try:
            head = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            from tdcoord.errors import FileFormatError

            raise FileFormatError(f"{path}: not valid JSON ({exc})") from exc
        if isinstance(head, dict) and str(head.get("format", "")).startswith("tdcoord"):
            return read_json(path)
        from tdcoord.io.pandapower_io import read_pandapower_json

        return read_pandapower_json(path)
    raise UnknownCaseError(f"case file {str(path)!r}: unknown type {suffix!r}; expected .m or .json")


def case_info(spec: str) -> CaseInfo | None:
    """The description of a built-in coupled study system named by ``spec`` (``None`` for anything else)."""
    key = re.sub(r"\s+", "", spec.strip())
    key = coupled_cases.ALIASES.get(key, key)
    return COUPLED.get(key)


def load_case(spec: str) -> System:
    """A network or coupled system from a name, a coupled spec or a file path."""
    spec = spec.strip()
    key = re.sub(r"\s+", "", spec)
    if key in COUPLED:
        return COUPLED[key].build()
    if key in coupled_cases.ALIASES:
        return COUPLED[coupled_cases.ALIASES[key]].build()
    if "+" in key:
        return build_coupled(spec if _looks_like_path(spec) else key)
    if _looks_like_path(spec):
        return _read_file(Path(spec))
    return _network(key)
