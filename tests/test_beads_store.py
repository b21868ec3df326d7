"""The embedded JSONL store: real files, real processes, nothing mocked."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.clients.beads import (
    UNSET,
    InvalidIssueId,
    Issue,
    IssueExists,
)
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.stores import open_store
from reconciler.errors import HookConflict, IssueNotFound, StoreCorrupt, StoreError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "beads"
T0 = "2026-01-01T00:00:00Z"


def rec(issue_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"_type": "issue", "id": issue_id, "title": f"title {issue_id}"}
    base |= {"status": "open", "priority": 2, "issue_type": "task"}
    base |= {"created_at": T0, "updated_at": T0}
    return base | fields


def blocks(issue_id: str, target: str) -> dict[str, Any]:
    return {"issue_id": issue_id, "depends_on_id": target, "type": "blocks", "created_at": T0}


def write_lines(path: Path, lines: list[str], newline_at_end: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + ("\n" if newline_at_end else ""), encoding="utf-8")


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    write_lines(path, [json.dumps(r, separators=(",", ":")) for r in records])


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / ".beads" / "issues.jsonl"


@pytest.fixture
def store(path: Path) -> JsonlStore:
    return JsonlStore(path, "gt", actor="mayor")


# -- basics --------------------------------------------------------------------


def test_missing_file_is_an_empty_store_and_reads_create_nothing(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / ".beads" / "issues.jsonl", "gt")
    assert store.list() == [] and store.ready() == []
    with pytest.raises(IssueNotFound):
        store.get("gt-abc")
    assert not (tmp_path / ".beads").exists()


def test_create_makes_the_directory_and_a_compact_typed_record(store: JsonlStore) -> None:
    issue = store.create("First", description="why", priority=1, labels=["a", "b", "a"])
    raw = store.path.read_text(encoding="utf-8")
    assert raw.endswith("\n") and raw.count("\n") == 1
    assert raw.startswith('{"_type":"issue","id":"gt-') and '": ' not in raw
    record = json.loads(raw)
    assert record["created_by"] == "mayor" and record["labels"] == ["a", "b"]
    assert issue == store.get(issue.id)
    assert (issue.title, issue.description, issue.priority, issue.status) == (
        "First",
        "why",
        1,
        "open",
    )
    assert issue.created_at == issue.updated_at and issue.created_at is not None
    assert issue.created_at.endswith("Z") and issue.closed_at is None
    assert store.lock_path == store.path.with_name("issues.jsonl.lock") and store.lock_path.exists()


def test_create_gives_unique_ids_and_records_blockers(store: JsonlStore) -> None:
    made = [store.create("same title") for _ in range(30)]
    assert len({i.id for i in made}) == 30
    child = store.create("later", blocked_by=[made[0].id], assignee="deacon/")
    assert child.blocked_by == (made[0].id,) and child.assignee == "deacon/"
    assert [i.id for i in store.list()] == [i.id for i in made] + [child.id]


def test_create_with_explicit_id(store: JsonlStore, path: Path) -> None:
    write_records(path, [rec("gt-dead", status="tombstone")])
    assert store.create("convoy", issue_id="gt-cv-1", issue_type="convoy").id == "gt-cv-1"
    with pytest.raises(IssueExists):
        store.create("again", issue_id="gt-cv-1")
    with pytest.raises(IssueExists):
        store.create("over a tombstone", issue_id="gt-dead")
    with pytest.raises(InvalidIssueId):
        store.create("wrong prefix", issue_id="hq-1")
    with pytest.raises(ValueError):
        store.create("   ")


def test_children_are_numbered_under_their_parent_as_bd_numbers_them(store: JsonlStore, path: Path) -> None:
    write_records(path, [rec("gt-epic"), rec("gt-epic.7", status="tombstone"), rec("gt-epic.x")])
    first = store.create("one", parent="gt-epic", blocked_by=["gt-epic"])
    second = store.create("two", parent="gt-epic")
    assert (first.id, second.id) == ("gt-epic.8", "gt-epic.9")  # after every number taken, tombstones too
    assert first.parent == "gt-epic" and first.blocked_by == ("gt-epic",) and second.blocked_by == ()
    record = json.loads(path.read_text().splitlines()[-2])
    assert [(d["depends_on_id"], d["type"]) for d in record["dependencies"]] == [
        ("gt-epic", "blocks"), ("gt-epic", "parent-child")]
    assert store.create("grandchild", parent="gt-epic.8").id == "gt-epic.8.1"
    with pytest.raises(IssueNotFound):
        store.create("orphan", parent="gt-none")
    # The children of a parent asked for come with the issues chosen by id and assignee.
    chosen, _ = store.overview({"gt-epic"}, "nobody/", parents={"gt-epic"})
    assert [i.id for i in chosen] == ["gt-epic", "gt-epic.8", "gt-epic.9"]
    assert [i.id for i in store.overview({"gt-epic"}, "nobody/")[0]] == ["gt-epic"]


def test_add_dependency_blocks_until_its_target_closes_and_is_written_once(store: JsonlStore, path: Path) -> None:
    write_records(path, [rec("gt-a"), rec("gt-b"), rec("gt-review")])
    store.add_dependency("gt-review", "gt-a")
    before = path.read_bytes()
    again = store.add_dependency("gt-review", "gt-a")
    assert path.read_bytes() == before and again.blocked_by == ("gt-a",)  # nothing to change: no write
    store.add_dependency("gt-review", "gt-b")
    assert store.overview((), "")[1] == {"gt-review": ("gt-a", "gt-b")}
    store.close("gt-a", "done")
    store.close("gt-b", "done")
    assert "gt-review" in [i.id for i in store.ready()]
    with pytest.raises(IssueNotFound):
        store.add_dependency("gt-review", "gt-none")


def test_a_parent_named_beside_the_edges_counts_as_the_parent() -> None:
    """bd list and show answer a ``parent`` field; bd's list may leave the edges out."""
    issue = Issue.from_record({"id": "gt-a.1", "title": "t", "parent": "gt-a"})
    assert issue.parent == "gt-a"
    edge = {"issue_id": "gt-a.1", "depends_on_id": "gt-b", "type": "parent-child"}
    assert Issue.from_record({"id": "gt-a.1", "title": "t", "parent": "gt-a", "dependencies": [edge]}).parent == "gt-b"


