"""Regenerate the built-in IEEE 13- and 123-node feeders (tdcoord JSON) from their OpenDSS scripts.

Usage::

    python scripts/convert_feeders.py FOLDER [--out DIR]

FOLDER holds ``ieee13/`` and ``ieee123/`` laid out as in electricdss-tst
(``IEEELineCodes.DSS`` one level up from each), e.g. ``tests/data/opendss``.
DIR defaults to the package's ``src/tdcoord/cases/data``. The conversion
rules and the published regulator taps are in :mod:`tdcoord.io.opendss`;
``tests/unit/test_opendss.py`` checks that the files equal what it makes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tdcoord.io.json_io import write_json
from tdcoord.io.opendss import IEEE_TEST_FEEDERS, ieee_test_feeder
from tdcoord.pf.ac import run_newton

PACKAGE_DATA = Path(__file__).resolve().parents[1] / "src" / "tdcoord" / "cases" / "data"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="folder with ieee13/ and ieee123/ (OpenDSS scripts)")
    ap.add_argument("--out", type=Path, default=PACKAGE_DATA, help="output folder (default: the package's cases/data)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in IEEE_TEST_FEEDERS:
        net = ieee_test_feeder(args.folder, name)
        target = args.out / f"{name}.json"
        write_json(net, target)
        res = run_newton(net)
        ext = res.extremes()
        print(
            f"{target}: {len(net.bus)} buses, {len(net.line)} lines, {len(net.trafo)} trafos, "
            f"load {net.load.p_mw.sum():.3f} MW / {net.load.q_mvar.sum():.3f} Mvar; Newton converged={res.converged} "
            f"in {res.iterations} it., V {ext['vm_min_pu']:.4f} ({ext['vm_min_bus']}) - {ext['vm_max_pu']:.4f} "
            f"({ext['vm_max_bus']}) p.u., losses {res.p_loss_mw * 1000:.1f} kW / {res.q_loss_mvar * 1000:.1f} kvar"
        )


if __name__ == "__main__":
    main()
