"""Reason codes of actions and notes, and the condition each reports about its worker.

The planner states conditions; status reads them, rather than parsing reason text.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Why an action is planned or a note is made; the strings are what the journal shows."""

    # starting and keeping workers
    unassigned = "unassigned"
    session_missing = "session-missing"
    crashed = "crashed"
    drift = "drift"
    dialog = "dialog"
    start_prompt = "start-prompt"
    gupp_idle = "gupp-idle"
    rework = "rework"
    # trouble
    agent_blocked = "agent-blocked"
    agent_missing = "agent-missing"
    stuck = "stuck"
    crash_loop = "crash-loop"
    quarantined = "quarantined"
    failing = "failing"
    # rigs and issues
    parked = "parked"
    docked = "docked"
    orphan = "orphan"
    rig_unreadable = "rig-unreadable"
    missing = "missing"
    claimed = "claimed"
    not_open = "not-open"
    blocked = "blocked"
    waiting = "waiting"
    extra_hook = "extra-hook"
    merge_ready = "merge-ready"
    merge_failed = "merge-failed"
    done = "done"
    landed = "landed"
    budget = "budget"
    not_cloned = "not-cloned"
    unwanted = "unwanted"
    hook_missing = "hook-missing"
    # worktrees
    worktree_landed = "worktree-landed"
    worktree_busy = "worktree-busy"
    worktree_kept = "worktree-kept"


class Condition(enum.StrEnum):
    """How a worker is doing, as gt status shows it."""

    Working = "Working"
    Idle = "Idle"
    Starting = "Starting"
    Blocked = "Blocked"
    Stuck = "Stuck"
    CrashLoop = "CrashLoop"
    Quarantined = "Quarantined"
    Error = "Error"
    Parked = "Parked"
    Docked = "Docked"


# What a planned action (op, reason) or a note (None, reason) says about its worker, most
# telling first: when several apply to one worker, the earliest wins.
CONDITIONS: tuple[tuple[str | None, Reason, Condition], ...] = (
    ("quarantine", Reason.crash_loop, Condition.Quarantined),
    ("respawn", Reason.crashed, Condition.CrashLoop),
    ("help", Reason.stuck, Condition.Stuck),
    (None, Reason.agent_missing, Condition.Error),
    (None, Reason.quarantined, Condition.Quarantined),
    (None, Reason.crash_loop, Condition.CrashLoop),
    (None, Reason.failing, Condition.Error),
    (None, Reason.merge_failed, Condition.Error),
    (None, Reason.agent_blocked, Condition.Blocked),
    (None, Reason.stuck, Condition.Stuck),
)
RANK = {(op, reason): (rank, condition) for rank, (op, reason, condition) in enumerate(CONDITIONS)}