def test_init_creates_an_empty_file_and_never_truncates(path: Path) -> None:
    JsonlStore.init(path, "gt")
    assert path.read_bytes() == b""
    store = JsonlStore(path, "gt")
    store.create("keep me")
    before = path.read_bytes()
    JsonlStore.init(path, "gt")
    assert path.read_bytes() == before


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    store = open_store("embedded", tmp_path, "gt", actor="mayor")
    assert isinstance(store, JsonlStore) and store.path == tmp_path / ".beads" / "issues.jsonl"
    assert store.prefix == "gt"
    with pytest.raises(StoreError):
        open_store("sqlite", tmp_path, "gt")


def test_a_second_store_sees_writes_from_another(store: JsonlStore, path: Path) -> None:
    issue = store.create("shared")
    other = JsonlStore(path, "gt", actor="other")
    assert other.get(issue.id).status == "open"
    store.hook(issue.id, "a")
    assert other.get(issue.id).assignee == "a"
    store.unhook(issue.id, "a")  # same size as before the hook: the cache must not care
    assert other.get(issue.id).assignee is None
    assert other.get(issue.id).status == "open"


# -- update, close, timestamps ---------------------------------------------------


def test_update_fields_and_timestamps(store: JsonlStore, path: Path) -> None:
    write_records(path, [rec("gt-a", assignee="x", labels=["keep", "drop"])])
    done = store.update("gt-a", status="closed")
    assert done.closed_at is not None and done.updated_at != T0
    reopened = store.update("gt-a", status="open", add_labels=["new"], remove_labels=["drop"])
    assert reopened.closed_at is None and "closed_at" not in path.read_text()
    assert reopened.labels == ("keep", "new") and reopened.assignee == "x"
    assert store.update("gt-a", assignee=UNSET).assignee == "x"
    assert store.update("gt-a", assignee=None).assignee is None
    assert "assignee" not in json.loads(path.read_text())
    with pytest.raises(IssueNotFound):
        store.update("gt-nope", status="open")


