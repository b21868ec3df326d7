"""A rig whose repo is a Git URL: cloned on first need, fetched before a worker branches, and
pushed to after each merge, never forced (a local bare repository stands in for the remote)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import git
import pytest

from reconciler.act.executor import Executor
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.loop.town import Town
from reconciler.model.actions import Op
from reconciler.model.observed import DONE_LABEL

from .conftest import gt, save, wait_for


def sh(cwd: Path, *argv: str) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def commit_to_remote(scratch: Path, name: str) -> str:
    """Someone else pushes to the remote: a commit adding ``name``."""
    (scratch / name).write_text(f"{name}\n")
    sh(scratch, "git", "add", name)
    sh(scratch, "git", "-c", "user.name=other", "-c", "user.email=o@x", "commit", "-qm", f"add {name}")
    sh(scratch, "git", "pull", "-q", "--rebase", "origin", "main")
    sh(scratch, "git", "push", "-q", "origin", "HEAD:main")
    return sh(scratch, "git", "rev-parse", "HEAD").strip()


@pytest.fixture
def remote_town(demo_town: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The demo town with its rig moved to a bare 'remote' and the manifest naming its URL."""
    remote = tmp_path / "remote.git"
    sh(tmp_path, "git", "clone", "-q", "--bare", str(demo_town / "rigs/demo"), str(remote))
    sh(tmp_path, "rm", "-rf", str(demo_town / "rigs/demo"))
    other = tmp_path / "other"
    sh(tmp_path, "git", "clone", "-q", str(remote), str(other))
    rig = demo_town / "manifests/rigs/demo.yaml"
    save(rig, rig.read_text().replace("repo: rigs/demo ", f"repo: file://{remote}")
         + "  refinery: {push: true}\n")
    return demo_town, remote, other


def apply(town: Path, only: Op | None = None, issue: str | None = None) -> tuple[list[str], list[str]]:
    """One pass (or only its ``only`` actions): outcomes as 'op result: detail', and progress lines."""
    loaded = Town.load(town)
    plan, _ = loaded.plan(0.0, backoff=False)
    if only is not None:
        plan = replace(plan, actions=tuple(a for a in plan.actions
                                           if a.op is only and (issue is None or a.issue == issue)))
    said: list[str] = []
    executor = Executor(loaded.desired, loaded.runtime, loaded.stores, on_progress=lambda a, line: said.append(line))
    return [f"{o.action.op.value} {o.result.value}: {o.detail}" for o in executor.apply(plan)], said


