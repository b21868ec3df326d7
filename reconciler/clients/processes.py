"""Which programs run inside each pane: the pane's process and all its descendants.

One scan of /proc for the whole town. Names are the kernel's comm plus the base
names of argv[0] and argv[1], so a script run by an interpreter is known by its
own name too (python3 /usr/bin/gt-demo-agent -> python3, gt-demo-agent).
Where /proc does not exist, nothing is known and nothing is concluded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

PROC = "/proc"


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        stat = _read(f"{PROC}/{entry}/stat")
        # The comm field may hold spaces and parentheses: the ppid follows the last ')'.
        rest = stat.rsplit(")", 1)[-1].split()
        if len(rest) >= 2:
            children.setdefault(int(rest[1]), []).append(int(entry))
    return children


def _names(pid: int) -> set[str]:
    names = {_read(f"{PROC}/{pid}/comm").strip()}
    argv = _read(f"{PROC}/{pid}/cmdline").split("\0")
    names.update(os.path.basename(a) for a in argv[:2] if a)
    names.discard("")
    return names


def process_names(pane_pids: Iterable[int]) -> dict[int, tuple[str, ...]] | None:
    """For each pane pid: the names of it and every descendant; None without /proc."""
    pids = [p for p in pane_pids if p > 0]
    if not os.path.isdir(PROC):
        return None
    children = _parents() if pids else {}
    result: dict[int, tuple[str, ...]] = {}
    for root in pids:
        seen: set[str] = set()
        stack = [root]
        visited: set[int] = set()
        while stack:
            pid = stack.pop()
            if pid in visited:
                continue
            visited.add(pid)
            seen |= _names(pid)
            stack.extend(children.get(pid, ()))
        result[root] = tuple(sorted(seen))
    return result
