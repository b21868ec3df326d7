"""The refinery survives a crash at any step: one merge commit per issue, no work dropped."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from reconciler.act.executor import Executor
from reconciler.clients import git as gitops
from reconciler.clients import merges
from reconciler.clients.beads import IssueStore
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.stores import default_stores, town_store
from reconciler.errors import StoreError
from reconciler.loop.town import Town
from reconciler.model.actions import Op
from reconciler.model.desired import DesiredState, RigSpec
from reconciler.model.observed import DONE_LABEL

from .conftest import save, wait_for

STRATEGIES = ["squash", "merge", "rebase"]


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def set_rig(town: Path, text: str) -> None:
    rig = town / "manifests/rigs/demo.yaml"
    save(rig, rig.read_text().rstrip("\n") + "\n" + text)


def done_town(town: Path, strategy: str, gates: str = "[]") -> Town:
    """The demo town with its three workers done, waiting for the refinery."""
    set_rig(town, f"  refinery: {{strategy: {strategy}, gates: {gates}}}\n")
    loaded = Town.load(town)
    plan, _ = loaded.plan(0.0)
    Executor(loaded.desired, loaded.runtime, loaded.stores).apply(plan)
    wait_for(lambda: all(DONE_LABEL in store(town).get(i).labels for i in ("dm-greet", "dm-parser", "dm-readme")),
             timeout=30)
    return loaded


def merge_only(town: Town, issue: str, stores: object = None) -> list[str]:
    """Run the plan's merge of ``issue`` alone; the outcomes as 'result: detail'."""
    plan, _ = town.plan(0.0, backoff=False)
    actions = tuple(a for a in plan.actions if a.op is Op.merge and a.issue == issue)
    assert actions, [(a.op.value, a.issue) for a in plan.actions]
    from dataclasses import replace

    executor = Executor(town.desired, town.runtime, stores or town.stores)  # type: ignore[arg-type]
    return [f"{o.result.value}: {o.detail}" for o in executor.apply(replace(plan, actions=actions))]


def commits_for(town: Path, issue: str) -> list[str]:
    """The refinery's commits for ``issue`` on main (squash and merge make one; rebase none)."""
    repo = git.Repo(town / "rigs/demo")
    return [c.hexsha for c in repo.iter_commits("main") if f"{gitops.TRAILER_ISSUE}: {issue}" in str(c.message)]


def main_tip(town: Path) -> str:
    return git.Repo(town / "rigs/demo").commit("main").hexsha