def test_a_no_change_update_does_not_rewrite(store: JsonlStore, path: Path) -> None:
    write_records(path, [rec("gt-a", labels=["x"])])
    before = path.read_bytes()
    assert store.update("gt-a", status="open", add_labels=["x"]).updated_at == T0
    assert path.read_bytes() == before


def test_close_sets_reason_and_closed_at(store: JsonlStore, path: Path) -> None:
    write_records(path, [rec("gt-a", assignee="gastown/polecats/toast", status="hooked")])
    closed = store.close("gt-a", "merged")
    assert (closed.status, closed.close_reason) == ("closed", "merged")
    assert closed.closed_at == closed.updated_at and closed.assignee == "gastown/polecats/toast"
    assert store.get("gt-a") == closed


def test_file_mode_is_preserved_and_stale_temps_are_removed(store: JsonlStore, path: Path) -> None:
    write_records(path, [rec("gt-a")])
    path.chmod(0o640)
    stale = path.with_name(".issues.jsonl.dead1234.tmp")
    stale.write_text("half a file")
    store.close("gt-a", "done")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not stale.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["issues.jsonl", "issues.jsonl.lock"]


# -- reading: ready, filters, tombstones ---------------------------------------------


def ready_world(path: Path) -> None:
    records = [
        rec("gt-free", priority=2, created_at="2026-01-03T00:00:00Z"),
        rec("gt-blocked", priority=0, dependencies=[blocks("gt-blocked", "gt-blocker")]),
        rec("gt-blocker", priority=1, labels=["x"]),
        rec(
            "gt-after-closed",
            priority=2,
            created_at="2026-01-02T00:00:00Z",
            dependencies=[blocks("gt-after-closed", "gt-done")],
        ),
        rec("gt-done", status="closed", closed_at=T0, labels=["x"]),
        rec(
            "gt-after-missing",
            priority=2,
            created_at="2026-01-02T00:00:00Z",
            dependencies=[blocks("gt-after-missing", "gt-gone")],
        ),
        rec("gt-after-tomb", priority=3, dependencies=[blocks("gt-after-tomb", "gt-tomb")]),
        rec("gt-tomb", status="tombstone", deleted_at=T0),
        rec("gt-after-wip", dependencies=[blocks("gt-after-wip", "gt-wip")]),
        rec("gt-wip", status="in_progress", assignee="a", labels=["x"]),
        rec(
            "gt-child",
            priority=4,
            dependencies=[
                {"issue_id": "gt-child", "depends_on_id": "gt-blocker", "type": "parent-child"}
            ],
        ),
        rec("gt-hooked", status="hooked", assignee="a"),
        {"_type": "memory", "key": "k", "value": "v"},
    ]
    untyped = {
        "id": "gt-old",
        "title": "no type, no priority",
        "status": "open",
        "labels": None,
        "created_at": "2025-12-01T00:00:00-08:00",
    }
    write_lines(path, [json.dumps(r) for r in records] + ["", json.dumps(untyped)])


def test_ready_is_open_and_unblocked_in_priority_age_id_order(
    store: JsonlStore, path: Path
) -> None:
    ready_world(path)
    assert [i.id for i in store.ready()] == [
        "gt-old",  # no priority: bd's export omits a zero priority, so it is p0
        "gt-blocker",  # p1
        "gt-after-closed",  # p2, same age as the next: id breaks the tie
        "gt-after-missing",
        "gt-free",
        "gt-after-tomb",  # p3: a tombstoned blocker does not block
        "gt-child",  # p4: its parent is open but not blocked, so it is ready
    ]


