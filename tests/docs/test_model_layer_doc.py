"""The worked examples of docs/model-layer.md run, and give what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "model-layer.md"


def test_worked_examples(capsys):
    from tdcoord.devices import unregister_device
    from tdcoord.formulations import unregister_formulation

    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3  # formulation, device, problem
    scope: dict = {}
    try:
        for code in blocks:
            exec(compile(code, str(DOC), "exec"), scope)
        assert capsys.readouterr().out.strip() == "optimal CLARABEL 1032420 shed MWh: 145.5"
        net, profile = scope["net"], scope["profile"]
        by_hand = np.maximum(profile * net.load.p_mw.sum() - net.gen.p_max_mw.sum(), 0.0).sum()
        shed = scope["shed"].sum()
        assert shed == pytest.approx(by_hand, abs=1e-4)
        reference = scope["sol"].objective
        for kw in ({"formulation": "dc"}, {"backend": "nlp"}):
            other, _, _ = scope["solve_day"](net, **kw)
            assert other.ok and other.objective == pytest.approx(reference, rel=1e-6)
    finally:
        unregister_device("shedding")
        unregister_formulation("copperplate")
