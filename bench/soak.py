"""Soak: the controller left running with agents that work, idle and crash; what it wasted.

One demo town (a private temp directory, HOME and tmux server) whose Routing has three
agents, all gt-demo-agent: `worker` does its issue and reports done, `idler` reads its hook
and never works, `crasher` exits at once. Twelve issues are routed to them by label (six,
three and three), four workers at a time. The controller runs for --minutes; then its
journal is read:

restarts  every start of a session that was there before (restart, or respawn after a crash);
          spurious when its agent is not the crasher (nothing was wrong with it)
nudges    spurious when sent to a `worker` agent, or past the rig's maxNudges to one worker
cost      what the spurious ones would have cost at the Routing's prices: a restart a whole
          task (a new session reads its context again), a nudge a tenth of one (one more turn)

The targets are zero spurious restarts and nudges. Not a test: it takes minutes.
Usage: python bench/soak.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from controller import BenchTown, git, private_base  # bench/controller.py

from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.status_file import read_status
from reconciler.loop.town import Town
from reconciler.ops.scaffold import init_town

AGENTS = {"worker": "work", "idler": "idle", "crasher": "crash"}
PRICES = {"worker": 0.01, "idler": 0.01, "crasher": 0.01}
ROUTING = """\
apiVersion: gt/v1
kind: Routing
metadata: {name: default}
spec:
  default: worker
  agents:
""" + "".join(f"""    {name}:
      command: [gt-demo-agent]
      env: {{GT_DEMO_DELAY: '0.5', GT_DEMO_MODE: {mode}}}
      ready: 'demo>\\Z'
""" for name, mode in AGENTS.items()) + """  models:
""" + "".join(f"    {name}: {{agent: {name}, cost: {PRICES[name]}}}\n" for name in AGENTS) + """  rules:
    - {when: {label: "soak:idler"}, model: idler}
    - {when: {label: "soak:crasher"}, model: crasher}
"""


def make_town(root: Path) -> BenchTown:
    init_town(root, demo=True)
    (root / "manifests/routing.yaml").write_text(ROUTING)
    rig = root / "manifests/rigs/demo.yaml"
    rig.write_text(rig.read_text().replace("workers: {max: 3}", "workers: {max: 4}")
                   .replace("witness: {idleAfter: 20s, maxNudges: 3}", "witness: {idleAfter: 20s, maxNudges: 3, "
                            "nudgeEvery: 20s, stuckAfter: 5m}"))
    store = JsonlStore(root / "rigs/demo/.beads/issues.jsonl", "dm")
    ids = []
    for n in range(12):
        kind = "worker" if n < 6 else "idler" if n < 9 else "crasher"
        labels = [] if kind == "worker" else [f"soak:{kind}"]
        ids.append(store.create(f"Soak task {n} for the {kind}", issue_id=f"dm-soak{n}", labels=labels).id)
    convoy = root / "manifests/convoys/demo.yaml"
    convoy.write_text(f"apiVersion: gt/v1\nkind: Convoy\nmetadata: {{name: soak}}\nspec:\n  rig: demo\n"
                      f"  issues: [{', '.join(ids)}]\n  parallelism: 4\n")
    git(root, "add", "-A", "manifests")
    git(root, "commit", "-q", "-m", "soak town")
    return BenchTown(root, Town.load(root).desired.socket)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    base = private_base("gt-soak-")
    town = make_town(base / "town")
    try:
        town.start()
        began = time.monotonic()
        time.sleep(args.minutes * 60)
        hours = (time.monotonic() - began) / 3600
        journal = town.journal()
        status = read_status(town.root) or {}
    finally:
        problems = town.shutdown()
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        print(f"cleanup: {'; '.join(problems)}", file=sys.stderr)

    agent_of = {}  # worker -> the agent its last start ran (the model names the agent here)
    restarts: Counter[str] = Counter()
    nudges: Counter[str] = Counter()
    spurious_restarts = spurious_nudges = 0
    max_nudges = 3
    for entry in journal:
        subject, action = str(entry.get("subject", "")), entry.get("action")
        detail = str(entry.get("detail") or "")
        if action in ("spawn", "respawn", "restart") and entry.get("outcome") in ("created", "updated"):
            agent = detail.split(" ", 1)[0] if detail else agent_of.get(subject, "")
            if action != "spawn":
                restarts[agent] += 1
                spurious_restarts += agent != "crasher"
            agent_of[subject] = agent
        elif action == "nudge" and entry.get("outcome") == "updated":
            agent = agent_of.get(subject, "")
            nudges[f"{subject}:{agent}"] += 1
            spurious_nudges += agent == "worker" or nudges[f"{subject}:{agent}"] > max_nudges
    wasted = spurious_restarts * max(PRICES.values()) + spurious_nudges * max(PRICES.values()) / 10
    convoy = next(iter(status.get("convoys", [])), {})
    print(f"soak of {args.minutes:g} min: {len([e for e in journal if e.get('message') == 'pass done'])} passes, "
          f"convoy {convoy.get('done', '?')}/{convoy.get('total', '?')} done")
    print("| what | count | per hour | spurious | spurious per hour |")
    print("| --- | --- | --- | --- | --- |")
    total_restarts, total_nudges = sum(restarts.values()), sum(nudges.values())
    print(f"| restarts (crasher: {restarts['crasher']}) | {total_restarts} | {total_restarts / hours:.0f} | "
          f"{spurious_restarts} | {spurious_restarts / hours:.1f} |")
    print(f"| nudges | {total_nudges} | {total_nudges / hours:.0f} | {spurious_nudges} | "
          f"{spurious_nudges / hours:.1f} |")
    print(f"spurious work would have cost {wasted:.3f} at the Routing's prices "
          f"({wasted / hours:.3f} an hour)")


if __name__ == "__main__":
    main()
