"""Network tables, validation errors and JSON round trips."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.cases import load_case
from tdcoord.errors import IslandError, RadialityError, SchemaError, TopologyError, UnknownBusError
from tdcoord.io.json_io import read_json, write_json
from tdcoord.network import CoupledSystem, Network, validate


def small() -> Network:
    n = Network("small", sn_mva=100)
    n.add_bus(1, 110)
    n.add_bus(2, 110)
    n.add_bus(3, 110)
    n.add_line(1, 2, 1.0, 4.0)
    n.add_line(2, 3, 1.0, 4.0)
    n.add_ext_grid(1)
    n.add_load(3, 10.0, 2.0)
    return n


def test_defaults_and_types():
    n = small()
    assert list(n.bus.index) == ["1", "2", "3"]
    assert n.line.b_us.tolist() == [0.0, 0.0]
    assert n.line.in_service.dtype == bool
    assert np.isnan(n.line.rate_mva).all()
    validate(n)


@pytest.mark.parametrize(
    "mutate, err, words",
    [
        (lambda n: n.add_load(9, 1.0), UnknownBusError, ["load 1", "'bus'", "'9'"]),
        (lambda n: n.add_line(1, 3, -1.0, 1.0), SchemaError, ["line 2", "field 'r_ohm' = -1.0;", ">= 0"]),
        (lambda n: n.add_line(1, 3, 0.0, 0.0), SchemaError, ["line 2", "non-zero impedance"]),
        (lambda n: n.add_bus(4, 110, vm_min_pu=1.1, vm_max_pu=0.9), SchemaError, ["bus '4'", "inverted"]),
        (lambda n: n.add_bus(4, 110), IslandError, ["'4'", "not connected"]),
        (lambda n: n.add_gen(2, q_min_mvar=5, q_max_mvar=-5), SchemaError, ["gen 0", "q_min_mvar"]),
        (lambda n: n.add_sgen(2, p_mw=5, sn_mva=2), SchemaError, ["sgen 0", "p_mw", "sn_mva"]),
        (lambda n: (n.add_bus(4, 20), n.add_line(3, 4, 1, 1)), SchemaError, ["line 2", "equal nominal voltages"]),
    ],
)
def test_validation_names_element_and_field(mutate, err, words):
    n = small()
    mutate(n)
    with pytest.raises(err) as exc:
        validate(n)
    for w in words:
        assert w in str(exc.value)
    assert "np." not in str(exc.value)  # numbers as numbers, not numpy reprs


def test_schema_errors_on_add():
    n = small()
    with pytest.raises(SchemaError, match="unknown field"):
        n.add_load(2, 1.0, colour="red")
    with pytest.raises(SchemaError, match="must be a number"):
        n.add_line(1, 2, "abc", 1.0)
    with pytest.raises(SchemaError, match="used twice"):
        n.add_bus(1, 110)
    with pytest.raises(SchemaError, match="required"):
        n.add("load", {"bus": "2"})


def test_no_slack_is_an_error():
    n = small()
    n.ext_grid = n.ext_grid.iloc[0:0]
    with pytest.raises(TopologyError, match="no slack"):
        validate(n)


def test_radiality_names_the_closing_branch():
    n = load_case("ieee33")
    n.line.loc[n.line.name == "branch 33 (tie switch)", "in_service"] = True
    with pytest.raises(RadialityError, match="line 32") as exc:
        validate(n)
    assert "closes a loop" in str(exc.value)


def test_json_round_trip_network(tmp_path):
    for name in ("ieee30", "ieee33", "ieee118"):
        n = load_case(name)
        write_json(n, tmp_path / f"{name}.json")
        back = read_json(tmp_path / f"{name}.json")
        assert back.equals(n)
        assert back.notes == n.notes


def test_json_round_trip_coupled(tmp_path):
    cs = load_case("ieee14+ieee13@13+ieee13@14")
    write_json(cs, tmp_path / "cs.json")
    back = read_json(tmp_path / "cs.json")
    assert isinstance(back, CoupledSystem)
    assert list(back.feeders) == list(cs.feeders)
    assert back.boundary.equals(cs.boundary)
    assert back.tie.equals(cs.tie)
    for k in cs.feeders:
        assert back.feeders[k].equals(cs.feeders[k])
    assert back.transmission.equals(cs.transmission)


def test_coupled_namespacing_and_copies():
    cs = load_case("ieee30+ieee33@6x2+ieee33@7")
    assert list(cs.feeders) == ["ieee33@6", "ieee33@6#2", "ieee33@7"]
    m = cs.merge().network
    assert "ieee33@6#2:18" in m.bus.index
    assert len(m.bus) == 30 + 3 * 33
    # one boundary trafo per feeder, feeder ext_grids dropped
    assert (m.trafo.name.str.startswith("boundary")).sum() == 3
    assert len(m.ext_grid) == 0


def test_attach_to_missing_bus():
    cs = CoupledSystem(load_case("ieee30"))
    with pytest.raises(UnknownBusError, match="transmission bus '99'"):
        cs.attach(load_case("ieee33"), 99)


def test_boundary_defaults_documented_values():
    cs = load_case("ieee30+ieee33@7")
    b = cs.boundary.loc["ieee33@7"]
    # ieee33 load 3.715 MW + j2.3 Mvar -> 4.37 MVA x 1.5 -> next standard rating 10 MVA
    assert b.sn_mva == 10.0
    assert b.r_pu == pytest.approx(0.005)
    assert np.hypot(b.r_pu, b.x_pu) == pytest.approx(0.06)


def test_bundled_case33bw_loads_as_a_file():
    from tdcoord.cases.standard import data_path

    plain = load_case(str(data_path("case33bw.m")))
    ieee33 = load_case("ieee33")
    assert len(plain.bus) == len(ieee33.bus) == 33
    # the same feeder: p.u. on 12.66 kV / 10 MVA in the file, Baran and Wu's ohms in the built-in network
    assert plain.line.r_ohm.to_numpy() == pytest.approx(ieee33.line.r_ohm.to_numpy(), rel=1e-12)
    assert plain.line.x_ohm.to_numpy() == pytest.approx(ieee33.line.x_ohm.to_numpy(), rel=1e-12)
    assert plain.load.p_mw.sum() == pytest.approx(3.715)
    assert ieee33.line.r_ohm.iloc[0] == 0.0922  # to the last bit


def test_case_files_in_a_coupled_spec_and_the_substation_tap():
    from tdcoord.cases.standard import data_path
    from tdcoord.pf.integrated import run_coupled

    by_name = load_case("ieee30+ieee33@6x1")
    by_file = load_case(f"{data_path('case_ieee30.m')}+{data_path('case33bw.m')}@6")
    assert list(by_file.feeders) == ["case33bw@6"]
    a, b = run_coupled(by_name, "merged"), run_coupled(by_file, "merged")
    assert b.res_boundary.p_mw.iloc[0] == pytest.approx(a.res_boundary.p_mw.iloc[0], abs=1e-9)
    assert b.res_boundary.q_mvar.iloc[0] == pytest.approx(a.res_boundary.q_mvar.iloc[0], abs=1e-9)
    tapped = load_case("ieee30+ieee33@6x2~tap0.95")
    assert list(tapped.boundary.tap_pu) == [0.95, 0.95]
    # the boost raises the feeder's far end by about 1/0.95
    far = run_coupled(tapped, "merged").res_bus.vm_pu["ieee33@6:18"]
    assert far > a.res_bus.vm_pu["ieee33@6:18"] + 0.04
    with pytest.raises(Exception, match="tap 1.5 is outside 0.8-1.2"):
        load_case("ieee30+ieee33@6~tap1.5")
