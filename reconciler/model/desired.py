"""Typed, frozen desired state built from the manifests.

Nothing here does I/O; every value is already validated and defaulted by
``reconciler.manifests``.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property

from reconciler.model.costs import TokenPrice
from reconciler.model.patterns import Pattern, compiled

KINDS = ("Town", "Rig", "Convoy", "Routing")

Env = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Source:
    """Where an object was declared, so later errors can point at it."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


# The manifest-backed values below carry no defaults of their own: the schemas' ``default``
# keywords are the one source, applied by ``reconciler.manifests`` before these are built.


@dataclass(frozen=True)
class CrashLoopPolicy:
    initial_backoff: float
    max_backoff: float
    max_crashes: int
    window: float


@dataclass(frozen=True)
class CoordinatorSpec:
    """The Town's coordinator: an agent in its own session that the overseer talks to."""

    routing: str
    model: str | None  # None: the Routing's default model
    agent: str | None  # None: the model's agent


@dataclass(frozen=True)
class TownSpec:
    name: str
    socket: str | None
    beads_backend: str
    beads_prefix: str
    interval: float
    jitter: float
    debounce: float
    max_spawns_per_pass: int
    crash_loop: CrashLoopPolicy
    overseer: str
    branch: str | None  # followed by the controller; None: the one checked out when it starts
    coordinator: CoordinatorSpec | None  # None: the town has no coordinator
    views: bool  # keep the witness and refinery view sessions
    source: Source | None = None


@dataclass(frozen=True)
class WitnessPolicy:
    idle_after: float
    max_nudges: int
    nudge_every: float
    stuck_after: float


@dataclass(frozen=True)
class RefineryPolicy:
    strategy: str
    gates: tuple[tuple[str, ...], ...]
    max_reworks: int  # failed merges sent back to the worker before HELP goes to the overseer
    gate_timeout: float  # seconds one gate may run
    push: bool  # push the rig's branch to its remote after each merge (a URL rig)


class RigState(str, enum.Enum):
    """A rig's ``spec.state``."""

    active = "active"  # work
    parked = "parked"  # start nothing new, stop nothing, nudge no one
    docked = "docked"  # stop every session; hooks stay


@dataclass(frozen=True)
class RigSpec:
    name: str
    repo: str
    branch: str
    prefix: str
    beads_path: str
    state: str
    routing: str
    workers_max: int
    worker_names: tuple[str, ...]
    worker_env: Env
    witness: WitnessPolicy
    refinery: RefineryPolicy
    budget: float | None  # dollars; None: no limit
    source: Source | None = None


# Readable worker names, handed out in order where a rig names none; past them workers are w1, w2, ...
NAME_POOL = (
    "nux", "slit", "toast", "furiosa", "capable", "dag", "cheedo", "ace", "rictus",
    "keeper", "morsov", "valkyrie", "coma", "scrotus", "corpus", "glory",
)


@dataclass(frozen=True)
class IssueOverride:
    """One convoy issue's own model, agent or start message (its ``issues`` entry is a mapping).

    ``model`` and ``agent`` take the place of what routing picks; ``message`` is appended to
    the worker's start prompt. None: not overridden.
    """

    convoy: str
    issue: str
    model: str | None
    agent: str | None
    message: str | None


@dataclass(frozen=True)
class SwarmSpec:
    """A convoy worked as a swarm (Plan -> Execute -> Review): the model of each phase, by name
    in the rig's Routing. Each listed issue is planned on ``planner``; the subtasks its planner
    files (its children in Beads) run on ``executor``; one review issue, blocked by all of
    them, runs last on ``reviewer``."""

    planner: str
    executor: str
    reviewer: str


@dataclass(frozen=True)
class ConvoySpec:
    name: str
    rig: str
    issues: tuple[str, ...]  # the ids, in order
    title: str
    parallelism: int
    paused: bool
    overrides: tuple[IssueOverride, ...]
    molecule: tuple[str, ...]  # the steps of every issue without its own; (): none
    steps: tuple[tuple[str, tuple[str, ...]], ...]  # (issue, its own steps), for issues that declare them
    swarm: SwarmSpec | None  # None: an ordinary convoy
    budget: float | None  # dollars; None: no limit
    source: Source | None = None

    def override(self, issue: str) -> IssueOverride | None:
        return next((o for o in self.overrides if o.issue == issue), None)

    def steps_for(self, issue: str) -> tuple[str, ...]:
        """The issue's molecule: its own steps, else the convoy's; () when it has none."""
        return next((s for i, s in self.steps if i == issue), self.molecule)


