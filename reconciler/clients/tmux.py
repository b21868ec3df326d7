"""The one place gt talks to tmux: a town's private server, commands batched.

Every argument is escaped for tmux's own command parser (an argument ending in
';' would otherwise end the command), targets use exact-match syntax ('=name:')
so a missing session is an error rather than a near match, and nothing is ever
handed to a shell.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from reconciler.errors import ObserveError

log = logging.getLogger(__name__)

# tmux refuses a command line over 16 KiB ("command too long"); stay well below it.
BATCH_BYTES = 12 * 1024
NO_SERVER = ("no server running", "error connecting to", "No such file or directory",
             "server exited unexpectedly", "no current target")  # the last: a server with no sessions


def escape(arg: str) -> str:
    """Make tmux's argument parser keep ``arg`` literally."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def target(session: str) -> str:
    """Exact-match target of a session's current window and pane."""
    return f"={session}:"


@dataclass(frozen=True)
class TmuxResult:
    returncode: int
    stdout: tuple[str, ...]
    stderr: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.stderr

    @property
    def no_server(self) -> bool:
        return any(marker in line for line in self.stderr for marker in NO_SERVER)

    def error(self) -> str:
        return "; ".join(self.stderr) or f"tmux exited {self.returncode}"


@cache
def tmux_binary() -> str:
    found = shutil.which("tmux")
    if found is None:
        raise ObserveError("tmux is not installed (not found on PATH); gt runs workers in tmux")
    return found


class Tmux:
    """A town's tmux server on its private socket (``tmux -L <socket>``).

    Each call is one ``tmux`` process run directly: no library sits between gt and
    the one subprocess it needs, so a command that talks to tmux once starts fast.
    """

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.calls = 0  # tmux processes started; benchmarks and tests read it

    def run(self, *commands: Sequence[str]) -> TmuxResult:
        """Run one or more tmux commands in a single tmux invocation."""
        args: list[str] = []
        for command in commands:
            if args:
                args.append(";")
            args.extend(escape(a) for a in command)
        if not args:
            return TmuxResult(0, (), ())
        self.calls += 1
        try:
            proc = subprocess.run([tmux_binary(), "-L", self.socket, *args], capture_output=True,
                                  stdin=subprocess.DEVNULL, check=False)
        except OSError as exc:
            raise ObserveError(f"tmux -L {self.socket}: {exc}") from exc
        stdout = _lines(proc.stdout)
        while stdout and not stdout[-1]:  # a screen's blank bottom rows are not output
            stdout.pop()
        stderr = [line for line in _lines(proc.stderr) if line]
        result = TmuxResult(proc.returncode, tuple(stdout), tuple(stderr))
        log.debug("tmux ran", extra={"gt_commands": len(commands), "gt_returncode": result.returncode})
        return result

    def run_groups(self, groups: Sequence[Sequence[Sequence[str]]]) -> list[TmuxResult]:
        """Run groups of commands in as few tmux invocations as fit; a group is never split."""
        results: list[TmuxResult] = []
        batch: list[Sequence[str]] = []
        size = 0
        for group in groups:
            group_size = sum(len(a) + 1 for command in group for a in command) + 2 * len(group)
            if batch and size + group_size > BATCH_BYTES:
                results.append(self.run(*batch))
                batch, size = [], 0
            batch.extend(group)
            size += group_size
        if batch:
            results.append(self.run(*batch))
        return results

    def list_panes(self, fields: Sequence[str]) -> list[list[str]]:
        """One row per pane of every session, each the values of ``fields`` (tmux formats)."""
        result = self.run(["list-panes", "-a", "-F", "\t".join(fields)])
        if result.no_server:
            return []
        if result.returncode != 0:
            raise ObserveError(f"tmux -L {self.socket} list-panes: {result.error()}")
        return [line.split("\t") for line in result.stdout]

    def kill_server(self) -> None:
        self.run(["kill-server"])
        # Some tmux versions leave the socket file behind; a dead town leaves nothing.
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        path = os.path.join(base, f"tmux-{os.getuid()}", self.socket)
        if os.path.exists(path) and self.run(["list-sessions"]).no_server:
            try:
                os.unlink(path)
            except OSError:
                pass


def _lines(output: bytes) -> list[str]:
    """Output lines, decoded leniently: a pane may show any bytes at all."""
    return output.decode("utf-8", errors="backslashreplace").split("\n")
