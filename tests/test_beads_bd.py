"""The bd backend.

Most tests put a small fake ``bd`` executable first on PATH: it answers from a
queue of canned outputs and logs how it was called. That fakes only the
process boundary, so the real argv building, subprocess handling and output
parsing of BdStore run. Tests against the real bd skip when it is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.clients.beads import Dependency
from reconciler.clients.beads.bdcli import BdStore, HookNotLanded, decode_output, strip_warnings
from reconciler.clients.stores import open_store
from reconciler.errors import BdCommandError, HookConflict, IssueNotFound, StoreError

FAKE_BD = """#!{python}
import json, os, sys
state = os.environ["FAKE_BD_STATE"]
with open(state) as f:
    queue = json.load(f)
call = {{"argv": sys.argv[1:], "cwd": os.getcwd(),
        "envelope": os.environ.get("BD_JSON_ENVELOPE"), "beads_dir": os.environ.get("BEADS_DIR"),
        "actors": [os.environ.get("BEADS_ACTOR"), os.environ.get("BD_ACTOR")]}}
with open(state + ".calls", "a") as f:
    f.write(json.dumps(call) + "\\n")
if not queue:
    sys.stderr.write("fake bd: no canned answer left\\n")
    sys.exit(3)
answer = queue.pop(0)
with open(state, "w") as f:
    json.dump(queue, f)
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""


