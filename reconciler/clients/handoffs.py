"""gt handoff's requests: one small JSON file a worker under .gt/handoffs/, written by the worker
itself and removed by the writer that starts its next session. One file a worker, replaced whole,
so the worker (which holds no town lock) and the controller never edit the same list."""

from __future__ import annotations

import json
import re
from pathlib import Path

from reconciler.clients.files import refuse_links, write_atomic
from reconciler.model.observed import Handoff
from reconciler.model.paths import TownPaths

_NAME = re.compile(r"^(?P<rig>[a-z][-a-z0-9]*)--(?P<worker>[a-z][-a-z0-9]*)\.json$")
MAX_MESSAGE = 4096


def _path(root: str | Path, rig: str, worker: str) -> Path:
    return Path(TownPaths(str(root)).handoffs) / f"{rig}--{worker}.json"


def request(root: str | Path, handoff: Handoff) -> None:
    path = _path(root, handoff.rig, handoff.worker)
    refuse_links(path, parents=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"rig": handoff.rig, "worker": handoff.worker, "issue": handoff.issue,
                                   "message": handoff.message[:MAX_MESSAGE]}))


def load(root: str | Path) -> tuple[Handoff, ...]:
    """Every handoff waiting; an unreadable file is skipped (the worker restarts without its note)."""
    directory = Path(TownPaths(str(root)).handoffs)
    try:
        names = sorted(directory.iterdir())
    except OSError:
        return ()
    found = []
    for path in names:
        match = _NAME.match(path.name)
        if match is None:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(Handoff(match["rig"], match["worker"], str(data["issue"]), str(data["message"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return tuple(found)


def forget(root: str | Path, rig: str, worker: str) -> None:
    try:
        _path(root, rig, worker).unlink()
    except FileNotFoundError:
        pass
