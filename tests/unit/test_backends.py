"""The two backends: one model-building interface, the solvers behind each, SOS sets through SCIP."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tdcoord.backends import new_builder

pytest.importorskip("pyscipopt")


def knapsack(backend: str = "conic", integer: bool = True):
    """max sum v x  s.t. sum w x <= 10, x in {0,1,2}^4 (as a minimization); optimum found by enumeration below."""
    b = new_builder(backend, "knapsack")
    v = np.array([5.0, 4.0, 3.0, 7.0])
    w = np.array([4.0, 3.0, 2.0, 5.0])
    x = b.variable("x", 4, 0.0, 2.0, 0.0, kind="integer" if integer else "continuous")
    b.constraint_ineq("weight", b.ops.mm(w.reshape(1, -1), x), -np.inf, 10.0)
    b.objective_term("value", -b.ops.sum(b.ops.rows(v, x)))
    return b, v, w


def best_knapsack(v, w):
    return max(float(v @ np.array(c)) for c in itertools.product(range(3), repeat=4) if np.array(c) @ w <= 10)


@pytest.mark.parametrize("solver", ["HIGHS", "SCIP"])
def test_milp_on_highs_and_scip(solver):
    b, v, w = knapsack()
    sol = b.solve(solver=solver)
    assert sol.ok and sol.solver == solver
    assert -sol.objective == pytest.approx(best_knapsack(v, w), abs=1e-6)
    assert np.allclose(sol.x["x"], np.round(sol.x["x"]), atol=1e-6)
    assert b.default_solver() == "HIGHS"


@pytest.mark.parametrize("solver", ["HIGHS", "SCIP", "CLARABEL"])
def test_lp_duals_agree_with_ipopt(solver):
    """The LP relaxation: the same optimum and the same multiplier on all three solvers and on IPOPT."""
    ref, v, w = knapsack("nlp", integer=False)
    r = ref.solve()
    b, _, _ = knapsack(integer=False)
    sol = b.solve(solver=solver)
    assert sol.ok and r.ok
    assert sol.objective == pytest.approx(r.objective, rel=1e-6)
    # greedy by value per weight: item 2 (1.5) to its bound of 2, then item 3 (1.4) fractional at 1.2;
    # the capacity's price is the fractional item's 7/5: the objective falls by 1.4 per unit of capacity,
    # and the binding upper bound's multiplier is +1.4 (IPOPT's sign convention, kept on every solver)
    assert sol.x["x"] == pytest.approx([0.0, 0.0, 2.0, 1.2], abs=1e-6)
    assert sol.lam["weight"][0] == pytest.approx(r.lam["weight"][0], rel=1e-5)
    assert sol.lam["weight"][0] == pytest.approx(1.4, rel=1e-6)


def socp(backend: str, integer: bool = False):
    """min t s.t. ||(x - 1.3, y - 0.4)||^2 <= t * 1 (rotated cone), x + y >= 2.5; x integer optionally."""
    b = new_builder(backend, "socp")
    x = b.variable("x", 1, -10.0, 10.0, 0.0, kind="integer" if integer else "continuous")
    y = b.variable("y", 1, -10.0, 10.0, 0.0)
    t = b.variable("t", 1, 0.0, np.inf, 1.0)
    one = b.variable("one", 1, 1.0, 1.0, 1.0)
    b.constraint_cone("dist", [x - 1.3, y - 0.4], t, one)
    b.constraint_ineq("sum", x + y, 2.5, np.inf)
    b.objective_term("t", b.ops.sum(t))
    return b


@pytest.mark.parametrize("solver", ["CLARABEL", "SCIP"])
def test_socp_on_clarabel_and_scip_equals_ipopt(solver):
    ref = socp("nlp").solve()
    sol = socp("conic").solve(solver=solver)
    assert ref.ok and sol.ok
    # the projection of (1.3, 0.4) on x + y >= 2.5: distance^2 = 0.8^2 / 2
    assert ref.objective == pytest.approx(0.32, abs=1e-7)
    assert sol.objective == pytest.approx(ref.objective, abs=1e-6)
    assert socp("conic").default_solver() == "CLARABEL"


def test_misocp_on_scip():
    b = socp("conic", integer=True)
    assert b.default_solver() == "SCIP"
    sol = b.solve()
    assert sol.ok
    # x integer: x = 2 gives y = 0.5, distance^2 = 0.49 + 0.01; x = 1 gives y = 1.5: 0.09 + 1.21
    assert sol.x["x"][0] == pytest.approx(2.0, abs=1e-6)
    assert sol.objective == pytest.approx(0.50, abs=1e-6)


def piecewise(kind: int, target: float):
    """min |f(x) - target| over x in [0, 3] with f piecewise linear through (0,0),(1,2),(2,2.5),(3,2.6)."""
    b = new_builder("conic", f"sos{kind}")
    xs = np.array([0.0, 1.0, 2.0, 3.0])
    fs = np.array([0.0, 2.0, 2.5, 2.6])
    lam = b.variable("lam", (4, 1), 0.0, 1.0, 0.0)
    x = b.variable("x", 1, 0.0, 3.0, 0.0)
    f = b.variable("f", 1, -np.inf, np.inf, 0.0)
    err = b.variable("err", 1, 0.0, np.inf, 0.0)
    b.constraint_eq("convex", b.ops.sum(lam), 1.0)
    b.constraint_eq("x", x - b.ops.mm(xs.reshape(1, -1), lam), 0.0)
    b.constraint_eq("f", f - b.ops.mm(fs.reshape(1, -1), lam), 0.0)
    b.constraint_ineq("err_up", err - f, -target, np.inf)
    b.constraint_ineq("err_down", err + f, target, np.inf)
    if kind == 2:
        b.constraint_sos2("curve", lam)
    else:
        b.constraint_sos1("curve", lam)
    b.objective_term("err", b.ops.sum(err))
    b.objective_term("x", b.ops.sum(x), 1e-3)
    return b


def test_sos2_makes_a_piecewise_linear_curve_exact():
    b = piecewise(2, 2.25)
    sol = b.solve()
    assert sol.ok and sol.solver == "SCIP" and b.default_solver() == "SCIP"
    lam = sol.x["lam"][:, 0]
    assert np.count_nonzero(lam > 1e-7) <= 2 and np.all(np.diff(np.flatnonzero(lam > 1e-7)) == 1)
    # on the curve: f = 2.25 first at x = 1.5 (the cheapest x); without SOS2 the convex hull reaches it sooner
    assert sol.x["x"][0] == pytest.approx(1.5, abs=1e-6)
    assert sol.x["f"][0] == pytest.approx(2.25, abs=1e-6)
    with pytest.raises(ValueError, match="only SCIP"):
        b.solve(solver="HIGHS")


def test_sos1_picks_one_breakpoint():
    sol = piecewise(1, 2.25).solve()
    lam = sol.x["lam"][:, 0]
    assert sol.ok and np.count_nonzero(lam > 1e-7) == 1
    # only breakpoints: f in {0, 2, 2.5, 2.6}; the closest to 2.25 are 2 (x=1) and 2.5 (x=2), both 0.25 off
    assert sol.x["x"][0] == pytest.approx(1.0, abs=1e-6) and sol.objective == pytest.approx(0.25 + 1e-3, abs=1e-6)


def test_sos_needs_scip_and_the_nlp_backend_refuses_it():
    b = new_builder("nlp")
    lam = b.variable("lam", 3)
    with pytest.raises(NotImplementedError, match="SCIP"):
        b.constraint_sos2("s", lam)


def test_parameters_and_bounds_change_without_rebuilding():
    b = new_builder("conic")
    x = b.variable("x", (2, 3), 0.0, 5.0, 0.0)
    c = b.parameter("c", np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    b.constraint_eq("demand", b.ops.sum_rows(x), np.array([[1.0, 2.0, 3.0]]))
    b.objective_term("cost", b.ops.sum(b.ops.mul(c, x)))
    first = b.solve()
    problem = b._problems["relaxed"][1]
    b.set_parameter("c", np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]]))
    b.set_bounds("x", ub=np.array([[5.0, 5.0, 5.0], [0.5, 5.0, 5.0]]))
    second = b.solve()
    assert b._problems["relaxed"][1] is problem  # same finite pattern of bounds: the cvxpy problem is reused
    assert first.objective == pytest.approx(1 * 1 + 2 * 2 + 1 * 3)
    # period 0: cheaper row 1 capped at 0.5, the rest from row 0 at 3; period 1: 2 * 2; period 2: row 0 at 1
    assert second.objective == pytest.approx(0.5 * 1 + 0.5 * 3 + 4 + 3 * 1)
    assert second.x["x"].shape == (2, 3)


def test_crossed_bounds_are_named_not_cut_off():
    # IPOPT refuses lb > ub as "ill-posed" with the cause on a line of its own; the builder names it
    from tdcoord.backends import new_builder
    from tdcoord.backends.casadi_nlp import casadi_error_text

    b = new_builder("nlp")
    x = b.variable("vm", 2, lb=np.array([1.2, 0.0]), ub=np.array([1.05, 1.0]))
    b.objective_term("o", (x[0] - 1) ** 2 + x[1] ** 2)
    b.constraint_ineq("flow", x[0] + x[1], lb=3.0, ub=2.0)
    sol = b.solve()
    assert not sol.ok
    assert "variable vm[0]: lower bound 1.2 above upper bound 1.05" in sol.solver_status
    assert "constraint flow[0]: lower bound 3 above upper bound 2" in sol.solver_status
    raw = RuntimeError("Error in Function::call for 'model' [IpoptInterface] at .../casadi/core/function.cpp:1655:\n"
                       ".../casadi/core/nlpsol.cpp:731: Assertion failed: Ill-posed problem detected: "
                       "LBX[0] <= UBX[0] was violated.\nGot LBX[0]=1.2 and UBX[0] = 1.05.")
    text = casadi_error_text(raw)
    assert text.startswith("Assertion failed") and text.endswith("Got LBX[0]=1.2 and UBX[0] = 1.05.")
