"""Per-unit array view of a :class:`Network` for computation.

``compile_network`` turns the element tables into numpy/scipy arrays on the
network's MVA base: bus positions, the branch pi-model admittances, Ybus and
the specified injections. Power flow and every formulation work on this view;
none of them reads the tables directly. The branch model is MATPOWER's: an
ideal transformer of complex ratio ``tap * exp(j shift)`` at the from side in
series with the impedance, charging or magnetizing split between both ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tdcoord.network.network import Network

PQ, PV, REF = 1, 2, 3


@dataclass
class CompiledNetwork:
    name: str
    base_mva: float
    labels: np.ndarray  # bus labels of in-service buses
    vn_kv: np.ndarray
    vm_min: np.ndarray
    vm_max: np.ndarray
    # branches (in service, both ends in service): lines first, then trafos
    br_table: np.ndarray  # "line" / "trafo"
    br_index: np.ndarray  # index in that table
    f: np.ndarray
    t: np.ndarray
    r: np.ndarray
    x: np.ndarray
    g_sh: np.ndarray  # total shunt conductance of the pi model (trafo magnetizing)
    b_sh: np.ndarray  # total shunt susceptance of the pi model
    tap: np.ndarray
    shift: np.ndarray  # rad
    rate: np.ndarray  # p.u., inf where unlimited
    # bus shunts (fixed part, p.u. at 1.0 p.u. voltage): Ysh = gs + j bs
    gs: np.ndarray
    bs: np.ndarray
    # specified injections, p.u. (loads negative); gen P at PV and slack buses
    p_load: np.ndarray
    q_load: np.ndarray
    p_fix: np.ndarray  # sgen + svc active injections
    q_fix: np.ndarray  # sgen + svc reactive injections
    # machines controlling voltage
    gen_index: np.ndarray  # gen table index of in-service gens
    gen_bus: np.ndarray
    gen_p: np.ndarray
    gen_vm: np.ndarray
    gen_qmin: np.ndarray
    gen_qmax: np.ndarray
    ext_index: np.ndarray
    ext_bus: np.ndarray
    ext_vm: np.ndarray
    ext_va: np.ndarray  # rad
    gen_va: np.ndarray  # rad, used for slack gens
    bus_type: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_bus(self) -> int:
        return len(self.labels)

    @property
    def n_branch(self) -> int:
        return len(self.f)

    def position(self) -> dict[str, int]:
        if "pos" not in self._cache:
            self._cache["pos"] = {b: i for i, b in enumerate(self.labels)}
        return self._cache["pos"]

    # ------------------------------------------------------------ admittances
    def branch_admittances(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Yff, Yft, Ytf, Ytt of every branch."""
        if "yb" not in self._cache:
            ys = 1.0 / (self.r + 1j * self.x)
            ysh = self.g_sh + 1j * self.b_sh
            n = self.tap * np.exp(1j * self.shift)
            ytt = ys + ysh / 2
            yff = ytt / (self.tap**2)
            yft = -ys / np.conj(n)
            ytf = -ys / n
            self._cache["yb"] = (yff, yft, ytf, ytt)
        return self._cache["yb"]

    def incidence(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Cf, Ct: branch-by-bus incidence of the from and to ends."""
        if "inc" not in self._cache:
            nl, nb = self.n_branch, self.n_bus
            rows = np.arange(nl)
            cf = sp.csr_matrix((np.ones(nl), (rows, self.f)), shape=(nl, nb))
            ct = sp.csr_matrix((np.ones(nl), (rows, self.t)), shape=(nl, nb))
            self._cache["inc"] = (cf, ct)
        return self._cache["inc"]

    def ybus(self) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        """Ybus, Yf, Yt (MATPOWER's makeYbus)."""
        if "ybus" not in self._cache:
            yff, yft, ytf, ytt = self.branch_admittances()
            cf, ct = self.incidence()
            nl, nb = self.n_branch, self.n_bus
            rows = np.r_[np.arange(nl), np.arange(nl)]
            yf = sp.csr_matrix((np.r_[yff, yft], (rows, np.r_[self.f, self.t])), shape=(nl, nb))
            yt = sp.csr_matrix((np.r_[ytf, ytt], (rows, np.r_[self.f, self.t])), shape=(nl, nb))
            ysh = sp.diags(self.gs + 1j * self.bs)
            y = (cf.T @ yf + ct.T @ yt + ysh).tocsr()
            self._cache["ybus"] = (y, yf.tocsr(), yt.tocsr())
        return self._cache["ybus"]

    def s_spec(self) -> np.ndarray:
        """Specified complex injection per bus, without the machines' P and Q."""
        return (self.p_fix - self.p_load) + 1j * (self.q_fix - self.q_load)

    def gen_p_bus(self) -> np.ndarray:
        out = np.zeros(self.n_bus)
        np.add.at(out, self.gen_bus, self.gen_p)
        return out


def _positions(index: pd.Index, labels: pd.Series) -> np.ndarray:
    """Positions of ``labels`` in ``index`` (-1 where absent), vectorized."""
    return index.get_indexer(labels.to_numpy()) if len(labels) else np.zeros(0, dtype=np.int64)


def _col(df: pd.DataFrame, name: str, kind: type = float) -> np.ndarray:
    if not len(df):  # most tables of a feeder are empty; taking a column out of a table costs tens of us
        return np.zeros(0, dtype=kind)
    return df[name].to_numpy(kind)


def _live(df: pd.DataFrame, index: pd.Index, field: str = "bus") -> tuple[np.ndarray, np.ndarray]:
    """Mask of in-service rows at in-service buses, and their bus positions."""
    if not len(df):
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    pos = _positions(index, df[field])
    mask = _col(df, "in_service", bool) & (pos >= 0)
    return mask, pos[mask]


def _bus_sum(nb: int, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(nb)
    np.add.at(out, at, values)
    return out


def compile_network(net: Network, device_free: bool = False) -> CompiledNetwork:
    """Per-unit arrays of ``net`` (validated data is assumed).

    ``device_free``: without the injections that an optimization models as
    devices with variables of their own (inverters, SVCs, batteries and the
    steps of controllable shunts): what compiling
    ``tdcoord.problems.rpo.device_free_network(net)`` gives, without the
    copy. Columns are taken out of the tables as arrays once and masked as
    arrays (no masked copies of whole tables): with many small networks (a
    thousand feeders) the tables' overhead, not the arithmetic, is the cost.
    """
    base = net.sn_mva
    live_bus = _col(net.bus, "in_service", bool)
    labels = net.bus.index.to_numpy(dtype=object)[live_bus]
    index = pd.Index(labels)
    nb = len(labels)
    vn = _col(net.bus, "vn_kv")[live_bus]

    line, trafo = net.line, net.trafo
    lf_all, lt_all = _positions(index, line.from_bus), _positions(index, line.to_bus)
    lmask = _col(line, "in_service", bool) & (lf_all >= 0) & (lt_all >= 0)
    lf, lt = lf_all[lmask], lt_all[lmask]
    tf_all, tt_all = _positions(index, trafo.from_bus), _positions(index, trafo.to_bus)
    tmask = _col(trafo, "in_service", bool) & (tf_all >= 0) & (tt_all >= 0)
    tf, tt = tf_all[tmask], tt_all[tmask]
    zb = vn[lf] ** 2 / base
    zscale = base / _col(trafo, "sn_mva")[tmask]
    with np.errstate(invalid="ignore"):
        rate_l = _col(line, "rate_mva")[lmask] / base
        rate_t = _col(trafo, "rate_mva")[tmask] / base

    m, at = _live(net.shunt, index)
    sh = net.shunt
    step = _col(sh, "step")[m]
    if device_free:
        step = np.where(_col(sh, "controllable", bool)[m], 0.0, step)
    gs = _bus_sum(nb, at, _col(sh, "gs_mw")[m] * step / base)
    bs = _bus_sum(nb, at, _col(sh, "bs_mvar")[m] * step / base)

    m, at = _live(net.load, index)
    p_load = _bus_sum(nb, at, _col(net.load, "p_mw")[m] / base)
    q_load = _bus_sum(nb, at, _col(net.load, "q_mvar")[m] / base)

    p_fix, q_fix = np.zeros(nb), np.zeros(nb)
    if not device_free:
        m, at = _live(net.sgen, index)
        p_fix += _bus_sum(nb, at, _col(net.sgen, "p_mw")[m] / base)
        q_fix += _bus_sum(nb, at, _col(net.sgen, "q_mvar")[m] / base)
        m, at = _live(net.svc, index)
        q_fix += _bus_sum(nb, at, _col(net.svc, "q_mvar")[m] / base)
        m, at = _live(net.storage, index)
        p_fix += _bus_sum(nb, at, _col(net.storage, "p_mw")[m] / base)
        q_fix += _bus_sum(nb, at, _col(net.storage, "q_mvar")[m] / base)

    gmask, gen_bus = _live(net.gen, index)
    gen = net.gen
    emask, ext_bus = _live(net.ext_grid, index)
    ext = net.ext_grid
    bus_type = np.full(nb, PQ)
    bus_type[gen_bus] = PV
    bus_type[gen_bus[_col(gen, "slack", bool)[gmask]]] = REF
    bus_type[ext_bus] = REF

    rate = np.r_[rate_l, rate_t]
    rate = np.where(np.isnan(rate) | (rate <= 0), np.inf, rate)
    n_l, n_t = int(lmask.sum()), int(tmask.sum())
    return CompiledNetwork(
        name=net.name,
        base_mva=base,
        labels=labels,
        vn_kv=vn,
        vm_min=_col(net.bus, "vm_min_pu")[live_bus],
        vm_max=_col(net.bus, "vm_max_pu")[live_bus],
        br_table=np.array(["line"] * n_l + ["trafo"] * n_t, dtype=object),
        br_index=np.r_[line.index.to_numpy(int)[lmask], trafo.index.to_numpy(int)[tmask]].astype(int),
        f=np.r_[lf, tf].astype(int),
        t=np.r_[lt, tt].astype(int),
        r=np.r_[_col(line, "r_ohm")[lmask] / zb, _col(trafo, "r_pu")[tmask] * zscale],
        x=np.r_[_col(line, "x_ohm")[lmask] / zb, _col(trafo, "x_pu")[tmask] * zscale],
        g_sh=np.r_[np.zeros(n_l), _col(trafo, "g_pu")[tmask] / zscale],
        b_sh=np.r_[_col(line, "b_us")[lmask] * 1e-6 * zb, _col(trafo, "b_pu")[tmask] / zscale],
        tap=np.r_[np.ones(n_l), _col(trafo, "tap_pu")[tmask]],
        shift=np.deg2rad(np.r_[np.zeros(n_l), _col(trafo, "shift_deg")[tmask]]),
        rate=rate,
        gs=gs,
        bs=bs,
        p_load=p_load,
        q_load=q_load,
        p_fix=p_fix,
        q_fix=q_fix,
        gen_index=gen.index.to_numpy(int)[gmask],
        gen_bus=gen_bus,
        gen_p=_col(gen, "p_mw")[gmask] / base,
        gen_vm=_col(gen, "vm_pu")[gmask],
        gen_qmin=_col(gen, "q_min_mvar")[gmask] / base,
        gen_qmax=_col(gen, "q_max_mvar")[gmask] / base,
        ext_index=ext.index.to_numpy(int)[emask],
        ext_bus=ext_bus,
        ext_vm=_col(ext, "vm_pu")[emask],
        ext_va=np.deg2rad(_col(ext, "va_deg")[emask]),
        gen_va=np.deg2rad(_col(gen, "va_deg")[gmask]),
        bus_type=bus_type,
    )


def with_boundary(net: Network, cn: CompiledNetwork, hv_label: str, vn_hv_kv: float, vm_limits: tuple[float, float],
                  root: str, sn_mva: float, r_pu: float, x_pu: float, tap_pu: float,
                  in_service: bool = True) -> CompiledNetwork:
    """A feeder's compiled view extended by a copy of its transmission bus (the new slack, label ``hv_label``) and
    the boundary transformer from it to ``root``: what compiling the feeder with those two elements added gives
    (its own sources set aside), without building them as tables. The transformer follows
    :func:`compile_network`'s model (impedances on its ``sn_mva``, tap at the HV side)."""
    base = cn.base_mva
    nb = cn.n_bus
    hv = nb
    pos = cn.position()
    zscale = base / sn_mva
    n_t = 1 if in_service else 0
    keep = np.zeros(len(cn.ext_bus), bool)  # the feeder's own sources give way to the transmission bus
    bus_type = np.full(nb + 1, PQ)
    bus_type[cn.gen_bus] = PV
    gmask, _ = _live(net.gen, pd.Index(cn.labels))
    bus_type[cn.gen_bus[_col(net.gen, "slack", bool)[gmask]]] = REF
    bus_type[hv] = REF
    out = CompiledNetwork(
        name=cn.name, base_mva=base, labels=np.r_[cn.labels, np.array([hv_label], dtype=object)],
        vn_kv=np.r_[cn.vn_kv, vn_hv_kv], vm_min=np.r_[cn.vm_min, vm_limits[0]], vm_max=np.r_[cn.vm_max, vm_limits[1]],
        br_table=np.r_[cn.br_table, np.array(["trafo"] * n_t, dtype=object)],
        br_index=np.r_[cn.br_index, np.array([int(net.trafo.index.max()) + 1 if len(net.trafo) else 0] * n_t,
                                             dtype=int)].astype(int),
        f=np.r_[cn.f, [hv] * n_t].astype(int), t=np.r_[cn.t, [pos[root]] * n_t].astype(int),
        r=np.r_[cn.r, [r_pu * zscale] * n_t], x=np.r_[cn.x, [x_pu * zscale] * n_t],
        g_sh=np.r_[cn.g_sh, [0.0] * n_t], b_sh=np.r_[cn.b_sh, [0.0] * n_t],
        tap=np.r_[cn.tap, [tap_pu] * n_t], shift=np.r_[cn.shift, [0.0] * n_t], rate=np.r_[cn.rate, [np.inf] * n_t],
        gs=np.r_[cn.gs, 0.0], bs=np.r_[cn.bs, 0.0], p_load=np.r_[cn.p_load, 0.0], q_load=np.r_[cn.q_load, 0.0],
        p_fix=np.r_[cn.p_fix, 0.0], q_fix=np.r_[cn.q_fix, 0.0],
        gen_index=cn.gen_index, gen_bus=cn.gen_bus, gen_p=cn.gen_p, gen_vm=cn.gen_vm, gen_qmin=cn.gen_qmin,
        gen_qmax=cn.gen_qmax, ext_index=np.r_[cn.ext_index[keep], 0].astype(int),
        ext_bus=np.r_[cn.ext_bus[keep], hv].astype(int), ext_vm=np.r_[cn.ext_vm[keep], 1.0],
        ext_va=np.r_[cn.ext_va[keep], 0.0], gen_va=cn.gen_va, bus_type=bus_type,
    )
    return out
