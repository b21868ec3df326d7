"""Watch what a pass depends on; any change asks for a (debounced) pass.

The manifests and the town's git refs (a commit, a checkout, a pull) are watched
with inotify (watchdog), and each rig's Beads directory is looked at five times a
second by one thread, so a worker's `gt done` is merged at once rather than at the
next interval. watchdog spends two threads on every watched directory; one poller
for every store keeps the controller's threads the same however many rigs it has,
for a few dozen stat calls a second.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reconciler.clients.files import is_temp, written_here
from reconciler.clients.git_tree import git_directories

POLL_EVERY = 0.2  # seconds between two looks at the stores


class TownWatcher:
    def __init__(self, root: Path, on_change: Callable[[], None]) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed", "closed_no_write"):
                    return  # opening and closing change nothing; writes arrive as their own events
                if event.is_directory and event.event_type == "modified":
                    return  # a directory's mtime follows its files, whose events we already get
                if str(event.src_path).endswith(".lock"):
                    return  # lock files are touched by every read of a store
                on_change()

        self.handler = Handler()
        self.observer: Any = Observer()
        self.observer.daemon = True
        self.observer.schedule(self.handler, str(root / "manifests"), recursive=True)
        # The repository's own directories, wherever they are: a town in a subdirectory of a larger
        # repository, or in a linked worktree (whose .git is a file), commits elsewhere.
        for git_dir in git_directories(root):
            if (git_dir / "refs").is_dir():
                self.observer.schedule(self.handler, str(git_dir / "refs"), recursive=True)
            self.observer.schedule(self.handler, str(git_dir), recursive=False)  # HEAD, packed-refs
        self.observer.start()
        self.stores = DirectoryPoller(on_change)
        self.stores.start()

    def watch_also(self, directories: Iterable[Path]) -> None:
        """Keep exactly these store directories watched (rig stores come and go with manifests)."""
        self.stores.watch(directories)

    def watch_pids(self, pids: Iterable[int]) -> None:
        """Ask for a pass when one of these processes ends (a pane's program, or the tmux server
        taking every pane with it): the change shows in seconds, not at the next interval."""
        self.stores.watch_pids(pids)

    def stop(self) -> None:
        self.stores.stop()
        self.observer.stop()
        self.observer.join(timeout=5)
        self.stores.join(timeout=5)


Signature = tuple[tuple[str, int, int, int], ...]


def signature(directory: str) -> Signature:
    """What changes when a file in ``directory`` is written, replaced, added or removed.

    Lock files (touched by every read of a store) and the temp files of a write under way
    are left out: the rename that ends a write is the change.
    """
    try:
        with os.scandir(directory) as entries:
            found = []
            for entry in entries:
                if entry.name.endswith(".lock") or is_temp(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                found.append((entry.name, st.st_mtime_ns, st.st_size, st.st_ino))
    except OSError:
        return ()
    return tuple(sorted(found))


def changed_by_others(directory: str, before: Signature, after: Signature) -> bool:
    """A change that this process did not make itself (the controller's own writes wake nobody)."""
    gone = {name for name, *_ in before} - {name for name, *_ in after}
    new = set(after) - set(before)
    return bool(gone) or any(not written_here(os.path.join(directory, name), mtime, size, inode)
                             for name, mtime, size, inode in new)


class DirectoryPoller(threading.Thread):
    """One thread looking at any number of directories; a change calls ``on_change``."""

    def __init__(self, on_change: Callable[[], None], every: float = POLL_EVERY) -> None:
        super().__init__(name="gt-store-poller", daemon=True)
        self.on_change, self.every = on_change, every
        self._seen: dict[str, Signature] = {}
        self._pids: set[int] = set()
        self._guard = threading.Lock()
        self._stopped = threading.Event()

    def watch(self, directories: Iterable[Path]) -> None:
        wanted = {str(d) for d in directories}
        with self._guard:
            self._seen = {d: self._seen[d] if d in self._seen else signature(d) for d in wanted}

    def watch_pids(self, pids: Iterable[int]) -> None:
        with self._guard:
            self._pids = {p for p in pids if p > 0}

    def _ended(self) -> bool:
        with self._guard:
            pids = list(self._pids)
        gone = set()
        for pid in pids:
            try:
                os.kill(pid, 0)  # no signal sent: only asks whether the process is there
            except ProcessLookupError:
                gone.add(pid)
            except PermissionError:
                pass
        if gone:
            with self._guard:
                self._pids -= gone
        return bool(gone)

    def run(self) -> None:
        while not self._stopped.wait(self.every):
            with self._guard:
                directories = list(self._seen)
            changed = self._ended()
            for directory in directories:
                now = signature(directory)
                with self._guard:
                    before = self._seen.get(directory)
                    if before is not None and before != now:
                        self._seen[directory] = now
                        changed = changed or changed_by_others(directory, before, now)
            if changed:
                self.on_change()

    def stop(self) -> None:
        self._stopped.set()
