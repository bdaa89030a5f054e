"""The slow volt/var step by particle swarm optimization (seed 004): :mod:`tdcoord.coordination.pso`.

One slow step of the seed-004 system (IEEE 30-bus AC/DC, hour 19, 3-hour
look-ahead), with a small swarm so that the module stays fast.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymoo")

from tdcoord.cases.acdc30 import ieee30_acdc  # noqa: E402
from tdcoord.coordination.pso import _Fitness, pso_spread, solve_slow_pso  # noqa: E402
from tdcoord.coordination.volt_var import UPFC_BLOCKS, solve_slow, window  # noqa: E402
from tdcoord.problems.volt_var import STEP_BLOCK, TAP_BLOCK, VoltVarWeights, build_volt_var  # noqa: E402

POP, GEN = 8, 4
W = VoltVarWeights(0.11, 0.03, 0.85)


@pytest.fixture(scope="module")
def win():
    return window(ieee30_acdc(), 19, 3, 12)  # hourly means of hours 19..21


@pytest.fixture(scope="module")
def pso(win):
    m = build_volt_var(win, objective="slow", dt_h=1.0, weights=W)
    return solve_slow_pso(m, seed=0, population=POP, generations=GEN)


def _fix_schedule(m, schedule) -> None:
    """Fix every control of a schedule (taps, steps, UPFC set-points) on model ``m`` by its bounds."""
    cols = {TAP_BLOCK: [c.taps for c in schedule], STEP_BLOCK: [c.steps for c in schedule],
            UPFC_BLOCKS[0]: [c.q_sh_mvar / m.cn.base_mva for c in schedule],
            UPFC_BLOCKS[1]: [c.vse_re for c in schedule], UPFC_BLOCKS[2]: [c.vse_im for c in schedule]}
    for name, parts in cols.items():
        if name in m.b.blocks:
            v = np.column_stack(parts)
            m.b.set_bounds(name, v, v)


def test_pso_schedule_is_feasible_and_its_objective_is_the_models(win, pso):
    assert pso.ok, pso.status
    assert len(pso.schedule) == 3
    assert pso.method == f"PSO (pymoo), population {POP}, {GEN} generations, seed 0"
    for c in pso.schedule:  # discrete positions
        assert np.array_equal(c.taps, np.round(c.taps)) and np.array_equal(c.steps, np.round(c.steps))
    assert len(pso.info["history"]) == GEN
    h = np.asarray(pso.info["history"])
    assert np.all(h[1:] <= h[:-1])  # the best so far never gets worse
    assert pso.info["history"][-1] == pytest.approx(pso.objective, rel=1e-6)
    assert pso.info["evaluations"] == POP * GEN and 0 < pso.solves <= POP * GEN + 1
    # the same objective as the exact method's model: fix the whole schedule on a fresh model, solve cold
    m = build_volt_var(win, objective="slow", dt_h=1.0, weights=W)
    _fix_schedule(m, pso.schedule)
    sol = m.b.solve()
    assert sol.ok, sol.solver_status
    assert sol.objective == pytest.approx(pso.objective, rel=1e-6)
    # the schedule keeps the move limits of the taps (5 positions per hour) and banks (3 steps), from 0
    taps = np.column_stack([np.zeros(4)] + [c.taps for c in pso.schedule])
    steps = np.column_stack([np.zeros(5)] + [c.steps for c in pso.schedule])
    assert np.all(np.abs(np.diff(taps, axis=1)) <= 5) and np.all(np.abs(np.diff(steps, axis=1)) <= 3)


def test_exact_method_is_at_least_as_good_as_pso(win, pso):
    """The exact method (continuous relaxation, rounding, neighbourhood search with the UPFC re-optimized) ends
    at a local optimum started from the relaxation's optimum, a lower bound; the PSO's particles fix the UPFC
    as well and a small swarm samples few points, so on this instance its best is not better."""
    exact = solve_slow(win, W)
    assert exact.ok and pso.ok
    assert exact.relaxed_objective <= exact.objective + 1e-6 * abs(exact.objective)
    assert exact.objective <= pso.objective * (1 + 1e-9)


def test_same_seed_same_result_and_bounds_restored(win, pso):
    m = build_volt_var(win, objective="slow", dt_h=1.0, weights=W)
    before = {k: (b.lb.copy(), b.ub.copy()) for k, b in m.b.blocks.items()}
    again = solve_slow_pso(m, seed=0, population=POP, generations=GEN)
    assert again.objective == pytest.approx(pso.objective, rel=1e-9)
    for a, b in zip(again.schedule, pso.schedule):
        assert np.array_equal(a.taps, b.taps) and np.array_equal(a.steps, b.steps)
        assert np.allclose(a.q_sh_mvar, b.q_sh_mvar) and np.allclose(a.vse_re, b.vse_re)
    assert again.info["history"] == pytest.approx(pso.info["history"], rel=1e-9)
    for k, (lo, hi) in before.items():
        assert np.array_equal(m.b.blocks[k].lb, lo) and np.array_equal(m.b.blocks[k].ub, hi), k


def test_spread_over_seeds_is_well_formed(win):
    s = pso_spread(win, W, seeds=2, population=6, generations=2)
    assert len(s["objectives"]) == 2 and all(np.isfinite(s["objectives"]))
    assert s["min"] <= s["median"] <= s["max"] and s["std"] >= 0
    assert s["min"] == min(s["objectives"]) and s["max"] == max(s["objectives"])
    assert s["time_s"] > 0 and s["mean_time_s"] == pytest.approx(s["time_s"] / 2)


def test_decoding_keeps_limits(win):
    """Decoded particles are integer, within the limits and the move limits; the UPFC's series voltage on its
    disk."""
    m = build_volt_var(win, objective="slow", dt_h=1.0, weights=W)
    fit = _Fitness(m, UPFC_BLOCKS)
    rng = np.random.default_rng(3)
    for _ in range(50):
        c = fit.decode(rng.uniform(fit.xl, fit.xu))
        for name, lim in ((TAP_BLOCK, 5), (STEP_BLOCK, 3)):
            v = c[name]
            lo, hi = m.info["bounds0"][name]
            assert np.array_equal(v, np.round(v)) and np.all(v >= lo) and np.all(v <= hi)
            full = np.column_stack([np.zeros(v.shape[0]), v])
            assert np.all(np.abs(np.diff(full, axis=1)) <= lim)
        assert np.all(np.hypot(c[UPFC_BLOCKS[1]], c[UPFC_BLOCKS[2]]) <= 0.4 + 1e-12)
