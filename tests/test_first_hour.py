"""A new user's first hour, on real tmux, git and the embedded store, with no virtualenv on
PATH: agents are found or say why not, learn their work from their start prompt, answer
known dialogs and stop at unknown ones, and failures show where users look."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import git
import yaml
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.lock import TownLock
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town

from .conftest import save, wait_for

runner = CliRunner()


def gt(*args: str, **kw: Any) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), **kw)
    return result.exit_code, result.stdout, result.stderr


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def tmux_of(town: Path) -> Tmux:
    return Tmux(Town.load(town).desired.socket)


def pane(town: Path, worker: str = "nux") -> str:
    lines = tmux_of(town).run(["capture-pane", "-p", "-J", "-t", f"=gt-demo-{worker}:"]).stdout
    return "\n".join(line.rstrip() for line in lines).rstrip()


def set_agent(town: Path, agent: dict[str, Any], convoy: list[str] | None = None,
              witness: str | None = None) -> None:
    """Replace the demo Routing's agent (every model runs it), and maybe the convoy and witness."""
    path = town / "manifests/routing.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["agents"] = {"demo": agent}
    save(path, yaml.safe_dump(doc))
    if convoy is not None:
        c = town / "manifests/convoys/demo.yaml"
        text = c.read_text().replace("dm-greet, dm-parser, dm-readme, dm-cache", ", ".join(convoy))
        save(c, text)
    if witness is not None:
        r = town / "manifests/rigs/demo.yaml"
        save(r, r.read_text().replace("witness: {idleAfter: 20s, maxNudges: 3}", f"witness: {witness}"))


def status_json() -> dict[str, Any]:
    code, out, err = gt("status", "-o", "json")
    assert code in (0, 2), err
    return json.loads(out)


def worker(doc: dict[str, Any], name: str = "nux") -> dict[str, Any]:
    return next(w for r in doc["rigs"] for w in r["workers"] if w["name"] == name)


SCRIPT_AGENT = textwrap.dedent("""\
    import json, shutil, subprocess, sys
    for line in sys.argv[1].split("|"):
        print(line, flush=True)
    if sys.argv[2] == "dialog":
        sys.stdin.readline()  # the dialog's answer: Enter
        print("\\x1b[2J\\x1b[Htrusted", flush=True)  # a TUI redraws: the dialog is gone
    while True:
        print("bot> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        if "gt prime" in line:
            doc = json.loads(subprocess.run([shutil.which("gt"), "prime", "-o", "json"],
                                            capture_output=True, text=True).stdout)
            subprocess.run([shutil.which("gt"), "hook"], capture_output=True)
            print("primed: " + doc["hook"]["id"], flush=True)
    """)


def script_agent(tmp_path: Path, screen: str, mode: str, **fields: Any) -> dict[str, Any]:
    script = tmp_path / "bot.py"
    script.write_text(SCRIPT_AGENT)
    return {"command": [sys.executable, str(script), screen, mode], "processNames": ["bot.py"],
            "ready": "bot>\\Z", **fields}


# -- agents are found, or the plan, doctor and status say which is missing ---------------


def test_the_workers_path_has_no_virtualenv_yet_agents_are_found(demo_town: Path) -> None:
    assert "venv" not in os.environ["PATH"]  # as for a user who never activated it
    code, out, _ = gt("apply", "--yes")
    assert code == 0, out
    wait_for(lambda: store(demo_town).get("dm-greet").status == "in_progress")  # it ran gt prime, gt hook


def test_a_missing_agent_program_is_named_by_plan_doctor_and_status(demo_town: Path) -> None:
    set_agent(demo_town, {"command": ["gt-no-such-agent"]})
    code, out, _ = gt("diff")
    assert code == 2
    assert "! agent-missing" in out and "rig demo, model haiku, agent demo: program 'gt-no-such-agent' is " \
        "not on the workers' PATH" in out
    assert "Not in sync" in out and "In sync" not in out.replace("Not in sync", "")
    code, out, _ = gt("apply", "--yes")
    assert code == 2 and observe_sessions(tmux_of(demo_town)) == ()
    assert store(demo_town).list(status=["hooked", "in_progress"]) == []  # nothing hooked for nothing
    code, out, _ = gt("doctor", "-o", "json")
    assert code == 1
    (finding,) = [f for f in json.loads(out) if f["check"] == "agent demo"]
    assert finding["level"] == "fail" and "'gt-no-such-agent' is not on the workers' PATH" in finding["message"]
    rig = status_json()["rigs"][0]
    assert rig["health"] == "Degraded" and "agent-missing" in rig["reason"] and "gt-no-such-agent" in rig["reason"]


# -- a failing agent says why -------------------------------------------------------------


