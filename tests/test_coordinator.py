"""The town's own sessions against a real tmux server, real git and the real store: the coordinator
(a script agent) and the witness and refinery views kept alive by the controller, the seed's key
table on the town's server, gt prime in the coordinator's role, and the names gt attach takes."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town

from .conftest import commit_all, wait_for

runner = CliRunner()

# Prints gt prime to a file at start and again for every line typed into its pane, like an agent
# that reads its context when asked; it runs until its pane is killed.
COORD_AGENT = """\
#!/bin/sh
gt prime > "$GT_TOWN/.gt/coordinator-prime.md" 2>&1
echo "coordinator ready"
while read -r line; do
  gt prime > "$GT_TOWN/.gt/coordinator-prime.md" 2>&1
  echo "primed again: $line"
done
"""

TOWN = """\
apiVersion: gt/v1
kind: Town
metadata: {{name: coordinated}}
spec:
  controller:
    interval: 1s
    debounce: 100ms
    crashLoop: {{initialBackoff: 200ms, maxBackoff: 1s, maxCrashes: 3, window: 1m}}
  coordinator: {{model: coordinator}}
  views: {views}
"""


def gt(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def coordinated(town: Path, tmp_path: Path, *, views: bool = True) -> Path:
    """Declare a coordinator run by a script agent (and the views, unless turned off); commit."""
    agent = tmp_path / "coord-agent"
    agent.write_text(COORD_AGENT)
    agent.chmod(0o755)
    routing = town / "manifests" / "routing.yaml"
    routing.write_text(routing.read_text().replace(
        "  models:\n", f"    coord:\n      command: [{agent}]\n  models:\n    coordinator: {{agent: coord}}\n"))
    (town / "manifests" / "town.yaml").write_text(TOWN.format(views="true" if views else "false"))
    commit_all(town, "a coordinator")
    return town / ".gt" / "coordinator-prime.md"


def tmux(town: Path) -> Tmux:
    return Tmux(Town.load(town).desired.socket)


def generations(town: Path) -> dict[str, str]:
    """Each live session's generation stamp, by name."""
    rows = tmux(town).list_panes(["#{session_name}", "#{pane_dead}", "#{@gt_generation}"])
    return {name: gen for name, dead, gen in rows if dead == "0"}


def key_table(town: Path) -> dict[str, str]:
    """The town server's key table g: key -> command."""
    found = {}
    for line in tmux(town).run(["list-keys", "-T", "g"]).stdout:
        words = line.split()
        if len(words) > 4 and words[:3] == ["bind-key", "-T", "g"]:
            found[words[3]] = " ".join(words[4:])
    return found


TOWN_SESSIONS = {"gt-coordinator", "gt-witness", "gt-refinery"}


