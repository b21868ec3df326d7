"""The ``gt`` command line: parses, calls, renders, maps errors to exit codes.

Heavy modules (jsonschema, git, libtmux) are imported inside commands so that
``gt --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from reconciler import __version__
from reconciler.cli.settings import ColorMode, OutputMode, Settings
from reconciler.errors import ManifestError, ManifestProblem, ReconcilerError

UNEXPECTED_EXIT = 3  # 1 means "changes pending" for diff, 2 a known error

# Help lists commands in the order a user meets them, under these headings.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Get started", ("demo", "init", "import", "validate")),
    ("Plan and apply", ("diff", "apply", "route", "costs")),
    ("Run the controller", ("start", "status", "wake", "shutdown", "controller")),
    ("Edit manifests", ("convoy", "sling", "rig", "swarm")),
    ("Look after workers", ("attach", "coordinator", "worker", "queue", "nudge", "doctor")),
    ("Inside a worker", ("prime", "hook", "done", "mol", "handoff", "mail")),
    ("Reference", ("schema",)),
)


class WorkflowGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        order = [name for _, names in SECTIONS for name in names]
        known = [n for n in order if n in self.commands]
        return known + sorted(n for n in self.commands if n not in order)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        listed: set[str] = set()
        for title, names in (*SECTIONS, ("Other", tuple(self.list_commands(ctx)))):
            rows = []
            for name in names:
                command = self.commands.get(name)
                if command is None or command.hidden or name in listed:
                    continue
                listed.add(name)
                rows.append((name, command.get_short_help_str(limit=64)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class GtCommand(TyperCommand):
    """Usage lines as users read them elsewhere: a required argument is ``NAME``, not ``{NAME}``."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


app = typer.Typer(
    name="gt",
    cls=WorkflowGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs ~100 ms per call
    help="Declarative Gas Town: commit the town you want; gt makes it so.",
)

F = TypeVar("F", bound=Callable[..., Any])

# Every command takes -o/--output after its name too, as kubectl does.
OutputOption = Annotated[
    OutputMode | None,
    typer.Option("--output", "-o", help="human; json: one JSON document on stdout; markdown (gt diff --base).",
                 show_default=False),
]


def settings(ctx: typer.Context, output: OutputMode | None = None) -> Settings:
    obj = ctx.find_root().obj
    s = obj if isinstance(obj, Settings) else Settings()
    return dataclasses.replace(s, output=output) if output is not None else s


def maps_errors(fn: F) -> F:
    """The one place errors become messages on stderr and exit codes.

    gt's own errors exit with their code (2); anything unexpected is one line on
    stderr, its traceback in the town's journal, and exit 3.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = next((a for a in (*args, *kwargs.values()) if isinstance(a, typer.Context)), None)
        s = settings(ctx) if ctx else Settings()
        try:
            return fn(*args, **kwargs)
        except ReconcilerError as exc:
            if isinstance(exc, ManifestError):
                report_problems(s, exc.problems, exc.where)
            else:
                s.echo(f"{s.paint('error:', 'bold', 'red', stream=sys.stderr)} {_one_line(str(exc))}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own: exits, aborts and usage errors
        except Exception as exc:  # noqa: BLE001 - the one place every other error is caught
            where = _journal_unexpected(s, fn.__name__, exc)
            s.echo(f"{s.paint('error:', 'bold', 'red', stream=sys.stderr)} unexpected "
                   f"{type(exc).__name__}: {_one_line(str(exc))} ({where})", err=True)
            raise typer.Exit(UNEXPECTED_EXIT) from None

    return wrapper  # type: ignore[return-value]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _journal_unexpected(s: Settings, command: str, exc: Exception) -> str:
    """Write the traceback to the town's journal; say where it went."""
    import traceback

    try:
        root = s.town_root()
        from reconciler.loop.logs import controller_logger

        controller_logger(root).error("unexpected error", extra={"gt": {
            "action": f"gt {command}", "outcome": "failed", "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc))}})
        return f"traceback in {root / '.gt' / 'controller.log'}"
    except Exception:  # noqa: BLE001 - no town, or no room: the terminal is all that is left
        traceback.print_exception(exc, file=sys.stderr)
        return "traceback above"


def report_problems(s: Settings, problems: tuple[ManifestProblem, ...], committed_at: str = "") -> None:
    """Every manifest problem on stderr as path:line:col: pointer: message, then a count (and the
    commit they were read at)."""
    from reconciler.cli.render import plural

    for p in problems:
        where = s.paint(f"{p.path}:{p.line}:{p.col}:", "bold", stream=sys.stderr)
        s.echo(where + (f" {p.pointer}: {p.message}" if p.pointer else f" {p.message}"), err=True)
    count = plural(len(problems), "error") + (f" in the manifests committed at {committed_at}" if committed_at else "")
    s.echo(s.paint(count, "red", stream=sys.stderr), err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gt {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    town: Annotated[
        Path | None,
        typer.Option(
            "--town",
            metavar="DIR",
            help="Town directory (holding manifests/); also GT_TOWN. Default: found by walking up from the cwd.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        OutputMode,
        typer.Option("--output", "-o", help="human; json: one JSON document on stdout; markdown (gt diff --base)."),
    ] = OutputMode.human,
    color: Annotated[
        ColorMode, typer.Option("--color", help="Colour: auto (terminal, no NO_COLOR), always, never.")
    ] = ColorMode.auto,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Declarative Gas Town: commit the town you want; gt makes it so."""
    import os

    from_env = town is None and bool(os.environ.get("GT_TOWN"))
    if from_env:
        town = Path(os.environ["GT_TOWN"])
    ctx.obj = Settings(town=town, output=output, color=color, town_from_option=not from_env)


from reconciler.cli import (
    cmd_controller,
    cmd_convoy,
    cmd_costs,
    cmd_demo,
    cmd_init,
    cmd_mail,
    cmd_plan,
    cmd_rig,
    cmd_route,
    cmd_status,
    cmd_swarm,
    cmd_town,
    cmd_validate,
    cmd_worker,
)

__all__ = [
    "OutputOption",
    "app",
    "cmd_controller",
    "cmd_convoy",
    "cmd_costs",
    "cmd_demo",
    "cmd_init",
    "cmd_mail",
    "cmd_plan",
    "cmd_rig",
    "cmd_route",
    "cmd_status",
    "cmd_swarm",
    "cmd_town",
    "cmd_validate",
    "cmd_worker",
    "main",
    "maps_errors",
    "settings",
]


def main() -> None:
    app(prog_name="gt")
