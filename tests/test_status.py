"""Health and progress as status reports them: a pure function of desired, observed and plan."""

from __future__ import annotations

import typing as t
from dataclasses import replace

import pytest

from reconciler.loop.status import BAD, build_status
from reconciler.model.observed import CrashRecord, ObservedState
from reconciler.plan.planner import plan

from .plan_builders import NOW, convoy, desired, hooked, issue, obs_rig, observed, rig, session


class Case(t.NamedTuple):
    test_id: str
    state: str
    session_kw: dict[str, t.Any] | None
    crashes: tuple[CrashRecord, ...]
    expected: str


def _fp() -> str:
    from reconciler.plan.workers import worker_spec

    d = desired(convoys=(convoy("auth", "cs-1"),))
    return worker_spec(d, d.rig("csm"), "nux", hooked("cs-1", "nux")).fingerprint


CASES = [
    Case("working", "active", {"idle": 5}, (), "Working"),
    Case("idle", "active", {"idle": 400, "nudges": 1, "last_nudge": NOW - 10}, (), "Idle"),
    Case("stuck", "active", {"idle": 4000, "nudges": 3, "help_sent": True}, (), "Stuck"),
    Case("no-session-yet", "active", None, (), "Starting"),
    Case("young-and-not-picked-up", "active", {"idle": 1, "age": 5}, (), "Starting"),
    Case("docked", "docked", None, (), "Docked"),
    Case("parked", "parked", {"idle": 5}, (), "Parked"),
    Case("running-but-crashed-recently", "active", {"idle": 1},
         (CrashRecord("csm", "nux", "cs-1", "fp", (NOW - 30,)),), "CrashLoop"),
    Case("crashes-long-ago-are-forgotten", "active", {"idle": 1},
         (CrashRecord("csm", "nux", "cs-1", "fp", (NOW - 5000,)),), "Working"),
    Case("quarantined", "active", {"dead": True},
         (CrashRecord("csm", "nux", "cs-1", "<fp>", (NOW - 30,) * 5, True),), "Quarantined"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_worker_health(case: Case) -> None:
    d = desired(rig(state=case.state), convoys=(convoy("auth", "cs-1", "cs-2"),))
    d = replace(d, town=replace(d.town, crash_loop=replace(d.town.crash_loop, window=900)))
    status = "hooked" if case.test_id == "young-and-not-picked-up" else "in_progress"
    on = hooked("cs-1", "nux", status=status)
    sessions = (session(d, "csm", "nux", on, **case.session_kw),) if case.session_kw is not None else ()
    # "<fp>" stands for the fingerprint the manifests ask for: a quarantine that still holds.
    crashes = tuple(replace(c, fingerprint=_fp()) if c.fingerprint == "<fp>" else c for c in case.crashes)
    obs = ObservedState(sessions, (obs_rig("csm", on, issue("cs-2")),), crashes)
    doc = build_status(d, obs, plan(d, obs, NOW), NOW)
    (worker,) = doc["rigs"][0]["workers"]
    assert worker["health"] == case.expected
    if worker["health"] in BAD:  # a bad health always says why
        assert worker["reason"], worker


def test_convoy_progress_and_sync() -> None:
    d = desired(convoys=(convoy("auth", "cs-1", "cs-2", "cs-3", "cs-4"),))
    on = hooked("cs-2", "nux")
    obs = observed(obs_rig("csm", hooked("cs-1", "x", status="closed"), on, issue("cs-3"), issue("cs-4")),
                   sessions=(session(d, "csm", "nux", on, idle=5),))
    doc = build_status(d, obs, plan(d, obs, NOW), NOW)
    assert doc["convoys"] == [{"name": "auth", "rig": "csm", "paused": False, "done": 1,
                               "working": 1, "waiting": 2, "total": 4, "landed": False}]
    assert doc["sync"]["status"] == "OutOfSync"
    assert [p.split()[1] for p in doc["sync"]["pending"]] == ["spawn", "spawn"]


def test_the_planner_reports_each_workers_most_telling_condition() -> None:
    from reconciler.model.actions import Action, Note, Op
    from reconciler.model.reasons import Condition, Reason
    from reconciler.plan.planner import Draft, worker_conditions

    draft = Draft()
    draft.note(0, Note("csm", Reason.agent_blocked, "at a dialog", "nux"))
    draft.act(0, Action(Op.respawn, "csm", "nux", "cs-1", "gt-csm-nux", Reason.crashed, "exited 1"))
    draft.note(0, Note("csm", Reason.waiting, "parallelism reached", "slit"))  # says nothing of health
    draft.note(0, Note("csm", Reason.stuck, "idle 30m", "toast"))
    found = {c.worker: (c.condition, c.why) for c in worker_conditions(draft)}
    assert found == {"nux": (Condition.CrashLoop, "exited 1"), "toast": (Condition.Stuck, "idle 30m")}


def test_an_unknown_reason_code_is_refused_where_it_is_made() -> None:
    import pytest

    from reconciler.model.actions import Note

    with pytest.raises(ValueError, match="not-a-reason"):
        Note("csm", "not-a-reason", "why")  # type: ignore[arg-type]
