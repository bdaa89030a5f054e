"""Standard test networks, read from the data files in ``cases/data``.

Every change to the source data is recorded in the network's ``notes`` and
listed here:

- ``ieee9``: MATPOWER ``case9`` (WSCC 9-bus), unmodified.
- ``ieee14``: MATPOWER ``case14``, whose buses carry no nominal voltage
  (baseKV 0). Nominal voltages are assigned from the IEEE 14-bus one-line
  diagram: buses 1-5 at 135 kV (the HV system, as pandapower's case14 does),
  bus 7 (transformer star point) 14 kV, bus 8 (synchronous condenser terminal)
  12 kV, the LV system (buses 6 and 9-14) 33 kV. Per-unit results do not
  depend on this choice; it gives the ohmic line data and the boundary
  transformers of attached feeders a physical voltage.
- ``ieee30``: MATPOWER ``case_ieee30`` (the IEEE 30-bus test case as
  published). The machines at buses 5, 8, 11 and 13 are synchronous
  condensers in the original data (no active power); they are marked
  ``kind='condenser'`` with ``p_max_mw = 0``.
- ``case30``: MATPOWER ``case30`` (Alsac-Stott), unmodified; used for OPF.
- ``ieee118``: MATPOWER ``case118``, unmodified.
- ``pegase1354``: MATPOWER ``case1354pegase`` (part of the European 380/220
  kV grid, fictitious data from the PEGASE project), unmodified.
- ``ieee33``: Baran-Wu 33-bus feeder from MATPOWER ``case33bw``. MATPOWER's
  file gives r, x in ohm and loads in kW/kvar and converts them with MATLAB
  code; the bundled copy holds the converted numbers (p.u., MW) as plain
  data, so that it loads as a case file too, and tdcoord turns r, x back
  into ohm (its own unit; Baran and Wu's values to the last bit). The source's
  generator at bus 1 becomes an ``ext_grid`` (1.0 p.u.); bus 1's voltage
  limits (1.0/1.0 in the file, as a slack) are widened to 0.9-1.1 because
  it becomes an ordinary bus behind a boundary transformer when coupled.
  The five tie switches (branches 33-37, open in the source) are kept as
  out-of-service lines.
- ``ieee13``, ``ieee123``: balanced positive-sequence equivalents of the IEEE
  PES test feeders converted from OpenDSS (see ``data/FEEDERS.md``).
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from tdcoord.io.matpower import network_from_matpower, parse_matpower
from tdcoord.network.network import Network


def data_path(name: str):
    return resources.files("tdcoord.cases") / "data" / name


def _matpower(file: str, name: str, default_vn_kv: float = 1.0) -> Network:
    path = data_path(file)
    data = parse_matpower(path.read_text(), source=file)
    net = network_from_matpower(data, name=name, source=f"MATPOWER {file}", default_vn_kv=default_vn_kv)
    net.notes = [n for n in net.notes if not n.startswith("baseKV 0")]
    return net


def ieee9() -> Network:
    return _matpower("case9.m", "ieee9")


def ieee14() -> Network:
    net = _matpower("case14.m", "ieee14")
    kv = {str(b): 135.0 for b in range(1, 6)}
    kv.update({"7": 14.0, "8": 12.0})
    kv.update({str(b): 33.0 for b in (6, 9, 10, 11, 12, 13, 14)})
    # the reader converted lines with 1 kV; rescale their ohmic values
    old = net.bus.vn_kv.copy()
    net.bus["vn_kv"] = [kv[b] for b in net.bus.index]
    scale = (net.bus.vn_kv.reindex(net.line.from_bus).to_numpy() / old.reindex(net.line.from_bus).to_numpy()) ** 2
    net.line["r_ohm"] *= scale
    net.line["x_ohm"] *= scale
    net.line["b_us"] /= scale
    # the reader made branches between buses of equal (zero) baseKV lines; those that
    # now join different voltage levels become transformers with nominal ratio
    _lines_between_levels_to_trafos(net)
    net.note("nominal voltages assigned (source has baseKV 0): buses 1-5 135 kV, 7 14 kV, 8 12 kV, 6 and 9-14 33 kV")
    return net


def _lines_between_levels_to_trafos(net: Network) -> None:
    vf = net.bus.vn_kv.reindex(net.line.from_bus).to_numpy()
    vt = net.bus.vn_kv.reindex(net.line.to_bus).to_numpy()
    cross = np.abs(vf - vt) > 1e-9
    if not cross.any():
        return
    rows = net.line[cross]
    zb = vf[cross] ** 2 / net.sn_mva
    net.line = net.line[~cross]
    net.add(
        "trafo",
        {
            "from_bus": list(rows.from_bus),
            "to_bus": list(rows.to_bus),
            "sn_mva": np.full(len(rows), net.sn_mva),
            "r_pu": rows.r_ohm.to_numpy() / zb,
            "x_pu": rows.x_ohm.to_numpy() / zb,
            "b_pu": rows.b_us.to_numpy() * 1e-6 * zb,
            "rate_mva": rows.rate_mva.to_numpy(),
            "ang_min_deg": rows.ang_min_deg.to_numpy(),
            "ang_max_deg": rows.ang_max_deg.to_numpy(),
            "in_service": rows.in_service.to_numpy(),
            "name": list(rows.name),
        },
    )


def ieee30() -> Network:
    net = _matpower("case_ieee30.m", "ieee30")
    cond = net.gen.bus.isin(["5", "8", "11", "13"])
    net.gen.loc[cond, "kind"] = "condenser"
    net.gen.loc[cond, "p_max_mw"] = 0.0
    net.gen.loc[cond, "p_min_mw"] = 0.0
    net.note("machines at buses 5, 8, 11, 13 are synchronous condensers (original IEEE data): kind='condenser', p_max_mw=0")
    return net


def case30() -> Network:
    return _matpower("case30.m", "case30")


def ieee118() -> Network:
    return _matpower("case118.m", "ieee118")


def pegase1354() -> Network:
    return _matpower("case1354pegase.m", "pegase1354")


def ieee33() -> Network:
    data = parse_matpower(data_path("case33bw.m").read_text(), source="case33bw.m")
    bus, br = data["bus"], data["branch"]
    z_base = float(bus[0, 9]) ** 2 / float(data["baseMVA"])  # ohm: the file's r, x are p.u. of 12.66 kV, 10 MVA
    net = Network(name="ieee33", sn_mva=float(data["baseMVA"]), f_hz=50.0, kind="distribution",
                  source="MATPOWER case33bw.m (Baran & Wu 1989)")
    labels = [str(int(b)) for b in bus[:, 0]]
    net.add("bus", {"vn_kv": bus[:, 9], "vm_min_pu": np.full(len(bus), 0.9), "vm_max_pu": np.full(len(bus), 1.1)}, index=labels)
    has = bus[:, 2] != 0
    net.add("load", {"bus": np.array(labels, dtype=object)[has], "p_mw": bus[has, 2], "q_mvar": bus[has, 3]})
    net.add(
        "line",
        {
            "from_bus": [str(int(b)) for b in br[:, 0]],
            "to_bus": [str(int(b)) for b in br[:, 1]],
            "r_ohm": br[:, 2] * z_base,
            "x_ohm": br[:, 3] * z_base,
            "in_service": br[:, 10] > 0,
            "name": [f"branch {i + 1}" + (" (tie switch)" if br[i, 10] == 0 else "") for i in range(len(br))],
        },
    )
    net.add_ext_grid("1", vm_pu=1.0, name="substation")
    net.note("source generator at bus 1 replaced by an ext_grid at 1.0 p.u.")
    net.note("bus 1 voltage limits widened from 1.0/1.0 (slack in the source) to 0.9/1.1")
    net.note("r, x in ohm (Baran and Wu's values; the file holds them in p.u.); tie switches 33-37 kept open")
    return net


def ieee13() -> Network:
    from tdcoord.io.json_io import read_json

    return read_json(data_path("ieee13.json"))


def ieee123() -> Network:
    from tdcoord.io.json_io import read_json

    return read_json(data_path("ieee123.json"))
