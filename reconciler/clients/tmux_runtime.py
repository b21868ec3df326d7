"""The local runtime: worker sessions on the town's private tmux server.

Starts are batched: every new session of a pass is created and stamped in as few
tmux invocations as tmux's command-length limit allows, one list-panes call
confirms which came up, and only those that did not are tried again alone, to
learn exactly why.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence

from reconciler.clients.programs import resolve
from reconciler.clients.runtime import SessionStart
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.tmux import BATCH_BYTES, Tmux, target
from reconciler.errors import TerminalError
from reconciler.model.observed import EXIT_LINE, ObservedSession
from reconciler.model.roles import TownRole, town_session

WIDTH, HEIGHT = "200", "50"
KEY_GAP = 0.2  # seconds between keys: a TUI redraws between them, and a key sent mid-redraw can be lost

# The one shell gt runs, a constant script: the worker's PATH and command arrive as its
# positional parameters and are never parsed as shell text. It sets PATH (tmux gives a pane
# its server's PATH whatever new-session -e says), runs the command, and prints its exit
# status last: tmux sometimes marks a pane dead without ever learning the status.
LAUNCHER = ('PATH=$1; export PATH; shift; "$@"; status=$?; '
            f'printf "\\n{EXIT_LINE} %d\\n" "$status"; exit "$status"')


# The seed's navigation: prefix g, then a key of this table. Bound on the town's own server each time
# gt starts sessions on it (bind-key replaces a binding), so a server that restarts has them again
# with its first session; n and p cycle through the workers of this server only.
KEY_TABLE = "g"


def worker_cycle(step: int, act: str = "switch-client -c '#{client_name}' -t") -> str:
    """A run-shell script that ``act``s on the worker session ``step`` (1 or -1) after the current
    one, wrapping around. Workers are the sessions with a rig stamp (@gt_rig); the coordinator and
    the views have none. ``##`` reaches the inner tmux as ``#``: expanded per session, not here."""
    pick = "i < NR ? i + 1 : 1" if step > 0 else "i < 2 ? NR : i - 1"  # no ">": print would redirect
    return ("t=$(tmux -S '#{socket_path}' list-sessions -F '##{?@gt_rig,##{session_name},}' | grep . | "
            f"awk -v c='#{{session_name}}' '{{a[NR]=$0; if ($0==c) i=NR}} END {{if (NR) print a[{pick}]}}'); "
            f"[ -n \"$t\" ] && tmux -S '#{{socket_path}}' {act} \"=$t\"")


NAVIGATION: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("c", ("switch-client", "-t", f"={town_session(TownRole.coordinator)}"), "the coordinator"),
    ("w", ("switch-client", "-t", f"={town_session(TownRole.witness)}"), "the witness view: gt status, live"),
    ("r", ("switch-client", "-t", f"={town_session(TownRole.refinery)}"), "the refinery view: each rig's merge queue"),
    ("n", ("run-shell", worker_cycle(1)), "the next worker"),
    ("p", ("run-shell", worker_cycle(-1)), "the previous worker"),
)


def server_commands() -> list[list[str]]:
    """What every start sets on the town's server first: dead panes kept, the navigation keys bound."""
    return [["start-server"], ["set-option", "-g", "remain-on-exit", "on"],
            ["bind-key", KEY_TABLE, "switch-client", "-T", KEY_TABLE],
            *(["bind-key", "-T", KEY_TABLE, key, *command] for key, command, _ in NAVIGATION)]


def launch_argv(argv: Sequence[str], path: str) -> list[str]:
    """The argv tmux starts (more than one argument: tmux execs it, no ``sh -c`` of its own)."""
    return [resolve("sh", path) or "/bin/sh", "-c", LAUNCHER, "gt-worker", path, *argv]


def create_commands(start: SessionStart) -> list[list[str]]:
    """new-session with cwd, env and command given at creation, then its stamps."""
    # -s and -c are tmux formats: double '#' so nothing in them is ever expanded or run.
    new = ["new-session", "-d", "-s", start.name.replace("#", "##"), "-x", WIDTH, "-y", HEIGHT,
           "-c", start.cwd.replace("#", "##")]
    for key, value in sorted(start.env.items()):
        new += ["-e", f"{key}={value}"]
    new += ["--", *launch_argv(start.argv, start.env.get("PATH", os.defpath))]
    return [new, *stamp_commands(start.name, start.stamps)]


