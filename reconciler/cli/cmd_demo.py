"""gt demo: build a demo town, run it until its convoy lands while showing it live, tell what
happened, and leave nothing running."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli import GtCommand, app, maps_errors, settings
from reconciler.cli.render import plural
from reconciler.cli.settings import Settings, fit
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.ops.demo import DemoWatch, Event, Snapshot

# Health that waiting will not cure. (Error is not: a merge that failed goes back to its worker, and
# the witness's HELP mail says when a worker is past helping itself.)
GIVE_UP = frozenset({"Quarantined"})
TICK = 0.3  # seconds between looks
SHOWN_EVENTS = 14  # the newest events under the board on a terminal
STOP_GRACE = 1.0  # seconds each agent gets to exit after SIGTERM


def hopeless(doc: dict[str, Any]) -> list[str]:
    """Why the controller's status says the demo cannot finish by itself, if it does."""
    return [f"{w['name']} is {w['health']}: {w.get('reason', '')}" for r in doc.get("rigs", [])
            for w in r.get("workers", []) if w["health"] in GIVE_UP] + \
        [f"rig {r['name']}: {r.get('error')}" for r in doc.get("rigs", []) if r.get("error")]


@app.command(cls=GtCommand)
@maps_errors
def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="A new (or empty) directory for the demo town.")
    ] = Path("demo-town"),
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", help="Give up after this long.")] = 300.0,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the controller and the sessions running at the end.")
    ] = False,
) -> None:
    """Build a demo town and run it until its convoy lands, live.

    No Claude, no network and no bd needed. Workers appear, work, wait in the merge queue and
    merge; two edit the same line, so one merge conflicts and goes back to its worker, who merges
    main, resolves it and lands it. Then the rig's log and the mail exchanged are shown, and the
    controller and the town's tmux server are stopped (on Ctrl-C or failure too) unless --keep.
    """
    from reconciler.cli.cmd_controller import start_controller
    from reconciler.loop.revision import load_applied
    from reconciler.ops.demo import DemoWatch
    from reconciler.ops.scaffold import init_town

    s = settings(ctx)
    root = directory.resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{root} is not empty: gt demo builds its town in a new directory "
                         "(name another DIR, or remove this one)")
    init_town(root, demo=True)
    s.echo(f"created a demo town in {root}: manifests/ committed to git, and rig demo in rigs/demo with "
           "4 issues; dm-greet and dm-parser both replace the same line of README.md")
    watch = DemoWatch(load_applied(root)[1])
    began = time.monotonic()
    pid: int | None = None
    why = "interrupted"
    try:
        with _interruptible():
            pid, _ = start_controller(root)
            s.echo(f"controller started (pid {pid}): it spawns workers, merges their work and starts "
                   "what becomes ready" + ("" if sys.stdout.isatty() else "; what happens, as it happens:"))
            why = _follow(s, root, watch, began, timeout)
    except KeyboardInterrupt:
        s.echo(s.paint("interrupted", "yellow"), err=True)
    finally:
        if not keep:
            _stop(s, root, pid)
    _tell(s, watch, time.monotonic() - began)
    _after(s, root, keep, pid)
    if why == "interrupted":
        raise typer.Exit(130)
    if why:
        s.echo(s.paint(f"the demo did not finish: {why}", "red"), err=True)
        s.echo(f"  {root / '.gt' / 'controller.log'} says more", err=True)
        raise typer.Exit(1)
    s.echo(s.paint("the demo converged:", "green") + " every issue was worked, merged onto main and closed"
           + (f"; {plural(len(watch.reworked), 'conflict')} sent back and reworked" if watch.reworked else ""))


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo as Ctrl-C does: through the teardown."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    saved = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _follow(s: Settings, root: Path, watch: DemoWatch, began: float, timeout: float) -> str:
    """Show the town until its convoy lands (''), or why it will not."""
    from reconciler.clients.status_file import read_status
    from reconciler.ops.demo import events

    tty = sys.stdout.isatty()
    shown: list[tuple[float, Event]] = []
    before: Snapshot | None = None
    while True:
        now = watch.snapshot()
        elapsed = time.monotonic() - began
        for event in events(before, now):
            shown.append((elapsed, event))
            if not tty:
                s.echo(f"{elapsed:5.1f}s  " + (s.paint(event.text, event.style) if event.style else event.text))
        before = now
        doc = read_status(root) or {}
        if tty:
            _board(s, root, now, doc, shown, elapsed)
        if now.landed:
            return ""
        stuck = hopeless(doc) + [f"HELP mail from {m.sender}: {m.subject}" for m in now.help_wanted()]
        if stuck:
            return "; ".join(stuck)
        if elapsed > timeout:
            return f"not landed after {timeout:g}s"
        time.sleep(TICK)


