"""The controller's watcher: store changes are noticed, and its threads do not grow with rigs."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from reconciler.loop.watch import TownWatcher, signature
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


def test_the_controllers_own_store_writes_wake_nobody_but_anyone_elses_do(tmp_path: Path) -> None:
    from reconciler.clients.beads.embedded import JsonlStore

    dirs = _town(tmp_path, 1)
    changes: list[int] = []
    watcher = TownWatcher(tmp_path, lambda: changes.append(1))
    try:
        watcher.watch_also(dirs)
        ours = JsonlStore(dirs[0] / "issues.jsonl", "r0")
        for n in range(5):
            ours.create(f"Task {n}")
            now = signature(str(dirs[0]))
            wait_for(lambda n=now: watcher.stores._seen[str(dirs[0])] == n, timeout=5)  # looked at it since
        assert changes == []
        with (dirs[0] / "issues.jsonl").open("a") as other:  # an agent's gt done, another process
            other.write('{"id": "r0-x", "title": "theirs"}\n')
        wait_for(lambda: changes, timeout=5)
    finally:
        watcher.stop()
