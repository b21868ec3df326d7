"""gt convoy show|list and gt rig status|list against a real tmux, real git, the demo agent and the
refinery: a convoy seen waiting, blocked, hooked, working, done, merged and landed; gt sling --apply
and gt rig dock|undock --apply commit, then carry the change out as gt apply --yes does."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import git

from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.lock import TownLock
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town

from .conftest import commit_all, gt, wait_for

CONVOY = "manifests/convoys/demo.yaml"
FAST = "env: {GT_DEMO_DELAY: '0.1'}"  # what the demo_town fixture sets
WAITING_AGENTS = "env: {GT_DEMO_DELAY: '0.1', GT_DEMO_MODE: idle}\n      prompt: {via: none}"




def show(town: Path) -> dict[str, Any]:
    code, out, err = gt("-o", "json", "convoy", "show", "demo")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def states(town: Path) -> dict[str, str]:
    return {i["id"]: i["state"] for i in show(town)["issues"]}


def live(town: Path) -> set[str]:
    return {s.stamps.issue for s in observe_sessions(Tmux(Town.load(town).desired.socket)) if not s.dead}


def set_routing(town: Path, old: str, new: str) -> None:
    path = town / "manifests/routing.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    commit_all(town, "routing: " + new.split("\n")[0])


def test_a_convoy_from_waiting_to_landed_as_convoy_show_and_rig_status_see_it(demo_town: Path) -> None:
    # Agents that wait for a nudge (no start prompt), and then only take their hook.
    set_routing(demo_town, FAST, WAITING_AGENTS)
    three = {"dm-greet", "dm-parser", "dm-readme"}

    # Nothing started: three wait, one waits for the issue that blocks it.
    assert states(demo_town) == {"dm-greet": "waiting", "dm-parser": "waiting", "dm-readme": "waiting",
                                 "dm-cache": "blocked"}
    code, out, _ = gt("convoy", "show", "demo")
    assert code == 0
    assert out.splitlines()[0] == "convoy demo (Demo convoy), rig demo: 0/4 merged, 0 on workers, 4 waiting"
    assert any(line.split()[:4] == ["dm-cache", "blocked", "by", "dm-parser"] for line in out.splitlines())

    # Hooked: each has a worker whose agent has not picked it up.
    code, out, err = gt("apply", "--yes")
    assert code == 0, out + err
    doc = show(demo_town)
    hooked = {i["id"]: i["worker"] for i in doc["issues"] if i["state"] == "hooked"}
    assert hooked == {"dm-greet": "nux", "dm-parser": "slit", "dm-readme": "toast"}
    assert "hooked to demo/nux" in gt("convoy", "show", "demo")[1]
    code, out, _ = gt("rig", "status", "demo")
    assert code == 0 and "workers: 3 running of 3 at most" in out
    assert any(line.split()[:2] == ["nux", "dm-greet"] and line.endswith("session gt-demo-nux")
               for line in out.splitlines()), out
    assert "convoy demo: 0/4 merged, 3 working, 1 waiting" in out
    code, out, _ = gt("-o", "json", "rig", "list")
    assert json.loads(out) == [{"name": "demo", "state": "active", "health": "Healthy", "running": 3, "max": 3,
                                "convoys": ["demo"]}]

    # Working: nudged, nux takes its hook.
    code, out, err = gt("nudge", "demo/nux", "run gt hook")
    assert code == 0, err
    wait_for(lambda: states(demo_town)["dm-greet"] == "working")

    # Done: docked (sessions stop, hooks stay), agents that work, undocked: each worker resumes its
    # hook, works and reports done; with no controller and no apply, nothing merges yet.
    code, out, err = gt("rig", "dock", "demo", "--apply")
    assert code == 0, out + err
    assert not live(demo_town)
    code, out, _ = gt("rig", "status", "demo")
    assert out.startswith("rig demo (docked): Docked")
    set_routing(demo_town, WAITING_AGENTS, FAST)
    code, out, err = gt("rig", "undock", "demo", "--apply")
    assert code == 0, out + err
    wait_for(lambda: {k for k, v in states(demo_town).items() if v == "done"} == three, timeout=30)
    shown = gt("convoy", "show", "demo")[1]
    assert re.search(r"done \(demo/slit\): in the merge queue, [123] of 3", shown), shown
    places = sorted(int(m) for m in re.findall(r"in the merge queue, (\d) of 3", shown))
    assert places == [1, 2, 3], shown  # one queue: each done issue has its own place
    code, out, _ = gt("status")
    assert "merge queue (priority, then oldest first):" in out and "1. dm-" in out and "3. dm-" in out, out

    # Merged: the refinery lands them; the blocked issue is ready now.
    code, out, err = gt("apply", "--yes")
    assert code == 0, out + err
    assert states(demo_town) == {"dm-greet": "merged", "dm-parser": "merged", "dm-readme": "merged",
                                 "dm-cache": "waiting"}

    # Landed: the last one gets a worker, is worked, merged.
    def applied_and_landed() -> bool:
        code, out, err = gt("apply", "--yes")
        assert code == 0, out + err
        return bool(show(demo_town)["landed"])

    wait_for(applied_and_landed, timeout=60, interval=0.2)
    code, out, _ = gt("convoy", "show", "demo")
    assert out.splitlines()[0] == "convoy demo (Demo convoy), rig demo: 4/4 merged, 0 on workers, 0 waiting; Landed"
    assert out.rstrip().endswith("Landed: every issue is merged and closed.")
    code, out, _ = gt("convoy", "list")
    assert out.strip() == "demo  rig demo  4/4 merged, 0 on workers, 0 waiting; Landed"
    code, out, _ = gt("-o", "json", "status")
    assert json.loads(out)["convoys"][0]["landed"] is True
    with git.Repo(demo_town / "rigs/demo") as repo:
        landed = repo.git.log("--format=%(trailers:key=Gt-Issue,valueonly)", "main").split()
    assert sorted(landed) == sorted([*three, "dm-cache"])


def test_sling_apply_commits_then_starts_the_worker_on_its_model_with_its_message(demo_town: Path) -> None:
    commit_all(demo_town, "fast agents")
    JsonlStore(demo_town / "rigs/demo/.beads/issues.jsonl", "dm").create("Hot fix", issue_id="dm-hot", priority=0)
    code, out, err = gt("-o", "json", "sling", "dm-hot", "demo", "--model", "opus", "--message", "Ship it today.",
                        "--apply")
    assert code == 0, err
    doc = json.loads(out)
    with git.Repo(demo_town) as repo:
        assert repo.head.commit.hexsha == doc["commit"]
        assert repo.head.commit.message.strip() == "convoy demo: sling dm-hot (model opus, with a message)"
        assert list(repo.head.commit.stats.files) == [CONVOY]
    (spawn,) = [a for a in doc["apply"]["plan"]["actions"] if a["op"] == "spawn" and a["issue"] == "dm-hot"]
    spec = spawn["spec"]
    assert (spec["model"], spec["agent"], spec["rule"]) == ("opus", "demo", "override in convoy demo")
    assert spec["command"][-3:-1] == ["--model", "opus"] and spec["command"][-1].endswith("\n\nShip it today.")
    assert doc["applyExit"] == 0
    assert [o["result"] for o in doc["apply"]["outcomes"] if o["op"] == "spawn" and o["issue"] == "dm-hot"] == [
        "created"]
    work = Path(spec["worktree"]) / "work" / "dm-hot.md"
    wait_for(lambda: work.exists() and "with model opus" in work.read_text())


def test_convoy_and_rig_views_read_without_the_town_lock(demo_town: Path) -> None:
    lock = TownLock(demo_town, "a test holding the lock").acquire()
    try:
        for args in (("convoy", "list"), ("convoy", "show", "demo"), ("rig", "list"), ("rig", "status", "demo")):
            code, out, err = gt(*args)
            assert code == 0, (args, out, err)
        code, _, err = gt("convoy", "show", "nope")
        assert code == 2 and "convoy 'nope' is not declared (declared convoys: demo)" in err
        code, _, err = gt("rig", "status", "nope")
        assert code == 2 and "rig 'nope' is not declared (declared rigs: demo)" in err
    finally:
        lock.release()


def test_a_review_shows_what_a_sling_changes(demo_town: Path) -> None:
    """gt diff --base sees an issue's own model as the route it is, and its message in the convoy."""
    commit_all(demo_town, "fast agents")
    subprocess.run(["git", "-C", str(demo_town), "checkout", "-q", "-b", "change"], check=True)
    code, _, err = gt("sling", "dm-greet", "demo", "--model", "opus", "--message", "Be kind.", "--commit")
    assert code == 0, err
    code, out, err = gt("-o", "json", "diff", "--base", "main")
    assert code == 0, err
    review = json.loads(out)
    assert [c["details"] for c in review["convoys"]] == [["dm-greet: routed -> model opus, message 'Be kind.'"]]
    assert [(r["issue"], r["before"], r["after"], r["rule"]) for r in review["routes"]] == [
        ("dm-greet", "haiku (demo)", "opus (demo)", "override in convoy demo")]
    assert not live(demo_town)  # a review starts nothing
