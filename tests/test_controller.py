"""The steward as a real background process, against real tmux, git and Beads."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.lock import holder_alive
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.status_file import read_status
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town

from .conftest import commit_all, save, wait_for

runner = CliRunner()


def gt(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def agent_env(town: Path, **env: str) -> None:
    routing = town / "manifests" / "routing.yaml"
    pairs = ", ".join(f"{k}: '{v}'" for k, v in {"GT_DEMO_DELAY": "0.1", **env}.items())
    text = routing.read_text().replace("env: {GT_DEMO_DELAY: '0.1'}", f"env: {{{pairs}}}")
    save(routing, text)


def rig_file(town: Path) -> Path:
    return town / "manifests" / "rigs" / "demo.yaml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    save(path, text.replace(old, new))


_SOCKETS: dict[Path, str] = {}


def tmux(town: Path) -> Tmux:
    """The town's tmux server, found once (later manifests may be broken on purpose)."""
    if town not in _SOCKETS:
        _SOCKETS[town] = Town.load(town).desired.socket
    return Tmux(_SOCKETS[town])


def sessions(town: Path) -> dict[str, Any]:
    return {s.name: s for s in observe_sessions(tmux(town))}


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def hooks(town: Path) -> dict[str, str]:
    return {i.id: str(i.assignee) for i in store(town).list(status=["hooked", "in_progress"])}


def status(town: Path) -> dict[str, Any]:
    return read_status(town) or {}


def worker_health(town: Path) -> dict[str, str]:
    return {w["name"]: w["health"] for r in status(town).get("rigs", []) for w in r["workers"]}


def start(town: Path) -> int:
    code, out, err = gt("start")
    assert code == 0, out + err
    pid = holder_alive(town)
    assert pid and pid > 0
    return pid


def live_issues(town: Path) -> dict[str, str]:
    """Issue -> worker of every live worker session (the town's own sessions work no issue)."""
    return {s.stamps.issue: s.stamps.worker for s in sessions(town).values() if not s.dead and s.stamps.issue}


WORKING = {"dm-greet": "nux", "dm-parser": "slit", "dm-readme": "toast"}


def test_committing_a_convoy_makes_workers_appear(fast_town: Path) -> None:
    convoy = fast_town / "manifests/convoys/demo.yaml"
    saved = convoy.read_text()
    convoy.unlink()
    commit_all(fast_town, "no convoy yet")
    agent_env(fast_town, GT_DEMO_MODE="idle")
    commit_all(fast_town, "idle agents")
    start(fast_town)
    assert status(fast_town)["sync"]["status"] == "InSync" and sessions(fast_town) == {}
    # Only a commit: no gt apply, no gt wake.
    convoy.write_text(saved)
    commit_all(fast_town, "convoy demo")
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    def spawned() -> list[dict[str, Any]]:
        log = (fast_town / ".gt/controller.log").read_text().splitlines()
        entries = [json.loads(line) for line in log]
        return [e for e in entries if e.get("action") == "spawn" and e.get("outcome") == "created"]

    wait_for(lambda: len(spawned()) == 3)  # journaled right after tmux confirms them
    assert {e["issue"] for e in spawned()} == set(WORKING)
    assert all({"time", "pass", "subject", "reason"} <= set(e) for e in spawned())


def test_the_demo_converges_by_itself(fast_town: Path) -> None:
    start(fast_town)
    wait_for(lambda: status(fast_town).get("convoys", [{}])[0].get("done") == 4, timeout=40)
    done = {i.id: i.status for i in store(fast_town).list()}
    assert done == {"dm-greet": "closed", "dm-parser": "closed", "dm-readme": "closed", "dm-cache": "closed"}
    wait_for(lambda: status(fast_town)["sync"]["status"] == "InSync")


def test_crashing_agent_backs_off_then_is_quarantined(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="crash")
    edit(fast_town / "manifests/convoys/demo.yaml", "parallelism: 3", "parallelism: 1")
    start(fast_town)
    wait_for(lambda: worker_health(fast_town).get("nux") == "CrashLoop", timeout=20)
    wait_for(lambda: worker_health(fast_town).get("nux") == "Quarantined", timeout=30)
    crashes = json.loads((fast_town / ".gt/crashes.json").read_text())
    (record,) = crashes
    assert record["quarantined"] and record["worker"] == "nux" and len(record["times"]) == 3
    rig = status(fast_town)["rigs"][0]
    assert rig["health"] == "Degraded" and "nux is Quarantined" in rig["reason"]
    (nux,) = rig["workers"]
    assert nux["crash"]["status"] == 3 and nux["crash"]["output"] == ["[demo-agent] crashing on purpose"], nux
    assert "quarantined after 3 crashes" in nux["reason"]
    assert record["last"] == {"status": 3, "output": ["[demo-agent] crashing on purpose"]}
    journal = [json.loads(line) for line in (fast_town / ".gt/controller.log").read_text().splitlines()]
    restarts = [e for e in journal if e.get("reason") == "crashed"]
    assert restarts and all(e["crash"] == {"status": 3, "output": ["[demo-agent] crashing on purpose"]}
                            for e in restarts), [e.get("crash") for e in restarts]
    assert hooks(fast_town) == {"dm-greet": "demo/workers/nux"}  # the hook stays
    # Quarantine holds over further passes...
    gt("wake")
    time.sleep(1.5)
    assert worker_health(fast_town).get("nux") == "Quarantined"
    assert len(json.loads((fast_town / ".gt/crashes.json").read_text())[0]["times"]) == 3
    # ...until gt rig reset.
    code, out, _ = gt("rig", "reset", "demo")
    assert code == 0 and "1 crash and failure record cleared" in out
    wait_for(lambda: worker_health(fast_town).get("nux") == "CrashLoop", timeout=20)


