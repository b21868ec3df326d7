"""Fault injection: the controller killed at any moment, at every step of a merge for each
strategy, several writers at once. After each fault the town converges again by itself and
every promise holds: no issue on two sessions, no lost hook, no lost or doubled work, a store
that parses with every record.

Run alone with ``pytest -m faults``; they are part of the whole suite too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.faults import MERGE_STEPS, VARIABLE
from reconciler.clients.git import TRAILER_ISSUE
from reconciler.clients.lock import holder_alive
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.status_file import read_status
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town

from .conftest import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.tmux]
runner = CliRunner()
ISSUES = ("dm-greet", "dm-parser", "dm-readme", "dm-cache")
SEED = int(os.environ.get("GT_FAULT_SEED", "8"))


def gt(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def start(town: Path) -> int:
    code, out = gt("start")
    assert code == 0, out
    pid = holder_alive(town)
    assert pid and pid > 0
    return pid


def kill(pid: int, town: Path) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # Its last thread closes its files (and frees the town lock) a moment after it shows as dead.
    wait_for(lambda: not _alive(pid) and holder_alive(town) is None, timeout=10)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def use_strategy(town: Path, strategy: str) -> None:
    rig = town / "manifests/rigs/demo.yaml"
    rig.write_text(rig.read_text().rstrip("\n") + f"\n  refinery: {{strategy: {strategy}}}\n")


def converged(town: Path) -> bool:
    status = read_status(town) or {}
    convoy = next(iter(status.get("convoys", [])), {})
    return convoy.get("done") == len(ISSUES) and status.get("sync", {}).get("status") == "InSync"


def assert_invariants(town: Path, records_before: set[str]) -> None:
    """What must hold after any fault, once the town has converged again."""
    tmux = Tmux(Town.load(town).desired.socket)
    live = [s for s in observe_sessions(tmux) if not s.dead and s.stamps.issue]
    doubled = [i for i, n in Counter(s.stamps.issue for s in live).items() if n > 1]
    assert doubled == [], f"issues worked by two sessions: {doubled}"
    issues = {i.id: i for i in store(town).list()}  # the store parses
    assert set(issues) == records_before, "a record was lost or made up"
    assert all(issues[i].status == "closed" for i in ISSUES), {i: issues[i].status for i in ISSUES}
    repo = git.Repo(town / "rigs/demo")
    main = list(repo.iter_commits("main"))
    tree = {e.path for e in repo.commit("main").tree.traverse()}  # type: ignore[union-attr]
    for issue in ISSUES:  # every issue's work is on main, landed once
        landings = [c for c in main if f"{TRAILER_ISSUE}: {issue}" in str(c.message)]
        assert len(landings) <= 1, f"{issue} landed {len(landings)} times"
        assert any(issues[issue].close_reason and c.hexsha.startswith(issues[issue].close_reason.split()[2])
                   for c in main), f"{issue} closed as merged but its commit is not on main"
    subjects = Counter(str(c.summary) for c in main if len(c.parents) < 2)
    assert [s for s, n in subjects.items() if n > 1] == [], "a commit landed twice"
    assert "work" in {p.split("/")[0] for p in tree}
    merges = town / ".gt/merges.json"
    assert not merges.exists() or json.loads(merges.read_text()) == []


def records(town: Path) -> set[str]:
    return {i.id for i in store(town).list()}


@pytest.mark.parametrize("strategy", ["squash", "merge", "rebase"])
@pytest.mark.parametrize("step", MERGE_STEPS)
def test_a_controller_killed_at_any_step_of_a_merge_resumes_it(
        fast_town: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, step: str) -> None:
    use_strategy(fast_town, strategy)
    before = records(fast_town)
    monkeypatch.setenv(VARIABLE, step)
    pid = start(fast_town)
    # It died at that step of its first merge (and its last thread let go of the town lock).
    wait_for(lambda: not _alive(pid) and holder_alive(fast_town) is None, timeout=30)
    monkeypatch.delenv(VARIABLE)
    start(fast_town)
    wait_for(lambda: converged(fast_town), timeout=60)
    assert_invariants(fast_town, before)


def test_a_controller_killed_at_random_moments_loses_and_doubles_nothing(fast_town: Path) -> None:
    rng = random.Random(SEED)
    before = records(fast_town)
    for _ in range(8):
        pid = start(fast_town)
        wait_for(lambda p=pid: _alive(p), timeout=5)
        deadline = rng.uniform(0.05, 1.5)
        try:
            wait_for(lambda: converged(fast_town), timeout=deadline)
        except AssertionError:
            pass  # still working: the kill lands mid-pass, mid-merge or between passes
        kill(pid, fast_town)
    start(fast_town)
    wait_for(lambda: converged(fast_town), timeout=90)
    assert_invariants(fast_town, before)


def test_applies_at_once_and_during_a_pass_leave_one_writer(fast_town: Path) -> None:
    """Several gt apply as separate processes at the same moment: one writes, the others are
    refused naming the holder; no issue gets two workers."""
    before = records(fast_town)
    gt_binary = str(Path(sys.executable).parent / "gt")
    applies = [subprocess.Popen([gt_binary, "--town", str(fast_town), "apply", "--yes"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=60), p.communicate()) for p in applies]
    assert sum(code == 0 for code, _ in results) >= 1
    for code, (_, err) in results:
        assert code == 0 or "locked" in err, err
    start(fast_town)
    again = subprocess.run([gt_binary, "--town", str(fast_town), "apply", "--yes"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 2 and "locked by controller" in again.stderr
    wait_for(lambda: converged(fast_town), timeout=60)
    assert_invariants(fast_town, before)


def _can_mount() -> str | None:
    """Why a tmpfs cannot be mounted here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs for the store"
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"gt-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(probe)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"cannot mount a tmpfs here: {done.stderr.strip()}"
        subprocess.run(["umount", str(probe)], check=True)
        return None
    finally:
        probe.rmdir()


@pytest.mark.parametrize("fault", ["disk-full", "read-only"])
def test_a_store_on_a_full_or_read_only_disk_loses_nothing_and_recovers(fast_town: Path, fault: str) -> None:
    why = _can_mount()
    if why:
        pytest.skip(why)
    beads = fast_town / "rigs/demo/.beads"
    saved = {p.name: p.read_bytes() for p in beads.iterdir() if p.is_file()}
    before = records(fast_town)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(beads)], check=True)
    try:
        for name, data in saved.items():
            (beads / name).write_bytes(data)
        filler = beads / "filler"
        if fault == "disk-full":
            with filler.open("wb", buffering=0) as out:  # every block left: no rewrite of the store fits
                try:
                    while True:
                        out.write(b"\0" * 512)
                except OSError:
                    pass
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(beads)], check=True)
        pid = start(fast_town)
        failures = fast_town / ".gt/failures.json"
        wait_for(lambda: failures.exists() and "spawn" in failures.read_text(), timeout=20)
        assert holder_alive(fast_town) == pid  # the controller lives on
        assert (beads / "issues.jsonl").read_bytes() == saved["issues.jsonl"]  # not a byte lost
        assert [p.name for p in beads.iterdir() if p.name.endswith(".tmp")] == []
        if fault == "disk-full":
            filler.unlink()
        else:
            subprocess.run(["mount", "-o", "remount,rw", str(beads)], check=True)
        wait_for(lambda: converged(fast_town), timeout=60)  # back by itself, after its backoff
        assert_invariants(fast_town, before)
    finally:
        pid = holder_alive(fast_town)
        if pid and pid > 0:
            kill(pid, fast_town)
        subprocess.run(["umount", "-l", str(beads)], check=False)