class PromptVia(str, enum.Enum):
    """How an agent receives its start prompt."""

    args = "args"  # appended to its command line as the last argument
    type = "type"  # typed into its pane once the pane shows the agent is ready
    none = "none"  # not at all: the agent finds its work by itself


DEFAULT_PROMPT = (
    "You are {role}, a gt worker. Run `gt prime` to see the issue on your hook, then work it "
    "now without asking for confirmation: commit on your branch as you go, and run `gt done` "
    "once the work is committed."
)
DEFAULT_NUDGE = "Work is on your hook: run gt prime to see it, continue it, and run gt done once it is committed."
PROMPT_FIELDS = ("role", "rig", "worker", "issue")


@dataclass(frozen=True)
class Dialog:
    """A screen an agent may stop at, and the keys that answer it (tmux key names)."""

    name: str
    match: str  # a regular expression searched in the pane's text
    keys: tuple[str, ...]


@dataclass(frozen=True)
class AgentSpec:
    name: str
    command: tuple[str, ...]
    process_names: tuple[str, ...] = ()
    env: Env = ()
    nudge: str = DEFAULT_NUDGE
    prompt_via: PromptVia = PromptVia.args
    prompt: str = DEFAULT_PROMPT
    ready: str | None = None  # regex: the pane shows the agent waiting for input
    busy: str | None = None  # regex: the pane shows the agent working
    dialogs: tuple[Dialog, ...] = ()
    preset: str = "script"

    @property
    def program(self) -> str:
        return self.command[0]

    def liveness_names(self) -> tuple[str, ...]:
        """Process names that mean the agent runs: declared, else the program's own name."""
        return self.process_names or (self.program.rsplit("/", 1)[-1],)

    def start_prompt(self, rig: str, worker: str, issue: str, message: str | None = None) -> str:
        """The prompt text with {role}, {rig}, {worker} and {issue} filled in (nothing else), and
        the issue's own message after it: on a new paragraph as an argument; typed, after a space
        (a newline typed into a pane would send the prompt early)."""
        values = {"role": f"{rig}/workers/{worker}", "rig": rig, "worker": worker, "issue": issue}
        text = self.prompt
        for key in PROMPT_FIELDS:
            text = text.replace("{" + key + "}", values[key])
        if message:
            text += ("\n\n" if self.prompt_via is PromptVia.args else " ") + message
        return text


@dataclass(frozen=True)
class ModelSpec:
    name: str
    agent: str
    args: tuple[str, ...]
    cost: float  # dollars per task: the estimate plans and budgets use
    price: TokenPrice | None  # per million tokens, to price recorded token counts; None: unknown


@dataclass(frozen=True)
class RoutingRule:
    model: str
    label: str | None = None
    title: str | None = None
    issue_type: str | None = None
    priority: int | None = None

    @cached_property
    def _title_re(self) -> Pattern | None:
        return compiled(self.title) if self.title is not None else None

    def describe(self) -> str:
        """The rule as plans show it: ``rule label='model:haiku' title='(?i)typo'``."""
        conds = [f"{k}={v!r}" for k, v in (("label", self.label), ("title", self.title),
                                            ("type", self.issue_type), ("priority", self.priority)) if v is not None]
        return "rule " + " ".join(conds)

    def matches(self, labels: tuple[str, ...], title: str, issue_type: str, priority: int) -> bool:
        return next(self._misses(labels, title, issue_type, priority), None) is None

    def misses(self, labels: tuple[str, ...], title: str, issue_type: str, priority: int) -> tuple[str, ...]:
        """Why the rule does not match the issue, one reason a failed condition (empty: it matches)."""
        return tuple(self._misses(labels, title, issue_type, priority))

    def _misses(self, labels: tuple[str, ...], title: str, issue_type: str, priority: int) -> Iterator[str]:
        # Lazy, so matches() stops at the first failed condition and formats nothing.
        if self.label is not None and not _has_label(labels, self.label):
            yield (f"no label matches {self.label}" if _is_glob(self.label)
                   else f"label {self.label} not on the issue")
        if self._title_re is not None and not self._title_re.search(title):
            yield f'title {self.title} not found in "{title}"'
        if self.issue_type is not None and self.issue_type != issue_type:
            yield f"type {issue_type} != {self.issue_type}"
        if self.priority is not None and priority > self.priority:
            yield f"priority {priority} > {self.priority}"


