"""The formulations reproduce the power flow where nothing is free, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.backends import new_builder
from tdcoord.cases import load_case
from tdcoord.formulations import get_formulation
from tdcoord.formulations.branch_flow import soc_gap
from tdcoord.network.compiled import compile_network
from tdcoord.pf.ac import run_newton
from tdcoord.pf.flows import branch_flows
from tdcoord.pf.sweep import run_sweep


def radial_model(net, name: str, backend: str = "nlp", objective: str = "loss"):
    """A radial formulation of ``net`` with every injection fixed and the root at its set-point."""
    cn = compile_network(net)
    b = new_builder(backend)
    root = int(np.flatnonzero(cn.bus_type == 3)[0])
    lo, hi = np.full(cn.n_bus, 0.5), np.full(cn.n_bus, 1.5)
    lo[root] = hi[root] = cn.ext_vm[0]
    form = get_formulation(name)(b, cn, "f", vm_min=lo, vm_max=hi)
    form.constraint_power_balance((cn.p_fix - cn.p_load).reshape(-1, 1), (cn.q_fix - cn.q_load).reshape(-1, 1))
    b.objective_term("loss", form.objective_losses())
    return b, cn, form


@pytest.fixture(params=["ieee33", "ieee13"])
def ieee13_or_33(request):
    return load_case(request.param)


@pytest.mark.parametrize("name", ["branch_flow", "soc_bf"])
def test_branch_flow_equals_sweep(ieee13_or_33, name):
    net = ieee13_or_33
    b, cn, form = radial_model(net, name)
    sol = b.solve()
    assert sol.ok, sol.solver_status
    pf = run_sweep(net)
    vm, va = form.bus_values(sol)
    assert np.max(np.abs(vm[:, 0] - pf.res_bus.vm_pu.reindex(cn.labels).to_numpy())) < 1e-7
    # angles recovered along the tree match the power flow's, and so do the terminal flows
    assert np.max(np.abs(np.rad2deg(va[:, 0]) - pf.res_bus.va_degree.reindex(cn.labels).to_numpy())) < 1e-5
    sf, st = branch_flows(cn, vm[:, 0] * np.exp(1j * va[:, 0]))
    flows = form.branch_values(sol)
    assert np.max(np.abs(flows["pf"][:, 0] + 1j * flows["qf"][:, 0] - sf)) < 1e-7
    assert np.max(np.abs(flows["pt"][:, 0] + 1j * flows["qt"][:, 0] - st)) < 1e-7
    assert sol.terms["loss"] * cn.base_mva == pytest.approx(pf.p_loss_mw, abs=1e-6)
    w = vm[:, 0] ** 2
    gap = soc_gap(form.o, w, sol.x["f.p"], sol.x["f.q"], sol.x["f.l"])
    assert gap["max_abs_pu2"] < 1e-6  # minimizing losses makes the relaxation exact here (to IPOPT tolerance)


def test_soc_relaxation_same_optimum_on_ipopt_and_clarabel():
    net = load_case("ieee33")
    nlp, cn, _ = radial_model(net, "soc_bf", "nlp")
    con, _, _ = radial_model(net, "soc_bf", "conic")
    a, c = nlp.solve(), con.solve()
    assert a.ok and c.ok and c.solver == "CLARABEL"
    assert c.objective == pytest.approx(a.objective, rel=1e-6)
    np.testing.assert_allclose(c.x["f.w"], a.x["f.w"], atol=1e-6)


def test_lindistflow_voltages_against_the_exact_sweep():
    """LinDistFlow drops the losses: on ieee33 its voltages are high by at most 0.003 p.u."""
    net = load_case("ieee33")
    pf = run_sweep(net)
    exact = pf.res_bus.vm_pu
    for backend in ("conic", "nlp"):
        b, cn, form = radial_model(net, "lindistflow", backend)
        sol = b.solve()
        assert sol.ok, sol.solver_status
        vm, _ = form.bus_values(sol)
        err = vm[:, 0] - exact.reindex(cn.labels).to_numpy()
        assert err.min() > -1e-9  # never below the exact voltage (no loss-driven drop)
        assert err.max() < 3e-3  # stated bound: 0.0026 p.u. measured at bus 18, the far end
        assert err.max() > 1e-3  # and the approximation does show (the test would catch an exact model)


def test_acp_equals_newton(ieee30):
    cn = compile_network(ieee30)
    b = new_builder("nlp")
    form = get_formulation("acp")(b, cn, "T", vm_min=np.full(cn.n_bus, 0.5), vm_max=np.full(cn.n_bus, 1.5))
    # machines hold their set-points: P of non-slack gens, V of every gen
    ng = len(cn.gen_bus)
    slack = cn.bus_type[cn.gen_bus] == 3
    pg = b.variable("pg", ng, np.where(slack, -np.inf, cn.gen_p), np.where(slack, np.inf, cn.gen_p), cn.gen_p)
    qg = b.variable("qg", ng)
    import scipy.sparse as sp

    inc = sp.csr_matrix((np.ones(ng), (cn.gen_bus, np.arange(ng))), shape=(cn.n_bus, ng))
    form.constraint_power_balance(b.ops.mm(inc, pg) + (cn.p_fix - cn.p_load).reshape(-1, 1),
                                  b.ops.mm(inc, qg) + (cn.q_fix - cn.q_load).reshape(-1, 1))
    blk = b.blocks["T.vm"]
    blk.lb[cn.gen_bus, 0] = blk.ub[cn.gen_bus, 0] = cn.gen_vm
    b.objective_term("loss", form.objective_losses())
    sol = b.solve()
    assert sol.ok
    pf = run_newton(ieee30)
    assert np.max(np.abs(sol.x["T.vm"] - pf.res_bus.vm_pu.to_numpy())) < 1e-8
    assert np.max(np.abs(np.rad2deg(sol.x["T.va"]) - pf.res_bus.va_degree.to_numpy())) < 1e-6
    assert sol.terms["loss"] * cn.base_mva == pytest.approx(pf.p_loss_mw, abs=1e-6)


def test_a_formulation_refuses_a_backend_it_cannot_be_built_on():
    cn = compile_network(load_case("ieee33"))
    with pytest.raises(ValueError, match="cannot be built on the conic backend"):
        get_formulation("branch_flow")(new_builder("conic"), cn, "f")
    with pytest.raises(ValueError, match="unknown formulation"):
        get_formulation("acr")