def test_an_agent_that_exits_at_once_shows_its_status_and_output(demo_town: Path) -> None:
    set_agent(demo_town, {"command": ["gt-demo-agent"], "env": {"GT_DEMO_MODE": "crash"}}, ["dm-greet"])
    assert gt("apply", "--yes")[0] == 0
    wait_for(lambda: observe_sessions(tmux_of(demo_town))[0].dead)
    doc = status_json()
    nux = worker(doc)
    assert nux["health"] == "CrashLoop"
    assert nux["crash"] == {"status": 3, "output": ["[demo-agent] crashing on purpose"]}
    assert "exited with status 3: [demo-agent] crashing on purpose" in nux["reason"]
    code, out, _ = gt("status")
    assert "exit status 3; last output:" in out and "| [demo-agent] crashing on purpose" in out
    code, out, _ = gt("apply", "--yes")  # the respawn keeps the evidence in the crash record
    assert code == 0 and "respawn: created" in out
    record = json.loads((demo_town / ".gt/crashes.json").read_text())[0]
    assert record["last"] == {"status": 3, "output": ["[demo-agent] crashing on purpose"]}


# -- real agents get their work --------------------------------------------------------


def test_gt_hook_marks_the_hook_in_progress_from_inside_only(demo_town: Path) -> None:
    s = store(demo_town)
    s.hook("dm-greet", "demo/workers/nux")
    s.hook("dm-readme", "demo/workers/toast")
    code, out, _ = gt("--town", str(demo_town), "hook", "demo/toast")  # the overseer looks
    assert code == 0 and "demo/workers/toast: dm-readme (hooked)" in out
    assert s.get("dm-readme").status == "hooked"
    inside = {"GT_TOWN": str(demo_town), "GT_RIG": "demo", "GT_WORKER": "nux", "GT_ISSUE": "dm-greet"}
    code, out, _ = gt("hook", "-o", "json", env=inside)
    assert code == 0 and json.loads(out)["hook"] == {"id": "dm-greet", "title": "Add a greeting module",
                                                     "status": "in_progress"}
    assert s.get("dm-greet").status == "in_progress"
    code, out, _ = gt("hook", env=inside)  # again: no change
    assert code == 0 and "(in_progress)" in out


def test_gt_prime_tells_an_agent_everything(demo_town: Path) -> None:
    s = store(demo_town)
    s.hook("dm-greet", "demo/workers/nux")
    mail = JsonlStore(demo_town / ".beads/issues.jsonl", "hq")
    mail.create("REWORK_REQUEST: conflicts on main", assignee="demo/workers/nux",
                labels=["gt:message", "from:demo/refinery", "msg-type:REWORK_REQUEST"])
    inside = {"GT_TOWN": str(demo_town), "GT_RIG": "demo", "GT_WORKER": "nux", "GT_ISSUE": "dm-greet"}
    code, out, _ = gt("prime", "-o", "json", env=inside)
    assert code == 0
    doc = json.loads(out)
    assert (doc["role"], doc["branch"], doc["baseBranch"]) == ("demo/workers/nux", "gt/nux/dm-greet", "main")
    assert doc["worktree"] == str(demo_town / ".gt/worktrees/demo/nux")
    assert doc["hook"]["id"] == "dm-greet" and doc["hook"]["description"].startswith("Create greet.py")
    assert doc["hook"]["labels"] == ["model:haiku"] and doc["hook"]["priority"] == 1
    assert [m["type"] for m in doc["mail"]] == ["REWORK_REQUEST"]
    assert any("gt done" in step for step in doc["steps"]) and any("confirmation" in step for step in doc["steps"])
    code, text, _ = gt("--town", str(demo_town), "prime", "demo/nux")  # the overseer's view, as Markdown
    assert code == 0 and "## Your hook: dm-greet: Add a greeting module" in text and "## Mail: 1 unread" in text
    code, _, err = gt("prime")  # neither inside a worker nor naming one
    assert code == 2 and "not inside a gt worker session" in err


def test_a_known_dialog_is_answered_then_the_start_prompt_is_typed_when_ready(demo_town: Path,
                                                                           tmp_path: Path) -> None:
    set_agent(demo_town, script_agent(
        tmp_path, "Quick safety check: do you trust this folder?|> 1. Yes, I trust this folder", "dialog",
        prompt={"via": "type"}, dialogs=[{"name": "trust", "match": "trust this folder", "keys": ["Enter"]}]),
        ["dm-greet"])
    assert gt("apply", "--yes")[0] == 0
    wait_for(lambda: "trust this folder" in pane(demo_town))
    code, out, _ = gt("apply", "--yes")
    assert code == 0 and "answer: updated (answered with Enter)" in out
    wait_for(lambda: pane(demo_town).endswith("bot>"))
    code, out, _ = gt("apply", "--yes")
    assert code == 0 and "prompt: updated (start prompt delivered)" in out
    wait_for(lambda: "primed: dm-greet" in pane(demo_town))
    assert store(demo_town).get("dm-greet").status == "in_progress"
    stamps = observe_sessions(tmux_of(demo_town))[0].stamps
    assert stamps.answers == 1 and stamps.prompted
    assert gt("diff")[0] == 0  # typed once, answered once


