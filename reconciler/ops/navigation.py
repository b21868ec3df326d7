"""Reaching a session of the town by name: ``gt attach``, and the seed's ``gt coordinator attach``.

A name is a town session's role (``coordinator``, ``witness``, ``refinery``) or a worker's
RIG/WORKER. From outside tmux the terminal attaches to the town's server; from a pane of that
server itself (the coordinator's, say) the client switches instead, since attaching would nest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.errors import UsageError
from reconciler.model.observed import session_name
from reconciler.model.roles import TownRole, town_session
from reconciler.ops.worker import parse_target

NAMES = ", ".join(r.value for r in TownRole)


def session_of(target: str) -> str:
    """The session a name reaches: ``coordinator`` -> gt-coordinator, ``demo/nux`` -> gt-demo-nux."""
    if target in TownRole.__members__:
        return town_session(TownRole(target))
    if "/" not in target:
        raise UsageError(f"{target!r}: expected {NAMES} or RIG/WORKER, e.g. demo/nux")
    return session_name(*parse_target(target))


def on_server(socket: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether this runs in a pane of the town's own tmux server ($TMUX names its socket)."""
    env = os.environ if env is None else env
    path = env.get("TMUX", "").split(",", 1)[0]
    return bool(path) and os.path.basename(path) == socket


def attach_argv(tmux: str, socket: str, session: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The tmux command that puts this terminal on ``session``."""
    verb = "switch-client" if on_server(socket, env) else "attach-session"
    return [tmux, "-L", socket, verb, "-t", f"={session}"]


def check_running(socket: str, session: str, target: str) -> None:
    """Refuse, saying why, when the town's server has no such session."""
    from reconciler.clients.tmux import Tmux

    if Tmux(socket).run(["has-session", "-t", f"={session}"]).returncode == 0:
        return
    hint = {"coordinator": "declare spec.coordinator in the Town manifest, commit, and run gt start",
            "witness": "spec.views keeps it (true by default); run gt start",
            "refinery": "spec.views keeps it (true by default); run gt start"}.get(
        target, "gt status lists the workers, gt worker list their sessions")
    raise UsageError(f"no session {session} on tmux -L {socket}: {hint}")
