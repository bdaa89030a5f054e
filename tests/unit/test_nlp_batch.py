"""NlpBatch: independent NLPs solved as one IPOPT problem give each NLP's own optimum."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.backends.casadi_nlp import NlpBatch, NlpBuilder


def member(name: str, target: tuple[float, float], radius: float = 1.0) -> NlpBuilder:
    """Nearest point to ``target`` on x + 2 y = 1 inside the circle of ``radius`` (one optimum)."""
    b = NlpBuilder(name)
    x = b.variable("x", 2, lb=-10.0, ub=10.0, start=[0.0, 0.5])
    a = b.parameter("a", target)
    b.constraint_ineq("inside", x[0] ** 2 + x[1] ** 2, ub=radius**2)
    b.constraint_eq("line", x[0] + 2 * x[1], rhs=1.0)
    b.objective_term("dist", (x[0] - a[0]) ** 2 + (x[1] - a[1]) ** 2)
    b.objective_term("push", x[1], weight=0.1)
    return b


def alone(b: NlpBuilder):
    """The same member solved on its own (a fresh copy, so the batch's builders keep their state)."""
    c = member(b.name, tuple(b.params["a"][1]), np.sqrt(b.cons[0][3][0]))
    return c.solve()


@pytest.fixture
def members():
    return [member("m0", (2.0, 1.0)), member("m1", (-1.0, 3.0), 1.5), member("m2", (0.2, 0.1), 0.8)]


def test_joint_solve_equals_each_solve(members):
    batch = NlpBatch(members)
    sols, status = batch.solve([None] * len(members))
    assert status == "Solve_Succeeded" and sols is not None
    for b, s in zip(members, sols):
        ref = alone(b)
        assert ref.ok and s.ok
        np.testing.assert_allclose(s.x_raw, ref.x_raw, atol=1e-7)
        assert s.objective == pytest.approx(ref.objective, abs=1e-8)
        assert s.terms == pytest.approx(ref.terms, abs=1e-8)
        np.testing.assert_allclose(s.g["inside"], ref.g["inside"], atol=1e-7)
        np.testing.assert_allclose(s.lam["line"], ref.lam["line"], atol=1e-6)
        assert s.objective == pytest.approx(s.terms["dist"] + 0.1 * s.terms["push"], abs=1e-12)
    # the members differ (a mix-up of their slices would show), and the circle binds for some
    assert len({round(float(s.x_raw[0]), 6) for s in sols}) == 3
    assert any(abs(s.lam["inside"][0]) > 1e-3 for s in sols) and any(abs(s.lam["inside"][0]) < 1e-6 for s in sols)


def test_new_parameters_and_warm_starts_are_used(members):
    batch = NlpBatch(members, options={"ipopt.warm_start_init_point": "yes", "ipopt.mu_init": 1e-6})
    first, _ = NlpBatch(members).solve([None] * 3)
    members[1].set_parameter("a", [3.0, -2.0])
    sols, status = batch.solve(first)
    assert sols is not None, status
    ref = alone(members[1])
    np.testing.assert_allclose(sols[1].x_raw, ref.x_raw, atol=1e-7)
    np.testing.assert_allclose(sols[0].x_raw, first[0].x_raw, atol=1e-7)


def test_a_failing_member_fails_the_joint_solve(members):
    bad = member("bad", (0.0, 0.0))
    x = bad.blocks["x"].sym
    bad.constraint_ineq("impossible", x[0] ** 2 + x[1] ** 2, ub=-1.0)
    sols, status = NlpBatch(members[:2] + [bad]).solve([None] * 3)
    assert sols is None
    assert status in ("Infeasible_Problem_Detected", "Restoration_Failed", "Local_Infeasibility")
    assert not bad.solve().ok and members[0].solve().ok  # solved one by one, the culprit shows


def test_a_changed_member_makes_the_batch_stale(members):
    batch = NlpBatch(members)
    assert batch.current(members)
    assert not batch.current(members[:2])
    assert not batch.current([members[1], members[0], members[2]])
    members[2].constraint_ineq("extra", members[2].blocks["x"].sym[0], ub=5.0)
    assert not batch.current(members)
    assert NlpBatch(members).current(members)
