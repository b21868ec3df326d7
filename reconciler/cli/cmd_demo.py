"""gt demo: make a demo town, start its controller, and watch it converge."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli import GtCommand, app, maps_errors, settings
from reconciler.cli.cmd_status import current_status, status_lines

GIVE_UP = frozenset({"Quarantined", "Error"})  # health that waiting will not cure


def landed(doc: dict[str, Any]) -> bool:
    convoys = doc.get("convoys", [])
    return bool(convoys) and all(c["done"] == c["total"] for c in convoys) and \
        doc.get("sync", {}).get("status") == "InSync"


def hopeless(doc: dict[str, Any]) -> list[str]:
    return [f"{w['name']} is {w['health']}: {w.get('reason', '')}" for r in doc.get("rigs", [])
            for w in r.get("workers", []) if w["health"] in GIVE_UP] + \
        [f"rig {r['name']}: {r.get('error')}" for r in doc.get("rigs", []) if r.get("error")]


def progress(doc: dict[str, Any]) -> str:
    convoys = "; ".join(f"convoy {c['name']} {c['done']}/{c['total']} merged, {c['working']} working"
                        for c in doc.get("convoys", []))
    workers = ", ".join(f"{w['name']} {w['issue']} {w['health']}" for r in doc.get("rigs", [])
                        for w in r.get("workers", []))
    return f"{convoys} | workers: {workers or 'none'}"


@app.command(cls=GtCommand)
@maps_errors
def demo(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Where the demo town lives.")] = Path("demo-town"),
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", help="Give up after this long.")] = 300.0,
) -> None:
    """Make a demo town, start it, and watch it converge.

    The demo needs no Claude, no network and no bd. DIR is created unless it holds a town;
    the command returns once every issue is merged, leaving the controller running.
    """
    from reconciler.cli.cmd_controller import start_controller
    from reconciler.ops.scaffold import init_town

    s = settings(ctx)
    root = directory.resolve()
    if (root / "manifests").is_dir():
        s.echo(f"using the town in {root}")
    else:
        init_town(root, demo=True)
        s.echo(f"created a demo town in {root}: manifests/ (committed to git) and a demo rig in rigs/demo")
    pid, started = start_controller(root)
    s.echo(f"controller {'started' if started else 'already running'} (pid {pid}); "
           "it spawns workers, merges their work and starts what becomes ready")
    tty = sys.stdout.isatty()
    deadline = time.monotonic() + timeout
    shown = ""
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc, alive = current_status(root)
        if tty:
            typer.echo("\x1b[H\x1b[2J", nl=False)
            for line in status_lines(doc, s, alive):
                s.echo(line)
        elif progress(doc) != shown:
            shown = progress(doc)
            s.echo(time.strftime("%H:%M:%S ") + shown)
        if landed(doc) or hopeless(doc):
            break
        time.sleep(0.5)
    problems = hopeless(doc)
    if landed(doc):
        rig = root / "rigs" / "demo"
        s.echo(s.paint("the demo converged:", "green") + " every issue was worked, merged onto main and closed.")
        s.echo(f"  git -C {rig} log --oneline     the merged work")
        s.echo(f"  gt --town {root} status        the town now")
        s.echo(f"  gt --town {root} shutdown      stop the controller (hooks and worktrees stay)")
        return
    why = "; ".join(problems) if problems else f"not converged after {timeout:g}s"
    s.echo(s.paint(f"the demo did not converge: {why}", "red"), err=True)
    s.echo(f"  gt --town {root} status and {root / '.gt' / 'controller.log'} say more", err=True)
    raise typer.Exit(1)
