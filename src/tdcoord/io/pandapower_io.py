"""pandapower nets to and from :class:`Network` / :class:`CoupledSystem`.

Export (``to_pandapower``) writes the same electrical model: lines with their
ohmic data (length 1 km), transformers with ``vn_hv_kv = tap * vn(from)`` so
that pandapower's off-nominal ratio equals ``tap_pu`` at the from side, and
short-circuit voltages on the transformer's own rating; capacitive
transformer charging (MATPOWER's pi model) becomes two shunts. Slack gens become
ext_grids (pandapower's reference sources carry the angle set-point), with
their limits and costs. SVG/STATCOM rows become static generators at their
reactive set-point. Compare with pandapower using ``trafo_model='pi'``.

Import (``from_pandapower``) reads bus, line, trafo, ext_grid, gen, load,
sgen and shunt tables (and bus-line/bus-trafo switches). Elements tdcoord
cannot represent exactly (3-winding transformers, impedances, wards, DC
lines, storage, voltage-dependent loads, bus-bus switches) are refused with
an error naming the table, never dropped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.errors import FileFormatError, InputError
from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network

BIG_I_KA = 1e6


def _pp():
    import pandapower as pp  # heavy import, only where used

    return pp


def to_pandapower(system: Network | CoupledSystem, *, with_costs: bool = False) -> Any:
    """A pandapower net of a Network, or of the merged network of a CoupledSystem."""
    pp = _pp()
    net = system.merge().network if isinstance(system, CoupledSystem) else system
    p = pp.create_empty_network(name=net.name, f_hz=net.f_hz, sn_mva=net.sn_mva)
    bus = net.bus
    idx = pp.create_buses(
        p, len(bus), vn_kv=bus.vn_kv.to_numpy(), name=list(bus.index), in_service=bus.in_service.to_numpy(),
        min_vm_pu=bus.vm_min_pu.to_numpy(), max_vm_pu=bus.vm_max_pu.to_numpy(),
    )
    pos = dict(zip(bus.index, idx))
    vn = bus.vn_kv
    ln = net.line
    for i, r in ln.iterrows():
        rate = r.rate_mva
        rated = bool(np.isfinite(rate) and rate > 0)
        max_i = rate / (math.sqrt(3) * vn[r.from_bus]) if rated else BIG_I_KA
        # pandapower's OPF reads max_loading_percent = 0 as "no limit"
        pp.create_line_from_parameters(
            p, pos[r.from_bus], pos[r.to_bus], length_km=1.0, r_ohm_per_km=r.r_ohm, x_ohm_per_km=r.x_ohm,
            c_nf_per_km=r.b_us * 1e3 / (2 * math.pi * net.f_hz), max_i_ka=max_i, in_service=bool(r.in_service),
            name=str(i), max_loading_percent=100.0 if rated else 0.0,
        )
    for i, r in net.trafo.iterrows():
        g_m, b_m = r.g_pu, r.b_pu
        if r.b_pu > 0 or r.g_pu < 0:
            # charging (capacitive) in MATPOWER's pi model: half at each end, the tap
            # side's half seen through the ratio; written as two exact shunts
            for b_at, scale in ((r.from_bus, 1.0 / r.tap_pu**2), (r.to_bus, 1.0)):
                pp.create_shunt(p, pos[b_at], q_mvar=-r.b_pu * r.sn_mva / 2 * scale, p_mw=r.g_pu * r.sn_mva / 2 * scale,
                                in_service=bool(r.in_service), name=f"trafo {i} pi-model shunt")
            g_m, b_m = 0.0, 0.0
        z = math.hypot(r.r_pu, r.x_pu)
        if r.x_pu < 0:
            raise InputError(f"trafo {i}: negative reactance x_pu = {r.x_pu} cannot be written as a pandapower transformer")
        ym = math.hypot(g_m, b_m)
        pp.create_transformer_from_parameters(
            p, pos[r.from_bus], pos[r.to_bus], sn_mva=r.sn_mva, vn_hv_kv=r.tap_pu * vn[r.from_bus],
            vn_lv_kv=vn[r.to_bus], vkr_percent=100 * r.r_pu, vk_percent=100 * z, pfe_kw=1e3 * g_m * r.sn_mva,
            i0_percent=100 * ym, shift_degree=r.shift_deg, in_service=bool(r.in_service), name=str(i),
            # loading is relative to sn_mva in pandapower; our rating is rate_mva
            max_loading_percent=100.0 * r.rate_mva / r.sn_mva if np.isfinite(r.rate_mva) and r.rate_mva > 0 else 0.0,
        )
    for i, r in net.ext_grid.iterrows():
        pp.create_ext_grid(p, pos[r.bus], vm_pu=r.vm_pu, va_degree=r.va_deg, in_service=bool(r.in_service), name=str(i))
    for i, r in net.gen.iterrows():
        kw = dict(min_q_mvar=r.q_min_mvar, max_q_mvar=r.q_max_mvar, min_p_mw=r.p_min_mw, max_p_mw=r.p_max_mw,
                  in_service=bool(r.in_service), name=str(i))
        if r.slack:
            e = pp.create_ext_grid(p, pos[r.bus], vm_pu=r.vm_pu, va_degree=r.va_deg, controllable=True, **kw)
            if with_costs:
                pp.create_poly_cost(p, e, "ext_grid", cp1_eur_per_mw=r.cost_c1, cp2_eur_per_mw2=r.cost_c2, cp0_eur=r.cost_c0)
        else:
            g = pp.create_gen(p, pos[r.bus], p_mw=r.p_mw, vm_pu=r.vm_pu, controllable=True, **kw)
            if with_costs:
                pp.create_poly_cost(p, g, "gen", cp1_eur_per_mw=r.cost_c1, cp2_eur_per_mw2=r.cost_c2, cp0_eur=r.cost_c0)
    for i, r in net.load.iterrows():
        pp.create_load(p, pos[r.bus], p_mw=r.p_mw, q_mvar=r.q_mvar, in_service=bool(r.in_service), name=str(i))
    for i, r in net.shunt.iterrows():
        pp.create_shunt(p, pos[r.bus], q_mvar=-r.bs_mvar, p_mw=r.gs_mw, step=int(r.step), max_step=int(r.max_step),
                        in_service=bool(r.in_service), name=str(i))
    for i, r in net.sgen.iterrows():
        pp.create_sgen(p, pos[r.bus], p_mw=r.p_mw, q_mvar=r.q_mvar, in_service=bool(r.in_service), name=f"sgen {i}")
    for i, r in net.svc.iterrows():
        pp.create_sgen(p, pos[r.bus], p_mw=0.0, q_mvar=r.q_mvar, in_service=bool(r.in_service), name=f"svc {i}")
    return p


_UNSUPPORTED = ("trafo3w", "impedance", "ward", "xward", "dcline", "storage", "motor", "asymmetric_load",
                "asymmetric_sgen", "svc", "tcsc", "ssc", "vsc")


def from_pandapower(p: Any, name: str | None = None, kind: str = "transmission") -> Network:
    """A Network of a pandapower net (bus labels are the pandapower bus indices)."""
    for table in _UNSUPPORTED:
        df = getattr(p, table, None) if table in p else None
        if df is not None and len(df) and (("in_service" not in df) or df.in_service.any()):
            raise FileFormatError(f"pandapower net: table {table!r} ({len(df)} rows) cannot be represented in tdcoord")
    net = Network(name=name or (p.name or "pandapower"), sn_mva=float(p.sn_mva), f_hz=float(p.f_hz), kind=kind,
                  source="pandapower")
    b = p.bus
    label = {i: str(i) for i in b.index}
    net.add("bus", {
        "vn_kv": b.vn_kv.to_numpy(float),
        "vm_min_pu": b.min_vm_pu.fillna(0.9).to_numpy(float) if "min_vm_pu" in b else np.full(len(b), 0.9),
        "vm_max_pu": b.max_vm_pu.fillna(1.1).to_numpy(float) if "max_vm_pu" in b else np.full(len(b), 1.1),
        "in_service": b.in_service.to_numpy(bool),
        "name": [str(x) if x is not None else "" for x in b.name],
    }, index=[label[i] for i in b.index])
    line_open, trafo_open = set(), set()
    sw = p.switch if "switch" in p else pd.DataFrame()
    for i, s in sw.iterrows():
        if s.et == "b":
            if s.closed:
                raise FileFormatError(f"pandapower switch {i}: closed bus-bus switches are not supported (merge the buses)")
            continue
        if not s.closed:
            (line_open if s.et == "l" else trafo_open).add(int(s.element))
    ln = p.line
    if len(ln):
        if "g_us_per_km" in ln and (ln.g_us_per_km != 0).any():
            raise FileFormatError("pandapower line: shunt conductance g_us_per_km is not supported")
        length, par = ln.length_km.to_numpy(float), ln.parallel.to_numpy(float)
        vn = b.vn_kv.reindex(ln.from_bus).to_numpy(float)
        rate = np.sqrt(3) * vn * ln.max_i_ka.to_numpy(float) * par * ln.df.to_numpy(float)
        net.add("line", {
            "from_bus": [label[i] for i in ln.from_bus], "to_bus": [label[i] for i in ln.to_bus],
            "r_ohm": ln.r_ohm_per_km.to_numpy(float) * length / par,
            "x_ohm": ln.x_ohm_per_km.to_numpy(float) * length / par,
            "b_us": 2 * math.pi * p.f_hz * ln.c_nf_per_km.to_numpy(float) * 1e-3 * length * par,
            "rate_mva": np.where(rate > 1e5, np.nan, rate),
            "in_service": ln.in_service.to_numpy(bool) & ~ln.index.isin(line_open),
            "name": [str(x) if x is not None else "" for x in ln.name],
        })
    tr = p.trafo
    if len(tr):
        vn_hv_bus = b.vn_kv.reindex(tr.hv_bus).to_numpy(float)
        vn_lv_bus = b.vn_kv.reindex(tr.lv_bus).to_numpy(float)
        ratio = (tr.vn_hv_kv.to_numpy(float) / vn_hv_bus) / (tr.vn_lv_kv.to_numpy(float) / vn_lv_bus)
        step = tr.tap_step_percent.fillna(0).to_numpy(float) / 100 * (tr.tap_pos.fillna(0) - tr.tap_neutral.fillna(0)).to_numpy(float)
        side = tr.tap_side.fillna("hv").to_numpy()
        ratio = np.where(side == "lv", ratio / (1 + step), ratio * (1 + step))
        if "tap_step_degree" in tr and (tr.tap_step_degree.fillna(0) != 0).any():
            raise FileFormatError("pandapower trafo: phase-shifting tap changers (tap_step_degree) are not supported")
        zref = (tr.vn_lv_kv.to_numpy(float) / vn_lv_bus) ** 2
        sn = tr.sn_mva.to_numpy(float) * tr.parallel.to_numpy(float)
        r = tr.vkr_percent.to_numpy(float) / 100 * zref
        z = tr.vk_percent.to_numpy(float) / 100 * zref
        g = tr.pfe_kw.to_numpy(float) / 1e3 / tr.sn_mva.to_numpy(float) / zref
        ym = tr.i0_percent.to_numpy(float) / 100 / zref
        bm = -np.sqrt(np.maximum(ym**2 - g**2, 0.0))
        net.add("trafo", {
            "from_bus": [label[i] for i in tr.hv_bus], "to_bus": [label[i] for i in tr.lv_bus], "sn_mva": sn,
            "r_pu": r, "x_pu": np.sqrt(np.maximum(z**2 - r**2, 0.0)), "g_pu": g, "b_pu": bm,
            "tap_pu": ratio, "shift_deg": tr.shift_degree.to_numpy(float),
            "in_service": tr.in_service.to_numpy(bool) & ~tr.index.isin(trafo_open),
            "name": [str(x) if x is not None else "" for x in tr.name],
        })
    for i, e in p.ext_grid.iterrows():
        net.add_ext_grid(label[e.bus], vm_pu=e.vm_pu, va_deg=e.va_degree, in_service=bool(e.in_service))
    g = p.gen
    if len(g):
        net.add("gen", {
            "bus": [label[i] for i in g.bus], "p_mw": (g.p_mw * g.scaling).to_numpy(float), "vm_pu": g.vm_pu.to_numpy(float),
            "q_min_mvar": g.min_q_mvar.fillna(-1e9).to_numpy(float) if "min_q_mvar" in g else np.full(len(g), -1e9),
            "q_max_mvar": g.max_q_mvar.fillna(1e9).to_numpy(float) if "max_q_mvar" in g else np.full(len(g), 1e9),
            "slack": g.slack.to_numpy(bool), "in_service": g.in_service.to_numpy(bool),
        })
    ld = p.load
    if len(ld):
        for col in ("const_z_percent", "const_i_percent", "const_z_p_percent", "const_i_p_percent", "const_z_q_percent", "const_i_q_percent"):
            if col in ld and (ld[col].fillna(0) != 0).any():
                raise FileFormatError(f"pandapower load: voltage-dependent loads ({col}) are not supported; tdcoord loads are constant power")
        net.add("load", {"bus": [label[i] for i in ld.bus], "p_mw": (ld.p_mw * ld.scaling).to_numpy(float),
                         "q_mvar": (ld.q_mvar * ld.scaling).to_numpy(float), "in_service": ld.in_service.to_numpy(bool)})
    sg = p.sgen
    if len(sg):
        net.add("sgen", {"bus": [label[i] for i in sg.bus], "p_mw": (sg.p_mw * sg.scaling).to_numpy(float),
                         "q_mvar": (sg.q_mvar * sg.scaling).to_numpy(float), "in_service": sg.in_service.to_numpy(bool)})
    sh = p.shunt
    if len(sh):
        vr = (sh.vn_kv / b.vn_kv.reindex(sh.bus).to_numpy()).to_numpy(float) if "vn_kv" in sh else np.ones(len(sh))
        net.add("shunt", {"bus": [label[i] for i in sh.bus], "gs_mw": sh.p_mw.to_numpy(float) / vr**2,
                          "bs_mvar": -sh.q_mvar.to_numpy(float) / vr**2, "step": sh.step.to_numpy(int),
                          "max_step": np.maximum(sh.max_step.to_numpy(int), sh.step.to_numpy(int)),
                          "in_service": sh.in_service.to_numpy(bool)})
    return net


def read_pandapower_json(path: str | Path) -> Network:
    pp = _pp()
    try:
        p = pp.from_json(str(path))
    except Exception as exc:  # pandapower raises many kinds
        raise FileFormatError(f"{path}: not a pandapower JSON file ({type(exc).__name__}: {exc})") from exc
    return from_pandapower(p, name=Path(path).stem)
