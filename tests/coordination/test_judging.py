"""Every operating point is judged by all of its limits: voltages, Q and P limits, branch ratings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tdcoord.cases import load_case
from tdcoord.coordination.common import base_case
from tdcoord.coordination.independent import solve_independent_d
from tdcoord.problems.evaluate import VIOLATION_KINDS, evaluate
from tdcoord.problems.rpo import RpoConfig, Weights

W = Weights()


def test_base_point_breaks_reactive_limits_and_says_which(default_case):
    cs, pf, _, _ = default_case
    ev = evaluate(cs, pf, W)
    assert set(ev.violations) == set(VIOLATION_KINDS)
    assert ev.violations["voltage"] == 4 and ev.violations["q_limit"] == 2
    assert ev.n_violations == sum(ev.violations.values()) == 6
    q = ev.offenders[ev.offenders.kind == "q_limit"].set_index("element")
    # the machine at bus 2 gives 64.0 Mvar against 50, the condenser at bus 5 44.8 against 40
    assert q.loc["gen 1 (bus 2)", "value"] == pytest.approx(64.04, abs=0.01) and q.loc["gen 1 (bus 2)", "limit"] == 50.0
    assert q.loc["gen 2 (bus 5)", "value"] == pytest.approx(44.76, abs=0.01) and q.loc["gen 2 (bus 5)", "limit"] == 40.0
    # reserves are not clipped: the two machines beyond their limits have negative reserves, counted as they are
    dev = ev.devices.set_index(["network", "table", "index"])
    assert dev.loc[("T", "gen", 1), "reserve_mvar"] == pytest.approx(50.0 - 64.04, abs=0.01)
    assert ev.q_reserve_t_mvar == pytest.approx(dev.loc["T"].reserve_mvar.sum())
    assert ev.q_reserve_t_mvar < dev.loc["T"].reserve_mvar.clip(lower=0).sum() - 18.0


def test_independent_d_is_flagged_and_the_json_says_so(default_case):
    cs, pf, starts, w = default_case
    r = solve_independent_d(cs, RpoConfig(weights=w), base_pf=pf, starts=starts)
    s = json.loads(json.dumps(r.summary()))
    assert set(s["violations"]) == {"voltage", "q_limit", "p_limit", "branch_rating"}
    assert s["n_violations"] == sum(s["violations"].values())
    assert s["violations"]["q_limit"] == 2  # the frozen transmission side: bus 2 at 59.6 Mvar (50), bus 5 at 42.4 (40)
    by = {v["element"]: v for v in s["violation_list"] if v["kind"] == "q_limit"}
    assert by["gen 1 (bus 2)"]["value"] == pytest.approx(59.6, abs=0.1)
    assert by["gen 2 (bus 5)"]["value"] == pytest.approx(42.4, abs=0.1)
    # with the machines' limits enforced (PV to PQ) the same set-points give another point, reported beside
    q = s["recheck_q_limits"]
    assert q["converged"] and q["violations"]["q_limit"] == 0 and q["n_violations"] == sum(q["violations"].values())


def test_centralized_breaks_nothing(centralized):
    r = centralized
    assert r.violations == {"voltage": 0, "q_limit": 0, "p_limit": 0, "branch_rating": 0} and r.n_violations == 0
    assert r.recheck_q_limits["n_violations"] == 0


def test_ratings_and_active_limits_are_counted():
    cs = load_case("ieee30+ieee33@6x1")
    t = cs.transmission
    pf = base_case(cs)
    flows = pf.transmission.res_line
    k = int(np.nanargmax(np.maximum(flows.p_from_mw.abs(), flows.p_to_mw.abs())))
    t.line.loc[t.line.index[k], "rate_mva"] = 10.0  # far below what the line carries
    slack = t.gen.index[t.gen.slack][0]
    t.gen.loc[slack, "p_max_mw"] = 1.0  # the slack carries more than this
    pf = base_case(cs)
    ev = evaluate(cs, pf, W)
    assert ev.violations["branch_rating"] == 1 and ev.violations["p_limit"] == 1
    off = ev.offenders.set_index("kind")
    # the table's own index, with what the data call the element (MATPOWER's 1-based branch number) and its bus
    line = t.line.index[k]
    assert off.loc["branch_rating", "element"] == f"line {line} ({t.line.at[line, 'name']})"
    assert t.line.at[line, "name"] == f"branch {line + 1}" and off.loc["branch_rating", "value"] > 100
    assert off.loc["p_limit", "element"] == f"gen {slack} (bus {t.gen.at[slack, 'bus']})"
    assert off.loc["p_limit", "limit"] == 1.0
