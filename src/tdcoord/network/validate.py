"""Checks that a :class:`Network` describes a grid that can be computed.

Every failure raises a :class:`~tdcoord.errors.TdcoordError` subclass naming
the element, the field and what was expected. Nothing is clipped or dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tdcoord.errors import IslandError, RadialityError, SchemaError, TopologyError, UnknownBusError
from tdcoord.network.network import Network, element_id, shown
from tdcoord.network.schema import BUS_REF_FIELDS
from tdcoord.network.topology import components, first_loop_branch

LINE_KV_TOLERANCE = 0.01
"""Relative difference of the end buses' nominal voltages tolerated on a line."""


def _first(mask: pd.Series) -> object:
    return mask.index[mask.to_numpy()][0]


def _check(df: pd.DataFrame, table: str, mask: pd.Series, field: str, expected: str) -> None:
    if mask.any():
        idx = _first(mask)
        raise SchemaError(f"{element_id(table, idx)}: field '{field}' = {shown(df.at[idx, field])}; expected {expected}")


def check_references(net: Network) -> None:
    buses = set(net.bus.index)
    for table, fields in BUS_REF_FIELDS.items():
        df = getattr(net, table)
        for field in fields:
            missing = ~df[field].isin(buses)
            if missing.any():
                idx = _first(missing)
                raise UnknownBusError(
                    f"{element_id(table, idx)}: field '{field}' refers to bus {df.at[idx, field]!r}, "
                    f"which is not in network {net.name!r}"
                )


def check_finite(net: Network) -> None:
    """Every number that has no 'not given' meaning (a default that is not NaN) is a number, and finite unless it is
    a limit (``*_min_*``, ``*_max_*``: an infinite limit is no limit)."""
    from tdcoord.network.schema import REQUIRED, TABLES

    for table, cols in TABLES.items():
        df = getattr(net, table)
        if not len(df):
            continue
        for c in cols:
            if c.kind != "float" or (c.default is not REQUIRED and not np.isfinite(c.default)):
                continue
            values = df[c.name].to_numpy(float)
            limit = "_min_" in c.name or "_max_" in c.name
            bad = np.isnan(values) if limit else ~np.isfinite(values)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise SchemaError(f"{element_id(table, df.index[k])}: field '{c.name}' must be a finite number "
                                  f"({c.doc}), got {float(values[k]):g}")


