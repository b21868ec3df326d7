"""Swarms, table-tested: (desired, observed) -> the plan of each phase, Plan -> Execute -> Review,
with the model each phase runs on. A swarm's subtasks and review are the children of its listed
issue in Beads; readiness (their ``blocks`` dependencies) orders the phases."""

from __future__ import annotations

import typing as t
from dataclasses import replace

import pytest

from reconciler.model.desired import DesiredState, SwarmSpec
from reconciler.model.observed import DONE_LABEL, ObservedIssue, ObservedSession, ObservedState
from reconciler.model.swarm import REVIEW_LABEL, TASK_LABEL, SwarmRole, members, part_of
from reconciler.plan.planner import plan
from tests.plan_builders import NOW, convoy, desired, hooked, issue, obs_rig, observed, session

SWARM = SwarmSpec(planner="sonnet", executor="haiku", reviewer="opus")
PLAN = "cs-prof"
TASKS = ("cs-prof.1", "cs-prof.2", "cs-prof.3")
REVIEW = "cs-prof.4"


def town(*issues: str | dict[str, t.Any], swarm: SwarmSpec | None = SWARM, **kw: t.Any) -> DesiredState:
    return desired(convoys=(convoy("prof", *(issues or (PLAN,)), swarm=swarm, **kw),))


def task(issue_id: str, status: str = "open", *, blocked_by: tuple[str, ...] = (), **kw: t.Any) -> ObservedIssue:
    return issue(issue_id, status, parent=PLAN, labels=(TASK_LABEL, *kw.pop("labels", ())),
                 blocked_by=blocked_by, **kw)


def review(status: str = "open", *, blocked_by: tuple[str, ...] = (), **kw: t.Any) -> ObservedIssue:
    return issue(REVIEW, status, parent=PLAN, labels=(REVIEW_LABEL, *kw.pop("labels", ())),
                 blocked_by=blocked_by, **kw)


def held(base: ObservedIssue, worker: str, status: str = "in_progress", done: bool = False) -> ObservedIssue:
    labels = base.labels + ((DONE_LABEL,) if done else ())
    return replace(hooked(base.id, worker, status=status), parent=base.parent, labels=labels)


def world(d: DesiredState, *issues: ObservedIssue, working: tuple[ObservedIssue, ...] = (),
          announced: frozenset[str] | None = None) -> ObservedState:
    """The rig with ``issues`` and a live session for each issue in ``working`` (held by its worker)."""
    sessions: list[ObservedSession] = []
    for w in working:
        assert w.assignee is not None
        sessions.append(session(d, "csm", w.assignee.rsplit("/", 1)[1], w))
    return replace(observed(obs_rig("csm", *issues, *working), sessions=tuple(sessions)), announced=announced)


class Case(t.NamedTuple):
    test_id: str
    desired: DesiredState
    observed: ObservedState
    actions: list[tuple[str, str, str, str, str]]  # op, worker, issue, reason, model ("" without a spec)
    notes: tuple[tuple[str, str], ...] = ()  # reason, issue: at least these


ALL_BLOCKED = (PLAN, *TASKS)


