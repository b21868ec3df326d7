"""The embedded store: a ``bd export`` JSONL file read and written in place.

The file is the only copy of someone's work, so the rules are:

* never rewrite after a failed parse (StoreCorrupt names the line, file untouched);
* every line we did not change is written back byte for byte, in order;
  a changed record keeps its key order, unknown fields and spacing style
  (the line handling lives in ``jsonl_lines``);
* every read-modify-write holds an flock on a sibling ``.lock`` file and
  re-reads the file inside it; the new content goes to a temp file that is
  fsynced and renamed over the old one, so readers see old or new, never half.
"""

from __future__ import annotations

import builtins
import copy
import fcntl
import json
import logging
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from reconciler.clients.beads import (
    PARENT_TYPE,
    UNSET,
    Issue,
    IssueExists,
    Readiness,
    _Unset,
    blocking,
    check_new_id,
    hook_needed,
    ids,
    status_set,
    unhook_needed,
)
from reconciler.clients.beads.gitignore import ignore_in_repository
from reconciler.clients.beads.jsonl_lines import Line, Record, Snapshot, dump_like, dump_new, parse
from reconciler.clients.files import open_no_follow, write_atomic
from reconciler.errors import LinkRefused, StoreError

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the file ------------------------------------------------------------------


class JsonlStore:
    """Beads issues in a ``.beads/issues.jsonl`` file (``bd export`` format)."""

    def __init__(self, path: Path, prefix: str, actor: str = "gt") -> None:
        self.path = Path(path)
        self.prefix = prefix
        self.actor = actor
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        # (file bytes, parsed snapshot): reused only when the bytes are identical.
        self._cache: tuple[bytes, Snapshot] | None = None

    @classmethod
    def init(cls, path: Path, prefix: str, actor: str = "gt") -> JsonlStore:
        """Create an empty store file if there is none; an existing file is never emptied."""
        store = cls(path, prefix, actor)
        with store._locked(exclusive=True):
            if not store.path.exists():
                write_atomic(store.path, b"")
                log.info("created empty beads store %s", store.path)
        return store

    # -- reads -----------------------------------------------------------------

    def get(self, issue_id: str) -> Issue:
        _, line = self._read().find(issue_id)
        assert line.issue is not None
        return line.issue

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        assignee: str | None = None,
        label: str | None = None,
    ) -> builtins.list[Issue]:
        wanted = status_set(status)
        return [
            issue
            for issue in self._read().issues()
            if (wanted is None or issue.status in wanted)
            and (assignee is None or issue.assignee == assignee)
            and (label is None or label in issue.labels)
        ]

    def overview(self, ids: Collection[str], assignee_prefix: str, parents: Collection[str] = ()
                 ) -> tuple[builtins.list[Issue], dict[str, tuple[str, ...]]]:
        wanted, parents = set(ids), set(parents)
        facts: dict[str, Readiness] = {}
        chosen: builtins.list[Issue] = []
        for line in self._read().live():
            assert line.issue_id is not None and line.record is not None
            fact = facts[line.issue_id] = Readiness.from_record(line.issue_id, line.record, line.status)
            assignee = line.record.get("assignee")
            if line.issue_id in wanted or (isinstance(assignee, str) and assignee.startswith(assignee_prefix)) \
                    or fact.parent in parents:
                issue = line.issue
                assert issue is not None
                chosen.append(issue)
        return chosen, blocking(facts)

    def ready(self) -> builtins.list[Issue]:
        """What ``bd ready`` lists: open, not ephemeral, not deferred, and not blocked (by a blocking
        dependency whose target is not done, or through a blocked parent)."""
        live = list(self._read().issues())
        blocked = blocking({i.id: Readiness.of(i) for i in live})
        now = _now()
        found = [i for i in live if i.status == "open" and not i.ephemeral and not i.deferred(now)
                 and i.id not in blocked]
        return sorted(found, key=Issue.sort_key)

    # -- writes ----------------------------------------------------------------

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
        if not title.strip():
            raise ValueError("an issue needs a title")
        with self._locked(exclusive=True):
            snap = self._load()
            if issue_id is not None:
                check_new_id(issue_id, self.prefix)
                if issue_id in snap.index:
                    raise IssueExists(issue_id)
            if parent is not None:
                snap.find(parent)  # IssueNotFound: bd refuses a child of nothing too
            new = issue_id or (_child_id(parent, snap.index) if parent is not None else
                               ids.new_id(self.prefix, title, description, self.actor, snap.index))
            now = _now()
            record: Record = {"_type": "issue", "id": new, "title": title}
            if description:
                record["description"] = description
            record |= {"status": "open", "priority": priority, "issue_type": issue_type}
            if assignee:
                record["assignee"] = assignee
            record |= {"created_at": now, "created_by": self.actor, "updated_at": now}
            if label_list := list(dict.fromkeys(labels)):
                record["labels"] = label_list
            deps = [_blocks_edge(new, target, now, self.actor) for target in blocked_by]
            if parent is not None:
                deps.append(_blocks_edge(new, parent, now, self.actor) | {"type": PARENT_TYPE})
            if deps:
                record["dependencies"] = deps
            issue = Issue.from_record(record)
            raw = dump_new(record)
            self._commit(snap.appended(Line(raw, record, issue)))
        log.info("created issue %s", new)
        return issue

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
        adding, removing = list(add_labels), set(remove_labels)

        def edit(record: Record, now: str) -> None:
            if status is not None:
                _set_status(record, status, now)
            if not isinstance(assignee, _Unset):
                _set_assignee(record, assignee)
            if adding or removing:
                _edit_labels(record, adding, removing)
            if notes is not None:
                _set_notes(record, notes)

        return self._modify(issue_id, edit, "updated")

    def close(self, issue_id: str, reason: str) -> Issue:
        def edit(record: Record, now: str) -> None:
            _set_status(record, "closed", now)
            record["close_reason"] = reason

        return self._modify(issue_id, edit, "closed")

    def add_dependency(self, issue_id: str, depends_on: str, dep_type: str = "blocks") -> Issue:
        def edit(record: Record, now: str) -> None:
            current = record.get("dependencies")
            deps = list(current) if isinstance(current, list) else []
            if not any(isinstance(d, dict) and d.get("depends_on_id") == depends_on
                       and (d.get("type") or "blocks") == dep_type for d in deps):
                record["dependencies"] = [*deps, _blocks_edge(issue_id, depends_on, now, self.actor)
                                          | {"type": dep_type}]

        with self._locked(exclusive=True):
            self._load().find(depends_on)  # an edge to nothing would never block
        return self._modify(issue_id, edit, "linked")

    def hook(self, issue_id: str, assignee: str) -> Issue:
        def edit(record: Record, now: str) -> None:
            if hook_needed(Issue.from_record(record), assignee):
                record["status"] = "hooked"
                _set_assignee(record, assignee)

        return self._modify(issue_id, edit, "hooked")

    def unhook(self, issue_id: str, assignee: str) -> Issue:
        def edit(record: Record, now: str) -> None:
            if unhook_needed(Issue.from_record(record), assignee):
                _set_status(record, "open", now)
                _set_assignee(record, None)

        return self._modify(issue_id, edit, "unhooked")

    # -- machinery -------------------------------------------------------------

    def _modify(self, issue_id: str, edit: Callable[[Record, str], None], verb: str) -> Issue:
        """Read-modify-write one record under the lock; no change means no write."""
        with self._locked(exclusive=True):
            snap = self._load()
            pos, line = snap.find(issue_id)
            assert line.record is not None and line.issue is not None
            record = copy.deepcopy(line.record)
            now = _now()
            edit(record, now)  # may raise HookConflict: nothing has been written
            if record == line.record:
                return line.issue
            record["updated_at"] = now
            issue = Issue.from_record(record)
            self._commit(snap.replaced(pos, Line(dump_like(record, line.raw), record, issue)))
        log.info("%s issue %s", verb, issue_id)
        return issue

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        fd: int | None = None
        try:
            if exclusive:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            ignore_in_repository(self.lock_path, self.path.with_name(f".{self.path.name}.*.tmp"))
            fd = open_no_follow(self.lock_path, os.O_RDWR | os.O_CREAT)
        except LinkRefused as exc:
            raise StoreError(str(exc)) from exc
        except OSError as exc:
            if exclusive:
                raise StoreError(f"cannot lock {self.lock_path}: {exc.strerror}") from exc
            # A read-only or absent directory: atomic renames keep plain reads whole.
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the lock

    def _read(self) -> Snapshot:
        with self._locked(exclusive=False):
            return self._load()

    def _load(self) -> Snapshot:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror}") from exc
        cached = self._cache
        if cached is not None and cached[0] == data:
            return cached[1]
        known = {line.raw: line for line in cached[1].lines} if cached else {}
        snap = parse(data, self.path, known)
        self._cache = (data, snap)
        return snap

    def _commit(self, snap: Snapshot) -> None:
        database = bd_database(self.path.parent)
        if database is not None:
            raise StoreError(
                f"{self.path.parent} holds a bd database ({database}): its issues.jsonl is only bd's "
                "export, and a write there is lost at bd's next export. Set beads.backend: bd in the "
                "Town manifest so gt writes through bd")
        data = snap.render()
        self._remove_stale_temps()
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror}") from exc
        self._cache = (data, snap)

    def _remove_stale_temps(self) -> None:
        """Temp files left by a writer that died; we hold the lock, so none is live."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with suppress(FileNotFoundError):
                leftover.unlink()
                log.warning("removed stale temp file %s", leftover)


# -- record edits ----------------------------------------------------------------


def _blocks_edge(issue_id: str, target: str, now: str, actor: str) -> Record:
    return {
        "issue_id": issue_id,
        "depends_on_id": target,
        "type": "blocks",
        "created_at": now,
        "created_by": actor,
    }


def _child_id(parent: str, taken: Collection[str]) -> str:
    """The next child id of ``parent``, as bd numbers them: ``<parent>.1``, ``<parent>.2``, ..."""
    head = f"{parent}."
    numbers = [int(tail) for i in taken if i.startswith(head) and (tail := i[len(head):]).isdigit()]
    return f"{head}{max(numbers, default=0) + 1}"


def _set_status(record: Record, status: str, now: str) -> None:
    """Keep the invariant: ``closed_at`` is set exactly when the status is closed."""
    record["status"] = status
    if status == "closed":
        if not record.get("closed_at"):
            record["closed_at"] = now
    else:
        record.pop("closed_at", None)


def _set_assignee(record: Record, assignee: str | None) -> None:
    if assignee:
        record["assignee"] = assignee
    else:
        record.pop("assignee", None)  # bd omits an empty assignee


def _set_notes(record: Record, notes: str) -> None:
    if notes:
        record["notes"] = notes
    else:
        record.pop("notes", None)  # bd omits empty notes


def _edit_labels(record: Record, adding: Iterable[str], removing: set[str]) -> None:
    current = record.get("labels")
    labels = list(current) if isinstance(current, list) else []
    for label in adding:
        if label not in labels:
            labels.append(label)
    labels = [x for x in labels if x not in removing]
    if labels or "labels" in record:
        record["labels"] = labels



# What bd keeps its database in, by version: Dolt (0.50-0.58), embedded Dolt (0.61 and later),
# and a metadata.json naming a Dolt server. SQLite's beads.db (0.49 and before, and beads_rust)
# is not here: then the JSONL file was the canonical store and bd re-imported it.
BD_DATABASES = ("embeddeddolt", "dolt")


def bd_database(beads_dir: Path) -> str | None:
    """The bd database in ``beads_dir``, if bd manages it (then the JSONL file is bd's export)."""
    for name in BD_DATABASES:
        if (beads_dir / name).exists():
            return name
    try:
        metadata = json.loads((beads_dir / "metadata.json").read_text())
    except (OSError, ValueError):
        return None
    if isinstance(metadata, dict) and any(str(k).startswith("dolt") or str(v).lower() == "dolt"
                                          for k, v in metadata.items()):
        return "metadata.json (Dolt)"
    return None
