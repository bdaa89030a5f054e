"""IEEE 1547 mode and curve selection as a mixed-integer linear model: three formulations of one disjunction.

Each inverter picks one *option* from a menu (:func:`build_menu`): a mode
with its curve inside the standard's ranges (volt-var shapes, watt-var
shapes, power factors, constant Q, volt-watt). A volt-var option's VRef is
continuous (0.95-1.05, the standard's range) and shared by all periods, as
is the option: the settings hold for the horizon, the operating point
follows them in every period. Every curve is piecewise linear in one
argument: ``u = V - VRef`` (volt-var), ``P`` (watt-var, power factor) or
``V`` (volt-watt, an upper limit on ``P``); a *piece* is one segment of one
option (constant Q: one box). The operating point ``(P, Q, V, VRef)`` of an
inverter in a period must lie on one piece of the chosen option.

The same set, three ways (:func:`constraint_modes`):

- ``sos1``: the convex hull of the pieces (Balas' disaggregation): per
  piece a weight ``z`` and copies of P, Q, V, VRef scaled by it; the
  weights of a column (inverter, period) sum to 1 and form an SOS1 set;
  the option weights ``w`` (per inverter) another.
- ``sos2``: per option copies of P, Q, V, VRef scaled by ``w``, and the
  curve as a convex combination of its breakpoints (lambda form), each
  column of ``lambda`` an SOS2 set; ``w`` an SOS1 set.
- ``binary``: binary ``z`` and ``w``, and every piece's rows relaxed by a
  big-M computed per row from the variables' bounds (interval arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tdcoord.devices.ieee1547 import CATEGORY, VREF_RANGE, VW_DEFAULT

FORMS = ("sos1", "sos2", "binary")

#: Volt-var shapes (V1..V4 relative to VRef; Q1..Q4 as a fraction of the apparent-power rating), category B.
#: Every shape lies inside the standard's ranges (checked in the tests by ieee1547.check_settings).
VV_SHAPES = {
    "vv-default": ((-0.08, -0.02, 0.02, 0.08), (0.44, 0.0, 0.0, -0.44)),
    "vv-steep": ((-0.03, -0.01, 0.01, 0.03), (0.44, 0.0, 0.0, -0.44)),
    "vv-steepest": ((-0.02, 0.0, 0.0, 0.02), (0.44, 0.0, 0.0, -0.44)),
    "vv-wide": ((-0.18, -0.03, 0.03, 0.18), (0.44, 0.0, 0.0, -0.44)),
}
#: Category A has no deadband (V2 = V3 = VRef) and Q2 = Q3 = 0; its capability clips Q (0.44 / 0.25).
VV_SHAPES_A = {
    "vv-default": ((-0.10, 0.0, 0.0, 0.10), (0.25, 0.0, 0.0, -0.25)),
    "vv-steepest": ((-0.02, 0.0, 0.0, 0.02), (0.44, 0.0, 0.0, -0.25)),
    "vv-wide": ((-0.18, 0.0, 0.0, 0.18), (0.44, 0.0, 0.0, -0.25)),
}
#: Watt-var shapes (P1..P3 fractions of the rated P; Q1..Q3 of the rating).
WV_SHAPES = {
    "wv-default": ((0.2, 0.5, 1.0), (0.0, 0.0, -0.44)),
    "wv-early": ((0.2, 0.4, 0.5), (0.0, 0.0, -0.44)),
}
#: Power factors (> 0 injecting, < 0 absorbing).
PF_VALUES = (0.90, 0.95, 1.0, -0.97, -0.95, -0.90)


@dataclass
class Option:
    name: str
    mode: str  # ieee1547 mode
    arg: str  # "u" (V - VRef), "p", "v" or "" (none)
    x: np.ndarray  # breakpoints of the argument: u in p.u.; p as a fraction of the rated P; v in p.u.
    y: np.ndarray  # values: Q as a fraction of the rating (u, p) or P cap as a fraction of the rated P (v)
    settings: dict[str, float] = field(default_factory=dict)  # ieee1547 settings columns (VRef added later)
    slope_pu: float = 0.0  # largest |dQ/dV| (fraction of the rating per p.u.), volt-var only
    change: int = 0  # 0: the category's default volt-var curve; 1: another droop curve; 2: a set-point mode


def build_menu(kind: str = "full", category: str = "B") -> list[Option]:
    """``full``: every option; ``default-vv``: the category's default volt-var curve only."""
    cat = CATEGORY[category]
    if kind == "default-vv":
        d = cat.vv_default
        shapes = {"vv-default": (d[:4], d[4:])}
    else:
        shapes = VV_SHAPES if category == "B" else VV_SHAPES_A
    out = []
    for name, (dv, dq) in shapes.items():
        x, y = np.array(dv), np.clip(np.array(dq), -cat.q_abs, cat.q_inj)
        keep = np.r_[True, np.diff(x) > 0]
        slope = float(np.max(np.abs(np.diff(y)) / np.maximum(np.diff(x), 1e-12)))
        out.append(Option(name, "volt-var", "u", x[keep], y[keep],
                          {**{f"vv_v{k + 1}": dv[k] for k in range(4)}, **{f"vv_q{k + 1}": y[k] for k in range(4)}},
                          slope_pu=slope, change=0 if name == "vv-default" else 1))
    if kind == "default-vv":
        return out
    for name, (px, qy) in WV_SHAPES.items():
        x, y = np.array(px), np.clip(np.array(qy), -cat.q_abs, cat.q_inj)
        out.append(Option(name, "watt-var", "p", x, y,
                          {**{f"wv_p{k + 1}": px[k] for k in range(3)}, **{f"wv_q{k + 1}": y[k] for k in range(3)}},
                          change=1))
    for pf in PF_VALUES:
        if abs(pf) < (cat.pf_inj if pf > 0 else cat.pf_abs) - 1e-12:
            continue
        k = np.sign(pf) * np.tan(np.arccos(min(abs(pf), 1.0)))
        out.append(Option(f"pf {pf:+.2f}", "pf", "p", np.array([0.0, 1.0]), np.array([0.0, k]), {"pf": pf},
                          change=2))
    out.append(Option("constant-q", "constant_q", "", np.zeros(0), np.zeros(0), {}, change=2))
    v1, v2, p2 = VW_DEFAULT
    out.append(Option("vw-default", "volt-watt", "v", np.array([v1, v2]), np.array([1.0, p2]),
                      {"vw_v1": v1, "vw_v2": v2, "vw_p2": p2}, change=1))
    return out


