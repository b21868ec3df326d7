"""Why an issue runs on its model and agent (gt route, gt sling --smart): pure, no I/O.

The decision is ``route()``'s, the one plans make; this adds what a user needs to trust it:
each rule tried before the one that matched, and why it did not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from reconciler.model.desired import DesiredState, IssueOverride, RigSpec, RoutingRule
from reconciler.model.observed import ObservedIssue
from reconciler.model.swarm import SwarmPart, part_of
from reconciler.plan.workers import route


class ChosenBy(str, enum.Enum):
    """What picked an issue's model."""

    rule = "rule"  # the first routing rule whose every condition holds
    default = "default"  # no rule matched: the Routing's default
    override = "override"  # the issue's own entry in its convoy (gt sling --model)
    swarm = "swarm"  # its phase in a swarm (its convoy's spec.swarm)


@dataclass(frozen=True)
class RuleCheck:
    """One rule tried against the issue, and why it did not match (empty: it did)."""

    index: int  # its place in spec.rules
    rule: RoutingRule
    misses: tuple[str, ...]

    @property
    def matched(self) -> bool:
        return not self.misses

    def where(self) -> str:
        """``rules[3] label='model:haiku'``: the rule as its manifest places it, and as plans show it."""
        return f"rules[{self.index}] {self.rule.describe().removeprefix('rule ')}"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "rule": self.rule.describe(), "model": self.rule.model,
                "matched": self.matched, "why": list(self.misses)}


@dataclass(frozen=True)
class RouteExplanation:
    """An issue's model and agent, what chose them, and each rule tried on the way."""

    issue: str
    rig: str
    routing: str
    routing_source: str  # where the Routing is declared; "built in" for gt's own
    found: ObservedIssue | None  # None: no store has it, so no rule can match
    model: str
    agent: str
    chosen_by: ChosenBy
    chosen: str  # as plans say it: "rule label='model:haiku'", "default", "override in convoy X"
    rules_model: str  # what the rules alone pick, the convoy's entry aside (gt sling --smart writes it)
    checks: tuple[RuleCheck, ...]  # the rules in order, up to the one that matched
    override: IssueOverride | None  # the issue's own model or agent, from its convoy's entry
    swarm: SwarmPart | None = None  # its part in a swarm, when it is in one

    @property
    def rule(self) -> RuleCheck | None:
        """The rule that picks the model by the rules (None: the default)."""
        return self.checks[-1] if self.checks and self.checks[-1].matched else None

    def rules_reason(self) -> str:
        """Why the rules alone pick ``rules_model``: ``rules[0] label='model:haiku'``, or the default."""
        rule = self.rule
        return (f"{rule.where()} of routing {self.routing}" if rule
                else f"the default of routing {self.routing}: no rule matches")

    def rules_dict(self) -> dict[str, Any]:
        """What the rules alone pick, as data (gt sling --smart -o json)."""
        rule = self.rule
        return {"issue": self.issue, "rig": self.rig, "routing": self.routing, "model": self.rules_model,
                "rule": rule.as_dict() if rule else None, "reason": self.rules_reason()}

    def as_dict(self, why: bool = False) -> dict[str, Any]:
        rule = self.rule
        doc: dict[str, Any] = {
            "issue": self.issue, "rig": self.rig, "routing": self.routing, "routingSource": self.routing_source,
            "found": self.found is not None, "model": self.model, "agent": self.agent,
            "chosenBy": self.chosen_by.value, "chosen": self.chosen,
            "rule": rule.as_dict() if rule else None, "rulesModel": self.rules_model,
            "override": None if self.override is None else {
                "convoy": self.override.convoy, "model": self.override.model, "agent": self.override.agent},
            "swarm": None if self.swarm is None else {
                "convoy": self.swarm.convoy.name, "role": self.swarm.role.value, "model": self.swarm.model},
        }
        if why:
            found = self.found
            doc["facts"] = None if found is None else {"title": found.title, "labels": list(found.labels),
                                                       "type": found.issue_type, "priority": found.priority}
            doc["rules"] = [c.as_dict() for c in self.checks]
        return doc


def explain(desired: DesiredState, rig: RigSpec, issue_id: str, issue: ObservedIssue | None) -> RouteExplanation:
    """The routing of ``issue_id`` in ``rig``, explained; ``issue`` is what its store holds (None:
    nothing). A pure function of its arguments, with the decision ``route()`` makes for plans."""
    routing = desired.routing_for(rig)
    model, agent, chosen = route(desired, rig, issue_id, issue)
    checks: list[RuleCheck] = []
    if issue is not None:
        for index, rule in enumerate(routing.rules):
            checks.append(RuleCheck(index, rule, rule.misses(issue.labels, issue.title, issue.issue_type,
                                                              issue.priority)))
            if checks[-1].matched:
                break
    matched = checks[-1].rule if checks and checks[-1].matched else None
    override = desired.override_for(rig.name, issue_id)
    if override is not None and override.model is None and override.agent is None:
        override = None  # a message of its own changes neither model nor agent
    swarm = part_of(desired, rig.name, issue_id, issue.parent, issue.labels) if issue is not None else None
    if override is not None and override.model is not None:
        chosen_by = ChosenBy.override
    elif swarm is not None:
        chosen_by = ChosenBy.swarm
    else:
        chosen_by = ChosenBy.rule if matched else ChosenBy.default
    return RouteExplanation(
        issue=issue_id, rig=rig.name, routing=routing.name,
        routing_source=str(routing.source) if routing.source else "built in", found=issue,
        model=model.name, agent=agent.name, chosen_by=chosen_by, chosen=chosen,
        rules_model=matched.model if matched else routing.default, checks=tuple(checks),
        override=override, swarm=swarm,
    )
