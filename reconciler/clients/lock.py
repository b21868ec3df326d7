"""The town's one-writer lock: the controller holds it for its life, gt apply for its run.

An flock on the town's state directory (.gt/), so a holder that dies (even by
kill -9) releases it at once and the next taker simply gets it, and deleting or
replacing a file cannot break it: `.gt/town.lock` only says who holds it, for
messages, and the holder writes it again when it is gone. A taker checks, once
it holds the lock, that `.gt/` is still the directory it locked, and tries again
if it was replaced meanwhile.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from reconciler.clients.files import write_atomic
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


def _open_dir(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


class TownLock:
    def __init__(self, root: Path, purpose: str) -> None:
        self.root, self.purpose = root, purpose
        self.path = lock_path(root)
        self._fd: int | None = None
        self._since = 0.0

    def acquire(self, wait: float = 0.0) -> TownLock:
        state = self.path.parent
        deadline = time.monotonic() + wait
        while True:
            state.mkdir(parents=True, exist_ok=True)
            fd = _open_dir(state)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    holder = read_holder(self.root)
                    pid = holder.get("pid")
                    raise LockHeld(pid if isinstance(pid, int) else None,
                                   str(holder.get("purpose", "")), self.path) from None
                time.sleep(0.05)
                continue
            try:
                same = os.fstat(fd).st_ino == os.stat(state).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # .gt/ was replaced after we opened it: lock the one that is there now
        self._fd, self._since = fd, time.time()
        self.refresh()
        return self

    def refresh(self) -> None:
        """Hold the lock on the ``.gt/`` that is there now (it may have been deleted and made again),
        or raise ``LockHeld`` when another writer took that one; then write who holds it if the file
        is gone or says someone else."""
        if self._fd is None:
            return
        state = self.path.parent
        try:
            same = os.fstat(self._fd).st_ino == os.stat(state).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(self._fd)
            self._fd = None
            self.acquire()  # LockHeld if a second writer got the new directory first
            return
        holder = read_holder(self.root)
        if holder.get("pid") != os.getpid() or holder.get("purpose") != self.purpose:
            write_atomic(self.path, json.dumps({"pid": os.getpid(), "purpose": self.purpose, "since": self._since}))

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> TownLock:  # noqa: PYI034
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _flock_holders(path: Path) -> set[int] | None:
    """The pids holding an flock on ``path`` (Linux's /proc/locks); None where that cannot be read."""
    try:
        st = os.stat(path)
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    holders = set()
    for line in table.splitlines():
        fields = line.split()  # the device is left out: btrfs shows another one than stat gives
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(st.st_ino) \
                and fields[4].isdigit():
            holders.add(int(fields[4]))
    return holders or None


def _runs_gt(pid: int) -> bool:
    """Where /proc/locks is not there: believe a pid only if it is a gt process."""
    import psutil

    try:
        argv = psutil.Process(pid).cmdline()
    except (psutil.Error, ValueError):
        return False
    return any(os.path.basename(a) == "gt" or a.startswith("reconciler") for a in argv[:4])


def _believed(root: Path, pid: int) -> bool:
    """A lock file naming a process that does not hold the lock is not believed (nor signalled)."""
    holders = _flock_holders(lock_path(root).parent)
    return pid in holders if holders is not None else _runs_gt(pid)


def holder_alive(root: Path) -> int | None:
    """The pid holding the town lock now, None when nobody does, -1 when the holder is unknown."""
    state = lock_path(root).parent
    try:
        fd = _open_dir(state)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = read_holder(root).get("pid")
            return pid if isinstance(pid, int) and _believed(root, pid) else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return None
