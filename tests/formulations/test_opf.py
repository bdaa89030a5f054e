"""AC OPF (``tdcoord.problems.opf``) against MATPOWER's optima and pandapower's runopp."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from tdcoord.cases import load_case
from tdcoord.network.compiled import compile_network
from tdcoord.pf.flows import branch_flows
from tdcoord.problems.opf import solve_opf

# MATPOWER's published runopf optima ($/h). tdcoord (IPOPT, tol 1e-8) gives
#   case9   5296.68620   (relative deviation  3.8e-8)
#   case30   576.89233   (                     5.8e-7)
#   case118 129660.69399 (                     3.1e-8)
MATPOWER_OPTIMUM = {"ieee9": 5296.686, "case30": 576.892, "ieee118": 129660.69}


@pytest.fixture(scope="module")
def solved():
    cache = {}

    def get(case: str, flow_limit: str = "mva"):
        key = (case, flow_limit)
        if key not in cache:
            net = load_case(case)
            cache[key] = (net, solve_opf(net, flow_limit=flow_limit))
        return cache[key]

    return get


@pytest.mark.parametrize("case", ["ieee9", "case30", "ieee118"])
def test_matpower_optimum(solved, case):
    _, r = solved(case)
    assert r.converged
    assert r.status == "Solve_Succeeded"
    assert r.objective == pytest.approx(MATPOWER_OPTIMUM[case], rel=1e-5)
    s = r.summary()
    for key in ("objective", "converged", "time_s", "iterations", "status", "pf_mismatch_pu"):
        assert key in s
    assert 0 < r.iterations < 100
    assert r.time_s > 0


@pytest.mark.parametrize("case", ["ieee9", "case30"])
def test_power_flow_recheck(solved, case):
    net, r = solved(case)
    assert r.pf_mismatch_pu < 1e-9  # the re-check's Newton residual
    assert r.recheck_dvm_pu < 1e-6 and r.recheck_dva_deg < 1e-5  # the optimizer's voltages are the re-check's
    # the optimized point satisfies the bus, machine and flow limits
    vm = r.res_bus.vm_pu
    assert (vm <= net.bus.vm_max_pu + 1e-6).all() and (vm >= net.bus.vm_min_pu - 1e-6).all()
    g = net.gen
    assert (r.res_gen.p_mw <= g.p_max_mw + 1e-4).all() and (r.res_gen.p_mw >= g.p_min_mw - 1e-4).all()
    assert (r.res_gen.q_mvar <= g.q_max_mvar + 1e-4).all() and (r.res_gen.q_mvar >= g.q_min_mvar - 1e-4).all()
    assert r.res_bus.va_degree[net.gen.bus[net.gen.slack]].to_numpy() == pytest.approx(0.0, abs=1e-9)
    cn = compile_network(net)
    v = r.res_bus.vm_pu[cn.labels].to_numpy() * np.exp(1j * np.deg2rad(r.res_bus.va_degree[cn.labels].to_numpy()))
    sf, st = branch_flows(cn, v)
    rated = np.isfinite(cn.rate)
    assert (np.maximum(abs(sf), abs(st))[rated] <= cn.rate[rated] * (1 + 1e-6)).all()
    p_shunt = (net.shunt.gs_mw * net.shunt.step * r.res_bus.vm_pu[net.shunt.bus].to_numpy() ** 2).sum()
    assert r.res_shunt.p_mw.sum() == pytest.approx(p_shunt, abs=1e-9)
    # losses as `tdcoord opt` counts them: branches and shunt conductance, i.e. generation minus load
    assert r.p_loss_mw == pytest.approx(r.res_gen.p_mw.sum() + r.res_ext_grid.p_mw.sum() - net.load.p_mw.sum(), abs=1e-5)
    branches = sum(t.pl_mw.sum() for t in (r.res_line, r.res_trafo) if len(t))
    assert r.p_loss_mw == pytest.approx(branches + p_shunt, abs=1e-6)


def test_prices_are_marginal_costs(solved):
    # case9: no limit binds at the generators, so each generator bus's price is its marginal cost
    net, r = solved("ieee9")
    g = net.gen
    marginal = g.cost_c1 + 2 * g.cost_c2 * r.res_gen.p_mw
    assert r.res_bus.lam_p[g.bus].to_numpy() == pytest.approx(marginal.to_numpy(), rel=1e-6)


@pytest.mark.parametrize("change", ["load_x10", "voltage_band"])
def test_infeasible_is_reported(change):
    net = load_case("case30")
    if change == "load_x10":
        net.load[["p_mw", "q_mvar"]] *= 10.0  # 2.8 GW of load, 335 MW of generation
    else:
        net.bus["vm_min_pu"], net.bus["vm_max_pu"] = 0.79, 0.80  # no voltage profile carries the load
    r = solve_opf(net)
    assert not r.converged
    assert r.status == "Infeasible_Problem_Detected"
    assert math.isnan(r.objective)
    assert math.isnan(r.pf_mismatch_pu)
    assert r.summary()["converged"] is False


def test_flow_limit_convention(solved):
    _, mva = solved("case30", "mva")
    _, cur = solved("case30", "current")
    # |S| <= rate Vm is looser than |S| <= rate where Vm > 1: the optimum is (slightly) cheaper
    assert cur.converged and cur.pf_mismatch_pu < 1e-9 and cur.recheck_dvm_pu < 1e-6
    assert cur.objective < mva.objective - 1e-4
    with pytest.raises(ValueError):
        solve_opf(load_case("ieee9"), flow_limit="amps")


def _runopp(net):
    pp = pytest.importorskip("pandapower")
    from tdcoord.io.pandapower_io import to_pandapower

    p = to_pandapower(net, with_costs=True)
    t0 = time.perf_counter()
    pp.runopp(p)
    return p, time.perf_counter() - t0


@pytest.mark.crossval
def test_pandapower_runopp_case30(solved):
    pytest.importorskip("pandapower")
    net, r = solved("case30", "current")
    p, _ = _runopp(net)
    assert p.OPF_converged
    # pandapower 3.5: 576.891024 $/h, tdcoord 576.891021 (relative 5e-9)
    assert r.objective == pytest.approx(float(p.res_cost), rel=1e-4)
    vm_pp = p.res_bus.vm_pu.set_axis(p.bus.name)
    assert np.max(np.abs(vm_pp[r.res_bus.index] - r.res_bus.vm_pu)) < 1e-3


@pytest.mark.crossval
def test_pandapower_runopp_case118(solved):
    pytest.importorskip("pandapower")
    net, r = solved("ieee118", "current")
    p, _ = _runopp(net)
    assert p.OPF_converged
    assert r.objective == pytest.approx(float(p.res_cost), rel=1e-4)


# ------------------------------------------------------------------ DC OPF
@pytest.mark.crossval
@pytest.mark.parametrize("case", ["case30", "ieee118"])
def test_dc_opf_against_pandapower_rundcopp(case):
    """Objective and angles of the DC OPF (Clarabel, HiGHS and IPOPT) against pandapower's rundcopp."""
    net = load_case(case)
    r = solve_opf(net, formulation="dc")
    nlp = solve_opf(net, formulation="dc", backend="nlp")
    highs = solve_opf(net, formulation="dc", solver="HIGHS")
    assert r.converged and r.solver == "CLARABEL" and nlp.converged and highs.converged
    assert nlp.objective == pytest.approx(r.objective, rel=1e-7)
    assert highs.objective == pytest.approx(r.objective, rel=1e-7)
    assert r.res_bus.vm_pu.isna().all() and r.res_gen.q_mvar.isna().all()  # no voltage magnitudes, no Q in DC
    # lossless: generation equals load plus shunt conductance
    p_shunt = (net.shunt.gs_mw * net.shunt.step).sum()
    assert r.res_gen.p_mw.sum() + r.res_ext_grid.p_mw.sum() == pytest.approx(net.load.p_mw.sum() + p_shunt, abs=1e-6)
    assert r.summary()["formulation"] == "dc"
    pp = pytest.importorskip("pandapower")  # the three solvers' agreement is checked above either way
    from tdcoord.io.pandapower_io import to_pandapower

    p = to_pandapower(net, with_costs=True)
    pp.rundcopp(p)
    assert p.OPF_converged
    # measured: case30 565.2059664 $/h on all three; case118 125947.8814 (relative 2e-10)
    assert r.objective == pytest.approx(float(p.res_cost), rel=1e-7)
    va_pp = p.res_bus.va_degree.set_axis(p.bus.name)[r.res_bus.index]
    assert np.max(np.abs(va_pp - r.res_bus.va_degree)) < 1e-4  # degrees; measured 1.5e-7 / 3.9e-6


