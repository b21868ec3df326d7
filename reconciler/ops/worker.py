"""A worker as the worker-side verbs see it (gt prime, gt hook, gt done).

From inside a worker session the GT_* environment says who it is; the overseer
names one as RIG/WORKER. Either way the rig's store is opened the way the town's
manifests say (embedded file or bd), so a worker never writes behind bd's back.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.clients.beads import Issue, IssueStore

if TYPE_CHECKING:
    from reconciler.model.desired import DesiredState
    from reconciler.model.observed import Handoff
    from reconciler.ops.mail import Message
from reconciler.errors import ReconcilerError, UsageError
from reconciler.model.mail import MessageType, refinery_of
from reconciler.model.observed import DONE_LABEL, HELD_STATUSES, MERGE_FAILED_LABEL, WORKER_NAME, role_of
from reconciler.model.paths import TownPaths


@dataclass(frozen=True)
class WorkerContext:
    town: Path
    rig: str
    worker: str
    worktree: Path
    base_branch: str
    store: IssueStore
    mail: IssueStore | None
    session_issue: str = ""  # the issue the session was started for (GT_ISSUE), when inside one
    inside: bool = False  # called from the worker's own session
    overseer: str = "overseer"  # the Town's address for HELP
    socket: str = ""  # the town's tmux socket; empty when the manifests could not be read
    desired: DesiredState | None = None  # the applied manifests; None when they could not be read

    @property
    def role(self) -> str:
        return role_of(self.rig, self.worker)


def inside_worker(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get("GT_RIG") and env.get("GT_WORKER") and env.get("GT_TOWN"))


def inside_coordinator(env: Mapping[str, str] | None = None) -> bool:
    """Called from the coordinator's session, whose environment names its role."""
    env = os.environ if env is None else env
    return env.get("GT_ROLE") == "coordinator" and bool(env.get("GT_TOWN"))


def parse_target(target: str) -> tuple[str, str]:
    rig, _, worker = target.partition("/")
    if not rig or not WORKER_NAME.fullmatch(worker or ""):
        raise UsageError(f"{target!r}: expected RIG/WORKER, e.g. demo/nux")
    return rig, worker


def context(target: str | None, town: Path | None, env: Mapping[str, str] | None = None) -> WorkerContext:
    """The worker named by ``target`` (RIG/WORKER), else the one whose session this is."""
    env = os.environ if env is None else env
    inside = target is None
    if target is None:
        if not inside_worker(env):
            raise UsageError("not inside a gt worker session (GT_RIG, GT_WORKER, GT_TOWN unset): "
                             "name one as RIG/WORKER")
        rig_name, worker = env["GT_RIG"], env["GT_WORKER"]
        town = Path(env["GT_TOWN"])
    else:
        rig_name, worker = parse_target(target)
        if town is None:
            raise UsageError("no town: pass --town DIR")
    return _open(town, rig_name, worker, env if inside else {}, inside)


def _open(town: Path, rig_name: str, worker: str, env: Mapping[str, str], inside: bool) -> WorkerContext:
    from reconciler.clients.beads.embedded import JsonlStore
    from reconciler.clients.stores import default_stores, town_store
    from reconciler.loop.revision import load_applied

    worktree = Path(TownPaths(str(town)).worktree(rig_name, worker))
    try:
        _, desired = load_applied(town)
    except ReconcilerError:
        if not env.get("GT_BEADS_DIR"):
            raise
        # A worker keeps working while someone fixes a manifest: its session says where its store is.
        beads = Path(env["GT_BEADS_DIR"])
        prefix = env.get("GT_ISSUE", "x-").rsplit("-", 1)[0]
        return WorkerContext(town, rig_name, worker, worktree, env.get("GT_BASE_BRANCH", "main"),
                             JsonlStore(beads / "issues.jsonl", prefix, actor=role_of(rig_name, worker)),
                             None, env.get("GT_ISSUE", ""), inside)
    rig = next((r for r in desired.rigs if r.name == rig_name), None)
    if rig is None:
        declared = ", ".join(r.name for r in desired.rigs) or "none"
        raise UsageError(f"rig {rig_name!r} is not declared (declared rigs: {declared})")
    store = default_stores(desired, rig, actor=role_of(rig_name, worker))
    mail = town_store(desired, actor=role_of(rig_name, worker))
    return WorkerContext(town, rig_name, worker, worktree, rig.branch, store, mail,
                         env.get("GT_ISSUE", ""), inside, desired.town.overseer, desired.socket, desired)


def hook_of(ctx: WorkerContext) -> Issue | None:
    """The issue on the worker's hook: the one its session was made for, else the first held."""
    held = ctx.store.list(assignee=ctx.role, status=HELD_STATUSES)
    if not held:
        return None
    return next((i for i in held if i.id == ctx.session_issue), None) or min(held, key=Issue.sort_key)