def _cases() -> list[Case]:
    d = town()
    planner = held(issue(PLAN), "nux")
    closed_plan = issue(PLAN, "closed")
    tasks_waiting = [task(i, blocked_by=(PLAN,)) for i in TASKS]
    tasks_ready = [task(i) for i in TASKS]
    return [
        Case("plan: the listed issue goes to the planner model",
             d, world(d, issue(PLAN)),
             [("spawn", "nux", PLAN, "unassigned", "sonnet")]),
        Case("plan: the swarm beats a matching rule",
             d, world(d, issue(PLAN, labels=("model:haiku",))),
             [("spawn", "nux", PLAN, "unassigned", "sonnet")]),
        Case("plan: the issue's own model beats the swarm",
             town({"id": PLAN, "model": "opus"}), world(town({"id": PLAN, "model": "opus"}), issue(PLAN)),
             [("spawn", "nux", PLAN, "unassigned", "opus")]),
        Case("plan: subtasks filed while the planner works wait for its plan to land",
             d, world(d, *tasks_waiting, review(blocked_by=ALL_BLOCKED), working=(planner,)),
             [], (*(("blocked", i) for i in TASKS), ("blocked", REVIEW))),
        Case("plan: a planner reporting done is merged like any worker",
             d, world(d, *tasks_waiting, review(blocked_by=ALL_BLOCKED),
                      working=(held(issue(PLAN), "nux", done=True),)),
             [("merge", "nux", PLAN, "merge-ready", "sonnet")]),
        Case("execute: every subtask starts at once on the executor model, the review waits",
             d, world(d, closed_plan, *tasks_ready, review(blocked_by=TASKS)),
             [("spawn", "nux", "cs-prof.1", "unassigned", "haiku"),
              ("spawn", "slit", "cs-prof.2", "unassigned", "haiku"),
              ("spawn", "toast", "cs-prof.3", "unassigned", "haiku")],
             (("blocked", REVIEW),)),
        Case("execute: a subtask filed by hand (no label) is a subtask too",
             d, world(d, closed_plan, issue("cs-prof.1", parent=PLAN), review(blocked_by=("cs-prof.1",))),
             [("spawn", "nux", "cs-prof.1", "unassigned", "haiku")], (("blocked", REVIEW),)),
        Case("execute: the convoy's parallelism holds for subtasks",
             town(parallelism=2), world(town(parallelism=2), closed_plan, *tasks_ready, review(blocked_by=TASKS)),
             [("spawn", "nux", "cs-prof.1", "unassigned", "haiku"),
              ("spawn", "slit", "cs-prof.2", "unassigned", "haiku")],
             (("waiting", "cs-prof.3"), ("blocked", REVIEW))),
        Case("execute: running subtasks are the convoy's, not unwanted",
             d, world(d, closed_plan, review(blocked_by=TASKS),
                      working=tuple(held(task(i), w) for i, w in zip(TASKS, ("nux", "slit", "toast"), strict=True))),
             [], (("blocked", REVIEW),)),
        Case("execute: the review waits while one subtask is still open",
             d, world(d, closed_plan, task("cs-prof.1", "closed"), task("cs-prof.2", "closed"),
                      review(blocked_by=("cs-prof.3",)), working=(held(task("cs-prof.3"), "toast", done=True),)),
             [("merge", "toast", "cs-prof.3", "merge-ready", "haiku")], (("blocked", REVIEW),)),
        Case("review: once every subtask is merged and closed, the reviewer model reviews",
             d, world(d, closed_plan, *(task(i, "closed") for i in TASKS), review()),
             [("spawn", "nux", REVIEW, "unassigned", "opus")]),
        Case("review: its report is merged",
             d, world(d, closed_plan, *(task(i, "closed") for i in TASKS), working=(held(review(), "nux", done=True),)),
             [("merge", "nux", REVIEW, "merge-ready", "opus")]),
        Case("landed: only once the review is closed too",
             d, world(d, closed_plan, *(task(i, "closed") for i in TASKS), review("closed"), announced=frozenset()),
             [("announce", "", "prof", "landed", "")]),
        Case("landed: not while the children are open, though the listed issue is closed",
             d, world(d, closed_plan, *tasks_ready[:1], *(task(i, "closed") for i in TASKS[1:]),
                      review(blocked_by=TASKS[:1]), announced=frozenset()),
             [("spawn", "nux", "cs-prof.1", "unassigned", "haiku")]),
        Case("no swarm: an ordinary convoy does not work its issue's children",
             town(swarm=None), world(town(swarm=None), closed_plan, *tasks_ready),
             []),
        Case("no swarm any more: the children's workers stop and give them back",
             town(swarm=None), world(town(swarm=None), closed_plan, working=(held(task("cs-prof.1"), "nux"),)),
             [("stop", "nux", "cs-prof.1", "unwanted", "")]),
        Case("paused: nothing new starts, a running subtask goes on",
             town(paused=True), world(town(paused=True), closed_plan, task("cs-prof.2"),
                                      working=(held(task("cs-prof.1"), "nux"),)),
             []),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_swarm_phase(case: Case) -> None:
    result = plan(case.desired, case.observed, NOW)
    got = [(a.op.value, a.worker, a.issue, a.reason.value, a.spec.model if a.spec else "") for a in result.actions]
    assert got == case.actions
    notes = {(n.reason.value, n.issue) for n in result.notes}
    assert set(case.notes) <= notes, notes
    for a in result.actions:
        if a.op.value == "spawn" and a.spec is not None:
            role = {"sonnet": "planner", "haiku": "executor", "opus": "reviewer"}[a.spec.model]
            if "override" not in a.spec.rule:
                assert a.spec.rule == f"swarm prof: {role}" and dict(a.spec.env)["GT_MODEL"] == a.spec.model


def test_members_put_each_listed_issue_before_its_subtasks_and_its_review_last() -> None:
    d = town(PLAN, "cs-other")
    (c,) = d.convoys
    found = [review(), task("cs-prof.1"), issue("cs-other.1", parent="cs-other"), task("cs-prof.2"),
             issue("cs-loose"), issue(PLAN)]
    assert members(c, found) == (PLAN, "cs-prof.1", "cs-prof.2", REVIEW, "cs-other", "cs-other.1")
    assert members(replace(c, swarm=None), found) == (PLAN, "cs-other")


def test_each_issue_knows_its_part() -> None:
    d = town()
    parts = {i: part_of(d, "csm", i, parent, labels) for i, parent, labels in (
        (PLAN, None, ()), ("cs-prof.1", PLAN, (TASK_LABEL,)), (REVIEW, PLAN, (REVIEW_LABEL,)),
        ("cs-loose", None, ()), ("cs-loose.1", "cs-loose", ()))}
    assert {i: (p.role, p.model, p.planning) if p else None for i, p in parts.items()} == {
        PLAN: (SwarmRole.planner, "sonnet", PLAN), "cs-prof.1": (SwarmRole.executor, "haiku", PLAN),
        REVIEW: (SwarmRole.reviewer, "opus", PLAN), "cs-loose": None, "cs-loose.1": None}
    assert part_of(town(swarm=None), "csm", "cs-prof.1", PLAN, ()) is None


def test_convoy_progress_counts_the_children_each_with_its_part() -> None:
    from reconciler.loop.progress import convoy_progress

    (c,) = town().convoys
    seen = obs_rig("csm", issue(PLAN, "closed"), task("cs-prof.1", "closed"), held(task("cs-prof.2"), "slit"),
                   task("cs-prof.3"), review(blocked_by=("cs-prof.2", "cs-prof.3")))
    progress = convoy_progress(c, seen)
    assert [(i.id, i.state.value, i.swarm) for i in progress.issues] == [
        (PLAN, "merged", "planner"), ("cs-prof.1", "merged", "executor"), ("cs-prof.2", "working", "executor"),
        ("cs-prof.3", "waiting", "executor"), (REVIEW, "blocked", "reviewer")]
    assert progress.summary() == {"done": 2, "working": 1, "waiting": 2, "total": 5} and not progress.landed
    assert progress.issues[-1].headline == f"reviewer: Work on {REVIEW}"
    assert progress.as_dict()["issues"][0]["swarm"] == "planner"  # type: ignore[index]


def test_gt_route_says_a_swarm_members_model_comes_from_its_phase() -> None:
    from reconciler.plan.routes import ChosenBy, explain

    d = town()
    e = explain(d, d.rig("csm"), "cs-prof.1", task("cs-prof.1", labels=("model:opus",)))
    assert (e.model, e.chosen_by, e.chosen, e.rules_model) == ("haiku", ChosenBy.swarm, "swarm prof: executor", "opus")
    assert e.as_dict()["swarm"] == {"convoy": "prof", "role": "executor", "model": "haiku"}
    own = town({"id": PLAN, "model": "opus"})
    e = explain(own, own.rig("csm"), PLAN, issue(PLAN))
    assert (e.model, e.chosen_by) == ("opus", ChosenBy.override) and e.swarm is not None
    e = explain(town(swarm=None), town(swarm=None).rig("csm"), "cs-prof.1", task("cs-prof.1"))
    assert (e.chosen_by, e.swarm) == (ChosenBy.default, None)


def test_a_swarms_children_count_against_its_convoys_budget() -> None:
    from reconciler.model.costs import Scope
    from reconciler.model.observed import role_of
    from reconciler.plan.budgets import Ledger
    from reconciler.plan.costs import closed_costs

    d = town(budget=1.0)
    done_task = replace(task("cs-prof.1", "closed"), assignee=role_of("csm", "nux"))  # haiku, $0.001
    seen = world(d, issue(PLAN, "closed", assignee=role_of("csm", "ace")), done_task,
                 working=(held(task("cs-prof.2"), "slit"),))
    ledger = Ledger.of(d, seen)
    state = ledger._states[(Scope.convoy, "prof")]
    # The plan ($0.01 on sonnet) and the closed subtask ($0.001 on haiku) are spent; the running
    # subtask ($0.001) is running: all charged to the swarm's convoy, not to the rig alone.
    assert (state.spent, state.running) == (0.011, 0.001)
    assert {c.issue: c.convoy for c in closed_costs(d, seen)} == {PLAN: "prof", "cs-prof.1": "prof"}
