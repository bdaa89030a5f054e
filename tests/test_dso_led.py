"""DSO-led coordination (seed 003): the KKT reformulation of the TSO, its complementarity, the leaders' binaries.

Every solve here is on a tiny instance: one IEEE 33-bus feeder under the IEEE 30-bus grid, two hourly periods.
The profiles' first hours are night (no PV), so the PV series is edited to a night hour followed by a noon hour
(``PV_SHAPE``): the battery then has something to do (discharge at night, charge from PV at noon), prosumers
trade with each other and the feeder exports at noon, and the locational price differs between the periods
(the segment at the margin changes). One solve per scheme is shared by the tests (module-scoped fixtures).
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from tdcoord.cases.dso_led import check_system, dso_led_system
from tdcoord.coordination.dso_led import kkt_check, soc_exactness, solve_dso_led, solve_tso_led
from tdcoord.errors import InputError, SchemaError
from tdcoord.problems.dso_market import tso_dual_bounds, tso_lp

PERIODS = 2
PV_SHAPE = (0.0, 0.9)  # share of each PV unit's size available: a night hour, then noon
GAP = 1e-6  # SCIP's relative gap for the shared solves: the enumeration compares against a proven optimum
# SCIP's presolve takes ~1.5 s on this model once its binaries are fixed (the whole MISOCP solves in ~0.5 s);
# without it a fixed assignment solves in ~0.35 s, to the same optimum (the presolve only speeds the search)
NO_PRESOLVE = {"scip_params": {"presolving/maxrounds": 0}}
METRIC_KEYS = ("total_cost", "dso_cost", "tso_cost", "imports_mwh", "self_consumption_pct",
               "battery_throughput_mwh", "p2p_mwh")


def tiny_system(n_feeders: int = 1):
    """``n_feeders`` feeders, PERIODS periods, PV available as PV_SHAPE (module docstring)."""
    system = dso_led_system(n_feeders, periods=PERIODS)
    for f in system.feeders:
        size = f.net.gen.p_max_mw.to_numpy(float)
        if len(size):
            f.net.set_timeseries("gen", "p_max_mw", np.outer(PV_SHAPE, size))
    check_system(system)
    return system


@pytest.fixture(scope="module")
def system():
    return tiny_system()


@pytest.fixture(scope="module")
def dso_res(system):
    res = solve_dso_led(system, gap=GAP)
    assert res.ok, res.status
    return res


@pytest.fixture(scope="module")
def bigm_res(system):
    res = solve_dso_led(system, method="bigm", gap=GAP)
    assert res.ok, res.status
    return res


@pytest.fixture(scope="module")
def tso_res(system):
    res = solve_tso_led(system)
    assert res.ok, res.status
    return res


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


# ----------------------------------------------------------------------------------------- the instance
def test_tiny_instance_is_not_trivial(system, dso_res):
    """The edited instance exercises what the reformulation is about: PV at noon only, the battery and P2P in
    use, an export at noon, and a price that differs between the periods."""
    f = system.feeders[0]
    assert len(f.prosumers) == 4 and len(f.net.storage) == 1
    s = dso_res.series[f.name]
    assert s["pv_available_mw"][0] == 0 and s["pv_available_mw"][1] > 1.0
    assert dso_res.exchange_mw.shape == (1, PERIODS) and dso_res.price.shape == (1, PERIODS)
    assert dso_res.exchange_mw[0, 0] > 0 > dso_res.exchange_mw[0, 1]  # imports at night, exports at noon
    assert np.sum(s["charge"]) + np.sum(s["discharge"]) > 0.1
    assert np.sum(s["sold"]) > 0.1
    assert abs(dso_res.price[0, 0] - dso_res.price[0, 1]) > 1.0
    # SOS1 complementarity: every binary is a leader's (4 prosumers, 1 battery, 1 cross direction per period)
    assert dso_res.size["binaries"] == (4 + 1 + 1) * PERIODS
    lp = tso_lp(system.tn, [system.feeders[0].bus], PERIODS)
    assert dso_res.size["sos1_sets"] == lp.G.shape[0] * PERIODS


# ----------------------------------------------------------------------------- 1. the KKT reformulation
def test_kkt_reformulation_matches_tso_alone(system, dso_res):
    """The TSO's DC OPF solved alone (the scheduling code, HiGHS) at the leaders' exchanges has the
    single-level model's optimum and prices, and the StandardLp alone (scipy HiGHS) the same optimum."""
    check = kkt_check(system, dso_res)
    assert check["ok"], check["status"]
    assert check["tso_objective_gap"] < 1e-6
    assert check["max_price_gap"] < 1e-4  # $/MWh

    base, T = system.tn.sn_mva, system.periods
    lp = tso_lp(system.tn, [f.bus for f in system.feeders], T)
    alone = lp.solve(dso_res.exchange_mw / base)
    assert np.isfinite(alone["objective"]), alone["status"]
    assert system.dt_h == 1.0
    assert rel(alone["objective"] * system.dt_h, dso_res.tso_cost) < 1e-6
    nb = len(system.tn.bus)
    labels = [str(x) for x in system.tn.bus.index]
    price = alone["lam"][:nb][labels.index(system.feeders[0].bus)] / base
    assert np.allclose(price, dso_res.price[0], atol=1e-4)
    ng = sum(n.startswith("pg ") for n in lp.x_names)
    assert np.allclose(alone["x"][:ng] * base, dso_res.tso_dispatch_mw, atol=1e-4)


