"""Budgets in the pure planner: (desired, observed) -> which starts fit, the notes, one HELP.

Hand-computed: haiku costs $0.001 a task, sonnet (the default) $0.01, opus $0.10; priced sonnet
tokens are $3 in and $15 out per million.
"""

from __future__ import annotations

import typing as t
from dataclasses import replace

import pytest

from reconciler.model.costs import IssueUsage, Scope, TokenPrice, TokenUsage, budget_label
from reconciler.model.desired import DesiredState
from reconciler.model.observed import ObservedIssue, ObservedState, role_of
from reconciler.plan.planner import plan
from tests.plan_builders import NOW, ROUTING, convoy, desired, hooked, issue, obs_rig, observed, rig, summary

PRICED = replace(ROUTING, models=tuple(replace(m, price=TokenPrice.of(3, 15)) if m.name == "sonnet" else m
                                       for m in ROUTING.models))


def closed(issue_id: str, worker: str = "nux", **kw: t.Any) -> ObservedIssue:
    """An issue a gt worker of csm worked and the refinery closed (the assignee stays)."""
    return issue(issue_id, "closed", assignee=role_of("csm", worker), **kw)


def seen(*issues: ObservedIssue, usage: tuple[IssueUsage, ...] = (),
         escalated: frozenset[str] | None = frozenset()) -> ObservedState:
    """The rig's issues, the mail read (no budget HELP yet unless ``escalated`` says so)."""
    return replace(observed(obs_rig("csm", *issues)), usage=usage, escalated=escalated)


class Case(t.NamedTuple):
    test_id: str
    desired: DesiredState
    observed: ObservedState
    actions: list[tuple[str, str, str, str]]
    notes: list[tuple[str, str, str]]


AUTH = convoy("auth", "cs-1", "cs-2", "cs-3", "cs-4", budget=0.025)
HELP = ("escalate", "", "auth", "budget")

