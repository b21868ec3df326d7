"""Budgets as a plan charges them: what convoys and rigs spent, what their workers on a hook will
cost, and whether one more start fits. Pure.

Spent is what gt costs counts for the closed issues (measured where the agent recorded tokens, else
estimated at the model's per-task cost); a worker on a hook is charged its model's per-task cost
until its issue closes; each start the plan makes is charged the same, so one pass never starts
more than what is left.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.model.actions import Action, Op
from reconciler.model.costs import BudgetState, Scope, dollars, rounded
from reconciler.model.desired import ConvoySpec, DesiredState, RigSpec
from reconciler.model.observed import HELD_STATUSES, ObservedIssue, ObservedState, worker_of
from reconciler.model.reasons import Reason
from reconciler.model.swarm import worked
from reconciler.plan.costs import counted, issue_cost, model_of
from reconciler.plan.workers import route

Key = tuple[Scope, str]


class Ledger:
    """Every declared budget, charged as the plan goes."""

    def __init__(self, states: dict[Key, BudgetState]) -> None:
        self._states = states

    @classmethod
    def of(cls, desired: DesiredState, observed: ObservedState) -> Ledger:
        states: dict[Key, BudgetState] = {}
        for rig in desired.rigs:
            if rig.budget is not None:
                states[(Scope.rig, rig.name)] = BudgetState(Scope.rig, rig.name, rig.name, rig.budget)
        for c in desired.convoys:
            if c.budget is not None:
                states[(Scope.convoy, c.name)] = BudgetState(Scope.convoy, c.name, c.rig, c.budget)
        ledger = cls(states)
        for rig in desired.rigs:
            issues = observed.rig(rig.name).issues
            listed = worked(desired, rig.name, issues)  # a swarm's children count against its convoy
            ids = set(listed)
            for issue in issues:
                convoy = listed.get(issue.id)
                if counted(rig, issue, ids):
                    spent = issue_cost(desired, rig, issue, observed.usage_of(rig.name, issue.id), listed).cost
                    ledger._charge(rig.name, convoy, spent=spent)
                elif issue.status in HELD_STATUSES and worker_of(rig.name, issue.assignee):
                    ledger._charge(rig.name, convoy, running=model_of(desired, rig, issue)[0].cost)
        return ledger

    def _keys(self, rig: str, convoy: ConvoySpec | None) -> list[Key]:
        keys = [(Scope.convoy, convoy.name)] if convoy is not None and convoy.rig == rig else []
        return [k for k in (*keys, (Scope.rig, rig)) if k in self._states]

    def _charge(self, rig: str, convoy: ConvoySpec | None, *, spent: float = 0.0, running: float = 0.0,
                starting: float = 0.0) -> None:
        for key in self._keys(rig, convoy):
            s = self._states[key]
            self._states[key] = replace(s, spent=rounded(s.spent + spent), running=rounded(s.running + running),
                                        starting=rounded(s.starting + starting))

    def admit(self, desired: DesiredState, rig: RigSpec, issue: ObservedIssue, convoy: ConvoySpec) -> str:
        """'' when starting ``issue`` fits its convoy's and its rig's budgets; else why not (and the
        budget that refused it remembers the issue)."""
        model, _, _ = route(desired, rig, issue.id, issue)
        refused = next((self._states[k] for k in self._keys(rig.name, convoy)
                        if not self._states[k].fits(model.cost)), None)
        if refused is None:
            return ""
        key = (refused.scope, refused.name)
        self._states[key] = replace(refused, blocked=(*refused.blocked, issue.id))
        return (f"{refused.scope.value} {refused.name} budget {dollars(refused.budget)}: {dollars(refused.charged)} "
                f"spent or committed, {dollars(max(refused.left, 0))} left; not starting {issue.id} ({model.name}, "
                f"{dollars(model.cost)} a task)")

    def start(self, rig: str, convoy: ConvoySpec, cost: float) -> None:
        self._charge(rig, convoy, starting=cost)

    def escalations(self, desired: DesiredState, observed: ObservedState) -> list[tuple[int, Action]]:
        """HELP for each budget that kept work from starting, once for each amount the budget is set
        to: the mail itself is the record, as for a landed convoy (so none while the mail is unread)."""
        if observed.escalated is None:
            return []
        ranks = {r.name: n for n, r in enumerate(desired.rigs)}
        return [(ranks[b.rig], Action(
            Op.escalate, b.rig, "", b.name, b.subject, Reason.budget,
            f"the budget of {b.scope.value} {b.name} ({dollars(b.budget)}) is spent: {dollars(b.spent)} on closed "
            f"issues, {dollars(rounded(b.running + b.starting))} on workers at work; not starting "
            f"{', '.join(b.blocked)}: HELP to {desired.town.overseer}"))
            for b in self._states.values()
            if b.blocked and b.label not in observed.escalated and b.rig in ranks]

    def states(self) -> tuple[BudgetState, ...]:
        return tuple(self._states.values())


def budget_states(desired: DesiredState, observed: ObservedState) -> tuple[BudgetState, ...]:
    """Each declared budget: what closed issues spent and workers on a hook will cost."""
    return Ledger.of(desired, observed).states() if desired.budgeted else ()