def test_linearized_payment_equals_price_times_exchange(system, dso_res):
    """Strong duality: the model's linear payment c'x + h'mu - b0'lambda equals sum_t lambda_t P_b,t."""
    paid = float(np.sum(dso_res.price * dso_res.exchange_mw)) * system.dt_h
    linear = dso_res.info["energy_payment_linearized"]
    assert abs(linear - paid) < 1e-3  # $, of a few $ on a ~10 MWh day
    cost = dso_res.dso_costs[system.feeders[0].name]
    assert cost["energy"] == pytest.approx(paid)
    # the objective is the DSOs' total cost with the energy paid at the TSO's prices
    assert dso_res.solution.objective == pytest.approx(dso_res.dso_cost, rel=1e-5, abs=1e-3)


def test_two_feeders_kkt_and_cross_pool():
    """With two feeders the cross-feeder pool trades (sum xout = sum xin) and the KKT proof still holds."""
    system = tiny_system(2)
    res = solve_dso_led(system, gap=GAP)
    assert res.ok, res.status
    check = kkt_check(system, res)
    assert check["tso_objective_gap"] < 1e-6 and check["max_price_gap"] < 1e-4
    xin = sum(s["xin"] for s in res.series.values())
    xout = sum(s["xout"] for s in res.series.values())
    assert np.allclose(xin, xout, atol=1e-6)
    for s in res.series.values():
        assert np.all(np.minimum(s["xin"], s["xout"]) < 1e-6)  # a feeder never buys and sells at once
    assert res.price.shape == (2, PERIODS)
    assert np.allclose(res.price[0], res.price[1], atol=1e-6)  # no rated branch: one price per period


# -------------------------------------------------------------------------- 2. SOS1 against big-M
def test_sos1_and_bigm_agree(system, dso_res, bigm_res):
    a, b = dso_res.solution.objective, bigm_res.solution.objective
    assert abs(a - b) / max(1.0, abs(a)) < 1e-4
    assert bigm_res.info.get("multipliers_on_bound", 0) == 0
    assert bigm_res.info["complementarity"] == "bigm" and dso_res.info["complementarity"] == "sos1"
    lp = tso_lp(system.tn, [system.feeders[0].bus], PERIODS)
    m = lp.G.shape[0] * PERIODS
    assert bigm_res.size["sos1_sets"] == 0
    assert bigm_res.size["binaries"] == dso_res.size["binaries"] + m  # a z per inequality row and period
    for res in (dso_res, bigm_res):
        assert res.info["complementarity_max"] < 1e-3
    assert kkt_check(system, bigm_res)["max_price_gap"] < 1e-4


