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

RevOption = Annotated[
    str | None,
    typer.Option("--rev", metavar="REF", help="Read the manifests committed at REF (a branch, tag, HEAD~1, an id)."),
]
WorktreeOption = Annotated[
    bool, typer.Option("--worktree", help="Read the manifests as they are on disk, uncommitted edits included."),
]


def _town(ctx: typer.Context, rev: str | None = None, worktree: bool = False):  # type: ignore[no-untyped-def]
    """The town at ``rev`` (default: the commit checked out); says on stderr what it leaves out."""
    return town_at(settings(ctx), rev, worktree)


def town_at(s: Settings, rev: str | None = None, worktree: bool = False):  # type: ignore[no-untyped-def]
    """The town as gt diff and gt apply read it: at ``rev`` (default: the commit checked out), or
    its working tree; warns on stderr about uncommitted manifest edits it leaves out."""
    from reconciler.loop.revision import uncommitted_warning
    from reconciler.loop.town import Town

    town = Town.load(s.town_root(), rev=rev, worktree=worktree)
    warning = uncommitted_warning(town.root, town.revision)
    if warning:
        s.echo(s.paint(f"warning: {warning}", "yellow"), err=True)
    return town


def revision_line(town) -> str:  # type: ignore[no-untyped-def]
    return f"Manifests at {town.revision}" if town.revision.commit else f"Manifests from {town.revision}"


