"""The default case, its base power flow and weights, computed once."""

from __future__ import annotations

import pytest

from tdcoord.cases import load_case
from tdcoord.coordination.common import base_case, start_point
from tdcoord.problems.rpo import RpoConfig
from tdcoord.coordination.weights import entropy_weights


@pytest.fixture(scope="session")
def default_case():
    cs = load_case("ieee30+ieee33@6")
    pf = base_case(cs)
    starts = start_point(cs, pf)
    w = entropy_weights(cs, RpoConfig(), base_pf=pf, starts=starts)
    return cs, pf, starts, w


@pytest.fixture(scope="session")
def centralized(default_case):
    from tdcoord.coordination.centralized import solve_centralized

    cs, pf, starts, w = default_case
    return solve_centralized(cs, RpoConfig(weights=w), base_pf=pf, starts=starts)
