"""gt mol current|next|squash and gt done --continue: a worker's molecule, one step at a time.

The steps are the convoy's (the applied manifests); where the issue stands is kept on the issue
itself in Beads (its ``gt:step:<n>`` label, one line of its notes a finished step; see
``reconciler.model.molecule``). So a worker restarted by the controller, or after gt handoff,
resumes at the step where it stopped, whatever happened to ``.gt/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.clients.beads import Issue, IssueStore
from reconciler.errors import ReconcilerError, UsageError
from reconciler.model.molecule import (
    DIGEST_HEAD,
    Progress,
    Squashed,
    progress,
    record_step,
    squash,
    step_label,
    step_labels,
    step_line,
)
from reconciler.model.observed import DONE_LABEL
from reconciler.ops.worker import DoneStatus, WorkerContext, hook_of, report_done, require_committed


def progress_of(ctx: WorkerContext, issue: Issue) -> Progress | None:
    """Where ``issue`` is in its molecule; None when it has none, or the manifests that would
    say cannot be read."""
    if ctx.desired is None:
        return None
    return progress(ctx.desired.steps_for(ctx.rig, issue.id), issue.labels, DONE_LABEL in issue.labels)


@dataclass(frozen=True)
class Current:
    issue: Issue
    at: Progress


def current(ctx: WorkerContext) -> Current:
    """What ``gt mol current`` shows: the hooked issue and its step; an error when there is none."""
    issue = hook_of(ctx)
    if issue is None:
        raise UsageError(f"nothing is hooked to {ctx.role}: there is no molecule to work")
    if ctx.desired is None:
        raise UsageError(f"the town's manifests cannot be read, so the molecule of {issue.id} is not known: "
                         "fix them first")
    at = progress_of(ctx, issue)
    if at is None:
        raise UsageError(f"{issue.id} has no molecule: its convoy declares no steps for it "
                         "(run gt done once its work is committed)")
    return Current(issue, at)


@dataclass(frozen=True)
class Advanced:
    """A step finished: the next one, or (after the last) the issue reported done."""

    issue: Issue
    finished: int  # the number of the step just finished
    total: int
    commit: str  # the branch's head the step was finished at ('' unknown)
    next: Progress | None  # None: that was the last step, the issue is reported done
    mail: str = ""  # the WORKER_DONE mail, when the last step was finished


def next_step(ctx: WorkerContext, note: str = "", *, complete_last: bool) -> Advanced:
    """Finish the current step and move to the next, on the same worker and branch.

    ``gt mol next`` (``complete_last`` False) refuses at the last step; ``gt done --continue``
    (True) reports the issue done there, as ``gt done`` does. Refused while the worktree holds
    uncommitted changes: a step is finished by its commits.
    """
    issue, at = (found := current(ctx)).issue, found.at
    if at.done:
        raise UsageError(f"{issue.id} is reported done already (all {at.total} steps): the refinery merges it")
    if at.last:
        if not complete_last:
            raise UsageError(f"{issue.id} is at its last step ({at.total} of {at.total}): there is no next step; "
                             "once it is committed, gt done (or gt done --continue) reports the issue done")
        report = report_done(ctx, DoneStatus.completed, note)
        return Advanced(report.issue, at.current, at.total, _head(ctx), None, report.mail)
    require_committed(ctx, "gt done --continue" if complete_last else "gt mol next")
    commit = _head(ctx)
    notes = record_step(issue.notes, at.current, step_line(at.current, at.total, commit, at.text, note))
    stale = [x for x in step_labels(issue.labels) if x != step_label(at.current + 1)]
    issue = ctx.store.update(issue.id, add_labels=[step_label(at.current + 1)], remove_labels=stale, notes=notes)
    return Advanced(issue, at.current, at.total, commit, progress_of(ctx, issue))


def last_step_notes(ctx: WorkerContext, issue: Issue, note: str) -> str | None:
    """What ``gt done`` writes in a molecule issue's notes: its last step's line. None (notes left
    as they are) for an issue without a molecule, or whose molecule cannot be known; refused
    before the last step, since the refinery would merge half the workflow."""
    at = progress_of(ctx, issue)
    if at is None:
        return None
    if not at.last:
        raise UsageError(f"{issue.id} is at step {at.current} of {at.total} of its molecule: gt done --continue "
                         "finishes this step and gives you the next; gt done reports the issue done at the "
                         "last step only (gt mol current shows the step)")
    return record_step(issue.notes, at.current, step_line(at.current, at.total, _head(ctx), at.text, note))


def squash_steps(ctx: WorkerContext, now: datetime | None = None) -> tuple[Issue, Squashed]:
    """What ``gt mol squash`` does for a worker: fold the finished steps recorded in its hooked
    issue's notes (and any earlier digest) into one digest at their end; the rest stays."""
    issue = current(ctx).issue
    return _squash(ctx.store, issue, True, now)


def squash_issue(town: Path, issue_id: str, now: datetime | None = None) -> tuple[Issue, Squashed]:
    """``gt mol squash ISSUE``: the same for any issue of the town's rigs (the rig whose prefix it
    carries), whoever holds it: after the merge too, written as the Town's overseer."""
    from reconciler.clients.stores import default_stores
    from reconciler.loop.revision import load_applied

    _, desired = load_applied(town)
    rigs = [r for r in desired.rigs if issue_id.startswith(f"{r.prefix}-")]
    if not rigs:
        prefixes = ", ".join(f"{r.prefix}- ({r.name})" for r in desired.rigs) or "none"
        raise UsageError(f"{issue_id!r} carries the prefix of no rig (prefixes: {prefixes})")
    rig = max(rigs, key=lambda r: len(r.prefix))
    store = default_stores(desired, rig, actor=desired.town.overseer)
    issue = store.get(issue_id)
    return _squash(store, issue, bool(desired.steps_for(rig.name, issue_id)), now)


def _squash(store: IssueStore, issue: Issue, molecule: bool, now: datetime | None) -> tuple[Issue, Squashed]:
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    folded = squash(issue.notes, when)
    if folded is not None:
        return store.update(issue.id, notes=folded.notes), folded
    if DIGEST_HEAD in issue.notes:
        raise UsageError(f"nothing to squash: no step of {issue.id} was finished since the last squash")
    if not molecule:
        raise UsageError(f"{issue.id} has no molecule: its convoy declares no steps for it, and no step of it "
                         "was recorded")
    raise UsageError(f"nothing to squash: no step of {issue.id} is finished yet")


def _head(ctx: WorkerContext) -> str:
    """The worktree's head commit; '' when there is no worktree to read."""
    from reconciler.clients.git import branch_head

    if not ctx.worktree.is_dir():
        return ""
    try:
        return branch_head(str(ctx.worktree))
    except (ReconcilerError, ValueError):
        return ""
