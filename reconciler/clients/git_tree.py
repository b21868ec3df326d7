"""The town's own repository, read without a checkout: revisions, manifests at a commit, edits
not yet committed.

Git is run directly (no GitPython): a pass that finds its branch where it was costs one
``rev-parse``; the tree is listed, and only blobs not seen before are read, when it moved.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.errors import ReconcilerError
from reconciler.manifests.files import LINK_REFUSED, ManifestFile, display_path, is_manifest_name

MANIFESTS = "manifests"
_SYMLINK, _SUBMODULE = "120000", "160000"


class RevisionError(ReconcilerError):
    """A revision that does not name a commit of the town, or a town Git cannot read."""


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True,
                              check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RevisionError(f"git {args[0]} in {root}: {exc}") from exc


def git_directories(root: Path) -> list[Path]:
    """The directories holding the town repository's HEAD and refs (one, or two for a linked
    worktree); none when the town is not in a repository."""
    found = _git(root, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir")
    if found.returncode != 0:
        return []
    return list(dict.fromkeys(Path(line) for line in found.stdout.decode().splitlines() if line))


def _entries(root: Path, what: str, *args: str) -> list[tuple[list[str], str]]:
    """The NUL-separated ``<fields>\\t<path>`` lines of ``git ls-tree -z`` or ``git ls-files -z``."""
    listed = _git(root, *args)
    if listed.returncode != 0:
        raise RevisionError(f"cannot list {what}: {listed.stderr.decode(errors='replace').strip()}")
    entries = []
    for entry in listed.stdout.decode(errors="surrogateescape").split("\0"):
        if entry:
            meta, _, path = entry.partition("\t")
            entries.append((meta.split(), path))
    return entries


@dataclass(frozen=True)
class TownRepository:
    """Where the town sits in its Git repository (``prefix``: the town root's path inside it)."""

    root: Path
    prefix: str

    @classmethod
    def find(cls, root: Path) -> TownRepository | None:
        """The repository holding ``root`` with at least one commit; None for a plain directory."""
        found = _git(root, "rev-parse", "--show-prefix", "--verify", "-q", "HEAD")
        if found.returncode != 0:
            error = found.stderr.decode(errors="replace").strip()
            if not error or "not a git repository" in error:  # no repository, or no commit yet
                return None
            # Anything else (a repository git refuses to read: "dubious ownership") must not
            # be mistaken for a plain directory, whose uncommitted files would then go live.
            raise RevisionError(f"git cannot read the town's repository at {root}: {error.splitlines()[-1]}")
        return cls(root, found.stdout.decode().splitlines()[0].strip())

    def resolve(self, rev: str) -> str:
        """The full id of the commit ``rev`` names (a branch, a tag, HEAD~1, an id)."""
        if rev.startswith("-"):
            raise RevisionError(f"{rev!r} is not a revision")
        found = _git(self.root, "rev-parse", "--verify", "-q", "--end-of-options", f"{rev}^{{commit}}")
        if found.returncode != 0:
            raise RevisionError(f"unknown revision {rev!r}: no such branch, tag or commit in {self.root}")
        return found.stdout.decode().strip()

    def branch_tip(self, branch: str) -> str:
        """The commit a branch points at: ``refs/heads/<branch>``, never a tag of the same name."""
        if branch == "HEAD":
            return self.resolve("HEAD")
        found = _git(self.root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}")
        if found.returncode != 0:
            raise RevisionError(f"branch {branch!r} does not exist in {self.root}")
        return found.stdout.decode().strip()

    def checked_out_branch(self) -> str | None:
        """The branch HEAD is on, or None when HEAD is detached."""
        found = _git(self.root, "symbolic-ref", "-q", "HEAD")  # in full: --short says heads/x when a tag is x
        ref = found.stdout.decode().strip() if found.returncode == 0 else ""
        return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None

    def commits_between(self, old: str, new: str) -> int:
        """How many commits ``new`` has that ``old`` lacks."""
        found = _git(self.root, "rev-list", "--count", f"{old}..{new}")
        return int(found.stdout.decode().strip() or 0) if found.returncode == 0 else 0

    def subject(self, commit: str) -> str:
        found = _git(self.root, "log", "-1", "--format=%s", commit)
        return found.stdout.decode(errors="replace").strip()

    def uncommitted(self) -> list[tuple[str, str]]:
        """Manifest files under ``manifests/`` whose working copy differs from HEAD:
        (path relative to the town root, what happened: modified, added, deleted, untracked)."""
        # Without optional locks: a reader (gt status, the witness view every few seconds) must never
        # hold .git/index.lock while the user commits.
        found = _git(self.root, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all",
                     "--no-renames", "--", MANIFESTS)
        changes = []
        for entry in found.stdout.decode(errors="replace").split("\0"):
            if len(entry) < 4:
                continue
            code, path = entry[:2], entry[3:]
            rel = path.removeprefix(self.prefix)
            if not is_manifest_name(PurePosixPath(rel).name):
                continue
            what = ("untracked" if code == "??" else "deleted" if "D" in code
                    else "added" if "A" in code else "modified")
            changes.append((rel, what))
        return changes

    def manifests_tree(self, commit: str) -> str:
        """The id of ``manifests/`` at ``commit``: the same content has the same id, whatever the commit."""
        found = _git(self.root, "rev-parse", "--verify", "-q", f"{commit}:{self.prefix}{MANIFESTS}")
        return found.stdout.decode().strip() or commit

    def manifests_at(self, commit: str) -> CommitManifests:
        return CommitManifests(self, commit)


class CommitManifests:
    """The manifests of one commit, as a ``ManifestSource``: each file is named by its path (as in
    the working tree; which commit is said once, by the caller) and identified by its blob id."""

    def __init__(self, repo: TownRepository, commit: str) -> None:
        self.repo = repo
        self.commit = commit
        self._blobs: dict[str, str] = {}  # shown -> blob id
        self._links: set[str] = set()

    @property
    def root(self) -> Path:
        return self.repo.root.resolve()

    def files(self) -> list[ManifestFile]:
        under = f"{self.repo.prefix}{MANIFESTS}/"
        found = []
        for mode, blob, size, path in self._listing(under):
            rel = PurePosixPath(path[len(self.repo.prefix):])
            if mode == _SUBMODULE or any(part.startswith(".") for part in rel.parts[1:-1]):
                continue
            if not is_manifest_name(rel.name):
                continue
            shown = display_path(self.repo.root / rel)  # as in the working tree, so editors find it
            self._blobs[shown] = blob
            if mode == _SYMLINK:
                self._links.add(shown)
            found.append(ManifestFile(shown, blob, size))
        if not found and not self._has_directory(under):
            raise RevisionError(f"{self.label} has no {MANIFESTS}/ directory")
        return found

    @property
    def label(self) -> str:
        return f"commit {self.commit[:7]}"

    def _listing(self, under: str) -> list[tuple[str, str, int, str]]:
        """(mode, blob id, size, path from the repository root) of every file below ``under``."""
        entries = []
        for (mode, _kind, blob, size), path in _entries(self.repo.root, f"{MANIFESTS}/ at {self.commit[:7]}",
                                                         "ls-tree", "-r", "-l", "-z", "--full-tree", self.commit,
                                                         "--", under):
            entries.append((mode, blob, int(size) if size.isdigit() else 0, path))
        return entries

    def _has_directory(self, under: str) -> bool:
        return _git(self.repo.root, "cat-file", "-e", f"{self.commit}:{under}").returncode == 0

    def read(self, files: list[ManifestFile]) -> dict[str, bytes | OSError]:
        read: dict[str, bytes | OSError] = {}
        for f in files:
            if f.shown in self._links:
                read[f.shown] = OSError(0, LINK_REFUSED)
        wanted = [f for f in files if f.shown not in read]
        if not wanted:
            return read
        batch = _git(self.repo.root, "cat-file", "--batch",
                     stdin="".join(self._blobs[f.shown] + "\n" for f in wanted).encode())
        out, at = batch.stdout, 0
        for f in wanted:
            header_end = out.index(b"\n", at)
            header = out[at:header_end].split()
            if len(header) != 3:
                read[f.shown] = OSError(0, f"git cat-file: {out[at:header_end].decode(errors='replace')}")
                at = header_end + 1
                continue
            size = int(header[2])
            read[f.shown] = out[header_end + 1:header_end + 1 + size]
            at = header_end + 1 + size + 1
        return read


class StagedManifests(CommitManifests):
    """The manifests as staged in the index: what the next commit will hold (``gt validate --staged``,
    the pre-commit hook)."""

    def __init__(self, repo: TownRepository) -> None:
        super().__init__(repo, ":0")

    @property
    def label(self) -> str:
        return "the index"

    def _has_directory(self, under: str) -> bool:
        return False

    def _listing(self, under: str) -> list[tuple[str, str, int, str]]:
        return [(mode, blob, 0, path)  # sizes are checked once read
                for (mode, blob, _stage), path in _entries(self.repo.root, f"the staged {MANIFESTS}/",
                                                           "ls-files", "-s", "-z", "--full-name", "--", f":/{under}")]