CASES = [
    # cs-1 closed ($0.01, estimated at sonnet) + cs-2 on slit's hook ($0.01) = $0.02: $0.005 left,
    # less than a sonnet task: cs-2 is started again (not new work), cs-3 and cs-4 are not; one HELP.
    Case("spent-and-running-leave-too-little", desired(convoys=(AUTH,)),
         seen(closed("cs-1"), hooked("cs-2", "slit"), issue("cs-3"), issue("cs-4")),
         [("respawn", "slit", "cs-2", "session-missing"), HELP],
         [("budget", "", "cs-3"), ("budget", "", "cs-4")]),
    Case("help-already-mailed-for-this-amount", desired(convoys=(AUTH,)),
         seen(closed("cs-1"), hooked("cs-2", "slit"), issue("cs-3"), issue("cs-4"),
              escalated=frozenset({budget_label(Scope.convoy, "auth", 0.025)})),
         [("respawn", "slit", "cs-2", "session-missing")],
         [("budget", "", "cs-3"), ("budget", "", "cs-4")]),
    Case("raised-budget-mails-again", desired(convoys=(replace(AUTH, budget=0.029),)),
         seen(closed("cs-1"), hooked("cs-2", "slit"), issue("cs-3"), issue("cs-4"),
              escalated=frozenset({budget_label(Scope.convoy, "auth", 0.025)})),
         [("respawn", "slit", "cs-2", "session-missing"), HELP],
         [("budget", "", "cs-3"), ("budget", "", "cs-4")]),
    Case("mail-unreadable-no-help", desired(convoys=(AUTH,)),
         seen(closed("cs-1"), hooked("cs-2", "slit"), issue("cs-3"), issue("cs-4"), escalated=None),
         [("respawn", "slit", "cs-2", "session-missing")],
         [("budget", "", "cs-3"), ("budget", "", "cs-4")]),
    # Starts of one pass are charged as they are planned: $0.02 buys exactly two sonnet tasks.
    Case("starts-charged-within-the-pass", desired(convoys=(convoy("auth", "cs-1", "cs-2", "cs-3", budget=0.02),)),
         seen(issue("cs-1"), issue("cs-2"), issue("cs-3")),
         [("spawn", "nux", "cs-1", "unassigned"), ("spawn", "slit", "cs-2", "unassigned"), HELP],
         [("budget", "", "cs-3")]),
    # $0.012: sonnet (0.01) fits, then haiku (0.001) fits in the $0.002 left, the next sonnet does not.
    Case("a-cheap-model-fits-where-a-dear-one-does-not",
         desired(convoys=(convoy("auth", "cs-1", "cs-2", "cs-3", budget=0.012),), routings=(ROUTING,)),
         seen(issue("cs-1"), issue("cs-2", labels=("model:haiku",)), issue("cs-3")),
         [("spawn", "nux", "cs-1", "unassigned"), ("spawn", "slit", "cs-2", "unassigned"), HELP],
         [("budget", "", "cs-3")]),
    # Measured: cs-1's agent recorded 1000 tokens in and 1000 out on priced sonnet: $0.003 + $0.015 =
    # $0.018 of $0.02, so no sonnet task fits (estimated at $0.01 it would).
    Case("measured-tokens-count", desired(convoys=(convoy("auth", "cs-1", "cs-2", budget=0.02),),
                                          routings=(PRICED,)),
         seen(closed("cs-1"), issue("cs-2"), usage=(IssueUsage("csm", "cs-1", TokenUsage(1000, 1000)),)),
         [HELP], [("budget", "", "cs-2")]),
    Case("estimated-without-a-transcript", desired(convoys=(convoy("auth", "cs-1", "cs-2", budget=0.02),),
                                                   routings=(PRICED,)),
         seen(closed("cs-1"), issue("cs-2")),
         [("spawn", "nux", "cs-2", "unassigned")], []),
    # The model gt recorded when it started cs-1's worker (opus, $0.10) counts, not today's routing.
    Case("the-recorded-model-counts", desired(convoys=(convoy("auth", "cs-1", "cs-2", budget=0.05),)),
         seen(closed("cs-1", labels=("gt:model:opus",)), issue("cs-2")),
         [HELP], [("budget", "", "cs-2")]),
    # A rig's budget covers all its convoys: $0.015 buys one sonnet task, in whichever convoy comes first.
    Case("rig-budget-across-convoys",
         desired(rig(budget=0.015), convoys=(convoy("a", "cs-1"), convoy("b", "cs-2"))),
         seen(issue("cs-1"), issue("cs-2")),
         [("spawn", "nux", "cs-1", "unassigned"), ("escalate", "", "csm", "budget")], [("budget", "", "cs-2")]),
    # A closed issue no convoy lists any more still counts for the rig when a gt worker worked it.
    Case("rig-budget-counts-work-of-dropped-issues",
         desired(rig(budget=0.015), convoys=(convoy("a", "cs-2"),)),
         seen(closed("cs-1"), issue("cs-2")),
         [("escalate", "", "csm", "budget")], [("budget", "", "cs-2")]),
    Case("no-budget-no-limit", desired(convoys=(convoy("auth", "cs-1", "cs-2"),)),
         seen(closed("cs-1", labels=("gt:model:opus",)), issue("cs-2")),
         [("spawn", "nux", "cs-2", "unassigned")], []),
]


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_budgets(case: Case) -> None:
    actions, notes = summary(plan(case.desired, case.observed, NOW))
    assert actions == case.actions
    assert notes == case.notes


def test_the_plan_says_what_each_budget_has_left() -> None:
    d = desired(rig(budget=1.0), convoys=(AUTH,))
    result = plan(d, seen(closed("cs-1"), hooked("cs-2", "slit"), issue("cs-3"), issue("cs-4")), NOW)
    budgets = {b.subject: b for b in result.budgets}
    auth, csm = budgets["convoy/auth"], budgets["rig/csm"]
    assert (auth.spent, auth.running, auth.starting, auth.left, auth.blocked) == (0.01, 0.01, 0.0, 0.005,
                                                                                 ("cs-3", "cs-4"))
    assert (csm.spent, csm.running, csm.starting, csm.left) == (0.01, 0.01, 0.0, 0.98)
    note = next(n for n in result.notes if n.issue == "cs-3")
    assert note.level.value == "warn"
    assert note.why == ("convoy auth budget $0.025: $0.02 spent or committed, $0.005 left; not starting cs-3 "
                        "(sonnet, $0.01 a task)")
    help_action = next(a for a in result.actions if a.op.value == "escalate")
    assert help_action.session == "convoy/auth" and "cs-3, cs-4" in help_action.why
    assert plan(desired(convoys=(convoy("auth", "cs-1"),)), seen(issue("cs-1")), NOW).budgets == ()
