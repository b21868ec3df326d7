"""The refinery's record of merges under way (.gt/merges.json).

A merge is written here before the rig's branch moves, with the exact branch head
it lands and, once made, the commit that lands it. After a crash at any point the
next attempt finds it: the branch is moved to that same commit, or, if the branch
has it already, only the close is finished. A merge is forgotten once the branch has
it (from then on it is recognised there). Only the town's one writer (holding the town
lock) writes the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.clients.files import read_json_list, write_atomic
from reconciler.model.paths import TownPaths


@dataclass(frozen=True)
class MergeIntent:
    rig: str
    issue: str
    worker: str
    branch: str  # the worker's branch
    head: str  # the branch head being landed
    target: str  # the rig's branch
    base: str  # the target's tip the merge was made on
    strategy: str
    landed: str = ""  # the commit the target moves to, once made


def _path(root: str) -> Path:
    return Path(TownPaths(root).merges)


def _build(item: Any) -> MergeIntent | None:
    if not isinstance(item, dict):
        return None
    try:
        return MergeIntent(**{k: str(item[k]) for k in MergeIntent.__dataclass_fields__ if k in item})
    except TypeError:
        return None


def load(root: str) -> tuple[MergeIntent, ...]:
    """Read only by the town's writer (the refinery), which sets an unreadable file aside: a merge
    already on the branch is recognised there anyway."""
    found = (_build(item) for item in read_json_list(_path(root), repair=True))
    return tuple(i for i in found if i is not None)


def find(root: str, rig: str, issue: str) -> MergeIntent | None:
    return next((i for i in load(root) if (i.rig, i.issue) == (rig, issue)), None)


def _save(root: str, intents: list[MergeIntent]) -> None:
    write_atomic(_path(root), json.dumps([asdict(i) for i in intents], indent=1))


def record(root: str, intent: MergeIntent) -> MergeIntent:
    """Write (or replace) the merge of ``intent.issue``; durable when this returns."""
    kept = [i for i in load(root) if (i.rig, i.issue) != (intent.rig, intent.issue)]
    _save(root, [*kept, intent])
    return intent


def landed(root: str, intent: MergeIntent, commit: str) -> MergeIntent:
    return record(root, replace(intent, landed=commit))


def forget(root: str, rig: str, issue: str) -> None:
    intents = list(load(root))
    kept = [i for i in intents if (i.rig, i.issue) != (rig, issue)]
    if len(kept) != len(intents):
        _save(root, kept)
