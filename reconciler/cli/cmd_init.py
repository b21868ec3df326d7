"""gt init."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings


@app.command(cls=GtCommand)
@maps_errors
def init(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(metavar="DIR", help="Where to create the town (default: the cwd).")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Also create a demo rig with issues, worked by a script agent (no Claude, no network).",
        ),
    ] = False,
    output: OutputOption = None,
) -> None:
    """Create a town: a git repo with commented manifests.

    The manifests validate as written; --demo adds a demo rig and its issues.
    """
    from reconciler.ops.scaffold import init_town

    result = init_town(directory or Path.cwd(), demo=demo)
    s = settings(ctx, output)
    if s.json:
        typer.echo(json.dumps({
            "root": str(result.root),
            "created": list(result.created),
            "demoRig": str(result.demo_rig) if result.demo_rig else None,
        }))
        return
    s.echo(f"{s.paint('created', 'green')} town at {result.root}")
    for rel in result.created:
        typer.echo(f"  + {rel}")
    if result.demo_rig:
        typer.echo(f"  + {result.demo_rig.relative_to(result.root)}/ (demo rig: git repo and Beads issues)")
    typer.echo("next: gt validate")