def check_values(net: Network) -> None:
    check_finite(net)
    b = net.bus
    _check(b, "bus", ~(b.vn_kv > 0), "vn_kv", "a nominal voltage > 0 kV")
    inv = b.vm_min_pu > b.vm_max_pu
    if inv.any():
        idx = _first(inv)
        raise SchemaError(
            f"{element_id('bus', idx)}: voltage limits inverted: vm_min_pu = {b.at[idx, 'vm_min_pu']} "
            f"> vm_max_pu = {b.at[idx, 'vm_max_pu']}"
        )
    _check(b, "bus", ~(b.vm_min_pu >= 0), "vm_min_pu", "a lower voltage limit >= 0 p.u.")

    ln = net.line
    _check(ln, "line", ~(ln.r_ohm >= 0), "r_ohm", "a resistance >= 0 ohm")
    _check(ln, "line", (ln.r_ohm == 0) & (ln.x_ohm == 0), "x_ohm", "a non-zero impedance (r_ohm and x_ohm are both 0)")
    _check(ln, "line", ln.from_bus == ln.to_bus, "to_bus", "a bus other than from_bus")
    if len(ln):
        vf = b.vn_kv.reindex(ln.from_bus).to_numpy()
        vt = b.vn_kv.reindex(ln.to_bus).to_numpy()
        bad = pd.Series(np.abs(vf - vt) > LINE_KV_TOLERANCE * np.maximum(vf, vt), index=ln.index)
        if bad.any():
            idx = _first(bad)
            raise SchemaError(
                f"{element_id('line', idx)}: connects bus {ln.at[idx, 'from_bus']!r} ({vf[ln.index.get_loc(idx)]} kV) "
                f"and bus {ln.at[idx, 'to_bus']!r} ({vt[ln.index.get_loc(idx)]} kV); "
                "expected equal nominal voltages (use a trafo between voltage levels)"
            )

    tr = net.trafo
    _check(tr, "trafo", ~(tr.sn_mva > 0), "sn_mva", "a rating > 0 MVA")
    _check(tr, "trafo", ~(tr.r_pu >= 0), "r_pu", "a resistance >= 0 p.u.")
    _check(tr, "trafo", (tr.r_pu == 0) & (tr.x_pu == 0), "x_pu", "a non-zero impedance (r_pu and x_pu are both 0)")
    _check(tr, "trafo", ~(tr.tap_pu > 0), "tap_pu", "a turns ratio > 0 p.u.")
    _check(tr, "trafo", tr.from_bus == tr.to_bus, "to_bus", "a bus other than from_bus")
    oltc = tr.tap_min_pu.notna() | tr.tap_max_pu.notna()
    _check(tr, "trafo", oltc & ~(tr.tap_min_pu <= tr.tap_max_pu), "tap_max_pu", "tap_min_pu <= tap_max_pu, both given")
    _check(tr, "trafo", oltc & ~((tr.tap_pu >= tr.tap_min_pu - 1e-12) & (tr.tap_pu <= tr.tap_max_pu + 1e-12)),
           "tap_pu", "a tap within [tap_min_pu, tap_max_pu]")

    g = net.gen
    _check(g, "gen", g.q_min_mvar > g.q_max_mvar, "q_min_mvar", "q_min_mvar <= q_max_mvar")
    _check(g, "gen", g.p_min_mw > g.p_max_mw, "p_min_mw", "p_min_mw <= p_max_mw")
    _check(g, "gen", ~(g.vm_pu > 0), "vm_pu", "a voltage set-point > 0 p.u.")
    # pv / wind: a dispatchable (curtailable) renewable plant, p within [p_min, available p_max]
    _check(g, "gen", ~g.kind.isin(["thermal", "hydro", "condenser", "pv", "wind"]), "kind",
           "'thermal', 'hydro', 'condenser', 'pv' or 'wind'")
    e = net.ext_grid
    _check(e, "ext_grid", ~(e.vm_pu > 0), "vm_pu", "a voltage set-point > 0 p.u.")
    sh = net.shunt
    _check(sh, "shunt", (sh.step < 0) | (sh.step > sh.max_step), "step", "0 <= step <= max_step")
    s = net.sgen
    _check(s, "sgen", s.sn_mva.notna() & ~(s.sn_mva > 0), "sn_mva", "a rating > 0 MVA or NaN")
    _check(s, "sgen", s.sn_mva.notna() & (s.p_mw.abs() > s.sn_mva * (1 + 1e-9)), "p_mw", "|p_mw| <= sn_mva")
    _check(s, "sgen", s.p_max_mw.notna() & ~(s.p_max_mw >= 0), "p_max_mw", "an installed power >= 0 MW or NaN")
    _check(s, "sgen", s.pf_min.notna() & ~((s.pf_min > 0) & (s.pf_min <= 1)), "pf_min", "a power factor in (0, 1]")
    _check(s, "sgen", ~s.kind.isin(["wind", "pv", "dg"]), "kind", "'wind', 'pv' or 'dg'")
    v = net.svc
    _check(v, "svc", v.q_min_mvar > v.q_max_mvar, "q_min_mvar", "q_min_mvar <= q_max_mvar")
    _check(v, "svc", ~v.kind.isin(["svg", "statcom", "svc"]), "kind", "'svg', 'statcom' or 'svc'")
    _check(tr, "trafo", tr.tap_step_pu.notna() & ~(tr.tap_step_pu > 0), "tap_step_pu", "a tap step > 0 p.u. or NaN")
    _check(tr, "trafo", tr.max_tap_change.notna() & ~(tr.max_tap_change >= 0), "max_tap_change",
           "a move limit >= 0 steps or NaN")
    _check(sh, "shunt", sh.max_step_change.notna() & ~(sh.max_step_change >= 0), "max_step_change",
           "a switching limit >= 0 steps or NaN")
    check_upfc(net)
    check_hvdc(net)


