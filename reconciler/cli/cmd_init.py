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


@app.command("import", cls=GtCommand)
@maps_errors
def import_town(
    ctx: typer.Context,
    socket: Annotated[
        str | None,
        typer.Option("--socket", metavar="NAME",
                     help="The tmux socket (tmux -L NAME) the workers run on; default: the town's."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the manifests and write nothing.")] = False,
    commit: Annotated[bool, typer.Option("--commit", help="Commit the manifests written.")] = False,
    output: OutputOption = None,
) -> None:
    """Write manifests that describe the workers running now, without stopping them.

    gt's own sessions and Gas Town's polecats are described (their rigs and hooked issues);
    gt diff right after has nothing to do.
    """
    from reconciler.loop.revision import load_at
    from reconciler.ops.importer import plan_import, write_import

    s = settings(ctx, output)
    root = s.town_root()
    found = plan_import(root, socket or load_at(root, worktree=True)[1].socket)
    if not dry_run:
        write_import(root, found, commit=commit)
    if s.json:
        typer.echo(json.dumps({
            "workers": [{"session": w.session, "rig": w.rig, "worker": w.worker, "issue": w.issue,
                         "origin": w.origin} for w in found.workers],
            "skipped": [{"session": k.session, "why": k.why} for k in found.skipped],
            "files": {str(p.relative_to(root)): text for p, text in found.files.items()},
            "written": not dry_run, "committed": commit and not dry_run and bool(found.files)}, indent=2))
        return
    for w in found.workers:
        s.echo(f"  {w.session}: {w.origin} worker {w.rig}/{w.worker} on {w.issue or '(no hooked issue)'}")
    for k in found.skipped:
        s.echo(s.paint(f"  {k.session}: skipped: {k.why}", "yellow"))
    for rig in found.declared:
        s.echo(f"  rig {rig} is declared already: only its hooked issues are added")
    verb = "would write" if dry_run else "wrote"
    for path, text in found.files.items():
        s.echo(f"{s.paint(verb, 'green')} {path.relative_to(root)}")
        if dry_run:
            for line in text.splitlines():
                s.echo(f"    {line}")
    if not found.files:
        s.echo("nothing to import: every running worker is described already")
    elif not dry_run:
        s.echo("committed; the controller takes it from here" if commit
               else "commit them (gt applies committed manifests only), then gt diff shows nothing to do")
