"""gt prime for the coordinator: the overseer's view of the town.

Rigs and their workers' health, convoys and how far they have come, the unread mail of the
coordinator and of the overseer, and what needs attention (workers failing, stuck, quarantined
or whose merge failed, failing actions, HELP mail). Read from the status document, as gt status
shows it, and from the town's mail; nothing is changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.model.mail import MessageType
from reconciler.model.roles import TownRole

COORDINATOR = TownRole.coordinator.value
FINE = frozenset({"Healthy", "Parked", "Docked", "Working", "Idle", "Starting", "Running"})
STEPS = (
    "Tell the overseer what needs attention first, then how each convoy is doing.",
    ("Work is given by editing the manifests, which the controller applies once committed: "
     "gt convoy create TITLE ISSUE... --commit, gt sling ISSUE RIG --commit, gt rig park|dock RIG --commit."),
    ("Look closer with gt status, gt convoy show NAME, gt rig status RIG, gt queue (the merge queues); "
     "gt nudge RIG/WORKER prods a worker, gt attach RIG/WORKER shows its screen."),
    ("Mail: gt mail inbox, gt mail read ID, gt mail reply ID -m TEXT, gt mail send TO SUBJECT -m TEXT "
     "(you are coordinator; the overseer's mail, HELP included, is gt mail inbox --as {overseer})."),
)


def overseer_document(root: Path) -> dict[str, Any]:
    from reconciler.loop.current import current_status
    from reconciler.loop.revision import load_applied

    status, pid = current_status(root)
    _, desired = load_applied(root)
    overseer = desired.town.overseer
    mail = _unread(desired, (COORDINATOR, overseer))
    rigs = [{"name": r["name"], "state": r["state"], "health": r["health"], "reason": r.get("reason", ""),
             "workers": [{k: w.get(k) for k in ("name", "issue", "health", "reason", "session", "done")}
                         for w in r.get("workers", [])]} for r in status.get("rigs", [])]
    return {
        "role": COORDINATOR,
        "town": str(root),
        "overseer": overseer,
        "controller": {"running": bool(status.get("controllerAlive")), "pid": pid},
        "sync": status.get("sync", {}).get("status", "?"),
        "rigs": rigs,
        "convoys": [{k: c.get(k) for k in ("name", "rig", "done", "total", "working", "waiting", "landed", "paused")}
                    for c in status.get("convoys", [])],
        "mail": mail,
        "attention": attention(status, mail),
        "steps": [step.format(overseer=overseer) for step in STEPS],
    }


def _unread(desired: Any, addresses: tuple[str, ...]) -> list[dict[str, Any]]:
    """Unread mail of each address, oldest first; none when the mail store cannot be read."""
    from reconciler.clients.stores import town_store
    from reconciler.errors import ReconcilerError
    from reconciler.ops.mail import inbox

    try:
        store = town_store(desired, actor=COORDINATOR)
        found = [m for address in dict.fromkeys(addresses) for m in inbox(store, address)]
    except (ReconcilerError, OSError):
        return []
    return [{"id": m.id, "to": m.to, "from": m.sender, "type": m.kind.value, "subject": m.subject}
            for m in sorted(found, key=lambda m: m.created)]


def attention(status: dict[str, Any], mail: list[dict[str, Any]]) -> list[str]:
    """What the overseer should hear about first, each in one line."""
    found = [f"manifests: {e['path']}:{e.get('line', 0)}:{e.get('col', 0)}: {e['message']}" if e.get("path")
             else f"manifests: {e['message']}" for e in status.get("sync", {}).get("errors", [])]
    for rig in status.get("rigs", []):
        problems = rig.get("problems") or ([rig.get("reason")] if rig["health"] not in FINE else [])
        found += [f"rig {rig['name']}: {p}" for p in problems if p]
    found += [f"{t['name']} is {t['health']}: {t.get('reason', '')}" for t in status.get("town", [])
              if t["health"] not in FINE]
    found += [f"HELP from {m['from']} ({m['id']}): {m['subject']}" for m in mail
              if m["type"] == MessageType.HELP.value]
    return found


def overseer_text(doc: dict[str, Any]) -> str:
    """The document as Markdown, for the coordinator's context."""
    ctl = doc["controller"]
    lines = [f"# You are the coordinator of the town at {doc['town']}", "",
             f"The overseer ({doc['overseer']}) talks to you here. Controller: "
             + (f"running (pid {ctl['pid']})" if ctl["running"] else "not running (gt start starts it)")
             + f"; sync {doc['sync']}.", "", "## Rigs", ""]
    for rig in doc["rigs"]:
        reason = f": {rig['reason']}" if rig["reason"] else ""
        lines.append(f"- rig {rig['name']} ({rig['state']}): {rig['health']}{reason}")
        for w in rig["workers"]:
            done = ", done: waiting to merge" if w.get("done") else ""
            lines.append(f"  - {rig['name']}/{w['name']} on {w['issue'] or 'nothing'}: {w['health']}{done}")
    if not doc["rigs"]:
        lines.append("- none declared")
    lines += ["", "## Convoys", ""]
    for c in doc["convoys"]:
        state = "landed" if c.get("landed") else "paused" if c.get("paused") else "under way"
        lines.append(f"- convoy {c['name']} (rig {c['rig']}): {c['done']}/{c['total']} merged, {c['working']} "
                     f"working, {c['waiting']} waiting; {state}")
    if not doc["convoys"]:
        lines.append("- none declared")
    lines += ["", "## Needs attention", ""]
    lines += [f"- {item}" for item in doc["attention"]] or ["- nothing: every rig and worker is fine"]
    lines += ["", f"## Mail: {len(doc['mail'])} unread", ""]
    lines += [f"- {m['id']} {m['type']} from {m['from']} to {m['to']}: {m['subject']}"
              for m in doc["mail"]] or ["- none"]
    lines += ["", "## What to do", ""]
    lines += [f"{n}. {step}" for n, step in enumerate(doc["steps"], 1)]
    return "\n".join(lines)
