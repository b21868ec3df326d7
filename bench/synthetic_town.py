"""A synthetic town at scale, for benchmarks: rigs, Beads issues, convoys and sleeping workers.

Per rig: a Git repository with one commit, a `.beads/issues.jsonl` of ISSUES records shaped
like a `bd export` (about 600 bytes each: description, labels, timestamps, `blocks` and
`parent-child` dependencies, closed ones with a close reason), a Rig manifest with WORKERS
workers, and its share of the convoys (CONVOYS across the town, the issues they list about
a quarter of each rig's open issues). Every worker runs `sleep`, an agent that never
finishes, never prompts and uses no CPU, so a converged town stays converged.

The defaults make the town of the benchmark: 20 rigs, 10,000 issues, 50 convoys, 200
workers. Usage, to look at one:  python bench/synthetic_town.py DIR [--rigs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

WORDS = (
    "parser", "config", "cache", "session", "token", "login", "route", "index", "schema", "queue",
    "worker", "merge", "review", "branch", "commit", "manifest", "store", "hook", "convoy", "rig",
    "refinery", "witness", "nudge", "export", "import", "retry", "backoff", "timeout", "budget",
    "model", "agent", "prompt", "dialog", "screen", "pane", "socket",
)
LABELS = ("model:haiku", "model:sonnet", "complexity:simple", "complexity:standard", "complexity:complex",
          "area:api", "area:ui", "area:docs", "area:infra", "needs-review", "good-first-issue")
TYPES = ("task", "bug", "feature", "chore")
STAMP = "2026-11-20T09:30:00Z"


@dataclass(frozen=True)
class Shape:
    rigs: int = 20
    issues_per_rig: int = 500
    workers_per_rig: int = 10
    convoys: int = 50

    @property
    def issues(self) -> int:
        return self.rigs * self.issues_per_rig

    @property
    def workers(self) -> int:
        return self.rigs * self.workers_per_rig

    def scaled(self, rigs: int) -> Shape:
        """The same town per rig, with ``rigs`` rigs (convoys in proportion)."""
        return Shape(rigs, self.issues_per_rig, self.workers_per_rig, max(1, self.convoys * rigs // self.rigs))


def rig_name(index: int) -> str:
    return f"r{index:02d}"


def issue_record(rng: random.Random, prefix: str, number: int, count: int) -> dict[str, object]:
    """One issue as bd exports it; about a fifth closed, some blocked by or children of earlier ones."""
    issue_id = f"{prefix}-{number:04x}"
    closed = rng.random() < 0.2
    words = rng.sample(WORDS, 6)
    record: dict[str, object] = {
        "id": issue_id,
        "title": f"{words[0].capitalize()} the {words[1]} {words[2]} for the {words[3]}",
        "description": " ".join(rng.choice(WORDS) for _ in range(48)),
        "status": "closed" if closed else "open",
        "priority": rng.randint(0, 4),
        "issue_type": rng.choice(TYPES),
        "created_at": STAMP, "created_by": "overseer", "updated_at": STAMP,
        "labels": sorted(rng.sample(LABELS, rng.randint(1, 3))),
    }
    if closed:
        record |= {"closed_at": STAMP, "close_reason": "merged"}
    deps = []
    if number > 0 and rng.random() < 0.15:
        deps.append({"issue_id": issue_id, "depends_on_id": f"{prefix}-{rng.randrange(number):04x}",
                     "type": "blocks", "created_at": STAMP, "created_by": "overseer"})
    if number > 10 and rng.random() < 0.1:
        deps.append({"issue_id": issue_id, "depends_on_id": f"{prefix}-{rng.randrange(10):04x}",
                     "type": "parent-child", "created_at": STAMP, "created_by": "overseer"})
    if deps:
        record["dependencies"] = deps
    return record


TOWN = """\
apiVersion: gt/v1
kind: Town
metadata: {{name: {name}}}
spec:
  tmux: {{socket: {socket}}}
  controller: {{interval: 30s, maxSpawnsPerPass: 1000}}
  views: {views}
"""
ROUTING = """\
apiVersion: gt/v1
kind: Routing
metadata: {name: default}
spec:
  default: sleeper
  agents:
    sleeper: {command: [sleep, "86400"], processNames: [sleep], prompt: {via: none}}
  models:
    sleeper: {agent: sleeper, cost: 0}
"""
RIG = """\
apiVersion: gt/v1
kind: Rig
metadata: {{name: {name}}}
spec:
  repo: rigs/{name}
  beads: {{prefix: {name}}}
  workers: {{max: {workers}}}
  witness: {{idleAfter: 24h, stuckAfter: 48h}}
"""
CONVOY = """\
apiVersion: gt/v1
kind: Convoy
metadata: {{name: {name}}}
spec:
  rig: {rig}
  issues: [{issues}]
  parallelism: {parallelism}
"""


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_town(root: Path, shape: Shape, socket: str, seed: int = 7) -> Path:
    """Write the town under ``root`` (which must not exist) and return it."""
    rng = random.Random(seed)
    manifests = root / "manifests"
    (manifests / "rigs").mkdir(parents=True)
    (manifests / "convoys").mkdir()
    views = os.environ.get("GT_BENCH_VIEWS", "true")  # false: without the views' background refreshes
    (manifests / "town.yaml").write_text(TOWN.format(name=root.name, socket=socket, views=views))
    (manifests / "routing.yaml").write_text(ROUTING)
    convoy_rigs = [rig_name(i % shape.rigs) for i in range(shape.convoys)]
    for r in range(shape.rigs):
        name = rig_name(r)
        repo = root / "rigs" / name
        (repo / ".beads").mkdir(parents=True)
        (repo / "README.md").write_text(f"# {name}\n")
        git("init", "-q", "-b", "main", cwd=repo)
        git("add", "README.md", cwd=repo)
        git("-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "start", cwd=repo)
        records = [issue_record(rng, name, n, shape.issues_per_rig) for n in range(shape.issues_per_rig)]
        with (repo / ".beads" / "issues.jsonl").open("w") as out:
            for record in records:
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
        (manifests / "rigs" / f"{name}.yaml").write_text(RIG.format(name=name, workers=shape.workers_per_rig))
        # This rig's convoys share a quarter of its open, unblocked issues; together they keep
        # every worker of the rig busy.
        ready = [str(rec["id"]) for rec in records if rec["status"] == "open" and "dependencies" not in rec]
        mine = [i for i, rig in enumerate(convoy_rigs) if rig == name]
        listed = ready[: max(len(ready) // 4, shape.workers_per_rig)]
        for k, index in enumerate(mine):
            part = listed[k::len(mine)]
            share = shape.workers_per_rig // len(mine) + (1 if k < shape.workers_per_rig % len(mine) else 0)
            (manifests / "convoys" / f"c{index:02d}.yaml").write_text(CONVOY.format(
                name=f"c{index:02d}", rig=name, issues=", ".join(part), parallelism=share))
    (root / ".gitignore").write_text("/.gt/\n/rigs/\n")  # anchored: manifests/rigs/ is committed
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "town", cwd=root)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--rigs", type=int, default=Shape().rigs)
    args = parser.parse_args()
    shape = Shape().scaled(args.rigs)
    make_town(args.dir, shape, socket=f"gt-synthetic-{args.rigs}")
    print(f"{args.dir}: {shape.rigs} rigs, {shape.issues} issues, {shape.convoys} convoys, "
          f"{shape.workers} workers (gt --town {args.dir} apply --yes starts them)")


if __name__ == "__main__":
    main()
