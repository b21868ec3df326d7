"""Which programs run inside each pane: the pane's process and all its descendants.

One scan of the process table for the whole town, through psutil, so it works on
Linux and macOS alike. Names are the process name plus the base names of argv[0]
and argv[1], so a script run by an interpreter is known by its own name too
(python3 /usr/bin/gt-demo-agent -> python3, gt-demo-agent). When the table
cannot be read, nothing is known and nothing is concluded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable


def _table() -> tuple[dict[int, list[int]], dict[int, set[str]]] | None:
    """Children of each pid, and the names of each process; None when the table is unreadable."""
    import psutil

    children: dict[int, list[int]] = {}
    names: dict[int, set[str]] = {}
    try:
        for proc in psutil.process_iter(["pid", "ppid", "name", "cmdline"]):
            info = proc.info
            found = {info.get("name") or ""}
            found.update(os.path.basename(a) for a in (info.get("cmdline") or [])[:2] if a)
            found.discard("")
            names[info["pid"]] = found
            children.setdefault(info.get("ppid") or 0, []).append(info["pid"])
    except psutil.Error:
        return None
    return children, names


def process_names(pane_pids: Iterable[int]) -> dict[int, tuple[str, ...]] | None:
    """For each pane pid: the names of it and every descendant; None when they cannot be read."""
    pids = [p for p in pane_pids if p > 0]
    if not pids:
        return {}
    table = _table()
    if table is None:
        return None
    children, names = table
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
            seen |= names.get(pid, set())
            stack.extend(children.get(pid, ()))
        result[root] = tuple(sorted(seen))
    return result


def program_output(argv: list[str]) -> str | None:
    """What a program prints (stdout, stripped); None when it is not installed."""
    if shutil.which(argv[0]) is None:
        return None
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