def test_dual_bounds_hold_for_unit_rows(system, dso_res):
    """tso_dual_bounds: a unit's bound multipliers stay within price_max + |c_g| at the solution."""
    b, _, kkt = dso_res.model
    lp = kkt.lp
    mu = kkt.values(b, dso_res.solution)["mu"]
    bounds = tso_dual_bounds(lp, float(np.max(lp.c)))
    assert bounds.shape == (lp.G.shape[0],) and np.all(np.isfinite(bounds))
    assert np.all(mu <= bounds.reshape(-1, 1) * (1 + 1e-6) + 1e-6)


# --------------------------------------------------------------------- 3. enumeration of the binaries
def leader_binaries(b):
    return {n: blk for n, blk in b.blocks.items() if blk.kind != "continuous" and n.startswith("dso0.")}


def enumerate_assignments(b, x_opt, free):
    """Every 0/1 assignment of the positions ``free`` ({block: [(row, col), ...]}), the other leader binaries
    held at ``x_opt``; returns [(bits, status, objective)]. The blocks' bounds are restored afterwards."""
    blocks = leader_binaries(b)
    saved = {n: (blk.lb.copy(), blk.ub.copy()) for n, blk in blocks.items()}
    slots = [(n, pos) for n, positions in free.items() for pos in positions]
    out = []
    try:
        for bits in itertools.product((0.0, 1.0), repeat=len(slots)):
            value = {n: np.round(np.asarray(x_opt[n], float)) for n in blocks}
            for (n, pos), v in zip(slots, bits):
                value[n][pos] = v
            for n, v in value.items():
                b.set_bounds(n, v, v)
            sol = b.solve(solver="SCIP", options=NO_PRESOLVE)
            out.append((bits, sol.status, sol.objective if sol.ok else float("nan")))
    finally:
        for n, (lo, hi) in saved.items():
            b.set_bounds(n, lo, hi)
    return out


def check_enumeration(res, runs, opt_bits):
    opt = res.solution.objective
    tol = 1e-5 * max(1.0, abs(opt))
    feasible = [(bits, v) for bits, status, v in runs if status in ("optimal", "acceptable")]
    assert feasible
    values = np.array([v for _, v in feasible])
    assert values.min() >= opt - tol, f"an assignment beats the MISOCP optimum: {values.min()} < {opt}"
    assert values.min() == pytest.approx(opt, rel=1e-5, abs=1e-6)
    at_opt = [v for bits, v in feasible if bits == opt_bits]
    assert at_opt and at_opt[0] == pytest.approx(opt, rel=1e-5, abs=1e-6)
    assert values.max() - values.min() > 1.0  # the enumerated binaries matter: a wrong one costs dollars


def test_enumeration_of_leader_binaries(dso_res):
    """No assignment of the leaders' binaries beats the single-level optimum, and the best is it.

    The leader has 12 binaries (per period: 4 prosumers' P2P directions, the battery's charging, the feeder's
    cross-feeder direction): 4096 assignments, too many. Enumerated here: the battery's binaries and the
    P2P direction of prosumer 0 (bus 18, the battery's bus) in both periods, 16 assignments; the other
    prosumers' directions are held at the first solve's values (so the optimum's assignment is one of those
    enumerated). The cross direction is held too: with one feeder the cross pool forces xin = xout = 0, so it is
    irrelevant, which one more solve with it flipped checks. With SOS1 complementarity the TSO has no binaries.
    The full six-binary enumeration (cross direction included) is the slow test below."""
    b = dso_res.model[0]
    x = dso_res.solution.x
    blocks = leader_binaries(b)
    assert set(blocks) == {"dso0.storage_charging", "dso0.cross_selling", "dso0.p2p_selling"}
    assert sum(blk.size for blk in blocks.values()) == dso_res.size["binaries"] == 12
    assert not any(n.startswith("tso.") for n, blk in b.blocks.items() if blk.kind != "continuous")
    free = {"dso0.storage_charging": [(0, 0), (0, 1)], "dso0.p2p_selling": [(0, 0), (0, 1)]}
    opt_bits = tuple(float(np.round(x[n][pos])) for n, ps in free.items() for pos in ps)
    runs = enumerate_assignments(b, x, free)
    assert len(runs) == 16
    check_enumeration(dso_res, runs, opt_bits)
    # the cross direction flipped in both periods, the rest at the optimum: the same optimum
    w = np.round(x["dso0.cross_selling"])
    flipped = enumerate_assignments(b, {**x, "dso0.cross_selling": 1.0 - w}, {})
    assert flipped[0][2] == pytest.approx(dso_res.solution.objective, rel=1e-5, abs=1e-6)
    # the bounds are back: a re-solve with the binaries free finds the optimum again
    for n, blk in blocks.items():
        assert np.all(blk.lb == 0.0) and np.all(blk.ub == 1.0), n


