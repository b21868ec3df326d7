"""gt costs: what the closed issues cost, by model, convoy and rig; measured or estimated."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings
from reconciler.cli.render import plural
from reconciler.model.costs import Basis, IssueCost, dollars

if TYPE_CHECKING:
    from reconciler.loop.costs import CostReport
    from reconciler.model.costs import CostTotal


@app.command(cls=GtCommand)
@maps_errors
def costs(
    ctx: typer.Context,
    rig: Annotated[str | None, typer.Option("--rig", metavar="RIG", help="Only this rig's issues.")] = None,
    convoy: Annotated[
        str | None, typer.Option("--convoy", metavar="NAME", help="Only the issues this convoy lists.")
    ] = None,
    output: OutputOption = None,
) -> None:
    """What closed issues cost, by model, convoy and rig, and what each budget has left.

    Measured where the agent recorded its tokens (Claude Code's session transcripts, priced at the
    model's price per million tokens); estimated at the model's per-task cost otherwise.
    """
    from reconciler.cli.cost_render import budget_line
    from reconciler.loop.costs import cost_report

    s = settings(ctx, output)
    report = cost_report(s.town_root(), rig=rig, convoy=convoy)
    if s.json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    for line in report_lines(report):
        s.echo(line)
    for b in report.budgets:
        s.echo(budget_line(b))
    for unread in report.unread:
        s.echo(s.paint(f"not read: {unread}", "red"))


def report_lines(report: CostReport) -> list[str]:
    whole = report.total
    lines = [(f"Closed issues at {report.revision}: {whole.issues}, {dollars(whole.cost)} in all; "
              f"{whole.measured} measured from the tokens their agent recorded, "
              f"{whole.issues - whole.measured} estimated at their model's per-task cost")]
    if not report.issues:
        return lines
    for title, key in (("by model", "model"), ("by convoy", "convoy"), ("by rig", "rig")):
        lines.append(title)
        found = report.by(key)
        width = max(len(t.name or "(none)") for t in found)
        lines += [_total_line(t, width) for t in found]
    lines.append("issues")
    id_w = max(len(i.issue) for i in report.issues)
    model_w = max(len(f"{i.model} ({i.model_from.value})") for i in report.issues)
    money_w = max(len(dollars(i.cost)) for i in report.issues)
    for i in report.issues:
        lines.append(f"  {i.issue:{id_w}}  {dollars(i.cost):>{money_w}} {i.basis.value:9}  "
                     f"{i.model + ' (' + i.model_from.value + ')':{model_w}}  {_how(i)}")
    return lines


def _total_line(t: CostTotal, width: int) -> str:
    return (f"  {t.name or '(none)':{width}}  {plural(t.issues, 'issue'):10} {dollars(t.cost):>10}  "
            f"{t.measured} measured, {t.issues - t.measured} estimated")


def _how(i: IssueCost) -> str:
    """Where the figure comes from: the tokens counted, or why there are none to count."""
    where = f"rig {i.rig}" + (f", convoy {i.convoy}" if i.convoy else "")
    if i.tokens is None:
        return f"{where}; no token counts recorded"
    t = i.tokens
    counted = (f"{t.input:,} in, {t.output:,} out, {t.cache_write:,} cache write, {t.cache_read:,} cache read "
               f"in {plural(i.sessions, 'session')}")
    if i.basis is Basis.estimated:
        return f"{where}; {counted}, but {i.model} has no price per token"
    return f"{where}; {counted}"
