"""tmux effects on worker sessions: the commands that start, stamp, nudge and stop them."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from ..errors import TerminalError
from ..plan import WorkerSpec
from ..tmux import Tmux, target

WIDTH, HEIGHT = "200", "50"


def launch_argv(command: tuple[str, ...]) -> list[str]:
    """tmux hands a lone argument to ``sh -c``; two or more it execs directly. Never a shell."""
    if len(command) > 1:
        return list(command)
    if "=" in command[0]:
        raise TerminalError(f"command {command[0]!r}: a lone program name may not contain '='")
    return ["env", "--", command[0]]


def worker_path() -> str:
    """PATH for workers: gt's own bin directory first, so `gt` and shipped agents are found
    even when gt runs from a virtualenv that is not activated."""
    here = os.path.dirname(sys.executable)
    rest = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p and p != here]
    return os.pathsep.join([here, *rest])


def start_commands(spec: WorkerSpec, generation: str) -> list[list[str]]:
    """new-session with cwd, env and command given at creation, then its stamps."""
    env = {"PATH": worker_path()} | dict(spec.env) | {
        "GT_GENERATION": generation, "GT_FINGERPRINT": spec.fingerprint}
    # -s and -c are tmux formats: double '#' so nothing in them is ever expanded or run.
    new = ["new-session", "-d", "-s", spec.session.replace("#", "##"), "-x", WIDTH, "-y", HEIGHT,
           "-c", spec.worktree.replace("#", "##")]
    for key, value in sorted(env.items()):
        new += ["-e", f"{key}={value}"]
    new += ["--", *launch_argv(spec.command)]
    return [new, *stamp_commands(spec.session, {
        "rig": spec.rig, "worker": spec.worker, "issue": spec.issue, "generation": generation,
        "fingerprint": spec.fingerprint, "nudges": "0", "last_nudge": "0",
    })]


def stamp_commands(session: str, stamps: dict[str, str]) -> list[list[str]]:
    return [["set-option", "-t", target(session), f"@gt_{k}", v] for k, v in stamps.items()]


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