@pytest.mark.slow
def test_enumeration_of_leader_binaries_with_cross(dso_res):
    """As above with the cross-feeder direction enumerated too: 6 binaries, 64 assignments (~25 s)."""
    b = dso_res.model[0]
    x = dso_res.solution.x
    free = {"dso0.storage_charging": [(0, 0), (0, 1)], "dso0.cross_selling": [(0, 0), (0, 1)],
            "dso0.p2p_selling": [(0, 0), (0, 1)]}
    opt_bits = tuple(float(np.round(x[n][pos])) for n, ps in free.items() for pos in ps)
    runs = enumerate_assignments(b, x, free)
    assert len(runs) == 64
    check_enumeration(dso_res, runs, opt_bits)


# ----------------------------------------------------------------------------------- 4. the TSO's LP
def test_tso_lp_names_and_slack_ranges(system):
    tn = system.tn
    lp = tso_lp(tn, [system.feeders[0].bus], PERIODS)
    ng = int(tn.gen.in_service.sum())
    nb = len(tn.bus)
    assert ng == 10  # two units in five segments each, the condensers left out
    assert lp.A.shape == (len(lp.eq_names), len(lp.x_names)) == (nb + 1, ng + nb)
    assert lp.G.shape == (len(lp.ineq_names), len(lp.x_names)) == (2 * ng, ng + nb)  # no rated branch
    assert lp.b0.shape == (nb + 1, PERIODS) and lp.E.shape == (nb + 1, 1) and lp.periods == PERIODS
    for names in (lp.x_names, lp.eq_names, lp.ineq_names):
        assert all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names)
    assert sum(n.startswith("pg ") for n in lp.x_names) == ng
    assert sum(n.startswith("balance ") for n in lp.eq_names) == nb
    # the boundary bus's balance row takes the exchange
    row = lp.E.tocoo().row
    assert [lp.eq_names[r] for r in row] == [f"balance {system.feeders[0].bus}"]
    s = lp.slack_range()
    unit = [i for i, n in enumerate(lp.ineq_names) if n.startswith(("pmax ", "pmin "))]
    assert len(unit) == 2 * ng
    assert np.all(np.isfinite(s[unit]))
    width = tn.gen.p_max_mw.to_numpy(float) / tn.sn_mva - tn.gen.p_min_mw.to_numpy(float) / tn.sn_mva
    assert np.allclose(s[:ng], width) and np.allclose(s[ng:2 * ng], width)
    # a branch rating adds two named flow rows
    rated = tn.copy()
    rated.line.loc[rated.line.index[0], "rate_mva"] = 100.0
    lp2 = tso_lp(rated, [system.feeders[0].bus], PERIODS)
    assert lp2.G.shape[0] == 2 * ng + 2
    assert lp2.ineq_names[-2:] == [f"rate+ line {rated.line.index[0]}", f"rate- line {rated.line.index[0]}"]


def test_tso_lp_unknown_boundary_bus(system):
    with pytest.raises(InputError, match="99"):
        tso_lp(system.tn, ["99"], PERIODS)


# --------------------------------------------------------------------------------------- 5. bad input
@pytest.mark.parametrize("n", [0, 22])
def test_bad_feeder_count(n):
    with pytest.raises(InputError, match=rf"feeders = {n}.*21 load buses"):
        dso_led_system(n, periods=PERIODS)


def test_bad_period_count():
    with pytest.raises(InputError, match="periods = 25"):
        dso_led_system(1, periods=25)


@pytest.mark.parametrize(("column", "value", "pattern"), [
    ("soc_min", 0.95, r"storage 0: soc_min 0.95 above soc_max"),
    ("eta_charge", 1.2, r"storage 0: eta_charge = 1.2"),
    ("eta_discharge", 0.0, r"storage 0: eta_discharge = 0.0"),
    ("soc_init", 0.05, r"storage 0: soc_init 0.05 outside"),
])
def test_bad_battery(column, value, pattern):
    system = dso_led_system(1, periods=PERIODS)
    system.feeders[0].net.storage.loc[0, column] = value
    with pytest.raises(InputError, match=rf"feeder ieee33@7, {pattern}"):
        check_system(system)