def test_the_coordinator_and_the_views_are_kept_alive_and_the_keys_bound(demo_town: Path, tmp_path: Path) -> None:
    coordinated(demo_town, tmp_path)
    code, out, err = gt("diff")
    assert code == 1 and "town\n" in out, out + err
    assert "+ spawn    coordinator" in out and "coordinator (coord)" in out and "+ spawn    witness" in out
    code, out, err = gt("start")
    assert code == 0, out + err
    first = wait_for(lambda: (g := generations(demo_town)) and TOWN_SESSIONS <= set(g) and g)
    keys = key_table(demo_town)
    assert {k: keys[k] for k in "cwr"} == {"c": "switch-client -t =gt-coordinator", "w": "switch-client -t =gt-witness",
                                           "r": "switch-client -t =gt-refinery"}
    assert keys["n"].startswith("run-shell") and keys["p"].startswith("run-shell")
    prefix = [" ".join(line.split()) for line in tmux(demo_town).run(["list-keys", "-T", "prefix", "g"]).stdout]
    assert prefix == ["bind-key -T prefix g switch-client -T g"]

    # Killed, each comes back: a new session, not the old one.
    for name in ("gt-coordinator", "gt-witness", "gt-refinery"):
        tmux(demo_town).run(["kill-session", "-t", f"={name}"])
        wait_for(lambda n=name: generations(demo_town).get(n, first[n]) != first[n], timeout=20)

    # The coordinator's agent crashes: started again, and the crash is remembered as a worker's is.
    pane = int(tmux(demo_town).run(["display-message", "-p", "-t", "=gt-coordinator:", "#{pane_pid}"]).stdout[0])
    before = generations(demo_town)["gt-coordinator"]
    os.killpg(pane, signal.SIGKILL)
    wait_for(lambda: generations(demo_town).get("gt-coordinator", before) != before, timeout=20)
    crashes = json.loads((demo_town / ".gt" / "crashes.json").read_text())
    assert [(c["rig"], c["worker"], len(c["times"])) for c in crashes] == [("", "coordinator", 1)]

    # The whole server killed: the sessions and the key table come back with it.
    tmux(demo_town).kill_server()
    wait_for(lambda: TOWN_SESSIONS <= set(generations(demo_town)), timeout=20)
    wait_for(lambda: set(key_table(demo_town)) == {"c", "w", "r", "n", "p"})

    def town_health() -> dict[str, str]:
        doc = json.loads(gt("-o", "json", "status")[1])
        return {t["name"]: t["health"] for t in doc.get("town", [])}

    # Running again, but it crashed within the crash window: it flaps, as a worker would.
    wait_for(lambda: town_health() == {"coordinator": "CrashLoop", "witness": "Running", "refinery": "Running"},
             timeout=20)
    code, out, _ = gt("status")
    assert "town: coordinator CrashLoop, witness Running, refinery Running" in out
    assert "  coordinator: crashed 1 time lately: agent exited" in out

    code, out, _ = gt("shutdown", "--grace", "1")
    assert code == 0
    assert generations(demo_town) == {}


def test_the_views_show_status_and_the_merge_queue(demo_town: Path, tmp_path: Path) -> None:
    coordinated(demo_town, tmp_path)
    code, out, err = gt("apply", "--yes")  # no controller: the done work waits in the merge queue
    assert code == 0, out + err

    def screen(name: str) -> str:
        return "\n".join(tmux(demo_town).run(["capture-pane", "-p", "-t", f"={name}:"]).stdout)

    wait_for(lambda: "convoy demo: 0/4 done" in screen("gt-witness"), timeout=20)
    queued = ("dm-greet", "dm-parser", "dm-readme")
    wait_for(lambda: "rig demo: 3 waiting to merge" in screen("gt-refinery"), timeout=30)
    assert all(issue in screen("gt-refinery") for issue in queued)
    code, out, _ = gt("-o", "json", "queue")
    assert code == 0
    (rig,) = json.loads(out)["rigs"]
    assert rig["rig"] == "demo" and sorted(e["issue"] for e in rig["queue"]) == sorted(queued)
    code, out, _ = gt("-o", "json", "worker", "list")
    assert code == 0
    assert {(w["rig"], w["name"], w["issue"], w["done"]) for w in json.loads(out)} == {
        ("demo", "nux", "dm-greet", True), ("demo", "slit", "dm-parser", True),
        ("demo", "toast", "dm-readme", True)}
    code, out, _ = gt("worker", "list")
    assert out.splitlines()[0].split() == ["WORKER", "ISSUE", "HEALTH", "SESSION"]
    assert "demo/nux" in out and "gt-demo-nux" in out and "(done: waiting to merge)" in out


