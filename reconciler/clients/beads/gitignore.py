"""Keep the store's own files (its lock, a writer's temp file) out of ``git status``.

Like Beads' own ``.beads/.gitignore``, but without adding a file the user would
then have to commit: the patterns go into the repository's ``info/exclude``,
which Git reads and never tracks. Failing to write it never stops the store.
"""

from __future__ import annotations

import logging
from pathlib import Path

from reconciler.clients.files import write_atomic

log = logging.getLogger(__name__)
_done: set[Path] = set()


def _repository(start: Path) -> tuple[Path, Path] | None:
    """(work tree top, common git dir) of the repository holding ``start``; None outside one."""
    for top in (start, *start.parents):
        dot_git = top / ".git"
        if dot_git.is_dir():
            return top, dot_git
        if dot_git.is_file():
            text = dot_git.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            git_dir = (top / text[len("gitdir:"):].strip()).resolve()
            common = git_dir / "commondir"
            if common.is_file():
                git_dir = (git_dir / common.read_text().strip()).resolve()
            return top, git_dir
    return None


def ignore_in_repository(*paths: Path) -> None:
    """Exclude ``paths`` (files gt makes beside a store) from the repository they are in."""
    key = paths[0]
    if key in _done:
        return
    _done.add(key)
    try:
        found = _repository(key.parent.resolve())
        if found is None:
            return
        top, git_dir = found
        exclude = git_dir / "info" / "exclude"
        lines = exclude.read_text().splitlines() if exclude.exists() else []
        wanted = ["/" + str(p.resolve().relative_to(top)) if "*" not in p.name
                  else "/" + str(p.parent.resolve().relative_to(top) / p.name) for p in paths]
        missing = [w for w in wanted if w not in lines]
        if missing:
            write_atomic(exclude, "\n".join([*lines, "# gt: the Beads store's lock and temp files", *missing]) + "\n")
    except (OSError, ValueError) as exc:
        log.warning("could not exclude %s from git: %s", key, exc)