def test_ready_follows_bd_dependency_types_parents_ephemeral_and_deferred(store: JsonlStore, path: Path) -> None:
    def dep(issue_id: str, target: str, kind: str) -> dict[str, Any]:
        return {"issue_id": issue_id, "depends_on_id": target, "type": kind, "created_at": T0}

    write_records(path, [
        rec("gt-a"),
        rec("gt-b", dependencies=[dep("gt-b", "gt-a", "blocks")]),
        rec("gt-c", dependencies=[dep("gt-c", "gt-a", "conditional-blocks")]),
        rec("gt-d", dependencies=[dep("gt-d", "gt-a", "waits-for")]),
        rec("gt-e", dependencies=[dep("gt-e", "gt-a", "related"), dep("gt-e", "gt-a", "discovered-from")]),
        rec("gt-kid", dependencies=[dep("gt-kid", "gt-b", "parent-child")]),  # its parent is blocked
        rec("gt-grandkid", dependencies=[dep("gt-grandkid", "gt-kid", "parent-child")]),
        rec("gt-free-kid", dependencies=[dep("gt-free-kid", "gt-a", "parent-child")]),
        rec("gt-wisp", ephemeral=True),
        rec("gt-later", status="deferred"),
        rec("gt-until", defer_until="2999-01-01T00:00:00Z"),
        rec("gt-was-deferred", defer_until="2001-01-01T00:00:00Z"),
        rec("gt-offset-ahead", defer_until="2999-01-01T09:00:00-07:00"),
        rec("gt-offset-past", defer_until="2001-01-01T09:00:00-07:00"),
        rec("gt-loop-1", dependencies=[dep("gt-loop-1", "gt-loop-2", "parent-child")]),
        rec("gt-loop-2", dependencies=[dep("gt-loop-2", "gt-loop-1", "parent-child")]),
    ])
    assert sorted(i.id for i in store.ready()) == sorted([
        "gt-a", "gt-e", "gt-free-kid", "gt-was-deferred", "gt-offset-past", "gt-loop-1", "gt-loop-2"])
    chosen, blocked = store.overview({"gt-grandkid"}, "nobody/")
    assert [i.id for i in chosen] == ["gt-grandkid"] and blocked["gt-grandkid"] == ("gt-kid",)
    assert blocked["gt-b"] == ("gt-a",) and "gt-free-kid" not in blocked


def test_ready_on_the_real_exports_never_lists_a_blocked_ephemeral_or_closed_issue(tmp_path: Path) -> None:
    exports = sorted(FIXTURES.glob("*.jsonl"))
    if not exports:
        pytest.skip("shared fixtures not beside the repo")
    for export in exports:
        path = tmp_path / export.stem / "issues.jsonl"
        path.parent.mkdir()
        shutil.copy(export, path)
        store = JsonlStore(path, export.stem)
        every = {i.id: i for i in store.list()}
        _, blocked = store.overview((), "")
        ready = store.ready()
        assert ready and blocked, export.name
        for issue in ready:
            assert issue.status == "open" and not issue.ephemeral and issue.id not in blocked
            assert all(every[t].status in ("closed", "tombstone") for t in issue.blocked_by if t in every)
            assert issue.parent not in blocked  # a child of a blocked issue waits with it