def test_gt_prime_in_the_coordinators_session_prints_the_overseers_view(demo_town: Path, tmp_path: Path) -> None:
    primed = coordinated(demo_town, tmp_path, views=False)
    assert gt("mail", "send", "overseer", "HELP: cannot reach the API", "--type", "HELP",
              "--as", "demo/workers/slit")[0] == 0
    assert gt("mail", "send", "coordinator", "Plan the next convoy", "-m", "auth first")[0] == 0
    code, out, err = gt("apply", "--yes")
    assert code == 0, out + err
    # Typed into its pane, a line makes the agent run gt prime again, in its own session's environment.
    wait_for(lambda: "coordinator ready" in "\n".join(
        tmux(demo_town).run(["capture-pane", "-p", "-t", "=gt-coordinator:"]).stdout), timeout=20)
    tmux(demo_town).run(["send-keys", "-t", "=gt-coordinator:", "-l", "again"],
                        ["send-keys", "-t", "=gt-coordinator:", "Enter"])
    wait_for(lambda: "primed again: again" in "\n".join(
        tmux(demo_town).run(["capture-pane", "-p", "-t", "=gt-coordinator:"]).stdout), timeout=20)
    text = primed.read_text()
    assert text.startswith(f"# You are the coordinator of the town at {demo_town}")
    assert "- rig demo (active): Healthy" in text
    for worker, issue in (("nux", "dm-greet"), ("slit", "dm-parser"), ("toast", "dm-readme")):
        assert f"  - demo/{worker} on {issue}: " in text
    assert "- convoy demo (rig demo): 0/4 merged, 3 working, 1 waiting; under way" in text
    assert "## Mail: 2 unread" in text
    assert "HELP from demo/workers/slit" in text.split("## Needs attention", 1)[1].split("## Mail")[0]
    assert "MESSAGE from overseer to coordinator: Plan the next convoy" in text
    # The same from any shell, as data; and the coordinator's mail is the coordinator's.
    code, out, _ = gt("-o", "json", "prime", "coordinator")
    doc: dict[str, Any] = json.loads(out)
    assert code == 0 and doc["role"] == "coordinator" and [r["name"] for r in doc["rigs"]] == ["demo"]
    assert {m["to"] for m in doc["mail"]} == {"overseer", "coordinator"}
    inside = {"GT_ROLE": "coordinator", "GT_TOWN": str(demo_town)}
    code, out, _ = gt("-o", "json", "mail", "inbox", env=inside)
    assert code == 0 and [m["subject"] for m in json.loads(out)] == ["Plan the next convoy"]


def test_gt_attach_reaches_the_town_sessions_by_name(demo_town: Path) -> None:
    socket = Town.load(demo_town).desired.socket
    for args, session in ((("attach", "coordinator"), "gt-coordinator"), (("attach", "witness"), "gt-witness"),
                          (("attach", "refinery"), "gt-refinery"), (("attach", "demo/nux"), "gt-demo-nux"),
                          (("coordinator", "attach"), "gt-coordinator")):
        code, out, err = gt(*args, "--print")
        assert code == 0, err
        assert out.split()[1:] == ["-L", socket, "attach-session", "-t", f"={session}"]
    code, _, err = gt("attach", "mayor")
    assert code == 2 and "expected coordinator, witness, refinery or RIG/WORKER" in err
    code, _, err = gt("attach", "witness")  # this test town runs no views and no server
    assert code == 2 and f"no session gt-witness on tmux -L {socket}" in err


def test_from_inside_the_towns_tmux_attach_switches_instead_of_nesting() -> None:
    from reconciler.ops.navigation import attach_argv

    inside = {"TMUX": "/tmp/tmux-0/gt-town-abc123,4242,0"}
    assert attach_argv("tmux", "gt-town-abc123", "gt-witness", inside)[3] == "switch-client"
    assert attach_argv("tmux", "gt-town-abc123", "gt-witness", {"TMUX": "/tmp/tmux-0/default,1,0"})[3] == \
        "attach-session"
    assert attach_argv("tmux", "gt-town-abc123", "gt-witness", {})[3] == "attach-session"


