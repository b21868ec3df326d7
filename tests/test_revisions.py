"""GitOps: diff and apply read commits, the controller follows a branch and applies only what was
committed, an invalid commit is kept out while the last good one stays applied, and status says
which commit is applied. Real Git repositories, real tmux, the real controller."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from reconciler.clients.git_tree import TownRepository
from reconciler.loop.commits import revision_lines, revision_status

from .conftest import commit_all, wait_for, write_tree
from .manifest_texts import CONVOY, RIG
from .test_controller import WORKING, agent_env, gt, live_issues, rig_file, start, status

CONVOY_FILE = "manifests/convoys/demo.yaml"


def git(town: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(town), *args], check=True, capture_output=True, text=True).stdout.strip()


def drop_convoy(town: Path) -> None:
    (town / CONVOY_FILE).unlink()
    commit_all(town, "drop the demo convoy")


def test_diff_and_apply_read_the_commit_and_warn_about_uncommitted_edits(demo_town: Path) -> None:
    saved = (demo_town / CONVOY_FILE).read_text()
    drop_convoy(demo_town)
    (demo_town / CONVOY_FILE).write_text(saved)  # saved again, not committed
    code, out, err = gt("diff")
    head = git(demo_town, "rev-parse", "--short=7", "HEAD")
    assert code == 0 and out.splitlines()[0] == f"Manifests at {head} (main)" and "In sync" in out
    assert f"uncommitted changes under manifests/ are not included: {CONVOY_FILE} (untracked)" in err
    assert "--worktree" in err
    code, out, _ = gt("diff", "--worktree")
    assert code == 1 and "Manifests from the working tree (--worktree)" in out and out.count("+ spawn") == 3
    code, out, _ = gt("apply", "--yes")  # applies HEAD: the uncommitted convoy starts nothing
    assert code == 0 and "In sync" in out and live_issues(demo_town) == {}
    code, out, _ = gt("-o", "json", "diff", "--rev", "HEAD~1")  # the commit before the drop
    plan = json.loads(out)
    assert code == 1 and plan["revision"]["ref"] == "HEAD~1"
    assert {a["issue"] for a in plan["actions"] if a["op"] == "spawn"} == set(WORKING)


def test_apply_rolls_back_to_an_earlier_commit(demo_town: Path) -> None:
    agent_env(demo_town, GT_DEMO_MODE="idle")
    commit_all(demo_town, "idle agents")
    assert gt("apply", "--yes")[0] == 0
    assert live_issues(demo_town) == WORKING
    drop_convoy(demo_town)
    code, out, _ = gt("apply", "--yes")
    assert code == 0 and out.count("unwanted") == 3 and live_issues(demo_town) == {}
    code, out, _ = gt("apply", "--yes", "--rev", "HEAD~1")  # roll the drop back
    assert code == 0 and live_issues(demo_town) == WORKING
    code, _, err = gt("apply", "--yes", "--rev", "no-such-branch")
    assert code == 2 and "unknown revision 'no-such-branch'" in err
    code, _, err = gt("diff", "--rev", "HEAD", "--worktree")
    assert code == 2 and "give one of them" in err


def test_a_saved_plan_is_refused_once_a_commit_moved_the_manifests(demo_town: Path) -> None:
    assert gt("diff", "--out", "plan.json")[0] == 1
    before = git(demo_town, "rev-parse", "--short=7", "HEAD")
    drop_convoy(demo_town)
    after = git(demo_town, "rev-parse", "--short=7", "HEAD")
    code, _, err = gt("apply", "--yes", "plan.json")
    assert code == 2 and f"the manifests (made at {before}, now at {after}) changed" in err


def test_errors_of_a_commit_name_the_commit_file_and_line(demo_town: Path) -> None:
    rig = rig_file(demo_town)
    rig.write_text(rig.read_text().replace("max: 3", "max: -1"))
    commit_all(demo_town, "oops")
    head = git(demo_town, "rev-parse", "--short=7", "HEAD")
    code, _, err = gt("diff")
    assert code == 2 and "manifests/rigs/demo.yaml:12:18: $.spec.workers.max" in err
    assert f"1 error in the manifests committed at {head} (main)" in err
    assert gt("diff", "--rev", "HEAD~1")[0] == 1  # the commit before is fine


def test_a_town_that_is_not_a_repository_reads_its_files(in_tmp: Path) -> None:
    write_tree(in_tmp, {"manifests/rig.yaml": RIG, "manifests/convoy.yaml": CONVOY})
    code, out, _ = gt("diff")
    assert "Manifests from the working tree (not a Git repository)" in out.splitlines()[0]
    assert code == 2  # the rig's repository ../csm does not exist: an error note, not a crash
    code, _, err = gt("diff", "--rev", "HEAD")
    assert code == 2 and "is not a Git repository with a commit" in err


def test_status_compares_what_is_applied_with_what_is_committed(demo_town: Path) -> None:
    first = git(demo_town, "rev-parse", "HEAD")
    drop_convoy(demo_town)
    tip = git(demo_town, "rev-parse", "HEAD")
    (demo_town / "manifests" / "extra.yaml").write_text("# later\n")
    info = revision_status(demo_town, {"branch": "main", "commit": first, "rejected": None})
    assert (info["tip"], info["behind"]) == (tip, 1)
    assert [text for text, _ in revision_lines(info)] == [
        f"applied {first[:7]} (main); manifests at {tip[:7]}: 1 commit not applied",
        "uncommitted changes under manifests/ are not applied: manifests/extra.yaml (untracked)"]
    current = revision_status(demo_town, {"branch": "main", "commit": tip, "rejected": None})
    assert revision_lines(current)[0] == (f"applied {tip[:7]} (main), the newest commit", "info")
    assert TownRepository.find(demo_town) is not None


def test_the_controller_applies_commits_only_and_keeps_the_last_good_one(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    convoy = fast_town / CONVOY_FILE
    saved = convoy.read_text()
    convoy.unlink()
    commit_all(fast_town, "no convoy yet")
    start(fast_town)
    head = git(fast_town, "rev-parse", "HEAD")
    wait_for(lambda: status(fast_town).get("controller", {}).get("source", {}).get("commit") == head)
    convoy.write_text(saved)  # saved, not committed: nothing starts, status warns
    code, out, _ = gt("wake")
    number = status(fast_town)["lastPass"]["number"]
    wait_for(lambda: status(fast_town)["lastPass"]["number"] > number)
    assert live_issues(fast_town) == {}
    code, out, _ = gt("status")
    assert f"applied {head[:7]} (main), the newest commit" in out
    assert f"uncommitted changes under manifests/ are not applied: {CONVOY_FILE} (untracked)" in out
    commit_all(fast_town, "the demo convoy")  # the commit goes live by itself
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    good = git(fast_town, "rev-parse", "HEAD")
    rig = rig_file(fast_town)
    rig.write_text(rig.read_text().replace("max: 3", "max: -1"))
    commit_all(fast_town, "oops")
    bad = git(fast_town, "rev-parse", "HEAD")
    wait_for(lambda: status(fast_town)["controller"]["source"].get("rejected") == bad)
    source = status(fast_town)["controller"]["source"]
    assert (source["commit"], source["branch"]) == (good, "main")
    (error,) = status(fast_town)["sync"]["errors"]
    assert error["path"] == "manifests/rigs/demo.yaml" and (error["line"], error["col"]) == (12, 18)
    code, out, _ = gt("status")
    assert code == 2 and f"commit {bad[:7]} not applied: its manifests are invalid" in out
    assert f"applied {good[:7]} (main); manifests at {bad[:7]}: 1 commit not applied" in out
    assert live_issues(fast_town) == WORKING  # the last good commit stays applied
    git(fast_town, "revert", "--no-edit", "HEAD")
    wait_for(lambda: status(fast_town)["controller"]["source"].get("rejected") is None)
    assert status(fast_town)["sync"]["errors"] == []


def test_the_controller_follows_its_branch_not_the_checkout(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    commit_all(fast_town, "idle agents")
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    git(fast_town, "checkout", "-q", "-b", "experiment")
    drop_convoy(fast_town)  # on the experiment branch only
    experiment = git(fast_town, "rev-parse", "HEAD")
    code, _, _ = gt("wake")
    number = status(fast_town)["lastPass"]["number"]
    wait_for(lambda: status(fast_town)["lastPass"]["number"] > number)
    assert live_issues(fast_town) == WORKING
    assert status(fast_town)["controller"]["source"]["branch"] == "main"
    # gt diff reads the checkout: it shows what the experiment would do.
    code, out, _ = gt("diff")
    assert code == 1 and f"Manifests at {experiment[:7]} (experiment)" in out and out.count("unwanted") == 3
    # A commit on main that names the experiment branch: the controller follows it from then on.
    git(fast_town, "checkout", "-q", "main")
    town_yaml = fast_town / "manifests" / "town.yaml"
    town_yaml.write_text(town_yaml.read_text().replace("  controller:\n", "  controller:\n    branch: experiment\n"))
    commit_all(fast_town, "follow the experiment")
    wait_for(lambda: status(fast_town)["controller"]["source"]["branch"] == "experiment", timeout=20)
    assert status(fast_town)["controller"]["source"]["commit"] == experiment
    wait_for(lambda: live_issues(fast_town) == {}, timeout=20)


def test_a_plan_saved_at_a_named_revision_is_applied_at_it(demo_town: Path) -> None:
    agent_env(demo_town, GT_DEMO_MODE="idle")
    commit_all(demo_town, "idle agents")
    drop_convoy(demo_town)
    assert gt("diff", "--rev", "HEAD~1", "--out", "plan.json")[0] == 1
    code, out, err = gt("apply", "--yes", "plan.json")
    assert code == 0 and out.count(": created") == 3, out + err
    code, _, err = gt("apply", "--yes", "--rev", "HEAD", "plan.json")
    assert code == 2 and "made from" in err


def test_a_branch_is_followed_by_its_head_not_a_tag_of_the_same_name(demo_town: Path) -> None:
    git(demo_town, "tag", "main", "HEAD")  # an old tag named like the branch
    drop_convoy(demo_town)
    head = git(demo_town, "rev-parse", "--short=7", "refs/heads/main")
    code, out, _ = gt("diff")
    assert out.splitlines()[0] == f"Manifests at {head} (main)" and code == 0
    info = revision_status(demo_town, None)
    assert info["tip"].startswith(head)


def test_a_commit_naming_a_branch_that_does_not_exist_is_refused_and_the_fix_is_read(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    commit_all(fast_town, "idle agents")
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    good = git(fast_town, "rev-parse", "HEAD")
    town_yaml = fast_town / "manifests" / "town.yaml"
    town_yaml.write_text(town_yaml.read_text().replace("  controller:\n", "  controller:\n    branch: mian\n"))
    commit_all(fast_town, "a typo")
    bad = git(fast_town, "rev-parse", "HEAD")
    wait_for(lambda: status(fast_town)["controller"]["source"].get("rejected") == bad)
    source = status(fast_town)["controller"]["source"]
    assert (source["commit"], source["branch"]) == (good, "main")
    (error,) = status(fast_town)["sync"]["errors"]
    assert "branch 'mian' does not exist" in error["message"] and error["path"] == "manifests/town.yaml"
    town_yaml.write_text(town_yaml.read_text().replace("    branch: mian\n", ""))
    commit_all(fast_town, "the typo fixed")
    fixed = git(fast_town, "rev-parse", "HEAD")
    wait_for(lambda: status(fast_town)["controller"]["source"].get("commit") == fixed)
    assert status(fast_town)["controller"]["source"]["rejected"] is None
    assert live_issues(fast_town) == WORKING


def test_a_linked_manifest_is_refused_on_disk_as_in_a_commit(demo_town: Path) -> None:
    outside = demo_town.parent / "elsewhere.yaml"
    outside.write_text((demo_town / CONVOY_FILE).read_text().replace("name: demo", "name: linked"))
    (demo_town / "manifests/convoys/linked.yaml").symlink_to(outside)
    for args in (("validate",), ("diff", "--worktree")):
        code, _, err = gt(*args)
        assert code == 2 and "manifests/convoys/linked.yaml:1:1: cannot read: a symbolic link" in err
    commit_all(demo_town, "a link")
    code, _, err = gt("diff")
    assert code == 2 and "cannot read: a symbolic link" in err


def test_validate_staged_checks_what_the_next_commit_holds(demo_town: Path) -> None:
    convoy = demo_town / CONVOY_FILE
    convoy.write_text(convoy.read_text().replace("rig: demo", "rig: nope"))
    assert gt("validate", "--staged")[0] == 0  # not staged: the commit would be fine
    assert gt("validate")[0] == 2  # on disk it is not
    git(demo_town, "add", CONVOY_FILE)
    code, _, err = gt("validate", "--staged", "manifests/town.yaml")
    assert code == 2 and "manifests/convoys/demo.yaml:9:8: $.spec.rig: rig 'nope' is not declared" in err


def test_a_town_in_a_subdirectory_of_a_larger_repository(in_tmp: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(in_tmp)], check=True)
    (in_tmp / "README.md").write_text("a monorepo\n")
    git(in_tmp, "add", "README.md")
    git(in_tmp, "commit", "-q", "-m", "start")
    assert gt("init", str(in_tmp.parent / "made-elsewhere"))[0] == 0
    for part in ("manifests", "schemas"):
        shutil.copytree(in_tmp.parent / "made-elsewhere" / part, in_tmp / "ops/town" / part)
    git(in_tmp, "add", "ops")
    git(in_tmp, "commit", "-q", "-m", "a town in the monorepo")
    head = git(in_tmp, "rev-parse", "--short=7", "HEAD")
    _, out, err = gt("--town", "ops/town", "diff")
    assert out.splitlines()[0] == f"Manifests at {head} (main)", out + err
    rig = in_tmp / "ops/town/manifests/rigs/app.yaml"
    rig.write_text(rig.read_text().replace("max: 4", "max: 5"))
    _, _, err = gt("--town", "ops/town", "diff")
    assert "manifests/rigs/app.yaml (modified)" in err



def test_commits_go_to_the_repository_that_holds_the_town(in_tmp: Path) -> None:
    """Committing (gt import --commit, and every edit verb) never makes a nested repository."""
    from reconciler.clients.git import commit_paths

    subprocess.run(["git", "init", "-q", "-b", "main", str(in_tmp)], check=True)
    town = in_tmp / "ops" / "town"
    (town / "manifests").mkdir(parents=True)
    (town / "manifests" / "x.yaml").write_text("# x\n")
    commit_paths(town, ["manifests/x.yaml"], "a manifest")
    assert not (town / ".git").exists()
    logged = git(in_tmp, "log", "-1", "--name-only", "--format=%s").split()
    assert logged == ["a", "manifest", "ops/town/manifests/x.yaml"]


def test_shutdown_works_while_the_newest_commit_is_invalid(demo_town: Path) -> None:
    agent_env(demo_town, GT_DEMO_MODE="idle")
    commit_all(demo_town, "idle agents")
    assert gt("apply", "--yes")[0] == 0 and live_issues(demo_town) == WORKING
    rig = rig_file(demo_town)
    rig.write_text(rig.read_text().replace("max: 3", "max: -1"))
    commit_all(demo_town, "oops")
    assert gt("diff")[0] == 2
    code, out, err = gt("shutdown", "--grace", "1")
    assert code == 0 and "3 sessions stopped" in out, out + err
    assert live_issues(demo_town) == {}
