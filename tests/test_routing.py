"""Routing precedence as users know it from Gas Town's smart slinging: a convoy's own entry, then
model: labels, then complexity: labels, then title words, then the default; label globs, type and
priority rules; and the reasons --why gives for each rule that did not match."""

from __future__ import annotations

import typing as t
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.manifests.loader import load_desired_state
from reconciler.model.desired import RoutingRule
from reconciler.model.presets import BUILTIN_ROUTING, BUILTIN_RULES
from reconciler.ops.scaffold import init_town
from reconciler.plan.routes import ChosenBy, explain
from reconciler.plan.workers import route
from tests.conftest import REPO_ROOT
from tests.plan_builders import convoy, desired, issue

# The built-in rules, then rules of each other kind (a glob, a type, a priority) past them.
EXTRA = (
    RoutingRule(model="haiku", label="area:docs*"),
    RoutingRule(model="opus", issue_type="bug", priority=0),
    RoutingRule(model="haiku", issue_type="chore"),
    RoutingRule(model="opus", priority=1),
)
ROUTING = replace(BUILTIN_ROUTING, rules=BUILTIN_RULES + EXTRA)


class Case(t.NamedTuple):
    test_id: str
    labels: tuple[str, ...]
    title: str
    model: str
    chosen: str
    issue_type: str = "task"
    priority: int = 2
    entry: str | dict[str, str] = "cs-1"  # the convoy's entry: an id, or {id, model, agent}


CASES = (
    Case("model-haiku", ("model:haiku",), "Add login page", "haiku", "rule label='model:haiku'"),
    Case("model-sonnet", ("model:sonnet",), "Add login page", "sonnet", "rule label='model:sonnet'"),
    Case("model-opus", ("model:opus",), "Add login page", "opus", "rule label='model:opus'"),
    Case("complexity-trivial", ("complexity:trivial",), "Add login page", "haiku",
         "rule label='complexity:trivial'"),
    Case("complexity-simple", ("complexity:simple",), "Add login page", "sonnet",
         "rule label='complexity:simple'"),
    Case("complexity-standard", ("complexity:standard",), "Add login page", "sonnet",
         "rule label='complexity:standard'"),
    Case("complexity-complex", ("complexity:complex",), "Add login page", "opus",
         "rule label='complexity:complex'"),
    Case("model-beats-complexity", ("complexity:complex", "model:haiku"), "Add login page", "haiku",
         "rule label='model:haiku'"),
    Case("model-beats-complexity-other-way", ("complexity:trivial", "model:opus"), "Add login page", "opus",
         "rule label='model:opus'"),
    Case("complexity-beats-title", ("complexity:complex",), "Fix typo in README", "opus",
         "rule label='complexity:complex'"),
    Case("model-beats-title", ("model:sonnet",), "Architect the new system", "sonnet",
         "rule label='model:sonnet'"),
    Case("title-rename", (), "Rename the config loader", "haiku", r"rule title='(?i)\\b(rename|typo)\\b'"),
    Case("title-typo", (), "Fix a TYPO in the README", "haiku", r"rule title='(?i)\\b(rename|typo)\\b'"),
    Case("title-architect", (), "Architect the plugin system", "opus", r"rule title='(?i)\\barchitect'"),
    Case("title-architecture", (), "Review the architecture", "opus", r"rule title='(?i)\\barchitect'"),
    Case("title-word-boundary", (), "Typography tweaks", "sonnet", "default"),
    Case("unknown-model-label-falls-through", ("model:gpt",), "Add login page", "sonnet", "default"),
    Case("glob-label", ("area:docs-site",), "Add login page", "haiku", "rule label='area:docs*'"),
    Case("glob-needs-a-match", ("area:ui",), "Add login page", "sonnet", "default"),
    Case("type-and-priority", (), "Crash on start", "opus", "rule type='bug' priority=0", "bug", 0),
    Case("type-without-priority", (), "Crash on start", "sonnet", "default", "bug", 2),
    Case("type-alone", (), "Tidy the imports", "haiku", "rule type='chore'", "chore"),
    Case("priority-at-most", (), "Add login page", "opus", "rule priority=1", "task", 1),
    Case("no-match-default", ("area:ui", "team:core"), "Add login page", "sonnet", "default"),
    Case("override-model-beats-rules", ("model:haiku",), "Fix typo", "opus", "override in convoy auth",
         entry={"id": "cs-1", "model": "opus"}),
    Case("override-beats-default", (), "Add login page", "haiku", "override in convoy auth",
         entry={"id": "cs-1", "model": "haiku"}),
    Case("override-agent-keeps-rules-model", ("complexity:complex",), "Add login page", "opus",
         "rule label='complexity:complex'; agent claude by override in convoy auth",
         entry={"id": "cs-1", "agent": "claude"}),
    Case("plain-entry-is-no-override", ("model:haiku",), "Add login page", "haiku", "rule label='model:haiku'",
         entry={"id": "cs-1"}),
)


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_routing_precedence(case: Case) -> None:
    d = desired(convoys=(convoy("auth", case.entry),), routings=(ROUTING,))
    found = issue("cs-1", title=case.title, labels=case.labels, issue_type=case.issue_type, priority=case.priority)
    model, agent, chosen = route(d, d.rig("csm"), "cs-1", found)
    assert (model.name, chosen) == (case.model, case.chosen)
    assert agent.name == "claude"


