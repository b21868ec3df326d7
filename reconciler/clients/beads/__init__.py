"""The issue store: Beads issues as seen by the reconciler.

Two backends share one protocol: ``embedded`` reads and writes a ``bd export``
JSONL file itself, ``bd`` drives the real CLI. Both keep Gas Town's hook
convention: a hooked issue has ``status=hooked`` and ``assignee=<agent>``.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, Self

from reconciler.errors import HookConflict, StoreError
from reconciler.model.observed import DONE_STATUSES, HELD_STATUSES  # the status sets live with the model

__all__ = [
    "UNSET",
    "Dependency",
    "InvalidIssueId",
    "Issue",
    "IssueExists",
    "IssueStore",
    "hook_needed",
    "unhook_needed",
]



class _Unset:
    """Marks an argument that was not passed, so ``None`` can mean "clear"."""

    _instance: Self | None = None

    def __new__(cls) -> Self:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()


class IssueExists(StoreError):
    def __init__(self, issue_id: str) -> None:
        self.issue_id = issue_id
        super().__init__(f"issue {issue_id} already exists")


class InvalidIssueId(StoreError):
    def __init__(self, issue_id: str, prefix: str) -> None:
        self.issue_id, self.prefix = issue_id, prefix
        super().__init__(f"issue id {issue_id!r} does not have the store prefix {prefix}-")


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _edges(issue_id: str, deps: Iterable[Dependency]) -> tuple[tuple[str, ...], str | None]:
    """An issue's own blocking targets, and its parent."""
    own = [d for d in deps if d.issue_id in (issue_id, "")]
    return (tuple(d.depends_on_id for d in own if d.type in BLOCKING_TYPES),
            next((d.depends_on_id for d in own if d.type == PARENT_TYPE), None))


def _dependencies(record: Mapping[str, Any], issue_id: str) -> tuple[Dependency, ...]:
    raw = record.get("dependencies")
    found = (Dependency.from_record(d, issue_id) for d in raw if isinstance(d, Mapping)) \
        if isinstance(raw, builtins.list) else ()
    deps = tuple(d for d in found if d is not None)
    parent = record.get("parent")  # bd list and show name the parent beside (or instead of) the edge
    if isinstance(parent, str) and parent and not any(d.type == PARENT_TYPE for d in deps):
        deps += (Dependency(issue_id, parent, PARENT_TYPE),)
    return deps


def record_status(record: Mapping[str, Any]) -> str:
    """A record's status; a record without one is open."""
    return str(record.get("status") or "open")


def _int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return default


# Dependency types that keep an issue from being ready while their target is not done (as bd
# ready counts them); parent-child blocks through the parent: a child of a blocked issue waits.
BLOCKING_TYPES = frozenset({"blocks", "conditional-blocks", "waits-for"})
PARENT_TYPE = "parent-child"


@dataclass(frozen=True, slots=True)
class Dependency:
    """An edge: ``issue_id`` depends on ``depends_on_id`` with ``type``."""

    issue_id: str
    depends_on_id: str
    type: str
    created_at: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any], owner: str = "") -> Dependency | None:
        """Read an export edge, or a ``show`` IssueDetails entry; None if neither."""
        if isinstance(record.get("depends_on_id"), str):
            return cls(
                issue_id=str(record.get("issue_id") or owner),
                depends_on_id=record["depends_on_id"],
                type=str(record.get("type") or "blocks"),
                created_at=_opt_str(record.get("created_at")),
            )
        # `bd show` lists the other issue's whole record plus dependency_type.
        if isinstance(record.get("id"), str) and "dependency_type" in record:
            return cls(
                issue_id=owner,
                depends_on_id=record["id"],
                type=str(record.get("dependency_type") or "blocks"),
                created_at=None,
            )
        return None


