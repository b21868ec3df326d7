"""Crash history of workers, kept in .gt/crashes.json so backoff and quarantine survive
controller restarts. Written only by the town's one writer (it holds the town lock)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from .atomic import write_atomic
from .observed import CrashRecord

KEEP = 20  # crash times kept per worker; older ones no longer matter for any window


def path_of(root: str | Path) -> Path:
    return Path(root) / ".gt" / "crashes.json"


def load(root: str | Path) -> tuple[CrashRecord, ...]:
    try:
        raw = json.loads(path_of(root).read_text())
    except FileNotFoundError:
        return ()
    except (OSError, ValueError):
        return ()  # unreadable history only costs backoff, never work
    records = []
    for item in raw if isinstance(raw, list) else []:
        try:
            records.append(CrashRecord(
                rig=item["rig"], worker=item["worker"], issue=item["issue"],
                fingerprint=item["fingerprint"], times=tuple(float(t) for t in item["times"]),
                quarantined=bool(item.get("quarantined", False))))
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(records)


def save(root: str | Path, records: tuple[CrashRecord, ...]) -> None:
    data = json.dumps([asdict(r) | {"times": list(r.times)} for r in records], indent=1)
    write_atomic(path_of(root), data)


def _update(root: str | Path, rig: str, worker: str, issue: str, fingerprint: str,
            change: Callable[[CrashRecord], CrashRecord]) -> CrashRecord:
    records = list(load(root))
    current = next((r for r in records if (r.rig, r.worker) == (rig, worker)), None)
    if current is None or (current.issue, current.fingerprint) != (issue, fingerprint):
        if current is not None:
            records.remove(current)
        current = CrashRecord(rig, worker, issue, fingerprint)
    else:
        records.remove(current)
    updated = change(current)
    records.append(updated)
    save(root, tuple(records))
    return updated


def record_crash(root: str | Path, rig: str, worker: str, issue: str, fingerprint: str,
                 when: float) -> CrashRecord:
    return _update(root, rig, worker, issue, fingerprint,
                   lambda r: replace(r, times=(*r.times, when)[-KEEP:]))


def quarantine(root: str | Path, rig: str, worker: str, issue: str, fingerprint: str) -> CrashRecord:
    return _update(root, rig, worker, issue, fingerprint, lambda r: replace(r, quarantined=True))


def reset(root: str | Path, rig: str) -> int:
    """Forget every crash of a rig's workers (gt rig reset); returns how many were forgotten."""
    records = load(root)
    kept = tuple(r for r in records if r.rig != rig)
    if len(kept) != len(records):
        save(root, kept)
    return len(records) - len(kept)
