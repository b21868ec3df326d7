"""Shared test setup: an isolated HOME and shell, never the developer's tmux."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SHELL", "/bin/sh")
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("TMUX_PANE", raising=False)
    monkeypatch.delenv("GT_TOWN", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    # Git commits in tests need an identity that does not come from the developer.
    for var, value in {
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(var, value)
    return home


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path




def wait_for(condition, timeout: float = 15.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll until ``condition()`` is truthy and return it; fail with a clear message otherwise."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


@pytest.fixture
def town(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo town (gt init --demo), committed, with nothing else changed; the cwd. No tmux server:
    for what reads and edits manifests and stores only."""
    from reconciler.ops.scaffold import init_town

    root = tmp_path / "town"
    init_town(root, demo=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def demo_town(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A demo town (gt init --demo) whose private tmux server is killed afterwards.

    The demo agent works fast here (GT_DEMO_DELAY) so tests do not wait on it.
    """
    import shutil

    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    from reconciler.clients.tmux import Tmux
    from reconciler.loop.town import Town
    from reconciler.ops.scaffold import init_town

    root = tmp_path / "town"
    init_town(root, demo=True)
    without_the_demo_conflict(root)
    routing = root / "manifests" / "routing.yaml"
    routing.write_text(routing.read_text().replace(
        "      ready:", "      env: {GT_DEMO_DELAY: '0.1'}\n      ready:"))
    views_off(root / "manifests" / "town.yaml")
    commit_all(root, "demo agents work fast in tests")  # gt applies committed manifests only
    monkeypatch.chdir(root)
    socket = Town.load(root).desired.socket
    yield root
    Tmux(socket).kill_server()


def views_off(town_manifest: Path) -> None:
    """Most tests watch workers: the witness and refinery view sessions (on by default) would be two
    more sessions in every plan, status and count. tests/test_coordinator.py keeps them on."""
    text = town_manifest.read_text()
    assert "  views: true" in text, "the scaffold's Town manifest shows views: true"
    town_manifest.write_text(text.replace("  views: true", "  views: false"))


def without_the_demo_conflict(root: Path) -> None:
    """Take dm-parser's README edit out of the demo rig, so only gt demo's own tests meet the merge
    conflict it sets up (dm-greet and dm-parser replace the same line); the others make their own."""
    import json
    import subprocess

    from reconciler.ops.scaffold import FEATURES_PLACEHOLDER

    rig = root / "rigs" / "demo"
    issues = rig / ".beads" / "issues.jsonl"
    records = [json.loads(line) for line in issues.read_text(encoding="utf-8").splitlines()]
    for record in records:
        if record.get("id") == "dm-parser":
            record["description"] = "\n".join(line for line in record["description"].splitlines()
                                              if FEATURES_PLACEHOLDER not in line)
    issues.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records), encoding="utf-8")
    subprocess.run(["git", "commit", "-qam", "tests: no merge conflict in the demo rig"], cwd=rig, check=True)


FAST_TOWN = """\
apiVersion: gt/v1
kind: Town
metadata: {name: fast}
spec:
  views: false  # see views_off
  controller:
    interval: 1s
    debounce: 100ms
    maxSpawnsPerPass: 5
    crashLoop: {initialBackoff: 200ms, maxBackoff: 1s, maxCrashes: 3, window: 1m}
"""


@pytest.fixture
def fast_town(demo_town: Path):  # type: ignore[no-untyped-def]
    """A demo town whose controller passes every second; stops any controller at the end."""
    import os
    import signal

    (demo_town / "manifests" / "town.yaml").write_text(FAST_TOWN)
    commit_all(demo_town, "a fast controller")
    yield demo_town
    from reconciler.clients.lock import holder_alive

    pid = holder_alive(demo_town)
    if pid and pid > 0:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not holder_alive(demo_town), timeout=10)


def commit_all(repo_dir: Path, message: str) -> None:
    import git

    with git.Repo(repo_dir) as repo:
        repo.git.add("-A", "manifests")
        repo.index.commit(message)


def save(path: Path, text: str) -> None:
    """Write a manifest and commit it, as a user does: gt applies committed manifests only."""
    path.write_text(text, encoding="utf-8")
    town = next((p.parent for p in path.parents if p.name == "manifests"), None)
    if town is not None and (town / ".git").exists():
        commit_all(town, f"edit {path.name}")


def gt(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: exit code, stdout, stderr."""
    from typer.testing import CliRunner

    from reconciler.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr
