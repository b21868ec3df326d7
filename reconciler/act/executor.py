"""Carry out a plan: each action's outcome is reported to the caller, never printed.

Starts are batched: worktrees and hooks are prepared one by one, then every
new session of the plan is handed to the runtime at once (local tmux creates and
stamps them in as few invocations as its command-length limit allows).
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.act import sessions
from reconciler.clients import git as gitops
from reconciler.clients import handoffs, history, merges
from reconciler.clients.beads import Issue, IssueStore
from reconciler.clients.faults import crash_point
from reconciler.clients.git import examine, worktree_branch
from reconciler.clients.runtime import Runtime, SessionStart
from reconciler.clients.stores import StoreFactory, post, town_store
from reconciler.errors import (
    HookConflict,
    MergeRefused,
    ReconcilerError,
    RemoteMoved,
    StoreError,
    TerminalError,
    TransientError,
)
from reconciler.model.actions import Action, Op, Plan
from reconciler.model.costs import MODEL_LABEL, Scope, budget_label, dollars
from reconciler.model.desired import DesiredState
from reconciler.model.mail import CONVOY_LABEL, ISSUE_LABEL, Envelope, MessageType, refinery_of, witness_of
from reconciler.model.observed import DONE_LABEL, HELD_STATUSES, MERGE_FAILED_LABEL, role_of
from reconciler.model.paths import TownPaths, is_url, rig_repo_path

log = logging.getLogger(__name__)
STARTS = (Op.spawn, Op.respawn, Op.restart)
# Actions whose failures are remembered, so the next passes back off rather than repeat them.
PUSH_ATTEMPTS = 3  # a remote that moves this many times in a row is tried again on a later pass
REMEMBERED = (*STARTS, Op.merge, Op.hook, Op.prune, Op.release, Op.stop, Op.clone)


def catch_up(strategy: str, branch: str) -> str:
    """How a worker brings the rig's branch into its own, as the refinery will land it: a rebase
    strategy replays the worker's commits, so a merge commit made to resolve would be dropped."""
    if strategy == "rebase":
        return f"rebase onto {branch} (git rebase {branch}; resolve, git add, git rebase --continue)"
    return f"merge {branch} (git merge {branch})"


