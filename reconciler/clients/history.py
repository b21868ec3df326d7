"""What went wrong before, kept under .gt/ so backoff and quarantine survive controller restarts.

Two files: crashes.json (agents that exited, per worker) and failures.json (actions
that failed, per issue and action). Both are written only by the town's one writer
(it holds the town lock); an unreadable file only costs backoff, never work.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

from reconciler.clients.files import read_json_list, write_atomic
from reconciler.model.observed import Crash, CrashRecord, FailureRecord
from reconciler.model.paths import TownPaths

KEEP = 20  # times kept per record; older ones no longer matter for any window
CRASHES, FAILURES = "crashes", "failures"  # the TownPaths attributes that name the two files
R = TypeVar("R", CrashRecord, FailureRecord)


def path_of(root: str | Path, name: str = CRASHES) -> Path:
    return Path(str(getattr(TownPaths(str(root)), name)))


def _times(item: dict[str, Any]) -> tuple[float, ...]:
    times = tuple(float(t) for t in item["times"])
    if not all(math.isfinite(t) for t in times):
        raise ValueError("not a time")
    return times


def _crash(item: dict[str, Any]) -> CrashRecord:
    raw_last = item.get("last")
    last: dict[str, Any] = raw_last if isinstance(raw_last, dict) else {}
    status = last.get("status")
    return CrashRecord(
        rig=item["rig"], worker=item["worker"], issue=item["issue"], fingerprint=item["fingerprint"],
        times=_times(item), quarantined=bool(item.get("quarantined", False)),
        last=Crash(status if isinstance(status, int) else None,
                   tuple(str(x) for x in last.get("output", ()))))


def _failure(item: dict[str, Any]) -> FailureRecord:
    return FailureRecord(rig=item["rig"], worker=item["worker"], issue=item["issue"], op=item["op"],
                         fingerprint=item["fingerprint"], error=str(item["error"]), times=_times(item))


def _load(root: str | Path, name: str, build: Callable[[dict[str, Any]], R], repair: bool) -> tuple[R, ...]:
    records = []
    for item in read_json_list(path_of(root, name), repair=repair):
        try:
            records.append(build(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return tuple(records)


def _save(root: str | Path, name: str, records: tuple[CrashRecord, ...] | tuple[FailureRecord, ...]) -> None:
    data = [asdict(r) | {"times": list(r.times)} for r in records]
    write_atomic(path_of(root, name), json.dumps(data, indent=1))


def load(root: str | Path, repair: bool = False) -> tuple[CrashRecord, ...]:
    return _load(root, CRASHES, _crash, repair)


def load_failures(root: str | Path, repair: bool = False) -> tuple[FailureRecord, ...]:
    return _load(root, FAILURES, _failure, repair)


def _update_crash(root: str | Path, rig: str, worker: str, issue: str, fingerprint: str,
                  change: Callable[[CrashRecord], CrashRecord]) -> CrashRecord:
    records = list(load(root, repair=True))
    current = next((r for r in records if (r.rig, r.worker) == (rig, worker)), None)
    if current is not None:
        records.remove(current)
    if current is None or (current.issue, current.fingerprint) != (issue, fingerprint):
        current = CrashRecord(rig, worker, issue, fingerprint)
    updated = change(current)
    records.append(updated)
    _save(root, CRASHES, tuple(records))
    return updated


def record_crash(root: str | Path, rig: str, worker: str, issue: str, fingerprint: str,
                 when: float, crash: Crash | None = None) -> CrashRecord:
    return _update_crash(root, rig, worker, issue, fingerprint,
                         lambda r: replace(r, times=(*r.times, when)[-KEEP:], last=crash or r.last))


def quarantine(root: str | Path, rig: str, worker: str, issue: str, fingerprint: str,
               crash: Crash | None = None) -> CrashRecord:
    return _update_crash(root, rig, worker, issue, fingerprint,
                         lambda r: replace(r, quarantined=True, last=crash or r.last))


def record_failure(root: str | Path, rig: str, worker: str, issue: str, op: str, fingerprint: str,
                   error: str, when: float) -> FailureRecord:
    """One more failure of ``op`` on ``issue``; a new fingerprint starts the count again."""
    records = list(load_failures(root, repair=True))
    current = next((r for r in records if (r.rig, r.op, r.issue) == (rig, op, issue)), None)
    if current is not None:
        records.remove(current)
    times = current.times if current is not None and current.fingerprint == fingerprint else ()
    updated = FailureRecord(rig, worker, issue, op, fingerprint, error[:500], (*times, when)[-KEEP:])
    records.append(updated)
    _save(root, FAILURES, tuple(records))
    return updated


def clear_failure(root: str | Path, rig: str, issue: str, op: str) -> None:
    """``op`` on ``issue`` succeeded: forget its failures."""
    records = load_failures(root, repair=True)
    kept = tuple(r for r in records if (r.rig, r.op, r.issue) != (rig, op, issue))
    if len(kept) != len(records):
        _save(root, FAILURES, kept)


def reset(root: str | Path, rig: str) -> int:
    """Forget every crash and failure of a rig (gt rig reset); returns how many were forgotten."""
    forgotten = 0
    for name, records in ((CRASHES, load(root, repair=True)), (FAILURES, load_failures(root, repair=True))):
        kept = tuple(r for r in records if r.rig != rig)
        if len(kept) != len(records):
            _save(root, name, kept)  # type: ignore[arg-type]
        forgotten += len(records) - len(kept)
    return forgotten
