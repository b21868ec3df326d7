"""Where a worker's programs are found: the PATH every worker gets, and lookups on it.

tmux looks a command up with its server's PATH, not the one given to the session,
and the server's PATH is that of whoever started it first. So gt never hands tmux
a bare program name: it looks the program up itself, on the PATH the worker will
have, and starts it by its absolute path. That PATH is gt's own bin directory
first (so `gt` and the shipped agents are found from an unactivated virtualenv),
then the PATH the Routing or the Rig sets for the worker, then gt's own PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from functools import cache


@cache
def gt_bin_dirs() -> tuple[str, ...]:
    """The directories holding the running gt's scripts (gt, gt-demo-agent)."""
    found = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    return tuple(d for i, d in enumerate(found) if d and d not in found[:i])


def worker_path(declared: str | None = None, caller: str | None = None) -> str:
    """The PATH a worker runs with: gt's bin directories, the declared PATH, the caller's."""
    if caller is None:
        caller = os.environ.get("PATH", os.defpath)
    parts: list[str] = []
    for entry in [*gt_bin_dirs(), *(declared or "").split(os.pathsep), *caller.split(os.pathsep)]:
        if entry and entry not in parts:
            parts.append(entry)
    return os.pathsep.join(parts)


def resolve(program: str, search: str, base: str = "") -> str | None:
    """The absolute path ``program`` runs from on PATH ``search``; None when it is not there.

    A program named with a '/' is a path, relative to ``base`` (the town root).

    The path is not resolved through symlinks: the kernel names a process after the
    file it was started by, and liveness checks look for that name.
    """
    if "/" in program:
        path = os.path.abspath(os.path.join(base, program))
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    found = shutil.which(program, path=search)
    return os.path.abspath(found) if found else None
