"""Power flow against pandapower's runpp: voltages within 1e-6 p.u., losses within 1e-6 MW.

Two routes, so that both our data conversion and our solver are checked:

- independent: pandapower converts the same raw MATPOWER arrays itself
  (``from_ppc``) or uses its own copy of the case (``case33bw``);
- exported: our Network (or the merged coupled system) written to pandapower
  with ``to_pandapower`` and solved there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytestmark = pytest.mark.crossval
pp = pytest.importorskip("pandapower")

from tdcoord.cases import load_case  # noqa: E402
from tdcoord.cases.standard import data_path  # noqa: E402
from tdcoord.io.matpower import parse_matpower  # noqa: E402
from tdcoord.io.pandapower_io import to_pandapower  # noqa: E402
from tdcoord.network.coupled import CoupledSystem  # noqa: E402
from tdcoord.pf.ac import run_newton  # noqa: E402
from tdcoord.pf.integrated import run_coupled  # noqa: E402

V_TOL = 1e-6
LOSS_TOL_MW = 1e-6


def runpp(net) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, trafo_model="pi", tolerance_mva=1e-10, calculate_voltage_angles=True, init="flat", numba=False)


def pp_loss(net) -> float:
    """Losses of every branch-like element pandapower may have created."""
    total = 0.0
    for table in ("res_line", "res_trafo", "res_impedance", "res_trafo3w"):
        if table in net and len(net[table]):
            total += float(net[table].pl_mw.sum())
    return total


def compare(ours, net, labels) -> tuple[float, float, float]:
    vm = ours.res_bus.vm_pu.reindex(labels).to_numpy()
    va = ours.res_bus.va_degree.reindex(labels).to_numpy()
    dv = float(np.max(np.abs(vm - net.res_bus.vm_pu.to_numpy())))
    da = float(np.max(np.abs(np.deg2rad(va - net.res_bus.va_degree.to_numpy()))))
    dl = abs(ours.p_loss_mw - pp_loss(net))
    return dv, da, dl


@pytest.mark.parametrize("name, file", [("ieee9", "case9.m"), ("ieee14", "case14.m"), ("ieee30", "case_ieee30.m"), ("ieee118", "case118.m")])
def test_independent_matpower_conversion(name, file):
    from pandapower.converter.pypower import from_ppc

    ours_net = load_case(name)
    data = parse_matpower(data_path(file).read_text())
    ppc = {k: data[k] for k in ("baseMVA", "bus", "gen", "branch")}
    ppc["version"] = "2"
    ppc["bus"] = ppc["bus"].copy()
    ppc["bus"][:, 9] = ours_net.bus.vn_kv.reindex([str(int(b)) for b in ppc["bus"][:, 0]]).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = from_ppc(ppc, f_hz=60, validate_conversion=False)
    runpp(net)
    labels = [str(int(b)) for b in ppc["bus"][:, 0]]
    ours = run_newton(ours_net)
    dv, da, dl = compare(ours, net, labels)
    assert dv < V_TOL and da < V_TOL and dl < LOSS_TOL_MW, (dv, da, dl)


def test_independent_case33bw():
    import pandapower.networks as pn

    net = pn.case33bw()
    runpp(net)
    ours = run_newton(load_case("ieee33"))
    labels = [str(i + 1) for i in net.bus.index]
    dv, da, dl = compare(ours, net, labels)
    assert dv < V_TOL and da < V_TOL and dl < LOSS_TOL_MW, (dv, da, dl)


@pytest.mark.parametrize(
    "spec",
    ["ieee9", "ieee14", "ieee30", "ieee33", "ieee118", "pegase1354", "ieee13", "ieee123",
     "ieee30+ieee33@6", "ieee14+ieee13@13+ieee13@14", "ieee9+ieee13@5+ieee123@7", "ieee30+5xieee33"],
)
def test_exported_network(spec):
    system = load_case(spec)
    net = to_pandapower(system)
    runpp(net)
    ours = run_coupled(system) if isinstance(system, CoupledSystem) else run_newton(system)
    dv, da, dl = compare(ours, net, list(net.bus.name))
    assert dv < V_TOL and da < V_TOL and dl < LOSS_TOL_MW, (dv, da, dl)
    if isinstance(system, CoupledSystem):
        split = run_coupled(system, "split")
        dv2, da2, dl2 = compare(split, net, list(net.bus.name))
        assert dv2 < V_TOL and da2 < V_TOL and dl2 < LOSS_TOL_MW, (dv2, da2, dl2)
