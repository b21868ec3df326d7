"""gt prime, gt hook, gt done, gt mol: the worker's side, run by agents inside their sessions."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings

TARGET_HELP = "A worker as RIG/WORKER; default: the worker whose session this is."
PRIME_HELP = "A worker as RIG/WORKER, or coordinator; default: the worker or coordinator whose session this is."


def _context(ctx: typer.Context, target: str | None):  # type: ignore[no-untyped-def]
    from reconciler.ops.worker import context

    s = settings(ctx)
    town = s.town_root() if target is not None else None
    return context(target, town)


@app.command(cls=GtCommand)
@maps_errors
def prime(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(metavar="RIG/WORKER", help=PRIME_HELP)] = None,
    output: OutputOption = None,
) -> None:
    """What an agent reads at start: who, hook, mail, what to do.

    In the coordinator's session (or as gt prime coordinator): the overseer's view of the town,
    its rigs, convoys, workers, unread mail and what needs attention.
    """
    from reconciler.ops.prime import prime_document, prime_text
    from reconciler.ops.worker import inside_coordinator

    s = settings(ctx, output)
    if target == "coordinator" or (target is None and inside_coordinator()):
        from reconciler.ops.overseer import overseer_document, overseer_text

        overseer = overseer_document(s.town_root())
        typer.echo(json.dumps(overseer, indent=2) if s.json else overseer_text(overseer))
        return
    doc = prime_document(_context(ctx, target))
    typer.echo(json.dumps(doc, indent=2) if s.json else prime_text(doc))


@app.command(cls=GtCommand)
@maps_errors
def hook(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(metavar="RIG/WORKER", help=TARGET_HELP)] = None,
    output: OutputOption = None,
) -> None:
    """Show the issue on a worker's hook. From inside the worker, its first call marks it in progress."""
    from reconciler.ops.worker import take_hook

    s = settings(ctx, output)
    wc = _context(ctx, target)
    issue = take_hook(wc)
    if s.json:
        typer.echo(json.dumps({"role": wc.role, "hook": None if issue is None else {
            "id": issue.id, "title": issue.title, "status": issue.status}}, indent=2))
    elif issue is None:
        s.echo(f"{wc.role}: nothing on the hook")
    else:
        s.echo(f"{wc.role}: {issue.id} ({issue.status}) {issue.title}")


