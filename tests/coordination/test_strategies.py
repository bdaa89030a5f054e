"""Strategies on the seed-000 system: optimality, verification, reporting."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.coordination.admm import AdmmSettings, solve_admm
from tdcoord.execution import make_executor
from tdcoord.coordination.centralized import solve_centralized
from tdcoord.coordination.independent import solve_independent_d, solve_independent_t
from tdcoord.problems.evaluate import evaluate
from tdcoord.problems.rpo import RpoConfig


def test_centralized_is_verified_and_better_than_base(default_case, centralized):
    cs, pf, starts, w = default_case
    r = centralized
    assert r.converged and r.status == "Solve_Succeeded"
    assert r.pf_mismatch_pu < 1e-6
    base = evaluate(cs, pf, w)
    assert r.objective < base.objective
    assert r.p_loss_mw < base.p_loss_mw
    assert r.n_violations == 0 and base.n_violations > 0
    assert 0.95 - 1e-6 <= r.vm_min_pu and r.vm_max_pu <= 1.05 + 1e-6
    # the optimizer's own objective equals the re-checked one (same physics)
    assert r.solver_objective == pytest.approx(r.objective, rel=1e-6)
    # reserves add up from the device table
    dev = r.devices
    assert r.q_reserve_t_mvar == pytest.approx(dev.reserve_mvar[dev.network == "T"].sum())
    assert r.q_reserve_d_mvar == pytest.approx(dev.reserve_mvar[dev.network != "T"].sum())
    assert (dev.reserve_mvar >= -1e-6).all()  # within every limit: no source beyond its upper one


def test_admm_matches_centralized(default_case, centralized):
    cs, pf, starts, w = default_case
    r = solve_admm(cs, RpoConfig(weights=w), base_pf=pf, starts=starts, executor=make_executor("serial"))
    assert r.converged, r.messages
    assert r.iterations <= 50
    assert abs(r.objective - centralized.objective) / centralized.objective < 1e-3
    assert r.pf_mismatch_pu < 1e-6
    h = r.history
    assert list(h.columns[:3]) == ["iteration", "primal_residual", "dual_residual"]
    assert h.primal_residual.iloc[-1] < 1e-4 and h.dual_residual.iloc[-1] < 1e-4
    assert r.floats_per_iteration == 12  # 3 values each way per side, one boundary
    assert r.admm.rho_probed["T"][2] < 0.01  # reactive exchange is flat: small penalty (keys V, P, Q)


def test_admm_residual_balancing_is_available_and_reports_non_convergence(default_case):
    cs, pf, starts, w = default_case
    r = solve_admm(cs, RpoConfig(weights=w), base_pf=pf, starts=starts, executor=make_executor("serial"),
                   settings=AdmmSettings(penalty="residual", max_iter=4))
    assert not r.converged and r.status == "max_iter"
    assert len(r.history) == 4
    assert any("did not converge in 4 iterations" in m for m in r.messages)


def test_independent_strategies_are_worse_and_say_why(default_case, centralized):
    cs, pf, starts, w = default_case
    cfg = RpoConfig(weights=w)
    t = solve_independent_t(cs, cfg, base_pf=pf, starts=starts)
    d = solve_independent_d(cs, cfg, base_pf=pf, starts=starts)
    for r in (t, d):
        assert r.converged
        assert r.pf_mismatch_pu < 1e-6
        assert r.objective >= centralized.objective - 1e-9
        assert r.assumption_error_pu > 1e-6  # the frozen side moved
    # independent-d leaves the transmission voltages (and their violations) alone
    assert d.n_violations > 0
    assert t.floats_total == 2 and d.floats_total == 1


def test_infeasible_limits_are_reported(default_case):
    cs, pf, starts, w = default_case
    r = solve_centralized(cs, RpoConfig(weights=w, vm_band=(0.999, 1.001)), base_pf=pf, starts=starts)
    assert not r.converged
    assert "Infeasible" in r.status or "Restoration" in r.status
    assert np.isnan(r.objective)


def test_soc_relaxation_reports_its_gap(default_case, centralized):
    cs, pf, starts, w = default_case
    r = solve_centralized(cs, RpoConfig(weights=w, feeder_formulation="soc_bf"), base_pf=pf, starts=starts)
    assert r.converged
    gap = r.soc_gap["ieee33@6"]
    assert gap["max_abs_pu2"] < 1e-6
    assert r.objective == pytest.approx(centralized.objective, rel=1e-6)


def test_discrete_steps_are_integer_and_gap_reported(default_case):
    cs, pf, starts, w = default_case
    cs2 = cs.copy()
    sh = cs2.feeders["ieee33@6"].shunt
    # finer steps so that the relaxation lands between two of them
    sh.loc[:, ["bs_mvar", "max_step", "step"]] = [0.37, 20, 5]
    r = solve_centralized(cs2, RpoConfig(weights=w), base_pf=None)
    assert r.converged
    info = r.discrete
    assert info["method"] == "relax-and-search"
    assert info["objective"] >= info["relaxed_objective"] - 1e-9
    assert 0 <= info["gap"] < 0.01
    steps = r.applied.feeders["ieee33@6"].shunt.step
    assert steps.dtype.kind == "i" and steps.between(0, 20).all()
    rel = info["relaxed_steps"]["ieee33@6.shunt_step"][0]
    assert int(steps.iloc[0]) in (int(np.floor(rel)), int(np.ceil(rel)))


def test_process_executor_gives_the_serial_result(default_case):
    from tdcoord.execution.process import ProcessExecutor

    cs, pf, starts, w = default_case
    cfg = RpoConfig(weights=w)
    a = solve_admm(cs, cfg, base_pf=pf, starts=starts, executor=make_executor("serial"))
    b = solve_admm(cs, cfg, base_pf=pf, starts=starts, executor=ProcessExecutor(2))
    assert b.converged and b.admm.executor == "process"
    assert b.iterations == a.iterations
    assert b.objective == pytest.approx(a.objective, rel=1e-9)


def test_entropy_weights(default_case):
    cs, pf, starts, w = default_case
    assert w.method == "entropy"
    d = w.detail
    assert np.array(d["matrix"]).shape == (4, 3)
    assert sum(d["w"]) == pytest.approx(1.0)
    assert all(0 < x < 1 for x in d["w"])
    assert w.alpha == pytest.approx(d["w"][0] / d["range"][0])


def test_independent_d_by_convex_soc(default_case):
    """Each feeder as a mixed-integer SOCP (SCIP, exact integer capacitor steps), gap reported."""
    cs, pf, starts, w = default_case
    nlp = solve_independent_d(cs, RpoConfig(weights=w), base_pf=pf, starts=starts)
    soc = solve_independent_d(cs, RpoConfig(weights=w, feeder_formulation="soc_bf"), base_pf=pf, starts=starts)
    assert soc.converged and soc.solver == "cvxpy + SCIP (soc_bf)"
    gap = soc.soc_gap["ieee33@6"]
    assert gap["max_abs_pu2"] < 1e-7  # the relaxation is exact on this feeder
    # same physics and the same integer step: the optimizers agree (IPOPT's search vs SCIP's branch and bound)
    assert soc.solver_objective == pytest.approx(nlp.solver_objective, rel=1e-6)
    assert soc.objective == pytest.approx(nlp.objective, rel=1e-4)  # re-checked: the relaxation's tiny slack shows
    assert soc.pf_mismatch_pu < 1e-6
    assert soc.discrete["ieee33@6"]["method"].startswith("SCIP branch and bound")
