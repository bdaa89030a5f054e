"""Shared fixtures."""

from __future__ import annotations

import warnings

import pytest

warnings.filterwarnings("ignore", message=".*numba.*")


@pytest.fixture(scope="session")
def ieee30():
    from tdcoord.cases import load_case

    return load_case("ieee30")


@pytest.fixture(scope="session")
def ieee33():
    from tdcoord.cases import load_case

    return load_case("ieee33")
