"""The status document (.gt/status.json): sync, health per rig and worker, convoy progress.

``build_status`` is pure: it reads the desired and observed state and the plan of
what is still to do, and says how the town is doing. Every bad health carries its
reason: the plan's own words, the crash (exit status and last output), or the
failed action with its error and time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import ManifestProblem
from reconciler.loop.progress import convoy_progress
from reconciler.model.actions import Level, Plan
from reconciler.model.desired import DesiredState, RigSpec
from reconciler.model.observed import (
    CrashRecord,
    FailureRecord,
    ObservedIssue,
    ObservedSession,
    ObservedState,
    held_hooks,
    worker_of,
)
from reconciler.model.roles import TownRole, town_session
from reconciler.plan.planner import plan as make_plan
from reconciler.plan.town import wanted_roles

if TYPE_CHECKING:
    from reconciler.loop.town import Town

STARTING_FOR = 30.0  # a session this young, whose agent has not picked its hook up, is Starting
BAD = frozenset({"Stuck", "CrashLoop", "Quarantined", "Blocked", "Error"})
def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Health:
    health: str
    reason: str = ""


def worker_health(rig: RigSpec, worker: str, issue_status: str, session: ObservedSession | None,
                  plan: Plan, now: float, crash: CrashRecord | None,
                  window: float) -> Health:
    """How one worker is doing and, unless it is fine, why."""
    if rig.state == "docked":
        return Health("Docked", "rig is docked: session stopped, hook kept")
    if rig.state == "parked":
        return Health("Parked", "rig is parked: nothing is started or stopped")
    reported = plan.condition_of(rig.name, worker)  # the planner's own word, not re-derived here
    if reported is not None:
        return Health(reported.condition.value, reported.why)
    # A worker that crashed within the crash window flaps: running now does not make it healthy.
    if crash is not None and any(now - t <= window for t in crash.times):
        count = sum(1 for t in crash.times if now - t <= window)
        return Health("CrashLoop", f"crashed {count} time{'s' if count != 1 else ''} lately; "
                      f"last at {iso(crash.times[-1])}: agent {crash.last.describe()}")
    if session is None or session.dead:
        return Health("Starting")
    if issue_status == "hooked" and now - session.created < STARTING_FOR:
        return Health("Starting")
    if now - session.activity >= rig.witness.idle_after:
        return Health("Idle")
    return Health("Working")


def build_status(desired: DesiredState, observed: ObservedState, plan: Plan, now: float, *,
                 errors: Sequence[ManifestProblem] = (), pass_info: dict[str, Any] | None = None,
                 controller: dict[str, Any] | None = None) -> dict[str, Any]:
    rigs = [_rig_status(desired, observed, plan, rig, now) for rig in desired.rigs]
    unreadable = [{"message": f"rig {r['name']}: {r['error']}"} for r in rigs if r.get("error")]
    plan_errors = [{"message": f"rig {n.rig}: {n.why}" if n.rig else n.why}
                   for n in plan.errors if n.reason != "rig-unreadable"]
    if errors or unreadable:
        sync = "Error"
    else:
        sync = "InSync" if plan.in_sync else "OutOfSync"
    return {
        "controller": controller or {},
        "lastPass": pass_info or {},
        "sync": {
            "status": sync,
            "errors": [p.as_dict() for p in errors] + unreadable + plan_errors,
            "pending": [f"{a.marker} {a.op.value} {a.subject} {a.issue} ({a.reason})" for a in plan.actions],
        },
        "rigs": rigs,
        "convoys": [_convoy_status(desired, observed, c.name) for c in desired.convoys],
        "town": [_town_session_status(role, observed, plan, now, desired.town.crash_loop.window)
                 for role in wanted_roles(desired)],
    }


def _town_session_status(role: TownRole, observed: ObservedState, plan: Plan, now: float,
                         window: float) -> dict[str, Any]:
    """One of the town's own sessions: the planner's word on it, else a recent crash, else whether it runs."""
    name = town_session(role)
    session = next((s for s in observed.sessions if s.name == name), None)
    reported = plan.condition_of("", role.value)
    crash = observed.crash_record("", role.value)
    recent = [t for t in crash.times if now - t <= window] if crash is not None else []
    if reported is not None:
        health, reason = reported.condition.value, reported.why
    elif crash is not None and recent:
        health = "CrashLoop"
        reason = f"crashed {len(recent)} time{'s' if len(recent) != 1 else ''} lately: agent {crash.last.describe()}"
    elif session is None or session.dead:
        health, reason = "Starting", ""
    else:
        health, reason = "Running", ""
    notes = [f"{n.reason}: {n.why}" for n in plan.notes if not n.rig and n.worker == role.value
             and n.level is not Level.info]
    return {"name": role.value, "session": name, "health": health, "reason": reason, "notes": notes,
            "idleFor": round(now - session.activity) if session and not session.dead else None}


def _failure(record: FailureRecord) -> dict[str, Any]:
    return {"action": record.op, "worker": record.worker, "issue": record.issue,
            "error": record.error, "at": iso(record.times[-1]), "count": len(record.times)}


def _rig_status(desired: DesiredState, observed: ObservedState, plan: Plan, rig: RigSpec,
                now: float) -> dict[str, Any]:
    obs = observed.rig(rig.name)
    sessions = {s.stamps.worker: s for s in observed.sessions if s.stamps.rig == rig.name and s.stamps.worker}
    held, _ = held_hooks(rig.name, obs.issues, sessions)
    window = desired.town.crash_loop.window
    failures = [f for f in observed.failures if f.rig == rig.name and f.times and now - f.times[-1] <= window]
    workers = []
    for name in sorted(set(held) | set(sessions)):
        workers.append(_worker_status(rig, name, held.get(name), sessions.get(name), observed, plan, now,
                                      window, failures))
    failures_now = [_failure(f) for f in failures]
    problems = [f"{w['name']} is {w['health']}: {w['reason']}" for w in workers if w["health"] in BAD]
    problems += [f"{f['action']} of {f['issue']} failed at {f['at']}: {f['error']}" for f in failures_now]
    notes = [f"{n.reason}: {n.why}" for n in plan.notes
             if n.rig == rig.name and n.level is not Level.info and (not n.worker or n.worker not in held)]
    problems += [text for text in notes if text.startswith("agent-missing")]
    if obs.error:
        health, reason = "Error", obs.error
    elif rig.state != "active":
        health, reason = rig.state.capitalize(), f"rig is {rig.state}"
    elif problems:
        health, reason = "Degraded", problems[0]
    else:
        health, reason = "Healthy", ""
    queue = [{"issue": i.id, "title": i.title, "worker": worker_of(rig.name, i.assignee), "priority": i.priority,
              "since": i.updated} for i in obs.merge_queue]
    result: dict[str, Any] = {"name": rig.name, "state": rig.state, "health": health, "reason": reason,
                              "problems": problems, "failures": failures_now, "notes": notes,
                              "workers": workers, "mergeQueue": queue}
    if obs.error:
        result["error"] = obs.error
    return result


def _worker_status(rig: RigSpec, name: str, hook: ObservedIssue | None, session: ObservedSession | None,
                   observed: ObservedState, plan: Plan, now: float, window: float,
                   failures: list[FailureRecord]) -> dict[str, Any]:
    record = observed.crash_record(rig.name, name)
    if record is not None and (hook is None or record.issue != hook.id):
        record = None
    state = worker_health(rig, name, hook.status if hook else "", session, plan, now, record, window)
    entry: dict[str, Any] = {
        "name": name,
        "issue": hook.id if hook else (session.stamps.issue if session else ""),
        "done": bool(hook and hook.done),  # reported done: waiting in the rig's merge queue
        "health": state.health,
        "reason": state.reason,
        "session": session.name if session else None,
        "nudges": session.stamps.nudges if session else 0,
        "idleFor": round(now - session.activity) if session and not session.dead else None,
    }
    if state.health in ("CrashLoop", "Quarantined"):
        last = record.last if record is not None else None
        if session is not None and session.dead:
            entry["crash"] = {"status": session.exit_status, "output": list(session.last_lines)}
        elif last is not None:
            entry["crash"] = {"status": last.status, "output": list(last.output)}
    mine = [f for f in failures if f.worker == name or (hook is not None and f.issue == hook.id)]
    if mine:
        entry["lastError"] = _failure(mine[-1])
    return entry


def _convoy_status(desired: DesiredState, observed: ObservedState, name: str) -> dict[str, Any]:
    convoy = next(c for c in desired.convoys if c.name == name)
    progress = convoy_progress(convoy, observed.rig(convoy.rig))
    return {"name": name, "rig": convoy.rig, "paused": convoy.paused, **progress.summary(),
            "landed": progress.landed}


def town_status(town: Town, now: float, *, errors: Sequence[ManifestProblem] = (),
                pass_info: dict[str, Any] | None = None, controller: dict[str, Any] | None = None,
                seen: tuple[Plan, ObservedState] | None = None) -> tuple[dict[str, Any], Plan]:
    """Judge the town: the status and the plan of what is left to do.

    ``seen`` is a plan and the observation it was made from, reused when nothing was
    done since; otherwise the town is observed and planned again.
    """
    if seen is None:
        observed = town.observe()
        after = make_plan(town.desired, observed, now, max_spawns=town.desired.town.max_spawns_per_pass)
    else:
        after, observed = seen
    return build_status(town.desired, observed, after, now, errors=errors, pass_info=pass_info,
                        controller=controller), after


def observed_status(root: Path, now: float) -> dict[str, Any]:
    """Status made now from what is observed, for when no controller has written one."""
    from reconciler.loop.town import Town

    return town_status(Town.load(root), now, controller={"running": False})[0]