def test_the_builtin_routing_runs_without_any_routing_manifest() -> None:
    d = desired(convoys=(convoy("auth", "cs-1"),))
    model, _, chosen = route(d, d.rig("csm"), "cs-1", issue("cs-1", labels=("complexity:trivial",)))
    assert (model.name, chosen) == ("haiku", "rule label='complexity:trivial'")


def test_an_exact_label_is_not_a_prefix() -> None:
    rule = RoutingRule(model="haiku", label="model:haiku")
    assert not rule.matches(("model:haiku-3",), "", "task", 2)
    assert rule.matches(("x", "model:haiku"), "", "task", 2)


class Miss(t.NamedTuple):
    test_id: str
    rule: RoutingRule
    misses: tuple[str, ...]


MISSES = (
    Miss("label", RoutingRule(model="haiku", label="model:haiku"), ("label model:haiku not on the issue",)),
    Miss("glob", RoutingRule(model="haiku", label="model:*"), ("no label matches model:*",)),
    Miss("title", RoutingRule(model="haiku", title=r"(?i)\btypo\b"),
         (r'title (?i)\btypo\b not found in "Add login page"',)),
    Miss("type", RoutingRule(model="opus", issue_type="bug"), ("type task != bug",)),
    Miss("priority", RoutingRule(model="opus", priority=1), ("priority 3 > 1",)),
    Miss("every-condition", RoutingRule(model="opus", label="area:*", title="login", issue_type="bug", priority=1),
         ("no label matches area:*", "type task != bug", "priority 3 > 1")),
    Miss("matches", RoutingRule(model="opus", label="team:*", title="(?i)LOGIN"), ()),
)


@pytest.mark.parametrize("case", MISSES, ids=[c.test_id for c in MISSES])
def test_why_a_rule_does_not_match(case: Miss) -> None:
    labels, title = ("team:core", "complexity:simple"), "Add login page"
    assert case.rule.misses(labels, title, "task", 3) == case.misses
    assert case.rule.matches(labels, title, "task", 3) is (not case.misses)


def test_gt_init_and_the_example_ship_the_builtin_rules(tmp_path: Path) -> None:
    init_town(tmp_path / "town")
    for manifests in (tmp_path / "town" / "manifests", REPO_ROOT / "manifests"):
        state = load_desired_state(manifests)
        routing = next(r for r in state.routings if r.name == "default")
        assert routing.rules == BUILTIN_RULES, manifests
        assert routing.default == BUILTIN_ROUTING.default
        assert [(m.name, m.args) for m in routing.models] == [(m.name, m.args) for m in BUILTIN_ROUTING.models]


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_the_explanation_agrees_with_the_plans_choice(case: Case) -> None:
    d = desired(convoys=(convoy("auth", case.entry),), routings=(ROUTING,))
    found = issue("cs-1", title=case.title, labels=case.labels, issue_type=case.issue_type, priority=case.priority)
    e = explain(d, d.rig("csm"), "cs-1", found)
    assert (e.model, e.chosen) == (case.model, case.chosen)
    by = "override" if case.chosen.startswith("override") else "default" if case.chosen == "default" else "rule"
    assert e.chosen_by is ChosenBy(by)
    assert all(not c.matched for c in e.checks[:-1])  # every rule before the last tried failed
    rules_model, _ = ROUTING.pick(case.labels, case.title, case.issue_type, case.priority)
    assert e.rules_model == rules_model.name


def test_an_issue_no_store_has_gets_the_default_and_tries_no_rule() -> None:
    d = desired(convoys=(convoy("auth", {"id": "cs-1", "message": "Be brief"}),))
    e = explain(d, d.rig("csm"), "cs-1", None)
    assert (e.model, e.chosen_by, e.checks, e.rule) == ("sonnet", ChosenBy.default, (), None)
    assert e.override is None  # a message of its own is no routing override
    assert e.routing_source == "built in"
    assert e.rules_reason() == "the default of routing default: no rule matches"
