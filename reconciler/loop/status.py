"""The status document (.gt/status.json): sync, health per rig and worker, convoy progress.

``build_status`` is pure: it reads the desired and observed state and the plan of
what is still to do, and says how the town is doing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..errors import ManifestProblem
from ..model import DesiredState, RigSpec
from ..observed import HELD_STATUSES, ObservedSession, ObservedState, held_hooks, worker_of
from ..plan import Plan

STARTING_FOR = 30.0  # a session this young, whose agent has not picked its hook up, is Starting
STATUS_FILE = "status.json"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_path(root: Path) -> Path:
    return root / ".gt" / STATUS_FILE


def worker_health(rig: RigSpec, worker: str, issue_status: str, session: ObservedSession | None,
                  plan: Plan, now: float, crashed_recently: bool = False) -> str:
    reasons = {n.reason for n in plan.notes if n.rig == rig.name and n.worker == worker}
    ops = {(a.op.value, a.reason) for a in plan.actions if a.rig == rig.name and a.worker == worker}
    if rig.state == "docked":
        return "Docked"
    if rig.state == "parked":
        return "Parked"
    if "quarantined" in reasons or ("quarantine", "crash-loop") in ops:
        return "Quarantined"
    # A worker that crashed within the crash window flaps: running now does not make it healthy.
    if crashed_recently or "crash-loop" in reasons or ("respawn", "crashed") in ops:
        return "CrashLoop"
    if "stuck" in reasons or ("help", "stuck") in ops:
        return "Stuck"
    if session is None or session.dead:
        return "Starting"
    if issue_status == "hooked" and now - session.created < STARTING_FOR:
        return "Starting"
    if now - session.activity >= rig.witness.idle_after:
        return "Idle"
    return "Working"


def build_status(desired: DesiredState, observed: ObservedState, plan: Plan, now: float, *,
                 errors: Sequence[ManifestProblem] = (), pass_info: dict[str, Any] | None = None,
                 controller: dict[str, Any] | None = None) -> dict[str, Any]:
    rigs = [_rig_status(desired, observed, plan, rig, now) for rig in desired.rigs]
    unreadable = [{"message": f"rig {r['name']}: {r['error']}"} for r in rigs if r.get("error")]
    if errors or unreadable:
        sync = "Error"
    else:
        sync = "InSync" if plan.in_sync else "OutOfSync"
    return {
        "controller": controller or {},
        "lastPass": pass_info or {},
        "sync": {
            "status": sync,
            "errors": [p.as_dict() for p in errors] + unreadable,
            "pending": [f"{a.marker} {a.op.value} {a.subject} {a.issue} ({a.reason})" for a in plan.actions],
        },
        "rigs": rigs,
        "convoys": [_convoy_status(desired, observed, c.name) for c in desired.convoys],
    }


def _rig_status(desired: DesiredState, observed: ObservedState, plan: Plan, rig: RigSpec,
                now: float) -> dict[str, Any]:
    obs = observed.rig(rig.name)
    sessions = {s.stamps.worker: s for s in observed.sessions if s.stamps.rig == rig.name and s.stamps.worker}
    held, _ = held_hooks(rig.name, obs.issues, sessions)
    workers = []
    for name in sorted(set(held) | set(sessions)):
        hook = held.get(name)
        session = sessions.get(name)
        record = observed.crash_record(rig.name, name)
        window = desired.town.crash_loop.window
        crashed_recently = bool(record and hook and record.issue == hook.id
                                and any(now - t <= window for t in record.times))
        health = worker_health(rig, name, hook.status if hook else "", session, plan, now,
                               crashed_recently)
        workers.append({
            "name": name,
            "issue": hook.id if hook else (session.stamps.issue if session else ""),
            "health": health,
            "session": session.name if session else None,
            "nudges": session.stamps.nudges if session else 0,
            "idleFor": round(now - session.activity) if session and not session.dead else None,
        })
    states = {w["health"] for w in workers}
    if obs.error:
        health = "Error"
    elif rig.state != "active":
        health = rig.state.capitalize()
    elif states & {"Stuck", "CrashLoop", "Quarantined"}:
        health = "Degraded"
    else:
        health = "Healthy"
    result: dict[str, Any] = {"name": rig.name, "state": rig.state, "health": health, "workers": workers}
    if obs.error:
        result["error"] = obs.error
    return result


def _convoy_status(desired: DesiredState, observed: ObservedState, name: str) -> dict[str, Any]:
    convoy = next(c for c in desired.convoys if c.name == name)
    obs = observed.rig(convoy.rig)
    done = working = 0
    for issue_id in convoy.issues:
        issue = obs.issue(issue_id)
        if issue is None:
            continue
        if issue.status == "closed":
            done += 1
        elif issue.status in HELD_STATUSES and worker_of(convoy.rig, issue.assignee):
            working += 1
    total = len(convoy.issues)
    return {"name": name, "rig": convoy.rig, "paused": convoy.paused, "done": done,
            "working": working, "waiting": total - done - working, "total": total}


def write_status(root: Path, status: dict[str, Any]) -> None:
    """Atomically: a reader sees the previous pass's status or this one, never half."""
    write_atomic(status_path(root), json.dumps(status, indent=1))


def read_status(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(status_path(root).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
