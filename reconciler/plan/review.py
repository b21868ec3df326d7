"""How a change to the manifests changes the work: the review of a pull request.

Pure: two desired states (base and head), what was observed for each (the same sessions, the
stores as they are), and the time. Nothing here acts; ``gt diff --base --head`` renders it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum

from reconciler.model.actions import Op
from reconciler.model.costs import Projection
from reconciler.model.desired import ConvoySpec, DesiredState, IssueOverride
from reconciler.model.observed import ObservedIssue, ObservedState
from reconciler.plan.costs import forecast
from reconciler.plan.planner import plan
from reconciler.plan.workers import route

STARTS = (Op.spawn, Op.respawn)


class Effect(Enum):
    """What the change does to a worker, against what the base would do now."""

    start = "start"  # the head's plan starts it; the base's would not
    stop = "stop"  # the head's plan stops it; the base's would not
    not_started = "not started"  # the base's plan would start it; the head's does not


class Change(Enum):
    added = "added"
    dropped = "dropped"
    changed = "changed"


@dataclass(frozen=True)
class ConvoyChange:
    name: str
    rig: str
    change: Change
    added: tuple[str, ...] = ()  # issues
    dropped: tuple[str, ...] = ()
    details: tuple[str, ...] = ()  # "paused: false -> true", "parallelism: 3 -> 1"


@dataclass(frozen=True)
class IssueChange:
    rig: str
    issue: str
    title: str
    change: Change  # added to, or dropped from, the work wanted
    convoy: str


@dataclass(frozen=True)
class WorkerChange:
    rig: str
    worker: str  # a town session's role (coordinator, witness) when rig is ""
    issue: str
    effect: Effect
    reason: str
    model: str = ""
    cost: float = 0.0  # a start's projected cost: its model's per-task cost

    @property
    def who(self) -> str:
        """RIG/WORKER, or a town session's role."""
        return f"{self.rig}/{self.worker}" if self.rig else self.worker


@dataclass(frozen=True)
class RouteChange:
    rig: str
    issue: str
    title: str
    before: str  # "model (agent)"
    after: str
    rule: str  # the head's routing rule, or "default"


@dataclass(frozen=True)
class RigChange:
    rig: str
    before: str  # a state, or "" when the rig is new
    after: str  # a state, or "" when the rig is gone


@dataclass(frozen=True)
class ConvoyCost:
    convoy: str
    rig: str
    base: float
    head: float
    default: float = 0.0  # the head's issues all on the default model
    default_model: str = ""


@dataclass(frozen=True)
class Review:
    rigs: tuple[RigChange, ...] = ()
    convoys: tuple[ConvoyChange, ...] = ()
    issues: tuple[IssueChange, ...] = ()
    workers: tuple[WorkerChange, ...] = ()
    routes: tuple[RouteChange, ...] = ()
    costs: tuple[ConvoyCost, ...] = ()
    unread: tuple[str, ...] = field(default=())  # rigs whose store could not be read, and why

    @property
    def base_cost(self) -> float:
        return round(sum(c.base for c in self.costs), 6)

    @property
    def head_cost(self) -> float:
        return round(sum(c.head for c in self.costs), 6)

    @property
    def default_cost(self) -> float:
        """The head's projected work all on the default model."""
        return round(sum(c.default for c in self.costs), 6)

    @property
    def empty(self) -> bool:
        return not (
            self.rigs or self.convoys or self.issues or self.workers or self.routes or self.base_cost != self.head_cost
        )


def review(
    base: DesiredState, head: DesiredState, base_seen: ObservedState, head_seen: ObservedState, now: float
) -> Review:
    """What merging ``head`` over ``base`` would change in the work."""
    return Review(
        rigs=_rig_changes(base, head),
        convoys=_convoy_changes(base, head),
        issues=_issue_changes(base, head, head_seen, base_seen),
        workers=_worker_changes(base, head, base_seen, head_seen, now),
        routes=_route_changes(base, head, head_seen),
        costs=_costs(base, head, base_seen, head_seen),
        unread=tuple(sorted({f"{r.name}: {r.error}" for r in (*base_seen.rigs, *head_seen.rigs) if r.error})),
    )