class FakeBd:
    def __init__(self, state: Path) -> None:
        self.state = state
        state.write_text("[]")

    def answer(self, stdout: str = "", stderr: str = "", rc: int = 0) -> FakeBd:
        queue = json.loads(self.state.read_text())
        queue.append({"stdout": stdout, "stderr": stderr, "rc": rc})
        self.state.write_text(json.dumps(queue))
        return self

    def data(self, value: Any, envelope: bool = True) -> FakeBd:
        body = {"schema_version": 1, "data": value} if envelope else value
        return self.answer(json.dumps(body) + "\n")

    def calls(self) -> list[dict[str, Any]]:
        log = self.state.with_name(self.state.name + ".calls")
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBd:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "bd"
    script.write_text(FAKE_BD.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_BD_STATE", str(tmp_path / "state.json"))
    monkeypatch.setenv("BEADS_DIR", "/somewhere/else/.beads")
    return FakeBd(tmp_path / "state.json")


@pytest.fixture
def rig(tmp_path: Path) -> Path:
    root = tmp_path / "rig"
    (root / ".beads").mkdir(parents=True)
    return root


@pytest.fixture
def store(rig: Path) -> BdStore:
    return BdStore(rig, "gt", actor="mayor")


def issue(issue_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": issue_id,
        "title": f"t {issue_id}",
        "status": "open",
        "priority": 2,
    }
    base |= {"issue_type": "task", "created_at": "2026-03-01T00:00:00Z"}
    base |= {"updated_at": "2026-03-01T00:00:00Z", "dependency_count": 0, "parent": None}
    return base | fields


# -- output decoding --------------------------------------------------------------


def test_strip_warnings_drops_only_leading_warning_lines() -> None:
    out = "warning: old schema\nWarning: beads.db is stale\n\n[1]\nwarning: not leading\n"
    assert strip_warnings(out) == "[1]\nwarning: not leading\n"


def test_decode_accepts_envelope_and_raw() -> None:
    argv = ["bd", "list"]
    assert decode_output(argv, 0, '{"schema_version":1,"data":[{"id":"a"}]}', "") == [{"id": "a"}]
    assert decode_output(argv, 0, '[{"id":"a"}]', "") == [{"id": "a"}]
    created = '{"id":"gt-1","title":"x","schema_version":1}'
    assert decode_output(argv, 0, created, "")["id"] == "gt-1"
    assert decode_output(argv, 0, "", "") is None
    assert decode_output(argv, 0, "No issues found.\n", "") == []


def test_list_parses_raw_array_and_passes_the_flags(
    fake: FakeBd, store: BdStore, rig: Path
) -> None:
    fake.data([issue("gt-a"), issue("gt-b", labels=None, priority=None)], envelope=False)
    got = store.list()
    assert [i.id for i in got] == ["gt-a", "gt-b"] and got[1].priority == 0  # null or missing: 0
    (call,) = fake.calls()
    assert call["argv"] == ["list", "--limit", "0", "--flat", "--all", "--json", "--actor=mayor"]
    assert call["cwd"] == str(rig) and call["envelope"] == "1"
    assert call["beads_dir"] == str(rig / ".beads") and call["actors"] == ["mayor", "mayor"]  # not the caller's


def test_list_filters_reach_bd_and_are_applied_again(fake: FakeBd, store: BdStore) -> None:
    rows = [issue("gt-a", status="hooked", assignee="x", labels=["l"]), issue("gt-b")]
    fake.data(rows).data(rows + [issue("gt-c", status="tombstone")])
    assert [i.id for i in store.list(status="hooked", assignee="x", label="l")] == ["gt-a"]
    assert [i.id for i in store.list(status=["open", "tombstone"])] == ["gt-b"]
    first, second = fake.argvs()
    assert "--status=hooked" in first and "--assignee=x" in first and "--label=l" in first
    assert "--all" in second and not any(a.startswith("--status") for a in second)


def test_ready_keeps_open_issues_sorted(fake: FakeBd, store: BdStore) -> None:
    fake.data(
        [
            issue("gt-b", priority=1),
            issue("gt-a", priority=1),
            issue("gt-w", status="in_progress"),
            issue("gt-0", priority=3),
        ]
    )
    assert [i.id for i in store.ready()] == ["gt-a", "gt-b", "gt-0"]
    assert fake.argvs()[0][:3] == ["ready", "--limit", "0"]


def test_warning_lines_before_json_are_ignored(fake: FakeBd, store: BdStore) -> None:
    fake.answer("warning: database schema is old\n" + json.dumps([issue("gt-a")]))
    assert store.get("gt-a").id == "gt-a"


def test_show_details_become_dependencies(fake: FakeBd, store: BdStore) -> None:
    blocker = issue("gt-b") | {"dependency_type": "blocks"}
    fake.data([issue("gt-a", dependencies=[blocker], labels=["x"])])
    got = store.get("gt-a")
    assert got.dependencies == (Dependency("gt-a", "gt-b", "blocks"),)
    assert got.blocked_by == ("gt-b",) and got.labels == ("x",)


# -- failures ----------------------------------------------------------------------


def test_empty_stdout_with_stderr_is_an_error(fake: FakeBd, store: BdStore) -> None:
    fake.answer("", "Error: unknown flag --flat\n", 0)
    with pytest.raises(BdCommandError) as caught:
        store.list()
    assert "unknown flag" in str(caught.value) and caught.value.returncode == 0


def test_nonzero_exit_carries_the_json_error(fake: FakeBd, store: BdStore) -> None:
    fake.answer('{"error":"database locked","hint":"retry","schema_version":1}', "", 1)
    with pytest.raises(BdCommandError) as caught:
        store.list()
    assert "database locked (hint: retry)" in str(caught.value) and caught.value.returncode == 1
    assert caught.value.argv[0] == "bd"


def test_nonzero_exit_carries_stderr(fake: FakeBd, store: BdStore) -> None:
    fake.answer("", "Error: no beads database found\n", 1)
    with pytest.raises(BdCommandError) as caught:
        store.ready()
    assert "no beads database found" in str(caught.value)
    assert caught.value.stderr == "Error: no beads database found\n"


def test_error_object_with_exit_zero_and_garbage_are_errors(fake: FakeBd, store: BdStore) -> None:
    fake.answer('{"error":"boom"}').answer("this is not json\n")
    with pytest.raises(BdCommandError, match="boom"):
        store.list()
    with pytest.raises(BdCommandError, match="unreadable JSON"):
        store.list()


def test_show_of_a_missing_issue_is_issue_not_found(fake: FakeBd, store: BdStore) -> None:
    fake.answer('{"error":"no issue found matching \\"gt-x\\""}', "", 1).data([])
    with pytest.raises(IssueNotFound):
        store.get("gt-x")
    with pytest.raises(IssueNotFound):
        store.get("gt-x")


def test_missing_binary(rig: Path) -> None:
    with pytest.raises(BdCommandError, match="not found"):
        BdStore(rig, "gt", bd=str(rig / "no-such-bd")).list()


# -- writes --------------------------------------------------------------------------


def test_create_passes_flags_and_reads_back(fake: FakeBd, store: BdStore) -> None:
    fake.answer(json.dumps(issue("gt-new") | {"schema_version": 1})).data(
        [issue("gt-new", labels=["a"])]
    )
    made = store.create(
        "-dash title",
        description="d",
        priority=1,
        labels=["a", "b"],
        assignee="w",
        blocked_by=["gt-x"],
        issue_id="gt-new",
    )
    assert made.id == "gt-new" and made.labels == ("a",)
    create, show = fake.argvs()
    assert create == [
        "create",
        "--title=-dash title",
        "--type=task",
        "--priority=1",
        "--description=d",
        "--labels=a,b",
        "--assignee=w",
        "--deps=blocks:gt-x",
        "--id=gt-new",
        "--json",
        "--actor=mayor",
    ]
    assert show[:2] == ["show", "gt-new"]


def test_a_child_is_made_with_parent_and_a_dependency_added_once(fake: FakeBd, store: BdStore) -> None:
    fake.data({"id": "gt-epic.1"}).data([issue("gt-epic.1", parent="gt-epic")])
    child = store.create("part", parent="gt-epic", blocked_by=["gt-epic"])
    assert child.parent == "gt-epic"  # bd's parent field, with no edges in the answer
    assert fake.argvs()[0][:6] == ["create", "--title=part", "--type=task", "--priority=2",
                                   "--deps=blocks:gt-epic", "--parent=gt-epic"]
    blocked = issue("gt-r", dependencies=[issue("gt-epic.1") | {"dependency_type": "blocks"}])
    fake.data([issue("gt-r")]).answer("{}").data([blocked]).data([blocked]).data([blocked])
    assert store.add_dependency("gt-r", "gt-epic.1").blocked_by == ("gt-epic.1",)
    assert store.add_dependency("gt-r", "gt-epic.1").blocked_by == ("gt-epic.1",)  # there already: no write
    assert [a[:4] for a in fake.argvs()[2:]] == [["show", "gt-r", "--json", "--actor=mayor"],
                                                 ["dep", "add", "gt-r", "gt-epic.1"],
                                                 ["show", "gt-r", "--json", "--actor=mayor"],
                                                 ["show", "gt-r", "--json", "--actor=mayor"],
                                                 ["show", "gt-r", "--json", "--actor=mayor"]]
    assert fake.argvs()[3][4] == "--type=blocks"


def test_update_and_close(fake: FakeBd, store: BdStore) -> None:
    fake.data([issue("gt-a")]).data([issue("gt-a")]).answer("").data(
        [issue("gt-a", status="closed")]
    )
    store.update("gt-a", status="in_progress", assignee=None, add_labels=["x"], remove_labels=["y"])
    assert store.close("gt-a", "merged").status == "closed"
    update, _, close, _ = fake.argvs()
    assert update[:6] == [
        "update",
        "gt-a",
        "--status=in_progress",
        "--assignee=",
        "--add-label=x",
        "--remove-label=y",
    ]
    assert close[:4] == ["close", "gt-a", "--reason=merged", "--force"]


def test_hook_checks_writes_and_reads_back(fake: FakeBd, store: BdStore) -> None:
    who = "gastown/polecats/toast"
    fake.data({"version": "1.2.0"})  # before guarded updates: write, then read back
    fake.data([issue("gt-a")]).data([issue("gt-a", status="hooked", assignee=who)])
    fake.data([issue("gt-a", status="hooked", assignee=who)])
    got = store.hook("gt-a", who)
    assert (got.status, got.assignee) == ("hooked", who)
    version, show, update, readback = fake.argvs()
    assert version[0] == "version"
    assert show[0] == "show" and readback[0] == "show"
    assert update[:4] == ["update", "gt-a", "--status=hooked", f"--assignee={who}"]


def test_hook_already_ours_or_someone_elses_does_not_write(fake: FakeBd, store: BdStore) -> None:
    fake.data({"version": "1.3.1"})
    fake.data([issue("gt-a", status="in_progress", assignee="me")])
    fake.data([issue("gt-a", status="hooked", assignee="you")])
    assert store.hook("gt-a", "me").status == "in_progress"
    with pytest.raises(HookConflict):
        store.hook("gt-a", "me")
    assert [a[0] for a in fake.argvs()] == ["version", "show", "show"]  # the version is asked once


def test_hook_lost_race_and_hook_that_never_lands(fake: FakeBd, rig: Path) -> None:
    store = BdStore(rig, "gt", actor="mayor", hook_attempts=2)
    fake.answer("bd version 0.58.0 (dev)\n", rc=1)  # no JSON version answer: taken as a bd without guards
    fake.data([issue("gt-a")]).answer("[]").data([issue("gt-a", status="hooked", assignee="you")])
    with pytest.raises(HookConflict):
        store.hook("gt-a", "me")
    for _ in range(2):
        fake.data([issue("gt-a")]).answer("[]").data([issue("gt-a")])
    with pytest.raises(HookNotLanded):
        store.hook("gt-a", "me")
    assert [a[0] for a in fake.argvs()] == ["version", *(["show", "update", "show"] * 3)]


def test_hook_with_guards_is_one_compare_and_set(fake: FakeBd, store: BdStore) -> None:
    fake.data({"version": "1.3.0"})
    fake.data([issue("gt-a")]).data(issue("gt-a", status="hooked", assignee="me"))
    fake.data([issue("gt-a", status="hooked", assignee="me")])
    assert store.hook("gt-a", "me").assignee == "me"
    update = fake.argvs()[2]
    assert update[:8] == ["update", "gt-a", "--if-status", "open", "--if-assignee", "",
                          "--status=hooked", "--assignee=me"]


def test_a_guarded_hook_that_loses_the_race_is_a_conflict_and_writes_nothing(fake: FakeBd, store: BdStore) -> None:
    fake.data({"version": "1.3.0"}).data([issue("gt-a")])
    lost = json.dumps({"schema_version": 1, "data": {"error": "guard failed: status is hooked"}})
    fake.answer(lost + "\n", rc=13).data([issue("gt-a", status="hooked", assignee="you")])
    with pytest.raises(HookConflict, match="assigned to you"):
        store.hook("gt-a", "me")
    assert [a[0] for a in fake.argvs()] == ["version", "show", "update", "show"]


def test_a_guarded_hook_answered_for_another_id_is_refused(fake: FakeBd, store: BdStore) -> None:
    fake.data({"version": "1.3.0"}).data([issue("gt-a")]).data(issue("gt-ab", status="hooked", assignee="me"))
    with pytest.raises(StoreError, match="answered for gt-ab"):
        store.hook("gt-a", "me")


def test_errors_in_the_envelope_are_shown_as_bd_wrote_them() -> None:
    body = json.dumps({"schema_version": 1, "data": {"error": "no issue found matching gt-zz", "hint": "bd list"}})
    with pytest.raises(BdCommandError, match="no issue found matching gt-zz \\(hint: bd list\\)"):
        decode_output(["bd", "show", "gt-zz"], 1, body, "")


def test_unhook(fake: FakeBd, store: BdStore) -> None:
    fake.data([issue("gt-a", status="hooked", assignee="me")]).answer("[]").data([issue("gt-a")])
    fake.data([issue("gt-a", status="hooked", assignee="you")])
    assert store.unhook("gt-a", "me").status == "open"
    with pytest.raises(HookConflict):
        store.unhook("gt-a", "me")
    assert fake.argvs()[1][:4] == ["update", "gt-a", "--status=open", "--assignee="]


def test_open_store_bd(rig: Path) -> None:
    store = open_store("bd", rig, "gt", actor="mayor")
    assert isinstance(store, BdStore) and store.root == rig and store.actor == "mayor"


# -- the real bd ------------------------------------------------------------------------

needs_bd = pytest.mark.skipif(shutil.which("bd") is None, reason="bd not on PATH")


@pytest.fixture
def real(tmp_path: Path) -> BdStore:
    root = tmp_path / "rig"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, timeout=60)
    subprocess.run(
        ["bd", "init", "--prefix=tb", "--quiet"],
        cwd=root,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    return BdStore(root, "tb", actor="tester")


@needs_bd
@pytest.mark.bd
def test_real_bd_round_trip(real: BdStore) -> None:
    first = real.create("first", priority=1, labels=["gt:test"])
    second = real.create("second", blocked_by=[first.id])
    assert real.get(first.id).labels == ("gt:test",)
    assert [i.id for i in real.ready()] == [first.id]
    assert {i.id for i in real.list(status="open")} == {first.id, second.id}
    hooked = real.hook(first.id, "gastown/polecats/toast")
    assert (hooked.status, hooked.assignee) == ("hooked", "gastown/polecats/toast")
    with pytest.raises(HookConflict):
        real.hook(first.id, "gastown/polecats/other")
    assert real.unhook(first.id, "gastown/polecats/toast").assignee is None
    closed = real.close(first.id, "done")
    assert closed.status == "closed" and closed.closed_at is not None
    assert [i.id for i in real.ready()] == [second.id]
    with pytest.raises(IssueNotFound):
        real.get("tb-zzzzzz")


# -- the one store factory: with backend bd, worker verbs and mail go through bd ------------


def _bd_town(tmp_path: Path) -> Path:
    from .manifest_texts import RIG

    town = tmp_path / "town"
    (town / "manifests").mkdir(parents=True)
    (town / "csm" / ".beads").mkdir(parents=True)
    (town / "manifests" / "town.yaml").write_text(
        "apiVersion: gt/v1\nkind: Town\nmetadata: {name: t}\nspec:\n  beads: {backend: bd}\n")
    (town / "manifests" / "rig.yaml").write_text(RIG.replace("../csm", "csm"))
    return town


def test_gt_done_and_mail_go_through_bd_when_the_town_says_bd(fake: FakeBd, tmp_path: Path) -> None:
    from reconciler.clients.stores import town_store
    from reconciler.manifests.loader import load_desired_state
    from reconciler.ops.worker import context, report_done

    town = _bd_town(tmp_path)
    hooked = issue("cs-1", status="hooked", assignee="csm/workers/nux")
    mail = issue("hq-1", status="open", assignee="csm/refinery") | {
        "issue_type": "message", "labels": ["gt:message", "from:csm/workers/nux", "msg-type:WORKER_DONE"]}
    fake.data([hooked]).answer("").data([hooked | {"labels": ["gt:done"]}]).data(mail).data([mail])
    ctx = context("csm/nux", town, env={})
    done = report_done(ctx)
    assert "gt:done" in done.issue.labels and done.mail == "hq-1"
    update = next(argv for argv in fake.argvs() if argv[0] == "update")
    assert update[:3] == ["update", "cs-1", "--add-label=gt:done"] and "--actor=csm/workers/nux" in update
    create = next(argv for argv in fake.argvs() if argv[0] == "create")  # WORKER_DONE, through bd as well
    assert "--assignee=csm/refinery" in create and "--type=message" in create
    calls = fake.calls()
    mail_calls = [c for c in calls if "hq-1" in c["argv"] or c["argv"][0] == "create"]
    assert all(c["cwd"] == str(town / "csm") for c in calls if c not in mail_calls)  # the rig's store
    assert mail_calls and all(c["cwd"] == str(town) for c in mail_calls)  # the town's, for mail
    assert not (town / "csm" / ".beads" / "issues.jsonl").exists()  # nothing written behind bd's back
    assert isinstance(ctx.mail, BdStore)  # HELP and other mail: the town's store, through bd too
    assert isinstance(town_store(load_desired_state(town / "manifests")), BdStore)