def test_list_filters_keep_file_order_and_hide_tombstones(store: JsonlStore, path: Path) -> None:
    ready_world(path)
    every = [i.id for i in store.list()]
    assert "gt-tomb" not in every and len(every) == 12 and every[0] == "gt-free"
    assert every[-1] == "gt-old"
    assert [i.id for i in store.list(status="closed")] == ["gt-done"]
    assert [i.id for i in store.list(status=["hooked", "in_progress"])] == ["gt-wip", "gt-hooked"]
    assert [i.id for i in store.list(assignee="a")] == ["gt-wip", "gt-hooked"]
    assert [i.id for i in store.list(label="x")] == ["gt-blocker", "gt-done", "gt-wip"]
    assert store.list(status="open", label="x", assignee="a") == []
    assert store.list(status="tombstone") == []
    with pytest.raises(IssueNotFound):
        store.get("gt-tomb")
    old = store.get("gt-old")
    assert (old.priority, old.labels, old.issue_type) == (0, (), "task")  # bd omits a zero priority


def test_overview_gives_the_chosen_issues_and_what_blocks_any_issue(store: JsonlStore, path: Path) -> None:
    ready_world(path)
    chosen, blocked = store.overview({"gt-free", "gt-done", "gt-tomb", "gt-nope"}, "a")
    every = store.list()
    assert blocked == {"gt-blocked": ("gt-blocker",), "gt-after-wip": ("gt-wip",)}  # tombstones never block
    assert chosen == [i for i in every if i.id in {"gt-free", "gt-done"} or i.assignee == "a"]
    write_records(path, [rec("gt-a", title="old"), rec("gt-b", dependencies=[blocks("gt-b", "gt-a")]),
                         rec("gt-a", title="new")])
    chosen, blocked = store.overview({"gt-a"}, "nobody/")
    assert [i.title for i in chosen] == ["new"] and blocked == {"gt-b": ("gt-a",)}


def test_a_duplicated_id_counts_once_at_its_last_line(store: JsonlStore, path: Path) -> None:
    write_records(path, [rec("gt-a", title="old"), rec("gt-b"), rec("gt-a", title="new")])
    assert [i.title for i in store.list()] == ["title gt-b", "new"]
    store.close("gt-a", "done")
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["status"] == "open" and json.loads(lines[2])["status"] == "closed"


# -- hook compare-and-set ---------------------------------------------------------

CAS_CASES = [
    # (status, assignee, who, outcome status or None for HookConflict)
    ("open", None, "me", "hooked"),
    ("hooked", "me", "me", "hooked"),
    ("in_progress", "me", "me", "in_progress"),
    ("hooked", "you", "me", None),
    ("in_progress", "you", "me", None),
    ("open", "you", "me", None),
    ("closed", None, "me", None),
    ("closed", "me", "me", None),
    ("blocked", None, "me", None),
]


@pytest.mark.parametrize(("status", "holder", "who", "outcome"), CAS_CASES)
def test_hook_compare_and_set(
    store: JsonlStore, path: Path, status: str, holder: str | None, who: str, outcome: str | None
) -> None:
    fields: dict[str, Any] = {"status": status}
    if holder:
        fields["assignee"] = holder
    if status == "closed":
        fields["closed_at"] = T0
    write_records(path, [rec("gt-a", **fields)])
    before = path.read_bytes()
    if outcome is None:
        with pytest.raises(HookConflict) as caught:
            store.hook("gt-a", who)
        assert (caught.value.status, caught.value.assignee, caught.value.wanted) == (
            status,
            holder,
            who,
        )
        assert path.read_bytes() == before
        return
    issue = store.hook("gt-a", who)
    assert (issue.status, issue.assignee) == (outcome, who)
    if holder == who:
        assert path.read_bytes() == before  # already ours: nothing written
    assert store.get("gt-a") == issue


def test_hook_of_a_missing_issue(store: JsonlStore) -> None:
    with pytest.raises(IssueNotFound):
        store.hook("gt-none", "me")


