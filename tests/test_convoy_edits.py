"""Everyday convoy edits converge on real tmux, git and the store: dropping, adding,
reordering and moving issues never wedge a worker, never repeat a failing action, and
never delete work a worktree holds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import git
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town

from .conftest import commit_all, save

runner = CliRunner()
CONVOY = "manifests/convoys/demo.yaml"


def gt(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def workers(town: Path) -> dict[str, str]:
    """issue -> worker, for every live session."""
    return {s.stamps.issue: s.stamps.worker for s in observe_sessions(Tmux(Town.load(town).desired.socket))
            if not s.dead}


def set_issues(town: Path, *issues: str, convoy: str = "demo", parallelism: int = 3) -> None:
    path = town / "manifests" / "convoys" / f"{convoy}.yaml"
    save(path, f"apiVersion: gt/v1\nkind: Convoy\nmetadata: {{name: {convoy}}}\nspec:\n"
               f"  rig: demo\n  issues: [{', '.join(issues)}]\n  parallelism: {parallelism}\n")


def converge(town: Path, passes: int = 4) -> list[str]:
    """Apply until nothing is left to do; every apply must succeed. Returns each apply's output."""
    outputs = []
    for _ in range(passes):
        code, out = gt("apply", "--yes")
        outputs.append(out)
        assert code == 0, "\n".join(outputs)
        if gt("diff")[0] == 0:
            return outputs
    raise AssertionError("did not converge:\n" + "\n".join(outputs))


def idle_town(town: Path) -> None:
    routing = town / "manifests/routing.yaml"
    save(routing, routing.read_text().replace("GT_DEMO_DELAY: '0.1'", "GT_DEMO_DELAY: '0.1', GT_DEMO_MODE: idle"))
    store(town).create("New work", issue_id="dm-new")
    store(town).create("More work", issue_id="dm-more")
    assert gt("apply", "--yes")[0] == 0
    assert workers(town) == {"dm-greet": "nux", "dm-parser": "slit", "dm-readme": "toast"}


def wt(town: Path, worker: str) -> Path:
    return town / ".gt/worktrees/demo" / worker


def test_drop_one_issue_and_add_another_then_commit(demo_town: Path) -> None:
    """The reported wedge: the freed name went to the new issue while its worktree was still
    on the old branch, failing every pass."""
    idle_town(demo_town)
    set_issues(demo_town, "dm-greet", "dm-parser", "dm-new")
    commit_all(demo_town, "swap readme for new")
    outputs = converge(demo_town)
    assert not any("failed" in line for out in outputs for line in out.splitlines() if ": failed" in line)
    live = workers(demo_town)
    assert live["dm-greet"] == "nux" and live["dm-parser"] == "slit" and "dm-new" in live
    assert "dm-readme" not in live and store(demo_town).get("dm-readme").status == "open"
    assert not wt(demo_town, "toast").exists() or live.get("dm-new") == "toast"  # landed: pruned or reused
    assert not (demo_town / ".gt/failures.json").exists()


def test_reordering_and_moving_between_convoys_disturb_no_worker(demo_town: Path) -> None:
    idle_town(demo_town)
    generations = {s.name: s.stamps.generation for s in observe_sessions(Tmux(Town.load(demo_town).desired.socket))}
    set_issues(demo_town, "dm-cache", "dm-readme", "dm-parser", "dm-greet")
    assert gt("diff")[0] == 0  # a new order changes nothing that runs
    set_issues(demo_town, "dm-greet", "dm-parser", "dm-cache")
    set_issues(demo_town, "dm-readme", convoy="docs")  # moved to another convoy of the rig
    code, out = gt("diff")
    assert code == 0, out
    now = {s.name: s.stamps.generation for s in observe_sessions(Tmux(Town.load(demo_town).desired.socket))}
    assert now == generations


def test_a_dropped_issue_whose_worktree_holds_commits_is_kept_and_reported(demo_town: Path) -> None:
    idle_town(demo_town)
    tree = wt(demo_town, "toast")
    (tree / "notes.md").write_text("half the work\n")
    with git.Repo(tree) as repo:
        repo.index.add(["notes.md"])
        repo.index.commit("dm-readme: half done")
    set_issues(demo_town, "dm-greet", "dm-parser", "dm-new")
    outputs = converge(demo_town)
    assert (tree / "notes.md").read_text() == "half the work\n"
    with git.Repo(tree) as repo:
        assert repo.active_branch.name == "gt/toast/dm-readme"
    live = workers(demo_town)
    assert live["dm-new"] == "furiosa"  # toast's name is not handed out while its worktree holds work
    code, out = gt("diff")
    assert code == 0 and "! worktree-kept demo/toast" in out and "1 commit not on the rig's branch" in out
    assert all(": failed" not in out for out in outputs)
    # Putting the issue back gives it its worker and its commits again.
    set_issues(demo_town, "dm-greet", "dm-parser", "dm-new", "dm-readme", parallelism=4)
    edit_max(demo_town, 4)
    converge(demo_town)
    assert workers(demo_town)["dm-readme"] == "toast"
    assert (tree / "notes.md").exists()


