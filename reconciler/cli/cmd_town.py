"""gt attach, gt coordinator attach, gt worker list, gt queue: reaching and watching the town's
sessions. gt queue and gt worker list read the status document, as gt status does."""

from __future__ import annotations

import json
import shlex
from typing import Annotated, Any

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings
from reconciler.cli.cmd_status import HEALTH_STYLE, EveryOption, WatchOption, queue_lines, refresh
from reconciler.cli.settings import Settings

coordinator_app = typer.Typer(no_args_is_help=True, help="The coordinator: an agent for you to talk to.")
worker_app = typer.Typer(no_args_is_help=True, help="Workers: every rig's, in one table.")
app.add_typer(coordinator_app, name="coordinator")
app.add_typer(worker_app, name="worker")

PrintOption = Annotated[
    bool, typer.Option("--print", help="Print the tmux command instead of running it.")
]


def _attach(ctx: typer.Context, target: str, show: bool) -> None:
    import os
    import shutil

    from reconciler.loop.revision import load_applied
    from reconciler.ops.navigation import attach_argv, check_running, session_of

    session = session_of(target)
    _, desired = load_applied(settings(ctx).town_root())
    argv = attach_argv(shutil.which("tmux") or "tmux", desired.socket, session)
    if show:
        typer.echo(shlex.join(argv))
        return
    check_running(desired.socket, session, target)
    os.execvp(argv[0], argv)


@app.command(cls=GtCommand)
@maps_errors
def attach(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(
        metavar="NAME", help="coordinator, witness, refinery, or a worker as RIG/WORKER (e.g. demo/nux).")],
    show: PrintOption = False,
) -> None:
    """Attach to a session: a worker, the coordinator or a view.

    NAME is coordinator, witness (a live gt status), refinery (the merge queues) or RIG/WORKER.
    Detach again with Ctrl-b d. Inside the town's tmux, prefix g then c, w, r, n or p moves
    between them.
    """
    _attach(ctx, target, show)


@coordinator_app.command("attach", cls=GtCommand)
@maps_errors
def coordinator_attach(ctx: typer.Context, show: PrintOption = False) -> None:
    """Attach your terminal to the coordinator (as gt attach coordinator)."""
    _attach(ctx, "coordinator", show)


def worker_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rig's workers from the status document, each with its rig."""
    return [w | {"rig": r["name"]} for r in status.get("rigs", []) for w in r.get("workers", [])]


@worker_app.command("list", cls=GtCommand)
@maps_errors
def worker_list(ctx: typer.Context, output: OutputOption = None) -> None:
    """Every worker of every rig: its issue, health and session (gt attach RIG/WORKER)."""
    from reconciler.loop.current import current_status

    s = settings(ctx, output)
    rows = worker_rows(current_status(s.town_root())[0])
    if s.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        s.echo("no workers: nothing is hooked and no worker session runs")
        return
    names = [f"{w['rig']}/{w['name']}" for w in rows]
    width = max(len("WORKER"), *map(len, names))
    issue_width = max(len("ISSUE"), *(len(w["issue"]) for w in rows))
    s.echo(f"{'WORKER':{width}}  {'ISSUE':{issue_width}}  {'HEALTH':11}  SESSION")
    for name, w in zip(names, rows, strict=True):
        health = s.paint(f"{w['health']:11}", HEALTH_STYLE.get(w["health"], "bold"))
        done = "  (done: waiting to merge)" if w.get("done") else ""
        s.echo(f"{name:{width}}  {w['issue']:{issue_width}}  {health}  {w.get('session') or '-'}{done}")
        if w.get("reason") and w["health"] not in ("Working", "Idle", "Starting"):
            s.echo(s.paint(f"  why: {w['reason']}", HEALTH_STYLE.get(w["health"], "bold")))


def merge_queues(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Each rig's merge queue as the status document lists it: in the order the refinery serves it."""
    return [{"rig": rig["name"], "queue": rig.get("mergeQueue", [])} for rig in status.get("rigs", [])]


def refinery_lines(status: dict[str, Any], s: Settings) -> list[str]:
    lines = [s.paint(status["notice"], "yellow")] if status.get("notice") else []
    queues = merge_queues(status)
    for q in queues:
        waiting = len(q["queue"])
        lines.append(f"rig {q['rig']}: " + (f"{waiting} waiting to merge" if waiting else "nothing waiting to merge"))
        lines.extend(queue_lines(q["queue"]))
    return lines or ["no rigs: nothing to merge"]


@app.command(cls=GtCommand)
@maps_errors
def queue(ctx: typer.Context, watch: WatchOption = False, every: EveryOption = 1.0,
          output: OutputOption = None) -> None:
    """Each rig's merge queue: done issues waiting to merge.

    Read from the status document, as gt status reads it; the refinery view (prefix g r)
    runs gt queue --watch.
    """
    from reconciler.loop.current import current_status

    s = settings(ctx, output)
    root = s.town_root()

    def look() -> tuple[dict[str, Any], list[str], int]:
        status, _ = current_status(root)
        return {"rigs": merge_queues(status)}, refinery_lines(status, s), 0

    refresh(s, look, watch=watch, every=every)
