"""The planner: desired state + observed state + the time -> a plan.

A purely computational function with no side effects: no I/O, no clock, no
randomness. The same inputs give the same plan, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from reconciler.model.actions import PHASES, Action, Level, Note, Op, Plan, WorkerCondition, WorkerSpec
from reconciler.model.desired import ConvoySpec, DesiredState, RigSpec
from reconciler.model.observed import (
    DONE_STATUSES,
    HELD_STATUSES,
    MERGE_FAILED_LABEL,
    CrashRecord,
    FailureRecord,
    ObservedIssue,
    ObservedRig,
    ObservedSession,
    ObservedState,
    ObservedWorktree,
    held_hooks,
    role_of,
    session_name,
    worker_of,
)
from reconciler.model.reasons import RANK, Reason
from reconciler.model.swarm import members, worked
from reconciler.plan.budgets import Ledger
from reconciler.plan.live import LivePlanner, ago, as_of
from reconciler.plan.town import TownPlanner
from reconciler.plan.workers import next_worker_name, worker_spec


@dataclass
class Draft:
    actions: list[tuple[int, Action]] = field(default_factory=list)
    notes: list[tuple[int, Note]] = field(default_factory=list)
    spawned: int = 0
    requeue_after: float | None = None
    ledger: Ledger | None = None  # the declared budgets, charged as starts are planned

    def act(self, rank: int, action: Action) -> None:
        self.actions.append((rank, action))

    def note(self, rank: int, note: Note) -> None:
        self.notes.append((rank, note))

    def requeue(self, seconds: float) -> None:
        """Something becomes due in ``seconds``: the next pass should come by then."""
        seconds = max(seconds, 0.0)
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds


def plan(
    desired: DesiredState,
    observed: ObservedState,
    now: float,
    *,
    prune: bool = False,
    max_spawns: int | None = None,
    backoff: bool = True,
) -> Plan:
    """Every action that would make ``observed`` match ``desired`` at time ``now``.

    With ``backoff`` (the controller), an action that failed lately waits out a growing
    delay; without it (gt apply, asked by a person), it is tried again at once.
    """
    draft = Draft(ledger=Ledger.of(desired, observed) if desired.budgeted else None)
    claimed: set[str] = set()
    for rank, rig in enumerate(desired.rigs):
        sessions = {s.stamps.worker: s for s in observed.sessions
                    if s.stamps.rig == rig.name and s.stamps.worker}
        claimed.update(s.name for s in sessions.values())
        obs = observed.rig(rig.name)
        if not obs.cloned:
            RigPlanner(desired, observed, rig, obs, sessions, now, draft, rank, max_spawns, backoff).clone()
            continue
        if obs.error is not None:
            draft.note(rank, Note(rig.name, Reason.rig_unreadable, f"nothing done on this rig: {obs.error}",
                                  level=Level.error))
            continue
        RigPlanner(desired, observed, rig, obs, sessions, now, draft, rank, max_spawns, backoff).run()
    _announce_landed(desired, observed, draft)
    if draft.ledger is not None:
        for rank, action in draft.ledger.escalations(desired, observed):
            draft.act(rank, action)
    orphan_rank = len(desired.rigs)  # the town's own sessions and its orphans come after the rigs
    claimed |= TownPlanner(desired, observed, now, draft, orphan_rank, max_spawns).run()
    for s in sorted(observed.sessions, key=lambda s: s.name):
        if s.name in claimed:
            continue
        why = "session of the town that no manifest describes"
        if prune:
            draft.act(orphan_rank, Action(Op.stop, s.stamps.rig, s.stamps.worker, s.stamps.issue,
                                          s.name, Reason.orphan, why + "; --prune stops it"))
        else:
            draft.note(orphan_rank, Note(s.stamps.rig, Reason.orphan, why + " (gt apply --prune stops it)",
                                         s.stamps.worker, s.stamps.issue, s.name, Level.warn))
    actions = sorted(draft.actions, key=lambda ra: (ra[0], PHASES[ra[1].op]))
    notes = sorted(draft.notes, key=lambda rn: rn[0])
    return Plan(tuple(a for _, a in actions), tuple(n for _, n in notes),
                requeue_after=draft.requeue_after, conditions=worker_conditions(draft),
                budgets=draft.ledger.states() if draft.ledger else ())


def _announce_landed(desired: DesiredState, observed: ObservedState, draft: Draft) -> None:
    """A convoy whose every issue is closed has landed: the overseer hears it once (the mail
    itself is the record, so a restarted controller does not say it twice)."""
    if observed.announced is None:
        return
    ranks = {r.name: n for n, r in enumerate(desired.rigs)}
    for convoy in desired.convoys:
        seen = observed.rig(convoy.rig)
        if convoy.name in observed.announced or seen.error is not None or convoy.rig not in ranks:
            continue
        issues = [seen.issue(i) for i in members(convoy, seen.issues)]  # a swarm's children too
        if issues and all(i is not None and i.status == "closed" for i in issues):
            draft.act(ranks[convoy.rig], Action(
                Op.announce, convoy.rig, "", convoy.name, f"convoy/{convoy.name}", Reason.landed,
                f"every issue of convoy {convoy.name} is merged and closed: CONVOY_LANDED to "
                f"{desired.town.overseer}"))


def worker_conditions(draft: Draft) -> tuple[WorkerCondition, ...]:
    """Each worker's most telling condition among what the plan does and notes; one scan."""
    best: dict[tuple[str, str], tuple[int, WorkerCondition]] = {}
    found: list[tuple[tuple[str | None, Reason], str, str, str]] = [
        ((a.op.value, a.reason), a.rig, a.worker, a.why) for _, a in draft.actions]
    found += [((None, n.reason), n.rig, n.worker, n.why) for _, n in draft.notes]
    for key, rig, worker, why in found:
        ranked = RANK.get(key)
        if ranked is None or not worker:
            continue
        rank, condition = ranked
        if (rig, worker) not in best or rank < best[(rig, worker)][0]:
            best[(rig, worker)] = (rank, WorkerCondition(rig, worker, condition, why))
    return tuple(c for _, c in best.values())


