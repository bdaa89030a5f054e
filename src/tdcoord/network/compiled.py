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


def _live(df: pd.DataFrame, index: pd.Index, field: str = "bus") -> tuple[np.ndarray, np.ndarray]:
    """Mask of in-service rows at in-service buses, and their bus positions."""
    pos = _positions(index, df[field])
    mask = df.in_service.to_numpy(bool) & (pos >= 0)
    return mask, pos[mask]


def compile_network(net: Network) -> CompiledNetwork:
    """Per-unit arrays of ``net`` (validated data is assumed)."""
    base = net.sn_mva
    bus = net.bus[net.bus.in_service.to_numpy(bool)]
    labels = bus.index.to_numpy(dtype=object)
    index = pd.Index(labels)
    nb = len(labels)
    vn = bus.vn_kv.to_numpy(float)

    lf_all, lt_all = _positions(index, net.line.from_bus), _positions(index, net.line.to_bus)
    lmask = net.line.in_service.to_numpy(bool) & (lf_all >= 0) & (lt_all >= 0)
    ln = net.line[lmask]
    lf, lt = lf_all[lmask], lt_all[lmask]
    tf_all, tt_all = _positions(index, net.trafo.from_bus), _positions(index, net.trafo.to_bus)
    tmask = net.trafo.in_service.to_numpy(bool) & (tf_all >= 0) & (tt_all >= 0)
    tr = net.trafo[tmask]
    tf, tt = tf_all[tmask], tt_all[tmask]
    zb = vn[lf] ** 2 / base
    zscale = base / tr.sn_mva.to_numpy(float)
    with np.errstate(invalid="ignore"):
        rate_l = ln.rate_mva.to_numpy(float) / base
        rate_t = tr.rate_mva.to_numpy(float) / base

    m, at = _live(net.shunt, index)
    sh = net.shunt[m]
    gs = np.zeros(nb)
    bs = np.zeros(nb)
    np.add.at(gs, at, (sh.gs_mw * sh.step).to_numpy(float) / base)
    np.add.at(bs, at, (sh.bs_mvar * sh.step).to_numpy(float) / base)

    m, at = _live(net.load, index)
    ld = net.load[m]
    p_load = np.zeros(nb)
    q_load = np.zeros(nb)
    np.add.at(p_load, at, ld.p_mw.to_numpy(float) / base)
    np.add.at(q_load, at, ld.q_mvar.to_numpy(float) / base)

    p_fix = np.zeros(nb)
    q_fix = np.zeros(nb)
    m, at = _live(net.sgen, index)
    sg = net.sgen[m]
    np.add.at(p_fix, at, sg.p_mw.to_numpy(float) / base)
    np.add.at(q_fix, at, sg.q_mvar.to_numpy(float) / base)
    m, at = _live(net.svc, index)
    np.add.at(q_fix, at, net.svc.q_mvar.to_numpy(float)[m] / base)

    m, gen_bus = _live(net.gen, index)
    gen = net.gen[m]
    m, ext_bus = _live(net.ext_grid, index)
    ext = net.ext_grid[m]
    bus_type = np.full(nb, PQ)
    bus_type[gen_bus] = PV
    bus_type[gen_bus[gen.slack.to_numpy(bool)]] = REF
    bus_type[ext_bus] = REF

    rate = np.r_[rate_l, rate_t]
    rate = np.where(np.isnan(rate) | (rate <= 0), np.inf, rate)
    return CompiledNetwork(
        name=net.name,
        base_mva=base,
        labels=labels,
        vn_kv=vn,
        vm_min=bus.vm_min_pu.to_numpy(float),
        vm_max=bus.vm_max_pu.to_numpy(float),
        br_table=np.array(["line"] * len(ln) + ["trafo"] * len(tr), dtype=object),
        br_index=np.r_[ln.index.to_numpy(int), tr.index.to_numpy(int)].astype(int),
        f=np.r_[lf, tf].astype(int),
        t=np.r_[lt, tt].astype(int),
        r=np.r_[ln.r_ohm.to_numpy(float) / zb, tr.r_pu.to_numpy(float) * zscale],
        x=np.r_[ln.x_ohm.to_numpy(float) / zb, tr.x_pu.to_numpy(float) * zscale],
        g_sh=np.r_[np.zeros(len(ln)), tr.g_pu.to_numpy(float) / zscale],
        b_sh=np.r_[ln.b_us.to_numpy(float) * 1e-6 * zb, tr.b_pu.to_numpy(float) / zscale],
        tap=np.r_[np.ones(len(ln)), tr.tap_pu.to_numpy(float)],
        shift=np.deg2rad(np.r_[np.zeros(len(ln)), tr.shift_deg.to_numpy(float)]),
        rate=rate,
        gs=gs,
        bs=bs,
        p_load=p_load,
        q_load=q_load,
        p_fix=p_fix,
        q_fix=q_fix,
        gen_index=gen.index.to_numpy(int),
        gen_bus=gen_bus,
        gen_p=gen.p_mw.to_numpy(float) / base,
        gen_vm=gen.vm_pu.to_numpy(float),
        gen_qmin=gen.q_min_mvar.to_numpy(float) / base,
        gen_qmax=gen.q_max_mvar.to_numpy(float) / base,
        ext_index=ext.index.to_numpy(int),
        ext_bus=ext_bus,
        ext_vm=ext.vm_pu.to_numpy(float),
        ext_va=np.deg2rad(ext.va_deg.to_numpy(float)),
        gen_va=np.deg2rad(gen.va_deg.to_numpy(float)),
        bus_type=bus_type,
    )