def take_hook(ctx: WorkerContext) -> Issue | None:
    """What ``gt hook`` does: show the hook; from inside the worker, hooked -> in_progress."""
    issue = hook_of(ctx)
    if issue is not None and ctx.inside and issue.status == "hooked":
        issue = ctx.store.update(issue.id, status="in_progress")
    return issue


class DoneStatus(enum.StrEnum):
    completed = "completed"  # ready to merge
    escalated = "escalated"  # stuck: HELP to the overseer, the hook kept
    deferred = "deferred"  # not now: the hook released, with the reason


@dataclass(frozen=True)
class DoneReport:
    issue: Issue
    status: DoneStatus
    mail: str  # the id of the message sent


def report_done(ctx: WorkerContext, status: DoneStatus = DoneStatus.completed, message: str = "") -> DoneReport:
    """What ``gt done`` does from inside a worker. ``completed`` refuses while the worktree holds
    uncommitted changes (the refinery merges commits only), labels the issue ready to merge and
    mails WORKER_DONE to the rig's refinery; ``escalated`` mails HELP to the overseer and keeps the
    hook; ``deferred`` gives the issue back (status deferred, no assignee) with the reason.
    An issue with a molecule is done only at its last step, which is recorded in its notes."""
    from reconciler.ops.mail import send
    from reconciler.ops.molecule import last_step_notes

    issue = hook_of(ctx)
    if issue is None:
        raise UsageError(f"nothing is hooked to {ctx.role}: nothing to report done")
    if ctx.mail is None:
        raise UsageError("the town's mail store cannot be opened: fix the manifests first")
    note = message.strip()
    if status is DoneStatus.completed:
        require_committed(ctx)
        issue = ctx.store.update(issue.id, add_labels=[DONE_LABEL], remove_labels=[MERGE_FAILED_LABEL],
                                 notes=last_step_notes(ctx, issue, note))
        sent = send(ctx.mail, to=refinery_of(ctx.rig), sender=ctx.role, kind=MessageType.WORKER_DONE,
                    subject=f"WORKER_DONE: {issue.id} {issue.title}", body=note)
    elif status is DoneStatus.escalated:
        overseer = ctx.overseer
        sent = send(ctx.mail, to=overseer, sender=ctx.role, kind=MessageType.HELP,
                    subject=f"HELP: {ctx.role} needs a hand with {issue.id}",
                    body=f"{note or '(no message)'}\n\nissue: {issue.id} {issue.title}\n"
                         f"attach: gt attach {ctx.rig}/{ctx.worker}")
    else:
        if not note:
            raise UsageError("--status deferred needs --message: the reason, for whoever picks it up")
        issue = ctx.store.update(issue.id, status="deferred", assignee=None, remove_labels=[DONE_LABEL])
        sent = send(ctx.mail, to=ctx.overseer, sender=ctx.role, kind=MessageType.MESSAGE,
                    subject=f"deferred: {issue.id} {issue.title}", body=note)
    return DoneReport(issue, status, sent.id)


def require_committed(ctx: WorkerContext, again: str = "gt done") -> None:
    """Refuse while the worktree holds uncommitted changes (named): the refinery merges commits only."""
    from reconciler.clients.git import dirty_paths

    dirty = dirty_paths(ctx.worktree) if ctx.worktree.is_dir() else ()
    if dirty:
        shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        raise UsageError(f"{ctx.worktree} has uncommitted changes ({shown}): commit them (or remove "
                         f"them), then run {again} again; the refinery merges commits only")


def unread_mail(ctx: WorkerContext) -> list[Message]:
    from reconciler.ops.mail import inbox

    if ctx.mail is None:
        return []
    try:
        return inbox(ctx.mail, ctx.role)
    except OSError:
        return []


def hand_off(ctx: WorkerContext, message: str) -> Handoff:
    """What ``gt handoff`` does: ask for a fresh session on the same hook, worktree and branch, the
    message after its start prompt (a context that filled up), then end the current one. The next
    pass of the controller (or gt apply) starts it again; the note reaches that session only."""
    from reconciler.clients import handoffs
    from reconciler.clients.tmux_runtime import TmuxRuntime
    from reconciler.model.observed import Handoff, session_name

    issue = hook_of(ctx)
    if issue is None:
        raise UsageError(f"nothing is hooked to {ctx.role}: there is no work to hand off")
    if not ctx.socket:
        raise UsageError("the town's manifests cannot be read, so its sessions cannot be found: fix them first")
    request = Handoff(ctx.rig, ctx.worker, issue.id, message.strip())
    handoffs.request(ctx.town, request)
    TmuxRuntime(ctx.socket).stop(session_name(ctx.rig, ctx.worker))  # from inside, this ends us too
    return request
