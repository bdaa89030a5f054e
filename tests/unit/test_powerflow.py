"""Newton, sweep and integrated power flow: physics checks that need no reference tool."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.cases import load_case
from tdcoord.errors import TopologyError
from tdcoord.pf.ac import run_newton
from tdcoord.pf.integrated import run_coupled
from tdcoord.pf.sweep import run_sweep


def power_balance_error(res, net) -> float:
    gen = res.res_gen.p_mw.sum() + res.res_ext_grid.p_mw.sum() + net.sgen.p_mw[net.sgen.in_service].sum()
    load = net.load.p_mw[net.load.in_service].sum() + res.res_shunt.p_mw.sum()
    return abs(gen - load - res.p_loss_mw)


def test_baran_wu_published_values(ieee33):
    # Baran & Wu 33-bus: 202.7 kW losses, lowest voltage 0.913 p.u. at bus 18
    for res in (run_newton(ieee33), run_sweep(ieee33)):
        assert res.converged
        assert res.p_loss_mw == pytest.approx(0.20268, abs=5e-5)
        ex = res.extremes()
        assert ex["vm_min_bus"] == "18"
        assert ex["vm_min_pu"] == pytest.approx(0.9131, abs=1e-4)
        assert power_balance_error(res, ieee33) < 1e-8  # 32 buses x 1e-10 p.u. x 10 MVA


def test_sweep_equals_newton(ieee33):
    a, b = run_newton(ieee33), run_sweep(ieee33)
    assert np.abs(a.res_bus.vm_pu - b.res_bus.vm_pu).max() < 1e-9
    assert np.abs(a.res_bus.va_degree - b.res_bus.va_degree).max() < 1e-7
    assert abs(a.p_loss_mw - b.p_loss_mw) < 1e-9


def test_sweep_refuses_meshed_feeder(ieee33):
    n = ieee33.copy()
    n.line.loc[32, "in_service"] = True
    with pytest.raises(TopologyError, match="closes a loop"):
        run_sweep(n)


def test_newton_balances_power(ieee30):
    res = run_newton(ieee30)
    assert res.converged and res.iterations <= 6
    assert res.max_mismatch_pu < 1e-10
    assert power_balance_error(res, ieee30) < 1e-8
    # branch flows add up to the bus injections (KCL at every bus)
    inj = res.res_bus.p_mw.copy() * 0.0
    for tab, df in (("line", res.res_line), ("trafo", res.res_trafo)):
        el = getattr(ieee30, tab)
        inj = inj.add(df.p_from_mw.groupby(el.from_bus).sum(), fill_value=0.0)
        inj = inj.add(df.p_to_mw.groupby(el.to_bus).sum(), fill_value=0.0)
    shunt_p = res.res_shunt.p_mw.groupby(ieee30.shunt.bus).sum()
    assert np.abs(inj.add(shunt_p, fill_value=0.0) - res.res_bus.p_mw).max() < 1e-8


def test_q_limits_switch_pv_to_pq(ieee30):
    free = run_newton(ieee30)
    viol = (free.res_gen.q_mvar > ieee30.gen.q_max_mvar + 1e-6) | (free.res_gen.q_mvar < ieee30.gen.q_min_mvar - 1e-6)
    viol &= ~ieee30.gen.slack
    assert viol.any(), "ieee30 without limits should violate some generator Q limit"
    held = run_newton(ieee30, enforce_q_lims=True)
    assert held.converged
    q = held.res_gen.q_mvar
    ok = ieee30.gen.slack | ((q <= ieee30.gen.q_max_mvar + 1e-6) & (q >= ieee30.gen.q_min_mvar - 1e-6))
    assert ok.all()
    assert any("PV -> PQ" in m for m in held.messages)
    bus = ieee30.gen.bus[viol].iloc[0]
    assert held.res_bus.vm_pu[bus] != pytest.approx(ieee30.gen.vm_pu[viol].iloc[0], abs=1e-6)


def test_divergence_is_reported_not_hidden():
    n = load_case("ieee14")
    n.load["p_mw"] *= 8
    n.load["q_mvar"] *= 8
    res = run_newton(n, max_iter=15)
    assert not res.converged
    assert res.iterations == 15
    assert res.max_mismatch_pu > 1e-3
    assert np.isnan(res.p_loss_mw)


@pytest.mark.parametrize("spec", ["ieee30+ieee33@6", "ieee30+5xieee33", "ieee118+ieee33@59x3+ieee33@60"])
def test_merged_and_split_agree(spec):
    cs = load_case(spec)
    a = run_coupled(cs, "merged")
    b = run_coupled(cs, "split")
    assert a.converged and b.converged
    assert np.abs(a.res_bus.vm_pu - b.res_bus.vm_pu).max() < 1e-8
    assert np.abs(np.deg2rad(a.res_bus.va_degree - b.res_bus.va_degree)).max() < 1e-8
    assert np.abs(a.res_boundary[["p_mw", "q_mvar"]] - b.res_boundary[["p_mw", "q_mvar"]]).to_numpy().max() < 1e-6
    assert abs(a.p_loss_mw - b.p_loss_mw) < 1e-6
    assert b.history[-1] < 1e-8 and len(b.history) <= 10


def test_boundary_flow_is_feeder_load_plus_losses():
    cs = load_case("ieee30+ieee33@7")
    r = run_coupled(cs, "merged")
    b = r.res_boundary.loc["ieee33@7"]
    f = r.feeders["ieee33@7"]
    load = cs.feeders["ieee33@7"].load.p_mw.sum()
    assert b.p_mw == pytest.approx(load + f.p_loss_mw + b.pl_mw, abs=1e-9)
    # feeder results keep the feeder's own labels and indices
    assert list(f.res_bus.index) == list(cs.feeders["ieee33@7"].bus.index)
    assert list(f.res_line.index) == list(cs.feeders["ieee33@7"].line.index)


def test_closed_tie_needs_merged():
    cs = load_case("ieee30+ieee33@6x2")
    cs.add_tie("ieee33@6:18", "ieee33@6#2:33", r_ohm=0.5, x_ohm=0.5, in_service=True)
    with pytest.raises(TopologyError, match="use --method merged"):
        run_coupled(cs, "split")
    r = run_coupled(cs, "merged")
    assert r.converged and len(r.res_tie) == 1
