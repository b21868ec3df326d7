"""gt diff / gt apply against a real tmux server, real git and the embedded store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import git
import pytest

from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town
from reconciler.model.observed import DONE_LABEL

from .conftest import commit_all, gt, save, wait_for


def set_agent_mode(town: Path, mode: str) -> None:
    routing = town / "manifests" / "routing.yaml"
    save(routing, routing.read_text().replace("env: {GT_DEMO_DELAY: '0.1'}",
                                              f"env: {{GT_DEMO_DELAY: '0.1', GT_DEMO_MODE: {mode}}}"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    save(path, text.replace(old, new))


def tmux_of(town: Path) -> Tmux:
    return Tmux(Town.load(town).desired.socket)


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def sessions(town: Path) -> dict[str, object]:
    return {s.name: s for s in observe_sessions(tmux_of(town))}


def session_env(town: Path, session: str) -> dict[str, str]:
    result = tmux_of(town).run(["show-environment", "-t", f"={session}"])
    return dict(line.split("=", 1) for line in result.stdout if "=" in line)


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_apply_from_nothing_then_in_sync(demo_town: Path) -> None:
    set_agent_mode(demo_town, "idle")
    code, out, _ = gt("diff")
    assert code == 1
    assert "+ spawn    demo/nux" in out and "dm-greet" in out and "haiku (demo)" in out
    assert "! blocked  demo" in out and "dm-cache" in out

    code, out, err = gt("apply", "--yes")
    assert code == 0, out + err
    assert out.count(": created") == 3

    live = sessions(demo_town)
    assert sorted(live) == ["gt-demo-nux", "gt-demo-slit", "gt-demo-toast"]
    nux = live["gt-demo-nux"]
    worktree = demo_town / ".gt/worktrees/demo/nux"
    assert git.Repo(worktree).active_branch.name == "gt/nux/dm-greet"
    cwd = tmux_of(demo_town).run(["display-message", "-p", "-t", "=gt-demo-nux:", "#{pane_current_path}"])
    assert Path(cwd.stdout[0]).resolve() == worktree.resolve()
    env = session_env(demo_town, "gt-demo-nux")
    assert env["GT_ISSUE"] == "dm-greet" and env["GT_ROLE"] == "demo/workers/nux"
    assert env["BD_ACTOR"] == "demo/workers/nux" and env["GT_RIG"] == "demo"
    assert env["GT_GENERATION"] == nux.stamps.generation and len(env["GT_GENERATION"]) == 12
    assert env["GT_FINGERPRINT"] == nux.stamps.fingerprint
    argv = cmdline(nux.pane_pid)
    # Started by its absolute path, with the model's arguments and then the start prompt.
    agent = next(a for a in argv if a.endswith("gt-demo-agent"))
    assert Path(agent).is_absolute()
    assert argv[-3:-1] == ["--model", "haiku"] and argv[-1].startswith("You are demo/workers/nux")

    issue = store(demo_town).get("dm-greet")
    assert issue.assignee == "demo/workers/nux" and issue.status in ("hooked", "in_progress")
    wait_for(lambda: store(demo_town).get("dm-greet").status == "in_progress")  # the agent picked it up

    code, out, _ = gt("apply", "--yes")
    assert code == 0 and "In sync" in out
    code, out, _ = gt("diff")
    assert code == 0
    assert sessions(demo_town)["gt-demo-nux"].stamps.generation == nux.stamps.generation


def test_killed_session_is_respawned_on_the_same_issue_and_branch(demo_town: Path) -> None:
    set_agent_mode(demo_town, "idle")
    assert gt("apply", "--yes")[0] == 0
    before = sessions(demo_town)["gt-demo-slit"]
    tmux_of(demo_town).run(["kill-session", "-t", "=gt-demo-slit"])

    code, out, _ = gt("diff")
    assert code == 1
    assert "+ respawn  demo/slit" in out and "dm-parser" in out and "session-missing" in out
    assert "spawn    demo/" not in out.replace("respawn", "")

    assert gt("apply", "--yes")[0] == 0
    after = sessions(demo_town)["gt-demo-slit"]
    assert after.stamps.issue == "dm-parser" and after.stamps.generation != before.stamps.generation
    assert session_env(demo_town, "gt-demo-slit")["GT_BRANCH"] == "gt/slit/dm-parser"
    assert store(demo_town).get("dm-parser").assignee == "demo/workers/slit"
    assert gt("diff")[0] == 0


def test_crashed_agent_pane_is_seen_as_missing(demo_town: Path) -> None:
    set_agent_mode(demo_town, "crash")
    assert gt("apply", "--yes")[0] == 0
    wait_for(lambda: all(s.dead for s in sessions(demo_town).values()))
    code, out, _ = gt("diff")
    assert code == 1 and out.count("+ respawn") == 3 and "agent exited" in gt("diff", "--why")[1] and "crashed" in out


def test_dock_stops_sessions_keeps_hooks_and_undock_resumes(demo_town: Path) -> None:
    set_agent_mode(demo_town, "idle")
    assert gt("apply", "--yes")[0] == 0
    rig = demo_town / "manifests/rigs/demo.yaml"
    edit(rig, "state: active", "state: docked")

    code, out, _ = gt("diff")
    assert code == 1 and out.count("- stop") == 3 and "docked" in out
    assert gt("apply", "--yes")[0] == 0
    assert sessions(demo_town) == {}
    hooks = {i.id: i.assignee for i in store(demo_town).list(status=["hooked", "in_progress"])}
    assert hooks == {"dm-greet": "demo/workers/nux", "dm-parser": "demo/workers/slit",
                     "dm-readme": "demo/workers/toast"}
    assert gt("diff")[0] == 0  # docked and quiet: nothing to do

    edit(rig, "state: docked", "state: active")
    code, out, _ = gt("diff")
    assert code == 1 and out.count("+ respawn") == 3 and "+ spawn " not in out
    assert gt("apply", "--yes")[0] == 0
    live = sessions(demo_town)
    assert {n: s.stamps.issue for n, s in live.items()} == {
        "gt-demo-nux": "dm-greet", "gt-demo-slit": "dm-parser", "gt-demo-toast": "dm-readme"}


def test_parked_rig_starts_nothing(demo_town: Path) -> None:
    edit(demo_town / "manifests/rigs/demo.yaml", "state: active", "state: parked")
    code, out, _ = gt("diff")
    assert code == 0 and "rig is parked" in out
    assert gt("apply", "--yes")[0] == 0 and sessions(demo_town) == {}


def test_saved_plan_is_applied_exactly_or_refused_when_stale(demo_town: Path) -> None:
    set_agent_mode(demo_town, "idle")
    code, _, _ = gt("diff", "--out", "plan.json")
    assert code == 1
    saved = json.loads(Path("plan.json").read_text())
    assert [a["op"] for a in saved["actions"]] == ["spawn", "spawn", "spawn"]

    edit(demo_town / "manifests/convoys/demo.yaml", "parallelism: 3", "parallelism: 1")
    code, _, err = gt("apply", "--yes", "plan.json")
    assert code == 2 and "stale" in err and "manifests" in err
    assert sessions(demo_town) == {}

    edit(demo_town / "manifests/convoys/demo.yaml", "parallelism: 1", "parallelism: 3")
    store(demo_town).update("dm-readme", add_labels=["someone-touched-it"])
    code, _, err = gt("apply", "--yes", "plan.json")
    assert code == 2 and "observed state" in err

    assert gt("diff", "--out", "plan.json")[0] == 1
    code, out, _ = gt("apply", "--yes", "plan.json")
    assert code == 0 and out.count(": created") == 3


def test_apply_needs_yes_when_not_on_a_terminal(demo_town: Path) -> None:
    code, _, err = gt("apply")
    assert code == 2 and "--yes" in err
    assert sessions(demo_town) == {}
    code, out, _ = gt("apply", "--dry-run")
    assert code == 0 and "+ spawn" in out and sessions(demo_town) == {}


def test_orphans_are_reported_and_pruned_only_when_asked(demo_town: Path) -> None:
    set_agent_mode(demo_town, "idle")
    assert gt("apply", "--yes")[0] == 0
    tmux_of(demo_town).run(["new-session", "-d", "-s", "stray", "--", "sleep", "600"])
    code, out, _ = gt("diff")
    assert code == 0 and "orphan" in out and "stray" in out
    code, out, _ = gt("diff", "--prune")
    assert code == 1 and "- stop     stray" in out
    assert gt("apply", "--yes", "--prune")[0] == 0
    assert sorted(sessions(demo_town)) == ["gt-demo-nux", "gt-demo-slit", "gt-demo-toast"]


def test_prune_refuses_to_empty_the_town(demo_town: Path) -> None:
    set_agent_mode(demo_town, "idle")
    assert gt("apply", "--yes")[0] == 0
    for path in (demo_town / "manifests").rglob("*.yaml"):
        if "town.yaml" not in path.name:
            path.unlink()
    commit_all(demo_town, "an empty town")
    code, _, err = gt("apply", "--yes", "--prune")
    assert code == 2 and "--allow-empty" in err
    assert len(sessions(demo_town)) == 3
    assert gt("apply", "--yes", "--prune", "--allow-empty")[0] == 0
    assert sessions(demo_town) == {}
    # Hooks stay: stopping a session never drops its work.
    assert len(store(demo_town).list(status=["hooked", "in_progress"])) == 3


def test_a_name_whose_place_is_taken_is_not_handed_out(demo_town: Path) -> None:
    set_agent_mode(demo_town, "idle")
    blocker = demo_town / ".gt/worktrees/demo/slit"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a worktree")
    code, out, _ = gt("apply", "--yes")
    assert code == 0, out
    assert "! worktree-kept demo/slit" in out and "not a git worktree" in out
    assert {s.stamps.worker for s in sessions(demo_town).values()} == {"nux", "toast", "furiosa"}
    assert blocker.read_text() == "not a worktree"


def test_one_failed_action_does_not_stop_the_others(demo_town: Path) -> None:
    from reconciler.act.executor import Executor

    set_agent_mode(demo_town, "idle")
    town = Town.load(demo_town)
    plan, _ = town.plan(0.0)
    store(demo_town).hook("dm-parser", "demo/workers/someone")  # taken between plan and apply
    outcomes = Executor(town.desired, town.runtime, town.stores).apply(plan)
    failed = [o for o in outcomes if o.failed]
    assert [o.action.issue for o in failed] == ["dm-parser"] and "someone" in failed[0].detail
    assert sorted(o.action.issue for o in outcomes if o.result.value == "created") == ["dm-greet", "dm-readme"]
    assert not (demo_town / ".gt/worktrees/demo/slit").exists() or store(demo_town).get("dm-parser").assignee \
        == "demo/workers/someone"  # its hook was never taken from its holder
    # The failure is remembered: the controller backs off, and status names it.
    records = json.loads((demo_town / ".gt/failures.json").read_text())
    assert [(r["op"], r["issue"]) for r in records] == [("spawn", "dm-parser")]


def test_whole_loop_spawn_work_merge_then_next_issue(demo_town: Path) -> None:
    assert gt("apply", "--yes")[0] == 0
    wait_for(lambda: all(DONE_LABEL in store(demo_town).get(i).labels
                         for i in ("dm-greet", "dm-parser", "dm-readme")), timeout=30)
    code, out, _ = gt("diff")
    assert code == 1 and out.count("~ merge") == 3
    code, out, _ = gt("apply", "--yes")
    assert code == 0 and out.count(": merged") == 3
    rig = git.Repo(demo_town / "rigs/demo")
    subjects = [c.summary for c in rig.iter_commits("main")]
    assert {"dm-greet: Add a greeting module", "dm-parser: Write the config parser"} <= set(subjects)
    assert (demo_town / "rigs/demo/work/dm-parser.md").exists()
    assert rig.git.status("--porcelain", "--", ".", ":!.beads") == ""  # only the store moved
    assert store(demo_town).get("dm-parser").status == "closed"
    assert sessions(demo_town) == {}
    # dm-cache was blocked by the parser; now it is ready and gets a worker.
    code, out, _ = gt("diff")
    assert code == 1 and "+ spawn    demo/nux" in out and "dm-cache" in out


def test_diff_json_is_one_document(demo_town: Path) -> None:
    code, out, _ = gt("-o", "json", "--color", "always", "diff")
    assert code == 1 and "\x1b" not in out
    data = json.loads(out)
    assert data["inSync"] is False and [a["marker"] for a in data["actions"]] == ["+", "+", "+"]
    assert data["notes"][0]["reason"] == "blocked"


def test_invalid_manifests_stop_diff_and_apply(demo_town: Path) -> None:
    tmux = tmux_of(demo_town)
    edit(demo_town / "manifests/rigs/demo.yaml", "max: 3", "max: -3")
    head = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=demo_town, capture_output=True,
                          text=True, check=True).stdout.strip()
    for command in (["diff"], ["apply", "--yes"]):
        code, _, err = gt(*command)
        assert code == 2
        assert err.splitlines() == [
            "manifests/rigs/demo.yaml:12:18: $.spec.workers.max: -3 is less than the minimum of 0",
            f"1 error in the manifests committed at {head} (main)",
        ]
    assert observe_sessions(tmux) == ()


@pytest.mark.parametrize("mode", ["idle"])
def test_nudge_is_typed_and_counted(demo_town: Path, mode: str) -> None:
    set_agent_mode(demo_town, mode)
    edit(demo_town / "manifests/rigs/demo.yaml", "idleAfter: 20s", "idleAfter: 0s")
    assert gt("apply", "--yes")[0] == 0
    def pane(worker: str = "nux") -> str:
        return "\n".join(tmux_of(demo_town).run(["capture-pane", "-p", "-t", f"=gt-demo-{worker}:"]).stdout)

    for worker in ("nux", "slit", "toast"):  # each waits at its prompt, the only time nudges go in
        wait_for(lambda w=worker: "idle mode" in pane(w) and pane(w).rstrip().endswith("demo>"))
    code, out, _ = gt("apply", "--yes")
    assert code == 0 and out.count("nudge: updated (nudge 1 delivered)") == 3
    wait_for(lambda: pane().count("idle mode: not working on it") == 2)  # the nudge made it look again
    assert "demo> Work is on your hook: run gt prime" in pane()
    assert sessions(demo_town)["gt-demo-nux"].stamps.nudges == 1
    # nudgeEvery (2m) has not passed: the next apply does not nudge again.
    assert gt("diff")[0] == 0


def test_attach_wants_rig_slash_worker(demo_town: Path) -> None:
    code, _, err = gt("attach", "nux")
    assert code == 2 and "expected coordinator, witness, refinery or RIG/WORKER" in err


def test_many_workers_start_in_a_few_tmux_calls(demo_town: Path) -> None:
    from reconciler.act.executor import Executor
    from reconciler.clients.stores import default_stores

    set_agent_mode(demo_town, "idle")
    s = store(demo_town)
    ids = [s.create(f"Task {n}", issue_id=f"dm-bulk{n}").id for n in range(40)]
    edit(demo_town / "manifests/convoys/demo.yaml", "parallelism: 3", "parallelism: 0")
    edit(demo_town / "manifests/convoys/demo.yaml", "dm-cache]", "dm-cache, " + ", ".join(ids) + "]")
    edit(demo_town / "manifests/rigs/demo.yaml", "max: 3", "max: 43")
    town = Town.load(demo_town)
    plan, _ = town.plan(0.0)
    assert sum(a.op.value == "spawn" for a in plan.actions) == 43
    town.runtime.tmux.calls = 0
    outcomes = Executor(town.desired, town.runtime, default_stores).apply(plan)
    assert [o.result.value for o in outcomes] == ["created"] * 43
    assert len(sessions(demo_town)) == 43
    # Batched under tmux's command-length limit: a handful of calls, not one or more per worker.
    assert town.runtime.tmux.calls <= 10, town.runtime.tmux.calls
