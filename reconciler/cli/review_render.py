"""The review of a manifest change, for a terminal, a pull-request comment (markdown) or a program."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict
from enum import Enum
from typing import TYPE_CHECKING, Any

from reconciler.cli.render import plural
from reconciler.cli.settings import escape_controls
from reconciler.plan.review import Effect

if TYPE_CHECKING:
    from reconciler.loop.review import ReviewResult
    from reconciler.plan.review import Review

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|#!~])")
_DOMAIN_DOT = re.compile(r"(?<=[A-Za-z])\.(?=[A-Za-z])")


def review_dict(result: ReviewResult) -> dict[str, Any]:
    r = result.review
    body = asdict(r, dict_factory=lambda items: {k: v.value if isinstance(v, Enum) else v for k, v in items})
    return {"base": result.base.as_dict(), "head": result.head.as_dict(), "empty": r.empty,
            "cost": {"base": r.base_cost, "head": r.head_cost, "change": round(r.head_cost - r.base_cost, 6)},
            **body}


def headline(r: Review) -> str:
    if r.empty:
        return "No change to the work."
    counts = {effect: sum(w.effect is effect for w in r.workers) for effect in Effect}
    parts = [f"{plural(counts[Effect.start], 'worker')} would start", f"{counts[Effect.stop]} would stop"]
    if counts[Effect.not_started]:
        parts.append(f"{counts[Effect.not_started]} no longer started")
    if r.issues:
        added = sum(c.change.value == "added" for c in r.issues)
        parts.append(f"{plural(added, 'issue')} added, {len(r.issues) - added} dropped")
    if r.routes:
        parts.append(f"{plural(len(r.routes), 'issue')} routed to another model")
    parts.append(f"cost {_money(r.base_cost)} -> {_money(r.head_cost)} ({_delta(r.head_cost - r.base_cost)}), "
                 f"{_saving(r.head_cost, r.default_cost)} the default models")
    return "; ".join(parts) + "."


def _money(value: float) -> str:
    return f"{value:g}"


def _delta(value: float) -> str:
    return f"{value:+g}" if value else "no change"


def _saving(cost: float, default: float) -> str:
    """The head's cost against the same issues on the default model: 'saves 0.02 against 0.04 on'."""
    if default > cost:
        return f"saves {_money(round(default - cost, 6))} against {_money(default)} on"
    if default < cost:
        return f"{_money(round(cost - default, 6))} more than {_money(default)} on"
    return f"the same as {_money(default)} on"


def review_lines(result: ReviewResult) -> Iterator[str]:
    """The review as plain lines (the CLI escapes and colours them)."""
    r = result.review
    yield f"Review: {result.base} -> {result.head}"
    for rig in r.rigs:
        yield f"  ~ rig {rig.rig}: {rig.before or '(new)'} -> {rig.after or '(removed)'}"
    for c in r.convoys:
        what = [f"+{i}" for i in c.added] + [f"-{i}" for i in c.dropped] + list(c.details)
        yield f"  ~ convoy {c.name} (rig {c.rig}) {c.change.value}" + (f": {', '.join(what)}" if what else "")
    for i in r.issues:
        mark = "+" if i.change.value == "added" else "-"
        yield f"  {mark} issue {i.issue:16} {i.title}  ({i.change.value}, convoy {i.convoy})".rstrip()
    for w in r.workers:
        on = f" on {w.issue}" if w.issue else ""
        # A town session (no rig) works no issue: it has a model but no per-task cost.
        model = (f" with {w.model}" + (f" at {_money(w.cost)}" if w.rig else "")) if w.model else ""
        if w.effect is Effect.start:
            yield f"  + start {w.who}{on}{model} ({w.reason})"
        elif w.effect is Effect.stop:
            yield f"  - stop  {w.who}{on} ({w.reason})"
        else:
            yield f"  - no longer started: {w.who}{on}{model}"
    for route in r.routes:
        yield f"  ~ route {route.issue}: {route.before} -> {route.after} by {route.rule}"
    for cost in r.costs:
        if cost.base != cost.head:
            yield (f"  ~ cost  convoy {cost.convoy}: {_money(cost.base)} -> {_money(cost.head)}"
                   + (f" ({_saving(cost.head, cost.default)} the default model, {cost.default_model})"
                      if cost.default_model else ""))
    for unread in r.unread:
        yield f"  ! not read: {unread} (its issues are counted at the default model)"
    yield headline(r)


def _md(text: str) -> str:
    """Text from a store or a manifest (an issue title anyone may write) as inert markdown: no
    markup, no HTML, no table break, no @mention and no link GitHub would make of it."""
    text = escape_controls(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("@", "@\u2060").replace("://", ":\u2060//").replace("www.", "www\u2060.")
    return _DOMAIN_DOT.sub(".\u2060", text)  # evil.example is not linked; 0.25 stays as it is


def review_markdown(result: ReviewResult) -> str:
    """A pull-request comment: a headline, then one table a kind of change."""
    r = result.review
    out = [f"### gt: how this change moves the work ({_md(str(result.base))} → {_md(str(result.head))})", "",
           f"**{_md(headline(r))}**", ""]

    def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        if not rows:
            return
        out.extend([f"#### {title}", "", "| " + " | ".join(header) + " |",
                    "|" + "---|" * len(header)])
        out.extend("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows)
        out.append("")

    table("Workers", ("", "rig/worker", "issue", "model", "cost", "reason"),
          [(w.effect.value, w.who, w.issue, w.model or "", _money(w.cost) if w.model and w.rig else "",
            w.reason) for w in r.workers])
    table("Convoys", ("convoy", "rig", "change", "issues added", "issues dropped", "other"),
          [(c.name, c.rig, c.change.value, ", ".join(c.added), ", ".join(c.dropped), "; ".join(c.details))
           for c in r.convoys])
    table("Issues", ("issue", "title", "change", "convoy"),
          [(i.issue, i.title, i.change.value, i.convoy) for i in r.issues])
    table("Routing", ("issue", "title", "before", "after", "chosen by"),
          [(x.issue, x.title, x.before, x.after, x.rule) for x in r.routes])
    table("Rigs", ("rig", "before", "after"),
          [(x.rig, x.before or "(new)", x.after or "(removed)") for x in r.rigs])
    table("Projected cost", ("convoy", "rig", "before", "after", "change", "after, on the default model"),
          [(c.convoy, c.rig, _money(c.base), _money(c.head), _delta(c.head - c.base),
            f"{_money(c.default)} ({c.default_model})" if c.default_model else "")
           for c in r.costs if c.base != c.head])
    if r.unread:
        out.extend(["Not read (issues counted at the default model): "
                    + "; ".join(_md(u) for u in r.unread), ""])
    return "\n".join(out).rstrip() + "\n"
