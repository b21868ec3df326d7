"""gt prime, gt hook, gt done: the worker's side, run by agents inside their sessions."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings

TARGET_HELP = "A worker as RIG/WORKER; default: the worker whose session this is."


def _context(ctx: typer.Context, target: str | None):  # type: ignore[no-untyped-def]
    from reconciler.ops.worker import context

    s = settings(ctx)
    town = s.town_root() if target is not None else None
    return context(target, town)


@app.command(cls=GtCommand)
@maps_errors
def prime(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(metavar="RIG/WORKER", help=TARGET_HELP)] = None,
    output: OutputOption = None,
) -> None:
    """What an agent reads at start: who, hook, mail, what to do."""
    from reconciler.ops.prime import prime_document, prime_text

    s = settings(ctx, output)
    doc = prime_document(_context(ctx, target))
    typer.echo(json.dumps(doc, indent=2) if s.json else prime_text(doc))


@app.command(cls=GtCommand)
@maps_errors
def hook(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(metavar="RIG/WORKER", help=TARGET_HELP)] = None,
    output: OutputOption = None,
) -> None:
    """Show the issue on a worker's hook. From inside the worker, its first call marks it in progress."""
    from reconciler.ops.worker import take_hook

    s = settings(ctx, output)
    wc = _context(ctx, target)
    issue = take_hook(wc)
    if s.json:
        typer.echo(json.dumps({"role": wc.role, "hook": None if issue is None else {
            "id": issue.id, "title": issue.title, "status": issue.status}}, indent=2))
    elif issue is None:
        s.echo(f"{wc.role}: nothing on the hook")
    else:
        s.echo(f"{wc.role}: {issue.id} ({issue.status}) {issue.title}")


@app.command(cls=GtCommand)
@maps_errors
def done(ctx: typer.Context, output: OutputOption = None) -> None:
    """Report the hooked issue ready to merge (inside a worker).

    Commit your work first.
    """
    from reconciler.ops.worker import context, report_done

    s = settings(ctx, output)
    issue = report_done(context(None, None))
    if s.json:
        typer.echo(json.dumps({"issue": issue.id, "done": True}))
    else:
        s.echo(f"{issue.id} reported done; the refinery merges it on the next pass")
