"""The optimization formulations reproduce the power flow where nothing is free."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.backends.casadi_nlp import NlpBuilder
from tdcoord.cases import load_case
from tdcoord.formulations.acp import add_balance, build_acp
from tdcoord.formulations.branch_flow import build_branch_flow, soc_gap
from tdcoord.network.compiled import compile_network
from tdcoord.pf.ac import run_newton
from tdcoord.pf.sweep import run_sweep


@pytest.mark.parametrize("relaxed", [False, True])
def test_branch_flow_equals_sweep(ieee13_or_33, relaxed):
    net = ieee13_or_33
    cn = compile_network(net)
    b = NlpBuilder()
    root = int(np.flatnonzero(cn.bus_type == 3)[0])
    lo, hi = np.full(cn.n_bus, 0.5), np.full(cn.n_bus, 1.5)
    lo[root] = hi[root] = cn.ext_vm[0]
    m = build_branch_flow(b, cn, "f", cn.p_fix - cn.p_load, cn.q_fix - cn.q_load, relaxed=relaxed, vm_min=lo, vm_max=hi)
    b.cost("loss", m.loss_pu)
    sol = b.solve()
    assert sol.ok, sol.solver_status
    pf = run_sweep(net)
    vm = pf.res_bus.vm_pu.reindex(cn.labels).to_numpy()
    assert np.max(np.abs(sol.x["f.vm"] - vm)) < 1e-7
    assert sol.terms["loss"] * cn.base_mva == pytest.approx(pf.p_loss_mw, abs=1e-6)
    gap = soc_gap(m.o, sol.x["f.vm"], sol.x["f.p"], sol.x["f.q"], sol.x["f.l"])
    assert gap["max_abs_pu2"] < 1e-6  # minimizing losses makes the relaxation exact here (to IPOPT tolerance)


@pytest.fixture(params=["ieee33", "ieee13"])
def ieee13_or_33(request):
    return load_case(request.param)


def test_acp_equals_newton(ieee30):
    cn = compile_network(ieee30)
    b = NlpBuilder()
    m = build_acp(b, cn, "T", vm_min=np.full(cn.n_bus, 0.5), vm_max=np.full(cn.n_bus, 1.5))
    # machines hold their set-points: P of non-slack gens, V of every gen
    pg = b.var("pg", len(cn.gen_bus), np.where(cn.bus_type[cn.gen_bus] == 3, -np.inf, cn.gen_p),
               np.where(cn.bus_type[cn.gen_bus] == 3, np.inf, cn.gen_p), cn.gen_p)
    qg = b.var("qg", len(cn.gen_bus))
    import casadi as ca
    import scipy.sparse as sp

    from tdcoord.backends.casadi_nlp import sparse_dm

    inc = sparse_dm(sp.csr_matrix((np.ones(len(cn.gen_bus)), (cn.gen_bus, np.arange(len(cn.gen_bus)))), shape=(cn.n_bus, len(cn.gen_bus))))
    add_balance(b, m, ca.mtimes(inc, pg) + cn.p_fix - cn.p_load, ca.mtimes(inc, qg) + cn.q_fix - cn.q_load)
    blk = b.blocks["T.vm"]
    blk.lb[cn.gen_bus] = blk.ub[cn.gen_bus] = cn.gen_vm
    b.cost("loss", m.loss_pu)
    sol = b.solve()
    assert sol.ok
    pf = run_newton(ieee30)
    assert np.max(np.abs(sol.x["T.vm"] - pf.res_bus.vm_pu.to_numpy())) < 1e-8
    assert np.max(np.abs(np.rad2deg(sol.x["T.va"]) - pf.res_bus.va_deg.to_numpy())) < 1e-6
    assert sol.terms["loss"] * cn.base_mva == pytest.approx(pf.p_loss_mw, abs=1e-6)
