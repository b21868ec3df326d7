"""gt demo and its agent: the edits a description asks for, a conflict resolved by keeping both
sides (pure, then in a real repository), the events the live view shows, and a demo stopped by
Ctrl-C that leaves nothing running (or everything, with --keep). The whole run, conflict and
landing included, is the README's main job: tests/test_readme.py runs it as a new user does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import typing as t
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.lock import holder_alive
from reconciler.clients.tmux import Tmux
from reconciler.loop.progress import ConvoyProgress, IssueProgress, IssueState
from reconciler.loop.town import Town
from reconciler.model.mail import MessageType
from reconciler.ops.demo import Snapshot, events, reworks
from reconciler.ops.demo_agent import Edit, edited, edits_in, inside, keep_both, merge_keeping_both
from reconciler.ops.mail import Message

from .conftest import wait_for

runner = CliRunner()


# -- the agent's edits ---------------------------------------------------------------------------


def test_the_edits_a_description_asks_for_in_its_order() -> None:
    description = ("Create greet.py with a greet(name) function.\n\n"
                   "Add the line `def greet(name): return name` to `greet.py`.\n"
                   "  In `README.md`, replace `- none yet` with `- greet(name)`.  \n"
                   "In README.md replace teh with the (no backquotes: not an edit)\n"
                   "In `a.txt`, replace `x` with ``.")
    assert edits_in(description) == [Edit("greet.py", "def greet(name): return name"),
                                      Edit("README.md", "- greet(name)", "- none yet"),
                                      Edit("a.txt", "", "x")]


class EditCase(t.NamedTuple):
    test_id: str
    text: str
    edit: Edit
    expected: str


EDIT_CASES = [
    EditCase("replace-every-one", "a teh b teh\n", Edit("f", "the", "teh"), "a the b the\n"),
    EditCase("replace-with-itself-and-more", "x\n", Edit("f", "x y", "x"), "x y\n"),
    EditCase("replace-missing-is-no-change", "done\n", Edit("f", "the", "teh"), "done\n"),
    EditCase("add-to-new-file", "", Edit("f", "x = 1"), "x = 1\n"),
    EditCase("add-after-unterminated-line", "a", Edit("f", "b"), "a\nb\n"),
    EditCase("add-twice-is-once", "a\nb\n", Edit("f", "b"), "a\nb\n"),
]


@pytest.mark.parametrize("case", EDIT_CASES, ids=[c.test_id for c in EDIT_CASES])
def test_an_edit_is_made_once(case: EditCase) -> None:
    assert edited(case.text, case.edit) == case.expected
    assert edited(case.expected, case.edit) == case.expected  # again: nothing more changes


class ConflictCase(t.NamedTuple):
    test_id: str
    text: str
    expected: str


CONFLICT_CASES = [
    ConflictCase("both-sides-theirs-first",
                 "# demo\n<<<<<<< HEAD\n- greet\n=======\n- parse\n>>>>>>> main\nend\n",
                 "# demo\n- parse\n- greet\nend\n"),
    ConflictCase("diff3-drops-the-ancestor",
                 "<<<<<<< ours\n- greet\n||||||| base\n- none yet\n=======\n- parse\n>>>>>>> main\n",
                 "- parse\n- greet\n"),
    ConflictCase("two-hunks",
                 "<<<<<<< a\n1\n=======\n2\n>>>>>>> b\nmid\n<<<<<<< a\n3\n=======\n4\n>>>>>>> b\n",
                 "2\n1\nmid\n4\n3\n"),
    ConflictCase("no-conflict", "plain\n=======\ntext\n", "plain\n=======\ntext\n"),
]


@pytest.mark.parametrize("case", CONFLICT_CASES, ids=[c.test_id for c in CONFLICT_CASES])
def test_a_conflict_is_resolved_by_keeping_both_sides(case: ConflictCase) -> None:
    assert keep_both(case.text) == case.expected


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", ".git/config", "a/../../x", "."])
def test_the_agent_edits_nothing_outside_its_worktree(tmp_path: Path, path: str) -> None:
    assert inside(str(tmp_path), path) is None
    assert inside(str(tmp_path), "ok/file.txt") == str((tmp_path / "ok/file.txt").resolve())


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_a_rework_merges_the_rig_branch_and_commits_both_sides(tmp_path: Path) -> None:
    repo = tmp_path / "rig"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# demo\n\n- none yet\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-qm", "start")
    git(repo, "checkout", "-qb", "gt/nux/dm-greet")
    (repo / "README.md").write_text("# demo\n\n- greet\n")
    git(repo, "commit", "-qam", "greet")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("# demo\n\n- parse\n")
    git(repo, "commit", "-qam", "parse")
    git(repo, "checkout", "-q", "gt/nux/dm-greet")
    git(repo, "config", "merge.conflictStyle", "diff3")  # a user's setting does not change the result

    assert merge_keeping_both(str(repo), "main", "demo/workers/nux") == ["README.md"]
    assert (repo / "README.md").read_text() == "# demo\n\n- parse\n- greet\n"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "log", "-1", "--format=%P").count(" ") == 1  # a merge commit: main is in the branch
    assert merge_keeping_both(str(repo), "main", "demo/workers/nux") == []  # nothing left to merge


# -- what the live view shows --------------------------------------------------------------------


def snapshot(*issues: IssueProgress, mail: tuple[Message, ...] = ()) -> Snapshot:
    return Snapshot((ConvoyProgress("demo", "demo", "Demo", False, issues),), mail)


def message(n: int, kind: MessageType, to: str, subject: str, *, read: bool = False, body: str = "",
            labels: tuple[str, ...] = ()) -> Message:
    return Message(f"hq-{n}", to, "demo/refinery", kind, subject, body, read, False, None,
                   f"2026-01-01T00:00:0{n}Z", labels)


def working(issue: str, worker: str, failed: bool = False) -> IssueProgress:
    return IssueProgress(issue, IssueState.working, worker=worker, merge_failed=failed)


def test_events_follow_a_conflict_from_the_merge_queue_back_to_the_worker_and_in() -> None:
    start = snapshot(IssueProgress("dm-parser", IssueState.hooked, worker="slit"),
                     IssueProgress("dm-cache", IssueState.blocked, blocked_by=("dm-parser",)))
    assert [e.text for e in events(None, start)] == [
        "dm-parser: hooked to demo/slit; its session starts", "dm-cache: blocked by dm-parser"]
    queued = snapshot(IssueProgress("dm-parser", IssueState.done, worker="slit"), start.convoys[0].issues[1])
    assert [e.text for e in events(start, queued)] == [
        "dm-parser: demo/slit reported it done; waiting in the merge queue"]
    rework = message(2, MessageType.REWORK_REQUEST, "demo/workers/slit", "REWORK_REQUEST: dm-parser Parser",
                     labels=("issue:dm-parser",))
    sent_back = snapshot(working("dm-parser", "slit", failed=True), start.convoys[0].issues[1], mail=(
        message(1, MessageType.MERGE_FAILED, "demo/workers/slit", "MERGE_FAILED: dm-parser Parser"), rework))
    said = events(queued, sent_back)
    assert [e.text for e in said] == [
        "dm-parser: its merge failed; back to demo/slit for rework",
        "mail MERGE_FAILED demo/refinery -> demo/workers/slit: MERGE_FAILED: dm-parser Parser",
        "mail REWORK_REQUEST demo/refinery -> demo/workers/slit: REWORK_REQUEST: dm-parser Parser"]
    assert {e.style for e in said} == {"yellow"}
    read = snapshot(*sent_back.convoys[0].issues, mail=(sent_back.mail[0], replace(rework, read=True)))
    assert [e.text for e in events(sent_back, read)] == ["demo/workers/slit read its REWORK_REQUEST (hq-2)"]
    again = snapshot(IssueProgress("dm-parser", IssueState.done, worker="slit"), start.convoys[0].issues[1])
    assert next(e.text for e in events(read, again)) == \
        "dm-parser: demo/slit reported it done again; waiting in the merge queue"
    merged = snapshot(IssueProgress("dm-parser", IssueState.merged),
                      IssueProgress("dm-cache", IssueState.waiting))
    assert [e.text for e in events(again, merged)] == [
        "dm-parser: merged and closed", "dm-cache: no longer blocked; waiting for a worker"]


def test_the_demo_lands_with_its_convoy_and_the_mail_that_says_so() -> None:
    done = snapshot(IssueProgress("dm-parser", IssueState.merged))
    assert not done.landed
    landed_mail = message(1, MessageType.CONVOY_LANDED, "overseer", "CONVOY_LANDED: demo (Demo)",
                          labels=("convoy:demo",))
    landed = snapshot(*done.convoys[0].issues, mail=(landed_mail,))
    assert landed.landed
    assert [e.text for e in events(done, landed)] == [
        "mail CONVOY_LANDED demo/refinery -> overseer: CONVOY_LANDED: demo (Demo)"]
    quiet = snapshot(*done.convoys[0].issues, mail=(message(1, MessageType.MERGED, "demo/workers/nux", "MERGED: x"),))
    assert events(done, quiet) == []  # the issue's own event says it


def test_a_rework_is_told_from_the_mail_alone() -> None:
    body = ("Your branch gt/slit/dm-parser did not land on main:\n"
            "gt/slit/dm-parser conflicts with main in README.md\n\nIn your worktree: merge main")
    mail = [message(1, MessageType.REWORK_REQUEST, "demo/workers/slit", "REWORK_REQUEST: dm-parser P",
                    body=body, labels=("issue:dm-parser",)),
            message(2, MessageType.MERGED, "demo/workers/nux", "MERGED: dm-greet G")]
    (sent,) = reworks(mail)
    assert (sent.issue, sent.worker, sent.merged) == ("dm-parser", "demo/workers/slit", False)
    assert sent.why == "gt/slit/dm-parser conflicts with main in README.md"
    mail.append(message(3, MessageType.MERGED, "demo/workers/slit", "MERGED: dm-parser P"))
    assert reworks(mail)[0].merged
    listed = replace(mail[0], body="Your branch b did not land on main:\nb conflicts with main; the files "
                                   "in conflict:\n    README.md\n    app.py\n\nIn your worktree: merge main")
    assert reworks([listed])[0].why == "b conflicts with main; the files in conflict: README.md app.py"


def test_a_board_line_is_cut_to_the_terminal_without_losing_its_colour_reset() -> None:
    from reconciler.cli.settings import ColorMode, Settings, fit

    s = Settings(color=ColorMode.always)
    line = "ab " + s.paint("cdefg", "red") + " hij"
    assert fit(line, 100) == line
    assert fit(line, 5) == "ab " + s.paint("cd", "red")
    assert fit("abc", 2) == "ab" and fit("abc", 0) == ""


# -- the command ---------------------------------------------------------------------------------


def test_the_demo_wants_a_new_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    result = runner.invoke(app, ["demo", str(tmp_path)])
    assert result.exit_code == 2 and "is not empty: gt demo builds its town in a new directory" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def running_in(town: Path) -> list[str]:
    """Processes that run from the town or name it (the controller, agents, tmux, git)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        info = proc.info
        if info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        where = [info.get("cwd") or "", *(info.get("cmdline") or [])]
        if any(str(town) in part for part in where):
            found.append(f"{info['pid']}: {' '.join(info.get('cmdline') or [])[:200]}")
    return found