@dataclass(frozen=True, slots=True)
class Issue:
    id: str
    title: str
    description: str = ""
    status: str = "open"
    priority: int = 2
    issue_type: str = "task"
    assignee: str | None = None
    labels: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    created_at: str | None = None
    updated_at: str | None = None
    closed_at: str | None = None
    close_reason: str | None = None
    design: str = ""
    acceptance_criteria: str = ""
    ephemeral: bool = False
    defer_until: str | None = None
    notes: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Issue:
        """Build from a Beads JSON record; missing, null or odd fields get defaults."""
        issue_id = str(record.get("id") or "")
        labels = record.get("labels")
        return cls(
            id=issue_id,
            title=str(record.get("title") or ""),
            description=str(record.get("description") or ""),
            status=record_status(record),
            priority=_int(record.get("priority"), 0),  # bd's export omits a zero priority
            issue_type=str(record.get("issue_type") or "task"),
            assignee=_opt_str(record.get("assignee")),
            labels=tuple(str(x) for x in labels) if isinstance(labels, builtins.list) else (),
            dependencies=_dependencies(record, issue_id),
            created_at=_opt_str(record.get("created_at")),
            updated_at=_opt_str(record.get("updated_at")),
            closed_at=_opt_str(record.get("closed_at")),
            close_reason=_opt_str(record.get("close_reason")),
            design=str(record.get("design") or ""),
            acceptance_criteria=str(record.get("acceptance_criteria") or ""),
            ephemeral=record.get("ephemeral") is True,
            defer_until=_opt_str(record.get("defer_until")),
            notes=str(record.get("notes") or ""),
        )

    @property
    def blocked_by(self) -> tuple[str, ...]:
        """Targets of this issue's own blocking dependencies (blocks, conditional-blocks, waits-for)."""
        return _edges(self.id, self.dependencies)[0]

    @property
    def parent(self) -> str | None:
        """The issue this one is a child of (its own parent-child dependency)."""
        return _edges(self.id, self.dependencies)[1]

    def deferred(self, now_iso: str) -> bool:
        """Deferred by status, or until a time still ahead (any UTC offset; an unreadable time defers)."""
        if self.status == "deferred":
            return True
        if self.defer_until is None:
            return False
        from datetime import datetime

        try:
            until = datetime.fromisoformat(self.defer_until)  # Python 3.11 reads a trailing Z
            now = datetime.fromisoformat(now_iso)
            return until > now if until.tzinfo else until > now.replace(tzinfo=None)
        except ValueError:
            return True

    def sort_key(self) -> tuple[int, str, str]:
        """The order ``ready`` answers in: priority, then age, then id."""
        return (self.priority, self.created_at or "", self.id)


def hook_needed(issue: Issue, assignee: str) -> bool:
    """The hook compare-and-set rule: True to write, False if already ours.

    Allowed iff the issue is open and free, or already held by ``assignee``
    (hooked or in_progress); anything else raises HookConflict.
    """
    if issue.status == "open" and issue.assignee is None:
        return True
    if issue.assignee == assignee and issue.status in HELD_STATUSES:
        return False
    raise HookConflict(issue.id, issue.status, issue.assignee, assignee)


def unhook_needed(issue: Issue, assignee: str) -> bool:
    """The unhook rule: True to write, False if already open and free.

    Only the holder may unhook; a closed issue is never reopened this way.
    """
    if issue.status == "open" and issue.assignee is None:
        return False
    if issue.assignee == assignee and issue.status in HELD_STATUSES | {"open"}:
        return True
    raise HookConflict(issue.id, issue.status, issue.assignee, assignee)


def check_new_id(issue_id: str, prefix: str) -> None:
    """An explicit id must carry the store's prefix (children ``X.N`` included)."""
    head = f"{prefix}-"
    if not issue_id.startswith(head) or len(issue_id) == len(head):
        raise InvalidIssueId(issue_id, prefix)


def status_set(status: str | Iterable[str] | None) -> frozenset[str] | None:
    """Normalise a ``status=`` filter: one name, several, or None for all."""
    if status is None:
        return None
    if isinstance(status, str):
        return frozenset({status})
    return frozenset(status)