@dataclass
class InverterData:
    """Per inverter (rows) and period (columns) data of the model, in MW, Mvar and p.u."""

    sn_mva: np.ndarray  # (n,)
    p_rated: np.ndarray  # (n,)
    p_avail: np.ndarray  # (n, T)
    q_lo: np.ndarray  # (n,) absorption limit (negative)
    q_hi: np.ndarray  # (n,)
    v_lo: float
    v_hi: float
    allowed: np.ndarray  # (n_options, n) bool: options an inverter may take
    vref_fixed: float | None = None  # VRef held (the default curve's 1.0), else free in the standard's range

    @property
    def n(self) -> int:
        return len(self.sn_mva)

    @property
    def periods(self) -> int:
        return self.p_avail.shape[1]


@dataclass
class Pieces:
    """The segments of every option, as (J, N) arrays over columns N = (period, inverter), period-major."""

    option: np.ndarray  # (J,) option of each piece
    arg: np.ndarray  # (J,) "u", "p", "v", ""
    xa: np.ndarray  # (J, N) argument interval, absolute units
    xb: np.ndarray
    ya: np.ndarray  # value at xa (Mvar, or MW cap for "v")
    slope: np.ndarray  # dvalue/dargument
    avail: np.ndarray  # (J, N) bool: the piece exists for that column


