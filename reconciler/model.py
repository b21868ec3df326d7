"""Typed, frozen desired state built from the manifests.

Nothing here does I/O; every value is already validated and defaulted by
``reconciler.manifests``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property

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


@dataclass(frozen=True)
class CrashLoopPolicy:
    initial_backoff: float = 30.0
    max_backoff: float = 600.0
    max_crashes: int = 5
    window: float = 900.0


@dataclass(frozen=True)
class TownSpec:
    name: str = "town"
    socket: str | None = None
    beads_backend: str = "embedded"
    beads_prefix: str = "hq"
    interval: float = 30.0
    jitter: float = 0.1
    debounce: float = 0.5
    max_spawns_per_pass: int = 5
    crash_loop: CrashLoopPolicy = CrashLoopPolicy()
    overseer: str = "overseer"
    source: Source | None = None


@dataclass(frozen=True)
class WitnessPolicy:
    idle_after: float = 300.0
    max_nudges: int = 3
    nudge_every: float = 120.0
    stuck_after: float = 1800.0


@dataclass(frozen=True)
class RefineryPolicy:
    strategy: str = "squash"
    gates: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class RigSpec:
    name: str
    repo: str
    branch: str = "main"
    prefix: str = ""
    beads_path: str = ".beads"
    state: str = "active"
    routing: str = "default"
    workers_max: int = 4
    worker_names: tuple[str, ...] = ()
    worker_env: Env = ()
    witness: WitnessPolicy = WitnessPolicy()
    refinery: RefineryPolicy = RefineryPolicy()
    source: Source | None = None


@dataclass(frozen=True)
class ConvoySpec:
    name: str
    rig: str
    issues: tuple[str, ...]
    title: str = ""
    parallelism: int = 0
    paused: bool = False
    source: Source | None = None


@dataclass(frozen=True)
class AgentSpec:
    name: str
    command: tuple[str, ...]
    process_names: tuple[str, ...] = ()
    env: Env = ()
    nudge: str = "Check your hook (gt hook) and continue your work."


@dataclass(frozen=True)
class ModelSpec:
    name: str
    agent: str
    args: tuple[str, ...] = ()
    cost: float = 0.0


@dataclass(frozen=True)
class RoutingRule:
    model: str
    label: str | None = None
    title: str | None = None
    issue_type: str | None = None
    priority: int | None = None

    @cached_property
    def _title_re(self) -> re.Pattern[str] | None:
        return re.compile(self.title) if self.title is not None else None

    def matches(self, labels: tuple[str, ...], title: str, issue_type: str, priority: int) -> bool:
        if self.label is not None and self.label not in labels:
            return False
        if self._title_re is not None and not self._title_re.search(title):
            return False
        if self.issue_type is not None and self.issue_type != issue_type:
            return False
        return self.priority is None or priority <= self.priority


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


BUILTIN_ROUTING = RoutingSpec(
    name="default",
    default="sonnet",
    agents=(
        AgentSpec(
            name="claude",
            command=("claude", "--dangerously-skip-permissions"),
            process_names=("claude", "node"),
        ),
    ),
    models=(
        ModelSpec("haiku", "claude", ("--model", "haiku"), 0.001),
        ModelSpec("sonnet", "claude", ("--model", "sonnet"), 0.01),
        ModelSpec("opus", "claude", ("--model", "opus"), 0.1),
    ),
)


@dataclass(frozen=True)
class DesiredState:
    """Everything the manifests ask for, validated and with defaults applied."""

    town: TownSpec = TownSpec()
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

    def routing_for(self, rig: RigSpec) -> RoutingSpec:
        for routing in self.routings:
            if routing.name == rig.routing:
                return routing
        return BUILTIN_ROUTING

    def convoys_of(self, rig: str) -> tuple[ConvoySpec, ...]:
        return tuple(c for c in self.convoys if c.rig == rig)

    def counts(self) -> dict[str, int]:
        """Objects per kind, as declared (a Town counts only when a manifest declares it)."""
        return {
            "Town": 1 if self.town.source is not None else 0,
            "Rig": len(self.rigs),
            "Convoy": len(self.convoys),
            "Routing": len(self.routings),
        }
