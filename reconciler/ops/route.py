"""gt route: find each issue in its rig's store and explain the model and agent it gets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.clients.stores import StoreFactory, default_stores
from reconciler.errors import IssueNotFound, ReconcilerError, UsageError
from reconciler.model.desired import DesiredState, RigSpec
from reconciler.model.observed import ObservedIssue
from reconciler.model.paths import rig_repo_path
from reconciler.observe.issues import observed_issue
from reconciler.plan.routes import RouteExplanation, explain


class IssueNowhere(UsageError):
    """No rig's store (of those searched) holds the issue."""

    def __init__(self, issue_id: str, searched: Sequence[str], unread: Sequence[str]) -> None:
        self.issue_id = issue_id
        text = (f"issue {issue_id} is not in rig {searched[0]}'s store" if len(searched) == 1
                else f"issue {issue_id} is in no rig's store (rigs: {', '.join(searched) or 'none'})")
        if unread:
            text += f"; could not read {'; '.join(unread)}"
        super().__init__(text)


def find_issue(desired: DesiredState, issue_id: str, rig: str | None = None,
               stores: StoreFactory = default_stores) -> tuple[RigSpec, ObservedIssue]:
    """The rig whose store holds ``issue_id`` (only ``rig``'s when given), and the issue as it is there."""
    rigs = [r for r in desired.rigs if rig is None or r.name == rig]
    if rig is not None and not rigs:
        declared = ", ".join(r.name for r in desired.rigs) or "none"
        raise UsageError(f"rig '{rig}' is not declared (declared rigs: {declared})")
    found: list[tuple[RigSpec, ObservedIssue]] = []
    unread: list[str] = []
    for spec in rigs:
        if not Path(rig_repo_path(desired, spec)).is_dir():
            unread.append(f"rig {spec.name} (its repository is not there)")
            continue
        try:
            found.append((spec, observed_issue(stores(desired, spec).get(issue_id))))
        except IssueNotFound:
            continue
        except ReconcilerError as exc:
            unread.append(f"rig {spec.name} ({exc})")
    if len(found) > 1:
        raise UsageError(f"issue {issue_id} is in the stores of rigs {', '.join(r.name for r, _ in found)}: "
                         "say which with --rig")
    if not found:
        raise IssueNowhere(issue_id, [r.name for r in rigs], unread)
    return found[0]


def explain_issues(desired: DesiredState, issues: Sequence[str], rig: str | None = None,
                   stores: StoreFactory = default_stores) -> list[RouteExplanation]:
    """Each issue's model, agent and what chose them, as the plan would pick them now."""
    explained = []
    for issue_id in issues:
        spec, found = find_issue(desired, issue_id, rig, stores)
        explained.append(explain(desired, spec, issue_id, found))
    return explained
