"""Replace a file so that a crash at any moment leaves the old content or the new, never half."""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

from reconciler.errors import LinkRefused

TEMP_SUFFIX = ".tmp"
# What this process last wrote to each path (mtime, size, inode): a watcher of the same
# process can tell its own writes from everyone else's.
_own_writes: dict[str, tuple[int, int, int]] = {}


def written_here(path: str, mtime_ns: int, size: int, inode: int) -> bool:
    """Whether ``path`` is, to the stat, the file this process last wrote there."""
    return _own_writes.get(os.path.normpath(path)) == (mtime_ns, size, inode)


def is_temp(name: str) -> bool:
    """A temp file of ``write_atomic``: it exists only while a write is under way."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_links(path: Path, parents: int = 1) -> None:
    """Raise ``LinkRefused`` if ``path`` or any of its ``parents`` nearest directories is a
    symbolic link (a committed `.gt/status.json -> /etc/...` must never be written through)."""
    for candidate in [path, *list(path.parents)[:parents]]:
        if candidate.is_symlink():
            raise LinkRefused(str(candidate), os.readlink(candidate))


def open_no_follow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` or in its directory."""
    refuse_links(path)
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if path.is_symlink():  # made between the check and the open
            raise LinkRefused(str(path), os.readlink(path)) from exc
        raise


def set_aside(path: Path, why: str) -> Path | None:
    """Move a file gt cannot read out of the way (``NAME.corrupt``), so it is kept for a look
    and the next write starts afresh; warn naming both. None when it could not be moved."""
    import logging

    kept = path.with_name(path.name + ".corrupt")
    try:
        refuse_links(path)
        os.replace(path, kept)
    except (OSError, LinkRefused) as exc:
        logging.getLogger(__name__).warning("%s is unreadable (%s) and could not be set aside: %s", path, why, exc)
        return None
    logging.getLogger(__name__).warning("%s was unreadable (%s); set aside as %s", path, why, kept.name)
    return kept


def read_json_list(path: Path, *, repair: bool) -> list[Any]:
    """A JSON list gt keeps under ``.gt/``; a missing or unreadable file counts as empty, and with
    ``repair`` (the writer, about to write it again) an unreadable one is set aside first."""
    import json

    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        if repair:
            set_aside(path, str(exc))
        return []
    if not isinstance(raw, list):
        if repair:
            set_aside(path, "not a JSON list")
        return []
    return raw


def write_atomic(path: Path, data: bytes | str) -> None:
    """Temp file in the same directory, fsync, rename over ``path``, fsync the directory.

    The file keeps its mode; a failed write leaves no temp file behind. A symbolic link
    at ``path`` or as its directory is refused, not replaced or followed.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    refuse_links(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        st = os.stat(path)
        _own_writes[os.path.normpath(path)] = (st.st_mtime_ns, st.st_size, st.st_ino)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
