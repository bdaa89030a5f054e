"""Shared fixtures of the STVS study tests: ONE generated dataset for the whole session.

test_stvs_dataset.py checks the dataset itself; test_stvs_surrogate.py trains and judges the CNN surrogate on it.
ANDES is imported only where the dataset is simulated (collecting needs none), and nothing here skips: without
ANDES the fixture fails, and so do the tests that use it.
"""

from __future__ import annotations

import pytest

from tdcoord.studies.stvs_dataset import DatasetSettings

# test_stvs_dataset.py draws its samples from the same settings (its own SETTINGS; test_dataset_matches_its_samples
# and test_dataset_run_summary fail if the two part ways)
KEY = ("14", "13", "12", "10")
SETTINGS = DatasetSettings(samples=48, chunk_size=8, seed=5, key_nodes=KEY)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """(folder, DatasetRun, load_dataset(folder)) of 48 samples simulated on 2 worker processes (~40-70 s)."""
    from tdcoord.execution import make_executor
    from tdcoord.studies.stvs_dataset import generate_dataset, load_dataset

    out = tmp_path_factory.mktemp("stvs") / "ds"
    run = generate_dataset(out, SETTINGS, executor=make_executor("process", 2), workers=2)
    return out, run, load_dataset(out)
