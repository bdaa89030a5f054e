"""OpenDSS reader: the IEEE 13- and 123-node feeders as positive-sequence networks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import opendssdirect
import pytest

import tdcoord
from tdcoord.errors import FileFormatError, InputError, RadialityError
from tdcoord.io.json_io import read_json
from tdcoord.io.opendss import (
    IEEE_TEST_FEEDERS,
    ieee_test_feeder,
    positive_sequence,
    read_opendss,
)
from tdcoord.network.validate import validate
from tdcoord.pf.ac import run_newton

DATA = Path(__file__).resolve().parents[1] / "data" / "opendss"
PACKAGE = Path(tdcoord.__file__).resolve().parent / "cases" / "data"  # the files the package ships
MI = 5280.0  # ft


@pytest.fixture(scope="module")
def ieee13():
    return ieee_test_feeder(DATA, "ieee13")


@pytest.fixture(scope="module")
def ieee123():
    return ieee_test_feeder(DATA, "ieee123")


def script(tmp_path: Path, text: str, name: str = "case.dss") -> Path:
    path = tmp_path / name
    path.write_text(text.strip() + "\n")
    return path


# ---------------------------------------------------------------- IEEE 13-node
def test_ieee13_loads_and_capacitors(ieee13):
    assert ieee13.load.p_mw.sum() * 1000 == pytest.approx(3466.0)
    assert ieee13.load.q_mvar.sum() * 1000 == pytest.approx(2102.0)
    assert (ieee13.shunt.bs_mvar * ieee13.shunt.step).sum() * 1000 == pytest.approx(700.0)
    assert ieee13.load.set_index("bus").loc["634", "p_mw"] == pytest.approx(0.400)  # 634a+634b+634c
    assert ieee13.shunt.set_index("name").loc["cap2", "bus"] == "611"


def test_ieee13_counts_and_topology(ieee13):
    # 16 DSS buses minus SourceBus; 11 lines + switch 671-692; regulator bank + XFM1 (Sub dropped)
    assert len(ieee13.bus) == 15 and "sourcebus" not in ieee13.bus.index
    assert len(ieee13.line) == 12 and len(ieee13.trafo) == 2
    assert ieee13.kind == "distribution" and ieee13.f_hz == 60.0
    assert list(ieee13.ext_grid.bus) == ["650"] and ieee13.ext_grid.vm_pu.iloc[0] == 1.0
    assert ieee13.bus.vn_kv.to_dict() == {**{b: 4.16 for b in ieee13.bus.index if b != "634"}, "634": 0.48}
    assert set(ieee13.bus.index) >= {"650", "rg60", "670", "692", "675", "652"}
    assert (ieee13.bus.vm_min_pu == 0.95).all() and (ieee13.bus.vm_max_pu == 1.05).all()
    validate(ieee13)  # radial and connected


def test_ieee13_regulators_and_xfm1(ieee13):
    tr = ieee13.trafo.set_index("name")
    reg = tr.loc["reg1"]
    assert (reg.from_bus, reg.to_bus) == ("rg60", "650")  # from side = regulated winding
    assert reg.tap_pu == pytest.approx((1.0625 + 1.05 + 1.06875) / 3)
    assert reg.sn_mva == pytest.approx(3 * 1.666)
    assert reg.r_pu == pytest.approx(1e-4)  # %LoadLoss 0.01
    xfm = tr.loc["xfm1"]
    assert (xfm.from_bus, xfm.to_bus, xfm.sn_mva, xfm.tap_pu) == ("633", "634", 0.5, 1.0)
    assert xfm.r_pu == pytest.approx(0.011) and xfm.x_pu == pytest.approx(0.02)


def test_ieee13_line_impedances(ieee13):
    ln = ieee13.line.set_index("name")
    # mtx601 (ohm/mi), 2000 ft: Z1 = mean(diag) - mean(offdiag)
    r1 = np.mean([0.3465, 0.3375, 0.3414]) - np.mean([0.1560, 0.1580, 0.1535])
    x1 = np.mean([1.0179, 1.0478, 1.0348]) - np.mean([0.5017, 0.4236, 0.3849])
    assert ln.loc["650632", "r_ohm"] == pytest.approx(r1 * 2000 / MI)
    assert ln.loc["650632", "x_ohm"] == pytest.approx(x1 * 2000 / MI)
    # mtx601 has no cmatrix: OpenDSS's default c1 = 3.4 nF, c0 = 1.6 nF per unit length (here per mile)
    assert ln.loc["650632", "b_us"] == pytest.approx(2 * math.pi * 60 * 3.4 * 2000 / MI * 1e-3)
    # mtx607, 1 phase, 800 ft: Z = 3 * diag; C = diag / 3
    assert ln.loc["684652", "r_ohm"] == pytest.approx(3 * 1.3425 * 800 / MI)
    assert ln.loc["684652", "b_us"] == pytest.approx(2 * math.pi * 60 * 236 / 3 * 800 / MI * 1e-3)
    # mtx605, 1 phase without cmatrix: the engine's self capacitance (2 c1 + c0)/3 = 2.8 nF/mi, C = diag / 3
    assert ln.loc["684611", "b_us"] == pytest.approx(2 * math.pi * 60 * (2 * 3.4 + 1.6) / 3 / 3 * 300 / MI * 1e-3)
    # mtx603, 2 phases: Z = 3/2 * mean(diag)
    assert ln.loc["632645", "r_ohm"] == pytest.approx(1.5 * np.mean([1.3238, 1.3294]) * 500 / MI)
    # switch 671-692: r1 = 1e-4 ohm per unit x OpenDSS's switch length 0.001, raised to the 1e-4 ohm floor
    assert (ln.loc["671692", "r_ohm"], ln.loc["671692", "x_ohm"]) == (1e-4, 0.0)


def test_ieee13_power_flow(ieee13):
    res = run_newton(ieee13)
    assert res.converged
    vm = res.res_bus.vm_pu
    # published three-phase results lie roughly in 0.98-1.06 p.u. (675: about 0.98-1.05 by phase)
    assert 0.98 <= vm.min() and vm.max() <= 1.065
    assert vm["rg60"] == pytest.approx(1.06, abs=1e-3)
    assert 0.98 <= vm["675"] <= 1.05
    assert 0.05 < res.p_loss_mw < 0.15


# ---------------------------------------------------------------- IEEE 123-node
def test_ieee123_loads_and_capacitors(ieee123):
    assert ieee123.load.p_mw.sum() * 1000 == pytest.approx(3490.0)
    assert ieee123.load.q_mvar.sum() * 1000 == pytest.approx(1920.0)
    assert (ieee123.shunt.bs_mvar * ieee123.shunt.step).sum() * 1000 == pytest.approx(750.0)
    assert len(ieee123.shunt) == 4


def test_ieee123_counts_and_topology(ieee123):
    # IEEE123Switches.dss: 130 buses, 118 lines + 8 switches, reg1a + 3 regulator banks + XFM1
    assert len(ieee123.bus) == 130 and ieee123.bus.in_service.all()
    assert len(ieee123.line) == 126 and len(ieee123.trafo) == 5
    assert list(ieee123.ext_grid.bus) == ["150"]
    ln = ieee123.line.set_index("name")
    assert not ln.loc["sw7"].in_service and not ln.loc["sw8"].in_service
    assert ln.in_service.sum() == 124
    assert (ln.loc["sw7", "from_bus"], ln.loc["sw7", "to_bus"]) == ("151", "300")
    assert ieee123.bus.at["610", "vn_kv"] == 0.48
    assert {"150r", "9r", "25r", "160r", "61s"} <= set(ieee123.bus.index)
    validate(ieee123)
    closed = ieee123.copy()
    closed.line.loc[closed.line.name == "sw7", "in_service"] = True
    with pytest.raises(RadialityError):  # Sw7 is a tie switch
        validate(closed)


def test_ieee123_regulator_taps(ieee123):
    tr = ieee123.trafo.set_index("name")
    step = 0.00625
    assert tr.loc["reg1a", "tap_pu"] == pytest.approx(1 + 7 * step)
    assert tr.loc["reg2", "tap_pu"] == pytest.approx((1 - step + 1 + 1) / 3)  # phase a only
    assert tr.loc["reg3", "tap_pu"] == pytest.approx((1 + 1 + 1 - step) / 3)  # phases a, c
    assert tr.loc["reg4", "tap_pu"] == pytest.approx(1 + (8 + 1 + 5) * step / 3)
    assert (tr.loc["reg4", "from_bus"], tr.loc["reg4", "to_bus"]) == ("160r", "160")
    assert tr.loc["reg2", "sn_mva"] == pytest.approx(6.0)
    assert tr.loc["xfm1", "r_pu"] == pytest.approx(0.0127) and tr.loc["xfm1", "x_pu"] == pytest.approx(0.0272)


def test_ieee123_power_flow(ieee123):
    res = run_newton(ieee123)
    assert res.converged
    vm = res.res_bus.vm_pu
    assert vm["150"] == 1.0 and vm["150r"] == pytest.approx(1 + 7 * 0.00625, abs=1e-3)
    assert 0.98 <= vm.min() and vm.max() <= 1.05
    assert 0.05 < res.p_loss_mw < 0.15


def test_ieee123_master_with_dummy_open_points(ieee123):
    """IEEE123Master.dss ends Sw7/Sw8 at dummy buses: same in-service network as IEEE123Switches.dss."""
    net = read_opendss(DATA / "ieee123" / "IEEE123Master.dss", regulator_taps=IEEE_TEST_FEEDERS["ieee123"]["taps"])
    assert len(net.bus) == 132
    assert sorted(net.bus.index[~net.bus.in_service]) == ["300_open", "94_open"]
    assert sorted(net.line.name[~net.line.in_service]) == ["sw7", "sw8"]
    validate(net)
    a, b = run_newton(net), run_newton(ieee123)
    assert a.converged
    assert np.allclose(a.res_bus.vm_pu.reindex(b.res_bus.index), b.res_bus.vm_pu, atol=1e-9)
    assert a.p_loss_mw == pytest.approx(b.p_loss_mw, rel=1e-9)


# ----------------------------------------------------------- package data
@pytest.mark.parametrize("name", ["ieee13", "ieee123"])
def test_package_json_matches_reader(name):
    stored = read_json(PACKAGE / f"{name}.json")
    made = ieee_test_feeder(DATA, name)
    assert stored.equals(made, rtol=1e-12)
    assert stored.notes == made.notes and stored.source == made.source
    assert "electricdss-tst" in stored.source and any("Numerical floor" in n for n in stored.notes)


def engine_taps(master: Path, windings: dict[str, int]) -> dict[str, float]:
    """Taps the OpenDSS engine holds once the script has run (its own Solve included)."""
    ctx = opendssdirect.dss.NewContext()
    ctx.Text.Command(f'redirect "{master}"')
    taps = {}
    for name, w in windings.items():
        ctx.Transformers.Name(name)
        ctx.Transformers.Wdg(w)
        taps[name] = ctx.Transformers.Tap()
    ctx.Basic.ClearAll()
    return taps


def test_numerical_floors_can_be_turned_off():
    master = DATA / "ieee13" / "IEEE13Nodeckt.dss"
    net = read_opendss(master, min_switch_r_ohm=0, min_regulator_x_pu=0)
    ln = net.line.set_index("name")
    assert ln.loc["671692", "r_ohm"] == pytest.approx(1e-7)  # r1 = 1e-4 ohm x switch length 0.001
    reg = net.trafo.set_index("name").loc["reg1"]
    assert reg.x_pu == pytest.approx(1e-4)
    # no taps given: those the script's Solve left (its RegControls acting), not the published ones
    taps = engine_taps(master, {"reg1": 2, "reg2": 2, "reg3": 2})
    assert reg.tap_pu == pytest.approx(np.mean(list(taps.values())))
    assert taps != {k: v for k, v in IEEE_TEST_FEEDERS["ieee13"]["taps"].items()}
    assert not any("Numerical floor" in n for n in net.notes)


# ------------------------------------------------------------ DSS scripts
def test_positive_sequence_rules():
    z = np.array([[3, 1, 1], [1, 3, 1], [1, 1, 3]], dtype=complex)
    c = np.array([[6, -1, -1], [-1, 6, -1], [-1, -1, 6]], dtype=float)
    assert positive_sequence(z, c) == (2.0, 7.0)
    assert positive_sequence(z[:2, :2], c[:2, :2]) == (4.5, 4.0)
    assert positive_sequence(z[:1, :1], c[:1, :1]) == (9.0, 2.0)
    with pytest.raises(ValueError, match="4 conductors"):
        positive_sequence(np.eye(4, dtype=complex), np.eye(4))


DEMO = """
Clear
Set DefaultBaseFrequency=60
New object=circuit.demo
~ basekv=4.16 bus1=S pu=1.0   ! a comment
/* a block
   comment */
