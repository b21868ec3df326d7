"""Human rendering of plans and outcomes: one line an action, Terraform-like markers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from reconciler.cli.settings import Settings
from reconciler.model.costs import dollars

if TYPE_CHECKING:
    from reconciler.act.executor import Outcome
    from reconciler.model.actions import Note, Plan
    from reconciler.plan.costs import PlanCosts

COLORS = {"+": "green", "~": "yellow", "-": "red", "!": "cyan"}
LEVEL_COLORS = {"info": "cyan", "warn": "yellow", "error": "red"}
IRREGULAR = {"was": "were", "is": "are"}


def plural(n: int, word: str, many: str = "") -> str:
    """'1 action', '2 actions', '0 failed' style counts with the right form."""
    form = word if n == 1 else (many or IRREGULAR.get(word) or word + "s")
    return f"{n} {form}"


def plan_lines(plan: Plan, s: Settings, *, why: bool = False, costs: PlanCosts | None = None) -> Iterator[str]:
    """Grouped by rig; what belongs to no rig (the town's own sessions, orphans) under ``town``."""
    rigs: list[str] = []
    for rig in [a.rig for a in plan.actions] + [n.rig for n in plan.notes]:
        if rig not in rigs:
            rigs.append(rig)
    for rig in rigs:
        yield s.paint(f"rig {rig}" if rig else "town", "bold")
        for a in (a for a in plan.actions if a.rig == rig):
            starts_agent = a.op.value in ("spawn", "respawn", "restart")
            model = (f"{a.spec.model} ({a.spec.agent})" if a.spec.model else a.spec.agent) \
                if a.spec and starts_agent else ""
            cost = costs.start(a.rig, a.worker, a.issue) if costs and starts_agent else None
            if cost is not None:
                model += f" {dollars(cost.projection.cost)}"
            line = f"  {a.marker} {a.op.value:8} {a.subject:22} {a.issue:16} {model:20} {a.reason}"
            yield s.paint(line.rstrip(), COLORS[a.marker])
            if why:
                yield from _why(a.why, a.before, a.after, a.spec.rule if a.spec and a.op.value == "spawn" else "")
                if cost is not None:
                    yield f"      cost: {dollars(cost.projection.cost)} on {cost.model}, {cost.projection.describe()}"
        for n in (n for n in plan.notes if n.rig == rig):
            yield s.paint(note_line(n), LEVEL_COLORS[n.level.value])
    if costs is not None:
        from reconciler.cli.cost_render import cost_lines

        yield from cost_lines(costs)
    yield summary(plan)


def note_line(n: Note) -> str:
    """A note always says why: `! reason  subject  issue  explanation`."""
    subject = (f"{n.rig}/{n.worker}" if n.rig else n.worker) if n.worker else (n.session or n.rig or "")
    return f"  ! {n.reason:8} {subject:22} {n.issue:16} {n.why}".rstrip()


def _why(text: str, before: tuple[tuple[str, str], ...], after: tuple[tuple[str, str], ...],
         rule: str) -> Iterator[str]:
    if text:
        yield f"      why: {text}"
    old, new = dict(before), dict(after)
    for key in sorted(set(old) | set(new)):
        yield f"      {key}: {old.get(key, '-') or '-'} -> {new.get(key, '-') or '-'}"
    if rule:
        yield f"      routing: {rule}"


def summary(plan: Plan) -> str:
    notes = f"; {plural(len(plan.notes), 'note')}" if plan.notes else ""
    errors = plan.errors
    if errors:
        what = "; ".join(f"{n.rig or 'town'}: {n.reason}" for n in errors)
        acts = f"{plural(len(plan.actions), 'action')} for the rest, " if plan.actions else ""
        return f"Not in sync: {acts}{plural(len(errors), 'error')} ({what}){notes}."
    if plan.in_sync:
        return f"In sync: nothing to do{notes}."
    counts: dict[str, int] = {}
    for a in plan.actions:
        counts[a.op.value] = counts.get(a.op.value, 0) + 1
    parts = ", ".join(f"{n} {op}" for op, n in counts.items())
    return f"Plan: {parts}{notes}."


def outcome_line(outcome: Outcome, s: Settings) -> str:
    a = outcome.action
    style = "red" if outcome.failed else "green"
    text = f"{a.subject} {a.op.value}: {outcome.result.value}"
    if outcome.detail:
        text += f" ({outcome.detail})"
    return s.paint(text, style, stream=sys.stdout)