def wanted(desired: DesiredState) -> dict[tuple[str, str], str]:
    """(rig, issue) -> convoy, for every issue of a convoy that is not paused, on a rig that works."""
    states = {r.name: r.state for r in desired.rigs}
    return {
        (c.rig, issue): c.name
        for c in desired.convoys
        if not c.paused and states.get(c.rig) != "docked"
        for issue in c.issues
    }


def _rig_changes(base: DesiredState, head: DesiredState) -> tuple[RigChange, ...]:
    before = {r.name: r.state for r in base.rigs}
    after = {r.name: r.state for r in head.rigs}
    return tuple(
        RigChange(name, before.get(name, ""), after.get(name, ""))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    )


def _convoy_changes(base: DesiredState, head: DesiredState) -> tuple[ConvoyChange, ...]:
    before = {c.name: c for c in base.convoys}
    after = {c.name: c for c in head.convoys}
    changes = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None and new is not None:
            changes.append(ConvoyChange(name, new.rig, Change.added, added=new.issues))
        elif new is None and old is not None:
            changes.append(ConvoyChange(name, old.rig, Change.dropped, dropped=old.issues))
        elif old is not None and new is not None and old != new:
            changes.append(_convoy_changed(old, new))
    return tuple(changes)


def _convoy_changed(old: ConvoySpec, new: ConvoySpec) -> ConvoyChange:
    details = tuple(
        f"{what}: {_text(a)} -> {_text(b)}"
        for what, a, b in (
            ("rig", old.rig, new.rig),
            ("paused", old.paused, new.paused),
            ("parallelism", old.parallelism, new.parallelism),
            ("title", old.title, new.title),
        )
        if a != b
    )
    if old.issues != new.issues and set(old.issues) == set(new.issues):
        details = (*details, "issues reordered")
    own_before = {o.issue: o for o in old.overrides}
    own_after = {o.issue: o for o in new.overrides}
    details += tuple(f"{issue}: {_own(own_before.get(issue))} -> {_own(own_after.get(issue))}"
                     for issue in sorted(own_before.keys() | own_after.keys())
                     if _own(own_before.get(issue)) != _own(own_after.get(issue)))
    details += _molecule_changes(old, new)
    return ConvoyChange(
        new.name,
        new.rig,
        Change.changed,
        added=tuple(i for i in new.issues if i not in old.issues),
        dropped=tuple(i for i in old.issues if i not in new.issues),
        details=details,
    )


