"""The output folder's bookkeeping: a run's lock and manifest are never taken for its outputs."""

import json

from tdcoord.results.output import LOCK, MANIFEST, OutputFolder


def test_lock_is_not_an_output_and_survives_the_next_run(tmp_path):
    with OutputFolder(tmp_path) as of:
        (tmp_path / "a.csv").write_text("1")
        of.record(sorted(p for p in tmp_path.iterdir() if p.is_file()))  # the lock is in the folder now
    assert json.loads((tmp_path / MANIFEST).read_text()) == ["a.csv"]
    with OutputFolder(tmp_path):
        assert (tmp_path / LOCK).exists()  # the second run holds its lock
        assert not (tmp_path / "a.csv").exists()  # and the first run's output is gone


def test_an_old_manifest_that_lists_the_lock_does_not_remove_it(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps([LOCK, "b.csv"]))
    (tmp_path / "b.csv").write_text("1")
    with OutputFolder(tmp_path):
        assert (tmp_path / LOCK).exists()
        assert not (tmp_path / "b.csv").exists()
