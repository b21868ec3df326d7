"""tmux effects on worker sessions: the commands that start, stamp, nudge and stop them."""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.clients.programs import resolve, worker_path
from reconciler.clients.tmux import Tmux, target
from reconciler.errors import TerminalError
from reconciler.model.actions import WorkerSpec
from reconciler.model.observed import EXIT_LINE

WIDTH, HEIGHT = "200", "50"


# The one shell gt runs, a constant script: the worker's PATH and command arrive as its
# positional parameters and are never parsed as shell text. It sets PATH (tmux gives a pane
# its server's PATH whatever new-session -e says), runs the command, and prints its exit
# status last: tmux sometimes marks a pane dead without ever learning the status.
LAUNCHER = ('PATH=$1; export PATH; shift; "$@"; status=$?; '
            f'printf "\\n{EXIT_LINE} %d\\n" "$status"; exit "$status"')


def launch_argv(command: tuple[str, ...], path: str) -> list[str]:
    """The argv tmux starts (more than one argument: tmux execs it, no ``sh -c`` of its own)."""
    return [resolve("sh", path) or "/bin/sh", "-c", LAUNCHER, "gt-worker", path, *command]


def start_commands(spec: WorkerSpec, generation: str) -> list[list[str]]:
    """new-session with cwd, env and command given at creation, then its stamps."""
    env = dict(spec.env)
    path = worker_path(env.get("PATH"))
    env |= {"PATH": path, "GT_GENERATION": generation, "GT_FINGERPRINT": spec.fingerprint}
    # -s and -c are tmux formats: double '#' so nothing in them is ever expanded or run.
    new = ["new-session", "-d", "-s", spec.session.replace("#", "##"), "-x", WIDTH, "-y", HEIGHT,
           "-c", spec.worktree.replace("#", "##")]
    for key, value in sorted(env.items()):
        new += ["-e", f"{key}={value}"]
    new += ["--", *launch_argv(spec.command, path)]
    return [new, *stamp_commands(spec.session, {
        "rig": spec.rig, "worker": spec.worker, "issue": spec.issue, "generation": generation,
        "fingerprint": spec.fingerprint, "nudges": "0", "last_nudge": "0", "prompted": "",
        "answers": "0", "agent": spec.agent,
    })]


def stamp_commands(session: str, stamps: dict[str, str]) -> list[list[str]]:
    return [["set-option", "-t", target(session), f"@gt_{k}", v] for k, v in stamps.items()]


def send_keys(tmux: Tmux, session: str, keys: tuple[str, ...]) -> None:
    """Send tmux key names (Enter, Down, ...), one call each."""
    for key in keys:
        sent = tmux.run(["send-keys", "-t", target(session), key])
        if sent.returncode != 0:
            raise TerminalError(f"send-keys {key} {session}: {sent.error()}")
        time.sleep(0.2)  # a TUI redraws between keys; a key sent mid-redraw can be lost


def kill_command(session: str) -> list[str]:
    return ["kill-session", "-t", f"={session}"]


def capture(tmux: Tmux, session: str) -> str:
    result = tmux.run(["capture-pane", "-p", "-t", target(session)])
    if result.returncode != 0:
        raise TerminalError(f"capture-pane {session}: {result.error()}")
    return "\n".join(result.stdout)


def nudge(tmux: Tmux, session: str, text: str, *, sleep: Callable[[float], None] = time.sleep,
          wait: float = 2.0) -> bool:
    """Type ``text`` literally, then Enter; True when the pane changed after Enter (delivered)."""
    clean = "".join(ch for ch in text if ch.isprintable())  # no control keys from a manifest
    typed = tmux.run(["send-keys", "-t", target(session), "-l", "--", clean])
    if typed.returncode != 0:
        raise TerminalError(f"send-keys {session}: {typed.error()}")
    for _attempt in range(2):
        before = capture(tmux, session)
        pressed = tmux.run(["send-keys", "-t", target(session), "Enter"])
        if pressed.returncode != 0:
            raise TerminalError(f"send-keys Enter {session}: {pressed.error()}")
        deadline = wait
        while deadline > 0:
            if capture(tmux, session) != before:
                return True
            sleep(0.05)
            deadline -= 0.05
    return False