New Linecode.lc nphases=3 BaseFreq=60 units=mi
~ rmatrix = (0.3 | 0.1 0.3 | 0.1 0.1 0.3)
~ xmatrix = [0.9 | 0.4 0.9 | 0.4 0.4 0.9]
~ cmatrix = [10 | -2 10 | -2 -2 10]
New Transformer.R1 phases=1 bank=bk XHL=0.01 kVAs=[1000 1000] Buses=[S.1 R.1] kVs=[2.4 2.4] %LoadLoss=0.02
New Transformer.R2 like=R1 Buses=[S.2 R.2]
New RegControl.c1 transformer=R1 winding=2 vreg=122 band=2
New RegControl.c2 like=c1 transformer=R2
Transformer.R1.Taps=[1.0 1.0625]
Transformer.R2.wdg=2 Tap=(0.00625 4 * 1 +)
New Line.a bus1=R.1.2.3 bus2=B.1.2.3 linecode=lc length=100 units=ft
Edit Line.a length=(1320 2 *)   // 2640 ft = 0.5 mi
New Line.sw bus1=B bus2=C switch=y r1=0.001 x1=0
New Load.l1 bus1=B.1 phases=1 kW=100 kvar=50
New Load.l2 bus1=B.2 phases=1 kW=60 kvar=20
New Load.l3 bus1=C kW=300 pf=0.8
New Capacitor.cap bus1=C phases=3 numsteps=2 kvar=[150 150] kV=4.16
Set VoltageBases=[4.16]
CalcVoltageBases
Set ControlMode=OFF
Solve
"""


def test_demo_script(tmp_path):
    net = read_opendss(script(tmp_path, DEMO), sn_mva=1.0)
    assert net.name == "demo" and net.sn_mva == 1.0
    assert list(net.bus.index) == ["s", "r", "b", "c"] and net.bus.at["r", "name"] == "r"
    ln = net.line.set_index("name")
    assert ln.loc["a", "r_ohm"] == pytest.approx(0.2 * 0.5)
    assert ln.loc["a", "x_ohm"] == pytest.approx(0.5 * 0.5)
    assert ln.loc["a", "b_us"] == pytest.approx(2 * math.pi * 60 * 12 * 0.5 * 1e-3)
    assert (ln.loc["sw", "r_ohm"], ln.loc["sw", "x_ohm"]) == (1e-4, 0.0)  # 1e-6 ohm raised to the floor
    tr = net.trafo.iloc[0]
    assert (tr["name"], tr.from_bus, tr.to_bus) == ("bk", "r", "s")
    assert tr.tap_pu == pytest.approx((1.0625 + 1.025 + 1.0) / 3)  # phase c has no unit
    assert tr.sn_mva == pytest.approx(3.0) and tr.r_pu == pytest.approx(2e-4) and tr.x_pu == pytest.approx(1e-3)
    ld = net.load.set_index("bus")
    assert ld.loc["b", "p_mw"] == pytest.approx(0.160) and ld.loc["b", "q_mvar"] == pytest.approx(0.070)
    assert ld.loc["c", "q_mvar"] == pytest.approx(0.225)
    sh = net.shunt.iloc[0]
    assert (sh.bs_mvar, sh.step, sh.max_step) == (0.15, 2, 2)
    assert run_newton(net).converged

    given = read_opendss(script(tmp_path, DEMO), regulator_taps={"R1": 1.05})
    assert given.trafo.tap_pu.iloc[0] == pytest.approx((1.05 + 1.025 + 1.0) / 3)
    with pytest.raises(InputError, match="not a regulator"):
        read_opendss(script(tmp_path, DEMO), regulator_taps={"nope": 1.0})
    with pytest.raises(InputError, match="must be > 0"):
        read_opendss(script(tmp_path, DEMO), regulator_taps={"r1": 0.0})


def test_open_switch_isolates_bus(tmp_path):
    net = read_opendss(script(tmp_path, DEMO + "\nopen Line.sw term=1\n"))
    assert not net.line.set_index("name").loc["sw", "in_service"]
    assert not net.bus.at["c", "in_service"]
    assert any("out of service: c" in n for n in net.notes)
    assert run_newton(net).converged
    disabled = read_opendss(script(tmp_path, DEMO + "\nLine.sw.enabled=n\n"))
    assert not disabled.line.set_index("name").loc["sw", "in_service"]


def test_capacitor_off_nominal_rating_is_scaled(tmp_path):
    net = read_opendss(script(tmp_path, DEMO.replace("kV=4.16", "kV=4.8")))
    assert net.shunt.bs_mvar.iloc[0] == pytest.approx(0.15 * (4.16 / 4.8) ** 2)
    assert any("scaled" in n for n in net.notes)


def test_reads_do_not_mix_or_disturb_the_callers_engine(tmp_path):
    """Each read starts from a cleared engine of its own; the default opendssdirect engine is left alone."""
    opendssdirect.Basic.ClearAll()
    opendssdirect.Text.Command(f'redirect "{script(tmp_path, BASE, "mine.dss")}"')
    at_50_hz = DEMO.replace("Frequency=60", "Frequency=50").replace("BaseFreq=60", "")
    first = read_opendss(script(tmp_path, at_50_hz, "demo.dss"))
    second = read_opendss(script(tmp_path, BASE + "Solve\nExport voltages\nShow powers\n", "base.dss"))
    assert list(second.line.name) == ["a"] and len(second.trafo) == 0 and len(first.line) == 2
    assert (first.f_hz, second.f_hz) == (50.0, 60.0)  # the engine's default frequency is global: reset
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.dss", "demo.dss", "mine.dss"]  # no exports left
    assert opendssdirect.Circuit.Name() == "t" and opendssdirect.Lines.AllNames() == ["a"]
    assert opendssdirect.Basic.AllowChangeDir() and opendssdirect.Basic.AllowEditor()  # the library's defaults
    opendssdirect.Basic.ClearAll()


# ------------------------------------------------ line geometries, 3 windings
GEOMETRY = """
Clear
New Circuit.geo basekv=12.47 bus1=src pu=1.0 MVAsc3=1e6 MVAsc1=1e6
New WireData.acsr336 GMRac=0.0244 Rac=0.306 Runits=mi GMRunits=ft Diam=0.721 Radunits=in
New WireData.acsr4_0 GMRac=0.00814 Rac=0.592 Runits=mi GMRunits=ft Diam=0.563 Radunits=in
New LineGeometry.pole500 nconds=4 nphases=3 reduce=y
~ cond=1 wire=acsr336 x=-4 h=28 units=ft
~ cond=2 wire=acsr336 x=-1.5 h=28 units=ft
~ cond=3 wire=acsr336 x=3 h=28 units=ft
~ cond=4 wire=acsr4_0 x=0 h=24 units=ft
New Line.ohl bus1=src bus2=b geometry=pole500 length=1 units=mi
New Line.ohl2 bus1=b bus2=c geometry=pole500 length=5.28 units=kft
New Load.l bus1=c kW=3000 kvar=1200 kv=12.47
Set VoltageBases=[12.47]
CalcVoltageBases
Solve
"""


def engine_solution(path: Path) -> tuple[dict[str, np.ndarray], float]:
    """Positive-sequence bus voltages (p.u. of the bus base) and total losses (kW) of OpenDSS's own solution."""
    ctx = opendssdirect.dss.NewContext()
    ctx.Text.Command(f'redirect "{path}"')
    v = {}
    for b in ctx.Circuit.AllBusNames():
        ctx.Circuit.SetActiveBus(b)
        seq = ctx.Bus.CplxSeqVoltages()
        v[b] = complex(seq[2], seq[3]) / (ctx.Bus.kVBase() * 1000.0)
    loss = ctx.Circuit.Losses()[0] / 1000.0
    ctx.Basic.ClearAll()
    return v, loss