def check_upfc(net: Network) -> None:
    """A UPFC sits in an existing line, at one of its ends, with positive ratings."""
    u = net.upfc
    if not len(u):
        return
    ln = net.line
    for i in u.index:
        li = u.at[i, "line"]
        if li not in ln.index:
            raise SchemaError(f"{element_id('upfc', i)}: field 'line' = {shown(li)} names no line of network "
                              f"{net.name!r}; expected a line index")
        ends = (ln.at[li, "from_bus"], ln.at[li, "to_bus"])
        if u.at[i, "bus"] not in ends:
            raise SchemaError(f"{element_id('upfc', i)}: field 'bus' = {shown(u.at[i, 'bus'])}; expected one of the "
                              f"ends of line {li} ({ends[0]!r} or {ends[1]!r})")
        if u.at[i, "in_service"] and not net.bus.at[u.at[i, "bus"], "in_service"]:
            raise SchemaError(f"{element_id('upfc', i)}: field 'bus' = {shown(u.at[i, 'bus'])} is out of service; "
                              f"expected an in-service bus (or the UPFC out of service)")
    live = u[u.in_service]
    twice = live.line[live.line.duplicated()]
    if len(twice):
        i = twice.index[0]
        raise SchemaError(f"{element_id('upfc', i)}: field 'line' = {shown(u.at[i, 'line'])} already holds another "
                          f"in-service UPFC; expected one UPFC per line")
    _check(u, "upfc", ~(u.vse_max_pu >= 0), "vse_max_pu", "a series voltage limit >= 0 p.u.")
    _check(u, "upfc", ~(u.x_sh_pu > 0), "x_sh_pu", "a coupling reactance > 0 p.u.")
    _check(u, "upfc", ~(u.v_sh_max_pu > 0), "v_sh_max_pu", "a converter voltage limit > 0 p.u.")
    _check(u, "upfc", ~(u.s_sh_max_mva > 0), "s_sh_max_mva", "a rating > 0 MVA")
    _check(u, "upfc", u.p_dc_max_mw.notna() & ~(u.p_dc_max_mw >= 0), "p_dc_max_mw", "a DC-link limit >= 0 MW or NaN")
    _check(u, "upfc", np.hypot(u.vse_re_pu, u.vse_im_pu) > u.vse_max_pu + 1e-12, "vse_re_pu",
           "a series voltage set-point within vse_max_pu")


def check_hvdc(net: Network) -> None:
    """An HVDC link's data are consistent and its rating is one the grid at its terminal can carry."""
    h = net.hvdc
    if not len(h):
        return
    _check(h, "hvdc", ~(h.p_rated_mw > 0), "p_rated_mw", "a rating > 0 MW")
    _check(h, "hvdc", (h.p_mw < 0) | (h.p_mw > h.p_rated_mw * (1 + 1e-9)), "p_mw", "0 <= p_mw <= p_rated_mw")
    _check(h, "hvdc", ~(h.u_d_pu > 0), "u_d_pu", "a DC voltage > 0 p.u.")
    _check(h, "hvdc", ~(h.r_d_pu >= 0), "r_d_pu", "a DC resistance >= 0 p.u.")
    _check(h, "hvdc", ~(h.x_c_pu > 0), "x_c_pu", "a commutation reactance > 0 p.u.")
    _check(h, "hvdc", ~(h.gamma_min_deg < h.gamma_max_deg), "gamma_max_deg", "gamma_min_deg < gamma_max_deg")
    _check(h, "hvdc", ~((h.gamma_nom_deg >= h.gamma_min_deg) & (h.gamma_nom_deg <= h.gamma_max_deg)), "gamma_nom_deg",
           "an angle within [gamma_min_deg, gamma_max_deg]")
    _check(h, "hvdc", ~(h.alpha_min_deg < h.alpha_max_deg), "alpha_max_deg", "alpha_min_deg < alpha_max_deg")
    key = "hvdc.p_mw"
    if key in net.timeseries:
        ts = net.timeseries[key]
        for i in ts.columns:
            bad = (ts[i] < 0) | (ts[i] > h.at[i, "p_rated_mw"] * (1 + 1e-9))
            if bad.any():
                k = int(np.flatnonzero(bad.to_numpy())[0])
                raise SchemaError(f"{element_id('hvdc', i)}: time series hvdc.p_mw, period {k}: {ts[i].iat[k]:g} MW; "
                                  f"expected 0 <= p_mw <= p_rated_mw = {h.at[i, 'p_rated_mw']:g}")
    for i in h.index[h.in_service]:
        if not net.bus.at[h.at[i, "bus"], "in_service"]:
            raise SchemaError(f"{element_id('hvdc', i)}: field 'bus' = {shown(h.at[i, 'bus'])} is out of service; "
                              f"expected an in-service bus (or the link out of service)")
    live_load = float(net.load.p_mw[net.load.in_service].sum())
    for i in h.index[h.in_service]:
        rated, bus = float(h.at[i, "p_rated_mw"]), h.at[i, "bus"]
        if rated > live_load:
            raise SchemaError(f"{element_id('hvdc', i)}: field 'p_rated_mw' = {rated:g} MW; the grid's whole load is "
                              f"{live_load:g} MW, so it cannot absorb the link's power: expected a rating <= the load")
        rates = [float(r) for df in (net.line, net.trafo)
                 for r in df.rate_mva[df.in_service & ((df.from_bus == bus) | (df.to_bus == bus))]]
        if rates and all(np.isfinite(rates)) and rated > sum(rates):
            raise SchemaError(f"{element_id('hvdc', i)}: field 'p_rated_mw' = {rated:g} MW; the branches at bus "
                              f"{bus!r} are rated {sum(rates):g} MVA together: expected a rating they can carry")
    from tdcoord.network.acdc import link_data

    from tdcoord.network.timeseries import n_periods

    periods = n_periods(net) if key in net.timeseries else None  # the whole schedule, where there is one
    try:
        d = link_data(net, periods)
    except ValueError as exc:
        raise SchemaError(f"hvdc: {exc}; expected a smaller x_c_pu or rating") from None
    live = h[h.in_service]
    alpha = np.asarray(d["alpha_deg"], float).reshape(len(d["index"]), -1)
    p_rect = np.asarray(d["p_rect"], float).reshape(len(d["index"]), -1) * net.sn_mva
    for j, i in enumerate(d["index"]):
        lo, hi = live.at[i, "alpha_min_deg"], live.at[i, "alpha_max_deg"]
        bad = ~(np.isfinite(alpha[j]) & (alpha[j] >= lo - 1e-9) & (alpha[j] <= hi + 1e-9))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            when = f"in period {k} " if periods is not None else ""
            raise SchemaError(f"{element_id('hvdc', i)}: {when}the rectifier behind its {live.at[i, 'v_rect_pu']:g} "
                              f"p.u. source, carrying {p_rect[j, k]:.4g} MW, needs a firing angle of "
                              f"{alpha[j, k]:.2f} degrees; expected one within [{lo:g}, {hi:g}] (alpha_min_deg, "
                              f"alpha_max_deg)")


