"""gt route: which model and agent each issue gets, and why; gt-smart-sling, Gas Town's smart slinging."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings
from reconciler.cli.cmd_plan import RevOption, WorktreeOption

if TYPE_CHECKING:
    from reconciler.cli.settings import Settings
    from reconciler.plan.routes import RouteExplanation


@app.command(cls=GtCommand)
@maps_errors
def route(
    ctx: typer.Context,
    issues: Annotated[list[str], typer.Argument(metavar="ISSUE...", help="Issue ids, e.g. cs-login.")],
    rig: Annotated[
        str | None,
        typer.Option("--rig", metavar="RIG", help="Look in this rig's store only; default: whichever has the issue."),
    ] = None,
    why: Annotated[bool, typer.Option("--why", help="Also say why each earlier rule did not match.")] = False,
    rev: RevOption = None,
    worktree: WorktreeOption = False,
    output: OutputOption = None,
) -> None:
    """The model and agent each issue gets, and the rule that chose them.

    Or the issue's own entry in its convoy (gt sling --model), or the routing's default. Reads
    the manifests committed at HEAD, as gt diff does, and the issue from its rig's store.
    """
    from reconciler.cli.cmd_plan import town_at
    from reconciler.ops.route import explain_issues

    s = settings(ctx, output)
    town = town_at(s, rev, worktree)
    explained = explain_issues(town.desired, issues, rig, town.stores)
    if s.json:
        typer.echo(json.dumps([e.as_dict(why) for e in explained], indent=2))
        return
    for n, e in enumerate(explained):
        if why and n:
            s.echo("")
        for line in route_lines(s, e, why):
            s.echo(line)


def reason(e: RouteExplanation) -> str:
    """What chose the model (and the agent, when the convoy's entry names one)."""
    from reconciler.plan.routes import ChosenBy

    if e.chosen_by is ChosenBy.override and e.override is not None:
        said = f"its entry in convoy {e.override.convoy}; the rules would pick {e.rules_model} by {e.rules_reason()}"
    elif e.chosen_by is ChosenBy.swarm and e.swarm is not None:
        said = (f"its part in swarm {e.swarm.convoy.name} ({e.swarm.role.value}); the rules would pick "
                f"{e.rules_model} by {e.rules_reason()}")
    else:
        said = e.rules_reason()
    if e.override is not None and e.override.agent is not None:
        said += f"; agent {e.agent} by its entry in convoy {e.override.convoy}"
    return said


def route_lines(s: Settings, e: RouteExplanation, why: bool) -> list[str]:
    """``dm-greet: haiku on claude, by rules[0] label='model:haiku' of routing default``; with
    ``why``, the issue's facts and each rule tried, with why it did not match."""
    lines = [f"{s.paint(e.issue, 'bold')}: {s.paint(e.model, 'cyan')} on {e.agent}, by {reason(e)}"]
    if not why:
        return lines
    if e.found is not None:
        labels = ", ".join(e.found.labels) or "none"
        lines.append(f'  issue: "{e.found.title}", type {e.found.issue_type}, priority {e.found.priority}, '
                     f"labels {labels}")
    lines.append(f"  routing {e.routing} ({e.routing_source}), rig {e.rig}")
    for check in e.checks:
        said = "matches" if check.matched else "; ".join(check.misses)
        lines.append(f"  {check.where()} -> {check.rule.model}: " + (s.paint(said, "green") if check.matched
                                                                       else said))
    if e.rule is None and e.found is not None:
        lines.append(f"  no rule matches: the default, {e.rules_model}")
    return lines


def smart_sling(argv: Sequence[str] | None = None) -> None:
    """gt-smart-sling ISSUE RIG [flags...]: gt sling --smart ISSUE RIG [flags...], flags passed through
    (Gas Town's command of that name; the town is found from the cwd, or GT_TOWN)."""
    app(args=["sling", "--smart", *(sys.argv[1:] if argv is None else argv)], prog_name="gt")
