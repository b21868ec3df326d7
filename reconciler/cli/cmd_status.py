"""gt status, gt doctor."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings
from reconciler.cli.render import plural
from reconciler.cli.settings import Settings
from reconciler.loop.current import current_status as current_status  # noqa: PLC0414 - gt demo reads it here

HEALTH_STYLE = {"Working": "green", "Running": "green", "Idle": "cyan", "Starting": "cyan", "Stuck": "red",
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
    return lines + town_lines(status.get("town", []), s)


def town_lines(sessions: list[dict[str, Any]], s: Settings) -> list[str]:
    """The town's own sessions on one line (gt attach NAME reaches each), and why any is unwell."""
    if not sessions:
        return []
    lines = ["town: " + ", ".join(f"{t['name']} " + s.paint(t["health"], HEALTH_STYLE.get(t["health"], "bold"))
                                  for t in sessions)]
    for t in sessions:
        if t["health"] in ("Running", "Starting"):
            lines.extend(s.paint(f"  ! {note}", "yellow") for note in t.get("notes", []))
        else:
            lines.append(s.paint(f"  {t['name']}: {t['reason']}", HEALTH_STYLE.get(t["health"], "bold")))
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


def _exit_code(doc: dict[str, Any]) -> int:
    status_file_broken = str(doc.get("statusFile", "")).startswith(("corrupt", "unreadable"))
    if doc.get("sync", {}).get("status") == "Error" or status_file_broken:
        return 2
    return 0


WatchOption = Annotated[
    bool, typer.Option("--watch", "-w", help="Refresh until interrupted (json: one document a line).")
]
EveryOption = Annotated[
    float, typer.Option("--every", metavar="SECONDS", help="Seconds between refreshes with --watch.")
]


def refresh(s: Settings, look: Callable[[], tuple[dict[str, Any], list[str], int]], *, watch: bool,
            every: float) -> None:
    """Show what ``look`` returns (a document, its lines, an exit code) once and exit with its code;
    with ``watch``, again every ``every`` seconds until interrupted. While watching, an error is shown
    and the next refresh tries again: a view session outlives a manifest being fixed."""
    from reconciler.errors import ReconcilerError

    while True:
        try:
            doc, lines, code = look()
        except ReconcilerError as exc:
            if not watch:
                raise
            doc, lines, code = {"error": str(exc)}, [s.paint(f"error: {exc}", "red")], 2
        if s.json:
            typer.echo(json.dumps(doc, indent=None if watch else 2))
        else:
            if watch and sys.stdout.isatty():
                typer.echo("\x1b[H\x1b[2J", nl=False)
            for line in lines:
                s.echo(line)
            if watch:
                s.echo(s.paint(f"-- {time.strftime('%H:%M:%S')}, refreshing every {every:g}s; Ctrl-C to stop", "dim"))
        if not watch:
            raise typer.Exit(code)
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


@app.command(cls=GtCommand)
@maps_errors
def status(ctx: typer.Context, watch: WatchOption = False, every: EveryOption = 1.0,
           output: OutputOption = None) -> None:
    """How the town is doing, with the reason for anything wrong.

    Sync, health per rig and worker, convoy progress, the town's own sessions. Without a
    controller, what is observed now.
    """
    s = settings(ctx, output)
    root = s.town_root()

    def look() -> tuple[dict[str, Any], list[str], int]:
        doc, alive = current_status(root)
        return doc, status_lines(doc, s, alive), _exit_code(doc)

    refresh(s, look, watch=watch, every=every)


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
