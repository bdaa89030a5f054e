"""IEEE Std 1547-2018 inverter functions: modes, default curves, allowed ranges, settings tables.

An inverter (an ``sgen`` row with an apparent-power rating ``sn_mva``) runs
one of these modes; its settings live in a table indexed like ``sgen``
(:func:`default_settings`), checked against the standard by
:func:`check_settings`, and evaluated quasi-statically by :func:`target_pq`.

========== ============================================================
mode       steady state
========== ============================================================
fixed      P and Q as in the ``sgen`` table (no control)
pf         constant power factor: Q = k P, k = +-tan(acos(pf))
constant_q Q = ``q_mvar`` of the settings
volt-var   Q = VV(V): points (V1, Q1) ... (V4, Q4), flat outside
volt-watt  P <= VW(V) P_rated: 1 up to V1, falling to P2 at V2; Q = 0
watt-var   Q = WV(P / P_rated): points (P1, Q1) ... (P3, Q3), flat outside
========== ============================================================

Every mode also obeys an active-power limit ``p_limit_mw`` (the standard's
"limit maximum active power" function: curtailment set by the operator),
the reactive capability of the category (injection and absorption as a
fraction of the nameplate apparent power, Table 7) and the apparent-power
rating (active power has priority).

Curve values, transcribed from IEEE Std 1547-2018 (voltages in p.u. of
nominal, reactive power as a fraction of the nameplate apparent power,
active power as a fraction of the rated active power):

- Reactive capability (Table 7): category A injects 0.44 and absorbs 0.25;
  category B injects and absorbs 0.44.
- Constant power factor (5.3.2): category A from 0.90 injecting to 0.97
  absorbing; category B 0.90 either way. Default: unity.
- Volt-var (Table 8), relative to VRef (default 1.0, range 0.95-1.05):
  category A: V1 = VRef - 0.10, V2 = V3 = VRef, V4 = VRef + 0.10,
  Q1 = 0.25, Q4 = -0.25; category B: V1 = VRef - 0.08, V2 = VRef - 0.02,
  V3 = VRef + 0.02, V4 = VRef + 0.08, Q1 = 0.44, Q4 = -0.44; Q2 = Q3 = 0.
  Ranges: V2 in [VRef - 0.03, VRef] (A: = VRef), V3 in [VRef, VRef + 0.03]
  (A: = VRef), V1 in [VRef - 0.18, V2 - 0.02], V4 in [V3 + 0.02,
  VRef + 0.18]; Q1 from 0 to the full injection capability, Q4 from 0 to
  the full absorption capability, Q2 and Q3 anywhere within the capability
  (A: 0).
- Volt-watt (Table 10): V1 = 1.06 (range 1.05-1.09), V2 = 1.10 (range
  V1 + 0.01 to 1.10), P2 = 0.2 (range 0 to 1; category A: 0.2).
- Watt-var (Table 9): P1 = 0.2 (range 0 to P2 - 0.1), P2 = 0.5 (range
  0.4-0.8), P3 = 1.0 (range P2 + 0.1 to 1.0); Q1 = Q2 = 0, Q3 = full
  absorption (range: from 0 to the full absorption; Q1, Q2 within the
  capability).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tdcoord.errors import InputError
from tdcoord.network.network import Network

MODES = ("fixed", "pf", "constant_q", "volt-var", "volt-watt", "watt-var")
CATEGORIES = ("A", "B")
TOL = 1e-9


@dataclass(frozen=True)
class Category:
    """Reactive capability and curve ranges of one normal-performance category."""

    q_inj: float  # fraction of the nameplate apparent power
    q_abs: float
    pf_inj: float  # lowest power factor, injecting
    pf_abs: float  # lowest power factor, absorbing
    vv_default: tuple[float, ...]  # V1..V4 relative to VRef, then Q1..Q4
    vv_deadband: bool  # V2 and V3 may differ from VRef
    vv_q23_free: bool  # Q2 and Q3 may differ from 0


CATEGORY = {
    "A": Category(0.44, 0.25, 0.90, 0.97, (-0.10, 0.0, 0.0, 0.10, 0.25, 0.0, 0.0, -0.25), False, False),
    "B": Category(0.44, 0.44, 0.90, 0.90, (-0.08, -0.02, 0.02, 0.08, 0.44, 0.0, 0.0, -0.44), True, True),
}
VREF_RANGE = (0.95, 1.05)
VW_DEFAULT = (1.06, 1.10, 0.2)  # V1, V2, P2
WV_DEFAULT_P = (0.2, 0.5, 1.0)  # P1, P2, P3

SETTING_COLUMNS = ["mode", "category", "pf", "q_set_mvar", "vref_pu", "vv_v1", "vv_v2", "vv_v3", "vv_v4",
                   "vv_q1", "vv_q2", "vv_q3", "vv_q4", "vw_v1", "vw_v2", "vw_p2", "wv_p1", "wv_p2", "wv_p3",
                   "wv_q1", "wv_q2", "wv_q3", "p_limit_mw"]
"""Settings table: ``pf`` is signed (> 0 injecting, < 0 absorbing, 1 unity); ``vv_*`` voltages are absolute
p.u. (VRef included), ``vv_q*`` and ``wv_q*`` fractions of ``sn_mva`` (> 0 injecting), ``vw_p2`` and ``wv_p*``
fractions of the rated active power; ``p_limit_mw`` NaN means no limit."""


def inverter_rows(net: Network) -> pd.DataFrame:
    """In-service sgens with an apparent-power rating: the inverters the settings apply to."""
    s = net.sgen[net.sgen.in_service.astype(bool)]
    return s[np.isfinite(s.sn_mva.to_numpy(float))]


def p_rated(sgen: pd.DataFrame) -> np.ndarray:
    """Rated active power (MW): ``p_max_mw``, else ``p_mw`` where positive, else ``sn_mva``."""
    pm = sgen.p_max_mw.to_numpy(float)
    p = sgen.p_mw.to_numpy(float)
    return np.where(np.isfinite(pm) & (pm > 0), pm, np.where(p > 0, p, sgen.sn_mva.to_numpy(float)))


def vv_curve(category: str = "B", vref: float = 1.0) -> dict[str, float]:
    """The category's default volt-var curve around ``vref`` (settings columns)."""
    d = CATEGORY[category].vv_default
    out = {f"vv_v{k + 1}": vref + d[k] for k in range(4)}
    out.update({f"vv_q{k + 1}": d[4 + k] for k in range(4)})
    return out