def test_line_geometry_with_wire_data(tmp_path):
    """Kersting's overhead line (configuration 500: 336,400 26/7 ACSR phases, 4/0 6/1 ACSR neutral), from
    a LineGeometry with WireData; the engine computes the line constants."""
    path = script(tmp_path, GEOMETRY)
    net = read_opendss(path)
    ln = net.line.set_index("name")
    # Kersting, Distribution System Modeling and Analysis, example 4.1 (modified Carson): z1 = 0.3061 + j0.6270
    # ohm/mi; OpenDSS uses Carson's full series and a 100 ohm-m earth, hence the 2 % on r.
    assert ln.loc["ohl", "r_ohm"] == pytest.approx(0.3061, rel=0.02)
    assert ln.loc["ohl", "x_ohm"] == pytest.approx(0.6270, rel=0.005)
    # example 5.1: y_abc = j[5.6711 -1.8362 -0.7033; 5.9774 -1.1690; 5.3911] uS/mi, so b1 = 6.9161 uS/mi
    assert ln.loc["ohl", "b_us"] == pytest.approx(6.9161, rel=0.005)
    # the same line in kft (5.28 kft = 1 mi)
    assert ln.loc["ohl2", ["r_ohm", "x_ohm", "b_us"]].tolist() == pytest.approx(
        ln.loc["ohl", ["r_ohm", "x_ohm", "b_us"]].tolist(), rel=1e-12)
    # balanced load: the positive-sequence power flow matches OpenDSS's (untransposed: phases within 0.4 %)
    v, loss = engine_solution(path)
    res = run_newton(net)
    assert res.converged
    for bus in ("b", "c"):
        assert res.res_bus.vm_pu[bus] == pytest.approx(abs(v[bus]), abs=1e-4)
    assert res.p_loss_mw * 1000 == pytest.approx(loss, rel=1e-3)


