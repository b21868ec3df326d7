"""Each rig's issues that matter to the plan, read through the store interface."""

from __future__ import annotations

from pathlib import Path

from reconciler.clients.beads import Issue
from reconciler.clients.stores import StoreFactory
from reconciler.errors import ReconcilerError
from reconciler.model.desired import DesiredState, RigSpec
from reconciler.model.observed import DONE_STATUSES, ObservedIssue, ObservedRig
from reconciler.model.paths import is_url, rig_repo_path
from reconciler.observe.worktrees import observe_worktrees


def observe_rigs(desired: DesiredState, stores: StoreFactory) -> tuple[ObservedRig, ...]:
    return tuple(observe_rig(desired, rig, stores) for rig in desired.rigs)


def observe_rig(desired: DesiredState, rig: RigSpec, stores: StoreFactory) -> ObservedRig:
    repo = Path(rig_repo_path(desired, rig))
    if is_url(rig.repo) and not repo.exists():
        return ObservedRig(rig.name, error=f"{rig.repo} is not cloned yet (expected at {repo})")
    if not repo.is_dir():
        return ObservedRig(rig.name, error=f"repository {repo} does not exist")
    listed = {i for c in desired.convoys_of(rig.name) for i in c.issues}
    try:  # only the issues the plan can touch are built; the rest give their status
        issues, status = stores(desired, rig).overview(listed, f"{rig.name}/workers/")
    except ReconcilerError as exc:
        return ObservedRig(rig.name, error=str(exc))
    relevant = tuple(_observed(i, status) for i in issues)
    return ObservedRig(rig.name, relevant, worktrees=observe_worktrees(desired, rig, relevant))


def _observed(issue: Issue, status: dict[str, str]) -> ObservedIssue:
    # A blocks target that is closed, tombstoned or unknown no longer blocks.
    blocking = tuple(t for t in issue.blocked_by if t in status and status[t] not in DONE_STATUSES)
    return ObservedIssue(
        id=issue.id, title=issue.title, status=issue.status, priority=issue.priority,
        issue_type=issue.issue_type, assignee=issue.assignee, labels=issue.labels,
        blocked_by=blocking,
    )
