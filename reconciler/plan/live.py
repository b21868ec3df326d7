"""The planner's side of a live agent session: start it, restart it after a crash, answer its
dialogs, type its start prompt (any agent's session: a worker's or the coordinator's); and for a
worker with work on its hook, the witness (nudge, HELP, blocked)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.model.actions import Level, Op, WorkerSpec
from reconciler.model.desired import AgentSpec, DesiredState, RigSpec, RoutingSpec
from reconciler.model.observed import Crash, CrashRecord, ObservedIssue, ObservedSession, ObservedState, role_of
from reconciler.model.reasons import Reason
from reconciler.plan.pane import Pane, PaneReading, read_pane

if TYPE_CHECKING:
    from reconciler.plan.planner import Draft

STARTUP_GRACE = 15.0  # seconds a new session runs before "agent gone" is judged
STARTUP_TIMEOUT = 60.0  # a session showing neither its ready prompt nor a known dialog by then is Blocked
STARTUP_POLL = 2.0  # how soon to look again at a starting pane
MAX_ANSWERS = 5  # dialogs answered in one session before gt gives up and calls it Blocked


def ago(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def shown(lines: tuple[str, ...]) -> str:
    return " | ".join(lines) if lines else "(nothing on screen)"


def as_of(times: tuple[float, ...], now: float) -> tuple[float, ...]:
    """Times past now (the clock was stepped back) count as now: a backoff never lasts a day."""
    return tuple(min(t, now) for t in times)


class SessionPlanner:
    """What every agent's session needs, a rig's worker or the town's coordinator: crashes backed off
    and quarantined, known dialogs answered, the start prompt typed. Subclasses provide these."""

    desired: DesiredState
    observed: ObservedState
    crashes: dict[str, CrashRecord]  # by worker (or town role)
    now: float
    draft: Draft

    def act(self, op: Op, worker: str, issue: str, reason: Reason, why: str, **extra: object) -> None:
        raise NotImplementedError

    def note(self, reason: Reason, why: str, worker: str = "", issue: str = "",
             level: Level = Level.info) -> None:
        raise NotImplementedError

    def reset_hint(self) -> str:
        """What lifts a quarantine."""
        return "change its manifests"

    def starting(self, worker: str, issue: str, session: ObservedSession, spec: WorkerSpec,
                 agent: AgentSpec) -> PaneReading | None:
        """Answer a known dialog, type the start prompt once the agent is ready; None while the
        session is still starting (nothing else to plan for it), else what its pane shows."""
        reading = read_pane(agent, session.screen)
        age = self.now - session.created
        if reading.state is Pane.dialog and reading.dialog is not None:
            dialog = reading.dialog
            if session.stamps.answers < MAX_ANSWERS:
                self.act(Op.answer, worker, issue, Reason.dialog,
                         f"{agent.name} shows its {dialog.name} dialog: answer with {' '.join(dialog.keys)}",
                         spec=spec, keys=dialog.keys,
                         before=(("answers", str(session.stamps.answers)),),
                         after=(("answers", str(session.stamps.answers + 1)),))
                self.draft.requeue(STARTUP_POLL)
            else:
                self.note(Reason.agent_blocked, f"still at its {dialog.name} dialog after "
                          f"{session.stamps.answers} answers: {shown(session.last_lines)}",
                          worker, issue, Level.warn)
            return None
        if spec.prompt and not session.stamps.prompted:
            if reading.state is Pane.ready or (reading.state is Pane.unread and age >= STARTUP_GRACE):
                self.act(Op.prompt, worker, issue, Reason.start_prompt,
                         f"{agent.name} is ready: type its start prompt", spec=spec)
            elif age >= STARTUP_TIMEOUT:
                self.note(Reason.agent_blocked, f"no ready prompt after {ago(age)}, so no start prompt "
                          f"typed: {shown(session.last_lines)}", worker, issue, Level.warn)
            else:
                self.draft.requeue(STARTUP_POLL)
            return None
        if agent.dialogs and age < STARTUP_TIMEOUT:
            self.draft.requeue(STARTUP_POLL)  # dialogs come up in the first seconds
        return reading

    def crashed(self, session: ObservedSession, agent: AgentSpec) -> bool:
        """The pane died, or none of the agent's processes runs in it any more."""
        return session.dead or self.agent_gone(session, agent)

    def agent_gone(self, session: ObservedSession, agent: AgentSpec) -> bool:
        """The pane lives but none of the agent's processes runs in it any more.

        Not judged while the session is young: wrappers (shims, launch scripts) run
        under other names for a moment before the agent itself starts.
        """
        if session.processes is None or self.now - session.created < STARTUP_GRACE:
            return False
        names = agent.liveness_names()
        return not any(p == n or p.startswith(n) for p in session.processes for n in names)

    def after_crash(self, worker: str, issue: str, spec: WorkerSpec,
                    session: ObservedSession) -> tuple[str, Crash] | None:
        """Back off exponentially between restarts; quarantine after too many crashes. Returns what
        happened and the crash when it is time to start it again; None when it waits (noted) or is
        quarantined."""
        policy = self.desired.town.crash_loop
        crash = Crash(session.exit_status if session.dead else None, session.last_lines)
        what = f"agent {crash.describe()}" if session.dead else \
            f"agent process gone, pane shows: {shown(crash.output)}"
        record = self.crashes.get(worker)
        if record is not None and (record.issue != issue or record.fingerprint != spec.fingerprint):
            record = None  # a new issue or new manifests: a fresh start
        if record is not None and record.quarantined:
            self.note(Reason.quarantined, f"{what}; quarantined after {len(record.times)} crashes "
                      f"({self.reset_hint()})", worker, issue, Level.warn)
            return None
        recent = [t for t in (record.times if record else ()) if self.now - t <= policy.window]
        if len(recent) >= policy.max_crashes:
            self.act(Op.quarantine, worker, issue, Reason.crash_loop,
                     f"{len(recent)} crashes within {ago(policy.window)}, last: {what}; stop respawning it",
                     spec=spec, crash=crash)
            return None
        if recent:
            delay = min(policy.initial_backoff * 2 ** (len(recent) - 1), policy.max_backoff)
            wait = max(recent) + delay - self.now
            if wait > 0:
                self.note(Reason.crash_loop, f"{what}; crashed {len(recent)} times, next start in {ago(wait)}",
                          worker, issue, Level.warn)
                self.draft.requeue(wait)
                return None
        return what, crash


