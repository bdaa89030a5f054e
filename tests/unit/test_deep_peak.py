"""The deep peak shaving cost of seed 001 as a MILP, against the staged formula evaluated directly."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.backends import new_builder
from tdcoord.devices.deep_peak import DeepPeakUnit, constraint_deep_peak_cost
from tdcoord.errors import InputError

# a 100 MW unit: normal down to 50 MW, deep peak shaving to 40 MW without oil, to 30 MW with oil;
# the subsidy (0.9 x 40 = 36 $/MWh) is worth more than the loss (20 $/MWh), so the cost is not convex
UNIT = DeepPeakUnit("G1", p_max_mw=100.0, p_a_mw=50.0, p_b_mw=40.0, p_c_mw=30.0, a=0.02, b=20.0, c=100.0,
                    k1=20.0, k2=60.0, hs=0.9, ks=40.0)
CONVEX = DeepPeakUnit("G2", p_max_mw=80.0, p_a_mw=40.0, p_b_mw=30.0, p_c_mw=24.0, a=0.01, b=25.0, c=50.0,
                      k1=30.0, k2=80.0, hs=0.5, ks=20.0)


def test_staged_cost_by_hand():
    # normal stage: fuel only
    assert UNIT.cost(80.0) == pytest.approx(0.02 * 6400 + 1600 + 100)
    # 45 MW: 5 MW deep, loss 20 x 5 = 100 less subsidy 36 x 5 = 180
    assert UNIT.cost(45.0) == pytest.approx(0.02 * 2025 + 900 + 100 + 100 - 180)
    # 35 MW: 15 MW deep (loss 300, subsidy 540) and 5 MW on oil (300)
    assert UNIT.cost(35.0) == pytest.approx(0.02 * 1225 + 700 + 100 + 300 - 540 + 300)
    assert [UNIT.stage(p) for p in (80, 50, 45, 40, 35, 30)] == ["normal", "normal", "deep", "deep", "oil", "oil"]
    with pytest.raises(InputError, match="outside"):
        UNIT.cost(25.0)


def solve_at(units, p_fixed, breakpoints=9):
    """The MILP cost with every unit's output fixed per period (so the cost is the model's value of p)."""
    p_fixed = np.asarray(p_fixed, float)
    n, T = p_fixed.shape
    b = new_builder("conic", "deep_peak_test")
    p = b.variable("p_mw", (n, T), p_fixed, p_fixed)
    m = constraint_deep_peak_cost(b, "dps", units, p, T, breakpoints=breakpoints)
    b.objective_term("cost", m.cost)
    sol = b.solve(solver="HIGHS")
    assert sol.ok, sol.status
    return sol


@pytest.mark.parametrize("unit", [UNIT, CONVEX], ids=["subsidized", "convex"])
def test_milp_cost_equals_the_staged_formula(unit):
    # outputs in every stage, at the stage limits, and at the breakpoints (where the fuel chords are exact)
    grid = np.unique(np.r_[unit.breakpoints(), unit.p_a_mw, unit.p_b_mw, unit.p_c_mw, unit.p_max_mw,
                           np.linspace(unit.p_c_mw, unit.p_max_mw, 13)])
    sol = solve_at([unit], grid[None, :])
    exact = unit.cost(grid)
    model = sol.x["dps.fuel_cost"][0] + (unit.k1 - unit.hs * unit.ks) * (sol.x["dps.deep_mw"][0]
                                                                          + sol.x["dps.oil_mw"][0]) \
        + unit.k2 * sol.x["dps.oil_mw"][0]
    # above the exact cost by at most the chords' error, never below it
    assert (model >= exact - 1e-6).all()
    assert (model - exact <= unit.max_fuel_error() + 1e-6).all()
    on_bp = np.isin(grid, unit.breakpoints())
    np.testing.assert_allclose(model[on_bp], exact[on_bp], atol=1e-6)
    assert sol.objective == pytest.approx(model.sum(), abs=1e-6)
    # the stage binaries follow the output
    deep = sol.x["dps.deep_on"][0] > 0.5
    oil = sol.x["dps.oil_on"][0] > 0.5
    np.testing.assert_array_equal(deep, grid < unit.p_a_mw - 1e-9)
    np.testing.assert_array_equal(oil, grid < unit.p_b_mw - 1e-9)


def test_no_subsidy_above_the_normal_minimum():
    """With the subsidy worth more than the loss, an LP would shave and run above p_a at once to collect it; the
    binaries forbid that: at 80 MW nothing is shaved."""
    sol = solve_at([UNIT], [[80.0]])
    assert sol.x["dps.deep_mw"][0, 0] == pytest.approx(0.0, abs=1e-9)
    assert sol.x["dps.above_mw"][0, 0] == pytest.approx(30.0)
    relaxed_d1 = 50.0 - 40.0  # what the relaxation would shave for the subsidy
    assert UNIT.k1 - UNIT.hs * UNIT.ks < 0 and relaxed_d1 > 0


def test_dispatch_chooses_deep_shaving_when_it_pays():
    """Two periods, demand 60 MW then 35 MW from one unit and a cheap 5 $/MWh import. Going down from 50 to 40 MW
    saves fuel, earns the subsidy net of the loss (16 $/MWh) and costs 5 $/MWh of import: the unit shaves to 40 MW.
    Below 40 MW the oil (60 $/MWh) does not pay, so at 35 MW demand it stays at 35 MW."""
    b = new_builder("conic", "deep_peak_dispatch")
    p = b.variable("p_mw", (1, 2), 30.0, 100.0)
    imp = b.variable("import_mw", (1, 2), 0.0, np.inf)
    b.constraint_eq("balance", p + imp, np.array([[60.0, 35.0]]))
    m = constraint_deep_peak_cost(b, "dps", [UNIT], p, 2)
    b.objective_term("cost", m.cost + 5.0 * b.ops.sum(imp))
    sol = b.solve(solver="HIGHS")
    assert sol.ok
    p_opt = sol.x["p_mw"][0]
    # brute force over a 0.5 MW grid with the exact staged cost
    best = []
    for demand in (60.0, 35.0):
        grid = np.arange(30.0, min(100.0, demand) + 1e-9, 0.5)
        total = UNIT.cost(grid) + 5.0 * (demand - grid)
        best.append(grid[np.argmin(total)])
    np.testing.assert_allclose(best, [40.0, 35.0])
    np.testing.assert_allclose(p_opt, best, atol=1e-6)
    assert [UNIT.stage(v) for v in p_opt] == ["deep", "oil"]


@pytest.mark.parametrize("kw, needle", [
    ({"p_b_mw": 60.0}, "p_c_mw <= p_b_mw <= p_a_mw"),
    ({"p_c_mw": -1.0}, "0 <= p_c_mw"),
    ({"k2": -5.0}, "k2"),
    ({"a": float("nan")}, "a = nan"),
])
def test_bad_unit_data(kw, needle):
    base = dict(name="G", p_max_mw=100.0, p_a_mw=50.0, p_b_mw=40.0, p_c_mw=30.0, a=0.02, b=20.0, c=100.0,
                k1=20.0, k2=60.0, hs=0.9, ks=40.0)
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        DeepPeakUnit(**(base | kw))