@pytest.mark.parametrize(
    ("status", "holder", "who", "outcome"),
    [
        ("hooked", "me", "me", "open"),
        ("in_progress", "me", "me", "open"),
        ("open", None, "me", "open"),  # no-op
        ("hooked", "you", "me", None),
        ("closed", "me", "me", None),  # never reopens closed work
    ],
)
def test_unhook(
    store: JsonlStore, path: Path, status: str, holder: str | None, who: str, outcome: str | None
) -> None:
    fields: dict[str, Any] = {"status": status, "assignee": holder}
    write_records(path, [rec("gt-a", **fields)])
    if outcome is None:
        with pytest.raises(HookConflict):
            store.unhook("gt-a", who)
        return
    issue = store.unhook("gt-a", who)
    assert (issue.status, issue.assignee) == (outcome, None)


# -- lossless round trip ---------------------------------------------------------------

ODD = (
    '{"wisp_type": "patrol", "id": "gt-odd", "title": "Ünïcode ✓ — 日本", "status": "open", '
    '"design": "keep <this> & that", "metadata": {"x": 1, "nested": [1, 2.5, null, true]}, '
    '"bonded_from": [{"source_id": "gt-a", "bond_type": "sequential", "bond_point": ""}], '
    '"priority": 1, "issue_type": "task", "created_at": "2025-12-16T13:26:47.117226-08:00", '
    '"updated_at": "2025-12-16T13:26:47.117226-08:00", "hook_bead": "", "dependency_count": 0}'
)
GO_STYLE = (
    '{"id":"gt-go","title":"a \\u003cb\\u003e \\u0026 c","status":"open","priority":2,'
    '"issue_type":"bug","created_at":"2025-12-17T23:29:33.049272-08:00",'
    '"updated_at":"2025-12-17T23:29:33.049272-08:00"}'
)
OTHERS = [
    '{"_schema":{"version":1}}',
    '{"_type":"memory","key":"style","value":"terse ✓"}',
    '{"id": "gt-spaced",   "title":"odd spacing", "status":"open"}',
    "",
    '{"id":"gt-tomb","title":"gone","status":"tombstone","deleted_at":"2025-12-17T16:11:17-08:00"}',
]


def test_round_trip_keeps_unknown_fields_order_and_other_lines(
    store: JsonlStore, path: Path
) -> None:
    lines = [OTHERS[0], OTHERS[1], ODD, OTHERS[2], OTHERS[3], GO_STYLE, OTHERS[4]]
    write_lines(path, lines)
    store.hook("gt-odd", "gastown/polecats/furiosa")
    store.close("gt-odd", "done: ✓ <merged>")
    store.update("gt-go", status="in_progress", add_labels=["a&b"])
    after = path.read_text(encoding="utf-8").split("\n")
    assert after[-1] == "" and len(after) == len(lines) + 1
    for index in (0, 1, 3, 4, 6):
        assert after[index] == lines[index]
    old, new = json.loads(ODD), json.loads(after[2])
    assert list(new)[: len(old)] == list(old)  # original key order, new keys appended
    changed = {"status", "updated_at"}
    assert {k: v for k, v in new.items() if k in old and k not in changed} == {
        k: v for k, v in old.items() if k not in changed
    }
    assert (new["status"], new["assignee"], new["close_reason"]) == (
        "closed",
        "gastown/polecats/furiosa",
        "done: ✓ <merged>",
    )
    assert new["closed_at"] == new["updated_at"]
    assert ', "closed_at": ' in after[2] and "Ünïcode ✓ — 日本" in after[2]  # style kept
    go = after[5]
    assert '"labels":["a\\u0026b"]' in go and "<" not in go and '": ' not in go
    assert json.loads(go)["title"] == "a <b> & c"


def test_an_unchanged_record_reserialises_to_its_own_bytes(store: JsonlStore, path: Path) -> None:
    write_lines(path, [ODD, GO_STYLE])
    store.update("gt-odd", status="in_progress")
    store.update("gt-odd", status="open")
    store.update("gt-go", status="deferred")
    store.update("gt-go", status="open")
    strip = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    for record in strip:
        record.pop("updated_at")
    assert strip == [
        {k: v for k, v in json.loads(line).items() if k != "updated_at"} for line in (ODD, GO_STYLE)
    ]


