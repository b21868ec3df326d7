"""``gt costs``: what the closed issues cost, read from the stores and the agents' transcripts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.clients.stores import StoreFactory, default_stores
from reconciler.loop.revision import Revision, load_at
from reconciler.model.costs import Basis, BudgetState, CostTotal, IssueCost, Scope, totals
from reconciler.observe.state import observe_spending
from reconciler.plan.budgets import budget_states
from reconciler.plan.costs import closed_costs


@dataclass(frozen=True)
class CostReport:
    revision: Revision
    issues: tuple[IssueCost, ...]
    budgets: tuple[BudgetState, ...]
    unread: tuple[str, ...] = ()  # rigs whose store could not be read, and why

    @property
    def total(self) -> CostTotal:
        found = CostTotal("all")
        for one in self.issues:
            found = found.add(one)
        return found

    def by(self, key: str) -> tuple[CostTotal, ...]:
        """Totals by ``model``, ``convoy`` or ``rig``."""
        return totals(self.issues, key)

    @property
    def measured(self) -> int:
        return sum(i.basis is Basis.measured for i in self.issues)

    def as_dict(self) -> dict[str, object]:
        return {"revision": self.revision.as_dict(), "total": self.total.as_dict(),
                "byModel": [t.as_dict() for t in self.by("model")],
                "byConvoy": [t.as_dict() for t in self.by("convoy")],
                "byRig": [t.as_dict() for t in self.by("rig")],
                "issues": [i.as_dict() for i in self.issues],
                "budgets": [b.as_dict() for b in self.budgets], "unread": list(self.unread)}


def cost_report(root: Path, *, rig: str | None = None, convoy: str | None = None,
                stores: StoreFactory = default_stores) -> CostReport:
    """The closed issues of the town at HEAD (of one rig, or one convoy, when asked)."""
    revision, desired = load_at(root)
    observed = observe_spending(desired, stores)
    issues = tuple(i for i in closed_costs(desired, observed)
                   if (rig is None or i.rig == rig) and (convoy is None or i.convoy == convoy))
    budgets = tuple(b for b in budget_states(desired, observed) if (rig is None or b.rig == rig)
                    and (convoy is None or (b.scope, b.name) == (Scope.convoy, convoy)))
    unread = tuple(f"{r.name}: {r.error}" for r in observed.rigs if r.error and (rig is None or r.name == rig))
    return CostReport(revision, issues, budgets, unread)
