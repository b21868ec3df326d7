"""The worker worktrees of a rig (.gt/worktrees/<rig>/<worker>): which branch each is on,
and, for those not on their worker's hook, whether they hold anything not landed.

A worktree's branch is read from its files (no git process); only a worktree that
no hook explains is examined with git, since only those may be reused or removed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from reconciler.model import DesiredState, RigSpec
from reconciler.model.observed import ObservedIssue, ObservedWorktree, held_hooks
from reconciler.plan.workers import rig_repo_path

DETACHED = "(detached HEAD)"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def worktree_branch(path: Path, repo: Path) -> str | None:
    """The branch checked out in worktree ``path`` of ``repo``; None when it is not one of its worktrees."""
    pointer = _read(path / ".git")
    if not pointer.startswith("gitdir:"):
        return None
    gitdir = Path(pointer[len("gitdir:"):].strip())
    if not gitdir.is_absolute():
        gitdir = path / gitdir
    try:
        if gitdir.resolve().parent.parent != (repo / ".git").resolve():
            return None
    except OSError:
        return None
    head = _read(gitdir / "HEAD")
    if head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/"):]
    return DETACHED if head else None


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env=os.environ | {"GIT_OPTIONAL_LOCKS": "0"})


def examine(path: Path, repo: Path, branch: str, base: str) -> ObservedWorktree:
    """Dirty paths, commits ahead, and whether merging the branch would change nothing."""
    status = _git(path, "status", "--porcelain", "--untracked-files=all")
    dirty = tuple(line[3:] for line in status.stdout.splitlines() if line.strip()) \
        if status.returncode == 0 else ("(git status failed)",)
    if branch == DETACHED:
        return ObservedWorktree(path.name, str(path), branch, dirty, None, False)
    ahead_run = _git(repo, "rev-list", "--count", f"{base}..{branch}")
    ahead = int(ahead_run.stdout.strip()) if ahead_run.returncode == 0 and ahead_run.stdout.strip().isdigit() else None
    if ahead == 0:
        landed = True
    else:
        merged = _git(repo, "merge-tree", "--write-tree", base, branch)
        tree = _git(repo, "rev-parse", f"{base}^{{tree}}")
        landed = merged.returncode == 0 and tree.returncode == 0 and \
            merged.stdout.split("\n", 1)[0].strip() == tree.stdout.strip()
    return ObservedWorktree(path.name, str(path), branch, dirty, ahead, landed)


def observe_worktrees(desired: DesiredState, rig: RigSpec,
                      issues: Iterable[ObservedIssue]) -> tuple[ObservedWorktree, ...]:
    base = Path(desired.root) / ".gt" / "worktrees" / rig.name
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return ()
    repo = Path(rig_repo_path(desired, rig))
    held, _ = held_hooks(rig.name, issues, {})
    found = []
    for path in entries:
        # Anything else in a worker's place (a file, a link) is kept and its name is not handed out.
        branch = None if path.is_symlink() or not path.is_dir() else worktree_branch(path, repo)
        hook = held.get(path.name)
        if branch is None or (hook is not None and branch == f"gt/{path.name}/{hook.id}"):
            found.append(ObservedWorktree(path.name, str(path), branch))
        else:
            found.append(examine(path, repo, branch, rig.branch))
    return tuple(found)
