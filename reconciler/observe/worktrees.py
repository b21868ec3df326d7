"""The worker worktrees of a rig (.gt/worktrees/<rig>/<worker>): which branch each is on,
and, for those not on their worker's hook, whether they hold anything not landed.

A worktree's branch is read from its files (no git process); only a worktree that
no hook explains is examined with git, since only those may be reused or removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from reconciler.clients.git import examine, worktree_branch
from reconciler.model.desired import DesiredState, RigSpec
from reconciler.model.observed import ObservedIssue, ObservedWorktree, held_hooks
from reconciler.model.paths import TownPaths, rig_repo_path


def observe_worktrees(desired: DesiredState, rig: RigSpec,
                      issues: Iterable[ObservedIssue]) -> tuple[ObservedWorktree, ...]:
    base = Path(TownPaths(desired.root).worktrees(rig.name))
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
