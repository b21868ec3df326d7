"""The planner: desired state + observed state + the time -> a plan.

A purely computational function with no side effects: no I/O, no clock, no
randomness. The same inputs give the same plan, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import ConvoySpec, DesiredState, RigSpec
from ..observed import (
    HELD_STATUSES,
    CrashRecord,
    ObservedIssue,
    ObservedRig,
    ObservedSession,
    ObservedState,
    held_hooks,
    role_of,
    session_name,
    worker_of,
)
from .actions import PHASES, Action, Note, Op, Plan, WorkerSpec
from .workers import next_worker_name, worker_spec

STARTUP_GRACE = 15.0  # seconds a new session runs before "agent gone" is judged


@dataclass
class _Draft:
    actions: list[tuple[int, Action]] = field(default_factory=list)
    notes: list[tuple[int, Note]] = field(default_factory=list)
    spawned: int = 0

    def act(self, rank: int, action: Action) -> None:
        self.actions.append((rank, action))

    def note(self, rank: int, note: Note) -> None:
        self.notes.append((rank, note))


def plan(
    desired: DesiredState,
    observed: ObservedState,
    now: float,
    *,
    prune: bool = False,
    max_spawns: int | None = None,
) -> Plan:
    """Every action that would make ``observed`` match ``desired`` at time ``now``."""
    draft = _Draft()
    claimed: set[str] = set()
    for rank, rig in enumerate(desired.rigs):
        sessions = {s.stamps.worker: s for s in observed.sessions
                    if s.stamps.rig == rig.name and s.stamps.worker}
        claimed.update(s.name for s in sessions.values())
        obs = observed.rig(rig.name)
        if obs.error is not None:
            draft.note(rank, Note(rig.name, "rig-unreadable", f"nothing done on this rig: {obs.error}"))
            continue
        crashes = {c.worker: c for c in observed.crashes if c.rig == rig.name}
        _RigPlanner(desired, rig, obs, sessions, crashes, now, draft, rank, max_spawns).run()
    orphan_rank = len(desired.rigs)
    for s in sorted(observed.sessions, key=lambda s: s.name):
        if s.name in claimed:
            continue
        why = "session of the town that no manifest describes"
        if prune:
            draft.act(orphan_rank, Action(Op.stop, s.stamps.rig, s.stamps.worker, s.stamps.issue,
                                          s.name, "orphan", why + "; --prune stops it"))
        else:
            draft.note(orphan_rank, Note(s.stamps.rig, "orphan", why + " (gt apply --prune stops it)",
                                         s.stamps.worker, s.stamps.issue, s.name))
    actions = sorted(draft.actions, key=lambda ra: (ra[0], PHASES[ra[1].op]))
    notes = sorted(draft.notes, key=lambda rn: rn[0])
    return Plan(tuple(a for _, a in actions), tuple(n for _, n in notes))


class _RigPlanner:
    def __init__(self, desired: DesiredState, rig: RigSpec, obs: ObservedRig,
                 sessions: dict[str, ObservedSession], crashes: dict[str, CrashRecord],
                 now: float, draft: _Draft, rank: int, max_spawns: int | None) -> None:
        self.desired, self.rig, self.obs, self.sessions = desired, rig, obs, sessions
        self.crashes = crashes
        self.now, self.draft, self.rank, self.max_spawns = now, draft, rank, max_spawns
        self.convoys = desired.convoys_of(rig.name)
        # Which convoy lists an issue; paused convoys keep their running workers.
        self.listed: dict[str, ConvoySpec] = {}
        for convoy in sorted(self.convoys, key=lambda c: c.paused):
            for listed_id in convoy.issues:
                self.listed.setdefault(listed_id, convoy)
        self.held, self.extra_hooks = held_hooks(rig.name, obs.issues, sessions)
        # Issues whose live session lost its hook: that session keeps them, nobody else spawns.
        self.session_issues = {s.stamps.issue for w, s in sessions.items()
                               if s.stamps.issue and w not in self.held}

    # -- helpers -------------------------------------------------------------

    def act(self, op: Op, worker: str, issue: str, reason: str, why: str, **extra: object) -> None:
        action = Action(op, self.rig.name, worker, issue, session_name(self.rig.name, worker),
                        reason, why, **extra)  # type: ignore[arg-type]
        self.draft.act(self.rank, action)

    def note(self, reason: str, why: str, worker: str = "", issue: str = "") -> None:
        session = session_name(self.rig.name, worker) if worker else ""
        self.draft.note(self.rank, Note(self.rig.name, reason, why, worker, issue, session))

    @property
    def parked(self) -> bool:
        return self.rig.state == "parked"

    # -- the table -----------------------------------------------------------

    def run(self) -> None:
        for worker in sorted(set(self.held) | set(self.sessions)):
            self.worker(worker)
        for worker, issue in self.extra_hooks:
            self.note("extra-hook", f"{worker} already works {self.held[worker].id}; "
                      f"{issue.id} is hooked to it too and waits", worker, issue.id)
        self.spawns()

    def worker(self, worker: str) -> None:
        session = self.sessions.get(worker)
        issue = self.held.get(worker)
        issue_id = issue.id if issue else session.stamps.issue if session else ""
        if issue is None:
            issue = self.obs.issue(issue_id)
        if self.rig.state == "docked":
            if session is not None:
                self.act(Op.stop, worker, issue_id, "docked", "rig is docked: its sessions stop, hooks stay")
            else:
                self.note("docked", "rig is docked: hook kept, resumes on undock", worker, issue_id)
            return
        if issue is None or issue.status in ("closed", "tombstone"):
            if session is not None:
                state = "closed" if issue else "gone from the store"
                self.guarded(Op.stop, worker, issue_id, "done", f"issue {issue_id} is {state}")
            return
        if worker not in self.held:
            self.lost_hook(worker, issue)
            return
        if issue.id not in self.listed:
            if session is not None:
                self.guarded(Op.stop, worker, issue.id, "unwanted",
                             "issue is in no convoy any more: stop and release the hook", release=True)
            else:
                self.guarded(Op.release, worker, issue.id, "unwanted", "issue is in no convoy any more")
            return
        if issue.done:
            self.guarded(Op.merge, worker, issue.id, "merge-ready",
                         f"worker reported done: land {_branch(worker, issue.id)} on {self.rig.branch}, "
                         "close the issue", spec=worker_spec(self.desired, self.rig, worker, issue))
            return
        self.running_worker(worker, issue, session)

    def guarded(self, op: Op, worker: str, issue: str, reason: str, why: str, **extra: object) -> None:
        """A parked rig stops nothing and merges nothing: say so instead."""
        if self.parked:
            self.note("parked", f"rig is parked; would {op.value}: {why}", worker, issue)
        else:
            self.act(op, worker, issue, reason, why, **extra)

    def lost_hook(self, worker: str, issue: ObservedIssue) -> None:
        """A live session whose issue is no longer hooked to it."""
        if issue.assignee:
            self.guarded(Op.stop, worker, issue.id, "unwanted",
                         f"issue {issue.id} is now held by {issue.assignee}")
        elif issue.status == "open" and issue.id in self.listed and not self.listed[issue.id].paused:
            spec = worker_spec(self.desired, self.rig, worker, issue)
            self.guarded(Op.hook, worker, issue.id, "hook-missing",
                         f"session runs but {issue.id} is not hooked to it", spec=spec,
                         before=(("assignee", ""),), after=(("assignee", role_of(self.rig.name, worker)),))
        else:
            self.guarded(Op.stop, worker, issue.id, "unwanted", f"issue {issue.id} is not wanted any more")

    def running_worker(self, worker: str, issue: ObservedIssue, session: ObservedSession | None) -> None:
        spec = worker_spec(self.desired, self.rig, worker, issue)
        crashed = session is not None and (session.dead or self.agent_gone(session, spec))
        if session is None or crashed:
            if self.parked:
                self.note("parked", "rig is parked: no session, hook kept", worker, issue.id)
            else:
                self.restart_after_crash(worker, issue, spec, session) if crashed \
                    else self.respawn(worker, issue, spec, "session-missing", "no session")
            return
        if self.parked:
            return
        idle_for = self.now - session.activity
        idle = idle_for >= self.rig.witness.idle_after
        if session.stamps.fingerprint != spec.fingerprint:
            change = (("fingerprint", session.stamps.fingerprint),), (("fingerprint", spec.fingerprint),)
            if idle:
                self.act(Op.restart, worker, issue.id, "drift",
                         "manifests changed what this worker runs; it is idle, so restart it",
                         spec=spec, before=change[0], after=change[1])
            else:
                self.note("drift", "manifests changed what this worker runs; restart when idle",
                          worker, issue.id)
            return
        if idle:
            self.witness(worker, issue, session, spec, idle_for)

    def witness(self, worker: str, issue: ObservedIssue, session: ObservedSession,
                spec: WorkerSpec, idle_for: float) -> None:
        """GUPP: nudge an idle worker with work on its hook; past the limits, ask for HELP once."""
        policy = self.rig.witness
        nudges = session.stamps.nudges
        if nudges >= policy.max_nudges or idle_for >= policy.stuck_after:
            why = f"idle {_ago(idle_for)} after {nudges} nudges"
            if session.stamps.help:
                self.note("stuck", why + "; HELP mail sent", worker, issue.id)
            else:
                self.act(Op.help, worker, issue.id, "stuck",
                         f"{why}: mail HELP to {self.desired.town.overseer}", spec=spec)
        elif self.now - session.stamps.last_nudge >= policy.nudge_every:
            self.act(Op.nudge, worker, issue.id, "gupp-idle",
                     f"idle {_ago(idle_for)} with work on its hook (nudge {nudges + 1} of {policy.max_nudges})",
                     spec=spec, before=(("nudges", str(nudges)),), after=(("nudges", str(nudges + 1)),))

    def agent_gone(self, session: ObservedSession, spec: WorkerSpec) -> bool:
        """The pane lives but none of the agent's processes runs in it any more.

        Not judged while the session is young: wrappers (shims, launch scripts) run
        under other names for a moment before the agent itself starts.
        """
        if session.processes is None or self.now - session.created < STARTUP_GRACE:
            return False
        agent = self.desired.routing_for(self.rig).agent(spec.agent)
        names = agent.process_names or (agent.command[0].rsplit("/", 1)[-1],)
        return not any(p == n or p.startswith(n) for p in session.processes for n in names)

    def respawn(self, worker: str, issue: ObservedIssue, spec: WorkerSpec, reason: str, what: str) -> None:
        if self.max_spawns is not None and self.draft.spawned >= self.max_spawns:
            self.note("waiting", f"{what}; maxSpawnsPerPass {self.max_spawns} reached this pass",
                      worker, issue.id)
            return
        self.draft.spawned += 1
        self.act(Op.respawn, worker, issue.id, reason,
                 f"{what}; hook kept: start it again on {spec.branch}", spec=spec,
                 after=(("model", spec.model),))

    def restart_after_crash(self, worker: str, issue: ObservedIssue, spec: WorkerSpec,
                            session: ObservedSession | None) -> None:
        """Back off exponentially between respawns; quarantine after too many crashes."""
        policy = self.desired.town.crash_loop
        record = self.crashes.get(worker)
        if record is not None and (record.issue != issue.id or record.fingerprint != spec.fingerprint):
            record = None  # a new issue or new manifests: a fresh start
        what = "agent exited" if session is not None and session.dead else "agent process gone"
        if record is not None and record.quarantined:
            self.note("quarantined", f"{what}; quarantined after {len(record.times)} crashes "
                      f"(change its manifests or gt rig reset {self.rig.name})", worker, issue.id)
            return
        recent = [t for t in (record.times if record else ()) if self.now - t <= policy.window]
        if len(recent) >= policy.max_crashes:
            self.act(Op.quarantine, worker, issue.id, "crash-loop",
                     f"{len(recent)} crashes within {_ago(policy.window)}: stop respawning it", spec=spec)
            return
        if recent:
            delay = min(policy.initial_backoff * 2 ** (len(recent) - 1), policy.max_backoff)
            wait = max(recent) + delay - self.now
            if wait > 0:
                self.note("crash-loop", f"{what} {len(recent)} times; next start in {_ago(wait)}",
                          worker, issue.id)
                return
        self.respawn(worker, issue, spec, "crashed", what)

    def spawns(self) -> None:
        taken = set(self.held) | set(self.sessions)
        running = len(self.held)
        per_convoy: dict[str, int] = {}
        for issue in self.held.values():
            if issue.id in self.listed:
                name = self.listed[issue.id].name
                per_convoy[name] = per_convoy.get(name, 0) + 1
        for issue_id, convoy in self.wanted_order():
            found = self.obs.issue(issue_id)
            if found is None:
                self.note("missing", f"{issue_id} (convoy {convoy.name}) is not in the rig's Beads store",
                          issue=issue_id)
                continue
            issue = found
            if issue.status in ("closed", "tombstone") or worker_of(self.rig.name, issue.assignee) in self.held:
                continue
            if issue_id in self.session_issues:
                continue  # a live session already works it (its hook is being restored)
            blocker = self.blocker(issue, running, per_convoy.get(convoy.name, 0), convoy)
            if blocker:
                self.note(*blocker, issue=issue_id)
                continue
            worker = next_worker_name(self.rig, taken)
            taken.add(worker)
            running += 1
            per_convoy[convoy.name] = per_convoy.get(convoy.name, 0) + 1
            self.draft.spawned += 1
            spec = worker_spec(self.desired, self.rig, worker, issue)
            self.act(Op.spawn, worker, issue_id, "unassigned",
                     f"ready in convoy {convoy.name}; {spec.model} by {spec.rule}", spec=spec,
                     before=(("status", issue.status), ("assignee", "")),
                     after=(("status", "hooked"), ("assignee", role_of(self.rig.name, worker))))

    def blocker(self, issue: ObservedIssue, running: int, in_convoy: int,
                convoy: ConvoySpec) -> tuple[str, str] | None:
        if self.rig.state != "active":
            return self.rig.state, f"rig is {self.rig.state}: not starting {issue.id}"
        if issue.assignee or issue.status in HELD_STATUSES:
            return "claimed", f"held by {issue.assignee or 'someone else'} ({issue.status})"
        if issue.status != "open":
            return "not-open", f"status is {issue.status}"
        if issue.blocked_by:
            return "blocked", f"blocked by {', '.join(issue.blocked_by)}"
        if running >= self.rig.workers_max:
            return "waiting", f"workers.max {self.rig.workers_max} reached"
        if convoy.parallelism and in_convoy >= convoy.parallelism:
            return "waiting", f"convoy {convoy.name} parallelism {convoy.parallelism} reached"
        if self.max_spawns is not None and self.draft.spawned >= self.max_spawns:
            return "waiting", f"maxSpawnsPerPass {self.max_spawns} reached this pass"
        return None

    def wanted_order(self) -> list[tuple[str, ConvoySpec]]:
        """Issues of active convoys: priority first, then convoy order, then list order."""
        entries = []
        for c_index, convoy in enumerate(self.convoys):
            if convoy.paused:
                continue
            for i_index, issue_id in enumerate(convoy.issues):
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


def _branch(worker: str, issue: str) -> str:
    return f"gt/{worker}/{issue}"


def _ago(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
