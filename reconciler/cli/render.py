"""Human rendering of plans and outcomes: one line an action, Terraform-like markers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from ..act import Outcome
    from ..plan import Plan

COLORS = {"+": "green", "~": "yellow", "-": "red", "!": "cyan"}


def plan_lines(plan: Plan, s: Settings, *, why: bool = False) -> Iterator[str]:
    rigs: list[str] = []
    for rig in [a.rig for a in plan.actions] + [n.rig for n in plan.notes]:
        if (rig or "(unknown)") not in rigs:
            rigs.append(rig or "(unknown)")
    for rig in rigs:
        yield s.paint(f"rig {rig}", "bold")
        for a in (a for a in plan.actions if (a.rig or "(unknown)") == rig):
            model = f"{a.spec.model} ({a.spec.agent})" if a.spec and a.op.value in ("spawn", "respawn", "restart") else ""
            line = f"  {a.marker} {a.op.value:8} {a.subject:22} {a.issue:16} {model:20} {a.reason}"
            yield s.paint(line.rstrip(), COLORS[a.marker])
            if why:
                yield from _why(a.why, a.before, a.after, a.spec.rule if a.spec and a.op.value == "spawn" else "")
        for n in (n for n in plan.notes if (n.rig or "(unknown)") == rig):
            subject = f"{n.rig}/{n.worker}" if n.worker else (n.session or n.rig or "")
            line = f"  ! {n.reason:8} {subject:22} {n.issue:16} {n.why}"
            yield s.paint(line.rstrip(), COLORS["!"])
    yield summary(plan)


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
    if plan.in_sync:
        extra = f" ({len(plan.notes)} notes)" if plan.notes else ""
        return f"In sync: nothing to do.{extra}"
    counts: dict[str, int] = {}
    for a in plan.actions:
        counts[a.op.value] = counts.get(a.op.value, 0) + 1
    parts = ", ".join(f"{n} {op}" for op, n in counts.items())
    notes = f"; {len(plan.notes)} notes" if plan.notes else ""
    return f"Plan: {parts}{notes}."


def outcome_line(outcome: Outcome, s: Settings) -> str:
    a = outcome.action
    style = "red" if outcome.failed else "green"
    text = f"{a.subject} {a.op.value}: {outcome.result.value}"
    if outcome.detail:
        text += f" ({outcome.detail})"
    return s.paint(text, style, stream=sys.stdout)
