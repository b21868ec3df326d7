"""gt validate, gt schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, report_problems, settings
from reconciler.cli.render import plural
from reconciler.errors import ManifestError, UsageError


def manifests_dir(ctx: typer.Context, given: Path | None) -> Path:
    """DIR may be a town (holding manifests/) or a manifests directory itself."""
    if given is None:
        return settings(ctx).town_root() / "manifests"
    if (given / "manifests").is_dir():
        return given / "manifests"
    if not given.is_dir():
        raise UsageError(f"{given}: no such directory")
    return given


@app.command(cls=GtCommand)
@maps_errors
def validate(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(metavar="DIR", help="A town or a manifests directory.")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Check every manifest: syntax, schema and cross-references. Exit 0 valid, 2 invalid."""
    from reconciler.manifests.loader import load_desired_state

    s = settings(ctx, output)
    target = manifests_dir(ctx, directory)
    try:
        state = load_desired_state(target)
    except ManifestError as exc:
        if s.json:
            typer.echo(json.dumps([p.as_dict() for p in exc.problems], indent=2))
        else:
            report_problems(s, exc.problems)
        raise typer.Exit(exc.exit_code) from None
    if s.json:
        typer.echo("[]")
        return
    counts = ", ".join(plural(n, kind) for kind, n in state.counts().items())
    s.echo(f"{s.paint('valid:', 'green')} {counts} in {plural(len(state.files), 'file')}")


@app.command(cls=GtCommand)
@maps_errors
def schema(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(metavar="KIND", help="Town, Rig, Convoy or Routing (any case).")],
    output: OutputOption = None,
) -> None:
    """Print the JSON Schema of a manifest kind.

    Self-contained, for editors; always JSON.
    """
    from reconciler.manifests.schemas import KIND_FILES, bundled_schema, kind_for

    found = kind_for(kind)
    if found is None:
        raise UsageError(f"unknown kind {kind!r}: expected one of {', '.join(KIND_FILES)}")
    typer.echo(json.dumps(bundled_schema(found), indent=2))
