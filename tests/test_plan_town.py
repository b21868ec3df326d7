"""Table tests of the town's own sessions in the pure planner: the coordinator (started, restarted
after crashes with backoff and quarantine, stopped when no longer declared) and the two views."""

from __future__ import annotations

import typing as t
from dataclasses import replace

import pytest

from reconciler.model.actions import Level, Op
from reconciler.model.desired import AgentSpec, DesiredState, ModelSpec, PromptVia, RoutingSpec
from reconciler.model.observed import CrashRecord, ObservedSession, ObservedState, ProgramLookup, Stamps
from reconciler.model.roles import COORDINATOR_PROMPT, TownRole, town_session
from reconciler.plan.planner import plan
from reconciler.plan.town import DRIFT_IDLE, town_spec
from tests.plan_builders import NOW, ROUTING, desired, obs_rig, observed, summary

ActionRow = tuple[str, str, str, str]  # (op, worker, issue, reason): a town session's worker is its role
NoteRow = tuple[str, str, str]

COORDINATED = {"coordinator": {"model": "opus"}, "views": False}
WITH_VIEWS: dict[str, t.Any] = {}  # the schema's defaults: views on, no coordinator


def town(spec: dict[str, t.Any], routings: tuple[RoutingSpec, ...] = (ROUTING,)) -> DesiredState:
    return desired(town=spec, routings=routings)


def running(d: DesiredState, role: TownRole, *, dead: bool = False, quiet: float = 0.0, age: float = 3600.0,
            fingerprint: str | None = None, screen: tuple[str, ...] | None = None,
            processes: tuple[str, ...] | None = None) -> ObservedSession:
    """The session ``role`` as gt started it, ``quiet`` seconds since its last activity."""
    spec, _ = town_spec(d, role)
    stamps = Stamps(worker=role.value, generation=f"g-{role.value}",
                    fingerprint=spec.fingerprint if fingerprint is None else fingerprint, agent=spec.agent)
    return ObservedSession(name=town_session(role), pane_pid=7000, command="claude", dead=dead,
                           activity=NOW - quiet, created=NOW - age, stamps=stamps, screen=screen,
                           processes=processes, exit_status=3 if dead else None)


def seen(*sessions: ObservedSession, crashes: tuple[CrashRecord, ...] = (),
         programs: tuple[ProgramLookup, ...] = ()) -> ObservedState:
    return replace(observed(obs_rig("csm"), sessions=sessions, crashes=crashes), programs=programs)


def crashes(d: DesiredState, *ago: float, quarantined: bool = False) -> tuple[CrashRecord, ...]:
    spec, _ = town_spec(d, TownRole.coordinator)
    return (CrashRecord("", "coordinator", "", spec.fingerprint, tuple(NOW - a for a in ago), quarantined),)


class Case(t.NamedTuple):
    test_id: str
    desired: DesiredState
    observed: ObservedState
    expected: list[ActionRow]
    notes: t.Sequence[NoteRow] = ()
    max_spawns: int | None = None


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    c = town(COORDINATED)
    add(Case("coordinator-started-when-missing", c, seen(),
             [("spawn", "coordinator", "", "session-missing")]))
    add(Case("coordinator-running-nothing-to-do", c, seen(running(c, TownRole.coordinator)), []))
    add(Case("coordinator-restarted-after-it-exits", c, seen(running(c, TownRole.coordinator, dead=True)),
             [("respawn", "coordinator", "", "crashed")]))
    add(Case("coordinator-restarted-when-its-agent-is-gone", c,
             seen(running(c, TownRole.coordinator, processes=("sh", "bash"))),
             [("respawn", "coordinator", "", "crashed")]))
    add(Case("coordinator-crash-backs-off", c,
             seen(running(c, TownRole.coordinator, dead=True), crashes=crashes(c, 5)),
             [], [("crash-loop", "coordinator", "")]))
    add(Case("coordinator-restarted-once-the-backoff-ends", c,
             seen(running(c, TownRole.coordinator, dead=True), crashes=crashes(c, 31)),
             [("respawn", "coordinator", "", "crashed")]))
    add(Case("coordinator-quarantined-after-max-crashes", c,
             seen(running(c, TownRole.coordinator, dead=True), crashes=crashes(c, 900, 800, 600, 400, 31)),
             [("quarantine", "coordinator", "", "crash-loop")]))
    add(Case("coordinator-stays-quarantined", c,
             seen(running(c, TownRole.coordinator, dead=True), crashes=crashes(c, 60, quarantined=True)),
             [], [("quarantined", "coordinator", "")]))
    add(Case("coordinator-stopped-once-no-longer-declared", town({"views": False}),
             seen(running(c, TownRole.coordinator)), [("stop", "coordinator", "", "unwanted")]))
    add(Case("coordinator-drift-restarts-once-quiet", c,
             seen(running(c, TownRole.coordinator, fingerprint="old", quiet=DRIFT_IDLE)),
             [("restart", "coordinator", "", "drift")]))
    add(Case("coordinator-drift-waits-while-it-talks", c,
             seen(running(c, TownRole.coordinator, fingerprint="old", quiet=5)),
             [], [("drift", "coordinator", "")]))
    missing = ProgramLookup("", "claude", "claude", None, "/usr/bin:/bin")
    add(Case("coordinator-agent-missing-is-an-error", c, seen(programs=(missing,)),
             [], [("agent-missing", "coordinator", "")]))
    add(Case("coordinator-waits-for-the-spawn-budget", c, seen(), [], [("waiting", "coordinator", "")], 0))

    v = town(WITH_VIEWS)
    add(Case("views-started-when-missing", v, seen(),
             [("spawn", "witness", "", "session-missing"), ("spawn", "refinery", "", "session-missing")]))
    add(Case("views-running-nothing-to-do", v, seen(running(v, TownRole.witness), running(v, TownRole.refinery)), []))
    add(Case("a-view-that-ended-is-started-again", v,
             seen(running(v, TownRole.witness, dead=True), running(v, TownRole.refinery)),
             [("respawn", "witness", "", "crashed")]))
    add(Case("a-view-restarts-at-once-on-drift", v,
             seen(running(v, TownRole.witness), running(v, TownRole.refinery, fingerprint="old")),
             [("restart", "refinery", "", "drift")]))
    add(Case("views-turned-off-are-stopped", town({"views": False}),
             seen(running(v, TownRole.witness), running(v, TownRole.refinery)),
             [("stop", "witness", "", "unwanted"), ("stop", "refinery", "", "unwanted")]))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_town_sessions(case: Case) -> None:
    result = plan(case.desired, case.observed, NOW, max_spawns=case.max_spawns)
    actions, notes = summary(result)
    assert actions == case.expected
    assert notes == list(case.notes)
    assert all(a.rig == "" and a.session == town_session(TownRole(a.worker)) and type(a.worker) is str
               for a in result.actions)