def _molecule_changes(old: ConvoySpec, new: ConvoySpec) -> tuple[str, ...]:
    """The convoy's molecule and its issues' own steps, where they changed (a step is never drift:
    workers go on with the new steps at their current step number)."""
    def steps(found: tuple[str, ...]) -> str:
        return f"{len(found)} step{'s' if len(found) != 1 else ''}" if found else "none"

    def change(what: str, a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
        if a == b:
            return ()
        return (f"{what}: {steps(a)} -> {steps(b)}" if len(a) != len(b) else f"{what}: {steps(b)}, reworded",)

    own_before, own_after = dict(old.steps), dict(new.steps)
    found = change("molecule", old.molecule, new.molecule)
    for issue in sorted(own_before.keys() | own_after.keys()):
        found += change(f"{issue} steps", own_before.get(issue, ()), own_after.get(issue, ()))
    return found


def _own(override: IssueOverride | None) -> str:
    """An issue's own model, agent and message, in words."""
    if override is None:
        return "routed"
    parts = [f"model {override.model}" if override.model else "", f"agent {override.agent}" if override.agent else "",
             f"message {override.message!r}" if override.message else ""]
    return ", ".join(p for p in parts if p) or "routed"


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _issue_changes(
    base: DesiredState, head: DesiredState, head_seen: ObservedState, base_seen: ObservedState
) -> tuple[IssueChange, ...]:
    before, after = wanted(base), wanted(head)
    changes = [
        IssueChange(rig, issue, _title(head_seen, rig, issue), Change.added, convoy)
        for (rig, issue), convoy in after.items()
        if (rig, issue) not in before
    ]
    changes += [
        IssueChange(rig, issue, _title(base_seen, rig, issue), Change.dropped, convoy)
        for (rig, issue), convoy in before.items()
        if (rig, issue) not in after
    ]
    return tuple(sorted(changes, key=lambda c: (c.rig, c.change.value, c.issue)))


def _title(seen: ObservedState, rig: str, issue: str) -> str:
    found = seen.rig(rig).issue(issue)
    return found.title if found else ""


def _worker_changes(
    base: DesiredState, head: DesiredState, base_seen: ObservedState, head_seen: ObservedState, now: float
) -> tuple[WorkerChange, ...]:
    """Sessions the head's plan starts or stops that the base's would not, and starts it drops."""

    def acts(desired: DesiredState, seen: ObservedState) -> dict[tuple[str, str, Op], WorkerChange]:
        found = {}
        for a in plan(desired, seen, now, backoff=False).actions:
            if a.op in STARTS or a.op is Op.stop:
                start = a.op in STARTS
                model = a.spec.model if a.spec and start else ""
                cost = desired.routing_for(desired.rig(a.rig)).model(model).cost if model and a.rig else 0.0
                effect = Effect.start if start else Effect.stop
                # By issue (worker names may differ between the two plans); a town session has none.
                found[(a.rig, a.issue or a.worker, Op.spawn if start else Op.stop)] = WorkerChange(
                    a.rig, a.worker, a.issue, effect, a.reason, model, cost
                )
        return found

    before, after = acts(base, base_seen), acts(head, head_seen)
    changes = [change for key, change in after.items() if key not in before]
    changes += [
        replace(change, effect=Effect.not_started)
        for key, change in before.items()
        if key not in after and change.effect is Effect.start
    ]
    order = {e: n for n, e in enumerate(Effect)}
    return tuple(sorted(changes, key=lambda c: (c.rig, order[c.effect], c.issue)))


def _route_changes(base: DesiredState, head: DesiredState, head_seen: ObservedState) -> tuple[RouteChange, ...]:
    before, after = wanted(base), wanted(head)
    changes = []
    for rig, issue in sorted(after.keys() & before.keys()):
        seen = head_seen.rig(rig).issue(issue)
        if seen is None or seen.status == "closed":
            continue
        old, _ = _route(base, rig, seen)
        new, rule = _route(head, rig, seen)
        if old != new:
            changes.append(RouteChange(rig, issue, seen.title, old, new, rule))
    return tuple(changes)


def _route(desired: DesiredState, rig_name: str, issue: ObservedIssue) -> tuple[str, str]:
    model, agent, chosen = route(desired, desired.rig(rig_name), issue.id, issue)
    return f"{model.name} ({agent.name})", chosen


def _costs(
    base: DesiredState, head: DesiredState, base_seen: ObservedState, head_seen: ObservedState
) -> tuple[ConvoyCost, ...]:
    """Each convoy's projected cost: its open issues at their routed models' prices, and (for the
    head) at its default model's."""

    def per_convoy(desired: DesiredState, seen: ObservedState) -> dict[tuple[str, str], Projection]:
        worked = set(wanted(desired).values())
        ahead = (forecast(desired, seen, c) for c in desired.convoys if c.name in worked)
        return {(f.convoy, f.rig): f.projection for f in ahead if f.open}

    before, after = per_convoy(base, base_seen), per_convoy(head, head_seen)
    none = Projection(0.0, "", 0.0)
    return tuple(
        ConvoyCost(convoy, rig, round(before.get((convoy, rig), none).cost, 6),
                   round(after.get((convoy, rig), none).cost, 6), round(after.get((convoy, rig), none).default_cost, 6),
                   after.get((convoy, rig), none).default_model)
        for convoy, rig in sorted(before.keys() | after.keys())
    )


def issues_of(changes: Iterable[IssueChange], change: Change) -> tuple[str, ...]:
    return tuple(c.issue for c in changes if c.change is change)