def test_an_unknown_dialog_is_blocked_and_never_nudged(demo_town: Path, tmp_path: Path) -> None:
    set_agent(demo_town, script_agent(
        tmp_path, "Detected a custom API key in your environment|Do you want to use this API key?|"
        "  1. Yes|> 2. No (recommended)", "dialog"), ["dm-greet"], witness="{idleAfter: 0s, maxNudges: 3}")
    assert gt("apply", "--yes")[0] == 0
    wait_for(lambda: "this API key?" in pane(demo_town))
    code, out, _ = gt("apply", "--yes")
    assert code == 0 and "~ nudge" not in out and "! agent-blocked" in out
    nux = worker(status_json())
    assert nux["health"] == "Blocked" and "Do you want to use this API key?" in nux["reason"]
    assert observe_sessions(tmux_of(demo_town))[0].stamps.nudges == 0


# -- failures are visible where users look ---------------------------------------------


def test_diff_never_says_in_sync_while_a_rig_is_unreadable(demo_town: Path) -> None:
    issues = demo_town / "rigs/demo/.beads/issues.jsonl"
    issues.write_text(issues.read_text() + "{not json\n")
    code, out, _ = gt("diff")
    assert code == 2 and "! rig-unreadable" in out and "corrupt Beads record" in out
    assert out.strip().splitlines()[-1].startswith("Not in sync")
    code, out, _ = gt("apply", "--yes")
    assert code == 2 and "Not in sync" in out


def test_status_without_a_controller_shows_what_is_observed(demo_town: Path) -> None:
    code, out, _ = gt("status")
    assert code == 0
    assert "controller not running (gt start); showing what is observed now" in out
    assert "convoy demo: 0/4 done" in out and "pending: + spawn demo/nux dm-greet" in out
    assert gt("apply", "--yes")[0] == 0
    doc = status_json()
    assert doc["source"] == "observed" and doc["controllerAlive"] is False
    assert {w["name"] for w in doc["rigs"][0]["workers"]} == {"nux", "slit", "toast"}


def test_a_missing_or_corrupt_status_file_with_a_live_controller_says_so(demo_town: Path) -> None:
    with TownLock(demo_town, "controller"):  # this process stands in for a live controller
        code, out, _ = gt("status")
        assert code == 0 and f"controller running (pid {os.getpid()}) but" in out
        assert "status.json does not exist yet: it has not finished a pass" in out
        (demo_town / ".gt/status.json").write_text('{"sync": ')
        code, out, _ = gt("status")
        assert code == 2 and "status.json is corrupt: " in out and "convoy demo: 0/4 done" in out


def test_a_failed_action_makes_the_rig_degraded_with_the_failure_named(demo_town: Path) -> None:
    from reconciler.act.executor import Executor

    town = Town.load(demo_town)
    plan, _ = town.plan(0.0)
    store(demo_town).hook("dm-parser", "demo/workers/someone")
    Executor(town.desired, town.runtime, town.stores).apply(plan)
    store(demo_town).unhook("dm-parser", "demo/workers/someone")
    rig = status_json()["rigs"][0]
    assert rig["health"] == "Degraded"
    (failure,) = rig["failures"]
    assert failure["action"] == "spawn" and failure["issue"] == "dm-parser" and "someone" in failure["error"]
    _code, out, _ = gt("status")
    assert "! spawn dm-parser failed 1x, last at" in out


# -- the CLI as users expect it ---------------------------------------------------------


def test_yes_piped_into_apply_applies(demo_town: Path) -> None:
    code, out, err = gt("apply", input="")
    assert code == 2 and "pass --yes" in err and observe_sessions(tmux_of(demo_town)) == ()
    code, out, err = gt("apply", input="n\n")
    assert code == 1 and "Cancelled" in err
    code, out, err = gt("apply", input="yes\n")
    assert code == 0 and "Apply 3 actions? [y/N]" in err and out.count(": created") == 3


# -- the rig's repository stays clean ---------------------------------------------------


def test_nothing_gt_writes_is_left_untracked_in_the_rig(demo_town: Path) -> None:
    assert gt("apply", "--yes")[0] == 0
    wait_for(lambda: store(demo_town).get("dm-greet").status == "in_progress")
    with git.Repo(demo_town / "rigs/demo") as repo:
        assert repo.untracked_files == []
        assert (demo_town / "rigs/demo/.beads/issues.jsonl.lock").exists()
    with git.Repo(demo_town) as town_repo:
        assert town_repo.untracked_files == []
