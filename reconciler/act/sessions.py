"""What a worker session is made of, and how text is delivered to one, on any runtime."""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.clients.programs import worker_path
from reconciler.clients.runtime import Runtime, SessionStart
from reconciler.model.actions import WorkerSpec


def session_start(spec: WorkerSpec, generation: str) -> SessionStart:
    """A worker's session: its worktree, its env (PATH included), its command and its stamps."""
    env = dict(spec.env)
    path = worker_path(env.get("PATH"))
    env |= {"PATH": path, "GT_GENERATION": generation, "GT_FINGERPRINT": spec.fingerprint}
    return SessionStart(
        name=spec.session, cwd=spec.worktree, argv=spec.command, env=env,
        stamps={"rig": spec.rig, "worker": spec.worker, "issue": spec.issue, "generation": generation,
                "fingerprint": spec.fingerprint, "nudges": "0", "last_nudge": "0", "prompted": "",
                "answers": "0", "agent": spec.agent})


def nudge(runtime: Runtime, session: str, text: str, *, sleep: Callable[[float], None] = time.sleep,
          wait: float = 2.0) -> bool:
    """Type ``text`` literally, then Enter; True when the pane changed after Enter (delivered)."""
    runtime.type_text(session, "".join(ch for ch in text if ch.isprintable()))  # no control keys
    for _attempt in range(2):
        before = runtime.capture(session)
        runtime.send_keys(session, ("Enter",))
        deadline = wait
        while deadline > 0:
            if runtime.capture(session) != before:
                return True
            sleep(0.05)
            deadline -= 0.05
    return False
