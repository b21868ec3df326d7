"""What work costs: projected for the starts of a plan and the open issues of a convoy, spent for
the issues that closed. Pure: the manifests, what was observed, and a plan, in; figures out.

A start or an open issue is projected at its routed model's ``cost`` (dollars a task), against what
it would cost on the Routing's default model. A closed issue costs what its agent's recorded
tokens cost at the model's token prices (measured), else the model's ``cost`` (estimated); its
model is the one gt recorded on it when it started the worker, else what routing picks now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.model.actions import Op, Plan
from reconciler.model.costs import (
    Basis,
    BudgetState,
    IssueCost,
    IssueUsage,
    ModelFrom,
    Projection,
    recorded_model,
    rounded,
)
from reconciler.model.desired import ConvoySpec, DesiredState, ModelSpec, RigSpec
from reconciler.model.observed import ObservedIssue, ObservedState, worker_of
from reconciler.model.swarm import members, worked
from reconciler.plan.workers import route

STARTS = (Op.spawn, Op.respawn, Op.restart)


@dataclass(frozen=True)
class StartCost:
    """One start of a plan, at its model and at the default model."""

    rig: str
    worker: str
    issue: str
    model: str
    projection: Projection

    def as_dict(self) -> dict[str, object]:
        return {"rig": self.rig, "worker": self.worker, "issue": self.issue, "model": self.model,
                **_projection_dict(self.projection)}


@dataclass(frozen=True)
class ConvoyForecast:
    """What a convoy's issues that are not closed yet would cost, on their models and on the default."""

    convoy: str
    rig: str
    open: int
    projection: Projection

    def as_dict(self) -> dict[str, object]:
        return {"convoy": self.convoy, "rig": self.rig, "open": self.open, **_projection_dict(self.projection)}


def _projection_dict(p: Projection) -> dict[str, object]:
    return {"cost": p.cost, "defaultModel": p.default_model, "defaultCost": p.default_cost, "saving": p.saving}


def projection(desired: DesiredState, rig: RigSpec, model: ModelSpec) -> Projection:
    """One task on ``model``, and on the rig's default model."""
    routing = desired.routing_for(rig)
    default = routing.model(routing.default)
    return Projection(model.cost, default.name, default.cost)


def model_of(desired: DesiredState, rig: RigSpec, issue: ObservedIssue) -> tuple[ModelSpec, ModelFrom]:
    """The model an issue ran (or runs) on: as recorded when gt started its worker, else routed."""
    routing = desired.routing_for(rig)
    recorded = recorded_model(issue.labels)
    if recorded is not None and any(m.name == recorded for m in routing.models):
        return routing.model(recorded), ModelFrom.recorded
    model, _, _ = route(desired, rig, issue.id, issue)
    return model, ModelFrom.routed


def issue_cost(desired: DesiredState, rig: RigSpec, issue: ObservedIssue, usage: IssueUsage | None,
               convoys: Mapping[str, ConvoySpec] | None = None) -> IssueCost:
    """What a closed issue cost. ``convoys``: which convoy works each issue (a swarm's children
    included), from ``worked``; looked up when not given."""
    model, source = model_of(desired, rig, issue)
    if convoys is None:
        convoys = worked(desired, rig.name, ())
    convoy = convoys.get(issue.id)
    if usage is not None and usage.tokens.total > 0 and model.price is not None:
        basis, cost = Basis.measured, model.price.cost(usage.tokens)
    else:
        basis, cost = Basis.estimated, model.cost
    return IssueCost(rig.name, issue.id, convoy.name if convoy else "", issue.title, model.name, source,
                     basis, rounded(cost),
                     usage.tokens if usage else None, usage.sessions if usage else 0,
                     usage.models if usage else ())


def counted(rig: RigSpec, issue: ObservedIssue, listed: set[str] | frozenset[str]) -> bool:
    """A closed issue counts when a convoy lists it or a gt worker of the rig worked it."""
    return issue.status == "closed" and (issue.id in listed or worker_of(rig.name, issue.assignee) is not None)


def closed_costs(desired: DesiredState, observed: ObservedState) -> tuple[IssueCost, ...]:
    """Every closed issue gt worked or a convoy lists, rig by rig, in store order."""
    found = []
    for rig in desired.rigs:
        seen = observed.rig(rig.name)
        convoys = worked(desired, rig.name, seen.issues)
        listed = set(convoys)
        found += [issue_cost(desired, rig, i, observed.usage_of(rig.name, i.id), convoys)
                  for i in seen.issues if counted(rig, i, listed)]
    return tuple(found)


