"""MATPOWER reader."""

from __future__ import annotations

import pytest

from tdcoord.errors import FileFormatError
from tdcoord.io.matpower import parse_matpower, read_matpower
from tdcoord.cases.standard import data_path

CASE3 = """function mpc = case3
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
 1 3 0 0 0 0 1 1 0 230 1 1.1 0.9;
 2 1 50 10 0 5 1 1 0 230 1 1.1 0.9;
 3 2 40 5 0 0 1 1 0 115 1 1.1 0.9;
];
mpc.gen = [
 1 0 0 100 -100 1.02 100 1 200 0 0 0 0 0 0 0 0 0 0 0 0;
 3 30 0 50 -50 1.01 100 1 80 0 0 0 0 0 0 0 0 0 0 0 0;
];
mpc.branch = [
 1 2 0.01 0.1 0.02 250 0 0 0 0 1 -360 360;
 2 3 0.0 0.05 0 0 0 0 0.98 2 1 -30 30;
 1 3 0.02 0.2 0.0 0 0 0 0 0 0 -360 360;
];
mpc.gencost = [
 2 0 0 3 0.1 20 5;
 2 0 0 2 30 0;
];
"""


def test_reads_all_parts(tmp_path):
    p = tmp_path / "case3.m"
    p.write_text(CASE3)
    n = read_matpower(p)
    assert list(n.bus.index) == ["1", "2", "3"]
    assert len(n.line) == 1 and len(n.trafo) == 2  # 2-3 has a ratio, 1-3 joins 230 and 115 kV
    assert n.line.r_ohm.iloc[0] == pytest.approx(0.01 * 230**2 / 100)
    assert n.line.rate_mva.iloc[0] == 250
    t = n.trafo.set_index("name")
    assert t.loc["branch 2", "tap_pu"] == 0.98 and t.loc["branch 2", "shift_deg"] == 2
    assert t.loc["branch 3", "tap_pu"] == 1.0 and not t.loc["branch 3", "in_service"]
    assert n.gen.slack.tolist() == [True, False]
    assert n.gen.cost_c2.tolist() == [0.1, 0.0] and n.gen.cost_c1.tolist() == [20, 30]
    assert n.shunt.bs_mvar.tolist() == [5.0]
    assert n.load.p_mw.tolist() == [50.0, 40.0]


def test_refuses_embedded_code():
    # MATPOWER's own case33bw.m ends with MATLAB code that converts its ohms and kW; what it does is not known here
    text = data_path("case33bw.m").read_text() + (
        "\nVbase = mpc.bus(1, BASE_KV) * 1e3;\nmpc.branch(:, [BR_R BR_X]) = mpc.branch(:, [BR_R BR_X]) / (Vbase^2 / 1e7);\n")
    with pytest.raises(FileFormatError, match="MATLAB code"):
        parse_matpower(text, source="case33bw.m")
    assert parse_matpower(data_path("case33bw.m").read_text(), source="case33bw.m")["bus"].shape == (33, 13)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda s: s.replace("mpc.gen = [", "mpc.gen2 = ["), "mpc.gen is missing"),
        (lambda s: s.replace(" 2 0 0 3 0.1 20 5;", " 1 0 0 2 0 0 100 2000;"), "piecewise-linear"),
        (lambda s: s.replace("1 2 0.01 0.1 0.02 250", "1 2 0.01 abc 0.02 250"), "cannot read row"),
    ],
)
def test_format_errors(tmp_path, edit, words):
    p = tmp_path / "bad.m"
    p.write_text(edit(CASE3))
    with pytest.raises(FileFormatError, match=words):
        read_matpower(p)


def test_missing_file():
    with pytest.raises(FileFormatError, match="cannot be read"):
        read_matpower("/nonexistent/case.m")
