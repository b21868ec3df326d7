"""gt import: manifests that describe a running town, its workers left running; gt diff right after
has nothing to do. Real tmux (the town's socket, and a Gas Town-style one), real Git, real Beads."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.tmux import Tmux

from .conftest import commit_all
from .test_controller import WORKING, agent_env, gt, live_issues, sessions


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def forget_the_rig(town: Path) -> None:
    for rel in ("manifests/rigs/demo.yaml", "manifests/convoys/demo.yaml"):
        (town / rel).unlink()
    commit_all(town, "the manifests of the demo rig are gone")


def test_import_describes_gt_workers_so_diff_has_nothing_to_do(demo_town: Path) -> None:
    agent_env(demo_town, GT_DEMO_MODE="idle")
    assert gt("apply", "--yes")[0] == 0 and live_issues(demo_town) == WORKING
    generations = {n: s.stamps.generation for n, s in sessions(demo_town).items()}
    forget_the_rig(demo_town)
    code, out, _ = gt("diff")
    assert code == 0 and out.count("orphan") == 3  # sessions no manifest describes
    code, out, err = gt("import", "--dry-run")
    assert code == 0, out + err
    assert "would write manifests/rigs/demo.yaml" in out and not (demo_town / "manifests/rigs/demo.yaml").exists()
    code, out, err = gt("import", "--commit")
    assert code == 0, out + err
    assert "gt worker demo/nux on dm-greet" in out and "wrote manifests/convoys/imported-demo.yaml" in out
    convoy = (demo_town / "manifests/convoys/imported-demo.yaml").read_text()
    assert "issues: [dm-greet, dm-parser, dm-readme]" in convoy
    rig = (demo_town / "manifests/rigs/demo.yaml").read_text()
    assert "repo: rigs/demo" in rig and "beads: {prefix: dm}" in rig
    assert subprocess.run(["git", "status", "--porcelain", "manifests"], cwd=demo_town, capture_output=True,
                          text=True, check=True).stdout == ""  # committed
    code, out, _ = gt("diff")
    assert code == 0 and "In sync: nothing to do" in out and "orphan" not in out, out
    assert {n: s.stamps.generation for n, s in sessions(demo_town).items()} == generations  # never restarted
    code, out, _ = gt("import")
    assert code == 0 and "nothing to import" in out


def test_import_describes_gas_town_polecats_and_leaves_them_working(demo_town: Path) -> None:
    forget_the_rig(demo_town)
    worktree = demo_town / "gastown" / "polecats" / "Toast"
    subprocess.run(["git", "-C", str(demo_town / "rigs/demo"), "worktree", "add", "-q", "-b", "polecat/Toast",
                    str(worktree), "main"], check=True)
    store(demo_town).update("dm-greet", status="hooked", assignee="demo/polecats/Toast")
    socket = f"gastown-{uuid.uuid4().hex[:8]}"
    gastown = Tmux(socket)
    env = {"GT_ROLE": "demo/polecats/Toast", "GT_RIG": "demo", "GT_POLECAT": "Toast",
           "BD_ACTOR": "demo/polecats/Toast", "GT_POLECAT_PATH": str(worktree)}
    try:
        started = gastown.run(["new-session", "-d", "-s", "dm-toast", "-c", str(worktree),
                               *[arg for k, v in env.items() for arg in ("-e", f"{k}={v}")], "sleep 600"],
                              ["new-session", "-d", "-s", "hq-mayor", "sleep 600"])
        assert started.ok, started.error()
        code, out, err = gt("import", "--socket", socket, "--commit")
        assert code == 0, out + err
        assert "dm-toast: Gas Town worker demo/toast on dm-greet" in out
        assert "hq-mayor: skipped: not a worker" in out
        code, out, _ = gt("diff")
        assert code == 0 and "In sync: nothing to do" in out, out
        assert "held by demo/polecats/Toast" in out  # gt starts no second worker on it
        assert gastown.run(["has-session", "-t", "=dm-toast"]).ok  # still working under Gas Town
        issue = store(demo_town).get("dm-greet")
        assert (issue.status, issue.assignee) == ("hooked", "demo/polecats/Toast")
    finally:
        gastown.kill_server()


def test_import_refuses_to_overwrite_and_writes_nothing_on_error(demo_town: Path) -> None:
    agent_env(demo_town, GT_DEMO_MODE="idle")
    assert gt("apply", "--yes")[0] == 0
    forget_the_rig(demo_town)
    mine = ("# mine\napiVersion: gt/v1\nkind: Routing\nmetadata: {name: other}\n"
            "spec: {default: m, agents: {a: {command: [x]}}, models: {m: {agent: a}}}\n")
    (demo_town / "manifests/convoys/imported-demo.yaml").write_text(mine)
    code, _, err = gt("import")  # uncommitted: the town's files are not what is applied
    assert code == 2 and "commit or stash the manifest edits first" in err
    commit_all(demo_town, "a routing of my own")
    (demo_town / "notes.txt").write_text("staged, not to be committed by gt\n")
    subprocess.run(["git", "add", "notes.txt"], cwd=demo_town, check=True)
    code, _, err = gt("import", "--commit")
    assert code == 2 and "imported-demo.yaml exists" in err
    assert not (demo_town / "manifests/rigs/demo.yaml").exists()
    assert (demo_town / "manifests/convoys/imported-demo.yaml").read_text() == mine



def test_import_commits_only_its_own_files(demo_town: Path) -> None:
    agent_env(demo_town, GT_DEMO_MODE="idle")
    assert gt("apply", "--yes")[0] == 0
    forget_the_rig(demo_town)
    (demo_town / "notes.txt").write_text("staged by hand\n")
    subprocess.run(["git", "add", "notes.txt"], cwd=demo_town, check=True)
    assert gt("import", "--commit")[0] == 0
    shown = subprocess.run(["git", "show", "--name-only", "--format=%s", "HEAD"], cwd=demo_town,
                           capture_output=True, text=True, check=True).stdout.split()
    assert "notes.txt" not in shown and "manifests/rigs/demo.yaml" in shown
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=demo_town, capture_output=True,
                            text=True, check=True).stdout.split()
    assert staged == ["notes.txt"]  # still staged, still the user's


def test_the_towns_own_sessions_are_skipped_not_described_as_workers() -> None:
    from reconciler.clients.sessions import SessionFacts
    from reconciler.model.observed import Stamps
    from reconciler.ops.importer import Skipped, describe

    for role in ("coordinator", "witness", "refinery"):
        found = describe(SessionFacts(f"gt-{role}", "/town", {"GT_ROLE": role}, Stamps(worker=role)))
        assert found == Skipped(f"gt-{role}", f"gt's {role} session: the Town manifest keeps it, not a Rig")
