"""gt doctor finds what is wrong and --fix repairs only what holds no work."""

from __future__ import annotations

import json
from pathlib import Path

import git
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town

runner = CliRunner()


def doctor(*extra: str) -> tuple[int, list[dict[str, str]]]:
    result = runner.invoke(app, ["-o", "json", "doctor", *extra])
    return result.exit_code, json.loads(result.stdout)


def levels(findings: list[dict[str, str]]) -> dict[str, str]:
    return {f["check"]: f["level"] for f in findings}


def idle_apply(town: Path) -> None:
    routing = town / "manifests" / "routing.yaml"
    routing.write_text(routing.read_text().replace("GT_DEMO_DELAY: '0.1'", "GT_DEMO_DELAY: '0.1', GT_DEMO_MODE: idle"))
    assert runner.invoke(app, ["apply", "--yes"]).exit_code == 0


def test_a_healthy_town(demo_town: Path) -> None:
    idle_apply(demo_town)
    code, findings = doctor()
    assert code == 0, findings
    got = levels(findings)
    assert got["tmux"] == got["git"] == got["manifests"] == got["beads demo"] == got["socket"] == "ok"
    assert got["controller"] == "warn"


def test_orphans_and_sessions_without_worktrees_fail(demo_town: Path) -> None:
    idle_apply(demo_town)
    tmux = Tmux(Town.load(demo_town).desired.socket)
    tmux.run(["new-session", "-d", "-s", "stray", "--", "sleep", "60"])
    code, findings = doctor()
    assert code == 1
    assert any(f["check"] == "orphan" and "stray" in f["message"] for f in findings)
    git.Repo(demo_town / "rigs/demo").git.worktree("remove", "--force", str(demo_town / ".gt/worktrees/demo/nux"))
    code, findings = doctor("--fix")
    assert code == 1  # neither is safe to repair by itself
    assert any(f["check"] == "worktree" and "gt-demo-nux has no worktree" in f["message"] for f in findings), findings
    assert "stray" in "\n".join(tmux.run(["list-sessions", "-F", "#{session_name}"]).stdout)


def test_a_corrupt_store_is_reported_with_its_line(demo_town: Path) -> None:
    issues = demo_town / "rigs/demo/.beads/issues.jsonl"
    lines = issues.read_text().splitlines()
    lines.insert(2, "{not json")
    issues.write_text("\n".join(lines) + "\n")
    before = issues.read_bytes()
    code, findings = doctor("--fix")
    assert code == 1
    (beads,) = [f for f in findings if f["check"] == "beads demo"]
    assert beads["level"] == "fail" and ":3:" in beads["message"]
    assert issues.read_bytes() == before


def test_fix_removes_only_clean_merged_unhooked_worktrees(demo_town: Path) -> None:
    idle_apply(demo_town)
    store = JsonlStore(demo_town / "rigs/demo/.beads/issues.jsonl", "dm")
    tmux = Tmux(Town.load(demo_town).desired.socket)
    for worker, issue in (("nux", "dm-greet"), ("slit", "dm-parser")):
        tmux.run(["kill-session", "-t", f"=gt-demo-{worker}"])
        store.unhook(issue, f"demo/workers/{worker}")
        store.close(issue, "done elsewhere")
    (demo_town / ".gt/worktrees/demo/slit/wip.txt").write_text("unsaved work")
    code, findings = doctor("--fix")
    assert code == 0  # idle worktrees are warnings, not failures
    fixed = [f["message"] for f in findings if f["level"] == "fixed"]
    kept = [f["message"] for f in findings if f["check"] == "worktree" and f["level"] == "warn"]
    assert any("worktrees/demo/nux" in m for m in fixed)
    assert any("worktrees/demo/slit" in m and "uncommitted changes" in m for m in kept)
    assert not (demo_town / ".gt/worktrees/demo/nux").exists()
    assert (demo_town / ".gt/worktrees/demo/slit/wip.txt").read_text() == "unsaved work"
    assert (demo_town / ".gt/worktrees/demo/toast").is_dir()  # hooked and live: untouched
