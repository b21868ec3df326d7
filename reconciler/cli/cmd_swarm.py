"""gt swarm deploy|file: a convoy worked Plan -> Execute -> Review, and its planner's subtasks."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings
from reconciler.cli.editing import ApplyOption, CommitOption, DryRunOption, finish

swarm_app = typer.Typer(no_args_is_help=True,
                        help="Swarms: deploy a convoy as one (a manifest edit); file a planner's subtasks.")
app.add_typer(swarm_app, name="swarm")


def _model_option(phase: str, what: str) -> object:
    return typer.Option(f"--{phase}", metavar="MODEL",
                        help=f"The model that {what}; a model of the rig's Routing. Default: as the convoy "
                             "has it, else the schema's default.")


@swarm_app.command("deploy", cls=GtCommand)
@maps_errors
def swarm_deploy(
    ctx: typer.Context,
    convoy: Annotated[str, typer.Argument(metavar="CONVOY", help="The convoy's name.")],
    planner: Annotated[str | None, _model_option("planner", "plans each listed issue")] = None,
    executor: Annotated[str | None, _model_option("executor", "works each subtask")] = None,
    reviewer: Annotated[str | None, _model_option("reviewer", "reviews the merged result")] = None,
    dry_run: DryRunOption = False,
    commit: CommitOption = False,
    apply: ApplyOption = False,
    output: OutputOption = None,
) -> None:
    """Work a convoy as a swarm: its spec.swarm, a reviewed manifest edit.

    Each listed issue is planned on the planner model; the subtasks its planner files run at
    once on the executor model; a review on the reviewer model runs once they are all merged.
    Shows the change as a diff; --commit commits it, --apply also carries it out.
    """
    from reconciler.ops.swarm import deploy

    s = settings(ctx, output)
    edit = deploy(s.town_root(), convoy, {"planner": planner, "executor": executor, "reviewer": reviewer})
    finish(s, edit, dry_run=dry_run, commit=commit, apply=apply,
           unchanged=f"convoy {convoy} is already a swarm with those models: nothing to change")


@swarm_app.command("file", cls=GtCommand)
@maps_errors
def swarm_file(
    ctx: typer.Context,
    titles: Annotated[list[str], typer.Argument(metavar="TITLE...", help="One subtask per title.")],
    description: Annotated[
        str, typer.Option("--description", "-d", metavar="DETAILS", help="What each subtask filed now is about.")
    ] = "",
    output: OutputOption = None,
) -> None:
    """File subtasks of the swarm issue on your hook (inside its planner).

    Each becomes a child of the planning issue in Beads and starts on the executor model once
    the plan is merged; the review issue, blocked by every subtask, is filed with the first.
    """
    from reconciler.ops.swarm import file_subtasks
    from reconciler.ops.worker import context

    s = settings(ctx, output)
    filed = file_subtasks(context(None, None), titles, description)
    if s.json:
        typer.echo(json.dumps({
            "planning": filed.planning.id, "filed": [{"id": i.id, "title": i.title} for i in filed.tasks],
            "review": {"id": filed.review.id, "blockedBy": list(filed.review.blocked_by)}}, indent=2))
        return
    for issue in filed.tasks:
        s.echo(f"filed {issue.id} {issue.title}")
    s.echo(f"review {filed.review.id} waits for {', '.join(filed.review.blocked_by)}; the subtasks start "
           f"once {filed.planning.id} is merged (commit your plan, then gt done)")
