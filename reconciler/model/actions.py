"""Actions, notes and plans: what the planner decides, as immutable data."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler.model.costs import BudgetState
from reconciler.model.desired import Env
from reconciler.model.observed import Crash
from reconciler.model.reasons import Condition, Reason


class Op(str, enum.Enum):
    spawn = "spawn"  # hook the issue, make its worktree, start its session
    respawn = "respawn"  # the hook is there, the session is not: start it again
    restart = "restart"  # the session runs something else than the manifests say
    hook = "hook"  # a live session lost its hook: set it again
    nudge = "nudge"  # remind an idle worker of its hook (GUPP)
    merge = "merge"  # the worker is done: land its branch, close the issue, stop it
    stop = "stop"  # kill the session; worktree and commits stay
    release = "release"  # unhook an issue nobody works any more
    help = "help"  # a stuck worker: mail HELP to the overseer, once
    quarantine = "quarantine"  # a crash-looping worker: stop respawning it
    prompt = "prompt"  # type the start prompt into a pane that shows its agent ready
    answer = "answer"  # answer a dialog the agent's manifest says how to answer
    prune = "prune"  # remove a worktree whose work is all on the rig's branch
    announce = "announce"  # a convoy landed: mail CONVOY_LANDED to the overseer, once
    clone = "clone"  # a rig whose repo is a Git URL is not on disk yet: clone it below .gt/repos/
    escalate = "escalate"  # a budget is spent: mail HELP to the overseer, once


class Level(str, enum.Enum):
    """How much a note matters: error notes keep a plan from being "in sync"."""

    info = "info"  # waiting its turn, parked, docked, blocked by another issue
    warn = "warn"  # needs a look: crash loops, stuck or blocked agents, kept worktrees, orphans
    error = "error"  # the plan cannot be made for part of the town: a rig unreadable, an agent missing


MARKERS = {
    Op.spawn: "+", Op.respawn: "+", Op.restart: "~", Op.hook: "~", Op.nudge: "~",
    Op.merge: "~", Op.stop: "-", Op.release: "-", Op.help: "~", Op.quarantine: "!",
    Op.prompt: "~", Op.answer: "~", Op.prune: "-", Op.announce: "~", Op.clone: "+", Op.escalate: "~",
}
# Actions that change only their session (its screen or stamps) and never the rig's store or
# worktrees: after them, a rig needs no second look.
SESSION_ONLY = frozenset({Op.nudge, Op.prompt, Op.answer, Op.help, Op.announce, Op.escalate})
# Stops run before starts, so a restart or a freed slot never collides with a spawn.
PHASES = {
    Op.stop: 0, Op.release: 0, Op.merge: 1, Op.hook: 2, Op.restart: 3, Op.respawn: 3,
    Op.spawn: 4, Op.nudge: 5, Op.help: 5, Op.quarantine: 5, Op.prompt: 5, Op.answer: 5,
    Op.prune: 0, Op.announce: 5, Op.clone: 0, Op.escalate: 5,
}


@dataclass(frozen=True)
class WorkerSpec:
    """Everything needed to start one worker; ``fingerprint`` hashes the spawn-relevant part."""

    rig: str
    worker: str
    issue: str
    session: str
    repo: str  # absolute path of the rig's repository
    branch: str  # gt/<worker>/<issue>
    base_branch: str
    worktree: str  # absolute path
    agent: str
    model: str
    rule: str  # which routing rule chose the model ("default" when none did)
    command: tuple[str, ...]
    env: Env
    fingerprint: str
    nudge: str
    beads_dir: str
    prompt: str = ""  # the start prompt to type once the pane is ready ("" : given as args, or none)


@dataclass(frozen=True)
class Action:
    op: Op
    rig: str
    worker: str
    issue: str
    session: str
    reason: Reason
    why: str = ""
    spec: WorkerSpec | None = None
    release: bool = False  # for stop: also unhook the issue
    before: tuple[tuple[str, str], ...] = ()
    after: tuple[tuple[str, str], ...] = ()
    crash: Crash | None = None  # for a restart after a crash: how the agent ended
    keys: tuple[str, ...] = ()  # for answer: the keys to send

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", Reason(self.reason))  # an unknown code fails here

    @property
    def marker(self) -> str:
        return MARKERS[self.op]

    @property
    def subject(self) -> str:
        """RIG/WORKER for a worker; a town session's role (coordinator, witness); else the session."""
        if self.rig and self.worker:
            return f"{self.rig}/{self.worker}"
        return self.worker or self.session

    @property
    def on_town_session(self) -> bool:
        """On one of the town's own sessions (the coordinator, a view): no rig, no hook, no worktree."""
        return not self.rig and bool(self.worker)


