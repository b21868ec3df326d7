"""gt rig park|unpark|dock|undock (manifest edits of a rig's spec.state), gt rig status, gt rig list."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from reconciler.cli import GtCommand, OutputOption, maps_errors, settings
from reconciler.cli.cmd_controller import rig_app
from reconciler.cli.editing import ApplyOption, CommitOption, DryRunOption, finish
from reconciler.cli.settings import Settings
from reconciler.errors import UsageError

RigArgument = Annotated[str, typer.Argument(metavar="RIG", help="The rig.")]


def _state_verb(ctx: typer.Context, rig: str, verb: str, dry_run: bool, commit: bool, apply: bool,
                output: Any) -> None:
    from reconciler.ops.edits import TARGET, RigVerb, set_rig_state

    s = settings(ctx, output)
    edit = set_rig_state(s.town_root(), rig, RigVerb(verb))
    finish(s, edit, dry_run=dry_run, commit=commit, apply=apply,
           unchanged=f"rig {rig} is already {TARGET[RigVerb(verb)].value}: nothing to change")


@rig_app.command("park", cls=GtCommand)
@maps_errors
def rig_park(ctx: typer.Context, rig: RigArgument, dry_run: DryRunOption = False, commit: CommitOption = False,
             apply: ApplyOption = False, output: OutputOption = None) -> None:
    """Park a rig: start nothing new, stop nothing, nudge no one.

    Sets spec.state: parked in the rig's manifest.
    """
    _state_verb(ctx, rig, "park", dry_run, commit, apply, output)


@rig_app.command("unpark", cls=GtCommand)
@maps_errors
def rig_unpark(ctx: typer.Context, rig: RigArgument, dry_run: DryRunOption = False, commit: CommitOption = False,
               apply: ApplyOption = False, output: OutputOption = None) -> None:
    """Make a parked rig active again.

    A docked rig is refused: gt rig undock is what makes it active.
    """
    _state_verb(ctx, rig, "unpark", dry_run, commit, apply, output)


@rig_app.command("dock", cls=GtCommand)
@maps_errors
def rig_dock(ctx: typer.Context, rig: RigArgument, dry_run: DryRunOption = False, commit: CommitOption = False,
             apply: ApplyOption = False, output: OutputOption = None) -> None:
    """Dock a rig: stop its sessions; hooks stay.

    Sets spec.state: docked; undocking resumes the same work.
    """
    _state_verb(ctx, rig, "dock", dry_run, commit, apply, output)


@rig_app.command("undock", cls=GtCommand)
@maps_errors
def rig_undock(ctx: typer.Context, rig: RigArgument, dry_run: DryRunOption = False, commit: CommitOption = False,
               apply: ApplyOption = False, output: OutputOption = None) -> None:
    """Make a docked rig active again; its workers resume their hooks.

    A parked rig is refused: gt rig unpark is what makes it active.
    """
    _state_verb(ctx, rig, "undock", dry_run, commit, apply, output)


def _town_view(s: Settings) -> tuple[dict[str, Any], Any]:
    """The status (the controller's when it runs, else observed now; never the lock) and the
    manifests that are live: committed at HEAD, as gt status reads them."""
    from reconciler.loop.current import current_status
    from reconciler.loop.revision import load_at

    root = s.town_root()
    _, desired = load_at(root)
    status, _ = current_status(root)
    return status, desired


def _rig_doc(status: dict[str, Any], desired: Any, rig: Any) -> dict[str, Any]:
    entry = next((r for r in status.get("rigs", []) if r.get("name") == rig.name), None) or {
        "name": rig.name, "state": rig.state, "health": "Unknown", "reason": "not in the status yet", "workers": []}
    workers = entry.get("workers", [])
    convoys = [c for c in status.get("convoys", []) if c.get("rig") == rig.name]
    return entry | {
        "state": rig.state,
        "running": sum(1 for w in workers if w.get("session")),
        "max": rig.workers_max,
        "hooks": [{"issue": w["issue"], "worker": w["name"]} for w in workers if w.get("issue")],
        "convoys": convoys or [{"name": c.name} for c in desired.convoys_of(rig.name)],
    }


@rig_app.command("status", cls=GtCommand)
@maps_errors
def rig_status(ctx: typer.Context, rig: RigArgument, output: OutputOption = None) -> None:
    """A rig's state and health, its workers (session, health) and their hooks, its convoys."""
    from reconciler.cli.cmd_status import HEALTH_STYLE, worker_lines

    s = settings(ctx, output)
    status, desired = _town_view(s)
    spec = next((r for r in desired.rigs if r.name == rig), None)
    if spec is None:
        declared = ", ".join(r.name for r in desired.rigs) or "none"
        raise UsageError(f"rig '{rig}' is not declared (declared rigs: {declared})")
    doc = _rig_doc(status, desired, spec)
    if s.json:
        typer.echo(json.dumps(doc, indent=2))
        return
    reason = f" ({doc['reason']})" if doc.get("reason") else ""
    s.echo(f"rig {rig} ({doc['state']}): " + s.paint(doc["health"], HEALTH_STYLE.get(doc["health"], "bold")) + reason)
    if status.get("notice"):
        s.echo(s.paint(f"  {status['notice']}", "dim"))
    s.echo(f"  workers: {doc['running']} running of {doc['max']} at most")
    for w in doc["workers"]:
        first, *more = worker_lines(w, s)
        s.echo(f"{first}  session {w.get('session') or '-'}")
        for line in more:
            s.echo(line)
    if not doc["hooks"]:
        s.echo("  hooks: none")
    for c in doc["convoys"]:
        figures = f": {c['done']}/{c['total']} merged, {c['working']} working, {c['waiting']} waiting" \
            if "total" in c else ""
        s.echo(f"  convoy {c['name']}{figures}" + (" (landed)" if c.get("landed") else ""))


@rig_app.command("list", cls=GtCommand)
@maps_errors
def rig_list(ctx: typer.Context, output: OutputOption = None) -> None:
    """Every rig: its state, health, workers running of its most, its convoys."""
    s = settings(ctx, output)
    status, desired = _town_view(s)
    docs = [_rig_doc(status, desired, r) for r in desired.rigs]
    if s.json:
        typer.echo(json.dumps([{k: d[k] for k in ("name", "state", "health", "running", "max")}
                               | {"convoys": [c["name"] for c in d["convoys"]]} for d in docs], indent=2))
        return
    if not docs:
        s.echo("no rigs: add a Rig manifest under manifests/ (gt init writes one)")
        return
    width = max(len(d["name"]) for d in docs)
    for d in docs:
        convoys = ", ".join(c["name"] for c in d["convoys"]) or "no convoys"
        s.echo(f"{d['name']:{width}}  {d['state']:7} {d['health']:9} workers {d['running']}/{d['max']}  {convoys}")