def test_no_trailing_newline_and_crlf_are_kept(store: JsonlStore, path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"id":"gt-a","title":"a","status":"open"}\r\n{"id":"gt-b","title":"b"}')
    store.close("gt-a", "x")
    store.create("appended")
    data = path.read_bytes()
    assert not data.endswith(b"\n") and data.count(b"\n") == 2
    first, second, _ = data.split(b"\n")
    assert first.endswith(b"\r") and json.loads(first)["status"] == "closed"
    assert second == b'{"id":"gt-b","title":"b"}'


# -- corruption ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        b'{"id":"gt-c","title":',
        b"[1, 2, 3]",
        b'"just a string"',
        b'{"_type":"issue","title":"no id"}',
        b'{"id":"gt-c","title":"\xff\xfe"}',
    ],
)
def test_a_corrupt_line_stops_every_operation_and_the_file_stays(
    store: JsonlStore, path: Path, bad: bytes
) -> None:
    good = [json.dumps(rec("gt-a")).encode(), json.dumps(rec("gt-b")).encode()]
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\n".join([*good, bad, b""]))
    before = path.read_bytes()
    reads = [store.list, store.ready, lambda: store.get("gt-a")]
    writes = [
        lambda: store.create("new"),
        lambda: store.hook("gt-a", "me"),
        lambda: store.update("gt-b", add_labels=["x"]),
        lambda: store.close("gt-a", "x"),
    ]
    for operation in reads + writes:
        with pytest.raises(StoreCorrupt) as caught:
            operation()
        assert caught.value.line == 3 and caught.value.path == str(path)
        assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


