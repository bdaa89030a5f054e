"""The T-D flexibility study with STVS (seed 001, part 2): the stability loop's cuts from hand-made assessments,
the settings' checks and the study without a surrogate (its JSON contract and the eps sweep)."""

from __future__ import annotations

import json
from collections import deque

import numpy as np
import pytest

from tdcoord.cases.stvs_flex import flex_data, flex_system
from tdcoord.errors import InputError
from tdcoord.problems.flex_schedule import StvsCuts, solve_schedule
from tdcoord.studies.stvs_flex import StvsFlexSettings, margins_table, run_study, stvs_cuts, summary
from tdcoord.studies.stvs_surrogate import Assessment, FaultAssessment

T = 24
FAULTS = ("2", "4", "5")


# ------------------------------------------------------------------ helpers
def fault(bus, tvci=1, vdsi=0.1):
    return FaultAssessment(bus=bus, duration_s=0.2, tvci=tvci, p_stable=0.9 if tvci == 1 else 0.1, vdsi=vdsi,
                           source="cnn")


def assessment(*faults):
    return Assessment(faults=list(faults), confirmed=0, agree=0, time_s=0.0, window_time_s=0.0, confirm_time_s=0.0)


def quiet_day():
    """Every hour stable, VDSI well under the limit."""
    return {h: assessment(*(fault(b) for b in FAULTS)) for h in range(T)}


def adjacency(tn):
    adj = {}
    for tab in (tn.line, tn.trafo):
        for u, v, on in zip(tab.from_bus.astype(str), tab.to_bus.astype(str), tab.in_service):
            if on:
                adj.setdefault(u, set()).add(v)
                adj.setdefault(v, set()).add(u)
    return adj


def hops(adj, start):
    dist, q = {start: 0}, deque([start])
    while q:
        u = q.popleft()
        for v in sorted(adj.get(u, ())):
            if v not in dist:
                dist[v] = dist[u] + 1
                q.append(v)
    return dist


def dispatchable(s, data, h):
    """Bus -> scheduled output at hour h of the thermal units and the hydro unit."""
    names = [u.name for u in data.thermal] + [data.hydro.name]
    return {s.gen_bus[n]: float(s.gen_mw[n][h]) for n in names}


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def data():
    return flex_data()


@pytest.fixture(scope="module")
def cs(data):
    return flex_system("base", data)


@pytest.fixture(scope="module")
def sched(cs, data):
    return solve_schedule(cs, data, method="method2", voltage_control=True)


# ------------------------------------------------------------------ 1. the loop's cuts
def test_ieee14_neighbours_of_bus_2(cs):
    adj = adjacency(cs.transmission)
    assert adj["2"] == {"1", "3", "4", "5"}
    assert adj["14"] == {"9", "13"}


def test_unstable_fault_caps_the_most_loaded_neighbour(cs, data, sched):
    settings = StvsFlexSettings()
    h = 10
    assessed = quiet_day()
    assessed[h] = assessment(fault("2", tvci=0, vdsi=0.3), fault("4"), fault("5"))
    cuts = StvsCuts()
    made = stvs_cuts(cs, sched, assessed, cuts, data, settings)
    # independently: the dispatchable machines at bus 2 or one branch away, the most loaded at hour 10
    near = {"2"} | adjacency(cs.transmission)["2"]
    out = dispatchable(sched, data, h)
    cand = {b: p for b, p in out.items() if b in near}
    assert set(cand) == {"1", "2", "3"}  # G1, G2 and H3 all lie within one branch of bus 2
    bus = max(cand, key=cand.get)
    lower = {"1": 30.0, "2": 30.0, "3": 10.0}[bus]
    cap = max(lower, 0.85 * cand[bus])
    assert cap < cand[bus]  # the cut binds
    assert cuts.gen_mw == {(bus, h): pytest.approx(cap, abs=1e-9)}
    assert cuts.vm_max == {} and cuts.boundary_mw == {}
    assert made == [{"hour": h, "fault": "2", "cut": "gen_mw", "bus": bus, "value": round(cap, 3)}]
    # the same assessment again makes no new cut (the cap is already there)
    assert stvs_cuts(cs, sched, assessed, cuts, data, settings) == []
    assert cuts.count == 1


