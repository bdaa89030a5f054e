"""Entropy weight method on a hand-computed decision matrix."""

from __future__ import annotations

import numpy as np
import pytest

from tdcoord.problems.weights import entropy_of


def test_entropy_of_hand_computed():
    # criterion 1 spreads (costs 0, 1, 2 -> p = 2/3, 1/3, 0), criterion 2 is constant (no information)
    matrix = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0]])
    e, w, rng = entropy_of(matrix)
    expected = -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)) / np.log(3)
    assert e[0] == pytest.approx(expected, rel=1e-12)
    assert e[1] == pytest.approx(1.0)
    assert w.tolist() == pytest.approx([1.0, 0.0])
    assert rng.tolist() == [2.0, 0.0]


def test_entropy_of_needs_two_alternatives():
    with pytest.raises(ValueError, match="at least two alternatives"):
        entropy_of(np.array([[1.0, 2.0, 3.0]]))
