"""Each rig's issues that matter to the plan, read through the store interface."""

from __future__ import annotations

from pathlib import Path

from reconciler.clients.beads import Issue
from reconciler.clients.stores import StoreFactory
from reconciler.errors import ReconcilerError
from reconciler.model.desired import DesiredState, RigSpec
from reconciler.model.observed import ObservedIssue, ObservedRig
from reconciler.model.paths import is_url, rig_repo_path
from reconciler.observe.worktrees import observe_worktrees


def observe_rigs(desired: DesiredState, stores: StoreFactory) -> tuple[ObservedRig, ...]:
    return tuple(observe_rig(desired, rig, stores) for rig in desired.rigs)


def observe_rig(desired: DesiredState, rig: RigSpec, stores: StoreFactory) -> ObservedRig:
    repo = Path(rig_repo_path(desired, rig))
    if is_url(rig.repo) and not repo.exists():
        return ObservedRig(rig.name, cloned=False)
    if not repo.is_dir():
        return ObservedRig(rig.name, error=f"repository {repo} does not exist")
    listed = {i for c in desired.convoys_of(rig.name) for i in c.issues}
    # A swarm's subtasks and review are not listed: they are the children of its listed issues.
    parents = {i for c in desired.convoys_of(rig.name) if c.swarm is not None for i in c.issues}
    try:  # only the issues the plan can touch are built; the rest say only whether they block
        issues, blocked = stores(desired, rig).overview(listed, f"{rig.name}/workers/", parents)
    except ReconcilerError as exc:
        return ObservedRig(rig.name, error=str(exc))
    relevant = tuple(observed_issue(i, blocked.get(i.id, ())) for i in issues)
    return ObservedRig(rig.name, relevant, worktrees=observe_worktrees(desired, rig, relevant))


def observed_issue(issue: Issue, blocked_by: tuple[str, ...] = ()) -> ObservedIssue:
    return ObservedIssue(
        id=issue.id, title=issue.title, status=issue.status, priority=issue.priority,
        issue_type=issue.issue_type, assignee=issue.assignee, labels=issue.labels, blocked_by=blocked_by,
        updated=issue.updated_at or "", parent=issue.parent,
    )
