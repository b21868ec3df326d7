"""The town's one-writer lock: the controller holds it for its life, gt apply for its run.

An flock, so a holder that dies (even by kill -9) releases it at once and the
next taker simply gets it; the file's text only says who holds it, for messages.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO

from reconciler.errors import ReconcilerError
from reconciler.model.paths import TownPaths


class LockHeld(ReconcilerError):
    def __init__(self, pid: int | None, purpose: str, path: Path) -> None:
        self.pid, self.purpose = pid, purpose
        who = f"pid {pid}" if pid else "another process"
        hint = " (gt wake asks it for a pass; gt shutdown stops it)" if purpose == "controller" else ""
        super().__init__(f"the town is locked by {purpose or 'a writer'}, {who}{hint} [{path}]")


def lock_path(root: Path) -> Path:
    return Path(TownPaths(str(root)).lock)


def read_holder(root: Path) -> dict[str, object]:
    try:
        data = json.loads(lock_path(root).read_text() or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class TownLock:
    def __init__(self, root: Path, purpose: str) -> None:
        self.root, self.purpose = root, purpose
        self.path = lock_path(root)
        self._handle: IO[str] | None = None

    def acquire(self, wait: float = 0.0) -> TownLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's life
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = read_holder(self.root)
                    handle.close()
                    pid = holder.get("pid")
                    raise LockHeld(pid if isinstance(pid, int) else None,
                                   str(holder.get("purpose", "")), self.path) from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "purpose": self.purpose, "since": time.time()}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None

    def __enter__(self) -> TownLock:  # noqa: PYI034
        return self if self._handle is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder_alive(root: Path) -> int | None:
    """The pid holding the town lock now, or None when nobody does."""
    path = lock_path(root)
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = read_holder(root).get("pid")
            return pid if isinstance(pid, int) else -1
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None