def _is_glob(label: str) -> bool:
    return any(c in label for c in "*?[")


def _has_label(labels: tuple[str, ...], wanted: str) -> bool:
    """The issue carries ``wanted``: that very label, or with ``*``, ``?`` or ``[...]`` one matching the glob."""
    if not _is_glob(wanted):
        return wanted in labels
    return any(fnmatchcase(label, wanted) for label in labels)


@dataclass(frozen=True)
class RoutingSpec:
    name: str
    default: str
    agents: tuple[AgentSpec, ...]
    models: tuple[ModelSpec, ...]
    rules: tuple[RoutingRule, ...] = ()
    source: Source | None = None

    def agent(self, name: str) -> AgentSpec:
        return next(a for a in self.agents if a.name == name)

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)

    def pick(
        self, labels: tuple[str, ...], title: str, issue_type: str = "task", priority: int = 2
    ) -> tuple[ModelSpec, RoutingRule | None]:
        """The model for an issue, and the rule that chose it (None: the default)."""
        for rule in self.rules:
            if rule.matches(labels, title, issue_type, priority):
                return self.model(rule.model), rule
        return self.model(self.default), None


@dataclass(frozen=True)
class DesiredState:
    """Everything the manifests ask for, validated and with defaults applied."""

    town: TownSpec
    rigs: tuple[RigSpec, ...] = ()
    convoys: tuple[ConvoySpec, ...] = ()
    routings: tuple[RoutingSpec, ...] = ()
    files: tuple[str, ...] = field(default=(), compare=False)
    root: str = ""  # the town root, absolute; worktrees and relative repos live below it

    def rig(self, name: str) -> RigSpec:
        return next(r for r in self.rigs if r.name == name)

    @property
    def socket(self) -> str:
        """The town's tmux socket: as set, else derived from the root so towns never share one."""
        if self.town.socket:
            return self.town.socket
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", self.root.rstrip("/").rsplit("/", 1)[-1])[:24] or "town"
        return f"gt-{base}-{hashlib.sha256(self.root.encode()).hexdigest()[:6]}"

    @property
    def budgeted(self) -> bool:
        """Some convoy or rig declares a budget (so plans must know what was spent)."""
        return any(c.budget is not None for c in self.convoys) or any(r.budget is not None for r in self.rigs)

    def routing_for(self, rig: RigSpec) -> RoutingSpec:
        return self.routing_named(rig.routing)

    def routing_named(self, name: str) -> RoutingSpec:
        """The Routing declared as ``name``; the built-in one for an undeclared ``default``."""
        for routing in self.routings:
            if routing.name == name:
                return routing
        from reconciler.model.presets import BUILTIN_ROUTING

        return BUILTIN_ROUTING

    def convoys_of(self, rig: str) -> tuple[ConvoySpec, ...]:
        return tuple(c for c in self.convoys if c.rig == rig)

    def listed(self, rig: str) -> Mapping[str, ConvoySpec]:
        """Each issue of ``rig``'s convoys, with the convoy it is worked in: an active one that
        lists it, else a paused one."""
        return self._listed.get(rig, {})

    def override_for(self, rig: str, issue: str) -> IssueOverride | None:
        """The issue's own model, agent or message, from the convoy it is worked in."""
        convoy = self.listed(rig).get(issue)
        return convoy.override(issue) if convoy is not None else None

    def steps_for(self, rig: str, issue: str) -> tuple[str, ...]:
        """The steps of the issue's molecule, from the convoy it is worked in; () when none."""
        convoy = self.listed(rig).get(issue)
        return convoy.steps_for(issue) if convoy is not None else ()

    @cached_property
    def _listed(self) -> dict[str, dict[str, ConvoySpec]]:
        found: dict[str, dict[str, ConvoySpec]] = {}
        for convoy in sorted(self.convoys, key=lambda c: c.paused):
            for issue in convoy.issues:
                found.setdefault(convoy.rig, {}).setdefault(issue, convoy)
        return found

    def counts(self) -> dict[str, int]:
        """Objects per kind, as declared (a Town counts only when a manifest declares it)."""
        return {
            "Town": 1 if self.town.source is not None else 0,
            "Rig": len(self.rigs),
            "Convoy": len(self.convoys),
            "Routing": len(self.routings),
        }
