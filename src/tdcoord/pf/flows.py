"""Result tables of a network at given bus voltages."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tdcoord.network.compiled import PV, REF, CompiledNetwork
from tdcoord.network.network import Network
from tdcoord.results.powerflow import PowerFlowResult

BRANCH_COLUMNS = ["p_from_mw", "q_from_mvar", "p_to_mw", "q_to_mvar", "pl_mw", "ql_mvar", "i_from_ka", "i_to_ka", "loading_percent"]


def branch_flows(cn: CompiledNetwork, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Complex power entering each branch at its from and to ends, p.u."""
    yff, yft, ytf, ytt = cn.branch_admittances()
    vf, vt = v[cn.f], v[cn.t]
    return vf * np.conj(yff * vf + yft * vt), vt * np.conj(ytf * vf + ytt * vt)


def machine_dispatch(cn: CompiledNetwork, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """P and Q of every gen and ext_grid (p.u.) that balance the buses at ``v``.

    At a bus with several machines, the slack share of P goes to the
    ext_grid (else the slack gen); Q is shared among the machines in
    proportion to their reactive ranges (equally where a range is unbounded),
    as MATPOWER does.
    """
    ybus, _, _ = cn.ybus()
    s_inj = v * np.conj(ybus @ v)
    need = s_inj - cn.s_spec()  # what machines at each bus must supply
    gen_p = cn.gen_p.copy()
    gen_q = np.zeros(len(cn.gen_bus))
    ext_p = np.zeros(len(cn.ext_bus))
    ext_q = np.zeros(len(cn.ext_bus))
    machines: dict[int, list[tuple[str, int]]] = {}
    for k, b in enumerate(cn.gen_bus):
        machines.setdefault(int(b), []).append(("gen", k))
    for k, b in enumerate(cn.ext_bus):
        machines.setdefault(int(b), []).append(("ext", k))
    for b, units in machines.items():
        if cn.bus_type[b] == REF:
            exts = [k for kind, k in units if kind == "ext"]
            if exts:
                fixed = sum(gen_p[k] for kind, k in units if kind == "gen")
                ext_p[exts] = (need[b].real - fixed) / len(exts)
            else:
                gens = [k for kind, k in units if kind == "gen"]
                fixed = sum(gen_p[k] for k in gens[1:])
                gen_p[gens[0]] = need[b].real - fixed
        exts = [k for kind, k in units if kind == "ext"]
        if exts:
            ext_q[exts] = need[b].imag / len(exts)
            continue
        gens = [k for kind, k in units if kind == "gen"]
        rng = np.array([cn.gen_qmax[k] - cn.gen_qmin[k] for k in gens])
        if np.all(np.isfinite(rng)) and rng.sum() > 0 and len(gens) > 1:
            total = need[b].imag
            qmin = np.array([cn.gen_qmin[k] for k in gens])
            share = qmin + (total - qmin.sum()) * rng / rng.sum()
            gen_q[gens] = share
        else:
            gen_q[gens] = need[b].imag / len(gens)
    return gen_p, gen_q, ext_p, ext_q


def build_result(
    net: Network,
    cn: CompiledNetwork,
    v: np.ndarray,
    *,
    converged: bool,
    iterations: int,
    max_mismatch: float,
    method: str,
) -> PowerFlowResult:
    base = cn.base_mva
    ybus, _, _ = cn.ybus()
    s_inj = v * np.conj(ybus @ v)
    res_bus = pd.DataFrame(np.nan, index=net.bus.index.copy(), columns=["vm_pu", "va_degree", "p_mw", "q_mvar"])
    res_bus.loc[cn.labels, "vm_pu"] = np.abs(v)
    res_bus.loc[cn.labels, "va_degree"] = np.rad2deg(np.angle(v))
    res_bus.loc[cn.labels, "p_mw"] = s_inj.real * base
    res_bus.loc[cn.labels, "q_mvar"] = s_inj.imag * base

    sf, st = branch_flows(cn, v)
    vm = np.abs(v)
    i_f = np.abs(sf) / vm[cn.f] * base / (np.sqrt(3) * cn.vn_kv[cn.f])
    i_t = np.abs(st) / vm[cn.t] * base / (np.sqrt(3) * cn.vn_kv[cn.t])
    smax = np.maximum(np.abs(sf), np.abs(st))
    with np.errstate(divide="ignore", invalid="ignore"):
        loading = np.where(np.isfinite(cn.rate), 100.0 * smax / cn.rate, np.nan)
    data = np.c_[sf.real * base, sf.imag * base, st.real * base, st.imag * base,
                 (sf + st).real * base, (sf + st).imag * base, i_f, i_t, loading]
    tables = {}
    for table in ("line", "trafo"):
        sel = cn.br_table == table
        df = pd.DataFrame(np.nan, index=getattr(net, table).index.copy(), columns=BRANCH_COLUMNS)
        df.loc[cn.br_index[sel], :] = data[sel]
        # out-of-service branches carry no flow
        df.loc[~df.index.isin(cn.br_index[sel]), ["p_from_mw", "q_from_mvar", "p_to_mw", "q_to_mvar", "pl_mw", "ql_mvar", "i_from_ka", "i_to_ka"]] = 0.0
        tables[table] = df

    gen_p, gen_q, ext_p, ext_q = machine_dispatch(cn, v)
    res_gen = pd.DataFrame(0.0, index=net.gen.index.copy(), columns=["p_mw", "q_mvar", "vm_pu"])
    res_gen["vm_pu"] = np.nan
    res_gen.loc[cn.gen_index, "p_mw"] = gen_p * base
    res_gen.loc[cn.gen_index, "q_mvar"] = gen_q * base
    res_gen.loc[cn.gen_index, "vm_pu"] = vm[cn.gen_bus]
    res_ext = pd.DataFrame(0.0, index=net.ext_grid.index.copy(), columns=["p_mw", "q_mvar"])
    res_ext.loc[cn.ext_index, "p_mw"] = ext_p * base
    res_ext.loc[cn.ext_index, "q_mvar"] = ext_q * base

    pos = cn.position()
    sh = net.shunt
    live_sh = sh.in_service & sh.bus.isin(pos)
    vsh = np.array([vm[pos[b]] if ok else 0.0 for b, ok in zip(sh.bus, live_sh)])
    res_shunt = pd.DataFrame(
        {
            "p_mw": (sh.gs_mw * sh.step).to_numpy(float) * vsh**2,
            "q_mvar": -(sh.bs_mvar * sh.step).to_numpy(float) * vsh**2,  # consumption sense
            "vm_pu": np.where(live_sh, vsh, np.nan),
        },
        index=sh.index.copy(),
    )
    res_sgen = pd.DataFrame(
        {"p_mw": np.where(net.sgen.in_service, net.sgen.p_mw, 0.0), "q_mvar": np.where(net.sgen.in_service, net.sgen.q_mvar, 0.0)},
        index=net.sgen.index.copy(),
    )
    res_svc = pd.DataFrame({"q_mvar": np.where(net.svc.in_service, net.svc.q_mvar, 0.0)}, index=net.svc.index.copy())
    return PowerFlowResult(
        network=net.name,
        converged=converged,
        iterations=iterations,
        max_mismatch_pu=max_mismatch,
        method=method,
        res_bus=res_bus,
        res_line=tables["line"],
        res_trafo=tables["trafo"],
        res_gen=res_gen,
        res_ext_grid=res_ext,
        res_sgen=res_sgen,
        res_svc=res_svc,
        res_shunt=res_shunt,
    )


def initial_voltage(cn: CompiledNetwork) -> np.ndarray:
    """Flat start with the machines' voltage set-points."""
    vm = np.ones(cn.n_bus)
    va = np.zeros(cn.n_bus)
    vm[cn.gen_bus] = cn.gen_vm
    slack = cn.bus_type[cn.gen_bus] == REF
    if slack.any():
        va[:] = cn.gen_va[slack][0]
        va[cn.gen_bus[slack]] = cn.gen_va[slack]
    if len(cn.ext_bus):
        vm[cn.ext_bus] = cn.ext_vm
        va[:] = cn.ext_va[0]
        va[cn.ext_bus] = cn.ext_va
    return vm * np.exp(1j * va)


def bus_sets(cn: CompiledNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ref = np.flatnonzero(cn.bus_type == REF)
    pv = np.flatnonzero(cn.bus_type == PV)
    pq = np.flatnonzero((cn.bus_type != REF) & (cn.bus_type != PV))
    return ref, pv, pq
