"""A convoy issue's own model, agent and start message (``{id, model, agent, message}``), table-tested:
(desired, observed) -> the model, agent, rule and prompt of the worker the plan starts."""

from __future__ import annotations

import typing as t
from dataclasses import replace

import pytest

from reconciler.model.actions import Op
from reconciler.model.desired import AgentSpec, DesiredState, ModelSpec, PromptVia
from reconciler.model.observed import ObservedState
from reconciler.plan.planner import plan
from tests.plan_builders import NOW, ROUTING, convoy, desired, hooked, issue, obs_rig, observed, session

# The tests' routing, with a second agent that gets its prompt typed into its pane.
CODEX = AgentSpec(name="codex", command=("codex",), prompt_via=PromptVia.type, ready="› ")
TWO_AGENTS = replace(ROUTING, agents=(*ROUTING.agents, CODEX),
                     models=(*ROUTING.models, ModelSpec("gpt", "codex", ("--model", "gpt"), 0.02, None)))
PROMPT = "You are csm/workers/nux, a gt worker."


def town(*issues: str | dict[str, t.Any], paused: tuple[str | dict[str, t.Any], ...] = ()) -> DesiredState:
    convoys = (convoy("auth", *issues),)
    if paused:
        convoys += (convoy("later", *paused, paused=True),)
    return desired(convoys=convoys, routings=(TWO_AGENTS,))


class Case(t.NamedTuple):
    test_id: str
    desired: DesiredState
    observed: ObservedState
    op: Op  # the action whose spec is checked
    model: str
    agent: str
    rule: str
    command_head: tuple[str, ...]
    prompt_tail: str = ""  # how the start prompt ends (as the last argument, or typed)


def _cases() -> list[Case]:
    haiku_label = obs_rig("csm", issue("cs-1", labels=("model:haiku",)))
    cases = [
        Case("no-override-rules-pick", town("cs-1"), observed(haiku_label), Op.spawn,
             "haiku", "claude", "rule label='model:haiku'", ("claude", "--dangerously-skip-permissions",
                                                             "--model", "haiku")),
        Case("plain-mapping-is-no-override", town({"id": "cs-1"}), observed(haiku_label), Op.spawn,
             "haiku", "claude", "rule label='model:haiku'", ("claude", "--dangerously-skip-permissions")),
        Case("model-beats-a-matching-rule", town({"id": "cs-1", "model": "opus"}), observed(haiku_label), Op.spawn,
             "opus", "claude", "override in convoy auth", ("claude", "--dangerously-skip-permissions",
                                                          "--model", "opus")),
        Case("model-brings-its-agent", town({"id": "cs-1", "model": "gpt"}), observed(haiku_label), Op.spawn,
             "gpt", "codex", "override in convoy auth", ("codex", "--model", "gpt")),
        Case("agent-alone-keeps-the-rules-model", town({"id": "cs-1", "agent": "codex"}), observed(haiku_label),
             Op.spawn, "haiku", "codex", "rule label='model:haiku'; agent codex by override in convoy auth",
             ("codex", "--model", "haiku")),
        Case("model-and-agent", town({"id": "cs-1", "model": "sonnet", "agent": "codex"}), observed(haiku_label),
             Op.spawn, "sonnet", "codex", "override in convoy auth; agent codex by override in convoy auth",
             ("codex", "--model", "sonnet")),
        Case("message-ends-the-prompt-argument", town({"id": "cs-1", "message": "Mind the API."}),
             observed(haiku_label), Op.spawn, "haiku", "claude", "rule label='model:haiku'",
             ("claude",), "committed.\n\nMind the API."),
        Case("message-typed-after-a-space", town({"id": "cs-1", "agent": "codex", "message": "Mind the API."}),
             observed(haiku_label), Op.spawn, "haiku", "codex",
             "rule label='model:haiku'; agent codex by override in convoy auth", ("codex",),
             "committed. Mind the API."),
        Case("only-the-listed-issue-is-overridden", town("cs-1", {"id": "cs-2", "model": "opus"}),
             observed(haiku_label), Op.spawn, "haiku", "claude", "rule label='model:haiku'", ("claude",)),
        Case("a-paused-convoys-override-does-not-apply", town("cs-1", paused=({"id": "cs-1", "model": "opus"},)),
             observed(haiku_label), Op.spawn, "haiku", "claude", "rule label='model:haiku'", ("claude",)),
    ]
    # A hooked issue whose session is gone starts again with its override.
    d = town({"id": "cs-1", "model": "opus"})
    cases.append(Case("respawn-keeps-the-override", d, observed(obs_rig("csm", hooked("cs-1", "nux"))), Op.respawn,
                      "opus", "claude", "override in convoy auth", ("claude", "--dangerously-skip-permissions",
                                                                   "--model", "opus")))
    # The override added while the worker runs is drift: an idle worker restarts on it.
    before = town("cs-1")
    on = hooked("cs-1", "nux", status="in_progress")
    idle = session(before, "csm", "nux", on, idle=3600)
    cases.append(Case("new-override-restarts-an-idle-worker", d, observed(obs_rig("csm", on), sessions=(idle,)),
                      Op.restart, "opus", "claude", "override in convoy auth", ("claude",)))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_override(case: Case) -> None:
    result = plan(case.desired, case.observed, NOW)
    (action,) = [a for a in result.actions if a.op is case.op]
    spec = action.spec
    assert spec is not None
    assert (spec.model, spec.agent, spec.rule) == (case.model, case.agent, case.rule)
    assert spec.command[:len(case.command_head)] == case.command_head
    assert dict(spec.env)["GT_MODEL"] == case.model and dict(spec.env)["GT_AGENT"] == case.agent
    prompt = spec.prompt or spec.command[-1]  # typed once the pane is ready, or its last argument
    assert prompt.startswith(PROMPT)
    assert prompt.endswith(case.prompt_tail or "committed.")


def test_the_override_is_named_in_the_spawn_reason() -> None:
    result = plan(town({"id": "cs-1", "model": "opus"}), observed(obs_rig("csm", issue("cs-1"))), NOW)
    (spawn,) = result.actions
    assert spawn.why == "ready in convoy auth; opus by override in convoy auth"
