"""The coordinated T-D day-ahead schedule with the flexibility balance (seed 001), checked against independent sums.

Every check recomputes a quantity from the data (:func:`tdcoord.cases.stvs_flex.flex_data`), the networks' time
series and the schedule's own outputs, without going through the model: balances, cost terms, flexibility margins
and shortfalls, bounds, the voltage band, the STVS cuts, bad input and the AC re-check.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest

from tdcoord.cases.profiles import DEFAULT
from tdcoord.cases.stvs_flex import check_eps, flex_data, flex_system
from tdcoord.devices.deep_peak import DeepPeakUnit
from tdcoord.errors import InputError
from tdcoord.network.timeseries import set_series, values
from tdcoord.problems.flex_check import TAP_RANGE, TAP_STEP, pick_tap, recheck
from tdcoord.problems.flex_schedule import StvsCuts, solve_schedule, system_profiles
from tdcoord.uncertainty.pbox import fit_pboxes, flexibility_demand, synthetic_history

T = 24
HOURS = np.arange(T)
TOL = 1e-6

# the STVS cuts of test_cuts_are_respected: G1 (bus 1) is scheduled at 90 MW at hour 9 and feeder ieee13@13 imports
# about 2 MW at hour 12 (both from the base schedule); the feeders' voltage ceiling at hour 13 goes 0.01 below the
# base schedule's. (A 2 MW cap at hour 17, where the feeder needs 3.5 MW and its batteries are empty, is infeasible:
# the feeders shed no load.)
GEN_CUT = ("1", 9, 70.0)
BOUNDARY_CUT = ("ieee13@13", 12, 1.0)
VM_CUT_HOUR = 13


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def data():
    return flex_data()


@pytest.fixture(scope="module")
def cs(data):
    return flex_system("base", data)


@pytest.fixture(scope="module")
def prof(cs, data):
    return system_profiles(cs, data)


@pytest.fixture(scope="module")
def sched(cs, data, prof):
    """The base case with voltage control (method 2's model), eps = 0.5."""
    return solve_schedule(cs, data, profiles=prof)


@pytest.fixture(scope="module")
def sched_novc(cs, data, prof):
    """The base case without voltage control (method 1's model)."""
    return solve_schedule(cs, data, method="method1", voltage_control=False, profiles=prof)


@pytest.fixture(scope="module")
def tight():
    """Thermal ramps of 10 MW/h and a hydro ramp of 10 MW/h: the flexibility supply falls short of the demand in
    both directions (so the shortfall and tail terms are not all zero)."""
    base = flex_data()
    d = flex_data(thermal_ramp_mw_per_h=(10.0, 10.0), hydro=replace(base.hydro, ramp_mw_per_h=10.0))
    c = flex_system("base", d)
    return c, d, solve_schedule(c, d)


def transmission_load(cs):
    tn = cs.transmission
    return values(tn, "load", "p_mw", T)[tn.load.in_service.to_numpy(bool)].sum(axis=0)


def total(d, key):
    return sum(v[key] for v in d.values())


def head(t):
    """The documented head (p.u. of the rated head): full at 04:00, 0.90 at 16:00."""
    return 0.95 + 0.05 * np.cos(2 * np.pi * (np.asarray(t, float) - 4) / 24)


# ------------------------------------------------------------------ 1. DC balance
def test_transmission_dc_balance(cs, sched):
    """Lossless DC: the units' output plus what is shed, less the transmission load, leaves through the boundaries."""
    assert sched.status == "optimal"
    gen = sum(sched.gen_mw.values())
    assert len(sched.gen_mw) == len(cs.transmission.gen)  # every machine of the table is one of the schedule's units
    lhs = gen + sched.shed_mw - transmission_load(cs)
    rhs = sum(sched.boundary_mw.values())
    np.testing.assert_allclose(lhs, rhs, atol=TOL)
    # the feeders import power all day in the base case (they have no generation to export at night)
    assert (rhs > 1.0).all()
    # shed per bus sums to the total
    np.testing.assert_allclose(sum(sched.shed_bus_mw.values(), np.zeros(T)), sched.shed_mw, atol=TOL)


# ------------------------------------------------------------------ 2. thermal cost
def test_thermal_cost_against_staged_formula(data, sched):
    exact, bound, chords = 0.0, 0.0, 0.0
    for u in data.thermal:
        unit = DeepPeakUnit(**asdict(u))
        p = np.clip(sched.gen_mw[u.name], u.p_c_mw, u.p_max_mw)  # solver round-off at the range's ends
        np.testing.assert_allclose(p, sched.gen_mw[u.name], atol=1e-6)
        exact += float(unit.cost(p).sum())
        bound += unit.max_fuel_error() * T
        # the fuel epigraph is tight (the fuel has a positive price): the model's fuel is the interpolant of the
        # quadratic through the breakpoints
        bp = unit.breakpoints()
        chords += float((unit.cost(p) - unit.fuel(p) + np.interp(p, bp, unit.fuel(bp))).sum())
    model = sched.costs["T.thermal"]
    assert model >= exact - 1e-6
    assert model - exact <= bound + 1e-6
    assert model == pytest.approx(chords, abs=1e-4)
    # the chords' bound is not vacuous: it is a small part of the cost
    assert bound < 0.01 * exact


def test_other_transmission_cost_terms(cs, data, sched):
    h = sched.gen_mw[data.hydro.name]
    assert sched.costs["T.hydro"] == pytest.approx(data.hydro.cost_mwh * h.sum(), abs=1e-6)
    assert sched.costs["T.spill"] == pytest.approx(data.hydro.spill_cost_mwh * (data.hydro.energy_mwh - h.sum()),
                                                   abs=1e-6)
    wind_av = data.wind_mw * np.asarray(DEFAULT.wind, float)
    w = sched.gen_mw[f"W{data.wind_bus}"]
    assert sched.costs["T.wind_curtail_T"] == pytest.approx(data.c_wind * (wind_av - w).sum(), abs=1e-5)
    assert sched.costs["T.shed_T"] == pytest.approx(data.c_shed * sched.shed_mw.sum(), abs=1e-6)


# ------------------------------------------------------------------ 3. feeders: exchange and purchase
def test_feeder_exchange_and_purchase(data, sched):
    price_buy = np.asarray(data.price_buy, float)
    price_sell = 0.5 * price_buy  # documented: the feeders sell back at half the purchase price
    np.testing.assert_allclose(data.price_sell, price_sell)
    purchase = 0.0
    for n, pb in sched.boundary_mw.items():
        buy, sell = sched.buy_mw[n], sched.sell_mw[n]
        np.testing.assert_allclose(pb, buy - sell, atol=TOL)
        assert (buy >= -TOL).all() and (sell >= -TOL).all()
        assert (buy <= data.boundary_mw + TOL).all() and (sell <= data.boundary_mw + TOL).all()
        purchase += float((price_buy * buy - price_sell * sell).sum())
    assert sched.costs["D.purchase"] == pytest.approx(purchase, abs=1e-5)
    assert purchase > 0


def test_feeder_resources(data, sched):
    curtail, om = 0.0, 0.0
    for n in sched.boundary_mw:
        p, avail = sched.sgen_p_mw[n], sched.sgen_available_mw[n]
        assert p.shape == avail.shape and p.shape[0] > 0
        assert (p >= -TOL).all() and (p <= avail + TOL).all()
        curtail += float((data.c_pv * (avail - p)).sum())  # c_pv = c_wind = 100 $/MWh
        # batteries: the energy stays in 10-90 % of 1 MWh per 0.5 MW
        e = sched.storage_energy_mwh[n]
        assert (e >= 0.1 - TOL).all() and (e <= 0.9 + TOL).all()
        om += data.storage_om * float(np.abs(sched.storage_p_mw[n]).sum())
    assert data.c_pv == data.c_wind
    assert sched.costs["D.curtail_D"] == pytest.approx(curtail, abs=1e-5)
    # charge + discharge >= |net|; equal where a battery never does both in one hour (it would pay O&M twice)
    assert sched.costs["D.storage_om"] == pytest.approx(om, abs=1e-5)


# ------------------------------------------------------------------ 4. flexibility
def test_margins_cover_what_is_used(sched):
    assert set(sched.margins_mw) == set(sched.used_mw) == {"G1", "G2", "H3", "ieee13@13", "ieee13@14"}
    for name in sched.margins_mw:
        for key in ("up", "down"):
            avail, used = sched.margins_mw[name][key], sched.used_mw[name][key]
            assert avail.shape == used.shape == (T,)
            assert (avail >= used - TOL).all(), (name, key)
            assert (used >= -TOL).all()


def test_thermal_and_hydro_margins_by_hand(data, sched):
    for u, ramp in zip(data.thermal, data.thermal_ramp_mw_per_h):
        p = sched.gen_mw[u.name]
        np.testing.assert_allclose(sched.margins_mw[u.name]["up"], np.clip(np.minimum(u.p_max_mw - p, ramp), 0, None),
                                   atol=TOL)
        np.testing.assert_allclose(sched.margins_mw[u.name]["down"],
                                   np.clip(np.minimum(p - u.p_c_mw, ramp), 0, None), atol=TOL)
    p = sched.gen_mw["H3"]
    p_max = 100.0 * head(HOURS) ** 1.5
    np.testing.assert_allclose(sched.margins_mw["H3"]["up"], np.clip(np.minimum(p_max - p, 60.0), 0, None), atol=TOL)
    np.testing.assert_allclose(sched.margins_mw["H3"]["down"], np.clip(np.minimum(p - 10.0, 60.0), 0, None), atol=TOL)


def test_feeder_margins_within_the_boundary(data, sched):
    for n, pb in sched.boundary_mw.items():
        up, dn = sched.margins_mw[n]["up"], sched.margins_mw[n]["down"]
        assert (up <= data.boundary_mw + pb + TOL).all()
        assert (dn <= data.boundary_mw - pb + TOL).all()
        # at least the curtailed renewables (up) and the renewable output (down), within what the boundary carries
        cur = (sched.sgen_available_mw[n] - sched.sgen_p_mw[n]).sum(axis=0)
        out = sched.sgen_p_mw[n].sum(axis=0)
        assert (up >= np.minimum(cur, data.boundary_mw + pb) - TOL).all()
        assert (dn >= np.minimum(out, data.boundary_mw - pb) - TOL).all()


def test_demand_from_the_profiles(cs, data, prof, sched):
    # the forecasts summed over the system, from the networks' own series
    load = transmission_load(cs)
    wind = data.wind_mw * np.asarray(DEFAULT.wind, float)
    pv = np.zeros(T)
    for f in cs.feeders.values():
        load = load + values(f, "load", "p_mw", T)[f.load.in_service.to_numpy(bool)].sum(axis=0)
        sg = values(f, "sgen", "p_mw", T)
        kind = f.sgen.kind.to_numpy()
        wind = wind + sg[kind == "wind"].sum(axis=0)
        pv = pv + sg[kind == "pv"].sum(axis=0)
    np.testing.assert_allclose(prof.load, load, atol=1e-9)
    np.testing.assert_allclose(prof.wind, wind, atol=1e-9)
    np.testing.assert_allclose(prof.pv, pv, atol=1e-9)
    assert pv.max() > 2.0 and pv[0] == 0.0  # Table 3's 2.6 MW of PV at 0.9 at noon, nothing at night
    boxes = fit_pboxes(synthetic_history(data.history_days, T, seed=data.history_seed))
    dem = flexibility_demand(load, wind, pv, boxes, data.beta)
    np.testing.assert_allclose(sched.demand_mw["up"], dem.up, atol=1e-9)
    np.testing.assert_allclose(sched.demand_mw["down"], dem.down, atol=1e-9)
    assert (dem.up >= 0).all() and (dem.down <= 0).all() and dem.up.max() > 10 and dem.down.min() < -10


def check_shortfall(s, prof=None, data=None):
    """The shortfall is the demand the counted supply leaves uncovered, and the counted supply is all that is
    available where the demand needs it; the tail excess, the mean uncovered tail of the history's days."""
    for key, dem in (("up", s.demand_mw["up"]), ("down", -s.demand_mw["down"])):
        np.testing.assert_allclose(s.shortfall_mw[key], np.maximum(dem - total(s.used_mw, key), 0.0), atol=TOL)
        np.testing.assert_allclose(s.shortfall_mw[key], np.maximum(dem - total(s.margins_mw, key), 0.0), atol=TOL)
    if prof is None:
        return
    # z_kt = (D_kt - supply_t - s_t)^+ with the whole available supply counted
    for key, dem, tails in (("up", s.demand_mw["up"], prof.tail_up), ("down", -s.demand_mw["down"], prof.tail_down)):
        cover = np.maximum(dem, total(s.margins_mw, key))
        exp = np.zeros(T)
        for t, need in tails:
            exp[t] = np.maximum(need - cover[t], 0.0).sum() / prof.days
        np.testing.assert_allclose(s.tail_excess_mw[key], exp, atol=TOL)
    bh = 1.0 / (1.0 - data.beta)
    assert s.costs["F.shortfall"] == pytest.approx(
        bh * (data.c_flex_up * s.shortfall_mw["up"].sum() + data.c_flex_down * s.shortfall_mw["down"].sum()), abs=1e-4)
    assert s.costs["F.cvar"] == pytest.approx(
        bh * (data.c_cvar_up * s.tail_excess_mw["up"].sum() + data.c_cvar_down * s.tail_excess_mw["down"].sum()),
        abs=1e-4)


def test_shortfall_base_case(data, prof, sched):
    check_shortfall(sched, prof, data)


def test_shortfall_with_slow_ramps(tight):
    c, d, s = tight
    check_shortfall(s, system_profiles(c, d), d)
    # the slow units leave real shortfalls both ways (so the check above bites)
    assert s.shortfall_mw["up"].sum() > 50 and s.shortfall_mw["down"].sum() > 50
    for u in d.thermal:
        assert (s.margins_mw[u.name]["up"] <= 10.0 + TOL).all()
    assert (np.abs(np.diff(s.gen_mw["H3"])) <= 10.0 + TOL).all()


def test_shortfall_at_eps_one(cs, prof):
    """eps = 1 (the end of the study's eps grid): the flexibility terms weigh nothing, so the model's own
    shortfall variables are loose; the reported shortfall and its cost are still what the schedule's available
    supply leaves uncovered."""
    d = flex_data(eps=1.0)
    s = solve_schedule(cs, d, profiles=prof)
    bh = 1.0 / (1.0 - d.beta)
    for key, dem in (("up", s.demand_mw["up"]), ("down", -s.demand_mw["down"])):
        uncovered = np.maximum(dem - total(s.margins_mw, key), 0.0)
        np.testing.assert_allclose(s.shortfall_mw[key], uncovered, atol=TOL)
    assert s.shortfall_mw["down"].sum() > 1.0  # without the flexibility penalty the schedule does leave some
    assert s.costs["F.shortfall"] == pytest.approx(
        bh * 30.0 * (s.shortfall_mw["up"].sum() + s.shortfall_mw["down"].sum()), rel=1e-9)


# ------------------------------------------------------------------ 5. bounds
def test_unit_bounds_and_ramps(cs, data, sched):
    g = sched.gen_mw
    assert sched.gen_bus == {"G1": "1", "G2": "2", "H3": "3", "N6": "6", "W8": "8"}
    np.testing.assert_allclose(g["N6"], 0.9 * 45.0, atol=TOL)
    wind_av = 60.0 * np.asarray(DEFAULT.wind, float)
    np.testing.assert_allclose(sched.wind_available_mw, wind_av)
    assert (g["W8"] >= -TOL).all() and (g["W8"] <= wind_av + TOL).all()
    p_max = 100.0 * head(HOURS) ** 1.5
    assert p_max[4] == pytest.approx(100.0) and p_max[16] == pytest.approx(100.0 * 0.9 ** 1.5)
    assert (g["H3"] >= 10.0 - TOL).all() and (g["H3"] <= p_max + TOL).all()
    assert g["H3"].sum() <= 1200.0 + TOL
    assert (np.abs(np.diff(g["H3"])) <= 60.0 + TOL).all()
    for u in data.thermal:
        assert (g[u.name] >= 30.0 - TOL).all() and (g[u.name] <= 100.0 + TOL).all()
        assert (np.abs(np.diff(g[u.name])) <= 50.0 + TOL).all()
    # the shed stays within 2 % of the day's transmission energy (none in the base case)
    assert (sched.shed_mw >= -TOL).all() and sched.shed_mw.sum() <= 0.02 * transmission_load(cs).sum() + TOL


# ------------------------------------------------------------------ 6. voltage control
def test_voltage_band_with_control(sched):
    for n, vm in sched.feeder_vm.items():
        assert vm.shape == (len(sched.feeder_buses[n]), T)
        assert vm.min() >= 0.95 - TOL and vm.max() <= 1.05 + TOL
        np.testing.assert_allclose(sched.root_vm[n], vm[sched.feeder_buses[n].index("650")], atol=1e-12)
    # the inverters do give reactive power with voltage control
    assert max(np.abs(q).max() for q in sched.sgen_q_mvar.values()) > 0.1


def test_no_reactive_power_without_control(sched_novc, sched):
    for n, q in sched_novc.sgen_q_mvar.items():
        assert q.shape == sched_novc.sgen_p_mw[n].shape
        np.testing.assert_array_equal(q, 0.0)
    # voltage control changes nothing of the day's active-power costs here (the band costs no active power)
    assert sched_novc.costs["T.thermal"] + sched_novc.costs["D.purchase"] == pytest.approx(
        sched.costs["T.thermal"] + sched.costs["D.purchase"], rel=1e-3)


# ------------------------------------------------------------------ 7. STVS cuts
@pytest.fixture(scope="module")
def cut_sched(cs, data, prof, sched):
    bus, h, cap = GEN_CUT
    n, hb, capb = BOUNDARY_CUT
    vmax = max(float(v[:, VM_CUT_HOUR].max()) for v in sched.feeder_vm.values())
    cuts = StvsCuts(vm_max={VM_CUT_HOUR: round(vmax - 0.01, 4)}, boundary_mw={(n, hb): capb}, gen_mw={(bus, h): cap})
    return cuts, vmax, solve_schedule(cs, data, cuts=cuts, profiles=prof)


def test_cuts_are_respected(sched, cut_sched):
    cuts, vmax, s = cut_sched
    assert cuts.count == 3
    bus, h, cap = GEN_CUT
    # the cap binds: the uncut schedule runs G1 above it
    assert sched.gen_mw["G1"][h] > cap + 1.0
    assert s.gen_mw["G1"][h] <= cap + TOL
    # and the machine's available upward margin is measured against the cap
    assert s.margins_mw["G1"]["up"][h] == pytest.approx(max(0.0, min(cap - s.gen_mw["G1"][h], 50.0)), abs=TOL)
    n, hb, capb = BOUNDARY_CUT
    assert abs(sched.boundary_mw[n][hb]) > capb + 0.5
    assert abs(s.boundary_mw[n][hb]) <= capb + TOL
    new_vmax = max(float(v[:, VM_CUT_HOUR].max()) for v in s.feeder_vm.values())
    assert new_vmax <= cuts.vm_max[VM_CUT_HOUR] + TOL
    assert new_vmax <= vmax - 0.01 + 1e-4
    assert s.cuts == cuts.as_dict()
    assert s.cuts["gen_mw"] == [{"bus": "1", "hour": 9, "mw": 70.0}]
    # the cuts cost something
    assert s.objective >= sched.objective - 1e-6


# ------------------------------------------------------------------ 8. bad input
def test_bad_eps():
    with pytest.raises(InputError, match="eps"):
        flex_data(eps=1.5)
    with pytest.raises(InputError, match="eps"):
        check_eps(-0.1)
    with pytest.raises(InputError, match="eps"):
        check_eps("half")
    with pytest.raises(InputError, match="eps"):
        check_eps(float("nan"))
    assert check_eps(0) == 0.0 and check_eps(1) == 1.0


def test_bad_penetration_and_penalties():
    with pytest.raises(InputError, match="penetration 'medium'"):
        flex_data("medium")
    with pytest.raises(InputError, match="penetration 'medium'"):
        flex_system("medium")
    with pytest.raises(InputError, match="c_cvar <= c_flex"):
        flex_data(c_cvar_up=40.0)
    with pytest.raises(InputError, match="c_cvar <= c_flex"):
        flex_data(c_flex_down=10.0)
    with pytest.raises(InputError, match="24 hourly values"):
        flex_data(price_buy=(50.0,) * 12)
    with pytest.raises(InputError, match="beta"):
        flex_data(beta=1.0)


def test_twelve_period_profiles_refused(data):
    c = flex_system("base", data)
    f = c.feeders["ieee13@13"]
    f.timeseries.clear()
    factor = np.linspace(0.6, 1.0, 12)[:, None]
    set_series(f, "load", "p_mw", factor * f.load.p_mw.to_numpy(float)[None, :])
    set_series(f, "load", "q_mvar", factor * f.load.q_mvar.to_numpy(float)[None, :])
    with pytest.raises(InputError, match="24 hourly values") as exc:
        solve_schedule(c, data)
    assert "12 periods" in str(exc.value) and "ieee13@13" in str(exc.value)


# ------------------------------------------------------------------ 9. AC re-check
@pytest.fixture(scope="module")
def ac(cs, sched):
    return recheck(cs, sched, True)


@pytest.fixture(scope="module")
def ac_novc(cs, sched_novc):
    return recheck(cs, sched_novc, False)


def test_ac_with_voltage_control(ac, sched):
    assert len(ac.hours) == T
    assert ac.converged
    assert ac.over_voltages == 0
    assert ac.violations.get("voltage", 0) == 0
    assert ac.vm_max_pu <= 1.05 + 1e-9 and ac.vm_min_pu >= 0.95 - 1e-9
    for hc in ac.hours:
        for n, tap in hc.taps.items():
            k = (tap - 1.0) / TAP_STEP
            assert k == pytest.approx(round(k), abs=1e-9) and TAP_RANGE[0] <= tap <= TAP_RANGE[1]
        # the slack (bus 1) covers the AC losses that the DC schedule leaves out
        assert hc.slack_mw == pytest.approx(sched.gen_mw["G1"][hc.hour] + hc.loss_mw, abs=0.5)
        assert hc.loss_mw > 0


def test_ac_without_voltage_control_over_voltages(ac_novc):
    assert ac_novc.converged
    feeder_max = max(h.vm_max_feeder_pu for h in ac_novc.hours)
    assert feeder_max > 1.05
    assert ac_novc.over_voltages > 0
    assert ac_novc.violations["voltage"] >= ac_novc.over_voltages
    for hc in ac_novc.hours:
        assert all(t == 1.0 for t in hc.taps.values())  # nominal taps


@pytest.mark.parametrize("v_0, v_root, expected", [
    (1.0, 1.0, 1.0),  # on a step
    (1.03, 1.0, 1.03125),  # exact 1.03: steps 1.025 and 1.03125, the nearer (1.03125) keeps 0.9988 p.u.
    (1.0575, 1.0505, 1.0125),  # nearest 1.00625 gives 1.0509 p.u. (out), the next 1.0125 gives 1.0444 (in)
    (0.94, 0.9505, 0.9875),  # nearest 0.98750 gives 0.9519 (in); 0.99375 would give 0.9459 (out)
    (0.9435, 0.951, 0.9875),  # nearest 0.99375 gives 0.9494 p.u. (out), the next 0.9875 gives 0.9554 (in)
    (1.2, 1.0, 1.1),  # beyond the range: the end, even though 1.2 / 1.1 is out of band
    (0.8, 1.0, 0.9),
])
def test_pick_tap_by_hand(v_0, v_root, expected):
    tap = pick_tap(v_0, v_root)
    assert tap == pytest.approx(expected, abs=1e-12)


def test_pick_tap_properties():
    rng = np.random.default_rng(1)
    for v_0, v_root in zip(rng.uniform(0.9, 1.12, 400), rng.uniform(0.94, 1.06, 400)):
        tap = pick_tap(float(v_0), float(v_root))
        k = (tap - 1.0) / TAP_STEP
        assert k == pytest.approx(round(k), abs=1e-9)
        assert TAP_RANGE[0] - 1e-12 <= tap <= TAP_RANGE[1] + 1e-12
        exact = v_0 / v_root
        lo = 1.0 + TAP_STEP * np.floor((exact - 1.0) / TAP_STEP + 1e-12)
        near = [float(np.clip(x, *TAP_RANGE)) for x in (lo, lo + TAP_STEP)]
        assert any(abs(tap - x) < 1e-12 for x in near)
        inside = [x for x in near if 0.95 <= v_0 / x <= 1.05]
        if inside:  # where a neighbouring step keeps the source voltage in band, the pick does, the nearer first
            assert 0.95 <= v_0 / tap <= 1.05
            assert abs(tap - exact) <= min(abs(x - exact) for x in inside) + 1e-12
        else:
            assert abs(tap - exact) <= min(abs(x - exact) for x in near) + 1e-12


# ------------------------------------------------------------------ 10. AC correction and the stress case
def test_band_corrections_narrow_by_the_models_error():
    from types import SimpleNamespace

    from tdcoord.problems.flex_check import CORRECTION_MARGIN, band_corrections

    sched = SimpleNamespace(feeder_buses={"F": ["650", "652", "675"]},
                            feeder_vm={"F": np.array([[1.00, 1.00], [0.955, 0.96], [1.049, 1.04]])})
    hours = [SimpleNamespace(hour=0, feeder_vm={"F": {"650": 0.99, "652": 0.940, "675": 1.053}}),
             SimpleNamespace(hour=1, feeder_vm={"F": {"650": 0.99, "652": 0.951, "675": 1.04}})]
    bounds: dict = {}
    assert band_corrections(sched, SimpleNamespace(hours=hours), bounds) == 2
    assert bounds[("F", "652", 0)] == pytest.approx((0.95 + 0.015 + CORRECTION_MARGIN, 1.05))
    assert bounds[("F", "675", 0)] == pytest.approx((0.95, 1.05 - 0.004 - CORRECTION_MARGIN))
    assert ("F", "652", 1) not in bounds  # in band: left alone
    assert band_corrections(sched, SimpleNamespace(hours=hours), bounds) == 0  # the same errors: nothing new


def test_stress_case_no_violation_with_voltage_control_and_over_voltages_without():
    from tdcoord.problems.flex_check import solve_checked

    d = flex_data("high")
    cs = flex_system("high", d)
    s0, ac0, n0 = solve_checked(cs, d, voltage_control=True, passes=0)
    s, ac, n = solve_checked(cs, d, voltage_control=True)
    assert ac.converged and ac.n_violations == 0 and ac.over_voltages == 0
    assert ac0.violations["voltage"] > 0 and n > 0 and len(s.corrections) == n  # the correction was needed
    assert s.objective >= s0.objective - 1e-6  # a narrower band costs no less
    _, ac1, _ = solve_checked(cs, d, voltage_control=False)
    assert ac1.over_voltages > 0 and ac1.vm_max_pu > 1.07  # method 1 in the stress case (paper: about 1.08)


def test_feeder_load_shedding_when_the_boundary_cannot_carry_the_load(cs, prof):
    """A 1 MW boundary cannot carry the feeders' evening load: the feeders shed, at c_L per MWh, and the AC
    re-check takes the shed load out at the load's power factor."""
    from tdcoord.problems.flex_check import hour_system
    from tdcoord.network.timeseries import values

    d = flex_data(boundary_mw=1.0)
    s = solve_schedule(cs, d, profiles=prof)
    total_shed = sum(float(v.sum()) for v in s.feeder_shed_mw.values())
    assert total_shed > 1.0
    assert s.costs["D.shed_D"] == pytest.approx(d.c_shed * total_shed, rel=1e-6)
    n, shed = max(s.feeder_shed_mw.items(), key=lambda kv: kv[1].sum())
    t = int(np.argmax(shed.sum(axis=0)))
    for k in s.boundary_mw:
        assert abs(s.boundary_mw[k][t]) <= 1.0 + TOL
    f0 = cs.feeders[n]
    p0 = values(f0, "load", "p_mw", 24)[:, t]
    q0 = values(f0, "load", "q_mvar", 24)[:, t]
    assert (shed[:, t] <= p0 + TOL).all()
    f = hour_system(cs, s, t).feeders[n]
    np.testing.assert_allclose(f.load.p_mw.to_numpy(), p0 - shed[:, t], atol=1e-9)
    k = np.where(p0 > 0, (p0 - shed[:, t]) / np.where(p0 > 0, p0, 1.0), 1.0)
    np.testing.assert_allclose(f.load.q_mvar.to_numpy(), q0 * k, atol=1e-9)


def test_battery_margins_by_hand():
    """0.5 MW / 1 MWh batteries, 95 % each way, SOC 10-90 %: worked by hand."""
    import pandas as pd

    from tdcoord.problems.flex_schedule import battery_margins

    st = pd.DataFrame({"e_max_mwh": [1.0] * 3, "eta_charge": [0.95] * 3, "eta_discharge": [0.95] * 3,
                       "soc_min": [0.1] * 3, "soc_max": [0.9] * 3, "p_charge_max_mw": [0.5] * 3,
                       "p_discharge_max_mw": [0.5] * 3})
    # charging 0.5 MW from the minimum (ends at 0.1 + 0.475); idle at half; discharging 0.2 MW near the top
    ch = np.array([[0.5], [0.0], [0.0]])
    dis = np.array([[0.0], [0.0], [0.2]])
    e = np.array([[0.1 + 0.95 * 0.5], [0.5], [0.85]])
    up, down = battery_margins(ch, dis, e, st)
    # up: cancel the 0.5 MW of charging (frees 0.475 MWh, all there is); nothing left to discharge more
    # idle: 0.4 MWh above the minimum gives 0.38 MW more discharge; near the top: 0.75 MWh gives the 0.3 MW left
    np.testing.assert_allclose(up.ravel(), [0.5, 0.38, 0.3], atol=1e-12)
    # down: charging at full power already, 0.325 MWh of room cannot be used; idle: 0.4 / 0.95 = 0.421 MW more
    # charging; near the top (0.05 MWh room): charge 0.05 / 0.95 more, nothing left to cancel the discharging
    np.testing.assert_allclose(down.ravel(), [0.0, 0.4 / 0.95, 0.05 / 0.95], atol=1e-12)


@pytest.mark.parametrize("changes, words", [
    ({"bogus": 1}, "no field bogus"), ({"boundary_mw": 0.0}, "boundary_mw"), ({"c_shed": -1.0}, "c_shed"),
    ({"history_days": 1}, "history_days"), ({"c_flex_up": float("nan")}, "c_flex_up"),
])
def test_bad_schedule_data(changes, words):
    with pytest.raises(InputError, match=words):
        flex_data(**changes)


def test_tie_carries_a_feeder_cut_off_from_its_boundary(cs, data, prof):
    """DS1's boundary closed at 03:00: the tie (a controlled transfer of at most 2 MW) brings it power from DS2,
    equal and opposite at its ends, and the AC re-check injects it there (DS1 then draws ~nothing at its
    boundary)."""
    from tdcoord.problems.flex_check import check_hour, hour_system

    cuts = StvsCuts(boundary_mw={("ieee13@13", 3): 0.0})
    s = solve_schedule(cs, data, cuts=cuts, profiles=prof)
    into_ds1 = s.tie_mw["ieee13@13"]["680"]
    into_ds2 = s.tie_mw["ieee13@14"]["680"]
    np.testing.assert_allclose(into_ds1 + into_ds2, 0.0, atol=TOL)
    assert (np.abs(into_ds1) <= data.tie_mw + TOL).all()
    assert abs(s.boundary_mw["ieee13@13"][3]) <= TOL and into_ds1[3] > 0.3
    assert s.costs["D.tie"] == pytest.approx(data.c_tie * np.abs(into_ds1).sum(), abs=1e-6)
    f = hour_system(cs, s, 3).feeders["ieee13@13"]
    tie = f.sgen[f.sgen.name == "tie transfer"]
    assert len(tie) == 1 and tie.bus.iloc[0] == "680" and tie.p_mw.iloc[0] == pytest.approx(into_ds1[3])
    hc = check_hour(cs, s, 3, True)
    assert hc.converged and abs(hc.boundary_mw["ieee13@13"]) < 0.05  # the feeder's own losses at most
