"""The town's own sessions: the coordinator and the witness and refinery views. Pure.

The coordinator is an agent kept like a worker: started when missing, restarted after a crash
with the same backoff and quarantine, its known dialogs answered and its start prompt typed; a
change of what it runs restarts it once it is quiet, so a conversation is not cut off. The views
are gt itself (``gt status --watch``, ``gt queue --watch``): started when missing, restarted when
they end. A town session the Town no longer declares is stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from reconciler.model.actions import Action, Level, Note, Op, WorkerSpec
from reconciler.model.desired import AgentSpec, DesiredState, PromptVia
from reconciler.model.observed import Crash, ObservedSession, ObservedState
from reconciler.model.reasons import Reason
from reconciler.model.roles import COORDINATOR_PROMPT, VIEWS, TownRole, town_session
from reconciler.plan.live import SessionPlanner, ago, as_of
from reconciler.plan.pane import Pane
from reconciler.plan.workers import fingerprint

if TYPE_CHECKING:
    from reconciler.plan.planner import Draft

VIEW_EVERY = "2"  # seconds between two refreshes of a view
VIEW_COMMANDS = {
    TownRole.witness: ("status", "--watch", "--every", VIEW_EVERY),
    TownRole.refinery: ("queue", "--watch", "--every", VIEW_EVERY),
}
VIEW_AGENT = "gt"  # a view's program: found on the session's PATH, where gt's own directory comes first
DRIFT_IDLE = 60.0  # a coordinator whose manifests changed is restarted once it has been quiet this long


def town_spec(desired: DesiredState, role: TownRole,
              program_of: Callable[[str], str | None] | None = None) -> tuple[WorkerSpec, AgentSpec]:
    """How a town session starts (in the town's root, with GT_TOWN and GT_ROLE), and the agent
    that runs in it. ``program_of`` says where the coordinator's program was found, as for a
    worker; the fingerprint hashes only what the manifests declare."""
    root = desired.root
    env = {"GT_TOWN": root, "GT_ROLE": role.value}
    prompt, model, rule = "", "", ""
    if role is TownRole.coordinator:
        wanted = desired.town.coordinator
        assert wanted is not None
        routing = desired.routing_named(wanted.routing)
        chosen = routing.model(wanted.model or routing.default)
        agent = routing.agent(wanted.agent or chosen.agent)
        env = dict(agent.env) | env | {"BD_ACTOR": role.value, "GT_AGENT": agent.name, "GT_MODEL": chosen.name}
        prompt = COORDINATOR_PROMPT if agent.prompt_via is not PromptVia.none else ""
        declared = agent.command + chosen.args + ((prompt,) if agent.prompt_via is PromptVia.args else ())
        model, rule = chosen.name, f"Town coordinator, routing {routing.name}"
    else:
        agent = AgentSpec(name=VIEW_AGENT, command=(VIEW_AGENT, "--town", root, *VIEW_COMMANDS[role]))
        declared = agent.command
    pairs = tuple(sorted(env.items()))
    program = program_of(agent.name) if program_of is not None and role is TownRole.coordinator else None
    spec = WorkerSpec(
        rig="", worker=role.value, issue="", session=town_session(role), repo="", branch="", base_branch="",
        worktree=root,  # where it starts: the town's root
        agent=agent.name, model=model, rule=rule,
        command=(program, *declared[1:]) if program else declared, env=pairs,
        fingerprint=fingerprint(declared, pairs, root, ""), nudge=agent.nudge, beads_dir="",
        prompt=prompt if agent.prompt_via is PromptVia.type else "")
    return spec, agent


def wanted_roles(desired: DesiredState) -> tuple[TownRole, ...]:
    """The town sessions the Town declares: its coordinator, if any, and the views unless turned off."""
    return ((TownRole.coordinator,) if desired.town.coordinator is not None else ()) + \
        (VIEWS if desired.town.views else ())


class TownPlanner(SessionPlanner):
    def __init__(self, desired: DesiredState, observed: ObservedState, now: float, draft: Draft, rank: int,
                 max_spawns: int | None) -> None:
        self.desired, self.observed, self.now, self.draft = desired, observed, now, draft
        self.rank, self.max_spawns = rank, max_spawns
        self.crashes = {c.worker: replace(c, times=as_of(c.times, now)) for c in observed.crashes if not c.rig}
        self.sessions = {s.name: s for s in observed.sessions}

    def act(self, op: Op, worker: str, issue: str, reason: Reason, why: str, **extra: object) -> None:
        role = TownRole(worker)  # the worker of a town session's action is its role, as plain text
        action = Action(op, "", role.value, issue, town_session(role), reason, why, **extra)  # type: ignore[arg-type]
        self.draft.act(self.rank, action)

    def note(self, reason: Reason, why: str, worker: str = "", issue: str = "",
             level: Level = Level.info) -> None:
        role = TownRole(worker)
        self.draft.note(self.rank, Note("", reason, why, role.value, issue, town_session(role), level))

    def program_path(self, agent: str) -> str | None:
        found = self.observed.program("", agent)
        return found.path if found else None

    def run(self) -> frozenset[str]:
        """Plan every town session; returns the names of those that exist, so none is an orphan."""
        wanted = wanted_roles(self.desired)
        for role in TownRole:
            session = self.sessions.get(town_session(role))
            if role in wanted:
                self.keep(role, session)
            elif session is not None:
                self.act(Op.stop, role, "", Reason.unwanted, f"the Town declares no {role.value} any more")
        return frozenset(town_session(r) for r in TownRole if town_session(r) in self.sessions)

    def keep(self, role: TownRole, session: ObservedSession | None) -> None:
        spec, agent = town_spec(self.desired, role, self.program_path)
        found = self.observed.program("", agent.name) if role is TownRole.coordinator else None
        if found is not None and found.path is None:
            self.note(Reason.agent_missing, f"the coordinator's agent {agent.name} (model {spec.model}): program "
                      f"{found.program!r} is not on its PATH ({found.search}); not starting it",
                      role, level=Level.error)
            return
        if session is None:
            self.start(Op.spawn, role, spec, Reason.session_missing, "no session")
            return
        if self.crashed(session, agent):
            restart = self.after_crash(role, "", spec, session)
            if restart is not None:
                self.start(Op.respawn, role, spec, Reason.crashed, *restart)
            return
        reading = self.starting(role, "", session, spec, agent)
        if reading is None or session.stamps.fingerprint == spec.fingerprint:
            return
        change = (("fingerprint", session.stamps.fingerprint),), (("fingerprint", spec.fingerprint),)
        quiet = self.now - session.activity
        if role is not TownRole.coordinator or (quiet >= DRIFT_IDLE and reading.state is not Pane.busy):
            self.act(Op.restart, role, "", Reason.drift, f"the manifests changed what the {role.value} runs: "
                     "restart it", spec=spec, before=change[0], after=change[1])
        else:
            self.note(Reason.drift, f"the manifests changed what the coordinator runs; restarted once it has "
                      f"been quiet {ago(DRIFT_IDLE)}", role)
            self.draft.requeue(DRIFT_IDLE - quiet)

    def start(self, op: Op, role: TownRole, spec: WorkerSpec, reason: Reason, what: str,
              crash: Crash | None = None) -> None:
        if self.max_spawns is not None and self.draft.spawned >= self.max_spawns:
            self.note(Reason.waiting, f"{what}; maxSpawnsPerPass {self.max_spawns} reached this pass", role)
            return
        self.draft.spawned += 1
        shown = f"{spec.model} ({spec.agent})" if role is TownRole.coordinator else \
            " ".join((VIEW_AGENT, *VIEW_COMMANDS[role]))
        self.act(op, role, "", reason, f"{what}: start {town_session(role)} running {shown}", spec=spec,
                 crash=crash)
