"""gt-demo-agent: a stand-in for Claude Code that needs no model and no network.

It behaves like an agent in a worker session: reads its hook, says what it is
doing, edits a file in its worktree, commits, reports done, then sits idle and
answers nudges. GT_DEMO_MODE changes the behaviour for tests and demos:
``work`` (the default), ``idle`` (read the hook, then never work), ``crash``
(exit at once with status 3), ``hang`` (never reads stdin).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from ..errors import ReconcilerError
from ..worker import WorkerEnv, report_done, start_work


def say(text: str) -> None:
    print(f"[demo-agent] {text}", flush=True)


def commit_work(worktree: str, issue_id: str, title: str, model: str) -> str:
    path = os.path.join(worktree, "work", f"{issue_id}.md")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"# {title}\n\nDone by the demo agent with model {model}.\n")
    subprocess.run(["git", "add", "--", path], cwd=worktree, check=True, capture_output=True)
    subprocess.run(["git", "commit", "-q", "-m", f"{issue_id}: {title}"], cwd=worktree, check=True,
                   capture_output=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=worktree, check=True,
                          capture_output=True, text=True)
    return head.stdout.strip()


def idle() -> None:
    say("idle; waiting for nudges")
    for line in sys.stdin:
        say(f"nudged: {line.strip()!r}; my work is reported, nothing more to do")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gt-demo-agent")
    parser.add_argument("--model", default=os.environ.get("GT_MODEL", "demo"))
    args, _unknown = parser.parse_known_args(argv)
    mode = os.environ.get("GT_DEMO_MODE", "work")
    delay = float(os.environ.get("GT_DEMO_DELAY", "1"))
    if mode == "crash":
        say("crashing on purpose")
        return 3
    try:
        worker = WorkerEnv.from_env()
        issue = start_work(worker)
    except ReconcilerError as exc:
        say(f"cannot start: {exc}")
        return 2
    say(f"{worker.role} on {issue.id}: {issue.title!r} (model {args.model})")
    if mode == "hang":
        while True:
            time.sleep(3600)
    if mode == "idle":
        idle()
        return 0
    time.sleep(delay)  # "thinking"
    sha = commit_work(str(worker.worktree), issue.id, issue.title, args.model)
    say(f"committed {sha} on {os.environ.get('GT_BRANCH', '?')}")
    report_done(worker)
    say("reported done (gt:done); the refinery will merge it")
    idle()
    return 0


if __name__ == "__main__":
    sys.exit(main())
