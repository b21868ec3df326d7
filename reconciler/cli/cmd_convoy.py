"""gt convoy create|add|remove|list|show, gt sling: convoys as reviewed manifest edits, and their progress."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings
from reconciler.cli.editing import ApplyOption, CommitOption, DryRunOption, finish
from reconciler.cli.settings import Settings
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.loop.progress import ConvoyProgress

convoy_app = typer.Typer(no_args_is_help=True, help="Convoys: create, add, remove (manifest edits); list, show.")
app.add_typer(convoy_app, name="convoy")

IssuesArgument = Annotated[list[str], typer.Argument(metavar="ISSUE...", help="Issue ids, e.g. cs-login.")]
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The convoy's name.")]


@convoy_app.command("create", cls=GtCommand)
@maps_errors
def convoy_create(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(metavar="TITLE", help="Human title; the name is made from it.")],
    issues: IssuesArgument,
    rig: Annotated[
        str | None,
        typer.Option("--rig", metavar="RIG", help="The rig; default: the one whose prefix the issues carry."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="The convoy's name; default: from the title.")
    ] = None,
    dry_run: DryRunOption = False,
    commit: CommitOption = False,
    apply: ApplyOption = False,
    output: OutputOption = None,
) -> None:
    """Write a new convoy, manifests/convoys/NAME.yaml.

    Shows it as a diff; --commit commits it, --apply also carries it out.
    """
    from reconciler.ops.edits import create_convoy

    s = settings(ctx, output)
    edit = create_convoy(s.town_root(), title, issues, rig=rig, name=name)
    finish(s, edit, dry_run=dry_run, commit=commit, apply=apply)


@convoy_app.command("add", cls=GtCommand)
@maps_errors
def convoy_add(
    ctx: typer.Context,
    name: NameArgument,
    issues: IssuesArgument,
    dry_run: DryRunOption = False,
    commit: CommitOption = False,
    apply: ApplyOption = False,
    output: OutputOption = None,
) -> None:
    """Add issues to a convoy, at the end of its list.

    Edits the file that declares it, keeping its comments and layout.
    """
    from reconciler.ops.edits import add_to_convoy

    s = settings(ctx, output)
    finish(s, add_to_convoy(s.town_root(), name, issues), dry_run=dry_run, commit=commit, apply=apply)


@convoy_app.command("remove", cls=GtCommand)
@maps_errors
def convoy_remove(
    ctx: typer.Context,
    name: NameArgument,
    issues: IssuesArgument,
    dry_run: DryRunOption = False,
    commit: CommitOption = False,
    apply: ApplyOption = False,
    output: OutputOption = None,
) -> None:
    """Remove issues from a convoy.

    Their workers stop and release them once the change is applied; worktrees stay.
    """
    from reconciler.ops.edits import remove_from_convoy

    s = settings(ctx, output)
    finish(s, remove_from_convoy(s.town_root(), name, issues), dry_run=dry_run, commit=commit, apply=apply)


@app.command(cls=GtCommand)
@maps_errors
def sling(
    ctx: typer.Context,
    issue: Annotated[str, typer.Argument(metavar="ISSUE", help="The issue id.")],
    rig: Annotated[str, typer.Argument(metavar="RIG", help="The rig to work it.")],
    agent: Annotated[
        str | None, typer.Option("--agent", metavar="AGENT", help="Run it with this agent of the rig's Routing.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", metavar="MODEL", help="Run it on this model of the rig's Routing.")
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", metavar="MESSAGE", help="Text added to the worker's start prompt.")
    ] = None,
    smart: Annotated[
        bool, typer.Option("--smart", help="Write the model the rig's routing rules pick for the issue, and say why.")
    ] = False,
    dry_run: DryRunOption = False,
    commit: CommitOption = False,
    apply: ApplyOption = False,
    output: OutputOption = None,
) -> None:
    """Put an issue in its rig's own convoy (named after the rig).

    With its own agent, model or message when given; slung again, its entry takes the new ones.
    --smart routes the issue (its labels, type, priority and title, from the rig's store) and
    writes the model the rules pick. The convoy file is created when missing.
    """
    from reconciler.manifests.edit import IssueEntry
    from reconciler.ops.edits import sling as sling_issue
    from reconciler.ops.edits import smart_sling

    s = settings(ctx, output)
    entry = IssueEntry(issue, model=model, agent=agent, message=message)
    extra = None
    if smart:
        edit, explained = smart_sling(s.town_root(), entry, rig)
        s.echo(f"routed {issue}: {s.paint(explained.rules_model, 'cyan')} by {explained.rules_reason()}",
               err=s.json)
        extra = {"route": explained.rules_dict()}
    else:
        edit = sling_issue(s.town_root(), entry, rig)
    finish(s, edit, dry_run=dry_run, commit=commit, apply=apply, extra=extra,
           unchanged=f"{issue} is already in convoy {rig} as asked: nothing to change")


# -- progress --------------------------------------------------------------------------------------

STATE_STYLES = {"waiting": "dim", "blocked": "yellow", "hooked": "cyan", "working": "cyan", "done": "green",
                "merged": "green", "missing": "red", "unknown": "red"}


def _progress(s: Settings) -> list[ConvoyProgress]:
    """Every convoy's progress, from the stores as they are now; reads only, never takes the lock."""
    from reconciler.loop.progress import convoy_progress

    town, observed = _look(s)
    return [convoy_progress(c, observed.rig(c.rig)) for c in town.desired.convoys]


def _look(s: Settings, usage: bool = False):  # type: ignore[no-untyped-def]
    """The town and what is observed now (with the agents' tokens when ``usage``)."""
    from reconciler.loop.town import Town

    town = Town.load(s.town_root())
    return town, town.observe(usage=usage)


def headline(p: ConvoyProgress) -> str:
    """'1/4 merged, 2 on workers, 1 waiting', then Landed or paused."""
    waiting = p.total - p.merged - p.working
    state = "Landed" if p.landed else ("paused" if p.paused else "")
    return f"{p.merged}/{p.total} merged, {p.working} on workers, {waiting} waiting" + (f"; {state}" if state else "")


def issue_rows(s: Settings, progress: ConvoyProgress, costs: list[str] | None = None) -> list[str]:
    """One line an issue: its id, its state in words (coloured), its cost when given, its title."""
    said = [(i, i.describe(progress.rig)) for i in progress.issues]
    width = max((len(i.id) for i, _ in said), default=0)
    said_width = max((len(text) for _, text in said), default=0)
    cells = [f"  {c}" for c in costs] if costs is not None else [""] * len(said)
    return [f"  {issue.id:{width}}  " + s.paint(f"{text:{said_width}}", STATE_STYLES[issue.state.value])
            + f"{cell}  {issue.headline}".rstrip() for (issue, text), cell in zip(said, cells, strict=True)]


@convoy_app.command("list", cls=GtCommand)
@maps_errors
def convoy_list(ctx: typer.Context, output: OutputOption = None) -> None:
    """Every convoy, its rig and how far it has come."""
    s = settings(ctx, output)
    found = _progress(s)
    if s.json:
        typer.echo(json.dumps([p.as_dict() for p in found], indent=2))
        return
    if not found:
        s.echo("no convoys: gt convoy create TITLE ISSUE... writes one")
        return
    width = max(len(p.name) for p in found)
    rig_width = max(len(p.rig) for p in found)
    for p in found:
        line = f"{p.name:{width}}  rig {p.rig:{rig_width}}  {headline(p)}"
        s.echo(s.paint(line, "green") if p.landed else line)


@convoy_app.command("show", cls=GtCommand)
@maps_errors
def convoy_show(ctx: typer.Context, name: NameArgument, output: OutputOption = None) -> None:
    """A convoy issue by issue: waiting, blocked, hooked, working, done, merged; and what it costs."""
    from reconciler.cli.cost_render import convoy_cost_lines, convoy_costs_dict
    from reconciler.loop.progress import convoy_progress

    s = settings(ctx, output)
    town, observed = _look(s, usage=True)
    convoy = next((c for c in town.desired.convoys if c.name == name), None)
    if convoy is None:
        declared = ", ".join(c.name for c in town.desired.convoys) or "none"
        raise UsageError(f"convoy '{name}' is not declared (declared convoys: {declared})")
    progress = convoy_progress(convoy, observed.rig(convoy.rig))
    if s.json:
        typer.echo(json.dumps(progress.as_dict() | convoy_costs_dict(town.desired, observed, convoy), indent=2))
        return
    title = f" ({progress.title})" if progress.title != progress.name else ""
    s.echo(s.paint(f"convoy {progress.name}{title}, rig {progress.rig}: {headline(progress)}", "bold"))
    if progress.error:
        s.echo(s.paint(f"  the rig's store could not be read: {progress.error}", "red"))
    costs, summary = convoy_cost_lines(town.desired, observed, convoy)
    for line in [*issue_rows(s, progress, costs), *summary]:
        s.echo(line)
    if progress.landed:
        s.echo(s.paint("Landed: every issue is merged and closed.", "green"))