@app.command(cls=GtCommand)
@maps_errors
def done(
    ctx: typer.Context,
    status: Annotated[
        str, typer.Option("--status", metavar="STATUS", help="completed (default), escalated or deferred.")
    ] = "completed",
    message: Annotated[
        str, typer.Option("--message", "-m", metavar="NOTE", help="A note: what was done, or why not.")
    ] = "",
    proceed: Annotated[
        bool, typer.Option("--continue", help="Molecule: finish the current step and get the next (the last "
                                              "step's completes the issue).")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Report the hooked issue (inside a worker): completed, escalated or deferred.

    completed: ready to merge (commit your work first: a worktree with uncommitted changes is
    refused), WORKER_DONE mailed to the refinery. escalated: HELP mailed to the overseer, the
    hook kept. deferred: the issue given back with the reason in --message. --continue, for an
    issue with a molecule: the current step is finished and the next one printed, on the same
    branch; at the last step it reports the issue completed.
    """
    from reconciler.errors import UsageError
    from reconciler.ops.worker import DoneStatus, context, report_done

    s = settings(ctx, output)
    if status not in DoneStatus.__members__:
        raise UsageError(f"--status {status!r}: one of {', '.join(DoneStatus.__members__)}")
    if proceed:
        if status != DoneStatus.completed:
            raise UsageError(f"--continue finishes a step: it cannot go with --status {status}")
        _advance(s, message, complete_last=True)
        return
    report = report_done(context(None, None), DoneStatus(status), message)
    issue = report.issue
    if s.json:
        typer.echo(json.dumps({"issue": issue.id, "status": report.status.value, "mail": report.mail,
                               "done": report.status is DoneStatus.completed}))
    elif report.status is DoneStatus.completed:
        s.echo(f"{issue.id} reported done; the refinery merges it on the next pass (mail {report.mail})")
    elif report.status is DoneStatus.escalated:
        s.echo(f"{issue.id} escalated: HELP mailed to the overseer ({report.mail}); it stays on your hook")
    else:
        s.echo(f"{issue.id} deferred and given back ({report.mail}); nothing is on your hook now")


@app.command(cls=GtCommand)
@maps_errors
def handoff(
    ctx: typer.Context,
    message: Annotated[
        str, typer.Option("--message", "-m", metavar="NOTE", help="For your next session: where you were.")
    ] = "",
    target: Annotated[str | None, typer.Argument(metavar="RIG/WORKER", help=TARGET_HELP)] = None,
) -> None:
    """Restart this worker's session on the same hook, worktree and branch.

    For a context that filled up: the note is added to the new session's start prompt. The
    controller starts it at once (without one, gt apply does).
    """
    from reconciler.ops.worker import hand_off

    s = settings(ctx)
    wc = _context(ctx, target)
    s.echo(f"{wc.role}: handing off {wc.session_issue or 'the hook'}; a fresh session starts on the same work")
    request = hand_off(wc, message)
    s.echo(f"{wc.role}: session stopped; {request.issue} stays hooked; the next pass starts it again")


mol_app = typer.Typer(no_args_is_help=True, help="Molecules: the steps of the issue on a worker's hook.")
app.add_typer(mol_app, name="mol")


def _advance(s, message: str, *, complete_last: bool) -> None:  # type: ignore[no-untyped-def]
    """gt done --continue and gt mol next: finish the step, print the next (or that the issue is done)."""
    from reconciler.model.molecule import step_prompt
    from reconciler.ops.molecule import next_step
    from reconciler.ops.worker import context

    moved = next_step(context(None, None), message, complete_last=complete_last)
    issue, after = moved.issue, moved.next
    if s.json:
        typer.echo(json.dumps({"issue": issue.id, "finished": moved.finished, "total": moved.total,
                               "commit": moved.commit, "done": after is None, "mail": moved.mail or None,
                               "next": None if after is None else after.as_dict()}))
    elif after is None:
        s.echo(f"{issue.id}: step {moved.finished} of {moved.total} done, the last: the issue is reported done; "
               f"the refinery merges it on the next pass (mail {moved.mail})")
    else:
        s.echo(f"{issue.id}: step {moved.finished} of {moved.total} done ({moved.commit[:7] or 'no commit'}); "
               f"next, step {after.current} of {after.total}: {after.text}")
        s.echo(step_prompt(after))


@mol_app.command("current", cls=GtCommand)
@maps_errors
def mol_current(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(metavar="RIG/WORKER", help=TARGET_HELP)] = None,
    output: OutputOption = None,
) -> None:
    """The step of the hooked issue's molecule to work now, and every step's state."""
    from reconciler.model.molecule import step_prompt
    from reconciler.ops.molecule import current
    from reconciler.ops.prime import STEP_MARKS

    s = settings(ctx, output)
    found = current(_context(ctx, target))
    at = found.at
    if s.json:
        typer.echo(json.dumps({"issue": found.issue.id} | at.as_dict(), indent=2))
        return
    s.echo(f"{found.issue.id}: step {at.current} of {at.total}{' (all done)' if at.done else ''}: {at.text}")
    for n, text in enumerate(at.steps, 1):
        s.echo(f"  {n}. [{STEP_MARKS[at.state(n)]}] {text}")
    if step_prompt(at):
        s.echo(step_prompt(at))


@mol_app.command("next", cls=GtCommand)
@maps_errors
def mol_next(
    ctx: typer.Context,
    message: Annotated[
        str, typer.Option("--message", "-m", metavar="NOTE", help="A note on the step: what was done.")
    ] = "",
    output: OutputOption = None,
) -> None:
    """Finish the current step (inside a worker) and print the next; refused at the last step.

    Commit the step's work first. At the last step, gt done (or gt done --continue) reports the
    issue done instead.
    """
    _advance(settings(ctx, output), message, complete_last=False)


@mol_app.command("squash", cls=GtCommand)
@maps_errors
def mol_squash(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(
        metavar="RIG/WORKER|ISSUE", help="A worker (its hooked issue), or an issue of any rig, merged or not; "
                                         "default: the worker whose session this is.")] = None,
    output: OutputOption = None,
) -> None:
    """Fold the finished steps recorded in an issue's notes into one digest there."""
    from reconciler.ops.molecule import squash_issue, squash_steps

    s = settings(ctx, output)
    if target is not None and "/" not in target:
        issue, folded = squash_issue(s.town_root(), target)
    else:
        issue, folded = squash_steps(_context(ctx, target))
    if s.json:
        typer.echo(json.dumps({"issue": issue.id, "folded": folded.folded, "digest": folded.digest}))
        return
    s.echo(f"{issue.id}: {folded.folded} finished step{'s' if folded.folded != 1 else ''} folded into the "
           "digest in its notes:")
    s.echo(folded.digest)
