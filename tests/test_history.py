"""The crash and failure history under .gt/: unreadable files are set aside, never fatal."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reconciler.clients import history


def test_an_unreadable_history_is_set_aside_by_its_writer_and_only_read_around_by_others(tmp_path: Path) -> None:
    failures = tmp_path / ".gt/failures.json"
    failures.parent.mkdir()
    failures.write_text('{"not": "a list", "times": [1e999')
    assert history.load_failures(tmp_path) == ()  # a reader (gt diff, gt status) changes nothing
    assert failures.exists() and not failures.with_name("failures.json.corrupt").exists()

    history.record_failure(tmp_path, "demo", "nux", "dm-a", "spawn", "fp", "boom", 100.0)
    assert failures.with_name("failures.json.corrupt").read_text() == '{"not": "a list", "times": [1e999'
    assert [(r.issue, r.times) for r in history.load_failures(tmp_path)] == [("dm-a", (100.0,))]


def test_absurd_entries_are_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    crashes = tmp_path / ".gt/crashes.json"
    crashes.parent.mkdir()
    good = {"rig": "demo", "worker": "nux", "issue": "dm-a", "fingerprint": "f", "times": [5.0]}
    crashes.write_text(json.dumps([good, {"rig": "demo", "times": ["inf"]}, 7, "junk",
                                   {**good, "worker": "slit", "times": [float("inf")]}]))
    assert [(c.worker, c.times) for c in history.load(tmp_path)] == [("nux", (5.0,))]


def test_a_holder_whose_state_directory_is_replaced_takes_the_new_one_or_gives_way(tmp_path: Path) -> None:
    import shutil

    import pytest

    from reconciler.clients.lock import LockHeld, TownLock, holder_alive

    (tmp_path / "manifests").mkdir()
    first = TownLock(tmp_path, "controller").acquire()
    try:
        shutil.rmtree(tmp_path / ".gt")  # git clean -fdx while the controller runs
        first.refresh()  # it locks the .gt/ that is there now
        with pytest.raises(LockHeld):
            TownLock(tmp_path, "gt apply").acquire()
        assert holder_alive(tmp_path) == os.getpid()

        shutil.rmtree(tmp_path / ".gt")
        second = TownLock(tmp_path, "gt apply").acquire()  # another writer got the new one first
        try:
            with pytest.raises(LockHeld):
                first.refresh()  # so the first gives way: never two writers
        finally:
            second.release()
    finally:
        first.release()