def slack_buses(net: Network) -> list[str]:
    e, g = net.ext_grid, net.gen
    cands = []
    if len(e):
        cands += list(e.bus.to_numpy(dtype=object)[e.in_service.to_numpy(bool)])
    if len(g):
        cands += list(g.bus.to_numpy(dtype=object)[g.in_service.to_numpy(bool) & g.slack.to_numpy(bool)])
    out: list[str] = []
    for b in cands:
        if b not in out and net.bus.at[b, "in_service"]:
            out.append(b)
    return out


def branch_endpoints(net: Network) -> tuple[np.ndarray, np.ndarray, list[tuple[str, object]]]:
    """In-service branches between in-service buses as bus positions."""
    pos = {b: i for i, b in enumerate(net.bus.index)}
    live = net.bus.in_service
    f, t, ids = [], [], []
    for table in ("line", "trafo"):
        df = getattr(net, table)
        ok = df.in_service & df.from_bus.map(live).fillna(False).astype(bool) & df.to_bus.map(live).fillna(False).astype(bool)
        for idx, a, c in zip(df.index[ok], df.from_bus[ok], df.to_bus[ok]):
            f.append(pos[a])
            t.append(pos[c])
            ids.append((table, idx))
    return np.asarray(f, dtype=int), np.asarray(t, dtype=int), ids


def check_islands(net: Network, slacks: list[str] | None = None) -> None:
    slacks = slack_buses(net) if slacks is None else slacks
    live = net.bus.in_service.to_numpy()
    if not live.any():
        raise TopologyError(f"network {net.name!r} has no bus in service")
    if not slacks:
        raise TopologyError(
            f"network {net.name!r} has no slack: add an ext_grid or set slack=True on one in-service gen"
        )
    f, t, _ = branch_endpoints(net)
    comp = components(len(net.bus), f, t)
    pos = {b: i for i, b in enumerate(net.bus.index)}
    fed = set(comp[[pos[s] for s in slacks]].tolist())
    island = live & ~np.isin(comp, list(fed))
    if island.any():
        labels = net.bus.index[island].tolist()
        shown = ", ".join(repr(x) for x in labels[:8]) + (" ..." if len(labels) > 8 else "")
        raise IslandError(
            f"network {net.name!r}: {len(labels)} in-service bus(es) not connected to any slack: {shown}; "
            "connect them or set their in_service to false"
        )


def check_radial(net: Network) -> None:
    f, t, ids = branch_endpoints(net)
    k = first_loop_branch(len(net.bus), f, t)
    if k is not None:
        table, idx = ids[k]
        raise RadialityError(
            f"network {net.name!r} is not radial: {element_id(table, idx)} "
            f"({getattr(net, table).at[idx, 'from_bus']!r} - {getattr(net, table).at[idx, 'to_bus']!r}) closes a loop; "
            "a feeder must be a tree (open a switch, or solve the merged network with Newton)"
        )


def validate(net: Network, *, radial: bool | None = None, need_slack: bool = True) -> None:
    """Run every check; ``radial=None`` checks radiality for distribution networks."""
    check_references(net)
    check_values(net)
    if need_slack:
        check_islands(net)
    if radial or (radial is None and net.kind == "distribution"):
        check_radial(net)