def test_gen_cut_not_below_the_minimum(cs, data, sched):
    """cap_factor 0.3 of a thermal unit's output is below its 30 MW oil-assisted minimum: the cap is the minimum."""
    settings = StvsFlexSettings(cap_factor=0.3)
    near = {"2"} | adjacency(cs.transmission)["2"]
    hours = [h for h in range(T) if max((b for b in dispatchable(sched, data, h) if b in near),
                                        key=dispatchable(sched, data, h).get) in ("1", "2")]
    assert hours  # some hour has a thermal unit as the most loaded machine near bus 2
    h = hours[0]
    cuts = StvsCuts()
    stvs_cuts(cs, sched, {h: assessment(fault("2", tvci=0))}, cuts, data, settings)
    ((bus, hour), cap), = cuts.gen_mw.items()
    out = dispatchable(sched, data, h)
    assert hour == h and bus in ("1", "2")
    assert 0.3 * out[bus] < 30.0 < out[bus]
    assert cap == pytest.approx(30.0)


def test_far_fault_caps_the_nearest_machine(cs, data, sched):
    """Bus 14 has no dispatchable machine within one branch: the nearest (then the most loaded) gets the cap."""
    h = 18
    cuts = StvsCuts()
    made = stvs_cuts(cs, sched, {h: assessment(fault("14", tvci=0))}, cuts, data, StvsFlexSettings())
    dist = hops(adjacency(cs.transmission), "14")
    out = dispatchable(sched, data, h)
    assert min(dist[b] for b in out) > 1
    bus = min(out, key=lambda b: (dist[b], -out[b]))
    assert [(m["bus"], m["hour"]) for m in made] == [(bus, h)]
    assert cuts.gen_mw[(bus, h)] == pytest.approx(max(10.0 if bus == "3" else 30.0, 0.85 * out[bus]))


def test_high_vdsi_lowers_the_voltage_ceiling(cs, data, sched):
    settings = StvsFlexSettings()
    h = 19
    assessed = quiet_day()
    assessed[h] = assessment(fault("2", vdsi=0.8), fault("4", vdsi=0.2), fault("5", vdsi=0.1))
    assert assessed[h].vdsi_max > settings.vdsi_limit and not assessed[h].unstable
    cuts = StvsCuts()
    made = stvs_cuts(cs, sched, assessed, cuts, data, settings)
    vmax = max(float(vm[:, h].max()) for vm in sched.feeder_vm.values())
    assert 0.95 < vmax <= 1.05
    assert cuts.vm_max == {h: pytest.approx(vmax - 0.01, abs=1e-4)}
    assert cuts.gen_mw == {}
    expected = {(n, h): 0.85 * abs(float(p[h])) for n, p in sched.boundary_mw.items()}
    assert set(cuts.boundary_mw) == set(expected) and len(expected) == 2
    for k, v in expected.items():
        assert cuts.boundary_mw[k] == pytest.approx(v, abs=1e-12)
        assert v > 0.5  # the feeders import at 19:00: a real cap
    assert [m["cut"] for m in made] == ["vm_max", "boundary_mw", "boundary_mw"]
    assert all(m["hour"] == h for m in made)


def test_low_or_unpredicted_vdsi_makes_no_cut(cs, data, sched):
    settings = StvsFlexSettings()
    assessed = quiet_day()
    # at the limit, not above it
    assessed[5] = assessment(fault("2", vdsi=settings.vdsi_limit), fault("4"))
    # a fault without a prediction (its window's simulation failed) carries no VDSI
    assessed[6] = assessment(fault("2", tvci=-1, vdsi=0.9), fault("4"))
    cuts = StvsCuts()
    assert stvs_cuts(cs, sched, assessed, cuts, data, settings) == []
    assert cuts.count == 0


# ------------------------------------------------------------------ 2. settings
@pytest.mark.parametrize("kw, needle", [
    ({"eps": 1.5}, "eps"),
    ({"eps": -0.1}, "eps"),
    ({"eps_grid": (0.5, 2.0)}, "eps"),
    ({"penetration": "medium"}, "penetration"),
    ({"cap_factor": 0.0}, "cap factor"),
    ({"cap_factor": 1.0}, "cap factor"),
    ({"cap_factor": 1.5}, "cap factor"),
    ({"duration_s": 0.0}, "fault-duration"),
    ({"max_iter": -1}, "max_iter"),
])
def test_settings_validation(kw, needle):
    with pytest.raises(InputError, match=needle):
        StvsFlexSettings(**kw)


def test_settings_cases():
    assert StvsFlexSettings(penetration="both").cases == ("base", "high")
    assert StvsFlexSettings(penetration="high").cases == ("high",)


# ------------------------------------------------------------------ 3. the study without a surrogate
def test_missing_model_file(tmp_path):
    missing = tmp_path / "no_such_model.pt"
    with pytest.raises(InputError, match="tdcoord stvs train") as exc:
        run_study(StvsFlexSettings(model=str(missing), eps_grid=(0.5,)))
    assert str(missing) in str(exc.value)