def test_battery_soc_max_above_one():
    system = dso_led_system(1, periods=PERIODS)
    system.feeders[0].net.storage.loc[0, "soc_max"] = 1.2
    with pytest.raises(InputError, match="soc_max|state-of-charge"):
        check_system(system)


def test_profile_of_wrong_length():
    system = dso_led_system(1, periods=PERIODS)
    net = system.feeders[0].net
    three = np.ones((PERIODS + 1, len(net.load)))
    # one series of another length than the others: the network itself refuses it, naming the series
    with pytest.raises(SchemaError, match=r"load\.p_mw: 3 periods"):
        net.set_timeseries("load", "p_mw", three)
    # every series of the feeder of another length than the system's periods: check_system names one
    series = {k: v for k, v in net.timeseries.items()}
    net.timeseries.clear()
    for key, df in series.items():
        table, column = key.split(".", 1)
        net.set_timeseries(table, column, pd.concat([df, df.iloc[[-1]]], ignore_index=True))
    with pytest.raises(InputError, match=r"feeder ieee33@7: time series load\.p_mw has 3 periods, expected 2"):
        check_system(system)
    # the transmission grid's series
    system = dso_led_system(1, periods=PERIODS)
    system.tn.timeseries["load.p_mw"] = system.tn.timeseries["load.p_mw"].iloc[:1]
    with pytest.raises(InputError, match=r"transmission grid: time series load\.p_mw has 1 periods"):
        check_system(system)


def test_bad_band():
    with pytest.raises(InputError, match="band_mw"):
        solve_tso_led(tiny_system(), band_mw=-1.0)


# -------------------------------------------------------------------------------- 6. SOC exactness
def test_soc_relaxation_is_exact(system, dso_res):
    e = soc_exactness(system, dso_res)
    assert e["gap_pu2"].shape == (1, PERIODS)
    assert e["soc_gap_max"] < 1e-5
    assert len(e["rechecks"]) == PERIODS
    assert all(r["converged"] for r in e["rechecks"])
    assert e["recheck_not_converged"] == 0
    assert e["recheck_vm_error_max_pu"] < 1e-5
    assert e["recheck_exchange_error_max_mw"] < 1e-4
    assert e["recheck_voltage_violations"] == 0


# ----------------------------------------------------------------------------------------- 7. TSO-led
def test_tso_led_runs_and_reports(system, tso_res):
    fc = tso_res.info["forecast_exchange_mw"]
    band = tso_res.info["band_mw"]
    assert band == 1.0 and fc.shape == (1, PERIODS)
    # the forecast is load - available PV of the feeder
    net = system.feeders[0].net
    load = net.timeseries["load.p_mw"].to_numpy().sum(axis=1)
    pv = net.timeseries["gen.p_max_mw"].to_numpy().sum(axis=1)
    assert np.allclose(fc[0], load - pv)
    ex = tso_res.exchange_mw
    assert np.all(ex >= fc - band - 1e-6) and np.all(ex <= fc + band + 1e-6)
    m = tso_res.metrics()
    for key in METRIC_KEYS:
        assert key in m and np.isfinite(m[key]), key
    assert m["total_cost"] == pytest.approx(m["dso_cost"] + m["tso_cost"])
    assert m["tso_cost"] == pytest.approx(tso_res.tso_cost)
    assert m["imports_mwh"] == pytest.approx(float(np.sum(np.maximum(ex, 0.0))) * system.dt_h)
    assert m["p2p_mwh"] == pytest.approx(float(np.sum(tso_res.series[system.feeders[0].name]["sold"])))
    # the TSO's cost is its re-dispatch for the exchanges that resulted
    lp = tso_lp(system.tn, [system.feeders[0].bus], PERIODS)
    assert tso_res.tso_cost == pytest.approx(lp.solve(ex / system.tn.sn_mva)["objective"], rel=1e-9)