class Result(str, enum.Enum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    stopped = "stopped"
    merged = "merged"
    failed = "failed"


@dataclass(frozen=True)
class Outcome:
    action: Action
    result: Result
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.result is Result.failed


class Executor:
    def __init__(self, desired: DesiredState, runtime: Runtime, stores: StoreFactory, *,
                 clock: Callable[[], float] = time.time,
                 on_event: Callable[[Outcome], None] | None = None,
                 on_progress: Callable[[Action, str], None] | None = None) -> None:
        self.desired, self.runtime, self.stores, self.clock = desired, runtime, stores, clock
        self.on_event = on_event or (lambda outcome: None)
        # What a long action (a clone) says while it runs: printed by gt apply, journalled by the controller.
        self.on_progress = on_progress or (lambda action, line: log.info("%s: %s", action.subject, line))
        self._stores: dict[str, IssueStore] = {}
        self._fetched: set[str] = set()  # remote rigs fetched for this pass's spawns

    def store(self, rig: str) -> IssueStore:
        if rig not in self._stores:
            self._stores[rig] = self.stores(self.desired, self.desired.rig(rig))
        return self._stores[rig]

    def apply(self, plan: Plan) -> list[Outcome]:
        outcomes: list[Outcome] = []

        def report(outcome: Outcome) -> None:
            log.info("action %s", outcome.result.value, extra={
                "gt_action": outcome.action.op.value, "gt_subject": outcome.action.subject,
                "gt_reason": outcome.action.reason, "gt_detail": outcome.detail})
            outcomes.append(outcome)
            self._remember(outcome)
            self.on_event(outcome)

        self._forget_finished_merges()
        starts = [a for a in plan.actions if a.op in STARTS]
        later = {Op.nudge: self._nudge, Op.help: self._help, Op.prompt: self._prompt,
                 Op.answer: self._answer, Op.announce: self._announce, Op.escalate: self._escalate}
        for action in plan.actions:
            if action.op not in STARTS and action.op not in later:
                report(self._guarded(self._one, action))
        for outcome in self._starts(starts):
            report(outcome)
        for action in plan.actions:
            if action.op in later:
                report(self._guarded(later[action.op], action))
        return outcomes

    def _forget_finished_merges(self) -> None:
        """A merge record whose issue is closed (a crash came between the close and forgetting
        it) has nothing left to resume."""
        rigs = {r.name for r in self.desired.rigs}
        for intent in merges.load(self.desired.root):
            if intent.rig not in rigs:
                continue
            try:
                closed = self.store(intent.rig).get(intent.issue).status == "closed"
            except ReconcilerError:
                continue
            if closed:
                merges.forget(self.desired.root, intent.rig, intent.issue)

    def _remember(self, outcome: Outcome) -> None:
        """Failures are kept so the planner backs off; a success forgets them."""
        action = outcome.action
        if action.op not in REMEMBERED or not (action.issue or action.op is Op.clone):
            return
        try:
            if outcome.failed:
                history.record_failure(self.desired.root, action.rig, action.worker, action.issue,
                                       action.op.value, action.spec.fingerprint if action.spec else "",
                                       outcome.detail, self.clock())
            else:
                history.clear_failure(self.desired.root, action.rig, action.issue, action.op.value)
        except OSError as exc:
            log.warning("failure history not written: %s", exc)

    def _guarded(self, fn: Callable[[Action], Outcome], action: Action) -> Outcome:
        """One failed action never stops the others."""
        try:
            return fn(action)
        except ReconcilerError as exc:
            return Outcome(action, Result.failed, str(exc))
        except OSError as exc:
            return Outcome(action, Result.failed, f"{type(exc).__name__}: {exc}")

    # -- one at a time ---------------------------------------------------------

    def _one(self, action: Action) -> Outcome:
        role = role_of(action.rig, action.worker)
        if action.op is Op.stop:
            self.runtime.stop(action.session)
            if action.release:
                self.store(action.rig).unhook(action.issue, role)
                return Outcome(action, Result.stopped, f"hook on {action.issue} released")
            return Outcome(action, Result.stopped, "worktree and hook kept" if action.issue else "")
        if action.op is Op.release:
            self.store(action.rig).unhook(action.issue, role)
            return Outcome(action, Result.updated, f"{action.issue} back to open")
        if action.op is Op.hook:
            self._hook(action)
            return Outcome(action, Result.updated, f"{action.issue} hooked to {role}")
        if action.op is Op.merge:
            return self._merge(action)
        if action.op is Op.clone:
            rig = self.desired.rig(action.rig)
            path = rig_repo_path(self.desired, rig)
            gitops.clone(rig.repo, path, rig.branch, lambda line: self.on_progress(action, line))
            return Outcome(action, Result.created, f"cloned {rig.repo} into {path}")
        if action.op is Op.quarantine:
            assert action.spec is not None
            history.quarantine(self.desired.root, action.rig, action.worker, action.issue,
                               action.spec.fingerprint, action.crash)
            return Outcome(action, Result.updated, "quarantined; hook and worktree kept")
        if action.op is Op.prune:
            return self._prune(action)
        raise TerminalError(f"unknown action {action.op}")

    def _hook(self, action: Action) -> Issue:
        """Compare-and-set the hook, then read it back: a hook is only trusted once seen."""
        role = role_of(action.rig, action.worker)
        store = self.store(action.rig)
        store.hook(action.issue, role)
        seen = store.get(action.issue)
        if seen.assignee != role or seen.status not in HELD_STATUSES:
            raise StoreError(f"hook on {action.issue} did not land (reads {seen.status}, {seen.assignee})")
        return seen

    def _merge(self, action: Action) -> Outcome:
        """Land the worker's branch and close its issue, resumable after a crash at any point.

        What is landed is recognised on the rig's branch (the head itself, or a commit whose
        trailers name the issue and the head), so a retry finishes the close instead of merging
        again; a merge made but not yet on the branch (recorded in .gt/merges.json) is moved
        onto it as it was made.
        """
        assert action.spec is not None
        spec, root = action.spec, self.desired.root
        rig = self.desired.rig(action.rig)
        store = self.store(action.rig)
        issue = store.get(action.issue)
        head = gitops.branch_head(spec.worktree)
        recorded = merges.find(root, action.rig, action.issue)
        landed = gitops.landed_commit(spec.repo, rig.branch, issue.id, head, ancestry=recorded is not None)
        if landed is None:
            landed = self._resume_landing(action, head) or self._land(action, issue.title)
            crash_point("merge:advanced")
            head = gitops.branch_head(spec.worktree)  # a commit made meanwhile is not landed yet
            if gitops.landed_commit(spec.repo, rig.branch, issue.id, head, ancestry=True) is None:
                return Outcome(action, Result.updated, f"{spec.branch} landed at {landed[:12]}; it moved since: "
                                                       "the new commits land next")
        if issue.status != "closed":
            store.close(action.issue, f"merged as {landed[:12]} into {rig.branch}")
            self._mail(action, MessageType.MERGED, f"MERGED: {action.issue} {issue.title}",
                       f"{spec.branch} landed on {rig.branch} as {landed[:12]}.")
        crash_point("merge:closed")
        merges.forget(root, action.rig, action.issue)
        detail = f"{spec.branch} -> {rig.branch} at {landed[:12]}"
        try:  # merged and closed: a session that will not stop is reported, not a failed merge
            self.runtime.stop(action.session)
        except TerminalError as exc:
            detail += f"; session not stopped: {exc}"
        crash_point("merge:stopped")
        kept = gitops.remove_worktree(spec.worktree, spec.repo)
        crash_point("merge:removed")
        if kept:
            return Outcome(action, Result.merged, f"{detail}; worktree and branch kept: {kept}")
        # Checked here, not assumed: a branch goes only once its head is on the rig's branch.
        if gitops.landed_commit(spec.repo, rig.branch, issue.id, head, ancestry=True) is not None:
            kept = gitops.delete_branch(spec.repo, spec.branch, head)
        else:
            kept = f"{head[:12]} is not on {rig.branch}"
        return Outcome(action, Result.merged, detail + (f"; branch kept: {kept}" if kept else ""))

    def _resume_landing(self, action: Action, head: str) -> str | None:
        """A merge made before a crash, whose commit the rig's branch does not have yet: move the
        branch to it, if the branch is still where the merge was made on."""
        assert action.spec is not None
        intent = merges.find(self.desired.root, action.rig, action.issue)
        rig = self.desired.rig(action.rig)
        if intent is None or not intent.landed or head not in (intent.head, intent.landed) \
                or (intent.target, intent.strategy) != (rig.branch, rig.refinery.strategy):
            return None
        if rig.refinery.push and is_url(rig.repo):
            # Only what the remote took counts: a merge whose push never happened is made again.
            try:
                gitops.fetch(action.spec.repo, rig.branch)  # fast-forwards the local branch to it
            except TransientError:
                return None
            return intent.landed if gitops.contains(action.spec.repo, rig.branch, intent.landed) else None
        try:
            gitops.advance(action.spec.repo, intent.target, intent.base, intent.landed)
        except (TerminalError, TransientError):
            return None  # the branch moved on since: merge again on top of it
        return intent.landed

    def _land(self, action: Action, title: str) -> str:
        assert action.spec is not None
        spec, root = action.spec, self.desired.root
        rig = self.desired.rig(action.rig)
        message = f"{action.issue}: {title}\n\nWorked by {role_of(action.rig, action.worker)} on {spec.branch}."

        def record(landing: gitops.Landing) -> None:
            merges.record(root, merges.MergeIntent(
                rig=action.rig, issue=action.issue, worker=action.worker, branch=spec.branch,
                head=landing.head, target=rig.branch, base=landing.base, strategy=rig.refinery.strategy,
                landed=landing.new))
            crash_point("merge:recorded")

        push = rig.refinery.push and is_url(rig.repo)

        def publish(landing: gitops.Landing) -> None:
            gitops.push(spec.repo, landing.new, rig.branch)

        attempt = 1
        try:
            while True:
                if push:
                    gitops.fetch(spec.repo, rig.branch)  # merge onto what the remote has now
                try:
                    return gitops.land(spec, rig.refinery.strategy, rig.refinery.gates, message, action.issue,
                                       record, scratch=TownPaths(root).scratch(action.rig, action.issue),
                                       gate_timeout=rig.refinery.gate_timeout, publish=publish if push else None).new
                except RemoteMoved as exc:  # never forced: fetch, merge and gate again on the new tip
                    self.on_progress(action, f"{exc}; attempt {attempt} of {PUSH_ATTEMPTS}")
                    if attempt == PUSH_ATTEMPTS:
                        raise
                    attempt += 1
        except TransientError:
            raise  # the worker's branch or the target moved: landed whole on a later pass
        except TerminalError as exc:
            # Take the done mark off so the next pass does not retry the same failure.
            self.store(action.rig).update(action.issue, add_labels=[MERGE_FAILED_LABEL], remove_labels=[DONE_LABEL])
            self._mail(action, MessageType.MERGE_FAILED, f"MERGE_FAILED: {action.issue} {title}",
                       f"{spec.branch} did not land on {rig.branch}:\n{exc}")
            self._rework(action, title, exc.details if isinstance(exc, MergeRefused) else str(exc))
            raise TerminalError(f"MERGE_FAILED {action.issue}: {exc}") from exc

    def _rework(self, action: Action, title: str, why: str) -> None:
        """Send the work back to the same worker (it keeps the hook), or after the rig's
        ``maxReworks`` requests, ask the overseer for HELP instead."""
        assert action.spec is not None
        rig = self.desired.rig(action.rig)
        try:
            sent = [m for m in self.mail_store().list(label=f"{ISSUE_LABEL}{action.issue}")
                    if Envelope.of(m.labels).kind is MessageType.REWORK_REQUEST]
            about = [f"{ISSUE_LABEL}{action.issue}"]
            if len(sent) >= rig.refinery.max_reworks:
                post(self.mail_store(), self.desired.town.overseer, Envelope(refinery_of(action.rig), MessageType.HELP),
                     f"HELP: {action.issue} failed to merge {len(sent) + 1} times",
                     f"{action.issue} {title}, worked by {action.subject} on {action.spec.branch}, "
                     f"did not land on {rig.branch} after {len(sent)} reworks:\n{why}\n\n"
                     f"attach: gt attach {action.subject}", about)
                return
            post(self.mail_store(), role_of(action.rig, action.worker),
                 Envelope(refinery_of(action.rig), MessageType.REWORK_REQUEST),
                 f"REWORK_REQUEST: {action.issue} {title}",
                 f"Your branch {action.spec.branch} did not land on {rig.branch}:\n{why}\n\n"
                 f"In your worktree: {catch_up(rig.refinery.strategy, rig.branch)}, fix what "
                 f"conflicts or what the gate says, commit, then run gt done again.", about)
        except (ReconcilerError, OSError):
            log.warning("rework mail not sent", exc_info=True)

    def _prune(self, action: Action) -> Outcome:
        """Remove a worktree the plan found landed; checked again here, and never with changes in it."""
        rig = self.desired.rig(action.rig)
        path = Path(TownPaths(self.desired.root).worktree(action.rig, action.worker))
        repo = Path(rig_repo_path(self.desired, rig))
        branch = worktree_branch(path, repo)
        if branch is None:
            raise TerminalError(f"{path} is not a worktree of {repo}; left alone")
        now = examine(path, repo, branch, rig.branch)
        if not now.removable:
            raise TerminalError(f"{path} holds {now.holds()}; kept")
        kept = gitops.remove_worktree(str(path), str(repo))
        if kept:
            raise TerminalError(f"{path} kept: {kept}")
        return Outcome(action, Result.stopped, f"removed {path.name} ({branch}, landed on {rig.branch})")

    def _nudge(self, action: Action) -> Outcome:
        assert action.spec is not None
        delivered = sessions.nudge(self.runtime, action.session, action.spec.nudge)
        count = int(dict(action.after).get("nudges", "1"))
        self.runtime.stamp(action.session, {"nudges": str(count), "last_nudge": f"{self.clock():.0f}"})
        if not delivered:
            return Outcome(action, Result.failed, "typed the nudge but Enter was not confirmed")
        return Outcome(action, Result.updated, f"nudge {count} delivered")

    def _prompt(self, action: Action) -> Outcome:
        """Type the start prompt into a pane that showed its agent ready; stamp it so it is typed once."""
        assert action.spec is not None
        delivered = sessions.nudge(self.runtime, action.session, action.spec.prompt)
        self.runtime.stamp(action.session, {"prompted": f"{self.clock():.0f}"})
        if not delivered:
            return Outcome(action, Result.failed, "typed the start prompt but Enter was not confirmed")
        return Outcome(action, Result.updated, "start prompt delivered")

    def _answer(self, action: Action) -> Outcome:
        """Send the keys that answer a dialog the agent's manifest knows."""
        count = int(dict(action.after).get("answers", "1"))
        self.runtime.send_keys(action.session, action.keys)
        self.runtime.stamp(action.session, {"answers": str(count)})
        return Outcome(action, Result.updated, f"answered with {' '.join(action.keys)}")

    def _help(self, action: Action) -> Outcome:
        """Mail HELP to the overseer once; the stamp stops a second mail for this session."""
        town = self.desired.town
        mail = post(self.mail_store(), town.overseer, Envelope(witness_of(action.rig), MessageType.HELP),
                    f"HELP: {action.subject} is stuck on {action.issue}",
                    f"{action.why}\n\nsession: {action.session}\nattach: gt attach {action.subject}")
        self.runtime.stamp(action.session, {"help": mail.id})
        return Outcome(action, Result.updated, f"HELP mail {mail.id} to {town.overseer}")

    def _announce(self, action: Action) -> Outcome:
        """CONVOY_LANDED to the overseer: the convoy (in ``action.issue``) has every issue closed."""
        convoy = next(c for c in self.desired.convoys if c.name == action.issue)
        town = self.desired.town
        mail = post(self.mail_store(), town.overseer, Envelope(refinery_of(convoy.rig), MessageType.CONVOY_LANDED),
                    f"CONVOY_LANDED: {convoy.name} ({convoy.title})",
                    f"Every issue of convoy {convoy.name} on rig {convoy.rig} is merged and closed: "
                    f"{', '.join(convoy.issues)}.", [f"{CONVOY_LABEL}{convoy.name}"])
        return Outcome(action, Result.updated, f"CONVOY_LANDED mail {mail.id} to {town.overseer}")

    def _escalate(self, action: Action) -> Outcome:
        """HELP to the overseer: a budget (``action.session``: convoy/NAME or rig/NAME) is spent. The
        mail carries the budget's label, which is what keeps it from being sent twice."""
        scope = Scope(action.session.partition("/")[0])
        specs = self.desired.convoys if scope is Scope.convoy else self.desired.rigs
        amount = next((s.budget for s in specs if s.name == action.issue), None)
        if amount is None:
            raise TerminalError(f"{action.session} declares no budget any more; no HELP sent")
        town = self.desired.town
        mail = post(self.mail_store(), town.overseer, Envelope(witness_of(action.rig), MessageType.HELP),
                    f"HELP: the budget of {scope.value} {action.issue} is spent ({dollars(amount)})",
                    f"{action.why}.\n\nRaise spec.budget in its manifest to let gt start more, or leave it: "
                    "workers already at work go on.",
                    [budget_label(scope, action.issue, amount)])
        return Outcome(action, Result.updated, f"HELP mail {mail.id} to {town.overseer}")

    def _mail(self, action: Action, kind: MessageType, subject: str, body: str) -> None:
        """Tell the worker what the refinery did with its branch. Best effort: a mail that cannot be
        written (a full disk) never undoes or fails a merge."""
        try:
            post(self.mail_store(), role_of(action.rig, action.worker), Envelope(refinery_of(action.rig), kind),
                 subject, body)
        except (ReconcilerError, OSError):
            log.warning("refinery mail not sent", exc_info=True)

    def mail_store(self) -> IssueStore:
        """The town's own store (.beads/ at the town root), where mail lives."""
        return town_store(self.desired)

    # -- starts, batched -------------------------------------------------------

    def _starts(self, actions: list[Action]) -> list[Outcome]:
        if not actions:
            return []
        outcomes: list[Outcome] = []
        prepared: list[Action] = []
        starts: list[SessionStart] = []
        for action in actions:
            if action.reason == "crashed" and action.spec is not None:
                history.record_crash(self.desired.root, action.rig, action.worker, action.issue,
                                     action.spec.fingerprint, self.clock(), action.crash)
            assert action.spec is not None
            start = sessions.session_start(action.spec, uuid.uuid4().hex[:12])
            refused = self.runtime.refuse(start)
            if refused is not None:  # before a hook or a worktree is made for it
                outcomes.append(Outcome(action, Result.failed, f"not started: {refused}"))
                continue
            try:
                if not action.on_town_session:  # a town session has no worktree and no hook
                    self._prepare(action)
            except (ReconcilerError, OSError) as exc:
                outcomes.append(Outcome(action, Result.failed, str(exc)))
                continue
            prepared.append(action)
            starts.append(start)
        failed = self.runtime.start(starts)
        for action in prepared:
            assert action.spec is not None
            if action.session in failed:
                outcomes.append(Outcome(action, Result.failed, failed[action.session]))
                continue
            result = Result.updated if action.op is Op.restart else Result.created
            detail = f"{action.spec.model} on {action.spec.branch}" if not action.on_town_session else \
                f"{action.session} in {action.spec.worktree}"
            outcomes.append(Outcome(action, result, detail))
            handoffs.forget(self.desired.root, action.rig, action.worker)  # its note reached this session
        return outcomes

    def _prepare(self, action: Action) -> None:
        assert action.spec is not None
        rig = self.desired.rig(action.rig)
        if action.op is Op.spawn and is_url(rig.repo) and rig.name not in self._fetched:
            self._fetched.add(rig.name)  # once a pass: the spawns after the first branch from the same fetch
            try:  # branch from what the remote has now
                gitops.fetch(action.spec.repo, rig.branch)
            except TransientError as exc:  # offline: branch from the last fetch rather than not at all
                self.on_progress(action, f"{exc}; branching from the last fetch")
        gitops.ensure_worktree(action.spec)
        if action.op is Op.spawn:
            try:
                seen = self._hook(action)
            except HookConflict as exc:
                raise TerminalError(f"{exc}; not spawning") from exc
        else:
            seen = self.store(action.rig).get(action.issue)
            if seen.assignee != role_of(action.rig, action.worker) or seen.status not in HELD_STATUSES:
                raise TerminalError(f"{action.issue} is no longer hooked to {action.worker}; not starting")
        self._record_model(action, seen)

    def _record_model(self, action: Action, seen: Issue) -> None:
        """Write on the issue which model its worker starts with, so what it cost is priced at that
        model once it closes, whatever the routing says by then. Best effort: a start never fails
        for want of its record."""
        assert action.spec is not None
        label = f"{MODEL_LABEL}{action.spec.model}"
        stale = [x for x in seen.labels if x.startswith(MODEL_LABEL) and x != label]
        if label in seen.labels and not stale:
            return
        try:
            self.store(action.rig).update(action.issue, add_labels=[label], remove_labels=stale)
        except (ReconcilerError, OSError):
            log.warning("model not recorded on the issue", exc_info=True, extra={"gt_subject": action.subject})