def default_settings(net: Network, mode: str = "volt-var", category: str = "B") -> pd.DataFrame:
    """Every inverter of ``net`` in ``mode`` with the standard's default curves for ``category``."""
    if mode not in MODES:
        raise InputError(f"inverter mode {mode!r}: expected one of {', '.join(MODES)}")
    if category not in CATEGORIES:
        raise InputError(f"inverter category {category!r}: expected A or B")
    rows = inverter_rows(net)
    cat = CATEGORY[category]
    row = {"mode": mode, "category": category, "pf": 1.0, "q_set_mvar": 0.0, "vref_pu": 1.0, **vv_curve(category),
           "vw_v1": VW_DEFAULT[0], "vw_v2": VW_DEFAULT[1], "vw_p2": VW_DEFAULT[2],
           "wv_p1": WV_DEFAULT_P[0], "wv_p2": WV_DEFAULT_P[1], "wv_p3": WV_DEFAULT_P[2],
           "wv_q1": 0.0, "wv_q2": 0.0, "wv_q3": -cat.q_abs, "p_limit_mw": np.nan}
    df = pd.DataFrame([row] * len(rows), index=rows.index, columns=SETTING_COLUMNS)
    df.index.name = "sgen"
    df["q_set_mvar"] = rows.q_mvar.to_numpy(float)
    return df[SETTING_COLUMNS]


def _bad(i: object, field: str, value: float, expected: str) -> InputError:
    return InputError(f"inverter settings, sgen {i}: {field} = {value:.4g}, expected {expected}")


def check_settings(net: Network, settings: pd.DataFrame) -> None:
    """Raise :class:`InputError` naming the inverter and field where a setting breaks the standard: an unknown
    mode or category, curve points that are not monotone, or a point outside the category's range."""
    rows = inverter_rows(net)
    missing = [c for c in SETTING_COLUMNS if c not in settings.columns]
    if missing:
        raise InputError(f"inverter settings: missing columns {', '.join(missing)}")
    unknown = settings.index.difference(rows.index)
    if len(unknown):
        raise InputError(f"inverter settings: sgen {unknown[0]} is not an in-service inverter with an sn_mva "
                         f"rating in {net.name!r}")
    for i, r in settings.iterrows():
        if r["mode"] not in MODES:
            raise InputError(f"inverter settings, sgen {i}: mode {r['mode']!r}, expected one of {', '.join(MODES)}")
        if r["category"] not in CATEGORIES:
            raise InputError(f"inverter settings, sgen {i}: category {r['category']!r}, expected A or B")
        cat = CATEGORY[r["category"]]
        _check_row(i, r, cat, float(rows.loc[i, "sn_mva"]))


