"""Building many-feeder models fast gives the same model: prepared feeder inputs, shared feeder templates."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.cases import load_case


def test_feeder_inputs_equal_compiling_the_feeder_with_its_boundary():
    """AreaInputs extends the feeder's compiled arrays instead of building tables: the same arrays, exactly."""
    from tdcoord.network.compiled import compile_network
    from tdcoord.problems.rpo import AreaInputs, device_free_network, feeder_network

    cs = load_case("ieee118+ieee33@59x2+ieee13@60")
    inputs = AreaInputs(cs)
    for f in cs.feeders:
        ref = compile_network(device_free_network(feeder_network(cs, f)))
        _, got = inputs.feeder(f)
        for k, v in ref.__dict__.items():
            if k in ("_cache", "name"):
                continue
            w = getattr(got, k)
            if isinstance(v, np.ndarray):
                assert v.shape == w.shape and (np.array_equal(v, w) if v.dtype == object
                                               else np.array_equal(v, w, equal_nan=True)), (f, k)
            else:
                assert v == w, (f, k)


def test_template_feeders_give_the_same_optimum():
    """Eight or more feeders share casadi Functions (templates); the optimum is the one built feeder by feeder."""
    import tdcoord.coordination.problem as P
    from tdcoord.coordination.centralized import solve_centralized
    from tdcoord.problems.rpo import RpoConfig, Weights

    cs = load_case("ieee118+8xieee33")
    cfg = RpoConfig(weights=Weights(), vm_band=(0.9, 1.1))
    shared = solve_centralized(cs, cfg)
    minimum, P.TEMPLATE_MIN_FEEDERS = P.TEMPLATE_MIN_FEEDERS, 10**6
    try:
        direct = solve_centralized(cs, cfg)
    finally:
        P.TEMPLATE_MIN_FEEDERS = minimum
    assert shared.converged and direct.converged
    assert shared.objective == pytest.approx(direct.objective, rel=1e-8)
    assert shared.iterations == direct.iterations
