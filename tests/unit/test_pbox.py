"""P-box of forecast errors, flexibility demand and tail risk (seed 001, section 3) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tdcoord.errors import InputError
from tdcoord.uncertainty.pbox import (
    ErrorHistory,
    PBox,
    cvar,
    error_bounds,
    fit_pbox,
    fit_pboxes,
    flexibility_demand,
    synthetic_history,
    tail_risk,
)

Z975 = 1.959963984540054  # the standard normal's 97.5 % quantile


def test_pbox_envelope_is_the_corner_distributions():
    b = PBox((-0.01, 0.01), (0.02, 0.03))
    # at x = 0: the optimistic CDF is mu = -0.01 with the narrow sigma, Phi(0.5); the conservative one Phi(-0.5)
    assert b.cdf_upper(0.0) == pytest.approx(stats.norm.cdf(0.5))
    assert b.cdf_lower(0.0) == pytest.approx(stats.norm.cdf(-0.5))
    # far left the wide sigma gives the larger CDF: x = -0.1, mu = -0.01, sigma 0.03 -> Phi(-3)
    assert b.cdf_upper(-0.1) == pytest.approx(stats.norm.cdf(-3.0))
    # the envelope holds every distribution of the box, on a grid
    x = np.linspace(-0.15, 0.15, 61)
    for mu in np.linspace(-0.01, 0.01, 5):
        for sd in np.linspace(0.02, 0.03, 5):
            f = stats.norm.cdf(x, mu, sd)
            assert (f <= b.cdf_upper(x) + 1e-12).all() and (f >= b.cdf_lower(x) - 1e-12).all()


def test_truncated_interval_by_hand():
    b = PBox((-0.01, 0.02), (0.02, 0.03))
    lo, hi = b.interval(0.95)
    assert lo == pytest.approx(-0.01 - Z975 * 0.03)
    assert hi == pytest.approx(0.02 + Z975 * 0.03)
    # the ends are where the envelope reaches the truncation levels
    assert b.cdf_upper(lo) == pytest.approx(0.025)
    assert b.cdf_lower(hi) == pytest.approx(0.975)
    # a degenerate box is one normal distribution
    assert PBox((0.0, 0.0), (1.0, 1.0)).interval(0.9) == pytest.approx((-1.6448536, 1.6448536))


def test_fit_pbox_by_hand():
    e = np.array([-0.02, 0.0, 0.01, 0.03, -0.01])
    b = fit_pbox(e, 0.95)
    m, s, n = 0.002, float(np.std(e, ddof=1)), 5
    half = stats.t.ppf(0.975, 4) * s / np.sqrt(n)
    assert b.mu == pytest.approx((m - half, m + half))
    assert b.sigma == pytest.approx((s * np.sqrt(4 / stats.chi2.ppf(0.975, 4)),
                                     s * np.sqrt(4 / stats.chi2.ppf(0.025, 4))))
    assert b.sigma[0] < s < b.sigma[1]


def test_flexibility_demand_by_hand():
    # three periods; one p-box per source for all periods
    load, wind, pv = np.array([100.0, 120.0, 90.0]), np.array([20.0, 10.0, 30.0]), np.array([0.0, 40.0, 10.0])
    boxes = {"load": PBox((0.0, 0.0), (0.01, 0.01)), "wind": PBox((0.0, 0.0), (0.1, 0.1)),
             "pv": PBox((0.0, 0.0), (0.05, 0.05))}
    z = Z975
    f = flexibility_demand(load, wind, pv, boxes, 0.95)
    net = load - wind - pv  # 80, 70, 50
    eps_u = z * (0.01 * load + 0.1 * wind + 0.05 * pv)  # load high, wind and PV low
    eps_d = -eps_u
    np.testing.assert_allclose(f.net_load, net)
    np.testing.assert_allclose(f.eps_up, eps_u)
    np.testing.assert_allclose(f.eps_down, eps_d)
    # period 0 -> 1: 70 + eps_u[1] - 80; period 2 -> 0 (the day repeats): 80 + eps_u[0] - 50
    up = [max(70 + eps_u[1] - 80, 0), max(50 + eps_u[2] - 70, 0), max(80 + eps_u[0] - 50, 0)]
    down = [min(70 + eps_d[1] - 80, 0), min(50 + eps_d[2] - 70, 0), min(80 + eps_d[0] - 50, 0)]
    np.testing.assert_allclose(f.up, up)
    np.testing.assert_allclose(f.down, down)
    # written out: the net load falls by 10 MW and the upper error bound of period 1 is 1.96 x 4.2 = 8.23 MW
    assert f.up[0] == 0.0 and f.down[0] == pytest.approx(-10 - z * 4.2)
    assert f.up[2] == pytest.approx(30 + z * (1.0 + 2.0 + 0.0))
    assert (f.up >= 0).all() and (f.down <= 0).all()


def test_cvar_by_hand():
    assert cvar(np.arange(1, 21), 0.9) == pytest.approx(19.5)  # the mean of the worst 10 %: 19 and 20
    assert cvar(np.array([5.0] * 10), 0.95) == pytest.approx(5.0)
    with pytest.raises(InputError):
        cvar(np.array([]), 0.9)


def test_tail_risk_by_hand():
    # one period, ten days; only the load errs: net error = e * 100 MW
    e = np.array([[-0.05], [-0.01], [0.0], [0.01], [0.02], [0.0], [0.03], [0.08], [-0.02], [0.0]])
    zero = np.zeros_like(e)
    h = ErrorHistory({"load": e, "wind": zero, "pv": zero})
    boxes = {"load": PBox((0.0, 0.0), (0.02, 0.02)), "wind": PBox((0.0, 0.0), (0.1, 0.1)),
             "pv": PBox((0.0, 0.0), (0.1, 0.1))}
    t = tail_risk(h, np.array([100.0]), np.array([0.0]), np.array([0.0]), boxes, 0.95)
    bound = Z975 * 2.0  # 3.92 MW
    # above: 8 MW only; below: -5 MW only
    assert t.prob_up[0] == pytest.approx(0.1) and t.prob_down[0] == pytest.approx(0.1)
    assert t.excess_up[0] == pytest.approx(8 - bound) and t.excess_down[0] == pytest.approx(5 - bound)
    assert t.expected_up[0] == pytest.approx(0.1 * (8 - bound))
    # CVaR at 95 % of ten equally likely errors: the worst one (8 MW up, 5 MW down)
    assert t.cvar_up[0] == pytest.approx(8.0) and t.cvar_down[0] == pytest.approx(5.0)
    # at 80 %: the mean of the worst two, (3 + 8) / 2 up and (2 + 5) / 2 down (the truncation level is beta too)
    t80 = tail_risk(h, np.array([100.0]), np.array([0.0]), np.array([0.0]), boxes, 0.8)
    assert t80.cvar_up[0] == pytest.approx(5.5) and t80.cvar_down[0] == pytest.approx(3.5)


def test_synthetic_history_is_seeded_and_scaled():
    a, b = synthetic_history(400, 24, seed=3), synthetic_history(400, 24, seed=3)
    c = synthetic_history(400, 24, seed=4)
    np.testing.assert_array_equal(a.errors["wind"], b.errors["wind"])
    assert not np.array_equal(a.errors["wind"], c.errors["wind"])
    assert (a.days, a.periods) == (400, 24)
    sd = {s: float(np.std(a.errors[s])) for s in ("load", "wind", "pv")}
    assert sd["load"] < sd["pv"] < sd["wind"]
    assert sd["wind"] == pytest.approx(0.15, rel=0.15)
    # the fitted boxes hold the generator's deviation (inflated by the day's spread and bias)
    boxes = fit_pboxes(a)
    assert len(boxes["pv"]) == 24
    # the generator's marginal deviation: 0.15 sqrt(0.2^2 + E[s_d^2]) with E[s_d^2] = exp(2 x 0.15^2)
    marginal = 0.15 * np.sqrt(0.04 + np.exp(0.045))
    inside = np.mean([bx.sigma[0] <= marginal <= bx.sigma[1] for bx in boxes["wind"]])
    assert inside >= 0.75


@pytest.mark.parametrize("mu, sigma", [((0.1, -0.1), (0.01, 0.02)), ((0.0, 0.1), (0.02, 0.01)),
                                       ((0.0, 0.1), (0.0, 0.01)), ((0.0, np.nan), (0.01, 0.02))])
def test_inconsistent_pbox_bounds_are_refused(mu, sigma):
    with pytest.raises(InputError, match="p-box"):
        PBox(mu, sigma)


def test_bad_profiles_and_levels_are_refused():
    b = {"load": PBox((0, 0), (0.01, 0.01)), "wind": PBox((0, 0), (0.1, 0.1)), "pv": PBox((0, 0), (0.1, 0.1))}
    with pytest.raises(InputError, match="one length"):
        flexibility_demand(np.ones(24), np.ones(23), np.ones(24), b)
    with pytest.raises(InputError, match="beta"):
        error_bounds(np.ones(3), np.ones(3), np.ones(3), b, beta=1.5)
    with pytest.raises(InputError, match="p-boxes for load"):
        flexibility_demand(np.ones(3), np.ones(3), np.ones(3), b | {"load": [b["load"]] * 2})
    with pytest.raises(InputError, match="periods"):
        tail_risk(synthetic_history(10, 24), np.ones(3), np.ones(3), np.ones(3), b)
    with pytest.raises(InputError, match="shape"):
        ErrorHistory({"load": np.zeros((5, 3)), "wind": np.zeros((5, 4)), "pv": np.zeros((5, 3))})