THREE_WINDINGS = """
Clear
New Circuit.t3 basekv=115 bus1=hv pu=1.0 MVAsc3=20000 MVAsc1=21000
New Transformer.sub phases=3 windings=3 buses=[hv mv lv] conns=[wye wye delta] kVs=[115 12.47 4.16]
~ kVAs=[20000 20000 10000] XHL=8 XHT=12 XLT=5 %Rs=[0.3 0.3 0.5] %noloadloss=0.1 %imag=0.5 Taps=[1 1.025 0.9875]
New Line.m bus1=mv bus2=mv2 r1=0.1 x1=0.3 length=1 units=km
New Load.m bus1=mv2 kW=6000 kvar=2000 kV=12.47
New Load.l bus1=lv kW=4000 kvar=1500 kV=4.16
Set VoltageBases=[115 12.47 4.16]
CalcVoltageBases
Solve
"""


def test_three_winding_transformer(tmp_path):
    path = script(tmp_path, THREE_WINDINGS)
    net = read_opendss(path)
    tr = net.trafo.set_index("name")
    assert list(tr.index) == ["sub.1", "sub.2", "sub.3"]
    assert (tr.to_bus == "sub.star").all() and list(tr.from_bus) == ["hv", "mv", "lv"]
    assert net.bus.at["sub.star", "vn_kv"] == 115.0 and (tr.sn_mva == 20.0).all()  # winding 1's rating
    # star: x1 + x2 = XHL, x1 + x3 = XHT, x2 + x3 = XLT (p.u. on winding 1's kVA)
    assert tr.x_pu.tolist() == pytest.approx([0.075, 0.005, 0.045])
    assert tr.r_pu.tolist() == pytest.approx([0.003, 0.003, 0.005])
    assert tr.tap_pu.tolist() == pytest.approx([1.0, 1.025, 0.9875])
    assert (tr.g_pu.tolist(), tr.b_pu.tolist()) == ([0.001, 0.0, 0.0], [-0.005, 0.0, 0.0])
    assert (tr.shift_deg == 0).all() and any("sub.3" in n and "phase shifts" in n for n in net.notes)
    validate(net)
    # balanced: OpenDSS's three-phase solution and the star agree (source voltage as OpenDSS's)
    v, loss = engine_solution(path)
    net.ext_grid.loc[:, "vm_pu"] = abs(v["hv"])
    res = run_newton(net)
    assert res.converged
    for bus in ("mv", "mv2", "lv"):
        assert res.res_bus.vm_pu[bus] == pytest.approx(abs(v[bus]), abs=5e-4)
    assert res.p_loss_mw * 1000 == pytest.approx(loss, rel=0.01)


