"""What is really there: tmux sessions and Beads issues, as plain frozen values.

Built by ``reconciler.observe``; read by the pure planner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from reconciler.model.costs import IssueUsage

DONE_LABEL = "gt:done"  # set by a worker (gt done) when its branch is ready to merge
MERGE_FAILED_LABEL = "gt:merge-failed"  # set by the refinery in place of DONE_LABEL when a merge fails
HELD_STATUSES = frozenset({"hooked", "in_progress"})
DONE_STATUSES = frozenset({"closed", "tombstone"})  # a blocks target in one of these no longer blocks
SESSION_PREFIX = "gt-"


def role_of(rig: str, worker: str) -> str:
    """The Beads assignee of a worker: ``<rig>/workers/<worker>``."""
    return f"{rig}/workers/{worker}"


# The schema's name pattern; a worker name read back from Beads must pass it too, since
# it becomes a tmux session name and a git branch.
WORKER_NAME = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")


def worker_of(rig: str, assignee: str | None) -> str | None:
    """The worker named by an assignee of ``rig``, or None when it is not one of ours."""
    prefix = f"{rig}/workers/"
    if assignee and assignee.startswith(prefix):
        name = assignee[len(prefix):]
        if WORKER_NAME.fullmatch(name):
            return name
    return None


def held_hooks(rig: str, issues: Iterable[ObservedIssue], sessions: Mapping[str, ObservedSession]
               ) -> tuple[dict[str, ObservedIssue], list[tuple[str, ObservedIssue]]]:
    """Each worker's hook, and any extra hooks beside it.

    A worker holds one hook. Should the store show two, keep the one its session was
    made for (else the first by priority and id), so nothing depends on file order.
    """
    held: dict[str, ObservedIssue] = {}
    extra: list[tuple[str, ObservedIssue]] = []
    for issue in sorted(issues, key=lambda i: (i.priority, i.id)):
        worker = worker_of(rig, issue.assignee)
        if not worker or issue.status not in HELD_STATUSES:
            continue
        made_for = sessions[worker].stamps.issue if worker in sessions else ""
        current = held.get(worker)
        if current is None or (issue.id == made_for and current.id != made_for):
            if current is not None:
                extra.append((worker, current))
            held[worker] = issue
        else:
            extra.append((worker, issue))
    return held, extra


def session_name(rig: str, worker: str) -> str:
    return f"{SESSION_PREFIX}{rig}-{worker}"


@dataclass(frozen=True)
class Stamps:
    """What the reconciler wrote on a session when it made it (tmux user options)."""

    rig: str = ""
    worker: str = ""
    issue: str = ""
    generation: str = ""
    fingerprint: str = ""
    nudges: int = 0
    last_nudge: float = 0.0
    help: str = ""  # set once HELP mail went out for this session
    prompted: str = ""  # set once the start prompt was typed into the pane
    answers: int = 0  # dialogs answered in this session
    agent: str = ""  # the Routing agent it runs


@dataclass(frozen=True)
class ObservedSession:
    name: str
    pane_pid: int
    command: str  # the pane's current foreground command
    dead: bool  # the pane's process exited (remain-on-exit keeps the session)
    activity: float  # epoch seconds of the last output or input
    created: float
    stamps: Stamps = Stamps()
    processes: tuple[str, ...] | None = None  # names running in the pane; None: unknown
    screen: tuple[str, ...] | None = None  # the pane's text, trailing blank lines dropped; None: not read
    exit_status: int | None = None  # of a dead pane, when tmux knows it

    @property
    def last_lines(self) -> tuple[str, ...]:
        """The pane's last non-blank lines (tmux's own 'Pane is dead' line left out)."""
        lines = [ln.rstrip() for ln in self.screen or ()
                 if ln.strip() and not ln.startswith(("Pane is dead", EXIT_LINE))]
        return tuple(lines[-OUTPUT_LINES:])

    def launcher_status(self) -> int | None:
        """The exit status the launcher printed, when the pane shows it."""
        for line in reversed(self.screen or ()):
            if line.startswith(EXIT_LINE):
                tail = line[len(EXIT_LINE):].strip()
                return int(tail) if tail.isdigit() else None
        return None


OUTPUT_LINES = 8  # lines of a pane kept as the evidence of a crash or a block
EXIT_LINE = "gt: the agent exited with status"  # printed by the launcher when its command ends


@dataclass(frozen=True)
class Crash:
    """What an agent left behind when it exited: its exit status and its last output."""

    status: int | None = None  # None: unknown (tmux did not see it, or a shell took over)
    output: tuple[str, ...] = ()

    def describe(self) -> str:
        how = f"exited with status {self.status}" if self.status is not None else "exited"
        tail = " | ".join(self.output[-3:])
        return f"{how}: {tail}" if tail else f"{how}, printing nothing"


@dataclass(frozen=True)
class ObservedIssue:
    id: str
    title: str
    status: str
    priority: int = 2
    issue_type: str = "task"
    assignee: str | None = None
    labels: tuple[str, ...] = ()
    blocked_by: tuple[str, ...] = ()  # open `blocks` targets
    updated: str = ""  # the store's updated_at (ISO 8601): for a done issue, when it was reported done
    parent: str | None = None  # the issue it is a child of (its parent-child dependency)

    @property
    def done(self) -> bool:
        return DONE_LABEL in self.labels

    @property
    def queue_key(self) -> tuple[int, str, str]:
        """Its place in the rig's merge queue: priority first, then the oldest report, then the id."""
        return self.priority, self.updated or "~", self.id


