"""Rebuild an optimized T-D operating point in pandapower from tdcoord's output files alone.

Usage::

    tdcoord run --out tdcoord-out
    python docs/rebuild_in_pandapower.py tdcoord-out centralized

Reads ``system.json`` (the coupled system studied, tdcoord JSON) and the
strategy's result tables in ``summary.json`` (pandas ``orient="split"``),
builds one pandapower network of the grid and its feeders at the strategy's
set-points (machines' P and voltages, reactive injections of inverters and
SVGs/STATCOMs, capacitor steps, transformer taps), runs pandapower's
Newton power flow and prints how far its voltages, slack output and losses
are from what tdcoord reported. It uses pandapower and the standard library
only: no tdcoord.

Models (those of tdcoord JSON, see ``tdcoord.network.schema``):

- lines: ``r_ohm``, ``x_ohm`` (whole line), ``b_us`` (total charging, uS);
- transformers and the feeders' boundary transformers: ideal transformer of
  ratio ``tap_pu`` at the from (HV) side, series ``r_pu + j x_pu`` on
  ``sn_mva`` at the other: a pandapower transformer with ``vn_hv_kv`` =
  ``tap_pu`` x the HV bus's nominal voltage and ``vk``/``vkr`` from the
  series impedance. Magnetizing admittance (``g_pu``, ``b_pu``) is not
  translated: the script refuses a transformer that has one;
- a feeder's own ``ext_grid`` is replaced by its boundary transformer;
- shunts: ``bs_mvar`` and ``gs_mw`` per step at 1 p.u., times the step.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandapower as pp


def _table(d: dict | None) -> list[dict]:
    """Rows of a tdcoord JSON table ({"index": [...], "columns": {col: [...]}}), each with its index."""
    if not d or not d.get("index"):
        return []
    cols = d["columns"]
    return [{"index": i, **{c: v[k] for c, v in cols.items()}} for k, i in enumerate(d["index"])]


def _split(d: dict | None) -> dict:
    """A result table in pandas orient="split" as {index: {column: value}}."""
    if not d:
        return {}
    return {i: dict(zip(d["columns"], row)) for i, row in zip(d["index"], d["data"])}


def _num(v, default: float = 0.0) -> float:
    return default if v is None else float(v)


def rebuild(folder: str | Path, strategy: str = "centralized"):
    """(pandapower net, the strategy's summary, bus label of every pandapower bus) at the strategy's point."""
    folder = Path(folder)
    system = json.loads((folder / "system.json").read_text())
    report = json.loads((folder / "summary.json").read_text())["strategies"][strategy]
    res = report["tables"]
    grid = system["transmission"]
    net = pp.create_empty_network(sn_mva=grid["sn_mva"], f_hz=grid["f_hz"])
    buses: dict[str, int] = {}
    vn: dict[str, float] = {}

    def add_network(data: dict, prefix: str, feeder: bool) -> None:
        t = data["tables"]
        key = (lambda name: f"{prefix}:{name}") if prefix else (lambda name: name)
        r = {name: _split(res.get(key(name))) for name in ("res_gen", "res_sgen", "res_svc", "res_shunt", "res_trafo")}
        label = (lambda b: f"{prefix}:{b}") if prefix else str
        for row in _table(t.get("bus")):
            if row["in_service"]:
                lab = label(row["index"])
                buses[lab] = pp.create_bus(net, vn_kv=row["vn_kv"], name=lab)
                vn[lab] = row["vn_kv"]
        live = lambda row, *cols: row["in_service"] and all(label(row[c]) in buses for c in cols)  # noqa: E731
        omega = 2 * math.pi * data["f_hz"]
        for row in _table(t.get("line")):
            if live(row, "from_bus", "to_bus"):
                pp.create_line_from_parameters(
                    net, buses[label(row["from_bus"])], buses[label(row["to_bus"])], length_km=1.0,
                    r_ohm_per_km=row["r_ohm"], x_ohm_per_km=row["x_ohm"],
                    c_nf_per_km=_num(row["b_us"]) / omega * 1e3, max_i_ka=1e6, name=str(row["index"]))
        for row in _table(t.get("trafo")):
            if live(row, "from_bus", "to_bus"):
                if _num(row["g_pu"]) or _num(row["b_pu"]):
                    raise ValueError(f"trafo {row['index']}: magnetizing admittance is not translated by this script")
                tap = r["res_trafo"].get(row["index"], {}).get("tap_pu", row["tap_pu"])
                _trafo(net, buses, vn, label(row["from_bus"]), label(row["to_bus"]), row["sn_mva"], row["r_pu"],
                       row["x_pu"], tap, _num(row["shift_deg"]), str(row["index"]))
        for row in _table(t.get("load")):
            if live(row, "bus"):
                pp.create_load(net, buses[label(row["bus"])], p_mw=row["p_mw"], q_mvar=row["q_mvar"])
        for row in _table(t.get("gen")):
            if live(row, "bus"):
                g = r["res_gen"][row["index"]]
                if row["slack"]:
                    pp.create_ext_grid(net, buses[label(row["bus"])], vm_pu=g["vm_pu"], va_degree=_num(row["va_deg"]),
                                       name=f"gen {row['index']}")
                else:
                    pp.create_gen(net, buses[label(row["bus"])], p_mw=g["p_mw"], vm_pu=g["vm_pu"],
                                  name=f"gen {row['index']}")
        if not feeder:
            for row in _table(t.get("ext_grid")):
                if live(row, "bus"):
                    g = _split(res.get("res_ext_grid")).get(row["index"], {})
                    pp.create_ext_grid(net, buses[label(row["bus"])], vm_pu=g.get("vm_pu", row["vm_pu"]),
                                       va_degree=_num(row["va_deg"]))
        for row in _table(t.get("sgen")):
            if live(row, "bus"):
                s = r["res_sgen"][row["index"]]
                pp.create_sgen(net, buses[label(row["bus"])], p_mw=s["p_mw"], q_mvar=s["q_mvar"])
        for row in _table(t.get("svc")):
            if live(row, "bus"):
                pp.create_sgen(net, buses[label(row["bus"])], p_mw=0.0, q_mvar=r["res_svc"][row["index"]]["q_mvar"])
        for row in _table(t.get("shunt")):
            if live(row, "bus"):
                step = r["res_shunt"].get(row["index"], {}).get("step", row["step"])
                pp.create_shunt(net, buses[label(row["bus"])], q_mvar=-_num(row["bs_mvar"]) * step,
                                p_mw=_num(row["gs_mw"]) * step)

    add_network(grid, "", feeder=False)
    for f in system["feeders"]:
        add_network(f["network"], f["name"], feeder=True)
        if f["in_service"]:
            _trafo(net, buses, vn, str(f["bus"]), f"{f['name']}:{f['root']}", f["sn_mva"], f["r_pu"], f["x_pu"],
                   f["tap_pu"], 0.0, f"boundary {f['name']}")
    for row in _table(system.get("ties")):
        raise ValueError(f"tie line {row['index']}: ties are not translated by this script")
    return net, report, {i: lab for lab, i in buses.items()}


def _trafo(net, buses, vn, hv: str, lv: str, sn_mva: float, r_pu: float, x_pu: float, tap: float, shift: float,
           name: str) -> None:
    pp.create_transformer_from_parameters(
        net, buses[hv], buses[lv], sn_mva=sn_mva, vn_hv_kv=vn[hv] * tap, vn_lv_kv=vn[lv],
        vkr_percent=100 * r_pu, vk_percent=100 * math.hypot(r_pu, x_pu), pfe_kw=0.0, i0_percent=0.0,
        shift_degree=shift, name=name)


def compare(folder: str | Path, strategy: str = "centralized") -> dict[str, float]:
    """Solve the rebuilt network; the largest differences from tdcoord's report."""
    net, report, label = rebuild(folder, strategy)
    pp.runpp(net, calculate_voltage_angles=True, init="flat", tolerance_mva=1e-10, trafo_model="pi")
    res = report["tables"]
    vm, va = {}, {}
    for key, table in res.items():
        if key == "res_bus" or key.endswith(":res_bus"):
            prefix = key[: -len("res_bus")]
            for b, row in _split(table).items():
                vm[f"{prefix}{b}"], va[f"{prefix}{b}"] = row["vm_pu"], row["va_degree"]
    pp_vm = {label[i]: v for i, v in net.res_bus.vm_pu.items()}
    pp_va = {label[i]: v for i, v in net.res_bus.va_degree.items()}
    generation = net.res_gen.p_mw.sum() + net.res_ext_grid.p_mw.sum() + net.res_sgen.p_mw.sum()
    losses = net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum() + net.res_shunt.p_mw.sum()
    reported_slack = sum(row["p_mw"] for g, row in _split(res["res_gen"]).items() if f"gen {g}" in set(net.ext_grid.name))
    return {
        "dvm_pu": max(abs(pp_vm[b] - vm[b]) for b in pp_vm),
        "dva_deg": max(abs(pp_va[b] - va[b]) for b in pp_va),
        "slack_p_mw": abs(net.res_ext_grid.p_mw.sum() - reported_slack),
        "balance_mw": abs(generation - net.res_load.p_mw.sum() - losses),
        "losses_mw": abs(losses - report["p_loss_mw"]),
    }


if __name__ == "__main__":
    folder, strategy = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "centralized")
    for k, v in compare(folder, strategy).items():
        print(f"{k:12s} {v:.2e}")
