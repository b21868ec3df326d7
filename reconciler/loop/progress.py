"""How far a convoy has come, issue by issue: the one reading gt status and gt convoy share.

Pure: a convoy and its rig as observed in, the state of each issue out.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, replace

from reconciler.model.desired import ConvoySpec
from reconciler.model.molecule import progress as molecule_progress
from reconciler.model.observed import (
    DONE_LABEL,
    HELD_STATUSES,
    MERGE_FAILED_LABEL,
    ObservedIssue,
    ObservedRig,
    worker_of,
)
from reconciler.model.swarm import REVIEW_LABEL, SwarmRole, members


class IssueState(str, enum.Enum):
    """Where one issue of a convoy is, in the order work moves through."""

    waiting = "waiting"  # open and ready: starts when a worker is free
    blocked = "blocked"  # waits for the issues that block it
    hooked = "hooked"  # on a hook; its worker has not picked it up yet (or someone else holds it)
    working = "working"  # its worker works it (in progress)
    done = "done"  # its worker reported it done: waiting for the refinery to merge it
    merged = "merged"  # merged and closed
    missing = "missing"  # not in the rig's store
    unknown = "unknown"  # the rig's store could not be read


@dataclass(frozen=True)
class IssueProgress:
    id: str
    state: IssueState
    title: str = ""
    worker: str | None = None  # the gt worker whose hook holds it
    assignee: str | None = None  # who holds it, as Beads says
    blocked_by: tuple[str, ...] = ()
    status: str = ""  # its Beads status
    merge_failed: bool = False
    queue: tuple[int, int] | None = None  # done: its place in the rig's merge queue, and the queue's length
    step: tuple[int, int] | None = None  # a molecule's: the step it is at, and how many there are
    swarm: str = ""  # its part in a swarm (planner, executor, reviewer); "" in an ordinary convoy

    @property
    def headline(self) -> str:
        """The title, after the issue's part in its swarm."""
        return f"{self.swarm}: {self.title}" if self.swarm else self.title

    def describe(self, rig: str) -> str:
        """The state in words: 'blocked by dm-parser', 'working (demo/nux)'."""
        who = f"{rig}/{self.worker}" if self.worker else (self.assignee or "")
        match self.state:
            case IssueState.blocked:
                return f"blocked by {', '.join(self.blocked_by)}" if self.blocked_by else "blocked"
            case IssueState.hooked:
                return f"hooked to {who}"
            case IssueState.working:
                return f"working ({who})" + (f", step {self.step[0]} of {self.step[1]}" if self.step else "") \
                    + ("; its last merge failed" if self.merge_failed else "")
            case IssueState.done if self.queue:
                return f"done ({who}): in the merge queue, {self.queue[0]} of {self.queue[1]}"
            case IssueState.done:
                return f"done ({who}): reported, waiting for the merge"
            case IssueState.merged:
                return "merged (closed)"
            case IssueState.waiting if self.status and self.status != "open":
                return f"waiting (status {self.status})"
            case IssueState.missing:
                return "missing: not in the rig's Beads store"
            case IssueState.unknown:
                return "unknown: the rig's store could not be read"
        return str(self.state.value)

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "state": self.state.value, "worker": self.worker,
                "assignee": self.assignee, "blockedBy": list(self.blocked_by), "status": self.status,
                "mergeQueue": list(self.queue) if self.queue else None,
                "step": {"at": self.step[0], "of": self.step[1]} if self.step else None, "swarm": self.swarm or None}


ON_A_WORKER = frozenset({IssueState.hooked, IssueState.working, IssueState.done})


@dataclass(frozen=True)
class ConvoyProgress:
    name: str
    rig: str
    title: str
    paused: bool
    issues: tuple[IssueProgress, ...]
    error: str | None = None  # the rig's store could not be read

    @property
    def total(self) -> int:
        return len(self.issues)

    @property
    def merged(self) -> int:
        return sum(1 for i in self.issues if i.state is IssueState.merged)

    @property
    def working(self) -> int:
        """Issues on a gt worker's hook (hooked, working, or done and waiting for the merge)."""
        return sum(1 for i in self.issues if i.state in ON_A_WORKER and i.worker)

    @property
    def landed(self) -> bool:
        """Every issue merged and closed."""
        return bool(self.issues) and self.merged == self.total

    def counts(self) -> dict[str, int]:
        """How many issues are in each state (every state named, 0 included)."""
        found = Counter(i.state for i in self.issues)
        return {state.value: found[state] for state in IssueState}

    def summary(self) -> dict[str, int]:
        """gt status's figures: done (merged), working (on a worker), waiting (the rest), total."""
        return {"done": self.merged, "working": self.working,
                "waiting": self.total - self.merged - self.working, "total": self.total}

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "rig": self.rig, "title": self.title, "paused": self.paused,
                "landed": self.landed, "total": self.total, "counts": self.counts(), "error": self.error,
                "issues": [i.as_dict() for i in self.issues]}


def issue_progress(rig: str, issue_id: str, issue: ObservedIssue | None,
                   queue: tuple[int, int] | None = None, steps: tuple[str, ...] = ()) -> IssueProgress:
    """One issue's state, from what its rig's store says (and the rig's merge queue, and the steps
    of its molecule)."""
    if issue is None:
        return IssueProgress(issue_id, IssueState.missing)
    at = molecule_progress(steps, issue.labels, issue.done)
    base = IssueProgress(issue.id, IssueState.waiting, issue.title, worker_of(rig, issue.assignee),
                         issue.assignee, issue.blocked_by, issue.status, MERGE_FAILED_LABEL in issue.labels,
                         step=(at.current, at.total) if at else None)
    if issue.status == "closed":
        state = IssueState.merged
    elif issue.status in HELD_STATUSES:
        if base.worker and DONE_LABEL in issue.labels:
            state = IssueState.done
            base = replace(base, queue=queue)
        elif base.worker and issue.status == "in_progress":
            state = IssueState.working
        else:
            state = IssueState.hooked
    elif issue.blocked_by or issue.status == "blocked":
        state = IssueState.blocked
    else:
        return base
    return replace(base, state=state)


def convoy_progress(convoy: ConvoySpec, rig: ObservedRig) -> ConvoyProgress:
    """Each issue of ``convoy``, in its order, as ``rig``'s store has it (a swarm's subtasks and
    review after the issue they grew from)."""
    if rig.error is not None:
        issues = tuple(IssueProgress(i, IssueState.unknown) for i in convoy.issues)
    else:
        issues = tuple(_in_swarm(convoy, issue_progress(convoy.rig, i, rig.issue(i), rig.queue_place(i),
                                                        convoy.steps_for(i) if i in convoy.issues else ()), rig)
                       for i in members(convoy, rig.issues))
    return ConvoyProgress(convoy.name, convoy.rig, convoy.title, convoy.paused, issues, rig.error)


def _in_swarm(convoy: ConvoySpec, progress: IssueProgress, rig: ObservedRig) -> IssueProgress:
    if convoy.swarm is None:
        return progress
    if progress.id in convoy.issues:
        return replace(progress, swarm=SwarmRole.planner.value)
    issue = rig.issue(progress.id)
    review = issue is not None and REVIEW_LABEL in issue.labels
    return replace(progress, swarm=(SwarmRole.reviewer if review else SwarmRole.executor).value)