def test_dc_opf_prices_and_limits():
    """Uncongested, every bus has one price; a binding branch limit separates them (and holds)."""
    net = load_case("ieee9")
    r = solve_opf(net, formulation="dc")
    assert r.converged
    lam = r.res_bus.lam_p
    assert lam.max() - lam.min() < 1e-6  # case9's ratings do not bind in DC
    g = net.gen
    marginal = g.cost_c1 + 2 * g.cost_c2 * r.res_gen.p_mw
    assert marginal.to_numpy() == pytest.approx(np.full(len(g), lam.iloc[0]), rel=1e-6)
    cn = compile_network(net)

    def line_flows(res):
        va = np.deg2rad(res.res_bus.va_degree[cn.labels].to_numpy())
        return ((va[cn.f] - va[cn.t] - cn.shift) / (cn.x * cn.tap) * cn.base_mva)[cn.br_table == "line"]

    flows = line_flows(r)
    k = int(np.argmax(np.abs(flows)))
    tight = net.copy()
    tight.line.loc[cn.br_index[cn.br_table == "line"][k], "rate_mva"] = 0.8 * abs(flows[k])
    t = solve_opf(tight, formulation="dc")
    assert t.converged and t.objective > r.objective + 1.0
    assert t.res_bus.lam_p.max() - t.res_bus.lam_p.min() > 1.0
    assert abs(line_flows(t)[k]) == pytest.approx(0.8 * abs(flows[k]), rel=1e-6)  # the limit binds and holds


def test_dc_opf_with_losses_costs_more():
    net = load_case("case30")
    lossless = solve_opf(net, formulation="dc")
    lossy = solve_opf(net, formulation="dc", losses=True)
    assert lossy.converged and lossy.solver == "CLARABEL"
    ac = solve_opf(net)
    # the loss estimate moves the DC optimum toward the AC one (576.89 $/h): 565.21 -> about 576
    assert lossless.objective < lossy.objective < ac.objective * 1.01
    assert lossy.p_loss_mw > 1.0
