"""Small builders for planner tests: desired and observed state in a line or two each."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.manifests.build import convoy_of, defaulted, rig_of, town_of
from reconciler.model.actions import Action, Note, Plan
from reconciler.model.desired import (
    AgentSpec,
    ConvoySpec,
    DesiredState,
    ModelSpec,
    RigSpec,
    RoutingRule,
    RoutingSpec,
)
from reconciler.model.observed import (
    CrashRecord,
    FailureRecord,
    ObservedIssue,
    ObservedRig,
    ObservedSession,
    ObservedState,
    ObservedWorktree,
    Stamps,
    role_of,
    session_name,
)
from reconciler.plan.workers import worker_spec

ROOT = "/town"
NOW = 1_000_000.0
PREFIXES = {"csm": "cs", "gl": "gl"}

# A routing with one rule of each kind the tests pick by.
ROUTING = RoutingSpec(
    name="default",
    default="sonnet",
    agents=(
        AgentSpec(name="claude", command=("claude", "--dangerously-skip-permissions"),
                  process_names=("claude", "node")),
    ),
    models=(
        ModelSpec("haiku", "claude", ("--model", "haiku"), 0.001, None),
        ModelSpec("sonnet", "claude", ("--model", "sonnet"), 0.01, None),
        ModelSpec("opus", "claude", ("--model", "opus"), 0.1, None),
    ),
    rules=(
        RoutingRule(model="haiku", label="model:haiku"),
        RoutingRule(model="opus", label="complexity:complex"),
        RoutingRule(model="haiku", title=r"(?i)\b(rename|typo)\b"),
    ),
)


def rig(name: str = "csm", **kw: Any) -> RigSpec:
    """A rig with the schema's defaults, then ``kw`` in place of them."""
    spec = defaulted("Rig", {"repo": f"../{name}", "beads": {"prefix": PREFIXES.get(name, name[:2])}})
    return replace(rig_of(name, spec), **kw)


def convoy(name: str, *issues: str | dict[str, Any], rig: str = "csm", **kw: Any) -> ConvoySpec:
    """A convoy with the schema's defaults; an issue may be ``{id, model, agent, message}``."""
    return replace(convoy_of(name, defaulted("Convoy", {"rig": rig, "issues": list(issues)})), **kw)


def desired(*rigs: RigSpec, convoys: tuple[ConvoySpec, ...] = (),
            routings: tuple[RoutingSpec, ...] = (), town: dict[str, Any] | None = None) -> DesiredState:
    """A town of ``rigs`` (one csm by default); its Town's spec is ``town``, else the schema's defaults
    with the view sessions off (tests/test_plan_town.py plans those)."""
    spec = defaulted("Town", {"views": False} if town is None else town)
    return DesiredState(town=town_of("town", spec), root=ROOT, rigs=rigs or (rig(),),
                        convoys=convoys, routings=routings)


def issue(issue_id: str, status: str = "open", **kw: Any) -> ObservedIssue:
    title = kw.pop("title", f"Work on {issue_id}")
    return ObservedIssue(id=issue_id, title=title, status=status, **kw)


def hooked(issue_id: str, worker: str, rig: str = "csm", status: str = "hooked",
           **kw: Any) -> ObservedIssue:
    """An issue on ``worker``'s hook."""
    return issue(issue_id, status, assignee=role_of(rig, worker), **kw)


def obs_rig(name: str, *issues: ObservedIssue, error: str | None = None,
            worktrees: tuple[ObservedWorktree, ...] = ()) -> ObservedRig:
    return ObservedRig(name=name, issues=tuple(issues), error=error, worktrees=worktrees)


def observed(*rigs: ObservedRig, sessions: tuple[ObservedSession, ...] = (),
             crashes: tuple[CrashRecord, ...] = (), failures: tuple[FailureRecord, ...] = ()) -> ObservedState:
    return ObservedState(sessions=sessions, rigs=rigs, crashes=crashes, failures=failures)


def session(d: DesiredState, rig_name: str, worker: str, on: ObservedIssue, *,
            idle: float = 0.0, dead: bool = False, nudges: int = 0,
            last_nudge: float = 0.0, fingerprint: str | None = None,
            now: float = NOW, help_sent: bool = False, command: str = "claude",
            processes: tuple[str, ...] | None = None, age: float = 86_400) -> ObservedSession:
    """A session the reconciler made for ``worker`` on issue ``on``.

    ``idle`` is how long ago its last activity was; ``fingerprint`` defaults to the one the
    manifests ask for (no drift).
    """
    if fingerprint is None:
        fingerprint = worker_spec(d, d.rig(rig_name), worker, on).fingerprint
    stamps = Stamps(rig=rig_name, worker=worker, issue=on.id, generation=f"g-{worker}",
                    fingerprint=fingerprint, nudges=nudges, last_nudge=last_nudge,
                    help="1" if help_sent else "")
    return ObservedSession(name=session_name(rig_name, worker), pane_pid=4000 + len(worker),
                           command=command, dead=dead, activity=now - idle,
                           created=now - age, stamps=stamps, processes=processes)


NO_STAMPS = Stamps()


def stray(name: str, stamps: Stamps = NO_STAMPS, now: float = NOW) -> ObservedSession:
    """A session on the town's socket that the given stamps (maybe none) describe."""
    return ObservedSession(name=name, pane_pid=9999, command="bash", dead=False,
                           activity=now, created=now - 60, stamps=stamps)


def compact(action: Action) -> tuple[str, str, str, str]:
    return (action.op.value, action.worker, action.issue, action.reason)


def compact_note(note: Note) -> tuple[str, str, str]:
    return (note.reason, note.worker, note.issue)


def summary(p: Plan) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    return [compact(a) for a in p.actions], [compact_note(n) for n in p.notes]