def _in(i: object, field: str, value: float, lo: float, hi: float) -> None:
    if not (lo - TOL <= value <= hi + TOL):
        raise _bad(i, field, value, f"within [{lo:.4g}, {hi:.4g}] (IEEE 1547-2018)")


def _check_row(i: object, r: pd.Series, cat: Category, sn: float | None = None) -> None:
    mode = r["mode"]
    if mode == "pf":
        pf = float(r["pf"])
        lo = cat.pf_inj if pf > 0 else cat.pf_abs
        if not (lo - TOL <= abs(pf) <= 1 + TOL):
            raise _bad(i, "pf", pf, f"|pf| within [{lo}, 1] ({'injecting' if pf > 0 else 'absorbing'}, category "
                       f"{r['category']})")
    if mode == "volt-var":
        vref = float(r["vref_pu"])
        _in(i, "vref_pu", vref, *VREF_RANGE)
        v = [float(r[f"vv_v{k}"]) for k in range(1, 5)]
        q = [float(r[f"vv_q{k}"]) for k in range(1, 5)]
        if not (v[0] < v[1] <= v[2] < v[3]):
            raise InputError(f"inverter settings, sgen {i}: volt-var voltages V1..V4 = {v} are not monotone "
                             f"(expected V1 < V2 <= V3 < V4)")
        if v[1] == v[2] and abs(q[1] - q[2]) > TOL:
            raise InputError(f"inverter settings, sgen {i}: volt-var V2 = V3 with Q2 != Q3 (a jump in the curve)")
        if not (q[0] >= q[1] - TOL and q[1] >= q[2] - TOL and q[2] >= q[3] - TOL):
            raise InputError(f"inverter settings, sgen {i}: volt-var Q1..Q4 = {q} must not rise with voltage")
        if cat.vv_deadband:
            _in(i, "vv_v2", v[1], vref - 0.03, vref)
            _in(i, "vv_v3", v[2], vref, vref + 0.03)
        else:
            _in(i, "vv_v2", v[1], vref, vref)
            _in(i, "vv_v3", v[2], vref, vref)
        _in(i, "vv_v1", v[0], vref - 0.18, v[1] - 0.02)
        _in(i, "vv_v4", v[3], v[2] + 0.02, vref + 0.18)
        _in(i, "vv_q1", q[0], 0.0, cat.q_inj)
        _in(i, "vv_q4", q[3], -cat.q_abs, 0.0)
        for k in (1, 2):
            if cat.vv_q23_free:
                _in(i, f"vv_q{k + 1}", q[k], -cat.q_abs, cat.q_inj)
            else:
                _in(i, f"vv_q{k + 1}", q[k], 0.0, 0.0)
    if mode == "volt-watt":
        v1, v2, p2 = float(r["vw_v1"]), float(r["vw_v2"]), float(r["vw_p2"])
        _in(i, "vw_v1", v1, 1.05, 1.09)
        _in(i, "vw_v2", v2, v1 + 0.01, 1.10)
        _in(i, "vw_p2", p2, 0.2 if r["category"] == "A" else 0.0, 0.2 if r["category"] == "A" else 1.0)
    if mode == "watt-var":
        p = [float(r[f"wv_p{k}"]) for k in range(1, 4)]
        q = [float(r[f"wv_q{k}"]) for k in range(1, 4)]
        if not (p[0] < p[1] < p[2]):
            raise InputError(f"inverter settings, sgen {i}: watt-var P1..P3 = {p} are not monotone (P1 < P2 < P3)")
        _in(i, "wv_p2", p[1], 0.4, 0.8)
        _in(i, "wv_p1", p[0], 0.0, p[1] - 0.1)
        _in(i, "wv_p3", p[2], p[1] + 0.1, 1.0)
        _in(i, "wv_q3", q[2], -cat.q_abs, 0.0)
        for k in (0, 1):
            _in(i, f"wv_q{k + 1}", q[k], -cat.q_abs, cat.q_inj)
    if mode == "constant_q" and not np.isfinite(float(r["q_set_mvar"])):
        raise _bad(i, "q_set_mvar", float(r["q_set_mvar"]), "a finite set-point (Mvar)")
    if mode == "constant_q" and sn is not None:
        _in(i, "q_set_mvar", float(r["q_set_mvar"]), -cat.q_abs * sn, cat.q_inj * sn)
    lim = float(r["p_limit_mw"])
    if not (np.isnan(lim) or lim >= 0):
        raise _bad(i, "p_limit_mw", lim, ">= 0 or NaN (no limit)")