class RigPlanner(LivePlanner):
    def __init__(self, desired: DesiredState, observed: ObservedState, rig: RigSpec, obs: ObservedRig,
                 sessions: dict[str, ObservedSession], now: float, draft: Draft, rank: int,
                 max_spawns: int | None, backoff: bool = True) -> None:
        self.desired, self.observed, self.rig, self.obs = desired, observed, rig, obs
        self.backoff = backoff
        self.sessions = sessions
        self.now, self.draft, self.rank, self.max_spawns = now, draft, rank, max_spawns
        self.routing = desired.routing_for(rig)
        # Times past now (the clock was stepped back) count as now: a backoff never lasts a day.
        self.crashes: dict[str, CrashRecord] = {c.worker: replace(c, times=as_of(c.times, now))
                                                for c in observed.crashes if c.rig == rig.name}
        self.failures: dict[tuple[str, str], FailureRecord] = {
            (f.op, f.issue): replace(f, times=as_of(f.times, now)) for f in observed.failures if f.rig == rig.name}
        self.convoys = desired.convoys_of(rig.name)
        # Which convoy lists an issue (a swarm's children are its convoy's); paused convoys keep
        # their running workers.
        self.listed = worked(desired, rig.name, obs.issues)
        self.held, self.extra_hooks = held_hooks(rig.name, obs.issues, sessions)
        # Issues whose live session lost its hook: that session keeps them, nobody else spawns.
        self.session_issues = {s.stamps.issue for w, s in sessions.items()
                               if s.stamps.issue and w not in self.held}
        self.worktrees = {w.worker: w for w in obs.worktrees}
        self.released: set[str] = set()  # issues this plan unhooks because their worker cannot run
        self.queued: dict[str, str] = {}  # issue -> worker, for the issues reported done

    # -- helpers -------------------------------------------------------------

    def act(self, op: Op, worker: str, issue: str, reason: Reason, why: str, **extra: object) -> None:
        action = Action(op, self.rig.name, worker, issue, session_name(self.rig.name, worker),
                        reason, why, **extra)  # type: ignore[arg-type]
        self.draft.act(self.rank, action)

    def note(self, reason: Reason, why: str, worker: str = "", issue: str = "",
             level: Level = Level.info) -> None:
        session = session_name(self.rig.name, worker) if worker else ""
        self.draft.note(self.rank, Note(self.rig.name, reason, why, worker, issue, session, level))

    @property
    def parked(self) -> bool:
        return self.rig.state == "parked"

    def spec(self, worker: str, issue: ObservedIssue) -> WorkerSpec:
        """The worker as the manifests describe it, its program as found (or as declared)."""
        return worker_spec(self.desired, self.rig, worker, issue, self.program_path,
                           self.observed.handoff(self.rig.name, worker, issue.id))

    def program_path(self, agent: str) -> str | None:
        found = self.observed.program(self.rig.name, agent)
        return found.path if found else None

    def startable(self, worker: str, issue: ObservedIssue, op: Op) -> WorkerSpec | None:
        """The spec to start, or None (with the note saying why) when it cannot start now."""
        spec = self.spec(worker, issue)
        found = self.observed.program(self.rig.name, spec.agent)
        if found is not None and found.path is None:
            self.note(Reason.agent_missing,
                      f"rig {self.rig.name}, model {spec.model}, agent {spec.agent}: program "
                      f"{found.program!r} is not on the workers' PATH ({found.search}); not starting "
                      f"{issue.id}", worker if op is not Op.spawn else "", issue.id, Level.error)
            return None
        if self.backing_off(op, worker, issue.id, spec.fingerprint):
            return None
        return spec

    def backing_off(self, op: Op, worker: str, issue: str, fingerprint: str) -> bool:
        """An action that failed lately waits out a growing delay instead of failing every pass."""
        if not self.backoff:
            return False
        record = self.failures.get((op.value, issue))
        if record is None or record.fingerprint != fingerprint or not record.times:
            return False
        policy = self.desired.town.crash_loop
        delay = min(policy.initial_backoff * 2 ** (len(record.times) - 1), policy.max_backoff)
        wait = record.times[-1] + delay - self.now
        if wait <= 0:
            return False
        count = len(record.times)
        self.note(Reason.failing, f"{op.value} failed {count} time{'s' if count != 1 else ''}, last: "
                  f"{record.error}; next try in {ago(wait)} (gt rig reset {self.rig.name} retries now)",
                  worker, issue, Level.warn)
        self.draft.requeue(wait)
        return True

    # -- the table -----------------------------------------------------------

    def run(self) -> None:
        for worker in sorted(set(self.held) | set(self.sessions)):
            self.worker(worker)
        queue = [i for i in self.obs.merge_queue if i.id in self.queued]
        for place, issue in enumerate(queue, 1):
            self.merge(self.queued[issue.id], issue, place, len(queue))
        for worker, issue in self.extra_hooks:
            self.note(Reason.extra_hook, f"{worker} already works {self.held[worker].id}; "
                      f"{issue.id} is hooked to it too and waits", worker, issue.id, Level.warn)
        self.spawns()

    def worker(self, worker: str) -> None:
        session = self.sessions.get(worker)
        issue = self.held.get(worker)
        issue_id = issue.id if issue else session.stamps.issue if session else ""
        if issue is None:
            issue = self.obs.issue(issue_id)
        if self.rig.state == "docked":
            if session is not None:
                self.act(Op.stop, worker, issue_id, Reason.docked, "rig is docked: its sessions stop, hooks stay")
            else:
                self.note(Reason.docked, "rig is docked: hook kept, resumes on undock", worker, issue_id)
            return
        if issue is None or issue.status in DONE_STATUSES:
            if session is not None:
                state = "closed" if issue else "gone from the store"
                self.guarded(Op.stop, worker, issue_id, Reason.done, f"issue {issue_id} is {state}")
            return
        if worker not in self.held:
            self.lost_hook(worker, issue)
            return
        if issue.id not in self.listed:
            if session is not None:
                self.guarded(Op.stop, worker, issue.id, Reason.unwanted,
                             "issue is in no convoy any more: stop and release the hook", release=True)
            else:
                self.guarded(Op.release, worker, issue.id, Reason.unwanted, "issue is in no convoy any more")
            return
        if issue.done:
            self.queued[issue.id] = worker  # merged in queue order once every worker is seen
            return
        if MERGE_FAILED_LABEL in issue.labels:
            failure = self.failures.get((Op.merge.value, issue.id))
            self.note(Reason.merge_failed, f"the merge of {issue.id} failed"
                      + (f": {failure.error}" if failure else "")
                      + "; the worker keeps its hook, and gt done merges again", worker, issue.id, Level.warn)
        self.running_worker(worker, issue, session)

    def clone(self) -> None:
        """A rig on a remote is cloned before anything else is done for it (once its sessions, if
        any survived the clone's removal, are seen again)."""
        if self.backing_off(Op.clone, "", "", ""):  # recorded without a spec, so without a fingerprint
            return
        self.draft.act(self.rank, Action(Op.clone, self.rig.name, "", "", f"rig/{self.rig.name}", Reason.not_cloned,
                                         f"clone {self.rig.repo} ({self.rig.branch}) into .gt/repos/{self.rig.name}"))

    def merge(self, worker: str, issue: ObservedIssue, place: int, length: int) -> None:
        """Land one branch of the rig's merge queue; the executor serves them in this order."""
        spec = self.spec(worker, issue)
        if self.reported_since_failure(issue) or not self.backing_off(Op.merge, worker, issue.id, spec.fingerprint):
            self.guarded(Op.merge, worker, issue.id, Reason.merge_ready,
                         f"worker reported done: land {spec.branch} on {self.rig.branch}, close the issue "
                         f"(merge queue {place} of {length})", spec=spec)

    def reported_since_failure(self, issue: ObservedIssue) -> bool:
        """Done again after its merge failed (a rework): merged now, not after the failure's backoff."""
        record = self.failures.get((Op.merge.value, issue.id))
        if record is None or not record.times or not issue.updated:
            return False
        try:  # bd writes local offsets (-08:00), gt's own store Z: compared as times, not as text
            reported = datetime.fromisoformat(issue.updated)
        except ValueError:
            return False
        if reported.tzinfo is None:
            reported = reported.replace(tzinfo=UTC)
        return reported.timestamp() > record.times[-1]

    def guarded(self, op: Op, worker: str, issue: str, reason: Reason, why: str, **extra: object) -> None:
        """A parked rig stops nothing and merges nothing: say so instead."""
        if self.parked:
            self.note(Reason.parked, f"rig is parked; would {op.value}: {why}", worker, issue)
        else:
            self.act(op, worker, issue, reason, why, **extra)

    def lost_hook(self, worker: str, issue: ObservedIssue) -> None:
        """A live session whose issue is no longer hooked to it."""
        if issue.assignee:
            self.guarded(Op.stop, worker, issue.id, Reason.unwanted,
                         f"issue {issue.id} is now held by {issue.assignee}")
        elif issue.status == "open" and issue.id in self.listed and not self.listed[issue.id].paused:
            spec = self.spec(worker, issue)
            self.guarded(Op.hook, worker, issue.id, Reason.hook_missing,
                         f"session runs but {issue.id} is not hooked to it", spec=spec,
                         before=(("assignee", ""),), after=(("assignee", role_of(self.rig.name, worker)),))
        else:
            self.guarded(Op.stop, worker, issue.id, Reason.unwanted, f"issue {issue.id} is not wanted any more")

    # -- worktrees -----------------------------------------------------------

    def worktree_blocks(self, worker: str, spec: WorkerSpec) -> bool:
        """A held worker's worktree on another branch: prune it when that is safe, else free the issue.

        Returns True when the worker cannot start now.
        """
        tree = self.worktrees.get(worker)
        if tree is None or tree.branch == spec.branch:
            return False
        if tree.removable:
            self.act(Op.prune, worker, spec.issue, Reason.worktree_landed,
                     f"{tree.path} is on {tree.branch}, whose work is all on {self.rig.branch}: "
                     f"remove it to start {spec.issue} there")
            return False
        self.kept(tree)
        self.released.add(spec.issue)
        self.act(Op.release, worker, spec.issue, Reason.worktree_busy,
                 f"{worker}'s worktree still holds {tree.branch}; {spec.issue} goes to another worker")
        return True

    def kept(self, tree: ObservedWorktree) -> None:
        self.note(Reason.worktree_kept, f"{tree.path} on {tree.branch or '?'}: {tree.holds()}; kept, "
                  "and its name is not handed out", tree.worker, level=Level.warn)

    def idle_worktrees(self) -> list[ObservedWorktree]:
        busy = set(self.held) | set(self.sessions)
        return [t for w, t in sorted(self.worktrees.items()) if w not in busy]

    # -- starting new work ---------------------------------------------------

    def spawns(self) -> None:
        idle_trees = self.idle_worktrees()
        reusable = {t.branch: t.worker for t in idle_trees if t.branch}
        taken = set(self.held) | set(self.sessions) | {t.worker for t in idle_trees if not t.removable}
        reused: set[str] = set()
        running = len(self.held) - len(self.released)
        per_convoy: dict[str, int] = {}
        for issue in self.held.values():
            if issue.id in self.listed and issue.id not in self.released:
                name = self.listed[issue.id].name
                per_convoy[name] = per_convoy.get(name, 0) + 1
        for issue_id, convoy in self.wanted_order():
            found = self.obs.issue(issue_id)
            if found is None:
                self.note(Reason.missing, f"{issue_id} (convoy {convoy.name}) is not in the rig's Beads store",
                          issue=issue_id, level=Level.warn)
                continue
            issue = found
            if issue.status in DONE_STATUSES or issue_id in self.released:
                continue
            if worker_of(self.rig.name, issue.assignee) in self.held:
                continue
            if issue_id in self.session_issues:
                continue  # a live session already works it (its hook is being restored)
            blocker = self.blocker(issue, running, per_convoy.get(convoy.name, 0), convoy)
            if blocker:
                self.note(*blocker, issue=issue_id)
                continue
            refused = self.draft.ledger.admit(self.desired, self.rig, issue, convoy) if self.draft.ledger else None
            if refused:
                self.note(Reason.budget, refused, issue=issue_id, level=Level.warn)
                continue
            # An issue whose old worktree is still there goes back to it, commits and all.
            worker = next((w for branch, w in reusable.items()
                           if branch == f"gt/{w}/{issue_id}" and w not in reused), None)
            worker = worker or next_worker_name(self.rig, taken | reused)
            spec = self.startable(worker, issue, Op.spawn)
            if spec is None:
                continue
            tree = self.worktrees.get(worker)
            if tree is not None and tree.branch != spec.branch:
                self.act(Op.prune, worker, issue_id, Reason.worktree_landed,
                         f"{tree.path} is on {tree.branch}, whose work is all on {self.rig.branch}")
            reused.add(worker)
            taken.add(worker)
            running += 1
            per_convoy[convoy.name] = per_convoy.get(convoy.name, 0) + 1
            self.draft.spawned += 1
            if self.draft.ledger is not None:
                self.draft.ledger.start(self.rig.name, convoy, self.routing.model(spec.model).cost)
            self.act(Op.spawn, worker, issue_id, Reason.unassigned,
                     f"ready in convoy {convoy.name}; {spec.model} by {spec.rule}", spec=spec,
                     before=(("status", issue.status), ("assignee", "")),
                     after=(("status", "hooked"), ("assignee", role_of(self.rig.name, worker))))
        for tree in idle_trees:
            if tree.worker in reused:
                continue
            if not tree.removable:
                self.kept(tree)
            elif self.rig.state == "active":
                self.act(Op.prune, tree.worker, "", Reason.worktree_landed,
                         f"{tree.path} ({tree.branch}) holds nothing {self.rig.branch} lacks")

    def blocker(self, issue: ObservedIssue, running: int, in_convoy: int,
                convoy: ConvoySpec) -> tuple[Reason, str] | None:
        if self.rig.state != "active":
            return Reason(self.rig.state), f"rig is {self.rig.state}: not starting {issue.id}"
        if issue.assignee or issue.status in HELD_STATUSES:
            return Reason.claimed, f"held by {issue.assignee or 'someone else'} ({issue.status})"
        if issue.status != "open":
            return Reason.not_open, f"status is {issue.status}"
        if issue.blocked_by:
            return Reason.blocked, f"blocked by {', '.join(issue.blocked_by)}"
        if running >= self.rig.workers_max:
            return Reason.waiting, f"workers.max {self.rig.workers_max} reached"
        if convoy.parallelism and in_convoy >= convoy.parallelism:
            return Reason.waiting, f"convoy {convoy.name} parallelism {convoy.parallelism} reached"
        if self.max_spawns is not None and self.draft.spawned >= self.max_spawns:
            return Reason.waiting, f"maxSpawnsPerPass {self.max_spawns} reached this pass"
        return None

    def wanted_order(self) -> list[tuple[str, ConvoySpec]]:
        """Issues of active convoys: priority first, then convoy order, then list order."""
        entries = []
        for c_index, convoy in enumerate(self.convoys):
            if convoy.paused:
                continue
            for i_index, issue_id in enumerate(members(convoy, self.obs.issues)):
                issue = self.obs.issue(issue_id)
                priority = issue.priority if issue else 99
                entries.append(((priority, c_index, i_index), issue_id, convoy))
        entries.sort(key=lambda e: e[0])
        seen: set[str] = set()
        ordered = []
        for _, issue_id, convoy in entries:
            if issue_id not in seen:
                seen.add(issue_id)
                ordered.append((issue_id, convoy))
        return ordered
