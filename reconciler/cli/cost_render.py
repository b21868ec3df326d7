"""Costs for people: a plan's starts and budgets (gt diff), a convoy's issues (gt convoy show),
what closed issues cost (gt costs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from reconciler.cli.render import plural
from reconciler.model.costs import Basis, BudgetState, IssueCost, dollars, rounded

if TYPE_CHECKING:
    from reconciler.model.desired import ConvoySpec, DesiredState
    from reconciler.model.observed import ObservedState
    from reconciler.plan.costs import PlanCosts


def cost_lines(costs: PlanCosts) -> Iterator[str]:
    """What the starts cost, the convoys' projections and the budgets, each against the default model."""
    whole = costs.total
    if whole is None and not costs.budgets:
        return
    yield "cost"
    if whole is not None:
        yield f"  {plural(len(costs.starts), 'start')}: {dollars(whole.cost)}, {whole.describe()}"
    for c in costs.convoys:
        p = c.projection
        yield (f"  convoy {c.convoy} (rig {c.rig}): {plural(c.open, 'issue')} not closed, {dollars(p.cost)} "
               f"projected, {p.describe()}")
    for b in costs.budgets:
        yield budget_line(b)


def budget_line(b: BudgetState) -> str:
    left = f"{dollars(b.left)} left" if b.left > 0 else "spent: nothing new starts"
    starting = f", {dollars(b.starting)} starting" if b.starting else ""
    return (f"  budget {b.scope.value} {b.name} {dollars(b.budget)}: {dollars(b.spent)} spent, "
            f"{dollars(b.running)} at work{starting}; {left}")


def _basis_counts(costs: list[IssueCost]) -> str:
    measured = sum(c.basis is Basis.measured for c in costs)
    return f"{measured} measured, {len(costs) - measured} estimated"


def convoy_cost_lines(desired: DesiredState, observed: ObservedState,
                      convoy: ConvoySpec) -> tuple[list[str], list[str]]:
    """A cell for each issue (model, cost, how it is known), and the convoy's totals and budgets."""
    from reconciler.plan.budgets import budget_states
    from reconciler.plan.costs import convoy_costs, forecast

    costs = convoy_costs(desired, observed, convoy)
    model_w = max(len(c.model) for c in costs)
    money_w = max(len(dollars(c.cost)) for c in costs)
    cells = [f"{c.model:{model_w}}  {dollars(c.cost):>{money_w}} {c.basis.value:9}" for c in costs]
    closed = [c for c in costs if c.basis is not Basis.projected]
    ahead = forecast(desired, observed, convoy)
    spent = f"{dollars(rounded(sum(c.cost for c in closed)))} spent on {plural(len(closed), 'closed issue')}" + (
        f" ({_basis_counts(closed)})" if closed else "")
    summary = [(f"cost: {spent}; {dollars(ahead.projection.cost)} projected for {ahead.open} not closed, "
                f"{ahead.projection.describe()}")]
    summary += [budget_line(b) for b in budget_states(desired, observed) if _covers(b, convoy)]
    return cells, summary


def _covers(b: BudgetState, convoy: ConvoySpec) -> bool:
    return (b.scope.value, b.name) in (("convoy", convoy.name), ("rig", convoy.rig))


def convoy_costs_dict(desired: DesiredState, observed: ObservedState, convoy: ConvoySpec) -> dict[str, Any]:
    from reconciler.plan.budgets import budget_states
    from reconciler.plan.costs import convoy_costs, forecast

    return {"costs": {"issues": [c.as_dict() for c in convoy_costs(desired, observed, convoy)],
                      "projected": forecast(desired, observed, convoy).as_dict(),
                      "budgets": [b.as_dict() for b in budget_states(desired, observed) if _covers(b, convoy)]}}