@app.command(cls=GtCommand)
@maps_errors
def diff(
    ctx: typer.Context,
    why: Annotated[bool, typer.Option("--why", help="Show the reason, before and after of each action.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Save the plan to FILE for gt apply FILE.")
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Plan to stop sessions no manifest describes.")] = False,
    rev: RevOption = None,
    worktree: WorktreeOption = False,
    base: Annotated[
        str | None,
        typer.Option("--base", metavar="REF", help="Review: how the manifests at --head change the work against REF."),
    ] = None,
    head: Annotated[
        str | None, typer.Option("--head", metavar="REF", help="With --base: the changed revision (default HEAD).")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Show what gt apply would do. Exit 0 in sync, 1 changes pending, 2 on error (a rig unreadable too).

    Reads the manifests committed at HEAD, as gt apply and the controller do; --worktree
    includes uncommitted edits, --rev REF reads another commit. With --base REF, reviews a
    change instead (-o markdown for a pull-request comment): exit 0, or 2 on an error.
    """
    s = settings(ctx, output)
    if base is not None:
        if rev is not None or out is not None or prune:
            raise UsageError("--base reviews a change: --rev, --out and --prune do not apply")
        if head is not None and worktree:
            raise UsageError("--head and --worktree name different revisions: give one of them")
        _review(s, base, head, worktree)
        return
    if head is not None:
        raise UsageError("--head needs --base: the revision the change is reviewed against")
    from reconciler.plan.costs import plan_costs

    town = _town(ctx, rev, worktree)
    plan, observed = town.plan(time.time(), prune=prune, backoff=False, digest=out is not None)
    costs = plan_costs(town.desired, observed, plan)
    # As data only when it is written out: turning 200 actions into dicts costs as much as planning.
    data = plan.to_dict() | {"revision": town.revision.as_dict(), "costs": costs.as_dict()} \
        if s.json or out is not None else {}
    if out is not None:
        from reconciler.clients.files import write_atomic

        write_atomic(out, json.dumps(data, indent=2) + "\n")
    if s.json:
        typer.echo(json.dumps(data, indent=2))
    else:
        s.echo(revision_line(town))
        for line in plan_lines(plan, s, why=why, costs=costs):
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
    rev: RevOption = None,
    worktree: WorktreeOption = False,
    output: OutputOption = None,
) -> None:
    """Make the town match the manifests, once. Exit 0 all done, 1 some failed, 2 none could be done.

    Applies the manifests committed at HEAD (--rev REF another commit: --rev HEAD~1 rolls a
    change back); --worktree includes uncommitted edits.
    """
    s = settings(ctx, output)
    saved = _saved_plan(plan_file) if plan_file is not None else None
    if saved is not None:
        if rev is not None or worktree:
            raise UsageError("a saved plan is applied at the revision it was made from: drop --rev/--worktree")
        rev, worktree = _saved_revision(saved)
    code, result = apply_town(s, _town(ctx, rev, worktree), saved, yes=yes, dry_run=dry_run, prune=prune,
                              allow_empty=allow_empty, why=why, lock_wait=lock_wait)
    if s.json and result is not None:
        typer.echo(json.dumps(result, indent=2))
    raise typer.Exit(code)


def apply_town(s: Settings, town, saved=None, *, yes: bool = False,  # type: ignore[no-untyped-def]
               dry_run: bool = False, prune: bool = False, allow_empty: bool = False, why: bool = False,
               lock_wait: float = 0.0) -> tuple[int, dict[str, Any] | None]:
    """gt apply: plan and act once under the town lock, showing the plan and each outcome as it
    goes; the exit code, and the plan and outcomes as data (None when cancelled)."""
    from reconciler.clients.lock import TownLock

    # Plan and act under the town lock: no controller acts between the two.
    lock = TownLock(town.root, "gt apply").acquire(wait=lock_wait)
    try:
        return _apply_locked(s, town, saved, yes=yes, dry_run=dry_run, prune=prune,
                             allow_empty=allow_empty, why=why)
    finally:
        lock.release()


def _review(s, base: str, head: str | None, worktree: bool) -> None:  # type: ignore[no-untyped-def]
    from reconciler.cli.review_render import review_dict, review_lines, review_markdown
    from reconciler.cli.settings import OutputMode
    from reconciler.loop.review import review_revisions

    result = review_revisions(s.town_root(), base, head, head_worktree=worktree, now=time.time())
    if s.json:
        typer.echo(json.dumps(review_dict(result), indent=2))
    elif s.output is OutputMode.markdown:
        typer.echo(review_markdown(result), nl=False)
    else:
        for line in review_lines(result):
            s.echo(line)


def _saved_plan(plan_file: Path):  # type: ignore[no-untyped-def]
    from reconciler.model.actions import Plan

    try:
        return Plan.from_dict(json.loads(plan_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{plan_file}: not a saved plan ({exc})") from exc


def _saved_revision(saved) -> tuple[str | None, bool]:  # type: ignore[no-untyped-def]
    """Where a saved plan is applied: at the commit it was made from when that was named with
    --rev; else HEAD (so a plan saved before a new commit is refused as stale) or the files."""
    made = saved.digest.get("revision")
    if saved.digest.get("pinned"):
        return made, False
    return None, made == "worktree"


def _apply_locked(s, town, saved, *, yes: bool, dry_run: bool, prune: bool,  # type: ignore[no-untyped-def]
                  allow_empty: bool, why: bool) -> tuple[int, dict[str, Any] | None]:
    from reconciler.act.executor import Executor
    from reconciler.plan.costs import plan_costs

    costs = None
    if saved is not None:
        town.check_fresh(saved)
        plan = saved
    else:
        plan, observed = town.plan(time.time(), prune=prune, allow_empty=allow_empty, backoff=False)
        costs = plan_costs(town.desired, observed, plan)
    to_stderr = s.json
    s.echo(revision_line(town), err=to_stderr)
    for line in plan_lines(plan, s, why=why, costs=costs):
        s.echo(line, err=to_stderr)
    if not plan.actions or dry_run:
        return (2 if plan.errors else 0), {"plan": plan.to_dict(), "revision": town.revision.as_dict(),
                                           "outcomes": []}
    if not yes and not _confirmed(s, f"Apply {plural(len(plan.actions), 'action')}?"):
        s.echo("Cancelled; nothing done.", err=True)
        return 1, None
    executor = Executor(town.desired, town.runtime, town.stores,
                        on_event=lambda o: s.echo(outcome_line(o, s), err=to_stderr),
                        on_progress=lambda a, line: s.echo(f"  {a.subject}: {line}", err=True))
    outcomes = executor.apply(plan)
    failed = [o for o in outcomes if o.failed]
    result = {"plan": plan.to_dict(), "revision": town.revision.as_dict(), "outcomes": [
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
