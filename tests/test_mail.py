"""Mail in the town's Beads store, and gt done's three endings, against a real demo town: real
tmux workers, real worktrees, the real embedded store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.beads.embedded import JsonlStore

from .conftest import commit_all, wait_for
from .test_controller import WORKING, agent_env, live_issues

runner = CliRunner()


def gt(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def mail_store(town: Path) -> JsonlStore:
    return JsonlStore(town / ".beads/issues.jsonl", "hq")


def rig_store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def test_mail_round_trip(demo_town: Path) -> None:
    code, out, err = gt("mail", "send", "demo/workers/nux", "Look at the parser", "-m", "line 3\nis off")
    assert code == 0 and out.startswith("sent hq-"), out + err
    code, out, _ = gt("-o", "json", "mail", "inbox", "--as", "demo/workers/nux")
    (message,) = json.loads(out)
    assert (message["from"], message["to"], message["type"], message["read"]) == (
        "overseer", "demo/workers/nux", "MESSAGE", False)
    code, out, _ = gt("mail", "read", message["id"], "--as", "demo/workers/nux")
    assert code == 0 and "Subject: Look at the parser" in out and "  is off" in out
    assert json.loads(gt("-o", "json", "mail", "inbox", "--as", "demo/workers/nux")[1]) == []  # read: closed
    code, out, _ = gt("mail", "reply", message["id"], "-m", "fixed", "--as", "demo/workers/nux")
    assert code == 0
    (answer,) = json.loads(gt("-o", "json", "mail", "inbox")[1])  # the overseer's inbox
    assert (answer["from"], answer["subject"], answer["replyTo"]) == (
        "demo/workers/nux", "Re: Look at the parser", message["id"])
    code, out, _ = gt("mail", "archive", answer["id"])
    assert code == 0 and gt("mail", "inbox")[1].startswith("overseer: 0 unread")
    everything = json.loads(gt("-o", "json", "mail", "inbox", "--all")[1])
    assert [(m["id"], m["archived"]) for m in everything] == [(answer["id"], True)]
    # What is kept is a Beads issue like any other, in the town's store.
    kept = mail_store(demo_town).get(answer["id"])
    assert kept.issue_type == "message" and kept.status == "closed" and "gt:message" in kept.labels


def test_mail_refuses_what_is_not_mail(demo_town: Path) -> None:
    code, _, err = gt("mail", "send", "Nux; rm -rf /", "hi")
    assert code == 2 and "is not a mail address" in err
    code, _, err = gt("mail", "send", "overseer", "hi", "--type", "SPAM")
    assert code == 2 and "unknown message type 'SPAM'" in err
    code, _, err = gt("mail", "read", "hq-nope")
    assert code == 2 and "no message 'hq-nope'" in err
    assert mail_store(demo_town).list() == []


def worker_env(town: Path, worker: str, issue: str) -> dict[str, str]:
    return {"GT_TOWN": str(town), "GT_RIG": "demo", "GT_WORKER": worker, "GT_ISSUE": issue}


def test_done_completed_escalated_and_deferred(demo_town: Path) -> None:
    agent_env(demo_town, GT_DEMO_MODE="idle")
    commit_all(demo_town, "idle agents")
    assert gt("apply", "--yes")[0] == 0 and live_issues(demo_town) == WORKING
    nux = worker_env(demo_town, "nux", "dm-greet")
    tree = demo_town / ".gt/worktrees/demo/nux"
    (tree / "greet.py").write_text("def greet(name):\n    return f'hello {name}'\n")
    code, _, err = gt("done", env=nux)
    assert code == 2 and "uncommitted changes (greet.py)" in err
    assert "gt:done" not in rig_store(demo_town).get("dm-greet").labels
    subprocess.run(["git", "add", "greet.py"], cwd=tree, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "greet"], cwd=tree, check=True)
    code, out, err = gt("done", "-m", "greet() added", env=nux)
    assert code == 0 and "reported done" in out, out + err
    assert "gt:done" in rig_store(demo_town).get("dm-greet").labels
    (done_mail,) = json.loads(gt("-o", "json", "mail", "inbox", "--as", "demo/refinery")[1])
    assert (done_mail["type"], done_mail["from"], done_mail["body"]) == (
        "WORKER_DONE", "demo/workers/nux", "greet() added")

    slit = worker_env(demo_town, "slit", "dm-parser")
    code, out, _ = gt("done", "--status", "escalated", "-m", "which config format?", env=slit)
    assert code == 0 and "escalated" in out
    issue = rig_store(demo_town).get("dm-parser")
    assert issue.assignee == "demo/workers/slit" and "gt:done" not in issue.labels  # still its work
    (help_mail,) = json.loads(gt("-o", "json", "mail", "inbox")[1])
    assert help_mail["type"] == "HELP" and "which config format?" in help_mail["body"]

    toast = worker_env(demo_town, "toast", "dm-readme")
    code, _, err = gt("done", "--status", "deferred", env=toast)
    assert code == 2 and "needs --message" in err
    code, out, _ = gt("done", "--status", "deferred", "-m", "waiting on the docs team", env=toast)
    assert code == 0 and "deferred" in out
    issue = rig_store(demo_town).get("dm-readme")
    assert (issue.status, issue.assignee) == ("deferred", None)
    code, _, err = gt("done", "--status", "later", env=toast)
    assert code == 2 and "one of completed, escalated, deferred" in err
    code, out, _ = gt("diff")  # given back: its session stops, and nobody takes it again
    assert "- stop     demo/toast             dm-readme" in out and "+ spawn" not in out, out


def test_the_refinery_mails_the_worker_merged_or_merge_failed(demo_town: Path) -> None:
    from .test_refinery import done_town, merge_only

    town = done_town(demo_town, "squash")
    assert merge_only(town, "dm-greet")[0].startswith("merged")
    (merged,) = json.loads(gt("-o", "json", "mail", "inbox", "--as", "demo/workers/nux")[1])
    assert (merged["type"], merged["from"]) == ("MERGED", "demo/refinery") and "landed on main" in merged["body"]
    # A branch whose work is gone from the worktree's history cannot land: the worker hears why.
    rig_store(demo_town).update("dm-parser", add_labels=["gt:done"])
    tree = demo_town / ".gt/worktrees/demo/slit"
    subprocess.run(["git", "reset", "-q", "--hard", "main~1"], cwd=tree, check=True)
    assert merge_only(town, "dm-parser")[0].startswith("failed")
    kinds = [m["type"] for m in json.loads(gt("-o", "json", "mail", "inbox", "--as", "demo/workers/slit")[1])]
    assert kinds == ["MERGE_FAILED", "REWORK_REQUEST"]


def test_handoff_restarts_the_session_on_the_same_hook_worktree_and_branch(demo_town: Path) -> None:
    from reconciler.clients.sessions import observe_sessions
    from reconciler.clients.tmux import Tmux
    from reconciler.loop.town import Town

    agent_env(demo_town, GT_DEMO_MODE="idle")
    commit_all(demo_town, "idle agents")
    assert gt("apply", "--yes")[0] == 0 and live_issues(demo_town) == WORKING
    tmux = Tmux(Town.load(demo_town).desired.socket)
    before = {s.name: s.stamps.generation for s in observe_sessions(tmux)}
    tree = demo_town / ".gt/worktrees/demo/nux"
    (tree / "notes.md").write_text("half done: resume at the parser\n")  # uncommitted: kept as it is
    code, out, err = gt("handoff", "-m", "context full: resume at step 3", env=worker_env(demo_town, "nux", "dm-greet"))
    assert code == 0 and "session stopped" in out, out + err
    assert "gt-demo-nux" not in {s.name for s in observe_sessions(tmux) if not s.dead}
    code, out, _ = gt("-o", "json", "diff")
    (respawn,) = [a for a in json.loads(out)["actions"] if a["worker"] == "nux"]
    assert respawn["op"] == "respawn" and respawn["issue"] == "dm-greet"
    assert respawn["spec"]["command"][-1].endswith("\n\ncontext full: resume at step 3")
    assert gt("apply", "--yes")[0] == 0
    after = {s.name: s for s in observe_sessions(tmux) if not s.dead}
    assert after["gt-demo-nux"].stamps.generation != before["gt-demo-nux"]  # a new session
    assert after["gt-demo-nux"].stamps.issue == "dm-greet"
    assert rig_store(demo_town).get("dm-greet").assignee == "demo/workers/nux"  # the same hook
    assert (tree / "notes.md").read_text() == "half done: resume at the parser\n"  # the same worktree
    branch = subprocess.run(["git", "branch", "--show-current"], cwd=tree, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert branch == "gt/nux/dm-greet"
    code, out, _ = gt("diff")  # the note is not drift: nothing restarts it again
    assert code == 0 and "In sync" in out, out
    assert not (demo_town / ".gt/handoffs/demo--nux.json").exists()


def test_a_landed_convoy_is_announced_to_the_overseer_once(fast_town: Path) -> None:
    from .test_controller import start, status

    start(fast_town)
    wait_for(lambda: any(c.get("landed") for c in status(fast_town).get("convoys", [])), timeout=40)

    def landed_mail() -> list[dict[str, object]]:
        return [m for m in json.loads(gt("-o", "json", "mail", "inbox", "--all")[1]) if m["type"] == "CONVOY_LANDED"]

    (mail,) = wait_for(landed_mail, timeout=20)
    assert mail["from"] == "demo/refinery" and "dm-cache" in str(mail["body"])
    number = status(fast_town)["lastPass"]["number"]
    assert gt("wake")[0] == 0
    wait_for(lambda: status(fast_town)["lastPass"]["number"] >= number + 2, timeout=20)
    assert len(landed_mail()) == 1  # said once, whatever the passes after
    assert status(fast_town)["sync"]["status"] == "InSync"


def test_a_conflict_goes_back_to_the_same_worker_until_max_reworks_then_help(demo_town: Path) -> None:
    from reconciler.loop.town import Town

    from .conftest import save
    from .test_refinery import done_town, merge_only

    town = done_town(demo_town, "squash")
    repo = demo_town / "rigs/demo"
    changed = subprocess.run(["git", "diff", "--name-only", "main...gt/nux/dm-greet"], cwd=repo,
                             capture_output=True, text=True, check=True).stdout.split()
    assert changed
    clash = repo / changed[0]
    clash.parent.mkdir(parents=True, exist_ok=True)
    clash.write_text("someone else's version\n")  # main moves under the worker
    subprocess.run(["git", "add", changed[0]], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "a clash"], cwd=repo, check=True)
    assert merge_only(town, "dm-greet")[0].startswith("failed")
    kinds = {m["type"]: m for m in json.loads(gt("-o", "json", "mail", "inbox", "--as", "demo/workers/nux")[1])}
    assert set(kinds) == {"MERGE_FAILED", "REWORK_REQUEST"}
    assert f"conflicts with main; the files in conflict:\n    {changed[0]}" in str(kinds["REWORK_REQUEST"]["body"])
    assert f"conflicts with main in {changed[0]}" in str(kinds["MERGE_FAILED"]["body"])
    issue = rig_store(demo_town).get("dm-greet")
    assert issue.assignee == "demo/workers/nux" and "gt:merge-failed" in issue.labels  # still nux's work

    def rework_nudges() -> list[str]:
        return [a["worker"] for a in json.loads(gt("-o", "json", "diff")[1])["actions"]
                if a["op"] == "nudge" and a["reason"] == "rework"]

    # The witness tells it at once (not after idleAfter); once it has read the mail, no more.
    assert rework_nudges() == ["nux"]
    assert gt("mail", "read", kinds["REWORK_REQUEST"]["id"], "--as", "demo/workers/nux")[0] == 0
    assert rework_nudges() == []
    # The worker merges main, resolves, commits and reports done again: it lands.
    tree = demo_town / ".gt/worktrees/demo/nux"
    subprocess.run(["git", "merge", "-q", "main"], cwd=tree, check=False, capture_output=True)
    (tree / changed[0]).write_text("both versions, reconciled\n")
    subprocess.run(["git", "add", "-A"], cwd=tree, check=True)
    subprocess.run(["git", "commit", "-q", "--no-edit", "-m", "rework: merge main"], cwd=tree, check=True)
    assert gt("done", env=worker_env(demo_town, "nux", "dm-greet"))[0] == 0
    assert merge_only(town, "dm-greet")[0].startswith("merged")
    # With maxReworks 0, the next failure asks the overseer instead of the worker.
    rig = demo_town / "manifests/rigs/demo.yaml"
    save(rig, rig.read_text().replace("gates: []}", "gates: [], maxReworks: 0}"))
    strict = Town.load(demo_town)
    assert strict.desired.rig("demo").refinery.max_reworks == 0
    rig_store(demo_town).update("dm-parser", add_labels=["gt:done"])
    slit = demo_town / ".gt/worktrees/demo/slit"
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=slit, check=True)  # nothing of its own
    assert merge_only(strict, "dm-parser")[0].startswith("failed")
    assert "HELP" in [m["type"] for m in json.loads(gt("-o", "json", "mail", "inbox")[1])]
    slit_mail = [m["type"] for m in json.loads(gt("-o", "json", "mail", "inbox", "--as", "demo/workers/slit")[1])]
    assert slit_mail == ["MERGE_FAILED"]


def test_work_reported_while_a_pass_acts_gets_a_pass_soon_not_at_the_interval(demo_town: Path) -> None:
    """toast's gt done lands between the pass's look and its own writes to the same store (which
    its watcher then takes for its own): the look after acting sees it, and the next pass comes
    within seconds rather than at the 30 s interval."""
    import time

    from reconciler.clients.stores import default_stores
    from reconciler.loop.controller import STARTUP_POLL, Controller

    from .test_refinery import done_town

    done_town(demo_town, "squash")
    rig_store(demo_town).update("dm-readme", remove_labels=["gt:done"])  # toast is not done yet

    def stores(desired, rig):  # type: ignore[no-untyped-def]
        real = default_stores(desired, rig)

        class ToastReportsMidPass:
            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def close(self, issue_id: str, reason: str) -> object:
                closed = real.close(issue_id, reason)
                if issue_id == "dm-greet":
                    real.update("dm-readme", add_labels=["gt:done"])  # a worker's write, mid-pass
                return closed

        return ToastReportsMidPass()

    controller = Controller(demo_town)
    controller._stores = stores  # type: ignore[assignment]
    result = controller.reconcile_once()
    assert {o.action.issue for o in result.outcomes if o.action.op.value == "merge"} == {"dm-greet", "dm-parser"}
    assert any("merge demo/toast dm-readme" in p for p in result.status["sync"]["pending"])
    assert controller._due_at is not None and controller._due_at - time.monotonic() <= STARTUP_POLL