def test_town_sessions_are_never_orphans_and_strays_still_are() -> None:
    v = town(WITH_VIEWS)
    stray = ObservedSession("gt-csm-ghost", 1, "bash", False, NOW, NOW - 60)
    result = plan(v, seen(running(v, TownRole.witness), running(v, TownRole.refinery), stray), NOW)
    assert summary(result) == ([], [("orphan", "", "")])
    assert result.notes[0].session == "gt-csm-ghost" and result.notes[0].level is Level.warn


def test_the_coordinators_session_knows_its_role_and_runs_the_routings_model() -> None:
    c = town(COORDINATED)
    found = ProgramLookup("", "claude", "claude", "/opt/bin/claude", "/opt/bin")
    (action,) = plan(c, seen(programs=(found,)), NOW).actions
    spec = action.spec
    assert spec is not None and action.op is Op.spawn
    env = dict(spec.env)
    assert (env["GT_ROLE"], env["GT_TOWN"], env["BD_ACTOR"], env["GT_MODEL"]) == (
        "coordinator", "/town", "coordinator", "opus")
    assert spec.worktree == "/town"  # it starts in the town's root
    assert spec.command == ("/opt/bin/claude", "--dangerously-skip-permissions", "--model", "opus",
                            COORDINATOR_PROMPT)
    assert (spec.model, spec.agent, spec.session) == ("opus", "claude", "gt-coordinator")
    # Where the program was found is not what the manifests say: moving it is no drift.
    assert spec.fingerprint == town_spec(c, TownRole.coordinator)[0].fingerprint


def test_the_views_run_gt_itself_on_the_town() -> None:
    v = town(WITH_VIEWS)
    witness, refinery = (town_spec(v, role)[0] for role in (TownRole.witness, TownRole.refinery))
    assert witness.command == ("gt", "--town", "/town", "status", "--watch", "--every", "2")
    assert refinery.command == ("gt", "--town", "/town", "queue", "--watch", "--every", "2")
    assert dict(witness.env)["GT_ROLE"] == "witness"


TYPED = RoutingSpec("default", "tui", (AgentSpec(
    "tui", ("tui",), prompt_via=PromptVia.type, ready="(?m)^> ",
    dialogs=(), preset="script"),), (ModelSpec("tui", "tui", (), 0.0, None),))


def test_a_typed_prompt_coordinator_gets_its_prompt_once_ready() -> None:
    c = town({"coordinator": {}, "views": False}, routings=(TYPED,))
    ready = running(c, TownRole.coordinator, screen=("> ",), age=5)
    (action,) = plan(c, seen(ready), NOW).actions
    assert (action.op, action.reason) == (Op.prompt, "start-prompt")
    assert action.spec is not None and action.spec.prompt == COORDINATOR_PROMPT


def test_a_coordinators_known_dialog_is_answered() -> None:
    from reconciler.model.presets import PRESETS

    claude = RoutingSpec("default", "opus", (replace(PRESETS["claude"], name="claude"),),
                         (ModelSpec("opus", "claude", ("--model", "opus"), 0.1, None),))
    c = town({"coordinator": {}, "views": False}, routings=(claude,))
    trust = running(c, TownRole.coordinator, screen=("Quick safety check: do you trust this folder?",), age=3)
    (action,) = plan(c, seen(trust), NOW).actions
    assert (action.op, action.worker, action.keys) == (Op.answer, "coordinator", ("Enter",))


def test_a_review_names_a_coordinator_the_change_adds_beside_the_views() -> None:
    from reconciler.cli.review_render import review_lines
    from reconciler.loop.review import ReviewResult
    from reconciler.loop.revision import ON_DISK
    from reconciler.plan.review import review

    base, head = town(WITH_VIEWS), town({"coordinator": {"model": "opus"}})
    found = review(base, head, seen(), seen(), NOW)  # both start the views: no change there
    assert [(w.who, w.effect.value, w.model) for w in found.workers] == [("coordinator", "start", "opus")]
    lines = list(review_lines(ReviewResult(ON_DISK, ON_DISK, found)))
    assert "  + start coordinator with opus (session-missing)" in lines  # no issue: no per-task cost
