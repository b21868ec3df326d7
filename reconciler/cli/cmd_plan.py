"""gt diff, gt apply."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings
from reconciler.cli.render import outcome_line, plan_lines, plural
from reconciler.cli.settings import Settings
from reconciler.errors import UsageError


def _town(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from reconciler.loop.town import Town

    return Town.load(settings(ctx).town_root())


@app.command(cls=GtCommand)
@maps_errors
def diff(
    ctx: typer.Context,
    why: Annotated[bool, typer.Option("--why", help="Show the reason, before and after of each action.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Save the plan to FILE for gt apply FILE.")
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Plan to stop sessions no manifest describes.")] = False,
    output: OutputOption = None,
) -> None:
    """Show what gt apply would do. Exit 0 in sync, 1 changes pending, 2 on error (a rig unreadable too)."""
    s = settings(ctx, output)
    town = _town(ctx)
    plan, _ = town.plan(time.time(), prune=prune, backoff=False, digest=out is not None)
    if out is not None:
        from reconciler.clients.files import write_atomic

        write_atomic(out, json.dumps(plan.to_dict(), indent=2) + "\n")
    if s.json:
        typer.echo(json.dumps(plan.to_dict(), indent=2))
    else:
        for line in plan_lines(plan, s, why=why):
            s.echo(line)
    raise typer.Exit(2 if plan.errors else 0 if plan.in_sync else 1)


@app.command(cls=GtCommand)
@maps_errors
def apply(
    ctx: typer.Context,
    plan_file: Annotated[
        Path | None,
        typer.Argument(metavar="PLAN", help="A plan saved by gt diff --out; applied exactly, refused if stale."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan and stop.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also stop sessions of the town that no manifest describes.")
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", help="With --prune, allow stopping every session when the manifests describe nothing."
        ),
    ] = False,
    why: Annotated[bool, typer.Option("--why", help="Show the reason behind each action.")] = False,
    lock_wait: Annotated[
        float,
        typer.Option(
            "--wait", metavar="SECONDS", help="Seconds to wait for the town lock (held by a running controller)."
        ),
    ] = 0.0,
    output: OutputOption = None,
) -> None:
    """Make the town match the manifests, once. Exit 0 all done, 1 some failed, 2 none could be done."""
    s = settings(ctx, output)
    code, result = apply_town(s, s.town_root(), plan_file, yes=yes, dry_run=dry_run, prune=prune,
                              allow_empty=allow_empty, why=why, lock_wait=lock_wait)
    if s.json and result is not None:
        typer.echo(json.dumps(result, indent=2))
    raise typer.Exit(code)


def apply_town(s: Settings, root: Path, plan_file: Path | None = None, *, yes: bool = False,
               dry_run: bool = False, prune: bool = False, allow_empty: bool = False, why: bool = False,
               lock_wait: float = 0.0) -> tuple[int, dict[str, Any] | None]:
    """gt apply: plan and act once under the town lock, showing the plan and each outcome as it
    goes; the exit code, and the plan and outcomes as data (None when cancelled)."""
    from reconciler.clients.lock import TownLock
    from reconciler.loop.town import Town

    town = Town.load(root)
    # Plan and act under the town lock: no controller acts between the two.
    lock = TownLock(town.root, "gt apply").acquire(wait=lock_wait)
    try:
        return _apply_locked(s, town, plan_file, yes=yes, dry_run=dry_run, prune=prune,
                             allow_empty=allow_empty, why=why)
    finally:
        lock.release()


def _apply_locked(s, town, plan_file: Path | None, *, yes: bool, dry_run: bool, prune: bool,  # type: ignore[no-untyped-def]
                  allow_empty: bool, why: bool) -> tuple[int, dict[str, Any] | None]:
    from reconciler.act.executor import Executor
    from reconciler.model.actions import Plan

    if plan_file is not None:
        try:
            plan = Plan.from_dict(json.loads(plan_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{plan_file}: not a saved plan ({exc})") from exc
        town.check_fresh(plan)
    else:
        plan, _ = town.plan(time.time(), prune=prune, allow_empty=allow_empty, backoff=False)
    to_stderr = s.json
    for line in plan_lines(plan, s, why=why):
        s.echo(line, err=to_stderr)
    if not plan.actions or dry_run:
        return (2 if plan.errors else 0), {"plan": plan.to_dict(), "outcomes": []}
    if not yes and not _confirmed(s, f"Apply {plural(len(plan.actions), 'action')}?"):
        s.echo("Cancelled; nothing done.", err=True)
        return 1, None
    executor = Executor(town.desired, town.runtime, town.stores,
                        on_event=lambda o: s.echo(outcome_line(o, s), err=to_stderr))
    outcomes = executor.apply(plan)
    failed = [o for o in outcomes if o.failed]
    result = {"plan": plan.to_dict(), "outcomes": [
        {"op": o.action.op.value, "subject": o.action.subject, "issue": o.action.issue,
         "result": o.result.value, "detail": o.detail} for o in outcomes]}
    if not s.json:
        s.echo(f"Applied: {len(outcomes) - len(failed)} succeeded, {len(failed)} failed."
               + (f" Not applied: {plural(len(plan.errors), 'error')} above." if plan.errors else ""))
        started = [o.action.subject for o in outcomes if o.result.value == "created"]
        if started:
            s.echo(f"Watch a worker: gt attach {started[0]}   "
                   f"(tmux -L {town.desired.socket} ls lists them all; Ctrl-b d detaches)")
    if failed and len(failed) == len(outcomes):
        return 2, result
    return (1 if failed or plan.errors else 0), result


def _confirmed(s, question: str) -> bool:  # type: ignore[no-untyped-def]
    """Ask on a terminal; from a pipe, read one answer line (`yes | gt apply` works)."""
    if sys.stdin.isatty():
        return bool(typer.confirm(question, default=False))
    s.echo(f"{question} [y/N]: ", err=True)
    answer = sys.stdin.readline()
    if not answer:
        raise UsageError("no answer on stdin and not on a terminal: pass --yes to apply without asking")
    return answer.strip().lower() in ("y", "yes")


@app.command(cls=GtCommand)
@maps_errors
def attach(
    ctx: typer.Context,
    worker: Annotated[str, typer.Argument(metavar="RIG/WORKER", help="e.g. demo/nux (see gt diff).")],
) -> None:
    """Attach your terminal to a worker's session.

    Detach again with Ctrl-b d.
    """
    import os
    import shutil

    from reconciler.manifests.loader import load_desired_state
    from reconciler.model.observed import session_name

    rig, _, name = worker.partition("/")
    if not rig or not name:
        raise UsageError(f"{worker!r}: expected RIG/WORKER, e.g. demo/nux")
    desired = load_desired_state(settings(ctx).town_root() / "manifests")
    tmux = shutil.which("tmux") or "tmux"
    os.execvp(tmux, [tmux, "-L", desired.socket, "attach-session", "-t", f"={session_name(rig, name)}"])