def stamp_commands(name: str, stamps: Mapping[str, str]) -> list[list[str]]:
    return [["set-option", "-t", target(name), f"@gt_{k}", v] for k, v in stamps.items()]


def kill_command(name: str) -> list[str]:
    return ["kill-session", "-t", f"={name}"]


class TmuxRuntime:
    """Sessions on ``tmux -L <socket>``; the server is the town's own."""

    def __init__(self, socket: str) -> None:
        self.tmux = Tmux(socket)

    @property
    def where(self) -> str:
        return f"tmux -L {self.tmux.socket}"

    def sessions(self, *, screens: bool = False) -> tuple[ObservedSession, ...]:
        return observe_sessions(self.tmux, screens=screens)

    def _generations(self) -> dict[str, str]:
        """Each session's generation stamp: one list-panes call, no process scan."""
        rows = self.tmux.list_panes(["#{session_name}", "#{@gt_generation}"])
        return {row[0]: row[1] for row in rows if len(row) == 2}

    def refuse(self, start: SessionStart) -> str | None:
        size = sum(len(arg.encode()) + 1 for command in create_commands(start) for arg in command)
        if size > BATCH_BYTES:
            return (f"its command, environment and start prompt come to {size:,} bytes; tmux takes at most "
                    f"{BATCH_BYTES:,} for one session: shorten the agent's env, args or prompt")
        return None

    def start(self, starts: Sequence[SessionStart]) -> dict[str, str]:
        if not starts:
            return {}
        existing = self._generations()
        groups: list[list[list[str]]] = [server_commands()]
        for start in starts:
            groups.append(([kill_command(start.name)] if start.name in existing else [])
                          + create_commands(start))
        batch = "; ".join(r.error() for r in self.tmux.run_groups(groups) if not r.ok)
        after = self._generations()
        failed: dict[str, str] = {}
        for start in starts:
            if after.get(start.name) != start.generation:
                why = self._start_alone(start, batch)
                if why:
                    failed[start.name] = why
        return failed

    def _start_alone(self, start: SessionStart, batch_error: str) -> str:
        """The batch did not bring this one up: try it alone to learn exactly why ('' once up)."""
        present = start.name in self._generations()
        result = self.tmux.run(*([kill_command(start.name)] if present else []), *create_commands(start))
        if self._generations().get(start.name) == start.generation:
            return ""
        return result.error() if not result.ok else batch_error or "session did not start"

    def stop(self, name: str) -> None:
        result = self.tmux.run(kill_command(name))
        if result.returncode != 0 and "can't find session" not in result.error() and not result.no_server:
            raise TerminalError(f"kill-session {name}: {result.error()}")

    def stamp(self, name: str, stamps: Mapping[str, str]) -> None:
        result = self.tmux.run(*stamp_commands(name, stamps))
        if result.returncode != 0:
            raise TerminalError(f"set-option {name}: {result.error()}")

    def send_keys(self, name: str, keys: Sequence[str]) -> None:
        for index, key in enumerate(keys):
            if index:
                time.sleep(KEY_GAP)
            sent = self.tmux.run(["send-keys", "-t", target(name), key])
            if sent.returncode != 0:
                raise TerminalError(f"send-keys {key} {name}: {sent.error()}")

    def type_text(self, name: str, text: str) -> None:
        typed = self.tmux.run(["send-keys", "-t", target(name), "-l", "--", text])
        if typed.returncode != 0:
            raise TerminalError(f"send-keys {name}: {typed.error()}")

    def capture(self, name: str) -> str:
        result = self.tmux.run(["capture-pane", "-p", "-t", target(name)])
        if result.returncode != 0:
            raise TerminalError(f"capture-pane {name}: {result.error()}")
        return "\n".join(result.stdout)

    def terminate(self, grace: float) -> int:
        live = self.sessions()
        for session in live:
            if not session.dead and session.pane_pid > 0:
                try:  # the pane's whole process group: its launcher and the agent under it
                    os.killpg(session.pane_pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(not s.dead for s in self.sessions()):
            time.sleep(0.1)
        self.tmux.kill_server()  # the server is the town's own: nothing else lives on it
        return len(live)
