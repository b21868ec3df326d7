"""Every file and directory gt uses, named in one place (pure: strings only, no I/O).

``TownPaths(root)`` names the town's own files under ``.gt/``; rig repositories and
worker worktrees are named from a rig. Everything gt writes is below the town root.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.model.desired import DesiredState, RigSpec

_URL = re.compile(r"^([a-z][a-z0-9+.-]*://|[^/\s]+@[^/\s]+:)")
STATE_DIR = ".gt"


def is_url(repo: str) -> bool:
    """A rig repository given as a Git URL (cloned below .gt/repos/) rather than a path."""
    return bool(_URL.match(repo))


@dataclass(frozen=True)
class TownPaths:
    root: str

    def _state(self, *parts: str) -> str:
        return posixpath.join(self.root, STATE_DIR, *parts)

    @property
    def status(self) -> str:
        return self._state("status.json")

    @property
    def journal(self) -> str:
        return self._state("controller.log")

    @property
    def controller_output(self) -> str:
        return self._state("controller.out")

    @property
    def lock(self) -> str:
        return self._state("town.lock")

    @property
    def crashes(self) -> str:
        return self._state("crashes.json")

    @property
    def failures(self) -> str:
        return self._state("failures.json")

    @property
    def merges(self) -> str:
        """The refinery's merges under way: written before a rig's branch moves."""
        return self._state("merges.json")

    @property
    def handoffs(self) -> str:
        """One file a worker that handed off (gt handoff), written by the worker, removed once its
        next session started."""
        return self._state("handoffs")

    @property
    def worktrees_root(self) -> str:
        """Where every rig's worker worktrees live."""
        return self._state("worktrees")

    def worktrees(self, rig: str) -> str:
        return posixpath.join(self.worktrees_root, rig)

    def worktree(self, rig: str, worker: str) -> str:
        return self._state("worktrees", rig, worker)

    def scratch(self, rig: str, issue: str) -> str:
        """The refinery's scratch worktree, where the gates run on a merged result; removed after."""
        return self._state("scratch", rig, issue)

    def rig_repo(self, rig: str, repo: str) -> str:
        """Where a rig's repository is on disk; a URL is cloned below .gt/repos/."""
        if is_url(repo):
            return self._state("repos", rig)
        return posixpath.normpath(posixpath.join(self.root, repo))


def rig_repo_path(desired: DesiredState, rig: RigSpec) -> str:
    """Where the rig's repository is on disk."""
    return TownPaths(desired.root).rig_repo(rig.name, rig.repo)
