"""Which manifests a command acts on: a commit of the town's repository, or the working tree.

What acts (``gt apply``, the controller) and what predicts acting (``gt diff``) read commits,
so a saved but uncommitted edit never goes live; ``--worktree`` reads the files as they are, for
local experiments. A town that is not a Git repository (or has no commit yet) has only its files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.clients.git_tree import CommitManifests, RevisionError, TownRepository
from reconciler.errors import ManifestError, UsageError
from reconciler.loop.commits import listed_changes
from reconciler.manifests.loader import ManifestCache, ManifestSource, WorkingTree, load_source
from reconciler.model.desired import DesiredState


@dataclass(frozen=True)
class Revision:
    """The manifests read: ``commit`` (named by ``ref`` as the user gave it), or the working
    tree when ``commit`` is None (``why``: asked for, or the town has no commit)."""

    commit: str | None
    ref: str | None = None
    why: str = ""
    pinned: bool = False  # named by --rev, rather than the commit checked out

    @property
    def short(self) -> str:
        return self.commit[:7] if self.commit else "working tree"

    def __str__(self) -> str:
        if self.commit is None:
            return "the working tree" + (f" ({self.why})" if self.why else "")
        named = f" ({self.ref})" if self.ref and not self.commit.startswith(self.ref) else ""
        return f"{self.commit[:7]}{named}"

    def as_dict(self) -> dict[str, str | None]:
        return {"commit": self.commit, "ref": self.ref, **({"worktree": self.why} if self.commit is None else {})}


WORKTREE = Revision(None, why="--worktree")
ON_DISK = Revision(None)


def choose(root: Path, rev: str | None = None, *, worktree: bool = False) -> tuple[Revision, ManifestSource]:
    """The revision a command reads and its manifests: ``rev``, else HEAD, else the files."""
    if worktree and rev is not None:
        raise UsageError("--rev and --worktree name different manifests: give one of them")
    directory = root / "manifests"
    if worktree:
        return WORKTREE, WorkingTree(directory)
    repo = TownRepository.find(root)
    if repo is None:
        if rev is not None:
            raise RevisionError(f"--rev {rev}: {root} is not a Git repository with a commit")
        why = "no commit yet" if (root / ".git").exists() else "not a Git repository"
        return Revision(None, why=why), WorkingTree(directory)
    if rev is None or rev == "HEAD":
        ref = repo.checked_out_branch() or "HEAD"
        commit = repo.branch_tip(ref)
        return Revision(commit, ref), CommitManifests(repo, commit)
    commit = repo.resolve(rev)
    return Revision(commit, rev, pinned=True), CommitManifests(repo, commit)


def load_at(root: Path, rev: str | None = None, *, worktree: bool = False,
            cache: ManifestCache | None = None) -> tuple[Revision, DesiredState]:
    """The desired state at ``rev`` (default: the commit checked out), or on disk with ``worktree``."""
    revision, source = choose(root, rev, worktree=worktree)
    try:
        return revision, load_source(source, root.resolve().name, cache=cache)
    except ManifestError as exc:
        raise ManifestError(exc.problems, str(revision) if revision.commit else "") from None


def load_applied(root: Path) -> tuple[Revision, DesiredState]:
    """The desired state the controller applies (its status names the commit), else HEAD's: what a
    worker's own gt commands, gt attach, gt nudge, gt shutdown and gt rig reset must agree with."""
    from reconciler.clients.status_file import read_status

    applied = ((read_status(root) or {}).get("controller") or {}).get("source") or {}
    commit = applied.get("commit") if isinstance(applied, dict) else None
    if isinstance(commit, str) and commit:
        try:
            return load_at(root, commit)
        except RevisionError:
            pass  # the commit is gone (a rewritten history): HEAD is the best guess
    return load_at(root)


def uncommitted_warning(root: Path, revision: Revision) -> str | None:
    """Edits under ``manifests/`` that reading ``revision`` leaves out, as one warning line."""
    if revision.commit is None:
        return None
    repo = TownRepository.find(root)
    changes = repo.uncommitted() if repo else []
    if not changes:
        return None
    return (f"uncommitted changes under manifests/ are not included: {listed_changes(changes)}; "
            "commit them, or pass --worktree to include them")