def q_limits(settings: pd.DataFrame, sn_mva: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reactive capability (absorption as a negative number, injection) in Mvar, per the category."""
    inj = np.array([CATEGORY[c].q_inj for c in settings.category]) * sn_mva
    ab = np.array([CATEGORY[c].q_abs for c in settings.category]) * sn_mva
    return -ab, inj


def target_pq(net: Network, settings: pd.DataFrame, vm_pu: np.ndarray, p_now: np.ndarray | None = None,
              p_avail: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The active and reactive power (MW, Mvar) each inverter's function asks for at its terminal voltage
    ``vm_pu`` (rows of ``settings``), with available power ``p_avail`` (default: the sgen's ``p_mw``).

    ``p_now`` is the present active power, which the watt-var curve reads (default: what the active-power
    functions give at ``vm_pu``)."""
    s = net.sgen.loc[settings.index]
    sn = s.sn_mva.to_numpy(float)
    pr = p_rated(s)
    avail = s.p_mw.to_numpy(float) if p_avail is None else np.asarray(p_avail, float)
    mode = settings["mode"].to_numpy()
    lim = settings.p_limit_mw.to_numpy(float)
    p = np.minimum(avail, np.where(np.isnan(lim), np.inf, lim))
    vw = mode == "volt-watt"
    if vw.any():
        for k in np.flatnonzero(vw):
            r = settings.iloc[k]
            frac = np.interp(vm_pu[k], [r.vw_v1, r.vw_v2], [1.0, r.vw_p2])
            p[k] = min(p[k], frac * pr[k])
    p = np.where(mode == "fixed", s.p_mw.to_numpy(float), p)
    p_read = p if p_now is None else np.asarray(p_now, float)
    q = s.q_mvar.to_numpy(float).copy()
    for k, m in enumerate(mode):
        r = settings.iloc[k]
        if m == "pf":
            q[k] = np.sign(r.pf) * np.tan(np.arccos(min(abs(r.pf), 1.0))) * p[k]
        elif m == "constant_q":
            q[k] = r.q_set_mvar
        elif m == "volt-var":
            q[k] = np.interp(vm_pu[k], [r.vv_v1, r.vv_v2, r.vv_v3, r.vv_v4],
                             [r.vv_q1, r.vv_q2, r.vv_q3, r.vv_q4]) * sn[k]
        elif m == "watt-var":
            q[k] = np.interp(p_read[k] / pr[k], [r.wv_p1, r.wv_p2, r.wv_p3], [r.wv_q1, r.wv_q2, r.wv_q3]) * sn[k]
        elif m == "volt-watt":
            q[k] = 0.0
    ctrl = mode != "fixed"
    lo, hi = q_limits(settings, sn)
    room = np.sqrt(np.maximum(sn**2 - p**2, 0.0))
    q = np.where(ctrl, np.clip(q, np.maximum(lo, -room), np.minimum(hi, room)), q)
    return p, q


def curve_points(row: pd.Series, sn_mva: float, p_rated_mw: float) -> tuple[str, np.ndarray, np.ndarray] | None:
    """The curve of one inverter's mode as (x label, x points, y points), in MW/Mvar and p.u., for plots."""
    m = row["mode"]
    if m == "volt-var":
        return ("V (p.u.)", np.array([row[f"vv_v{k}"] for k in range(1, 5)]),
                np.array([row[f"vv_q{k}"] for k in range(1, 5)]) * sn_mva)
    if m == "watt-var":
        return ("P (MW)", np.array([row[f"wv_p{k}"] for k in range(1, 4)]) * p_rated_mw,
                np.array([row[f"wv_q{k}"] for k in range(1, 4)]) * sn_mva)
    if m == "volt-watt":
        return "V (p.u.)", np.array([row.vw_v1, row.vw_v2]), np.array([1.0, row.vw_p2]) * p_rated_mw
    return None


__all__ = ["CATEGORY", "MODES", "SETTING_COLUMNS", "VREF_RANGE", "check_settings", "curve_points",
           "default_settings", "inverter_rows", "p_rated", "q_limits", "target_pq", "vv_curve"]