def test_idle_agent_is_nudged_max_nudges_times_then_help(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    edit(rig_file(fast_town), "witness: {idleAfter: 20s, maxNudges: 3}",
         "witness: {idleAfter: 0s, maxNudges: 2, nudgeEvery: 300ms}")
    edit(fast_town / "manifests/convoys/demo.yaml", "parallelism: 3", "parallelism: 1")
    start(fast_town)
    wait_for(lambda: worker_health(fast_town).get("nux") == "Stuck", timeout=20)
    mail_file = fast_town / ".beads/issues.jsonl"
    wait_for(lambda: mail_file.exists() and sessions(fast_town)["gt-demo-nux"].stamps.help, timeout=10)
    mail = [json.loads(line) for line in mail_file.read_text().splitlines()]
    assert len(mail) == 1
    assert mail[0]["assignee"] == "overseer" and "msg-type:HELP" in mail[0]["labels"]
    assert "demo/nux" in mail[0]["title"] and "dm-greet" in mail[0]["title"]
    (nux,) = sessions(fast_town).values()
    assert nux.stamps.nudges == 2 and nux.stamps.help == mail[0]["id"]
    pane = "\n".join(tmux(fast_town).run(["capture-pane", "-p", "-t", "=gt-demo-nux:"]).stdout)
    assert pane.count("nudged: 'Work is on your hook") == 2
    # More passes: no more nudges and no second HELP.
    for _ in range(3):
        gt("wake")
        time.sleep(0.4)
    (nux,) = sessions(fast_town).values()
    assert nux.stamps.nudges == 2
    assert len(mail_file.read_text().splitlines()) == 1


def test_kill_9_of_the_controller_then_restart_loses_nothing(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    for delay in (0.05, 0.15, 0.3):
        start(fast_town)
        time.sleep(delay)
        pid = holder_alive(fast_town)
        assert pid and pid > 0
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not holder_alive(fast_town), timeout=10)
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    live = sessions(fast_town)
    assert len(live) == 3  # one session an issue, none twice
    assert hooks(fast_town) == {i: f"demo/workers/{w}" for i, w in WORKING.items()}


def test_killing_the_tmux_server_brings_every_hook_back_on_its_worker(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    town_yaml = fast_town / "manifests/town.yaml"
    town_yaml.write_text(town_yaml.read_text().replace("interval: 1s", "interval: 1h"))  # no interval pass
    edit(rig_file(fast_town), "idleAfter: 20s", "idleAfter: 1h")  # and no idle check coming due
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    settled = status(fast_town)["lastPass"]["number"] + 1  # the look after starting them, then nothing due
    wait_for(lambda: status(fast_town)["lastPass"]["number"] >= settled, timeout=20)
    tmux(fast_town).kill_server()
    # The panes' processes end with the server: that alone asks for the pass that restores them.
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    assert hooks(fast_town) == {i: f"demo/workers/{w}" for i, w in WORKING.items()}
    wait_for(lambda: status(fast_town).get("sync", {}).get("status") == "InSync", timeout=20)


def test_committing_a_broken_manifest_stops_nothing(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    tmux(fast_town)
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    generations = {n: s.stamps.generation for n, s in sessions(fast_town).items()}
    edit(rig_file(fast_town), "max: 3", "max: -1")
    edit(fast_town / "manifests/convoys/demo.yaml", "parallelism: 3", "parallelism: 1")
    commit_all(fast_town, "oops")
    # A pass may start while the second file is half written (it reacts at once); wait for the
    # pass that read both edits.
    def settled() -> bool:
        sync = status(fast_town)["sync"]
        return sync["status"] == "Error" and len(sync["errors"]) == 1
    wait_for(settled, timeout=20)
    (error,) = status(fast_town)["sync"]["errors"]
    assert (error["path"], error["line"], error["col"]) == ("manifests/rigs/demo.yaml", 12, 18)
    assert "minimum of 0" in error["message"]
    time.sleep(1.5)  # a few more passes
    assert {n: s.stamps.generation for n, s in sessions(fast_town).items()} == generations
    code, out, _ = gt("status")
    assert code == 2 and "manifests/rigs/demo.yaml:12:18" in out


def test_park_dock_and_undock_by_editing_the_rig(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    edit(rig_file(fast_town), "state: active", "state: docked")
    wait_for(lambda: sessions(fast_town) == {}, timeout=20)
    assert hooks(fast_town) == {i: f"demo/workers/{w}" for i, w in WORKING.items()}
    wait_for(lambda: set(worker_health(fast_town).values()) == {"Docked"})
    edit(rig_file(fast_town), "state: docked", "state: active")
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    generations = {n: s.stamps.generation for n, s in sessions(fast_town).items()}
    edit(rig_file(fast_town), "state: active", "state: parked")
    wait_for(lambda: set(worker_health(fast_town).values()) == {"Parked"})
    tmux(fast_town).run(["kill-session", "-t", "=gt-demo-nux"])
    time.sleep(1.5)  # parked: nothing is started again
    assert set(sessions(fast_town)) == {"gt-demo-slit", "gt-demo-toast"}
    assert {n: s.stamps.generation for n, s in sessions(fast_town).items()} == {
        n: g for n, g in generations.items() if n != "gt-demo-nux"}


def test_one_writer(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    pid = start(fast_town)
    code, _, err = gt("controller", "run")
    assert code == 2 and f"pid {pid}" in err and "controller" in err
    code, _, err = gt("apply", "--yes")
    assert code == 2 and f"pid {pid}" in err
    code, out, _ = gt("start")
    assert code == 0 and "already running" in out
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not holder_alive(fast_town), timeout=10)
    code, out, err = gt("apply", "--yes")  # the dead holder's lock is simply taken over
    assert code == 0, out + err


def controller_pids(town: Path) -> list[int]:
    """Live controllers of this town (``gt --town TOWN controller run``)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        argv = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and argv[-2:] == ["controller", "run"] \
                and str(town) in argv:
            found.append(proc.info["pid"])
    return found


def test_one_writer_even_when_the_lock_file_is_deleted_or_replaced(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    pid = start(fast_town)
    lock_file = fast_town / ".gt/town.lock"
    lock_file.unlink()
    code, _, err = gt("controller", "run")  # a second controller still cannot start
    assert code == 2 and "locked" in err
    wait_for(lambda: holder_alive(fast_town) == pid, timeout=10)  # the holder says who it is again
    lock_file.unlink()
    bystander = subprocess.Popen(["sleep", "30"])
    lock_file.write_text(json.dumps({"pid": bystander.pid, "purpose": "controller"}))
    code, _, err = gt("wake")  # never starts a second controller, never signals a stranger
    assert bystander.poll() is None and (code == 0 or "locked" in err)
    bystander.kill()
    bystander.wait()
    code, _, err = gt("apply", "--yes")
    assert code == 2 and "locked" in err
    wait_for(lambda: holder_alive(fast_town) == pid, timeout=10)
    assert [p for p in controller_pids(fast_town) if p != pid] == []


def test_shutdown_keeps_hooks_and_start_resumes(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    code, out, _ = gt("shutdown", "--grace", "1")
    assert code == 0 and "3 sessions stopped" in out
    assert holder_alive(fast_town) is None and sessions(fast_town) == {}
    assert hooks(fast_town) == {i: f"demo/workers/{w}" for i, w in WORKING.items()}
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    assert not (fast_town / ".gt/crashes.json").exists()  # a shutdown is not a crash


def test_wake_starts_a_stopped_controller_and_nudge_types_into_a_pane(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    code, out, _ = gt("wake")
    assert code == 0 and "started" in out
    wait_for(lambda: "gt-demo-nux" in sessions(fast_town), timeout=20)
    wait_for(lambda: "idle mode: not working on it" in "\n".join(
        tmux(fast_town).run(["capture-pane", "-p", "-t", "=gt-demo-nux:"]).stdout))
    code, out, _ = gt("nudge", "demo/nux", "please check; $(touch /tmp/never)")
    assert code == 0 and "delivered" in out
    pane = "\n".join(tmux(fast_town).run(["capture-pane", "-p", "-t", "=gt-demo-nux:"]).stdout)
    assert "nudged: 'please check; $(touch /tmp/never)'" in pane
    code, _, err = gt("nudge", "demo/nobody")
    assert code == 2 and "no live session" in err


def test_status_json_and_human(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    code, out, _ = gt("status")  # no controller: what is observed, and how to start one
    assert code == 0 and "controller not running (gt start)" in out and "convoy demo: 0/4 done" in out
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    wait_for(lambda: status(fast_town)["sync"]["status"] == "InSync")
    code, out, _ = gt("-o", "json", "status")
    data = json.loads(out)
    assert code == 0 and data["controllerAlive"] is True
    assert data["convoys"] == [{"name": "demo", "rig": "demo", "paused": False, "done": 0,
                                "working": 3, "waiting": 1, "total": 4, "landed": False}]
    assert {w["health"] for w in data["rigs"][0]["workers"]} <= {"Starting", "Working", "Idle"}
    assert data["lastPass"]["duration"] >= 0 and data["controller"]["pid"] == holder_alive(fast_town)
    code, out, _ = gt("status")
    assert code == 0 and "sync: InSync" in out and "convoy demo: 0/4 done, 3 working, 1 waiting" in out


def test_an_idle_controller_does_not_wake_itself(fast_town: Path) -> None:
    (fast_town / "manifests/town.yaml").write_text(
        "apiVersion: gt/v1\nkind: Town\nmetadata: {name: calm}\n"
        "spec:\n  controller: {interval: 10m, debounce: 100ms}\n  views: false\n")
    edit(rig_file(fast_town), "idleAfter: 20s", "idleAfter: 10m")  # nothing comes due for a while
    agent_env(fast_town, GT_DEMO_MODE="idle")
    start(fast_town)
    wait_for(lambda: live_issues(fast_town) == WORKING, timeout=20)
    # Each idle agent still runs gt hook (a store write the controller must see): wait for all three.
    wait_for(lambda: all(store(fast_town).get(i).status == "in_progress" for i in WORKING), timeout=30)

    def passes(cause: str = "") -> int:
        return sum(1 for line in (fast_town / ".gt/controller.log").read_text().splitlines()
                   if '"pass done"' in line and f'"cause": "{cause}"' in line or (not cause and '"pass done"' in line))

    def quiet() -> bool:  # the agents' own store writes and the look after starting are over
        before = passes()
        time.sleep(1.5)
        return passes() == before

    wait_for(quiet, timeout=20)
    settled, changes = passes(), passes("change")
    time.sleep(2.0)  # its own reads of the stores and tmux must not trigger passes
    assert passes("change") == changes  # a due time may come (a loaded machine is slow), a change may not
    settled = passes()
    (fast_town / "manifests/convoys/demo.yaml").write_text(
        (fast_town / "manifests/convoys/demo.yaml").read_text())  # a real change does
    wait_for(lambda: passes() > settled, timeout=10)


def test_a_backoff_is_honoured_to_the_second_not_at_the_next_interval(fast_town: Path) -> None:
    """RequeueAfter: with a 30 s interval, a 3 s crash backoff still ends 3 s after the crash."""
    edit(fast_town / "manifests/town.yaml", "interval: 1s", "interval: 30s")
    edit(fast_town / "manifests/town.yaml", "initialBackoff: 200ms, maxBackoff: 1s, maxCrashes: 3",
         "initialBackoff: 3s, maxBackoff: 3s, maxCrashes: 4")
    agent_env(fast_town, GT_DEMO_MODE="crash")
    edit(fast_town / "manifests/convoys/demo.yaml", "parallelism: 3", "parallelism: 1")
    start(fast_town)

    def respawns() -> list[float]:
        journal = [json.loads(line) for line in (fast_town / ".gt/controller.log").read_text().splitlines()]
        return [datetime.fromisoformat(e["time"]).timestamp() for e in journal
                if e.get("reason") == "crashed" and e.get("outcome") == "created"]

    try:
        wait_for(lambda: len(respawns()) >= 3, timeout=25)
    except AssertionError:
        print((fast_town / ".gt/controller.log").read_text())
        raise
    times = respawns()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(2.9 <= gap <= 4.0 for gap in gaps), gaps


def test_the_controller_outlives_a_status_it_cannot_write_and_bad_history(fast_town: Path) -> None:
    agent_env(fast_town, GT_DEMO_MODE="idle")
    pid = start(fast_town)
    status_file = fast_town / ".gt/status.json"
    status_file.unlink()
    status_file.mkdir()  # every write of the status now fails
    (fast_town / ".gt/crashes.json").write_text('[{"rig": "demo", "worker": "nux", "issue": "dm-greet", '
                                                '"fingerprint": "x", "times": ["inf", 1e999]}, 7, "junk"]')
    journal = fast_town / ".gt/controller.log"
    wait_for(lambda: journal.read_text().count('"status failed"') >= 2, timeout=15)  # pass after pass
    assert holder_alive(fast_town) == pid
    status_file.rmdir()
    wait_for(lambda: status_file.is_file(), timeout=15)
    assert status(fast_town)["controller"]["pid"] == pid and holder_alive(fast_town) == pid