def test_a_url_rig_is_cloned_fetched_before_branching_and_pushed_to_without_force(
        remote_town: tuple[Path, Path, Path]) -> None:
    town, remote, other = remote_town
    clone = town / ".gt/repos/demo"
    first = Town.load(town).plan(0.0)[0]
    assert [(a.op, a.subject) for a in first.actions] == [(Op.clone, "rig/demo")]  # nothing else until cloned

    outcomes, progress = apply(town)
    assert outcomes == [f"clone created: cloned file://{remote} into {clone}"], outcomes
    assert progress and any("Cloning into" in line for line in progress), progress
    assert git.Repo(clone).active_branch.name == "main" and not (town / ".gt/repos/.demo.partial").exists()

    # The remote moves before any worker branches: the workers' branches start from it.
    moved = commit_to_remote(other, "before-branching.txt")
    outcomes, _ = apply(town)
    assert sum(o.startswith("spawn created") for o in outcomes) == 3, outcomes
    repo = git.Repo(clone)
    branches = [h for h in repo.heads if h.name.startswith("gt/")]
    assert branches and all(repo.is_ancestor(moved, h.commit.hexsha) for h in branches)

    store = JsonlStore(clone / ".beads/issues.jsonl", "dm")
    wait_for(lambda: all(DONE_LABEL in store.get(i).labels for i in ("dm-greet", "dm-parser", "dm-readme")),
             timeout=30)

    # A plain merge is pushed: the remote's main has the work.
    outcomes, _ = apply(town, Op.merge, "dm-greet")
    assert outcomes[0].startswith("merge merged"), outcomes
    remote_main = git.Repo(remote).commit("main")
    assert "work/dm-greet.md" in {e.path for e in remote_main.tree.traverse()}  # type: ignore[union-attr]
    assert repo.commit("main") == remote_main

    # The remote moves while the gates run (after the fetch, before the push): the push is rejected,
    # and the refinery fetches, merges and gates again, then pushes on top. Nothing is forced.
    marker = town / "moved-once"
    gate = town / "race.sh"
    gate.write_text(f"#!/bin/sh\nset -e\ntest -e {marker} && exit 0\ntouch {marker}\n"
                    f"cd {other} && git -c user.name=o -c user.email=o@x commit -q --allow-empty -m race "
                    "&& git pull -q --rebase origin main && git push -q origin HEAD:main\n")
    gate.chmod(0o755)
    rig = town / "manifests/rigs/demo.yaml"
    save(rig, rig.read_text().replace("refinery: {push: true}", f"refinery: {{push: true, gates: [[{gate}]]}}"))
    race = sh(other, "git", "rev-parse", "HEAD").strip()
    outcomes, progress = apply(town, Op.merge, "dm-parser")
    assert outcomes[0].startswith("merge merged"), (outcomes, progress)
    assert any("rejected (the remote moved)" in line for line in progress), progress
    remote_repo = git.Repo(remote)
    racer = next(c.hexsha for c in remote_repo.iter_commits("main") if c.message.strip() == "race")
    assert remote_repo.is_ancestor(racer, "main") and remote_repo.is_ancestor(race, "main")  # nothing lost
    assert "work/dm-parser.md" in {e.path for e in remote_repo.commit("main").tree.traverse()}  # type: ignore[union-attr]
    mine = [c for c in remote_repo.iter_commits("main") if "Gt-Issue: dm-parser" in str(c.message)]
    assert len(mine) == 1 and remote_repo.is_ancestor(racer, mine[0].hexsha)  # one merge, on top of the race
    assert JsonlStore(clone / ".beads/issues.jsonl", "dm").get("dm-parser").status == "closed"


def test_a_clone_that_fails_leaves_nothing_behind_and_backs_off(demo_town: Path, tmp_path: Path) -> None:
    import time

    rig = demo_town / "manifests/rigs/demo.yaml"
    save(rig, rig.read_text().replace("repo: rigs/demo ", f"repo: file://{tmp_path}/no-such.git"))
    code, out, err = gt("diff")
    assert code == 1 and "+ clone    rig/demo" in out and "not-cloned" in out, out + err
    outcomes, _ = apply(demo_town)
    assert len(outcomes) == 1 and outcomes[0].startswith("clone failed: git clone file://"), outcomes
    assert not (demo_town / ".gt/repos/demo").exists() and not (demo_town / ".gt/repos/.demo.partial").exists()
    later, _ = Town.load(demo_town).plan(time.time())  # the controller's plan: waits out the backoff
    assert not later.actions and any(n.reason == "failing" and "clone failed 1 time" in n.why for n in later.notes)


def test_a_rig_branch_the_clone_was_not_made_on_is_taken_from_the_remote(
        remote_town: tuple[Path, Path, Path]) -> None:
    town, _, other = remote_town
    apply(town)  # cloned on main
    sh(other, "git", "push", "-q", "origin", "HEAD:develop")
    tip = sh(other, "git", "rev-parse", "HEAD").strip()
    rig = town / "manifests/rigs/demo.yaml"
    save(rig, rig.read_text().replace("branch: main", "branch: develop"))
    outcomes, _ = apply(town)
    assert sum(o.startswith("spawn created") for o in outcomes) == 3, outcomes  # not a crashed pass
    clone = git.Repo(town / ".gt/repos/demo")
    assert clone.commit("develop").hexsha == tip
    assert all(clone.is_ancestor(tip, h.commit.hexsha) for h in clone.heads if h.name.startswith("gt/"))