class IssueStore(Protocol):
    """What the reconciler needs from Beads; both backends implement it."""

    prefix: str

    def get(self, issue_id: str) -> Issue:
        """The issue; IssueNotFound if absent or a tombstone."""
        ...

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        assignee: str | None = None,
        label: str | None = None,
    ) -> builtins.list[Issue]:
        """Issues in store order; tombstones and non-issue records never appear."""
        ...

    def ready(self) -> builtins.list[Issue]:
        """Open issues with no live ``blocks`` target, by (priority, created_at, id)."""
        ...

    def overview(self, ids: Collection[str], assignee_prefix: str, parents: Collection[str] = ()
                 ) -> tuple[builtins.list[Issue], dict[str, tuple[str, ...]]]:
        """The issues named in ``ids``, assigned under ``assignee_prefix`` or children of one of
        ``parents``, in store order, and what blocks each blocked issue of the whole store
        (``blocking``); tombstones are in neither."""
        ...

    def create(
        self,
        title: str,
        *,
        description: str = "",
        priority: int = 2,
        issue_type: str = "task",
        labels: Iterable[str] = (),
        assignee: str | None = None,
        blocked_by: Iterable[str] = (),
        issue_id: str | None = None,
        parent: str | None = None,
    ) -> Issue:
        """A new open issue; ``issue_id`` must carry the prefix and be unused. With ``parent`` it is
        that issue's child (a parent-child dependency), numbered ``<parent>.N`` as bd numbers one."""
        ...

    def add_dependency(self, issue_id: str, depends_on: str, dep_type: str = "blocks") -> Issue:
        """``issue_id`` depends on ``depends_on`` (``blocks``: it is not ready while that is open);
        already so, nothing changes."""
        ...

    def update(
        self,
        issue_id: str,
        *,
        status: str | None = None,
        assignee: str | None | _Unset = UNSET,
        add_labels: Iterable[str] = (),
        remove_labels: Iterable[str] = (),
        notes: str | None = None,
    ) -> Issue:
        """Change fields; ``assignee=None`` clears it, UNSET leaves it; ``notes`` replaces the
        notes (None leaves them)."""
        ...

    def close(self, issue_id: str, reason: str) -> Issue:
        """Status closed with ``closed_at`` and ``close_reason``."""
        ...

    def hook(self, issue_id: str, assignee: str) -> Issue:
        """Compare-and-set per ``hook_needed``; HookConflict if held by another."""
        ...

    def unhook(self, issue_id: str, assignee: str) -> Issue:
        """Back to open and unassigned, per ``unhook_needed``."""
        ...


@dataclass(frozen=True, slots=True)
class Readiness:
    """What readiness needs of one issue: its status, its blocking targets and its parent."""

    status: str
    blockers: tuple[str, ...] = ()
    parent: str | None = None

    @classmethod
    def of(cls, issue: Issue) -> Readiness:
        return cls(issue.status, issue.blocked_by, issue.parent)

    @classmethod
    def from_record(cls, issue_id: str, record: Mapping[str, Any], status: str) -> Readiness:
        """The same facts read from a store record, without building its Issue."""
        return cls(status, *_edges(issue_id, _dependencies(record, issue_id)))


def blocking(issues: Mapping[str, Readiness]) -> dict[str, tuple[str, ...]]:
    """What keeps each blocked issue from being ready, as ``bd ready`` counts it: its blocking
    targets that exist and are not done, else its parent when that parent is blocked itself
    (through any number of parents). Issues not in the answer are not blocked."""
    memo: dict[str, tuple[str, ...]] = {}

    def why(issue_id: str, path: frozenset[str]) -> tuple[str, ...]:
        if issue_id in memo:
            return memo[issue_id]
        item = issues.get(issue_id)
        if item is None or issue_id in path:  # unknown, or a parent cycle: nothing more blocks
            return ()
        live = tuple(t for t in item.blockers if t in issues and issues[t].status not in DONE_STATUSES)
        if not live and item.parent is not None and why(item.parent, path | {issue_id}):
            live = (item.parent,)
        memo[issue_id] = live
        return live

    return {issue_id: found for issue_id in issues if (found := why(issue_id, frozenset()))}