def _board(s: Settings, root: Path, now: Snapshot, doc: dict[str, Any], shown: list[tuple[float, Event]],
           elapsed: float) -> None:
    """The terminal view, drawn over the last one: each convoy issue by issue, the workers, the
    newest events."""
    from reconciler.cli.cmd_convoy import headline, issue_rows
    from reconciler.cli.cmd_status import worker_lines

    lines = [s.paint(f"gt demo in {root}: {elapsed:.1f}s", "bold")]
    for convoy in now.convoys:
        lines += [f"convoy {convoy.name}, rig {convoy.rig}: {headline(convoy)}", *issue_rows(s, convoy)]
    workers = [w for r in doc.get("rigs", []) for w in r.get("workers", [])]
    lines += ["workers" + ("" if workers else ": none"), *(line for w in workers for line in worker_lines(w, s))]
    lines += ["", "what happened:"]
    for at, event in shown[-SHOWN_EVENTS:]:
        text = f"{at:5.1f}s  {event.text}"
        lines.append(s.paint(text, event.style) if event.style else text)
    width = shutil.get_terminal_size().columns
    typer.echo("\x1b[?7l\x1b[H", nl=False)  # and no wrapping: a line cut short, never folded
    for line in lines:
        typer.echo("\x1b[2K", nl=False)
        s.echo(fit(line, width))
    typer.echo("\x1b[J\x1b[?7h", nl=False)


def _stop(s: Settings, root: Path, pid: int | None) -> None:
    """Stop the controller and the town's tmux server, and wait until the controller is gone."""
    from reconciler.cli.cmd_controller import stop_town

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave half of it
    try:
        stopped_pid, sessions = stop_town(root, STOP_GRACE)
        if pid is not None:
            _reap(pid)
        s.echo(f"stopped the controller{f' (pid {stopped_pid})' if stopped_pid else ''} and the town's tmux "
               f"server ({plural(sessions, 'session')})")
    finally:
        signal.signal(signal.SIGINT, previous)


def _reap(pid: int) -> None:
    """Wait for the controller this command started to exit (it is our child: collect it)."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _tell(s: Settings, watch: DemoWatch, took: float) -> None:
    """What happened: each rig's branch, the mail exchanged, the conflicts sent back."""
    s.echo("")
    s.echo(s.paint(f"what happened, in {took:.0f}s:", "bold"))
    for rig, log in watch.history().items():
        s.echo(f"commits on rig {rig}'s branch (git log --oneline):")
        for line in log:
            s.echo(f"  {line}")
    mail = watch.snapshot().mail
    s.echo(f"mail exchanged ({plural(len(mail), 'message')}" + ("; type, from, to, subject):" if mail else ")"))
    widths = [max((len(x) for x in column), default=0) for column in
              ([m.kind.value for m in mail], [m.sender for m in mail], [m.to for m in mail])]
    for m in mail:
        s.echo(f"  {m.kind.value:{widths[0]}}  {m.sender:{widths[1]}}  {m.to:{widths[2]}}  {m.subject}")
    for r in watch.reworked:
        text = f"{r.issue} was sent back ({r.why or 'its merge failed'}) to {r.worker}, "
        s.echo(text + "who merged main, resolved it, and landed it" if r.merged else
               s.paint(text + "and it has not landed yet", "yellow"))


def _after(s: Settings, root: Path, keep: bool, pid: int | None) -> None:
    rig = root / "rigs" / "demo"
    s.echo(f"look around: git -C {rig} log --stat main; gt --town {root} mail inbox --all")
    if keep:
        s.echo(f"still running (--keep): the controller (pid {pid}) and the sessions; gt --town {root} status "
               f"shows them, gt --town {root} shutdown stops them")
