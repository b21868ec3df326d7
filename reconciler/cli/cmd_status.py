"""gt status, gt doctor."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings
from reconciler.cli.render import plural
from reconciler.cli.settings import Settings

HEALTH_STYLE = {"Working": "green", "Idle": "cyan", "Starting": "cyan", "Stuck": "red",
                "CrashLoop": "red", "Quarantined": "red", "Blocked": "red", "Error": "red",
                "Parked": "yellow", "Docked": "yellow", "Healthy": "green", "Degraded": "red"}
SYNC_STYLE = {"InSync": "green", "OutOfSync": "yellow", "Error": "red"}


def status_lines(status: dict[str, Any], s: Settings, alive: int | None) -> list[str]:
    last = status.get("lastPass", {})
    sync = status.get("sync", {})
    lines = []
    if status.get("notice"):
        lines.append(s.paint(status["notice"], "yellow"))
    if last:
        lines.append(f"controller {'running (pid ' + str(alive) + ')' if alive else 'not running (gt start)'}; "
                     f"last pass #{last.get('number', '?')} at {last.get('at', '?')} took "
                     f"{last.get('duration', '?')}s, {plural(int(last.get('actions', 0)), 'action')}, "
                     f"{last.get('failed', 0)} failed")
    for text, level in status.get("manifests", {}).get("lines", []):
        lines.append(s.paint(text, "yellow") if level == "warn" else text)
    lines.append("sync: " + s.paint(sync.get("status", "?"), SYNC_STYLE.get(sync.get("status", ""), "bold")))
    for err in sync.get("errors", []):
        where = f"{err['path']}:{err['line']}:{err['col']}: " if err.get("path") else ""
        pointer = f"{err['pointer']}: " if err.get("pointer") else ""
        lines.append(s.paint(f"  {where}{pointer}{err['message']}", "red"))
    for pending in sync.get("pending", []):
        lines.append(f"  pending: {pending}")
    for rig in status.get("rigs", []):
        reason = f" ({rig['reason']})" if rig.get("reason") and rig["health"] != "Degraded" else ""
        lines.append(f"rig {rig['name']} ({rig['state']}): "
                     + s.paint(rig["health"], HEALTH_STYLE.get(rig["health"], "bold")) + reason)
        for w in rig.get("workers", []):
            lines.extend(worker_lines(w, s))
        lines.extend(queue_lines(rig.get("mergeQueue", [])))
        for failure in rig.get("failures", []):
            lines.append(s.paint(f"  ! {failure['action']} {failure['issue']} failed {failure['count']}x, "
                                 f"last at {failure['at']}: {failure['error']}", "red"))
        for note in rig.get("notes", []):
            lines.append(s.paint(f"  ! {note}", "yellow"))
    for c in status.get("convoys", []):
        paused = " (paused)" if c.get("paused") else ""
        lines.append(f"convoy {c['name']}{paused}: {c['done']}/{c['total']} done, {c['working']} working, "
                     f"{c['waiting']} waiting")
    return lines


def queue_lines(queue: list[dict[str, Any]]) -> list[str]:
    """The rig's merge queue in the order the refinery serves it: priority, then oldest first."""
    if not queue:
        return []
    return ["  merge queue (priority, then oldest first):"] + [
        f"    {n}. {q['issue']} P{q['priority']} {q.get('worker') or '?'} done since {q.get('since') or '?'}"
        for n, q in enumerate(queue, 1)]


def worker_lines(w: dict[str, Any], s: Settings) -> list[str]:
    idle = f" idle {w['idleFor']}s" if w.get("idleFor") is not None else ""
    nudges = f" nudged {w['nudges']}x" if w.get("nudges") else ""
    style = HEALTH_STYLE.get(w["health"], "bold")
    lines = [f"  {w['name']:10} {w['issue']:16} " + s.paint(f"{w['health']:11}", style) + f"{idle}{nudges}".rstrip()]
    if w.get("reason") and w["health"] not in ("Working", "Idle", "Starting"):
        lines.append(s.paint(f"    why: {w['reason']}", style))
    crash = w.get("crash")
    if crash:
        exit_text = f"exit status {crash['status']}" if crash.get("status") is not None else "exit status unknown"
        lines.append(f"    {exit_text}; last output:")
        lines.extend(f"    | {line}" for line in crash.get("output", []) or ["(nothing)"])
    return lines