def test_a_dropped_issue_with_uncommitted_changes_is_never_deleted(demo_town: Path) -> None:
    idle_town(demo_town)
    tree = wt(demo_town, "toast")
    (tree / "wip.txt").write_text("unsaved\n")
    set_issues(demo_town, "dm-greet", "dm-parser", "dm-new")
    converge(demo_town)
    assert (tree / "wip.txt").read_text() == "unsaved\n"
    code, out = gt("diff")
    assert code == 0 and "uncommitted changes (wip.txt)" in out
    assert workers(demo_town)["dm-new"] == "furiosa"
    code, out = gt("-o", "json", "status")
    notes = json.loads(out)["rigs"][0]["notes"]
    assert any("worktree-kept" in n and "wip.txt" in n for n in notes)


def test_an_issue_closed_by_hand_frees_its_worker_and_worktree(demo_town: Path) -> None:
    idle_town(demo_town)
    store(demo_town).close("dm-readme", "not needed")
    set_issues(demo_town, "dm-greet", "dm-parser", "dm-readme", "dm-new")
    converge(demo_town)
    live = workers(demo_town)
    assert "dm-readme" not in live and "dm-new" in live
    assert not wt(demo_town, "toast").exists() or live["dm-new"] == "toast"


def test_a_failing_spawn_is_not_repeated_every_pass_by_the_controller(demo_town: Path) -> None:
    """A failure gt could not foresee is remembered: the next passes back off and say so."""
    from reconciler.act.executor import Executor

    idle_town(demo_town)
    set_issues(demo_town, "dm-greet", "dm-parser", "dm-readme", "dm-new", parallelism=4)
    edit_max(demo_town, 4)
    town = Town.load(demo_town)
    plan, _ = town.plan(0.0)
    store(demo_town).hook("dm-new", "demo/workers/someone")  # taken behind the plan's back
    Executor(town.desired, town.runtime, town.stores).apply(plan)
    store(demo_town).unhook("dm-new", "demo/workers/someone")
    controller_plan, _ = Town.load(demo_town).plan(time.time())  # what a pass would do
    assert "spawn" not in [a.op.value for a in controller_plan.actions]
    (note,) = [n for n in controller_plan.notes if n.reason == "failing"]
    assert note.issue == "dm-new" and "next try in" in note.why and "someone" in note.why
    # gt apply, asked by a person, tries again at once.
    code, _out = gt("apply", "--yes")
    assert code == 0 and "dm-new" in workers(demo_town)


def edit_max(town: Path, n: int) -> None:
    rig = town / "manifests/rigs/demo.yaml"
    save(rig, rig.read_text().replace("max: 3", f"max: {n}"))


def test_moving_an_issue_to_another_rig_converges(demo_town: Path) -> None:
    """Two rigs over one repository and store: the issue's worker on the first rig stops and
    releases it, then the second rig's worker takes it; no pass fails on the way."""
    idle_town(demo_town)
    rig = (demo_town / "manifests/rigs/demo.yaml").read_text()
    save(demo_town / "manifests/rigs/docs.yaml", rig.replace("name: demo", "name: docs"))
    set_issues(demo_town, "dm-greet", "dm-parser")
    save(demo_town / "manifests/convoys/moved.yaml",
         "apiVersion: gt/v1\nkind: Convoy\nmetadata: {name: moved}\nspec:\n  rig: docs\n  issues: [dm-readme]\n")
    outputs = converge(demo_town)
    assert all(": failed" not in out for out in outputs)
    sessions = {s.stamps.issue: (s.stamps.rig, s.stamps.worker)
                for s in observe_sessions(Tmux(Town.load(demo_town).desired.socket)) if not s.dead}
    assert sessions["dm-readme"][0] == "docs"
    assert store(demo_town).get("dm-readme").assignee == f"docs/workers/{sessions['dm-readme'][1]}"
    assert sessions["dm-greet"] == ("demo", "nux")
