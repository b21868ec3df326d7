"""The one exception tree of gt.

Every error a user can meet derives from ``ReconcilerError`` and carries the
exit code the CLI maps it to. Constructors take fields and build their own
message, so callers never format error text by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


class ReconcilerError(Exception):
    """Base of every gt error; ``exit_code`` is what the CLI exits with."""

    exit_code = 2


# -- manifests ---------------------------------------------------------------


@dataclass(frozen=True)
class ManifestProblem:
    """One located problem in a manifest: ``path:line:col: pointer: message``."""

    path: str
    line: int
    col: int
    pointer: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}"
        if self.pointer:
            return f"{where}: {self.pointer}: {self.message}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "pointer": self.pointer,
            "message": self.message,
        }


class ManifestError(ReconcilerError):
    """The manifests are invalid; holds every problem found, not just the first."""

    def __init__(self, problems: list[ManifestProblem] | tuple[ManifestProblem, ...], where: str = "") -> None:
        self.problems = tuple(problems)
        self.where = where  # the commit read, e.g. "3f2a1c9 (main)"; empty for files on disk
        super().__init__("\n".join(str(p) for p in self.problems))


class TownNotFound(ReconcilerError):
    """No town (a directory holding ``manifests/``) at or above a directory."""

    def __init__(self, start: str) -> None:
        self.start = start
        super().__init__(
            f"no town found at or above {start}: no manifests/ directory "
            "(run 'gt init' or pass --town DIR)"
        )


class NotATown(ReconcilerError):
    """--town or GT_TOWN names a directory that is not a town."""

    def __init__(self, path: str, source: str) -> None:
        self.path = path
        what = "does not exist" if not os.path.exists(path) else "holds no manifests/ directory"
        super().__init__(f"{source} {path} is not a town: it {what} (gt init creates a town)")


class UsageError(ReconcilerError):
    """A command was asked for something it cannot do as asked."""


# -- observing and the issue store -----------------------------------------


class ObserveError(ReconcilerError):
    """Reading live state (tmux, git, Beads) failed."""


class StoreError(ObserveError):
    """The Beads store could not be read or written."""


class StoreCorrupt(StoreError):
    """A line of a Beads JSONL file does not parse; nothing was rewritten."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line}: corrupt Beads record: {reason} (file left untouched)")


class IssueNotFound(StoreError):
    def __init__(self, issue_id: str) -> None:
        self.issue_id = issue_id
        super().__init__(f"issue {issue_id} not found")


class HookConflict(StoreError):
    """Compare-and-set hook refused: the issue is not open and free, nor already ours."""

    def __init__(self, issue_id: str, status: str, assignee: str | None, wanted: str) -> None:
        self.issue_id, self.status, self.assignee, self.wanted = issue_id, status, assignee, wanted
        holder = assignee or "nobody"
        super().__init__(
            f"cannot hook {issue_id} to {wanted}: it is {status} and assigned to {holder}"
        )


class BdCommandError(StoreError):
    """The ``bd`` CLI failed or answered something we cannot read."""

    def __init__(self, argv: list[str], returncode: int, stderr: str, reason: str = "") -> None:
        self.argv, self.returncode, self.stderr = argv, returncode, stderr
        detail = reason or stderr.strip() or f"exit code {returncode}"
        super().__init__(f"bd {' '.join(argv[1:])}: {detail}")


# -- acting -------------------------------------------------------------------


class ActionError(ReconcilerError):
    """An action could not be carried out."""


class TransientError(ActionError):
    """Worth retrying after ``delay`` seconds."""

    def __init__(self, message: str, delay: float = 30.0) -> None:
        self.delay = delay
        super().__init__(message)


class TerminalError(ActionError):
    """Retrying will not help until something changes."""


class MergeRefused(TerminalError):
    """The refinery could not land a branch (a conflict, a failed gate): the work goes back to its
    worker. ``details`` is what the worker needs to fix it (the files, the gate's output)."""

    def __init__(self, message: str, details: str = "") -> None:
        self.details = details or message
        super().__init__(message)


class BranchMoved(TransientError):
    """The worker committed after reporting done: nothing was landed; a later pass lands it all."""

    def __init__(self, branch: str, head: str) -> None:
        super().__init__(f"{branch} moved past {head[:12]} while the gates ran: landing it all next time")


class LinkRefused(ReconcilerError):
    """A file or directory gt would write is a symbolic link: written through, it could land
    anywhere the user can write, so gt refuses it and names it."""

    def __init__(self, path: str, target: str) -> None:
        self.path, self.target = path, target
        super().__init__(f"{path} is a symbolic link (to {target}); gt writes only inside the town "
                         "and does not follow it: remove the link")


class TargetMoved(TransientError):
    """The rig's branch moved while a merge was made on it: nothing landed; a later pass merges again."""

    def __init__(self, branch: str, base: str) -> None:
        super().__init__(f"{branch} moved past {base[:12]} while the merge was made: merging again next time")


class RemoteMoved(TransientError):
    """The remote's branch moved since it was fetched: the push was rejected, nothing was forced;
    the refinery fetches, merges and gates again."""

    def __init__(self, branch: str, why: str) -> None:
        super().__init__(f"the push to {branch} was rejected (the remote moved): {why}", delay=5.0)