@pytest.fixture(scope="module")
def study():
    messages = []
    st = run_study(StvsFlexSettings(model=None, penetration="base", eps_grid=(0.5, 1.0)), progress=messages.append)
    return st, summary(st), messages


def test_summary_contract(study):
    st, sm, messages = study
    assert list(sm)[:3] == ["methods", "flex_margins_mw", "eps"]
    json.dumps(sm)  # plain JSON
    assert sm["eps"] == 0.5 and sm["penetration"] == "base"
    assert [m["name"] for m in sm["methods"]] == ["method1", "method2", "proposed"]
    for m in sm["methods"]:
        for key in ("name", "cost", "vm_max_pu", "vm_min_pu", "violations", "tvci_unstable_faults", "vdsi_max"):
            assert key in m, (m["name"], key)
        # no surrogate: no simulated STVS indices
        assert m["tvci_unstable_faults"] is None and m["vdsi_max"] is None
        # the cost is the paper's objective terms summed (operating and flexibility risk, not the tie-breaker)
        costs = m["costs"]
        assert m["cost"] == pytest.approx(sum(v for k, v in costs.items() if k[:2] in ("T.", "D.", "F.")), abs=1e-6)
        assert m["operating_cost"] == pytest.approx(sum(v for k, v in costs.items() if k[:2] in ("T.", "D.")),
                                                    abs=1e-6)
        assert m["vm_min_pu"] < m["vm_max_pu"]
    m1, m2, prop = sm["methods"]
    assert m1["vm_max_pu"] > 1.05
    assert m1["violations"] > 0 and m1["over_voltages"] > 0
    assert m2["vm_max_pu"] <= 1.05 and m2["vm_min_pu"] >= 0.95
    assert m2["violations"] == 0
    # without a surrogate the proposed method is method 2's schedule
    assert prop["cost"] == pytest.approx(m2["cost"], abs=1e-9) and prop["stvs_iterations"] == 0
    assert any("no surrogate" in n and "tdcoord stvs train" in n for n in sm["notes"])
    assert any("method1" in msg for msg in messages)


def test_summary_margins(study, data):
    st, sm, _ = study
    fm = sm["flex_margins_mw"]
    for kind in ("thermal", "hydro", "distribution", "demand"):
        assert set(fm[kind]) == {"up", "down"}
        assert fm[kind]["up"] >= 0 and fm[kind]["down"] <= 0
    s = st.cases["base"].methods["proposed"].schedule
    assert fm == margins_table(s, data)
    # independently: the largest hourly sums over the day
    th_up = np.max(s.margins_mw["G1"]["up"] + s.margins_mw["G2"]["up"])
    th_dn = np.max(s.margins_mw["G1"]["down"] + s.margins_mw["G2"]["down"])
    d_up = np.max(sum(s.margins_mw[n]["up"] for n in ("ieee13@13", "ieee13@14")))
    assert fm["thermal"] == {"up": pytest.approx(th_up), "down": pytest.approx(-th_dn)}
    assert fm["hydro"]["up"] == pytest.approx(np.max(s.margins_mw["H3"]["up"]))
    assert fm["distribution"]["up"] == pytest.approx(d_up)
    assert fm["demand"] == {"up": pytest.approx(s.demand_mw["up"].max()),
                            "down": pytest.approx(s.demand_mw["down"].min())}
    # the thermal units' 50 MW/h ramps bound their upward margin: 100 MW for the two
    assert fm["thermal"]["up"] <= 100.0 + 1e-6


def test_eps_sweep(study):
    st, sm, _ = study
    sweep = {e["eps"]: e for e in sm["eps_sweep"]}
    assert set(sweep) == {0.5, 1.0}
    half, one = sweep[0.5], sweep[1.0]
    # eps = 1 weighs the operating cost alone: it costs no more to run and leaves at least as much uncovered
    assert one["operating_cost"] <= half["operating_cost"] * (1 + 1e-4)
    assert one["flex_shortfall_mwh"] >= half["flex_shortfall_mwh"] - 1e-6
    # eps = 0.5 with no cuts is method 2's model: the same schedule's costs
    m2 = sm["methods"][1]
    assert half["operating_cost"] == pytest.approx(m2["operating_cost"], rel=1e-4)
    assert half["flex_risk_cost"] == pytest.approx(m2["flex_risk_cost"], rel=1e-4, abs=1e-6)