def _arg_range(d: InverterData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    n, t = d.n, d.periods
    rlo, rhi = (d.vref_fixed, d.vref_fixed) if d.vref_fixed is not None else VREF_RANGE
    ones = np.ones(n * t)
    return {"u": ((d.v_lo - rhi) * ones, (d.v_hi - rlo) * ones),
            "p": (np.zeros(n * t), d.p_avail.ravel(order="F")),
            "v": (d.v_lo * ones, d.v_hi * ones)}


def _scale(opt: Option, d: InverterData) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints and values of ``opt`` in absolute units, (K, N)."""
    t = d.periods
    sn, pr = np.tile(d.sn_mva, t), np.tile(d.p_rated, t)
    if opt.arg == "u":
        return np.repeat(opt.x[:, None], d.n * t, 1), opt.y[:, None] * sn
    if opt.arg == "p":
        return opt.x[:, None] * pr, opt.y[:, None] * sn if opt.mode == "watt-var" else opt.y[:, None] * pr
    return np.repeat(opt.x[:, None], d.n * t, 1), opt.y[:, None] * pr


def breakpoints(opt: Option, d: InverterData) -> tuple[np.ndarray, np.ndarray]:
    """The curve extended flat to the argument's range: (K, N) breakpoints and values (lambda form)."""
    lo, hi = _arg_range(d)[opt.arg]
    x, y = _scale(opt, d)
    xs = np.vstack([lo[None, :], np.clip(x, lo, hi), hi[None, :]])
    ys = np.empty_like(xs)
    for c in range(xs.shape[1]):  # the true curve (flat beyond its ends) at the clipped points
        ys[:, c] = np.interp(xs[:, c], x[:, c], y[:, c])
    return xs, ys


def build_pieces(menu: list[Option], d: InverterData) -> Pieces:
    n_col = d.n * d.periods
    allowed = np.tile(d.allowed, d.periods)  # (O, N)
    rows: list[tuple[int, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for o, opt in enumerate(menu):
        if opt.arg == "":
            z = np.zeros(n_col)
            rows.append((o, "", z, z, z, z))
            continue
        xs, ys = breakpoints(opt, d)
        for k in range(xs.shape[0] - 1):
            dx = xs[k + 1] - xs[k]
            slope = np.where(dx > 1e-12, (ys[k + 1] - ys[k]) / np.where(dx > 1e-12, dx, 1.0), 0.0)
            rows.append((o, opt.arg, xs[k], xs[k + 1], ys[k], slope))
    option = np.array([r[0] for r in rows])
    xa, xb = np.vstack([r[2] for r in rows]), np.vstack([r[3] for r in rows])
    # a segment of zero length adds nothing (its end points belong to the neighbours) unless it is the only one
    length_ok = (xb - xa > 1e-9) | (np.array([r[1] for r in rows]) == "")[:, None]
    for o in range(len(menu)):  # an option whose range collapsed (no power: P in [0, 0]) keeps its first piece
        mine = np.flatnonzero(option == o)
        none = ~length_ok[mine].any(axis=0)
        length_ok[mine[0], none] = True
    avail = allowed[option] & length_ok
    return Pieces(option=option, arg=np.array([r[1] for r in rows]), xa=xa, xb=xb,
                  ya=np.vstack([r[4] for r in rows]), slope=np.vstack([r[5] for r in rows]), avail=avail)


@dataclass
class ModeVars:
    """The aggregated variables (n, T) the network and the objective see, and the choice indicators."""

    p: Any
    q: Any
    v: Any
    vref: Any
    w: Any  # (n_options, n) option weights


def _repeat(n: int, t: int) -> np.ndarray:
    """(n, n t) 0/1: column (t, i) of a period-major layout takes inverter i."""
    return np.tile(np.eye(n), t)


def constraint_modes(b: Any, menu: list[Option], d: InverterData, form: str, prefix: str = "inv") -> ModeVars:
    """Add the inverters' mode disjunction in ``form`` to the conic builder ``b``; returns the variables."""
    import cvxpy as cp

    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    n, t = d.n, d.periods
    n_opt = len(menu)
    rlo, rhi = (d.vref_fixed, d.vref_fixed) if d.vref_fixed is not None else VREF_RANGE
    pav = d.p_avail
    kind = "binary" if form == "binary" else "continuous"
    w = b.variable(f"{prefix}.w", (n_opt, n), 0.0, np.where(d.allowed, 1.0, 0.0), 0.0, kind=kind)
    b.constraint_eq(f"{prefix}.one_option", cp.sum(w, axis=0, keepdims=True), 1.0)
    if form != "binary":
        b.constraint_sos1(f"{prefix}.sos_option", w)
    rep = _repeat(n, t)
    w_col = w @ rep  # (O, N)

    def agg(x: Any) -> Any:  # (rows, N) summed over rows -> (n, T)
        return cp.reshape(cp.sum(x, axis=0), (n, t), order="F")

    if form == "binary":
        p = b.variable(f"{prefix}.p_mw", (n, t), 0.0, pav, pav)
        q = b.variable(f"{prefix}.q_mvar", (n, t), np.repeat(d.q_lo[:, None], t, 1), np.repeat(d.q_hi[:, None], t, 1))
        v = b.variable(f"{prefix}.vm_pu", (n, t), d.v_lo, d.v_hi, 1.0)
        vref = b.variable(f"{prefix}.vref_pu", (n, t), rlo, rhi, 1.0)
        _bigm(b, menu, d, build_pieces(menu, d), w_col, p, q, v, vref, prefix)
        return ModeVars(p, q, v, vref, w)
    if form == "sos1":
        pc = build_pieces(menu, d)
        return _hull(b, menu, d, pc, w, w_col, agg, prefix, rlo, rhi)
    return _lambda(b, menu, d, w, w_col, agg, prefix, rlo, rhi)


def _same_over_periods(b: Any, name: str, x: Any, d: InverterData) -> None:
    """``x`` (N,), a value per (period, inverter), the same in every period."""
    import cvxpy as cp

    if d.periods > 1:
        m = cp.reshape(x, (d.n, d.periods), order="F")
        b.constraint_eq(name, m[:, 1:] - m[:, :1] @ np.ones((1, d.periods - 1)), 0.0)


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, float).ravel(order="F")


def _hull(b: Any, menu: list[Option], d: InverterData, pc: Pieces, w: Any, w_col: Any, agg: Any, prefix: str,
          rlo: float, rhi: float) -> ModeVars:
    import cvxpy as cp

    j, n_col = pc.xa.shape
    t = d.periods
    pav = _flat(d.p_avail)[None, :]
    qlo, qhi = np.tile(d.q_lo, t)[None, :], np.tile(d.q_hi, t)[None, :]
    z = b.variable(f"{prefix}.z", (j, n_col), 0.0, pc.avail.astype(float), 0.0)
    zp = b.variable(f"{prefix}.z_p", (j, n_col), 0.0, np.where(pc.avail, pav, 0.0))
    zq = b.variable(f"{prefix}.z_q", (j, n_col), np.where(pc.avail, qlo, 0.0), np.where(pc.avail, qhi, 0.0))
    zv = b.variable(f"{prefix}.z_v", (j, n_col), 0.0, np.where(pc.avail, d.v_hi, 0.0))
    b.constraint_eq(f"{prefix}.one_piece", cp.sum(z, axis=0, keepdims=True), 1.0)
    b.constraint_sos1(f"{prefix}.sos_piece", z)
    onehot = np.zeros((len(menu), j))
    onehot[pc.option, np.arange(j)] = 1.0
    b.constraint_eq(f"{prefix}.piece_option", onehot @ z - w_col, 0.0)
    b.constraint_ineq(f"{prefix}.hull_p", zp - cp.multiply(np.broadcast_to(pav, (j, n_col)), z), ub=0.0)
    b.constraint_ineq(f"{prefix}.hull_q_hi", zq - cp.multiply(np.broadcast_to(qhi, (j, n_col)), z), ub=0.0)
    b.constraint_ineq(f"{prefix}.hull_q_lo", zq - cp.multiply(np.broadcast_to(qlo, (j, n_col)), z), lb=0.0)
    b.constraint_ineq(f"{prefix}.hull_v", zv - d.v_lo * z, lb=0.0)
    b.constraint_ineq(f"{prefix}.hull_v_hi", zv - d.v_hi * z, ub=0.0)
    vv = np.flatnonzero(pc.arg == "u")
    zr = b.variable(f"{prefix}.z_vref", (len(vv), n_col), 0.0, np.where(pc.avail[vv], rhi, 0.0))
    zv_vv = zv[vv, :]
    b.constraint_ineq(f"{prefix}.hull_vref_lo", zr - rlo * z[vv, :], lb=0.0)
    b.constraint_ineq(f"{prefix}.hull_vref_hi", zr - rhi * z[vv, :], ub=0.0)
    for o in sorted(set(pc.option[vv])):  # each volt-var option's own VRef copy holds for the horizon
        rows = np.flatnonzero(pc.option[vv] == o)
        _same_over_periods(b, f"{prefix}.hull_vref_set_{o}", cp.sum(zr[rows, :], axis=0), d)
    for code, arg_of in (("u", lambda idx: zv_vv - zr), ("p", lambda idx: zp[idx, :]), ("v", lambda idx: zv[idx, :])):
        idx = np.flatnonzero(pc.arg == code)
        if not len(idx):
            continue
        a = arg_of(idx)
        zi = z[idx, :]
        b.constraint_ineq(f"{prefix}.hull_arg_{code}_lo", a - cp.multiply(pc.xa[idx], zi), lb=0.0)
        b.constraint_ineq(f"{prefix}.hull_arg_{code}_hi", a - cp.multiply(pc.xb[idx], zi), ub=0.0)
        curve = cp.multiply(pc.ya[idx] - pc.slope[idx] * pc.xa[idx], zi) + cp.multiply(pc.slope[idx], a)
        if code == "v":  # volt-watt: P under the curve, Q = 0
            b.constraint_ineq(f"{prefix}.hull_vw", zp[idx, :] - curve, ub=0.0)
            b.constraint_eq(f"{prefix}.hull_vw_q", zq[idx, :], 0.0)
        else:
            b.constraint_eq(f"{prefix}.hull_curve_{code}", zq[idx, :] - curve, 0.0)
    for r in np.flatnonzero(pc.arg == ""):  # constant Q: one set-point for the horizon
        _same_over_periods(b, f"{prefix}.hull_q_set_{r}", zq[r, :], d)
    p, q, v = agg(zp), agg(zq), agg(zv)
    vref = agg(zr) if len(vv) else cp.Constant(np.zeros((d.n, t)))
    return ModeVars(p, q, v, vref, w)


def _lambda(b: Any, menu: list[Option], d: InverterData, w: Any, w_col: Any, agg: Any, prefix: str,
            rlo: float, rhi: float) -> ModeVars:
    import cvxpy as cp

    n, t = d.n, d.periods
    n_col = n * t
    pav = _flat(d.p_avail)
    qlo, qhi = np.tile(d.q_lo, t), np.tile(d.q_hi, t)
    ps, qs, vs, rs = [], [], [], []
    for o, opt in enumerate(menu):
        wo = w_col[o:o + 1, :]
        ok = np.tile(d.allowed[o], t).astype(float)
        po = b.variable(f"{prefix}.o{o}_p", (1, n_col), 0.0, pav * ok)
        qo = b.variable(f"{prefix}.o{o}_q", (1, n_col), qlo * ok, qhi * ok)
        vo = b.variable(f"{prefix}.o{o}_v", (1, n_col), 0.0, d.v_hi * ok)
        b.constraint_ineq(f"{prefix}.o{o}_p_hi", po - cp.multiply(pav[None, :], wo), ub=0.0)
        b.constraint_ineq(f"{prefix}.o{o}_q_hi", qo - cp.multiply(qhi[None, :], wo), ub=0.0)
        b.constraint_ineq(f"{prefix}.o{o}_q_lo", qo - cp.multiply(qlo[None, :], wo), lb=0.0)
        b.constraint_ineq(f"{prefix}.o{o}_v", vo - d.v_lo * wo, lb=0.0)
        b.constraint_ineq(f"{prefix}.o{o}_v_hi", vo - d.v_hi * wo, ub=0.0)
        ps.append(po)
        qs.append(qo)
        vs.append(vo)
        if opt.arg == "":  # constant Q: one set-point for the horizon
            _same_over_periods(b, f"{prefix}.o{o}_q_set", qo[0, :], d)
            continue
        xs, ys = breakpoints(opt, d)
        k = xs.shape[0]
        lam = b.variable(f"{prefix}.o{o}_lambda", (k, n_col), 0.0, np.repeat(ok[None, :], k, 0))
        b.constraint_sos2(f"{prefix}.o{o}_sos", lam)
        b.constraint_eq(f"{prefix}.o{o}_convex", cp.sum(lam, axis=0, keepdims=True) - wo, 0.0)
        arg = cp.sum(cp.multiply(xs, lam), axis=0, keepdims=True)
        val = cp.sum(cp.multiply(ys, lam), axis=0, keepdims=True)
        if opt.arg == "u":
            ro = b.variable(f"{prefix}.o{o}_vref", (1, n_col), 0.0, rhi * ok)
            b.constraint_ineq(f"{prefix}.o{o}_vref_lo", ro - rlo * wo, lb=0.0)
            b.constraint_ineq(f"{prefix}.o{o}_vref_hi", ro - rhi * wo, ub=0.0)
            rs.append(ro)
            _same_over_periods(b, f"{prefix}.o{o}_vref_set", ro[0, :], d)
            b.constraint_eq(f"{prefix}.o{o}_arg", vo - ro - arg, 0.0)
            b.constraint_eq(f"{prefix}.o{o}_curve", qo - val, 0.0)
        elif opt.arg == "p":
            b.constraint_eq(f"{prefix}.o{o}_arg", po - arg, 0.0)
            b.constraint_eq(f"{prefix}.o{o}_curve", qo - val, 0.0)
        else:
            b.constraint_eq(f"{prefix}.o{o}_arg", vo - arg, 0.0)
            b.constraint_ineq(f"{prefix}.o{o}_curve", po - val, ub=0.0)
            b.constraint_eq(f"{prefix}.o{o}_q0", qo, 0.0)
    p, q, v = agg(cp.vstack(ps)), agg(cp.vstack(qs)), agg(cp.vstack(vs))
    vref = agg(cp.vstack(rs)) if rs else cp.Constant(np.zeros((n, t)))
    return ModeVars(p, q, v, vref, w)


def _bigm(b: Any, menu: list[Option], d: InverterData, pc: Pieces, w_col: Any, p: Any, q: Any, v: Any, vref: Any,
          prefix: str) -> None:
    """Binary pieces; each row holds where its piece is chosen and is relaxed by the smallest valid big-M."""
    import cvxpy as cp

    j, n_col = pc.xa.shape
    t = d.periods
    rlo, rhi = (d.vref_fixed, d.vref_fixed) if d.vref_fixed is not None else VREF_RANGE
    z = b.variable(f"{prefix}.z", (j, n_col), 0.0, pc.avail.astype(float), 0.0, kind="binary")
    b.constraint_eq(f"{prefix}.one_piece", cp.sum(z, axis=0, keepdims=True), 1.0)
    onehot = np.zeros((len(menu), j))
    onehot[pc.option, np.arange(j)] = 1.0
    b.constraint_eq(f"{prefix}.piece_option", onehot @ z - w_col, 0.0)
    pf, qf, vf, rf = (cp.reshape(cp.vec(x, order="F"), (1, n_col), order="F") for x in (p, q, v, vref))
    pav = _flat(d.p_avail)
    qlo, qhi = np.tile(d.q_lo, t), np.tile(d.q_hi, t)
    rng = {"p": (np.zeros(n_col), pav), "q": (qlo, qhi), "v": (np.full(n_col, d.v_lo), np.full(n_col, d.v_hi)),
           "u": (np.full(n_col, d.v_lo - rhi), np.full(n_col, d.v_hi - rlo))}
    exprs = {"p": pf, "v": vf, "u": vf - rf}
    for o, opt in enumerate(menu):  # constant Q: one set-point for the horizon where the option is chosen
        if opt.arg == "" and t > 1:
            m = (d.q_hi - d.q_lo)[:, None] * np.ones((1, t - 1))
            gap = q[:, 1:] - q[:, :1] @ np.ones((1, t - 1))
            relax = cp.multiply(m, cp.reshape(w_col[o, :d.n], (d.n, 1), order="F") @ np.ones((1, t - 1)))
            b.constraint_ineq(f"{prefix}.bigm_q_set_{o}_hi", gap + relax, ub=m)
            b.constraint_ineq(f"{prefix}.bigm_q_set_{o}_lo", gap - relax, lb=-m)
    for code in ("u", "p", "v"):
        idx = np.flatnonzero(pc.arg == code)
        if not len(idx):
            continue
        one = np.ones((len(idx), 1))
        a = one @ exprs[code]
        zi = z[idx, :]
        alo, ahi = rng[code]
        m_hi = np.maximum(ahi[None, :] - pc.xb[idx], 0.0)
        m_lo = np.maximum(pc.xa[idx] - alo[None, :], 0.0)
        b.constraint_ineq(f"{prefix}.bigm_arg_{code}_hi", a - pc.xb[idx] + cp.multiply(m_hi, zi), ub=m_hi)
        b.constraint_ineq(f"{prefix}.bigm_arg_{code}_lo", a - pc.xa[idx] - cp.multiply(m_lo, zi), lb=-m_lo)
        sl, c0 = pc.slope[idx], pc.ya[idx] - pc.slope[idx] * pc.xa[idx]
        curve_lo = c0 + np.minimum(sl * alo[None, :], sl * ahi[None, :])
        curve_hi = c0 + np.maximum(sl * alo[None, :], sl * ahi[None, :])
        curve = cp.multiply(sl, a) + c0
        if code == "v":  # P <= curve(V), Q = 0
            m = np.maximum(pav[None, :] - curve_lo, 0.0)
            b.constraint_ineq(f"{prefix}.bigm_vw", one @ pf - curve + cp.multiply(m, zi), ub=m)
            mq_hi, mq_lo = np.maximum(qhi, 0.0)[None, :] * one, np.maximum(-qlo, 0.0)[None, :] * one
            b.constraint_ineq(f"{prefix}.bigm_vw_q_hi", one @ qf + cp.multiply(mq_hi, zi), ub=mq_hi)
            b.constraint_ineq(f"{prefix}.bigm_vw_q_lo", one @ qf - cp.multiply(mq_lo, zi), lb=-mq_lo)
            continue
        m_up = np.maximum(qhi[None, :] - curve_lo, 0.0)  # Q - curve <= m_up (1 - z)
        m_dn = np.maximum(curve_hi - qlo[None, :], 0.0)  # curve - Q <= m_dn (1 - z)
        diff = one @ qf - curve
        b.constraint_ineq(f"{prefix}.bigm_curve_{code}_hi", diff + cp.multiply(m_up, zi), ub=m_up)
        b.constraint_ineq(f"{prefix}.bigm_curve_{code}_lo", diff - cp.multiply(m_dn, zi), lb=-m_dn)


def chosen(sol_w: np.ndarray, menu: list[Option]) -> list[Option]:
    """The option each inverter took (largest weight)."""
    return [menu[k] for k in np.argmax(np.asarray(sol_w, float), axis=0)]


__all__ = ["FORMS", "InverterData", "ModeVars", "Option", "PF_VALUES", "Pieces", "VV_SHAPES", "VV_SHAPES_A",
           "WV_SHAPES",
           "breakpoints", "build_menu", "build_pieces", "chosen", "constraint_modes"]
