"""The worker's side of the protocol: read my hook, report done. Used by `gt done`
and by the shipped demo agent, from inside a worker session (GT_* environment)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .beads import Issue
from .beads.embedded import JsonlStore
from .errors import UsageError
from .observed import DONE_LABEL, HELD_STATUSES


@dataclass(frozen=True)
class WorkerEnv:
    role: str
    issue: str
    beads_dir: Path
    worktree: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerEnv:
        env = os.environ if env is None else env
        missing = [k for k in ("GT_ROLE", "GT_ISSUE", "GT_BEADS_DIR") if not env.get(k)]
        if missing:
            raise UsageError(f"not inside a gt worker session: {', '.join(missing)} unset")
        return cls(env["GT_ROLE"], env["GT_ISSUE"], Path(env["GT_BEADS_DIR"]), Path.cwd())

    def store(self) -> JsonlStore:
        prefix = self.issue.rsplit("-", 1)[0]
        return JsonlStore(self.beads_dir / "issues.jsonl", prefix, actor=self.role)


def my_hook(worker: WorkerEnv) -> Issue:
    """The issue on my hook; an error when it is not hooked to me any more."""
    issue = worker.store().get(worker.issue)
    if issue.assignee != worker.role or issue.status not in HELD_STATUSES:
        raise UsageError(f"{worker.issue} is not hooked to {worker.role} ({issue.status}, {issue.assignee})")
    return issue


def start_work(worker: WorkerEnv) -> Issue:
    """hooked -> in_progress, as an agent does when it picks its work up."""
    issue = my_hook(worker)
    if issue.status == "hooked":
        issue = worker.store().update(issue.id, status="in_progress")
    return issue


def report_done(worker: WorkerEnv) -> Issue:
    """Mark my issue ready to merge; the refinery lands the branch on the next pass."""
    my_hook(worker)
    return worker.store().update(worker.issue, add_labels=[DONE_LABEL])
