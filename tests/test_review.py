"""Reviewing a manifest change: gt diff --base --head on a branch of a real town, as text, markdown
and JSON (golden files), touching no session and no hook."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from reconciler.clients.beads.embedded import JsonlStore

from .conftest import REPO_ROOT, commit_all
from .test_controller import gt, live_issues

GOLDEN = REPO_ROOT / "tests" / "golden"


def git(town: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(town), *args], check=True, capture_output=True, text=True).stdout.strip()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def branch_with_a_change(town: Path) -> None:
    """On branch `change`: dm-readme dropped and parallelism lowered, a new convoy with a new issue,
    the greeting routed to opus."""
    JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm").create("Add a farewell", issue_id="dm-bye")
    git(town, "checkout", "-q", "-b", "change")
    convoy = town / "manifests/convoys/demo.yaml"
    edit(convoy, "dm-readme, ", "")
    edit(convoy, "parallelism: 3", "parallelism: 2")
    (town / "manifests/convoys/more.yaml").write_text(
        "apiVersion: gt/v1\nkind: Convoy\nmetadata: {name: more}\nspec:\n  rig: demo\n  issues: [dm-bye]\n")
    edit(town / "manifests/routing.yaml", "  rules:\n",
         "  rules:\n    - {when: {title: \"(?i)greeting\"}, model: opus}\n")
    commit_all(town, "a smaller demo, a farewell, a strong model for the greeting")


def normalized(text: str, town: Path) -> str:
    """Commit ids vary from run to run: name them by their branch."""
    for branch in ("main", "change"):
        sha = git(town, "rev-parse", branch)
        text = text.replace(sha, f"<{branch}>").replace(sha[:7], f"<{branch}>")
    return text


def golden(name: str, text: str) -> None:
    if os.environ.get("UPDATE_GOLDEN"):  # after a deliberate change of the output: review the diff
        (GOLDEN / name).write_text(text)
    assert text == (GOLDEN / name).read_text(), f"tests/golden/{name} differs:\n{text}"


def test_review_of_a_branch_as_text_markdown_and_json(demo_town: Path) -> None:
    branch_with_a_change(demo_town)
    code, out, err = gt("diff", "--base", "main", "--head", "change")
    assert code == 0, out + err
    golden("review.txt", normalized(out, demo_town))
    code, out, _ = gt("diff", "--base", "main", "--head", "change", "-o", "markdown")
    assert code == 0
    golden("review.md", normalized(out, demo_town))
    code, out, _ = gt("-o", "json", "diff", "--base", "main", "--head", "change")
    assert code == 0
    golden("review.json", normalized(json.dumps(json.loads(out), indent=2) + "\n", demo_town))
    assert live_issues(demo_town) == {}  # nothing was started
    assert all(i.assignee is None for i in JsonlStore(demo_town / "rigs/demo/.beads/issues.jsonl", "dm").list())


def test_a_review_with_no_change_and_a_parked_rig(demo_town: Path) -> None:
    code, out, _ = gt("diff", "--base", "HEAD", "--head", "HEAD")
    assert code == 0 and out.rstrip().endswith("No change to the work.")
    edit(demo_town / "manifests/rigs/demo.yaml", "state: active", "state: parked")
    code, out, _ = gt("diff", "--base", "HEAD", "--worktree", "-o", "markdown")
    assert code == 0 and "| demo | active | parked |" in out
    assert re.search(r"\| not started \| demo/\w+ \| dm-greet \|", out)


def test_a_review_reads_what_it_can_when_a_rig_is_not_checked_out(demo_town: Path) -> None:
    """In a CI job the rigs' repositories are often absent: the review still covers the manifests."""
    branch_with_a_change(demo_town)
    (demo_town / "rigs/demo").rename(demo_town / "elsewhere")
    code, out, err = gt("diff", "--base", "main", "--head", "change")
    assert code == 0, out + err
    assert "! not read: demo: repository" in out and "+ issue dm-bye" in out


def test_a_review_runs_where_there_is_no_tmux_and_no_agent(demo_town: Path, tmp_path: Path) -> None:
    """A CI job: git, but no tmux on PATH. The review still plans the starts."""
    import shutil
    import sys

    branch_with_a_change(demo_town)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    gt_program = Path(sys.executable).parent / "gt"
    env = {"HOME": str(tmp_path), "PATH": str(tools), "LANG": "C.UTF-8"}
    run = subprocess.run([str(gt_program), "diff", "--base", "main", "--head", "change"], cwd=demo_town, env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == (GOLDEN / "review.txt").read_text().replace("<main>", git(demo_town, "rev-parse", "--short=7",
                          "main")).replace("<change>", git(demo_town, "rev-parse", "--short=7", "change"))
