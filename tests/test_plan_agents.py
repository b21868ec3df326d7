"""The pure planner, second table: agents (found or missing, their panes, dialogs, start
prompts), worktrees left by edited convoys, crash evidence and failure backoff."""

from __future__ import annotations

import typing as t
from dataclasses import replace

import pytest

from reconciler.model.actions import Level, Op, Plan
from reconciler.model.desired import AgentSpec, DesiredState, Dialog, ModelSpec, PromptVia, RoutingSpec
from reconciler.model.observed import (
    CrashRecord,
    FailureRecord,
    ObservedState,
    ObservedWorktree,
    ProgramLookup,
)
from reconciler.plan.planner import plan
from tests.plan_builders import (
    NOW,
    convoy,
    desired,
    hooked,
    issue,
    obs_rig,
    observed,
    rig,
    session,
    summary,
)

ActionRow = tuple[str, str, str, str]
NoteRow = tuple[str, str, str]

AGENT = AgentSpec(
    name="bot", command=("bot",), process_names=("bot",), ready=r"bot>\Z", busy="working\\.\\.\\.",
    dialogs=(Dialog("trust", "trust this folder", ("Enter",)),),
)
TYPED = replace(AGENT, name="typist", prompt_via=PromptVia.type)
ROUTING = RoutingSpec("default", "m", (AGENT,), (ModelSpec("m", "bot", (), 0.0, None),))
TYPED_ROUTING = RoutingSpec("default", "m", (TYPED,), (ModelSpec("m", "typist", (), 0.0, None),))
FOUND = (ProgramLookup("csm", "bot", "bot", "/opt/bin/bot", "/opt/bin"),)
MISSING = (ProgramLookup("csm", "bot", "bot", None, "/venv/bin:/usr/bin"),)


def town(*issues: str, routing: RoutingSpec = ROUTING, **rig_kw: t.Any) -> DesiredState:
    return desired(rig(**rig_kw), convoys=(convoy("auth", *issues),), routings=(routing,))


def tree(worker: str, branch: str | None, *, dirty: tuple[str, ...] | None = (), ahead: int | None = 0,
         landed: bool | None = True) -> ObservedWorktree:
    return ObservedWorktree(worker, f"/town/.gt/worktrees/csm/{worker}", branch, dirty, ahead, landed)


