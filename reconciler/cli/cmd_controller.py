"""gt start, gt controller run, gt shutdown, gt wake, gt nudge, gt rig reset."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import GtCommand, app, maps_errors, settings
from reconciler.cli.render import plural
from reconciler.errors import ReconcilerError, UsageError

controller_app = typer.Typer(no_args_is_help=True, help="Run the controller in the foreground.")
rig_app = typer.Typer(no_args_is_help=True, help="Rigs: park, unpark, dock, undock; status, list; reset.")
app.add_typer(controller_app, name="controller")
app.add_typer(rig_app, name="rig")

START_TIMEOUT = 20.0


class ControllerFailed(ReconcilerError):
    pass


@controller_app.command("run", cls=GtCommand)
@maps_errors
def controller_run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit.")] = False,
) -> None:
    """Run the controller in the foreground.

    For systemd or a container; Ctrl-C stops it.
    """
    from reconciler.loop.controller import Controller

    Controller(settings(ctx).town_root()).run(max_passes=1 if once else None)


def _answered(root: Path, pid: int) -> bool:
    from reconciler.clients.status_file import read_status

    status = read_status(root) or {}
    return status.get("controller", {}).get("pid") == pid and bool(status.get("lastPass"))


def start_controller(root: Path) -> tuple[int, bool]:
    """Start the steward in the background; (pid, started) once it has answered with a pass."""
    from reconciler.clients.lock import holder_alive

    running = holder_alive(root)
    if running:
        return running, False
    from reconciler.clients.files import refuse_links
    from reconciler.model.paths import TownPaths

    log = Path(TownPaths(str(root)).controller_output)
    refuse_links(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "reconciler.cli", "--town", str(root), "controller", "run"]
    # posix_spawn in a new session: the steward outlives this command and its terminal.
    pid = os.posix_spawn(sys.executable, argv, dict(os.environ), setsid=True, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ])
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _answered(root, pid):
            return pid, True
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise ControllerFailed(f"controller exited with {os.waitstatus_to_exitcode(code)}: {' | '.join(tail)}")
        time.sleep(0.05)
    raise ControllerFailed(f"controller (pid {pid}) did not answer within {START_TIMEOUT:.0f}s; see {log}")


@app.command(cls=GtCommand)
@maps_errors
def start(ctx: typer.Context) -> None:
    """Start the controller in the background.

    Returns once it has made its first pass.
    """
    s = settings(ctx)
    root = s.town_root()
    pid, started = start_controller(root)
    state = "started" if started else "already running"
    s.echo(f"controller {state} (pid {pid}); gt status shows how the town is doing")


@app.command(cls=GtCommand)
@maps_errors
def wake(ctx: typer.Context) -> None:
    """Ask the controller for a pass now.

    Starts it if it is down.
    """
    from reconciler.clients.lock import holder_alive

    s = settings(ctx)
    root = s.town_root()
    pid = holder_alive(root)
    if pid and pid > 0:
        os.kill(pid, signal.SIGUSR1)
        s.echo(f"pass requested from controller pid {pid}")
        return
    if pid == -1:
        raise ReconcilerError("the town is locked by a writer whose pid .gt/town.lock does not give; "
                              "nothing started (a running controller writes it again at its next pass)")
    pid, _ = start_controller(root)
    s.echo(f"controller was down; started (pid {pid})")


@app.command(cls=GtCommand)
@maps_errors
def shutdown(
    ctx: typer.Context,
    grace: Annotated[
        float, typer.Option("--grace", metavar="SECONDS", help="Seconds each agent gets to exit after SIGTERM.")
    ] = 5.0,
) -> None:
    """Stop the controller and every session; hooks stay.

    Worktrees stay too, so gt start resumes the same work.
    """
    s = settings(ctx)
    pid, stopped = stop_town(s.town_root(), grace)
    s.echo(f"controller {'stopped (pid ' + str(pid) + ')' if pid else 'was not running'}; "
           f"{plural(stopped, 'session')} stopped; hooks and worktrees kept")


def stop_town(root: Path, grace: float) -> tuple[int | None, int]:
    """Stop the controller (SIGTERM; back once it let go of the town lock), then every session
    and the town's tmux server; (the controller's pid or None, how many sessions were stopped)."""
    from reconciler.clients.lock import TownLock, holder_alive
    from reconciler.clients.tmux_runtime import TmuxRuntime
    from reconciler.loop.town import town_socket

    pid = holder_alive(root)
    if pid and pid > 0:
        os.kill(pid, signal.SIGTERM)
    with TownLock(root, "shutdown").acquire(wait=30.0):
        stopped = TmuxRuntime(town_socket(root)).terminate(grace)
    return pid, stopped


@app.command(cls=GtCommand)
@maps_errors
def nudge(
    ctx: typer.Context,
    worker: Annotated[str, typer.Argument(metavar="RIG/WORKER")],
    message: Annotated[
        str | None, typer.Argument(metavar="MESSAGE", help="Text to type; default: the agent's nudge.")
    ] = None,
) -> None:
    """Type a message into a worker's pane now.

    Then an Enter that is checked; the default message is the agent's nudge.
    """
    from reconciler.act.sessions import nudge as send_nudge
    from reconciler.loop.town import Town
    from reconciler.model.desired import DEFAULT_NUDGE

    s = settings(ctx)
    town = Town.load_applied(s.town_root())
    rig, _, name = worker.partition("/")
    session = next((x for x in town.runtime.sessions()
                    if x.stamps.rig == rig and x.stamps.worker == name), None)
    if session is None or session.dead:
        raise UsageError(f"no live session for worker {worker!r}")
    if message is None:
        spec = next((r for r in town.desired.rigs if r.name == rig), None)
        routing = town.desired.routing_for(spec) if spec else None
        agent = next((a for a in routing.agents if a.name == session.stamps.agent), None) if routing else None
        message = agent.nudge if agent else DEFAULT_NUDGE
    delivered = send_nudge(town.runtime, session.name, message)
    s.echo(f"nudged {worker}: {'delivered' if delivered else 'typed, Enter not confirmed'}")
    if not delivered:
        raise typer.Exit(1)


@rig_app.command("reset", cls=GtCommand)
@maps_errors
def rig_reset(ctx: typer.Context, rig: Annotated[str, typer.Argument(metavar="RIG", help="The rig.")]) -> None:
    """Forget a rig's crash and failure history.

    Quarantined workers start again and failed actions are retried at once.
    """
    from reconciler.clients import history
    from reconciler.clients.lock import holder_alive
    from reconciler.loop.revision import load_applied

    s = settings(ctx)
    root = s.town_root()
    declared = [r.name for r in load_applied(root)[1].rigs]
    if rig not in declared:
        raise UsageError(f"rig {rig!r} is not declared (declared rigs: {', '.join(declared) or 'none'})")
    forgotten = history.reset(root, rig)
    pid = holder_alive(root)
    if pid and pid > 0:
        os.kill(pid, signal.SIGUSR1)
    requested = f"; pass requested from pid {pid}" if pid and pid > 0 else ""
    s.echo(f"rig {rig}: {plural(forgotten, 'crash and failure record')} cleared" + requested)