def assert_nothing_running(town: Path, socket: str) -> None:
    """No controller, no tmux server on the town's socket, no process of the town."""
    assert holder_alive(town) is None
    assert Tmux(socket).run(["list-sessions"]).no_server
    assert running_in(town) == []


@pytest.mark.parametrize("keep", [False, True], ids=["stops-everything", "keep-leaves-it-running"])
def test_ctrl_c_stops_the_controller_and_the_tmux_server_unless_keep(tmp_path: Path, keep: bool) -> None:
    town = tmp_path / "demo-town"
    gt = str(Path(sys.executable).parent / "gt")
    demo = subprocess.Popen([gt, "demo", str(town), *(["--keep"] if keep else [])], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (town / "manifests").is_dir() and holder_alive(town), timeout=30)
        socket = Town.load(town).desired.socket
        wait_for(lambda: Tmux(socket).run(["list-sessions"]).ok, timeout=30)  # workers are up
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130, out + err
    assert "interrupted" in err and "what happened" in out
    if keep:
        assert "still running (--keep)" in out
        assert holder_alive(town) and Tmux(socket).run(["list-sessions"]).ok
        stop = subprocess.run([gt, "--town", str(town), "shutdown", "--grace", "1"], capture_output=True,
                              text=True, check=False, timeout=60)
        assert stop.returncode == 0, stop.stderr
        wait_for(lambda: not running_in(town), timeout=20)  # the controller's last moments
    else:
        assert "stopped the controller" in out and "tmux server" in out
    assert_nothing_running(town, socket)
    assert os.path.isdir(town / "rigs" / "demo")  # the town itself stays, for a look