# ----------------------------------------------------------------- errors
BASE = """
Clear
New Circuit.t basekv=4.16 bus1=src pu=1.0
New Linecode.lc nphases=3 r1=0.1 x1=0.2 c1=3 units=kft
New Line.a bus1=src bus2=b linecode=lc length=1 units=kft
"""


@pytest.mark.parametrize(
    "extra, element, words",
    [
        ("New Line.x bus1=b bus2=c linecode=nope length=1", "Line.x", 'LineCode object "nope" not found'),
        ("New Line.x bus1=b bus2=c linecode=lc length=(1 2 foo)", "Line.x", "Invalid inline math"),
        ("New Line.x bus1=b bus2=c geometry=g1", "Line.x", 'LineGeometry object "g1" not found'),
        ("New Line.x bus1=b bus2=c linecode=lc furlongs=3", "Line.x", 'Unknown parameter "furlongs"'),
        ("New Foo.x bus1=b", "Foo.x", 'Object Type "Foo" not found'),
        ("Set loadmult=1.2 foo=3", "Set", 'Unknown parameter "foo"'),
    ],
)
def test_engine_errors_name_file_line_and_element(tmp_path, extra, element, words):
    path = script(tmp_path, BASE + extra)
    with pytest.raises(FileFormatError) as exc:
        read_opendss(path)
    msg = str(exc.value)
    assert f"{path}:5: " in msg, msg  # the extra line is line 5 of the script
    assert element.lower() in msg.lower() and words in msg, msg