def current_status(root: Path) -> tuple[dict[str, Any], int | None]:
    """The controller's status when one runs and wrote it; else what is observed now, saying why."""
    from reconciler.clients.lock import holder_alive
    from reconciler.clients.status_file import read_status_file, status_path
    from reconciler.loop.commits import revision_lines, revision_status

    alive = holder_alive(root)
    pid = alive if alive and alive > 0 else None
    data, problem = read_status_file(root)
    if alive and data is not None:
        manifests = revision_status(root, data.get("controller", {}).get("source"))
        return data | {"controllerAlive": True, "source": "controller",
                       "manifests": manifests | {"lines": revision_lines(manifests)}}, pid
    if not alive:
        notice = "controller not running (gt start); showing what is observed now"
    elif problem == "missing":
        notice = (f"controller running (pid {pid}) but {status_path(root)} does not exist yet: it has not "
                  "finished a pass; showing what is observed now")
    else:
        notice = f"controller running (pid {pid}) but {status_path(root)} is {problem}; showing what is observed now"
    from reconciler.loop.status import observed_status

    doc = observed_status(root, time.time())
    manifests = revision_status(root, None)
    return doc | {"manifests": manifests | {"lines": revision_lines(manifests)},
                  "controllerAlive": bool(alive), "source": "observed", "notice": notice,
                  "statusFile": problem or "ok"}, pid


def _exit_code(doc: dict[str, Any]) -> int:
    status_file_broken = str(doc.get("statusFile", "")).startswith(("corrupt", "unreadable"))
    if doc.get("sync", {}).get("status") == "Error" or status_file_broken:
        return 2
    return 0


@app.command(cls=GtCommand)
@maps_errors
def status(
    ctx: typer.Context,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh until interrupted (json: one document a line).")
    ] = False,
    every: Annotated[
        float, typer.Option("--every", metavar="SECONDS", help="Seconds between refreshes with --watch.")
    ] = 1.0,
    output: OutputOption = None,
) -> None:
    """How the town is doing, with the reason for anything wrong.

    Sync, health per rig and worker, convoy progress. Without a controller, what is
    observed now.
    """
    s = settings(ctx, output)
    root = s.town_root()
    while True:
        doc, alive = current_status(root)
        if s.json:
            typer.echo(json.dumps(doc, indent=None if watch else 2))
        else:
            if watch and sys.stdout.isatty():
                typer.echo("\x1b[H\x1b[2J", nl=False)
            for line in status_lines(doc, s, alive):
                s.echo(line)
            if watch:
                s.echo(s.paint(f"-- {time.strftime('%H:%M:%S')}, refreshing every {every:g}s; Ctrl-C to stop", "dim"))
        if not watch:
            raise typer.Exit(_exit_code(doc))
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


@app.command(cls=GtCommand)
@maps_errors
def doctor(
    ctx: typer.Context,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Repair what is safe: stale socket, stale lock, dead worktree records, clean merged worktrees.",
        ),
    ] = False,
    output: OutputOption = None,
) -> None:
    """Check what the town stands on.

    Tools, manifests, agents, stores, the controller, sessions and worktrees.
    Exit 0 when no check failed, 1 when one did.
    """
    from reconciler.ops.doctor import run_checks

    s = settings(ctx, output)
    findings = run_checks(s.town_root(), fix=fix)
    if s.json:
        typer.echo(json.dumps([{"check": f.check, "level": f.level, "message": f.message} for f in findings], indent=2))
    else:
        style = {"ok": "green", "warn": "yellow", "fail": "red", "fixed": "cyan"}
        for f in findings:
            s.echo(f"{s.paint(f'{f.level:5}', style[f.level])} {f.check:12} {f.message}")
        failed = sum(f.bad for f in findings)
        s.echo(f"{plural(failed, 'check')} failed" if failed else "no check failed")
    raise typer.Exit(1 if any(f.bad for f in findings) else 0)