# -- processes ---------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import json, random, sys
    from pathlib import Path
    from reconciler.clients.beads.embedded import JsonlStore
    from reconciler.errors import HookConflict

    path, name, rounds, ids = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
    store = JsonlStore(path, "cc", actor=name)
    rng = random.Random(name)
    hooks = {i: [] for i in ids}
    for r in range(rounds):
        order = ids[:]
        rng.shuffle(order)
        for issue_id in order:
            store.update(issue_id, add_labels=[f"{name}-{r}"])
            try:
                store.hook(issue_id, name)
                hooks[issue_id].append(True)
            except HookConflict:
                hooks[issue_id].append(False)
                try:
                    store.unhook(issue_id, name)
                    hooks[issue_id].append("stole")
                except HookConflict:
                    pass
    print(json.dumps(hooks))
    """
)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_concurrent_processes_lose_no_update_and_hook_once(path: Path) -> None:
    issue_ids = [f"cc-{n}" for n in range(10)]
    write_records(path, [rec(i) for i in issue_ids])
    workers, rounds = [f"w{n}" for n in range(6)], 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), name, str(rounds), ",".join(issue_ids)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for name in workers
    ]
    results: dict[str, dict[str, list[Any]]] = {}
    for name, proc in zip(workers, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[name] = json.loads(out)
    final = {i.id: i for i in JsonlStore(path, "cc").list()}
    assert sorted(final) == issue_ids
    for issue_id in issue_ids:
        expected = {f"{w}-{r}" for w in workers for r in range(rounds)}
        assert set(final[issue_id].labels) == expected  # no lost update
        winners = [w for w in workers if True in results[w][issue_id]]
        assert len(winners) == 1, (issue_id, winners)
        tries = results[winners[0]][issue_id]
        assert tries[tries.index(True) :] == [True] * (rounds - tries.index(True))
        assert all("stole" not in results[w][issue_id] for w in workers)
        assert (final[issue_id].status, final[issue_id].assignee) == ("hooked", winners[0])


CRASH_WRITER = textwrap.dedent(
    """
    import random, sys
    from pathlib import Path
    from reconciler.clients.beads.embedded import JsonlStore

    store = JsonlStore(Path(sys.argv[1]), "cr", actor="writer")
    rng = random.Random()
    print("started", flush=True)
    n = 0
    while True:
        store.create(f"crash test {n}", description="x" * 80, labels=["crash"])
        print("created", flush=True)
        store.update(f"cr-{rng.randrange(5000)}", add_labels=[f"l{n}"])
        n += 1
    """
)


def count_records(path: Path) -> int:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return sum(1 for line in data.decode("utf-8").splitlines() if json.loads(line)["id"])


def test_sigkilled_writers_leave_the_old_or_the_new_file(path: Path) -> None:
    filler = "y" * 200
    write_records(path, [rec(f"cr-{n}", description=filler) for n in range(5000)])
    count = 5000
    rng = random.Random(1234)
    for _ in range(5):
        with subprocess.Popen(
            [sys.executable, "-c", CRASH_WRITER, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        ) as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "started\n"
            time.sleep(rng.uniform(0.05, 0.4))
            proc.kill()
            out, _ = proc.communicate(timeout=30)
        acknowledged = count + out.count("created")
        count = count_records(path)  # the whole file parses
        assert count in (acknowledged, acknowledged + 1)
        assert len(JsonlStore(path, "cr").list()) == count
    # The next write sweeps temp files a killed writer left behind.
    JsonlStore(path, "cr").create("after the crashes")
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert count_records(path) == count + 1


# -- the real fixtures, when they sit beside the repository -------------------------------


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures not beside the repo")
@pytest.mark.parametrize("name", ["upstream-001ae44.jsonl", "upstream-385c0c0.jsonl"])
def test_real_bd_exports_survive_hook_and_close(tmp_path: Path, name: str) -> None:
    source = FIXTURES / name
    if not source.exists():
        pytest.skip(f"{name} absent")
    in_place = JsonlStore(source, "bd")  # read-only directory: reads go without the lock
    ready = in_place.ready()
    assert ready and all(i.status == "open" for i in ready)
    copy = tmp_path / ".beads" / "issues.jsonl"
    copy.parent.mkdir()
    shutil.copyfile(source, copy)
    store = JsonlStore(copy, "bd")
    hooked, closed = ready[0].id, ready[1].id
    store.hook(hooked, "gastown/polecats/toast")
    store.close(closed, "done")
    old_lines = source.read_bytes().split(b"\n")
    new_lines = copy.read_bytes().split(b"\n")
    assert len(old_lines) == len(new_lines)
    changed = [n for n, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert {json.loads(new_lines[n])["id"] for n in changed} == {hooked, closed}
    for n in changed:
        old, new = json.loads(old_lines[n]), json.loads(new_lines[n])
        assert list(new)[: len(old)] == list(old)
    assert store.get(hooked).status == "hooked" and store.get(closed).status == "closed"
    assert isinstance(store.get(hooked), Issue)


@pytest.mark.parametrize("database", ["embeddeddolt", "dolt", "metadata.json"])
def test_a_store_bd_manages_is_read_but_never_written_behind_its_back(store: JsonlStore, path: Path,
                                                                      database: str) -> None:
    write_records(path, [rec("gt-a")])
    marker = path.parent / database
    if database.endswith(".json"):
        marker.write_text('{"database": "beads.db", "jsonl_export": "issues.jsonl"}')  # SQLite-era: ours
        store.update("gt-a", add_labels=["fine"])
        marker.write_text('{"dolt_mode": "embedded", "dolt_database": "beads"}')
    else:
        (marker / "beads").mkdir(parents=True)
    before = path.read_bytes()
    assert [i.id for i in store.list()] == ["gt-a"]  # bd's export is still read
    with pytest.raises(StoreError, match=rf"holds a bd database \({re.escape(database)}.*beads.backend: bd"):
        store.hook("gt-a", "me")
    with pytest.raises(StoreError, match="holds a bd database"):
        store.create("new")
    assert path.read_bytes() == before