class Case(t.NamedTuple):
    test_id: str
    desired: DesiredState
    observed: ObservedState
    expected: list[ActionRow]
    notes: t.Sequence[NoteRow] = ()


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    d = town("cs-1")
    i1 = hooked("cs-1", "nux")

    # -- where the agent's program is ----------------------------------------------------
    add(Case("program-missing-spawns-nothing", d,
             replace(observed(obs_rig("csm", issue("cs-1"))), programs=MISSING),
             [], [("agent-missing", "", "cs-1")]))
    add(Case("program-missing-respawns-nothing-hook-kept", d,
             replace(observed(obs_rig("csm", i1)), programs=MISSING),
             [], [("agent-missing", "nux", "cs-1")]))
    add(Case("program-found-spawns", d, replace(observed(obs_rig("csm", issue("cs-1"))), programs=FOUND),
             [("spawn", "nux", "cs-1", "unassigned")]))

    # -- what the pane shows ---------------------------------------------------------------
    def live(screen: tuple[str, ...], d: DesiredState = d, answers: int = 0, **kw: t.Any) -> ObservedState:
        s = session(d, "csm", "nux", i1, **kw)
        s = replace(s, screen=screen, stamps=replace(s.stamps, answers=answers))
        return observed(obs_rig("csm", i1), sessions=(s,))

    add(Case("known-dialog-is-answered", d, live(("Do you trust this folder?", "> 1. Yes"), age=3),
             [("answer", "nux", "cs-1", "dialog")]))
    add(Case("dialog-still-there-after-five-answers-is-blocked", d, live(("trust this folder",), answers=5),
             [], [("agent-blocked", "nux", "cs-1")]))
    add(Case("idle-at-ready-prompt-is-nudged", d, live(("done.", "bot>"), idle=400),
             [("nudge", "nux", "cs-1", "gupp-idle")]))
    add(Case("idle-at-unknown-screen-is-blocked-not-nudged", d,
             live(("Detected a custom API key", "Use it? 1. Yes  2. No"), idle=400),
             [], [("agent-blocked", "nux", "cs-1")]))
    add(Case("quiet-but-busy-is-not-idle", d, live(("working...",), idle=4000), []))
    add(Case("unread-pane-is-nudged-by-idle-time-alone", d,
             observed(obs_rig("csm", i1), sessions=(session(d, "csm", "nux", i1, idle=400),)),
             [("nudge", "nux", "cs-1", "gupp-idle")]))

    dt = town("cs-1", routing=TYPED_ROUTING)
    add(Case("typed-prompt-waits-for-ready", dt, live(("loading",), dt, age=5), []))
    add(Case("typed-prompt-goes-in-when-ready", dt, live(("bot>",), dt, age=5),
             [("prompt", "nux", "cs-1", "start-prompt")]))
    add(Case("no-ready-prompt-after-a-minute-is-blocked", dt, live(("loading",), dt, age=90),
             [], [("agent-blocked", "nux", "cs-1")]))

    # -- worktrees left behind by convoy edits ------------------------------------------------
    d2 = town("cs-2")
    add(Case("landed-worktree-is-pruned-and-its-name-reused", d2,
             observed(obs_rig("csm", issue("cs-2"), worktrees=(tree("nux", "gt/nux/cs-1"),))),
             [("prune", "nux", "cs-2", "worktree-landed"), ("spawn", "nux", "cs-2", "unassigned")]))
    add(Case("worktree-with-commits-is-kept-and-the-next-name-used", d2,
             observed(obs_rig("csm", issue("cs-2"),
                              worktrees=(tree("nux", "gt/nux/cs-1", ahead=2, landed=False),))),
             [("spawn", "slit", "cs-2", "unassigned")], [("worktree-kept", "nux", "")]))
    add(Case("worktree-with-uncommitted-changes-is-kept", d2,
             observed(obs_rig("csm", issue("cs-2"), worktrees=(tree("nux", "gt/nux/cs-1", dirty=("wip.txt",)),))),
             [("spawn", "slit", "cs-2", "unassigned")], [("worktree-kept", "nux", "")]))
    add(Case("not-a-worktree-is-kept", d2,
             observed(obs_rig("csm", issue("cs-2"), worktrees=(tree("nux", None, dirty=None, landed=None),))),
             [("spawn", "slit", "cs-2", "unassigned")], [("worktree-kept", "nux", "")]))
    add(Case("re-added-issue-goes-back-to-its-own-worktree", d2,
             observed(obs_rig("csm", issue("cs-2"), worktrees=(
                 tree("nux", "gt/nux/cs-9", ahead=1, landed=False),
                 tree("slit", "gt/slit/cs-2", ahead=3, landed=False)))),
             [("spawn", "slit", "cs-2", "unassigned")], [("worktree-kept", "nux", "")]))
    add(Case("idle-landed-worktree-is-pruned-when-nothing-needs-it", town(),
             observed(obs_rig("csm", worktrees=(tree("toast", "gt/toast/cs-7"),))),
             [("prune", "toast", "", "worktree-landed")]))
    add(Case("parked-rig-prunes-nothing", town(state="parked"),
             observed(obs_rig("csm", worktrees=(tree("toast", "gt/toast/cs-7"),))), []))
    add(Case("held-worker-whose-worktree-holds-other-work-lets-its-issue-go", d,
             observed(obs_rig("csm", i1, worktrees=(tree("nux", "gt/nux/cs-0", ahead=1, landed=False),))),
             [("release", "nux", "cs-1", "worktree-busy")], [("worktree-kept", "nux", "")]))
    add(Case("held-worker-whose-worktree-landed-gets-it-replaced", d,
             observed(obs_rig("csm", i1, worktrees=(tree("nux", "gt/nux/cs-0"),))),
             [("prune", "nux", "cs-1", "worktree-landed"), ("respawn", "nux", "cs-1", "session-missing")]))

    # -- crashes and failures ------------------------------------------------------------------
    dead = replace(session(d, "csm", "nux", i1), dead=True, exit_status=1,
                   screen=("Unable to connect to Anthropic services", "", "Pane is dead (status 1)"))
    add(Case("crash-is-respawned-with-its-evidence", d, observed(obs_rig("csm", i1), sessions=(dead,)),
             [("respawn", "nux", "cs-1", "crashed")]))
    fp = plan(d, observed(obs_rig("csm", i1)), NOW).actions[0].spec.fingerprint  # type: ignore[union-attr]
    failed = FailureRecord("csm", "nux", "cs-1", "respawn", fp, "git worktree add failed", (NOW - 5,))
    add(Case("a-failed-respawn-backs-off", d, replace(observed(obs_rig("csm", i1)), failures=(failed,)),
             [], [("failing", "nux", "cs-1")]))
    add(Case("a-failed-respawn-retries-after-its-delay", d,
             replace(observed(obs_rig("csm", i1)), failures=(replace(failed, times=(NOW - 31,)),)),
             [("respawn", "nux", "cs-1", "session-missing")]))
    add(Case("new-manifests-retry-at-once", d,
             replace(observed(obs_rig("csm", i1)), failures=(replace(failed, fingerprint="old"),)),
             [("respawn", "nux", "cs-1", "session-missing")]))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_plan(case: Case) -> None:
    actions, notes = summary(plan(case.desired, case.observed, NOW))
    assert actions == case.expected
    assert notes == list(case.notes)


