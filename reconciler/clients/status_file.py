"""The status document on disk (.gt/status.json): written whole by the controller, read by anyone.

Kept apart from how status is built, so ``gt status`` with a controller running
reads one file without importing the planner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.clients.files import write_atomic
from reconciler.model.paths import TownPaths


def status_path(root: Path) -> Path:
    return Path(TownPaths(str(root)).status)


def write_status(root: Path, status: dict[str, Any]) -> None:
    """Atomically: a reader sees the previous pass's status or this one, never half."""
    write_atomic(status_path(root), json.dumps(status, indent=1))


def read_status(root: Path) -> dict[str, Any] | None:
    data, _ = read_status_file(root)
    return data


def read_status_file(root: Path) -> tuple[dict[str, Any] | None, str]:
    """The status document, or None and why not: "missing" or "corrupt: ..."."""
    try:
        text = status_path(root).read_text()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"unreadable: {exc.strerror}"
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"corrupt: {exc}"
    if not isinstance(data, dict):
        return None, "corrupt: not a JSON object"
    return data, ""
