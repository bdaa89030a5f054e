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


@pytest.fixture(scope="session")
def stvs_flex():
    """The seed-001 system with Table 3's resources (tests copy it before changing anything)."""
    from tdcoord.cases.stvs_flex import stvs_flex_system

    return stvs_flex_system()