def _one(p: Plan, op: Op) -> t.Any:
    (found,) = [a for a in p.actions if a.op is op]
    return found


def test_missing_program_is_an_error_naming_rig_model_agent_and_program() -> None:
    p = plan(town("cs-1"), replace(observed(obs_rig("csm", issue("cs-1"))), programs=MISSING), NOW)
    (note,) = p.notes
    assert note.level is Level.error and not p.in_sync
    assert "rig csm, model m, agent bot: program 'bot' is not on the workers' PATH (/venv/bin:/usr/bin)" in note.why


def test_found_program_is_started_by_its_absolute_path() -> None:
    p = plan(town("cs-1"), replace(observed(obs_rig("csm", issue("cs-1"))), programs=FOUND), NOW)
    spec = _one(p, Op.spawn).spec
    assert spec.command[0] == "/opt/bin/bot" and spec.command[-1].startswith("You are csm/workers/nux")
    declared = plan(town("cs-1"), observed(obs_rig("csm", issue("cs-1"))), NOW)
    assert _one(declared, Op.spawn).spec.fingerprint == spec.fingerprint  # where it lives is not drift


def test_crash_evidence_travels_with_the_respawn_and_the_quarantine() -> None:
    d = town("cs-1")
    i1 = hooked("cs-1", "nux")
    dead = replace(session(d, "csm", "nux", i1), dead=True, exit_status=3,
                   screen=("[demo-agent] crashing on purpose", "", "Pane is dead (status 3, today)"))
    respawn = _one(plan(d, observed(obs_rig("csm", i1), sessions=(dead,)), NOW), Op.respawn)
    assert respawn.crash.status == 3 and respawn.crash.output == ("[demo-agent] crashing on purpose",)
    assert "exited with status 3: [demo-agent] crashing on purpose" in respawn.why
    fp = respawn.spec.fingerprint
    record = CrashRecord("csm", "nux", "cs-1", fp, (NOW - 100, NOW - 50, NOW - 40, NOW - 20, NOW - 10))
    quarantine = _one(plan(d, replace(observed(obs_rig("csm", i1), sessions=(dead,)), crashes=(record,)), NOW),
                      Op.quarantine)
    assert quarantine.crash.status == 3


def test_typed_prompt_carries_its_text_and_args_prompt_does_not() -> None:
    dt = town("cs-1", routing=TYPED_ROUTING)
    spec = _one(plan(dt, observed(obs_rig("csm", issue("cs-1"))), NOW), Op.spawn).spec
    assert spec.prompt.startswith("You are csm/workers/nux") and spec.command == ("bot",)
    spec = _one(plan(town("cs-1"), observed(obs_rig("csm", issue("cs-1"))), NOW), Op.spawn).spec
    assert spec.prompt == "" and spec.command[-1].startswith("You are csm/workers/nux")


def test_requeue_comes_when_something_is_due() -> None:
    d = town("cs-1")
    i1 = hooked("cs-1", "nux")
    young = replace(session(d, "csm", "nux", i1, age=3), screen=("starting",))
    assert plan(d, observed(obs_rig("csm", i1), sessions=(young,)), NOW).requeue_after == 2.0
    quiet = replace(session(d, "csm", "nux", i1, idle=100), screen=("bot>",))
    assert plan(d, observed(obs_rig("csm", i1), sessions=(quiet,)), NOW).requeue_after == 200.0
