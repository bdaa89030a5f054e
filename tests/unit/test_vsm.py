"""Continuation power flow, margins and their sensitivities."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.cases import load_case
from tdcoord.pf.newton import newton_pf
from tdcoord.stability.sensitivity import margin_gradient
from tdcoord.stability.vsm import brute_force_q_margin, loadability, operating_point, q_margin, q_margins


@pytest.fixture(scope="module")
def op30(ieee30):
    return operating_point(ieee30)


@pytest.mark.parametrize("bus", ["30", "26", "19", "7", "14", "5", "11"])
def test_cpf_margin_matches_brute_force(op30, bus):
    """Q-V margin by continuation vs adding Q load step by step until Newton fails (within 2 %)."""
    b = op30.cn.position()[bus]
    cpf = q_margin(op30, b)
    assert cpf.converged and cpf.reason in ("nose", "limit-induced nose")
    brute = brute_force_q_margin(op30, b, step_mvar=2.0, resolution_mvar=0.05)
    mvar = cpf.lambda_max * op30.cn.base_mva
    assert abs(mvar - brute) / brute < 0.02
    # the nose lies beyond the last convergent load step, not before it
    assert mvar >= brute - 1e-6


def test_loadability_traces_the_nose(ieee30):
    r = loadability(ieee30, keep_trace=True)
    assert r.converged and r.reason in ("nose", "limit-induced nose")
    lam = np.array(r.trace["lambda"])
    assert lam.max() <= r.lambda_max + 1e-9
    # brute force along the same direction, without generator limits: scale loads (and
    # generation) until Newton fails
    op = operating_point(ieee30, enforce_q_lims=False)
    cn = op.cn
    d = -(cn.p_load + 1j * cn.q_load) + cn.gen_p_bus()
    ok_lam, v, step = 0.0, op.v, 0.05
    while step > 1e-3:
        trial = ok_lam + step
        s = op.s0 + trial * d
        ref = np.flatnonzero(op.bus_type == 3)
        pv = np.flatnonzero(op.bus_type == 2)
        pq = np.flatnonzero(op.bus_type == 1)
        out = newton_pf(cn.ybus()[0], s, v, ref, pv, pq, tol=1e-9, max_iter=20)
        if out.converged and np.abs(out.v).min() > 0.3:
            ok_lam, v = trial, out.v
        else:
            step /= 2
    free = loadability(ieee30, enforce_q_lims=False)
    assert abs(free.lambda_max - ok_lam) / ok_lam < 0.02
    assert free.lambda_max >= ok_lam - 1e-9
    # generator limits can only bring the nose closer
    assert r.lambda_max <= free.lambda_max + 1e-6


def test_feeder_margins_use_the_feeder_base():
    cs = load_case("ieee30+ieee33@7")
    df = q_margins(cs, ["ieee33@7:18", "7"])
    assert df.at["ieee33@7:18", "base_mva"] == cs.feeders["ieee33@7"].sn_mva == 10.0
    assert df.at["7", "base_mva"] == 100.0
    assert df.at["ieee33@7:18", "vsm_pu"] == pytest.approx(df.at["ieee33@7:18", "q_margin_mvar"] / 10.0)
    assert df.at["ieee33@7:18", "q_margin_mvar"] < df.at["7", "q_margin_mvar"]


def test_margin_gradient_matches_finite_difference(op30):
    cn = op30.cn
    pos = cn.position()
    i = pos["30"]
    d = np.zeros(cn.n_bus, complex)
    d[i] = -1j
    r = q_margin(op30, i)
    g = margin_gradient(cn, d, r)
    assert g.dq[i] == pytest.approx(1.0, abs=1e-6)  # injecting at the weak bus itself
    for j, dq in ((pos["29"], 0.02), (pos["24"], 0.02)):
        op2 = operating_point(load_case("ieee30"))
        op2.s0 = op2.s0.copy()
        op2.s0[j] += 1j * dq
        ref = np.flatnonzero(op2.bus_type == 3)
        pv = np.flatnonzero(op2.bus_type == 2)
        pq = np.flatnonzero(op2.bus_type == 1)
        op2.v = newton_pf(cn.ybus()[0], op2.s0, op2.v, ref, pv, pq).v
        fd = (q_margin(op2, i).lambda_max - r.lambda_max) / dq
        assert fd == pytest.approx(g.dq[j], rel=0.05)
