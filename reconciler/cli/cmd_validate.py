"""gt validate, gt schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, report_problems, settings
from reconciler.cli.render import plural
from reconciler.errors import ManifestError, UsageError


def manifests_dir(ctx: typer.Context, given: list[Path]) -> Path:
    """DIR may be a town (holding manifests/) or a manifests directory itself; FILEs (as pre-commit
    passes them) name the manifests directory they are in, whose every file is checked with them."""
    if not given:
        return settings(ctx).town_root() / "manifests"
    if len(given) == 1 and given[0].is_dir():
        return given[0] / "manifests" if (given[0] / "manifests").is_dir() else given[0]
    found = set()
    for path in given:
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        if path.is_dir():
            raise UsageError(f"{path}: give one directory, or manifest files")
        directory = next((p for p in path.absolute().parents if p.name == "manifests"), None)
        if directory is None:
            raise UsageError(f"{path}: not a manifest: no manifests/ directory above it")
        found.add(directory)
    if len(found) > 1:
        raise UsageError("the files belong to different towns: " + ", ".join(sorted(map(str, found))))
    return found.pop()


@app.command(cls=GtCommand)
@maps_errors
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[DIR | FILE...]",
                       help="A town, a manifests directory, or manifest files (checked with the rest of their town)."),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Check every manifest: syntax, schema and cross-references. Exit 0 valid, 2 invalid.

    Files on disk are checked, committed or not. Given files (as pre-commit passes them), the
    whole town they belong to is checked, so a change that breaks a reference elsewhere is caught.
    """
    from reconciler.manifests.loader import load_desired_state

    s = settings(ctx, output)
    target = manifests_dir(ctx, paths or [])
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