@dataclass(frozen=True)
class ObservedRig:
    """A rig's issues that matter to the plan, or why they could not be read."""

    name: str
    issues: tuple[ObservedIssue, ...] = ()
    error: str | None = None
    worktrees: tuple[ObservedWorktree, ...] = ()
    cloned: bool = True  # False: its repo is a Git URL not cloned yet (nothing else was read)

    def issue(self, issue_id: str) -> ObservedIssue | None:
        return self._by_id.get(issue_id)

    @cached_property
    def merge_queue(self) -> tuple[ObservedIssue, ...]:
        """The issues its workers reported done, in the order the refinery lands them: priority,
        then age, oldest first. Every pass serves the whole queue, so a low-priority branch waits
        behind newer urgent ones for seconds, never for days."""
        return tuple(sorted((i for i in self.issues if i.done and i.status in HELD_STATUSES
                             and worker_of(self.name, i.assignee)),  # a person's done issue is not gt's to merge
                            key=lambda i: i.queue_key))

    def queue_place(self, issue_id: str) -> tuple[int, int] | None:
        """An issue's place in the merge queue and the queue's length; None when it is not queued."""
        place = self._queue_places.get(issue_id)
        return (place, len(self.merge_queue)) if place else None

    @cached_property
    def _queue_places(self) -> dict[str, int]:
        return {issue.id: n for n, issue in enumerate(self.merge_queue, 1)}

    @cached_property
    def _by_id(self) -> dict[str, ObservedIssue]:
        """Built once: status looks up every convoy issue of every rig, each pass."""
        found: dict[str, ObservedIssue] = {}
        for issue in self.issues:
            found.setdefault(issue.id, issue)  # the first, as a scan would find
        return found


@dataclass(frozen=True)
class CrashRecord:
    """Crashes of one worker on one issue running one fingerprint (kept in .gt/crashes.json)."""

    rig: str
    worker: str
    issue: str
    fingerprint: str
    times: tuple[float, ...] = ()
    quarantined: bool = False
    last: Crash = Crash()  # how the latest crash looked


@dataclass(frozen=True)
class FailureRecord:
    """An action that failed for a worker (or, for a spawn, an issue), kept in .gt/failures.json
    so that the next passes back off instead of failing the same way every pass."""

    rig: str
    worker: str
    issue: str
    op: str
    fingerprint: str
    error: str
    times: tuple[float, ...] = ()


@dataclass(frozen=True)
class ProgramLookup:
    """Where an agent's program was found on the PATH its workers get; path None: nowhere."""

    rig: str
    agent: str
    program: str
    path: str | None
    search: str  # the PATH that was searched


@dataclass(frozen=True)
class ObservedWorktree:
    """A directory under .gt/worktrees/<rig>/: whose it is and what it holds."""

    worker: str
    path: str
    branch: str | None  # None: not a worktree of the rig's repository
    dirty: tuple[str, ...] | None = None  # uncommitted paths (a few); None: not examined
    ahead: int | None = None  # commits on its branch that the rig's branch does not have
    landed: bool | None = None  # True: merging the branch would change nothing on the rig's branch

    @property
    def removable(self) -> bool:
        """Holds nothing that is not on the rig's branch already: safe to remove."""
        return self.branch is not None and self.dirty == () and bool(self.landed)

    def holds(self) -> str:
        """What keeps it, for humans."""
        if self.branch is None:
            return "not a git worktree"
        parts = []
        if self.ahead:
            parts.append(f"{self.ahead} commit{'s' if self.ahead != 1 else ''} not on the rig's branch")
        if self.dirty:
            shown = ", ".join(self.dirty[:3]) + (", ..." if len(self.dirty) > 3 else "")
            parts.append(f"uncommitted changes ({shown})")
        return "; ".join(parts) or "work not merged"


@dataclass(frozen=True)
class Handoff:
    """A worker that asked for a fresh session (gt handoff): restarted on the same hook, worktree and
    branch, with ``message`` after its start prompt."""

    rig: str
    worker: str
    issue: str
    message: str


@dataclass(frozen=True)
class ObservedState:
    sessions: tuple[ObservedSession, ...] = ()
    rigs: tuple[ObservedRig, ...] = ()
    crashes: tuple[CrashRecord, ...] = ()
    programs: tuple[ProgramLookup, ...] = ()
    failures: tuple[FailureRecord, ...] = ()
    handoffs: tuple[Handoff, ...] = ()
    # Convoys whose CONVOY_LANDED mail went out; None: not looked at (nothing is announced then).
    announced: frozenset[str] | None = None
    rework: frozenset[str] = frozenset()  # workers (their roles) with an unread REWORK_REQUEST
    # Tokens the agents recorded, per issue: read only where a budget is declared or costs are asked.
    usage: tuple[IssueUsage, ...] = ()
    # Budgets whose HELP mail went out (the mails' budget labels); None: not looked at.
    escalated: frozenset[str] | None = None

    def usage_of(self, rig: str, issue: str) -> IssueUsage | None:
        return self._usage.get((rig, issue))

    @cached_property
    def _usage(self) -> dict[tuple[str, str], IssueUsage]:
        return {(u.rig, u.issue): u for u in self.usage}

    def handoff(self, rig: str, worker: str, issue: str) -> str:
        """The message a worker's handoff left for its next session on ``issue``, or ''."""
        return next((h.message for h in self.handoffs if (h.rig, h.worker, h.issue) == (rig, worker, issue)), "")

    def rig(self, name: str) -> ObservedRig:
        return next((r for r in self.rigs if r.name == name), ObservedRig(name, error="not observed"))

    def crash_record(self, rig: str, worker: str) -> CrashRecord | None:
        return next((c for c in self.crashes if (c.rig, c.worker) == (rig, worker)), None)

    def program(self, rig: str, agent: str) -> ProgramLookup | None:
        """The lookup of an agent's program for a rig; None: not looked up (use it as declared)."""
        return next((p for p in self.programs if (p.rig, p.agent) == (rig, agent)), None)