class LivePlanner(SessionPlanner):
    """Mixed into the rig planner, which provides these."""

    rig: RigSpec
    routing: RoutingSpec
    max_spawns: int | None

    @property
    def parked(self) -> bool:
        raise NotImplementedError

    def reset_hint(self) -> str:
        return f"change its manifests or gt rig reset {self.rig.name}"

    def spec(self, worker: str, issue: ObservedIssue) -> WorkerSpec:
        raise NotImplementedError

    def startable(self, worker: str, issue: ObservedIssue, op: Op) -> WorkerSpec | None:
        raise NotImplementedError

    def worktree_blocks(self, worker: str, spec: WorkerSpec) -> bool:
        raise NotImplementedError

    def running_worker(self, worker: str, issue: ObservedIssue, session: ObservedSession | None) -> None:
        spec = self.spec(worker, issue)
        agent = self.routing.agent(spec.agent)
        crashed = session is not None and self.crashed(session, agent)
        if session is None or crashed:
            if self.parked:
                self.note(Reason.parked, "rig is parked: no session, hook kept", worker, issue.id)
            elif crashed:
                assert session is not None
                restart = self.after_crash(worker, issue.id, spec, session)
                if restart is not None:
                    self.respawn(worker, issue, Reason.crashed, *restart)
            else:
                self.respawn(worker, issue, Reason.session_missing, "no session")
            return
        if self.parked:
            return
        self.live(worker, issue, session, spec, agent)

    def live(self, worker: str, issue: ObservedIssue, session: ObservedSession, spec: WorkerSpec,
             agent: AgentSpec) -> None:
        """A running agent: its dialogs, its start prompt, drift, then the witness."""
        reading = self.starting(worker, issue.id, session, spec, agent)
        if reading is None:
            return
        idle_for = self.now - session.activity
        # A worker with a REWORK_REQUEST unread is waiting at its prompt for nothing: no need to
        # wait idleAfter before telling it (nudgeEvery and maxNudges still hold).
        rework = role_of(self.rig.name, worker) in self.observed.rework
        idle = (idle_for >= self.rig.witness.idle_after or rework) and reading.state is not Pane.busy
        if session.stamps.fingerprint != spec.fingerprint:
            change = (("fingerprint", session.stamps.fingerprint),), (("fingerprint", spec.fingerprint),)
            if idle:
                self.act(Op.restart, worker, issue.id, Reason.drift,
                         "manifests changed what this worker runs; it is idle, so restart it",
                         spec=spec, before=change[0], after=change[1])
            else:
                self.note(Reason.drift, "manifests changed what this worker runs; restart when idle",
                          worker, issue.id)
            return
        if not idle:
            if reading.state is not Pane.busy:
                self.draft.requeue(self.rig.witness.idle_after - idle_for)  # look again once it could be idle
            return
        if agent.ready and reading.state is Pane.unknown:
            self.note(Reason.agent_blocked, f"idle {ago(idle_for)} at a screen gt does not know, so it is "
                      f"not nudged: {shown(session.last_lines)}", worker, issue.id, Level.warn)
            return
        self.witness(worker, issue, session, spec, idle_for, rework)

    def witness(self, worker: str, issue: ObservedIssue, session: ObservedSession,
                spec: WorkerSpec, idle_for: float, rework: bool = False) -> None:
        """GUPP: nudge an idle worker with work on its hook; past the limits, ask for HELP once."""
        policy = self.rig.witness
        nudges = session.stamps.nudges
        if nudges >= policy.max_nudges or idle_for >= policy.stuck_after:
            why = f"idle {ago(idle_for)} after {nudges} nudges"
            if session.stamps.help:
                self.note(Reason.stuck, why + "; HELP mail sent", worker, issue.id, Level.warn)
            else:
                self.act(Op.help, worker, issue.id, Reason.stuck,
                         f"{why}: mail HELP to {self.desired.town.overseer}", spec=spec)
            return
        wait = session.stamps.last_nudge + policy.nudge_every - self.now
        if wait <= 0:
            what = "a REWORK_REQUEST unread" if rework else f"idle {ago(idle_for)} with work on its hook"
            self.act(Op.nudge, worker, issue.id, Reason.rework if rework else Reason.gupp_idle,
                     f"{what} (nudge {nudges + 1} of {policy.max_nudges})",
                     spec=spec, before=(("nudges", str(nudges)),), after=(("nudges", str(nudges + 1)),))
        else:
            self.draft.requeue(wait)

    def respawn(self, worker: str, issue: ObservedIssue, reason: Reason, what: str,
                crash: Crash | None = None) -> None:
        if self.max_spawns is not None and self.draft.spawned >= self.max_spawns:
            self.note(Reason.waiting, f"{what}; maxSpawnsPerPass {self.max_spawns} reached this pass",
                      worker, issue.id)
            return
        spec = self.startable(worker, issue, Op.respawn)
        if spec is None or self.worktree_blocks(worker, spec):
            return
        self.draft.spawned += 1
        self.act(Op.respawn, worker, issue.id, reason,
                 f"{what}; hook kept: start it again on {spec.branch}", spec=spec,
                 after=(("model", spec.model),), crash=crash)
