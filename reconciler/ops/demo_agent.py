"""gt-demo-agent: a stand-in for Claude Code that needs no model and no network.

It knows nothing but its start prompt, as a real agent does. The prompt (its last
argument, or a line typed at its ``demo>`` prompt) tells it to run ``gt prime``;
from what that prints it learns its issue, worktree and branch. It runs ``gt hook``,
edits a file, commits, runs ``gt done``, and then waits at its prompt, where a
nudge that mentions gt prime or gt hook makes it look at its hook again.
It finds ``gt`` on its PATH like any program in a worker session.

GT_DEMO_MODE changes it for tests and demos: ``work`` (the default), ``idle`` (read
the hook, never work), ``crash`` (exit with status 3 at once), ``hang`` (never
read input). GT_DEMO_DELAY is how long it "thinks" (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

PROMPT = "demo> "
CUES = ("gt prime", "gt hook")


def say(text: str) -> None:
    print(f"[demo-agent] {text}", flush=True)


def gt(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("gt")
    if program is None:
        raise FileNotFoundError("gt: command not found on PATH")
    return subprocess.run([program, *args], capture_output=True, text=True, check=False)


def _git(worktree: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=worktree, capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


def commit_work(worktree: str, issue_id: str, title: str, model: str, role: str) -> str:
    path = os.path.join(worktree, "work", f"{issue_id}.md")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"# {title}\n\nDone by the demo agent with model {model}.\n")
    env = dict(os.environ)
    if subprocess.run(["git", "var", "GIT_AUTHOR_IDENT"], cwd=worktree, capture_output=True,
                      check=False).returncode != 0:
        # No identity configured here: commit as the worker, as gt's refinery would.
        env |= {"GIT_AUTHOR_NAME": role, "GIT_AUTHOR_EMAIL": "demo-agent@localhost",
                "GIT_COMMITTER_NAME": role, "GIT_COMMITTER_EMAIL": "demo-agent@localhost"}
    _git(worktree, "add", "--", path, env=env)
    _git(worktree, "commit", "-q", "-m", f"{issue_id}: {title}", env=env)
    return _git(worktree, "rev-parse", "--short", "HEAD")


class Agent:
    def __init__(self, model: str, mode: str, delay: float) -> None:
        self.model, self.mode, self.delay = model, mode, delay

    def prime(self) -> dict[str, Any] | None:
        run = gt("prime", "-o", "json")
        if run.returncode != 0:
            say(f"gt prime failed ({run.returncode}): {run.stderr.strip()}")
            return None
        doc: dict[str, Any] = json.loads(run.stdout)
        return doc

    def respond(self, text: str) -> None:
        """What a prompt or a nudge makes it do."""
        if not any(cue in text for cue in CUES):
            say("that asks nothing of me")
            return
        doc = self.prime()
        if doc is None:
            return
        hook = doc["hook"]
        if hook is None:
            say(f"{doc['role']}: my hook is empty; nothing to do")
            return
        say(f"{doc['role']} on {hook['id']}: {hook['title']!r} (model {self.model})")
        if "gt:done" in hook["labels"]:
            say("already reported done; the refinery merges it")
            return
        gt("hook")  # marks it in progress
        if self.mode == "idle":
            say("idle mode: not working on it")
            return
        time.sleep(self.delay)  # "thinking"
        sha = commit_work(doc["worktree"], hook["id"], hook["title"], self.model, doc["role"])
        say(f"committed {sha} on {doc['branch']}")
        done = gt("done")
        say("reported done; the refinery will merge it" if done.returncode == 0
            else f"gt done failed: {done.stderr.strip()}")

    def wait_for_input(self) -> None:
        while True:
            print(PROMPT, end="", flush=True)
            line = sys.stdin.readline()
            if not line:
                return
            say(f"nudged: {line.rstrip(chr(10))!r}")
            self.respond(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gt-demo-agent", description="A stand-in agent; its last "
                                     "argument, when there are others, is its start prompt.")
    parser.add_argument("--model", default="demo")
    args, rest = parser.parse_known_args(argv)
    prompt = rest[-1] if rest else ""  # gt appends the start prompt after every other argument
    mode = os.environ.get("GT_DEMO_MODE", "work")
    if mode == "crash":
        say("crashing on purpose")
        return 3
    agent = Agent(args.model, mode, float(os.environ.get("GT_DEMO_DELAY", "3")))
    try:
        if prompt:
            agent.respond(prompt)
        if mode == "hang":
            while True:
                time.sleep(3600)
        agent.wait_for_input()
    except FileNotFoundError as exc:
        say(str(exc))
        return 127
    return 0


if __name__ == "__main__":
    sys.exit(main())