@pytest.mark.parametrize(
    "extra, element, words",
    [
        ("New Line.x bus1=q1 bus2=q2 linecode=lc length=1", "Line.x",
         "bus 'q1' is not connected to the circuit's source"),
        ("New Line.x bus1=b bus2=b linecode=lc", "Line.x", "bus1 and bus2 are the same bus 'b'"),
        ("New Line.x bus1=b bus2=c rmatrix=[0|0 0|0 0 0] xmatrix=[0|0 0|0 0 0]", "Line.x", "zero impedance"),
        ("New Linecode.n4 nphases=4 r1=0.1 x1=0.2 kron=n\\nNew Line.x bus1=b.1.2.3.4 bus2=c.1.2.3.4 linecode=n4",
         "Line.x", "4 conductors"),
        ("Open Line.a 2 1", "Line.a", "some but not all conductors of a terminal are open"),
        ("New PVSystem.pv bus1=b kVA=10", "PVSystem.pv", "cannot be reduced"),
        ("New Vsource.two bus1=b basekv=4.16", "Vsource.two", "cannot be reduced"),
        ("New Transformer.t4 windings=4 buses=[b c d e] kVs=[4.16 4.16 4.16 4.16]", "Transformer.t4", "4 windings"),
        ("New Capacitor.s bus1=b bus2=src kvar=100", "Capacitor.s", "series capacitors cannot be reduced"),
        ("New Capacitor.u bus1=b bus2=b.4.4.4 kvar=100", "Capacitor.u", "ungrounded wye"),
        ("New Transformer.dy phases=3 buses=[b c] conns=[delta wye] kVs=[4.16 0.48] kVAs=[500 500]\\n"
         "New Transformer.yy phases=3 buses=[b c] conns=[wye wye] kVs=[4.16 0.48] kVAs=[500 500]",
         "Transformer.dy", "phase shift lies on a loop"),
    ],
)
def test_reduction_errors_name_file_and_element(tmp_path, extra, element, words):
    path = script(tmp_path, BASE + extra.replace("\\n", "\n"))
    with pytest.raises(FileFormatError) as exc:
        read_opendss(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: {element}: "), msg
    assert words in msg, msg


def test_error_in_redirected_file_names_that_file(tmp_path):
    (tmp_path / "sub").mkdir()
    inner = script(tmp_path / "sub", "New Line.bad bus1=src bus2=b linecode=nope length=1", "lines.dss")
    outer = script(tmp_path, BASE + "redirect sub/lines.dss")
    with pytest.raises(FileFormatError, match=re.escape(f"{inner}:1: Line.bad")):
        read_opendss(outer)
    with pytest.raises(FileFormatError, match=re.escape(f"{tmp_path / 'case.dss'}:5: ") + ".*not found"):
        read_opendss(script(tmp_path, BASE + "redirect missing.dss"))
    with pytest.raises(FileFormatError, match="file not found"):
        read_opendss(tmp_path / "nowhere.dss")
    with pytest.raises(FileFormatError, match="no 'New Circuit'"):
        read_opendss(script(tmp_path, "Set DefaultBaseFrequency=50", "empty.dss"))


def test_base_script_reads(tmp_path):
    net = read_opendss(script(tmp_path, BASE + "New Load.l bus1=b kW=10 kvar=5\nSet loadmult=1.2"))
    assert list(net.bus.index) == ["src", "b"] and net.line.r_ohm.iloc[0] == pytest.approx(0.1)
    assert net.line.b_us.iloc[0] == pytest.approx(2 * math.pi * 60 * 3 * 1e-3)
    assert net.load.p_mw.iloc[0] == pytest.approx(0.012) and any("load multiplier 1.2" in n for n in net.notes)


def test_meters_and_controls_of_read_states_are_noted(tmp_path):
    net = read_opendss(script(tmp_path, BASE + """
New Capacitor.c bus1=b kvar=300 kV=4.16 numsteps=3
New CapControl.cc capacitor=c element=Line.a type=voltage ON=120 OFF=125 PTratio=20
New EnergyMeter.m element=Line.a
New Load.l bus1=b kW=100
Capacitor.c.states=[1 1 0]
"""))
    sh = net.shunt.iloc[0]
    assert (sh.bs_mvar, sh.step, sh.max_step) == (pytest.approx(0.1), 2, 3)  # the steps the engine holds
    assert any(n.startswith("Not converted: CapControl.cc, EnergyMeter.m") for n in net.notes)
