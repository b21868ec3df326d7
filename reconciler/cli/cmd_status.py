"""gt status, gt doctor."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from . import app, maps_errors, settings
from .settings import Settings

HEALTH_STYLE = {"Working": "green", "Idle": "cyan", "Starting": "cyan", "Stuck": "red",
                "CrashLoop": "red", "Quarantined": "red", "Parked": "yellow", "Docked": "yellow",
                "Healthy": "green", "Degraded": "red", "Error": "red"}
SYNC_STYLE = {"InSync": "green", "OutOfSync": "yellow", "Error": "red"}


def status_lines(status: dict[str, Any], s: Settings, alive: int | None) -> list[str]:
    last = status.get("lastPass", {})
    sync = status.get("sync", {})
    running = f"running (pid {alive})" if alive else "not running (gt start)"
    lines = [
        f"controller {running}; last pass #{last.get('number', '?')} at {last.get('at', '?')} "
        f"took {last.get('duration', '?')}s, {last.get('actions', 0)} actions, {last.get('failed', 0)} failed"
        if last else f"controller {running}; no pass yet",
        "sync: " + s.paint(sync.get("status", "?"), SYNC_STYLE.get(sync.get("status", ""), "bold")),
    ]
    for err in sync.get("errors", []):
        where = f"{err['path']}:{err['line']}:{err['col']}: " if err.get("path") else ""
        pointer = f"{err['pointer']}: " if err.get("pointer") else ""
        lines.append(s.paint(f"  {where}{pointer}{err['message']}", "red"))
    for pending in sync.get("pending", []):
        lines.append(f"  pending: {pending}")
    for rig in status.get("rigs", []):
        lines.append(f"rig {rig['name']} ({rig['state']}): " + s.paint(rig["health"], HEALTH_STYLE.get(rig["health"], "bold")))
        for w in rig.get("workers", []):
            idle = f" idle {w['idleFor']}s" if w.get("idleFor") is not None else ""
            nudges = f" nudged {w['nudges']}x" if w.get("nudges") else ""
            lines.append(f"  {w['name']:10} {w['issue']:16} " + s.paint(f"{w['health']:11}", HEALTH_STYLE.get(w["health"], "bold")) + f"{idle}{nudges}".rstrip())
    for c in status.get("convoys", []):
        paused = " (paused)" if c.get("paused") else ""
        lines.append(f"convoy {c['name']}{paused}: {c['done']}/{c['total']} done, {c['working']} working, {c['waiting']} waiting")
    return lines


@app.command()
@maps_errors
def status(
    ctx: typer.Context,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until interrupted (json: one document a line).")] = False,
    every: Annotated[float, typer.Option("--every", help="Seconds between refreshes with --watch.")] = 1.0,
) -> None:
    """How the town is doing: sync, health per rig and worker, convoy progress."""
    from ..loop import holder_alive
    from ..loop.status import read_status

    s = settings(ctx)
    root = s.town_root()
    while True:
        data = read_status(root)
        alive = holder_alive(root)
        if s.json:
            typer.echo(json.dumps({**(data or {}), "controllerAlive": bool(alive)}, indent=None if watch else 2))
        elif data is None:
            s.echo("no status yet: the controller has not run (gt start)")
        else:
            if watch and sys.stdout.isatty():
                typer.echo("\x1b[H\x1b[2J", nl=False)
            for line in status_lines(data, s, alive if alive and alive > 0 else None):
                s.echo(line)
            if watch:
                s.echo(s.paint(f"-- {time.strftime('%H:%M:%S')}, refreshing every {every:g}s; Ctrl-C to stop", "dim"))
        if not watch:
            if data is None:
                raise typer.Exit(1)
            raise typer.Exit(2 if data.get("sync", {}).get("status") == "Error" else 0)
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


@app.command()
@maps_errors
def doctor(
    ctx: typer.Context,
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is safe: stale socket, stale lock, dead worktree records, clean merged worktrees.")] = False,
) -> None:
    """Check tmux, git, the manifests, the stores, the controller, sessions and worktrees."""
    from ..doctor import run_checks

    s = settings(ctx)
    findings = run_checks(s.town_root(), fix=fix)
    if s.json:
        typer.echo(json.dumps([{"check": f.check, "level": f.level, "message": f.message} for f in findings], indent=2))
    else:
        style = {"ok": "green", "warn": "yellow", "fail": "red", "fixed": "cyan"}
        for f in findings:
            s.echo(f"{s.paint(f'{f.level:5}', style[f.level])} {f.check:12} {f.message}")
    raise typer.Exit(1 if any(f.bad for f in findings) else 0)