@dataclass(frozen=True)
class Note:
    """Something the plan will not change, and why (shown with ``!``)."""

    rig: str
    reason: Reason
    why: str
    worker: str = ""
    issue: str = ""
    session: str = ""
    level: Level = Level.info

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", Reason(self.reason))


@dataclass(frozen=True)
class WorkerCondition:
    """What the plan found about one worker's health, and why."""

    rig: str
    worker: str
    condition: Condition
    why: str


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    notes: tuple[Note, ...] = ()
    digest: dict[str, str] = field(default_factory=dict, compare=False)
    requeue_after: float | None = None  # seconds until something becomes due (a backoff ends, a pane settles)
    conditions: tuple[WorkerCondition, ...] = field(default=(), compare=False)
    budgets: tuple[BudgetState, ...] = field(default=(), compare=False)  # what each declared budget has left

    def condition_of(self, rig: str, worker: str) -> WorkerCondition | None:
        """The condition the planner reported for a worker, if any (one dict, built once)."""
        by_worker: dict[tuple[str, str], WorkerCondition] | None = self.__dict__.get("_by_worker")
        if by_worker is None:
            by_worker = {(c.rig, c.worker): c for c in self.conditions}
            object.__setattr__(self, "_by_worker", by_worker)
        return by_worker.get((rig, worker))

    @property
    def errors(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.level is Level.error)

    @property
    def in_sync(self) -> bool:
        """Nothing to do, and nothing the plan could not be made for."""
        return not self.actions and not self.errors

    def to_dict(self) -> dict[str, Any]:
        data = {
            "inSync": self.in_sync,
            "actions": [_action_dict(a) for a in self.actions],
            "notes": [asdict(n) | {"level": n.level.value} for n in self.notes],
            "requeueAfter": self.requeue_after,
            "digest": dict(self.digest),
        }
        return data | {"budgets": [b.as_dict() for b in self.budgets]} if self.budgets else data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            actions=tuple(_action_from(a) for a in data["actions"]),
            notes=tuple(Note(**(n | {"level": Level(n.get("level", "info"))})) for n in data["notes"]),
            digest=dict(data.get("digest", {})),
            requeue_after=data.get("requeueAfter"),
        )


def _action_dict(action: Action) -> dict[str, Any]:
    data = asdict(action)
    data["op"] = action.op.value
    data["marker"] = action.marker
    return data


def _pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in raw)


def _action_from(data: dict[str, Any]) -> Action:
    spec = data.get("spec")
    return Action(
        op=Op(data["op"]),
        rig=data["rig"],
        worker=data["worker"],
        issue=data["issue"],
        session=data["session"],
        reason=data["reason"],
        why=data.get("why", ""),
        spec=_spec_from(spec) if spec else None,
        release=bool(data.get("release", False)),
        before=_pairs(data.get("before", ())),
        after=_pairs(data.get("after", ())),
        crash=_crash_from(data.get("crash")),
        keys=tuple(str(k) for k in data.get("keys", ())),
    )


def _crash_from(data: Any) -> Crash | None:
    if not isinstance(data, dict):
        return None
    status = data.get("status")
    return Crash(status if isinstance(status, int) else None, tuple(str(x) for x in data.get("output", ())))


def _spec_from(data: dict[str, Any]) -> WorkerSpec:
    values = dict(data)
    values["command"] = tuple(values["command"])
    values["env"] = _pairs(values["env"])
    return WorkerSpec(**values)