def test_the_merge_queue_is_read_from_the_status_document_in_its_order() -> None:
    from reconciler.cli.cmd_town import merge_queues, refinery_lines
    from reconciler.cli.settings import Settings

    queue = [{"issue": "api-9", "worker": "ace", "priority": 0, "since": "12:00"},
             {"issue": "api-3", "worker": "nux", "priority": 2, "since": "11:00"}]
    status = {"rigs": [{"name": "api", "mergeQueue": queue}, {"name": "web", "mergeQueue": []}]}
    assert merge_queues(status) == [{"rig": "api", "queue": queue}, {"rig": "web", "queue": []}]
    lines = refinery_lines(status, Settings())
    assert lines[0] == "rig api: 2 waiting to merge" and lines[-1] == "rig web: nothing waiting to merge"
    assert [line.split()[1] for line in lines if line.startswith("    ")] == ["api-9", "api-3"]


def test_what_needs_attention_comes_from_status_and_help_mail() -> None:
    from reconciler.ops.overseer import attention

    status = {
        "sync": {"errors": [{"path": "manifests/rig.yaml", "line": 3, "col": 5, "message": "bad"}]},
        "rigs": [{"name": "demo", "health": "Degraded", "problems": [
            "nux is Quarantined: 3 crashes", "merge of dm-1 failed at 12:00: conflict"]},
                 {"name": "ok", "health": "Healthy", "problems": []}],
        "town": [{"name": "coordinator", "health": "CrashLoop", "reason": "crashed 2 times"},
                 {"name": "witness", "health": "Running", "reason": ""}],
    }
    mail = [{"id": "hq-1", "type": "HELP", "from": "demo/witness", "subject": "HELP: slit is stuck"},
            {"id": "hq-2", "type": "MESSAGE", "from": "overseer", "subject": "hello"}]
    assert attention(status, mail) == [
        "manifests: manifests/rig.yaml:3:5: bad",
        "rig demo: nux is Quarantined: 3 crashes",
        "rig demo: merge of dm-1 failed at 12:00: conflict",
        "coordinator is CrashLoop: crashed 2 times",
        "HELP from demo/witness (hq-1): HELP: slit is stuck",
    ]


def test_a_view_shows_an_error_and_keeps_refreshing(demo_town: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = demo_town / "manifests" / "rigs" / "demo.yaml"
    rig.write_text(rig.read_text().replace("max: ", "max: -"))
    commit_all(demo_town, "a broken rig")
    assert gt("status")[0] == 2  # once: the error is the answer
    looks: list[float] = []
    real_sleep = time.sleep

    def interrupted(seconds: float) -> None:  # the refresh loop's own wait (--every 0): Ctrl-C at the second
        if seconds != 0:
            return real_sleep(seconds)
        looks.append(seconds)
        if len(looks) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)
    for command in ("status", "queue"):
        looks.clear()
        code, out, _ = gt(command, "--watch", "--every", "0")
        assert code == 0 and looks == [0.0, 0.0], out
        assert out.count("error: ") == 2 and "is less than the minimum of 0" in out


def test_next_and_previous_reach_workers_only_wrapping_around(demo_town: Path) -> None:
    """prefix g n / p run this script; here its last step records the session it picked instead of
    switching a client (a test has no terminal attached)."""
    from reconciler.clients.tmux_runtime import worker_cycle

    server = tmux(demo_town)
    for name, rig in (("gt-demo-ace", "demo"), ("gt-demo-nux", "demo"), ("gt-coordinator", ""), ("gt-witness", "")):
        server.run(["new-session", "-d", "-s", name])
        server.run(["set-option", "-t", f"={name}:", "@gt_rig", rig])

    def picked(step: int, current: str) -> str:
        server.run(["run-shell", "-t", f"={current}:", worker_cycle(step, "set-option -g @gt_picked")])
        return "".join(server.run(["show-options", "-gv", "@gt_picked"]).stdout).strip()

    assert picked(1, "gt-demo-ace") == "=gt-demo-nux"
    assert picked(1, "gt-demo-nux") == "=gt-demo-ace"  # wraps around
    assert picked(-1, "gt-demo-ace") == "=gt-demo-nux"
    assert picked(1, "gt-coordinator") == "=gt-demo-ace"  # from a view or the coordinator: the first worker
    assert picked(-1, "gt-witness") == "=gt-demo-nux"  # or the last
