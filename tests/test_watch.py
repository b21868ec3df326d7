"""The controller's watcher: store changes are noticed, and its threads do not grow with rigs."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from reconciler.loop.watch import TownWatcher
from tests.conftest import wait_for


def _town(root: Path, stores: int) -> list[Path]:
    (root / "manifests").mkdir(parents=True)
    dirs = []
    for n in range(stores):
        beads = root / "rigs" / f"r{n}" / ".beads"
        beads.mkdir(parents=True)
        (beads / "issues.jsonl").write_text("")
        dirs.append(beads)
    return dirs


def test_a_write_to_any_watched_store_asks_for_a_pass(tmp_path: Path) -> None:
    dirs = _town(tmp_path, 3)
    changes: list[int] = []
    watcher = TownWatcher(tmp_path, lambda: changes.append(1))
    try:
        watcher.watch_also(dirs)
        replacement = dirs[2] / ".issues.jsonl.tmp"
        replacement.write_text('{"id": "r2-1"}\n')
        changes.clear()
        os.replace(replacement, dirs[2] / "issues.jsonl")  # how a store is written: an atomic rename
        wait_for(lambda: changes, timeout=5)
        watcher.watch_also(dirs[:1])  # a rig removed from the manifests is no longer watched
        changes.clear()
        (dirs[2] / "issues.jsonl").write_text('{"id": "r2-2"}\n')
        (dirs[0] / "issues.jsonl").write_text('{"id": "r0-1"}\n')
        wait_for(lambda: changes, timeout=5)
    finally:
        watcher.stop()


def test_the_watcher_threads_are_the_same_for_one_rig_and_for_forty(tmp_path: Path) -> None:
    dirs = _town(tmp_path, 40)
    before = threading.active_count()
    watcher = TownWatcher(tmp_path, lambda: None)
    try:
        watcher.watch_also(dirs[:1])
        one = threading.active_count()
        watcher.watch_also(dirs)
        assert threading.active_count() == one > before
    finally:
        watcher.stop()