def forecast(desired: DesiredState, observed: ObservedState, convoy: ConvoySpec) -> ConvoyForecast:
    """A convoy's issues not closed yet, each at its routed model (an issue the store lacks, at the
    default model)."""
    rig = desired.rig(convoy.rig)
    seen = observed.rig(convoy.rig)
    total, default, count = 0.0, 0.0, 0
    for issue_id in members(convoy, seen.issues):  # a swarm's subtasks and review too
        found = seen.issue(issue_id)
        if found is not None and found.status == "closed":
            continue
        model, _, _ = route(desired, rig, issue_id, found)
        one = projection(desired, rig, model)
        total, default, count = total + one.cost, default + one.default_cost, count + 1
    routing = desired.routing_for(rig)
    return ConvoyForecast(convoy.name, convoy.rig, count, Projection(rounded(total), routing.default, rounded(default)))


def start_costs(desired: DesiredState, plan: Plan) -> tuple[StartCost, ...]:
    """Each worker the plan starts, at its model's cost (the town's own sessions work no issue)."""
    found = []
    for a in plan.actions:
        if a.op in STARTS and a.spec is not None and a.rig:
            rig = desired.rig(a.rig)
            model = desired.routing_for(rig).model(a.spec.model)
            found.append(StartCost(a.rig, a.worker, a.issue, model.name, projection(desired, rig, model)))
    return tuple(found)


def total(projections: tuple[Projection, ...] | list[Projection]) -> Projection | None:
    """Several projections summed; the default model named when they share one."""
    if not projections:
        return None
    defaults = {p.default_model for p in projections}
    return Projection(rounded(sum(p.cost for p in projections)),
                      defaults.pop() if len(defaults) == 1 else "the default models",
                      rounded(sum(p.default_cost for p in projections)))


def convoy_costs(desired: DesiredState, observed: ObservedState, convoy: ConvoySpec) -> tuple[IssueCost, ...]:
    """Each issue of a convoy, in its order: what it cost once closed, else what it is projected to."""
    rig = desired.rig(convoy.rig)
    seen = observed.rig(convoy.rig)
    found = []
    for issue_id in members(convoy, seen.issues):  # a swarm's subtasks and review too
        issue = seen.issue(issue_id)
        if issue is not None and issue.status == "closed":
            found.append(issue_cost(desired, rig, issue, observed.usage_of(rig.name, issue_id), {issue_id: convoy}))
            continue
        model, _, _ = route(desired, rig, issue_id, issue)
        found.append(IssueCost(rig.name, issue_id, convoy.name, issue.title if issue else "", model.name,
                               ModelFrom.routed, Basis.projected, model.cost))
    return tuple(found)


@dataclass(frozen=True)
class PlanCosts:
    """What a plan's starts cost, what the convoys they work on have left to cost, and the budgets."""

    starts: tuple[StartCost, ...]
    convoys: tuple[ConvoyForecast, ...]
    budgets: tuple[BudgetState, ...]

    def start(self, rig: str, worker: str, issue: str) -> StartCost | None:
        return next((c for c in self.starts if (c.rig, c.worker, c.issue) == (rig, worker, issue)), None)

    @property
    def total(self) -> Projection | None:
        return total([c.projection for c in self.starts])

    def as_dict(self) -> dict[str, object]:
        whole = self.total
        return {"starts": [c.as_dict() for c in self.starts],
                "total": _projection_dict(whole) if whole else None,
                "convoys": [c.as_dict() for c in self.convoys], "budgets": [b.as_dict() for b in self.budgets]}


def plan_costs(desired: DesiredState, observed: ObservedState, plan: Plan) -> PlanCosts:
    """The costs gt diff shows: each start, the convoys it starts work on or that have a budget."""
    starts = start_costs(desired, plan)
    started = {worked(desired, c.rig, observed.rig(c.rig).issues).get(c.issue) for c in starts}
    convoys = tuple(forecast(desired, observed, c) for c in desired.convoys
                    if c in started or c.budget is not None)
    return PlanCosts(starts, convoys, plan.budgets)