def test_tso_led_band_binds(system):
    """A narrow band holds the exchanges (their unconstrained optimum lies ~0.4-0.6 MW from the forecast)."""
    band = 0.25
    res = solve_tso_led(system, band_mw=band)
    assert res.ok, res.status
    fc = res.info["forecast_exchange_mw"]
    dev = np.abs(res.exchange_mw - fc)
    assert np.all(dev <= band + 1e-6)
    assert np.any(dev >= band - 1e-5)


# ----------------------------------------------------------------------------- re-solves and rated branches
def test_bigm_resolve_sees_new_bounds(bigm_res):
    """Each cached problem (mixed-integer, polishing) keeps its own bound parameters: bounds set after a polished
    solve reach the next mixed-integer solve."""
    b = bigm_res.model[0]
    name = "dso0.storage_charging"
    blk = b.blocks[name]
    saved = blk.lb.copy(), blk.ub.copy()
    flipped = 1.0 - np.round(bigm_res.solution.x[name])
    try:
        b.set_bounds(name, flipped, flipped)
        sol = b.solve(solver="SCIP")
        assert np.allclose(np.round(sol.x[name]), flipped)
    finally:
        b.set_bounds(name, *saved)


def test_bigm_with_a_rated_branch():
    """A rated branch's flow rows get slack bounds 2 rate (tso_slack_bounds); big-M then solves, and the TSO
    alone at its exchanges agrees."""
    system = tiny_system()
    system.tn.line.loc[system.tn.line.index[0], "rate_mva"] = 200.0
    res = solve_dso_led(system, method="bigm", gap=GAP)
    assert res.ok
    chk = kkt_check(system, res)
    assert chk["tso_objective_gap"] < 1e-6 and chk["max_price_gap"] < 1e-4


# ----------------------------------------------------------------------------- the study from the CLI
def test_cli_study_json_keys(tmp_path):
    """The study's command on a small day (one feeder, 3 night hours, growth over 1 and 2 feeders): exit 0, the
    JSON keys of the contract, the files, and a KKT check that holds."""
    import json

    from typer.testing import CliRunner

    from tdcoord.cli import app

    out, js = tmp_path / "out", tmp_path / "s.json"
    r = CliRunner().invoke(app, ["study", "dso-led", "--feeders", "1", "--periods", "3", "--growth-feeders", "1,2",
                                 "--out", str(out), "--json", str(js)])
    assert r.exit_code == 0, r.output
    s = json.loads(js.read_text())
    for scheme in ("dso_led", "tso_led"):
        for key in ("total_cost", "dso_cost", "tso_cost", "imports_mwh", "self_consumption_pct",
                    "battery_throughput_mwh", "p2p_mwh"):
            assert key in s[scheme], (scheme, key)
        assert s[scheme]["total_cost"] == pytest.approx(s[scheme]["dso_cost"] + s[scheme]["tso_cost"])
    assert s["kkt_check"]["tso_objective_gap"] < 1e-6 and s["kkt_check"]["max_price_gap"] < 1e-4
    assert s["soc_gap_max"] < 1e-5
    assert [g["feeders"] for g in s["growth"]] == [1, 2]
    for g in s["growth"]:
        assert {"feeders", "variables", "constraints", "binaries", "time_s"} <= set(g)
    assert s["growth"][1]["variables"] > s["growth"][0]["variables"]
    assert s["growth_exponent"] > 0
    for name in ("summary.json", "schedules.csv", "tso_dispatch.csv", "soc_gap.csv", "feeder_buses.csv",
                 "feeder_branches.csv", "growth.csv", "battery_soc.png",
                 "boundary_exchange.png", "prices.png", "growth.png"):
        assert (out / name).is_file(), name


