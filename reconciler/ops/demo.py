"""What gt demo watches and tells: the demo town's convoys and mail as snapshots, the events
between two snapshots, and in the end what happened (the rig's log, the mail exchanged).

Reads only (the rigs' stores, the town's mail, the rigs' Git history); never takes the town
lock, so it watches a controller at work without getting in its way. ``events`` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.clients.beads import IssueStore
from reconciler.clients.git import log_oneline
from reconciler.clients.stores import StoreCache, town_store
from reconciler.errors import ReconcilerError
from reconciler.loop.progress import ConvoyProgress, IssueProgress, IssueState, convoy_progress
from reconciler.model.desired import DesiredState
from reconciler.model.mail import CONVOY_LABEL, ISSUE_LABEL, MessageType
from reconciler.model.paths import rig_repo_path
from reconciler.observe.issues import observe_rig
from reconciler.ops.mail import Message, every_message

# Mail that says what the issue states already say; it shows in the summary, not as it comes.
QUIET_MAIL = frozenset({MessageType.WORKER_DONE, MessageType.MERGED})


@dataclass(frozen=True)
class Snapshot:
    """The demo's convoys issue by issue, and every message of the town, at one moment."""

    convoys: tuple[ConvoyProgress, ...]
    mail: tuple[Message, ...]

    @property
    def landed(self) -> bool:
        """Every convoy merged, and its CONVOY_LANDED mail sent."""
        announced = {c for m in self.mail if m.kind is MessageType.CONVOY_LANDED for c in m.about(CONVOY_LABEL)}
        return bool(self.convoys) and all(c.landed and c.name in announced for c in self.convoys)

    def help_wanted(self) -> list[Message]:
        """HELP mail: something a person must look at, which waiting will not cure."""
        return [m for m in self.mail if m.kind is MessageType.HELP]


@dataclass(frozen=True)
class Event:
    subject: str  # an issue id, or a message id
    text: str
    style: str = ""  # a Settings.paint style: green for landings, yellow for send-backs


class DemoWatch:
    """Snapshots of one town, its manifests read once (the demo does not change them)."""

    def __init__(self, desired: DesiredState) -> None:
        self.desired = desired
        self.stores = StoreCache()
        self.mail_store: IssueStore = town_store(desired)
        self.last = Snapshot((), ())

    @property
    def reworked(self) -> list[Rework]:
        """The merges sent back to their workers so far."""
        return reworks(self.last.mail)

    def snapshot(self) -> Snapshot:
        rigs = {r.name: observe_rig(self.desired, r, self.stores) for r in self.desired.rigs}
        convoys = tuple(convoy_progress(c, rigs[c.rig]) for c in self.desired.convoys if c.rig in rigs)
        try:
            mail = tuple(every_message(self.mail_store))
        except (ReconcilerError, OSError):
            mail = ()  # not written yet, or being written: the next look sees it
        self.last = Snapshot(convoys, mail)
        return self.last

    def history(self) -> dict[str, list[str]]:
        """Each rig's branch as ``git log --oneline`` shows it."""
        found = {}
        for rig in self.desired.rigs:
            try:
                found[rig.name] = log_oneline(Path(rig_repo_path(self.desired, rig)), rig.branch)
            except ReconcilerError as exc:
                found[rig.name] = [f"(its log could not be read: {exc})"]
        return found


def events(before: Snapshot | None, after: Snapshot) -> list[Event]:
    """What changed from ``before`` to ``after``: issues moving on, mail sent and read (pure).
    With no ``before``, where each issue starts."""
    found: list[Event] = []
    was = {(c.name, i.id): i for c in before.convoys for i in c.issues} if before else {}
    for convoy in after.convoys:
        for issue in convoy.issues:
            old = was.get((convoy.name, issue.id))
            if old is None or (old.state, old.worker, old.merge_failed) != (issue.state, issue.worker,
                                                                          issue.merge_failed):
                found.append(_moved(convoy.rig, old, issue))
        if before is not None and convoy.landed and not next(
                (c.landed for c in before.convoys if c.name == convoy.name), False):
            found.append(Event(convoy.name, f"convoy {convoy.name}: every issue merged", "green"))
    seen = {m.id: m for m in before.mail} if before else {}
    for m in after.mail:
        old_message = seen.get(m.id)
        if old_message is None and m.kind not in QUIET_MAIL:
            style = "green" if m.kind is MessageType.CONVOY_LANDED else "yellow"
            found.append(Event(m.id, f"mail {m.kind.value} {m.sender} -> {m.to}: {m.subject}", style))
        elif old_message is not None and not old_message.read and m.read and m.kind is MessageType.REWORK_REQUEST:
            found.append(Event(m.id, f"{m.to} read its {m.kind.value} ({m.id})"))
    return found


def _moved(rig: str, old: IssueProgress | None, new: IssueProgress) -> Event:
    who = f"{rig}/{new.worker}" if new.worker else (new.assignee or "someone")
    match new.state:
        case IssueState.hooked:
            return Event(new.id, f"{new.id}: hooked to {who}; its session starts")
        case IssueState.working if new.merge_failed:
            return Event(new.id, f"{new.id}: its merge failed; back to {who} for rework", "yellow")
        case IssueState.working if old is not None and old.merge_failed:
            return Event(new.id, f"{new.id}: {who} is reworking it")
        case IssueState.working:
            return Event(new.id, f"{new.id}: {who} is working on it")
        case IssueState.done:
            again = " again" if old is not None and old.merge_failed else ""
            return Event(new.id, f"{new.id}: {who} reported it done{again}; waiting in the merge queue")
        case IssueState.merged:
            return Event(new.id, f"{new.id}: merged and closed", "green")
        case IssueState.waiting if old is not None and old.state is IssueState.blocked:
            return Event(new.id, f"{new.id}: no longer blocked; waiting for a worker")
    return Event(new.id, f"{new.id}: {new.describe(rig)}")


@dataclass(frozen=True)
class Rework:
    """A merge sent back to its worker, and whether that same worker landed it after."""

    issue: str
    worker: str
    why: str  # what the REWORK_REQUEST says went wrong (the files in conflict, a gate)
    merged: bool


def reworks(mail: tuple[Message, ...] | list[Message]) -> list[Rework]:
    """Each REWORK_REQUEST and how it ended, from the mail alone (pure)."""
    found = []
    for n, m in enumerate(mail):
        if m.kind is not MessageType.REWORK_REQUEST or not m.about(ISSUE_LABEL):
            continue
        issue = m.about(ISSUE_LABEL)[0]
        merged = any(later.kind is MessageType.MERGED and later.to == m.to and issue in later.subject.split()
                     for later in mail[n + 1:])
        # The body's first paragraph: "Your branch ... did not land on main:", then why.
        lines = [line.strip() for line in m.body.strip().split("\n\n", 1)[0].splitlines()]
        found.append(Rework(issue, m.to, " ".join(line for line in lines[1:] if line), merged))
    return found
