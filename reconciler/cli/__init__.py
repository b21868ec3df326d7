"""The ``gt`` command line: parses, calls, renders, maps errors to exit codes.

Heavy modules (jsonschema, git, libtmux) are imported inside commands so that
``gt --help`` stays fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .. import __version__
from ..errors import ManifestError, ManifestProblem, ReconcilerError
from .settings import ColorMode, OutputMode, Settings

app = typer.Typer(
    name="gt",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs ~100 ms per call
    help="Declarative Gas Town: commit the town you want; gt makes it so.",
)

F = TypeVar("F", bound=Callable[..., Any])


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


def maps_errors(fn: F) -> F:
    """The one place gt errors become messages on stderr and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReconcilerError as exc:
            ctx = next((a for a in (*args, *kwargs.values()) if isinstance(a, typer.Context)), None)
            s = settings(ctx) if ctx else Settings()
            if isinstance(exc, ManifestError):
                report_problems(s, exc.problems)
            else:
                s.echo(f"{s.paint('error:', 'bold', 'red', stream=sys.stderr)} {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def report_problems(s: Settings, problems: tuple[ManifestProblem, ...]) -> None:
    """Every manifest problem on stderr as path:line:col: pointer: message, then a count."""
    for p in problems:
        where = s.paint(f"{p.path}:{p.line}:{p.col}:", "bold", stream=sys.stderr)
        s.echo(where + (f" {p.pointer}: {p.message}" if p.pointer else f" {p.message}"), err=True)
    n = len(problems)
    s.echo(s.paint(f"{n} error{'s' if n != 1 else ''}", "red", stream=sys.stderr), err=True)


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
            envvar="GT_TOWN",
            help="Town directory (holding manifests/). Default: found by walking up from the cwd.",
            file_okay=False,
        ),
    ] = None,
    output: Annotated[
        OutputMode, typer.Option("--output", "-o", help="human, or json: one JSON document on stdout.")
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
    ctx.obj = Settings(town=town, output=output, color=color)


from . import cmd_controller, cmd_init, cmd_plan, cmd_status, cmd_validate

__all__ = [
    "app",
    "cmd_controller",
    "cmd_init",
    "cmd_plan",
    "cmd_status",
    "cmd_validate",
    "main",
    "maps_errors",
    "settings",
]


def main() -> None:
    app(prog_name="gt")