class FailingClose:
    """The real store, whose close fails once (a full disk at the worst moment)."""

    def __init__(self) -> None:
        self.failed = False

    def __call__(self, desired: DesiredState, rig: RigSpec) -> IssueStore:
        real = default_stores(desired, rig)
        outer = self

        class Store:
            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def close(self, issue_id: str, reason: str) -> object:
                if not outer.failed:
                    outer.failed = True
                    raise StoreError("cannot write issues.jsonl: No space left on device")
                return real.close(issue_id, reason)

        return Store()  # type: ignore[return-value]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_close_that_fails_after_landing_is_finished_later_without_a_second_merge(
        demo_town: Path, strategy: str) -> None:
    town = done_town(demo_town, strategy)
    failing = FailingClose()
    before = main_tip(demo_town)
    first = merge_only(town, "dm-greet", failing)
    assert first[0].startswith("failed") and "No space left" in first[0]
    landed = main_tip(demo_town)
    assert landed != before and store(demo_town).get("dm-greet").status != "closed"
    assert len(commits_for(demo_town, "dm-greet")) == (0 if strategy == "rebase" else 1)

    again = merge_only(town, "dm-greet")  # the next pass: recognised on main, only the close is done
    assert again[0].startswith("merged")
    assert main_tip(demo_town) == landed  # main did not move again
    assert store(demo_town).get("dm-greet").status == "closed"
    assert "gt:merge-failed" not in store(demo_town).get("dm-greet").labels
    assert merges.load(str(demo_town)) == ()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_crash_before_the_branch_moves_resumes_with_the_merge_it_recorded(
        demo_town: Path, strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    town = done_town(demo_town, strategy)

    def killed(*_: object) -> None:
        raise SystemExit("killed before the branch moved")

    with monkeypatch.context() as patch:
        patch.setattr(gitops, "_advance", killed)
        with pytest.raises(SystemExit):
            merge_only(town, "dm-parser")
    intent = merges.find(str(demo_town), "demo", "dm-parser")
    assert intent is not None and intent.landed and intent.strategy == strategy
    repo = git.Repo(demo_town / "rigs/demo")
    assert repo.commit("main").hexsha == intent.base  # nothing landed yet

    again = merge_only(town, "dm-parser")
    assert again[0].startswith("merged")
    assert repo.commit("main").hexsha == intent.landed  # the very merge it recorded, not a second one
    assert len(commits_for(demo_town, "dm-parser")) == (0 if strategy == "rebase" else 1)
    assert "work/dm-parser.md" in {e.path for e in repo.commit("main").tree.traverse()}  # type: ignore[union-attr]
    assert store(demo_town).get("dm-parser").status == "closed"


def gate_script(town: Path, name: str, body: str) -> str:
    """A gate as a script beside the town (outside every repository), as the YAML list of gates."""
    script = town / f"{name}.sh"
    script.write_text("#!/bin/sh\nset -e\n" + body)
    script.chmod(0o755)
    return f'[["{script}"]]'


def test_commits_made_while_the_gates_run_are_landed_not_dropped(demo_town: Path) -> None:
    # The gate commits once in the worker's worktree, as an agent that kept working would.
    gate = gate_script(demo_town, "late", """
wt=$(git worktree list --porcelain | awk '/^worktree /{p=$2} /^branch refs[/]heads[/]gt[/].*[/]dm-readme$/{print p}')
cd "$wt"
test -e late.txt || { echo late > late.txt && git add late.txt && git commit -qm late; }
""")
    town = done_town(demo_town, "squash", gate)
    first = merge_only(town, "dm-readme")
    assert first[0].startswith("failed") and "moved past" in first[0], first
    repo = git.Repo(demo_town / "rigs/demo")
    assert commits_for(demo_town, "dm-readme") == [] and store(demo_town).get("dm-readme").status != "closed"
    assert "gt:merge-failed" not in store(demo_town).get("dm-readme").labels

    again = merge_only(town, "dm-readme")
    assert again[0].startswith("merged")
    assert "late.txt" in {e.path for e in repo.commit("main").tree.traverse()}  # type: ignore[union-attr]
    assert len(commits_for(demo_town, "dm-readme")) == 1
    failures = demo_town / ".gt/failures.json"
    assert not failures.exists() or json.loads(failures.read_text()) == []


def test_done_with_no_commits_is_a_failed_merge_not_a_closed_issue(demo_town: Path) -> None:
    """A branch with no work of its own is already in main's history: that is not a landing."""
    set_rig(demo_town, "  refinery: {strategy: merge}\n")
    routing = demo_town / "manifests/routing.yaml"
    save(routing, routing.read_text().replace("GT_DEMO_DELAY: '0.1'", "GT_DEMO_DELAY: '0.1', GT_DEMO_MODE: idle"))
    town = Town.load(demo_town)
    plan, _ = town.plan(0.0)
    Executor(town.desired, town.runtime, town.stores).apply(plan)
    store(demo_town).update("dm-greet", add_labels=[DONE_LABEL])  # reported done, committed nothing
    before = main_tip(demo_town)
    first = merge_only(town, "dm-greet")
    assert first[0].startswith("failed") and "has no commits that main lacks" in first[0]
    issue = store(demo_town).get("dm-greet")
    assert issue.status != "closed" and "gt:merge-failed" in issue.labels and main_tip(demo_town) == before


def test_a_rig_branch_moved_while_the_gates_ran_merges_again_on_top(demo_town: Path) -> None:
    # The gate commits once to main itself, as someone pushing meanwhile would.
    gate = ('["sh", "-c", "cd \\"$(git rev-parse --git-common-dir)/..\\" && test ! -e moved.txt && '
            'echo x > moved.txt && git add moved.txt && git commit -qm moved || true"]')
    town = done_town(demo_town, "squash", f"[{gate}]")
    first = merge_only(town, "dm-greet")
    assert first[0].startswith("failed") and "moved past" in first[0]
    assert "gt:merge-failed" not in store(demo_town).get("dm-greet").labels  # nothing to fix: try again
    again = merge_only(town, "dm-greet")
    assert again[0].startswith("merged")
    tree = {e.path for e in git.Repo(demo_town / "rigs/demo").commit("main").tree.traverse()}  # type: ignore[union-attr]
    assert "moved.txt" in tree and len(commits_for(demo_town, "dm-greet")) == 1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gates_run_on_the_merged_result_in_a_scratch_worktree_and_the_branch_goes_after(
        demo_town: Path, strategy: str) -> None:
    log = demo_town / "gate.log"
    gate = gate_script(demo_town, "check", f"""
echo "$(pwd) $(git rev-parse HEAD)" >> "{log}"
test -e main-only.txt
test -e work/dm-greet.md
""")
    town = done_town(demo_town, strategy, gate)
    rig = git.Repo(demo_town / "rigs/demo")
    (demo_town / "rigs/demo/main-only.txt").write_text("landed on main after the worker branched\n")
    rig.index.add(["main-only.txt"])
    rig.index.commit("main moves on")
    branch = next(h.name for h in rig.heads if h.name.endswith("/dm-greet"))

    outcome = merge_only(town, "dm-greet")
    assert outcome[0].startswith("merged") and "kept" not in outcome[0], outcome
    where, commit = log.read_text().split()
    assert Path(where) == demo_town / ".gt/scratch/demo/dm-greet"  # not the user's checkout, not the worker's
    assert commit == main_tip(demo_town)  # the gate saw exactly what landed
    assert not Path(where).exists() and str(where) not in rig.git.worktree("list")
    assert branch not in {h.name for h in rig.heads}  # landed, so its branch is removed with its worktree


def test_a_failing_gate_sends_its_output_back_and_moves_nothing(demo_town: Path) -> None:
    gate = gate_script(demo_town, "fail", "echo 'collected 3 items'\necho 'FAILED test_parse - KeyError' >&2\nexit 1\n")
    town = done_town(demo_town, "squash", gate)
    before = main_tip(demo_town)
    rig = git.Repo(demo_town / "rigs/demo")
    branch = next(h.name for h in rig.heads if h.name.endswith("/dm-parser"))
    worker = store(demo_town).get("dm-parser").assignee

    outcome = merge_only(town, "dm-parser")
    assert outcome[0].startswith("failed") and "on the merged result" in outcome[0], outcome
    assert main_tip(demo_town) == before and branch in {h.name for h in rig.heads}
    issue = store(demo_town).get("dm-parser")
    assert issue.assignee == worker and issue.status != "closed" and "gt:merge-failed" in issue.labels
    inbox = [m for m in town_store(town.desired).list(label="gt:message") if m.assignee == worker]
    rework = [m for m in inbox if "msg-type:REWORK_REQUEST" in m.labels]
    assert len(rework) == 1 and "FAILED test_parse - KeyError" in rework[0].description, inbox
    assert "collected 3 items" in rework[0].description
    assert not (demo_town / ".gt/scratch/demo/dm-parser").exists()


def test_a_worker_that_dies_between_done_and_the_merge_still_has_its_commits_merged(demo_town: Path) -> None:
    town = done_town(demo_town, "squash")
    worker = str(store(demo_town).get("dm-greet").assignee).rsplit("/", 1)[-1]
    town.runtime.stop(f"gt-demo-{worker}")  # the agent (and its pane) are gone before the refinery came
    plan, _ = town.plan(0.0, backoff=False)
    mine = [(a.op, a.issue) for a in plan.actions if a.worker == worker]
    assert mine == [(Op.merge, "dm-greet")]  # merged, not respawned to redo the work
    outcomes = Executor(town.desired, town.runtime, town.stores).apply(plan)
    assert any(o.action.issue == "dm-greet" and o.result.value == "merged" for o in outcomes), outcomes
    assert store(demo_town).get("dm-greet").status == "closed" and len(commits_for(demo_town, "dm-greet")) == 1
    tree = git.Repo(demo_town / "rigs/demo").commit("main").tree
    assert "work/dm-greet.md" in {e.path for e in tree.traverse()}  # type: ignore[union-attr]


def test_the_queue_lands_by_priority_then_oldest_report_and_starves_no_one(demo_town: Path) -> None:
    import time

    town = done_town(demo_town, "squash")
    rig_store = store(demo_town)
    for issue in ("dm-readme", "dm-parser", "dm-greet"):  # reported in this order, a second apart
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        wait_for(lambda s=stamp: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) > s)  # type: ignore[misc]
        rig_store.update(issue, remove_labels=[DONE_LABEL])
        rig_store.update(issue, add_labels=[DONE_LABEL])
    # Priority 1 before priority 2; at equal priority the older report first; the old P2 still lands now.
    plan, _ = town.plan(0.0, backoff=False)
    assert [a.issue for a in plan.actions if a.op is Op.merge] == ["dm-parser", "dm-greet", "dm-readme"]
    outcomes = Executor(town.desired, town.runtime, town.stores).apply(plan)
    assert [o.action.issue for o in outcomes if o.result.value == "merged"] == ["dm-parser", "dm-greet", "dm-readme"]
    landed = [m for c in git.Repo(demo_town / "rigs/demo").iter_commits("main", first_parent=True)
              for m in [str(c.message)] if gitops.TRAILER_ISSUE in m]
    assert [m.split(":")[0] for m in reversed(landed)] == ["dm-parser", "dm-greet", "dm-readme"]