@pytest.mark.parametrize("args, pattern", [
    (["--feeders", "22"], "21 load buses"),
    (["--feeders", "0"], "expected 1..21"),
    (["--method", "penalty"], "sos1 or bigm"),
    (["--periods", "30"], "1..24"),
    (["--growth-feeders", "1,x"], "comma-separated"),
    (["--band-mw", "-1"], "band_mw"),
])
def test_cli_bad_input_exit_2(tmp_path, args, pattern):
    from typer.testing import CliRunner

    from tdcoord.cli import app

    r = CliRunner().invoke(app, ["study", "dso-led", "--no-growth", "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 2, r.output
    assert re.search(pattern, " ".join(r.output.split())), r.output
    assert "Traceback" not in r.output


def test_incumbent_is_a_point_of_the_model():
    """The constructed start: exact complementarity, the TSO's optimum at the start's exchanges, binaries 0/1;
    solving from it gives the optimum found without it."""
    from tdcoord.coordination.dso_led import incumbent

    system = tiny_system()
    lp = tso_lp(system.tn, [f.bus for f in system.feeders], system.periods)
    start = incumbent(system, lp, "sos1")
    assert start is not None
    mu, slack = start["tso.pair"]
    assert np.all(mu >= 0) and np.all(slack >= 0) and np.all(mu * slack == 0)
    for name in ("dso0.storage_charging", "dso0.p2p_selling", "dso0.cross_selling"):
        assert set(np.unique(start[name])) <= {0.0, 1.0}
    cold = solve_dso_led(system, gap=GAP, start=False)
    warm = solve_dso_led(system, gap=GAP, start=True)
    assert warm.ok and warm.info["start_given"]
    assert warm.solution.objective == pytest.approx(cold.solution.objective, rel=1e-5)


# ----------------------------------------------------------------------------- review findings
def test_sos_sets_with_binaries_use_cvxpy_columns():
    """SCIP sorts binaries first in getVars(): SOS members must be found by cvxpy's column order. SOS1 on
    {p0, p1}, maximise p0 + p1 with a binary block built after it: at most one is nonzero (objective -1)."""
    from tdcoord.backends import new_builder

    b = new_builder("conic", "sos_binary")
    pair = b.variable("pair", (2, 1), 0.0, 1.0, 0.0)
    b.variable("u", (3, 1), 0.0, 1.0, 0.0, kind="binary")
    b.constraint_sos1("sos", pair)
    b.objective_term("obj", -b.ops.sum(pair))
    sol = b.solve(solver="SCIP")
    assert sol.ok
    assert sol.objective == pytest.approx(-1.0, abs=1e-6)
    assert np.min(np.asarray(sol.x["pair"])) == pytest.approx(0.0, abs=1e-9)


def test_price_with_a_bus_out_of_service():
    """Prices are the balance duals of the feeders' buses, found by label: a bus out of service (no row in the
    LP) does not shift them (the TSO alone agrees)."""
    system = tiny_system(2)
    system.tn.line.loc[system.tn.line.index[0], "rate_mva"] = 90.0
    tn = system.tn
    out = "11"
    tn.bus.loc[out, "in_service"] = False
    for table in ("line", "trafo", "load", "gen"):
        df = getattr(tn, table)
        cols = [c for c in ("bus", "from_bus", "to_bus") if c in df.columns]
        hit = np.zeros(len(df), bool)
        for c in cols:
            hit |= (df[c].astype(str) == out).to_numpy()
        if hit.any():
            df.loc[hit, "in_service"] = False
    res = solve_dso_led(system, gap=GAP)
    assert res.ok
    chk = kkt_check(system, res)
    assert chk["max_price_gap"] < 1e-4 and chk["tso_objective_gap"] < 1e-6


def test_battery_on_a_feeder_without_prosumers_is_refused():
    system = dso_led_system(1, periods=PERIODS)
    net = system.feeders[0].net
    net.gen = net.gen.iloc[0:0]  # no PV: only the battery is left off the market
    net.timeseries.pop("gen.p_max_mw")
    system.feeders[0].prosumers = []
    with pytest.raises(InputError, match="battery on bus 18 is not at a prosumer bus"):
        solve_dso_led(system, gap=GAP)


def test_cli_no_solution_exits_1(tmp_path):
    """A solve stopped before any feasible point is a failed computation (exit 1), with SCIP's status."""
    from typer.testing import CliRunner

    from tdcoord.cli import app

    r = CliRunner().invoke(app, ["study", "dso-led", "--feeders", "2", "--periods", "3", "--no-growth",
                                 "--time-limit", "0.01", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1, r.output
    assert "no solution" in " ".join(r.output.split()) and "Traceback" not in r.output
