"""The status document as ``gt status`` shows it, for every reader (gt status, gt queue, the
coordinator's gt prime): the controller's own when it runs and wrote one, else what is observed
now, saying why. Never takes the town lock, so it answers while the controller runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def current_status(root: Path) -> tuple[dict[str, Any], int | None]:
    """The controller's status when one runs and wrote it; else what is observed now, saying why."""
    from reconciler.clients.lock import holder_alive
    from reconciler.clients.status_file import read_status_file, status_path
    from reconciler.loop.commits import revision_lines, revision_status

    alive = holder_alive(root)
    pid = alive if alive and alive > 0 else None
    data, problem = read_status_file(root)
    if alive and data is not None:
        manifests = revision_status(root, data.get("controller", {}).get("source"))
        return data | {"controllerAlive": True, "source": "controller",
                       "manifests": manifests | {"lines": revision_lines(manifests)}}, pid
    if not alive:
        notice = "controller not running (gt start); showing what is observed now"
    elif problem == "missing":
        notice = (f"controller running (pid {pid}) but {status_path(root)} does not exist yet: it has not "
                  "finished a pass; showing what is observed now")
    else:
        notice = f"controller running (pid {pid}) but {status_path(root)} is {problem}; showing what is observed now"
    from reconciler.loop.status import observed_status

    doc = observed_status(root, time.time())
    manifests = revision_status(root, None)
    return doc | {"manifests": manifests | {"lines": revision_lines(manifests)},
                  "controllerAlive": bool(alive), "source": "observed", "notice": notice,
                  "statusFile": problem or "ok"}, pid
