"""gt-demo-agent: a stand-in for Claude Code that needs no model and no network.

It knows nothing but its start prompt, as a real agent does. The prompt (its last
argument, or a line typed at its ``demo>`` prompt) tells it to run ``gt prime``;
from what that prints it learns its issue, worktree, branch and unread mail. It runs
``gt hook``, makes the edits its issue's description asks for, notes its work in
``work/<issue>.md``, commits, runs ``gt done``, and then waits at its prompt, where a
nudge that mentions gt prime or gt hook makes it look at its hook again.
It finds ``gt`` on its PATH like any program in a worker session.

The edits it understands, one a line of the description::

    In `README.md`, replace `teh` with `the`.
    Add the line `import functools` to `parser.py`.

When gt prime shows a REWORK_REQUEST (its branch conflicted with the rig's), it reads
the mail, merges the rig's branch into its own, resolves each conflict by keeping both
sides' lines (the rig's first: they landed first), commits and runs ``gt done`` again.

In a swarm (gt prime says which part it is) the planner files GT_DEMO_SUBTASKS (3)
subtasks with ``gt swarm file`` before noting its plan; the reviewer notes which
subtasks' work it finds merged in its worktree; an executor works as any worker.

GT_DEMO_MODE changes it for tests and demos: ``work`` (the default), ``idle`` (read
the hook, never work), ``crash`` (exit with status 3 at once), ``hang`` (never
read input). GT_DEMO_DELAY is how long it "thinks" (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PROMPT = "demo> "
CUES = ("gt prime", "gt hook")
REPLACE = re.compile(r"In `(?P<path>[^`]+)`, replace `(?P<old>[^`]+)` with `(?P<new>[^`]*)`\.?")
ADD_LINE = re.compile(r"Add the line `(?P<new>[^`]+)` to `(?P<path>[^`]+)`\.?")
OURS, BASE, SPLIT, THEIRS = "<<<<<<< ", "||||||| ", "=======", ">>>>>>> "


def say(text: str) -> None:
    print(f"[demo-agent] {text}", flush=True)


def gt(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("gt")
    if program is None:
        raise FileNotFoundError("gt: command not found on PATH")
    return subprocess.run([program, *args], capture_output=True, text=True, check=False)


def _git(worktree: str, *args: str, env: dict[str, str] | None = None, check: bool = True
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=worktree, capture_output=True, text=True, check=check, env=env)


def _identity(worktree: str, role: str) -> dict[str, str]:
    """The environment to commit in: as the worker when no identity is configured, as gt's
    refinery would."""
    env = dict(os.environ)
    if subprocess.run(["git", "var", "GIT_AUTHOR_IDENT"], cwd=worktree, capture_output=True,
                               check=False).returncode != 0:
        env |= {"GIT_AUTHOR_NAME": role, "GIT_AUTHOR_EMAIL": "demo-agent@localhost",
                "GIT_COMMITTER_NAME": role, "GIT_COMMITTER_EMAIL": "demo-agent@localhost"}
    return env


@dataclass(frozen=True)
class Edit:
    """One edit a description asks for: replace ``old`` by ``new`` in ``path``, or with no
    ``old``, add ``new`` as the file's last line."""

    path: str
    new: str
    old: str | None = None


def edits_in(description: str) -> list[Edit]:
    """The edits ``description`` asks for, in its order (pure)."""
    found = []
    for line in description.splitlines():
        if m := REPLACE.fullmatch(line.strip()):
            found.append(Edit(m["path"], m["new"], m["old"]))
        elif m := ADD_LINE.fullmatch(line.strip()):
            found.append(Edit(m["path"], m["new"]))
    return found


def edited(text: str, edit: Edit) -> str:
    """``text`` with ``edit`` made; the same text when it was made already (pure)."""
    if edit.old is None:
        if edit.new in text.splitlines():
            return text
        return text + ("\n" if text and not text.endswith("\n") else "") + edit.new + "\n"
    if edit.old in edit.new and edit.new in text:
        return text  # made already: replacing again would grow it
    return text.replace(edit.old, edit.new)


def keep_both(text: str) -> str:
    """``text`` with every conflict resolved by keeping both sides' lines: the merged-in
    branch's (theirs: it landed first), then this branch's own; a common-ancestor section
    (diff3 style) is dropped (pure)."""
    out: list[str] = []
    ours: list[str] = []
    theirs: list[str] = []
    where = ""
    for line in text.splitlines(keepends=True):
        if line.startswith(OURS):
            where, ours, theirs = "ours", [], []
        elif where and line.startswith(BASE):
            where = "base"
        elif where and line.rstrip("\r\n") == SPLIT:
            where = "theirs"
        elif where == "theirs" and line.startswith(THEIRS):
            out += theirs + ours
            where = ""
        elif where == "ours":
            ours.append(line)
        elif where == "theirs":
            theirs.append(line)
        elif not where:
            out.append(line)
    return "".join(out + theirs + ours if where else out)


def inside(worktree: str, rel: str) -> str | None:
    """The path of ``rel`` in ``worktree``, or None when it would leave it (or reach .git)."""
    root = os.path.realpath(worktree)
    path = os.path.realpath(os.path.join(root, rel))
    if os.path.isabs(rel) or not path.startswith(root + os.sep) or \
            ".git" in os.path.relpath(path, root).split(os.sep):
        return None
    return path


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)


def make_edits(worktree: str, edits: Sequence[Edit]) -> list[str]:
    """Make ``edits`` in the worktree; the paths changed."""
    changed = []
    for edit in edits:
        path = inside(worktree, edit.path)
        if path is None:
            say(f"not editing {edit.path!r}: outside my worktree")
            continue
        before = _read(path) if os.path.exists(path) else ""
        after = edited(before, edit)
        if after == before:
            say(f"{edit.path}: nothing to change (done already?)")
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write(path, after)
        changed.append(os.path.relpath(path, os.path.realpath(worktree)))
        say(f"edited {edit.path}")
    return changed


def commit_work(worktree: str, issue_id: str, title: str, model: str, role: str,
                edits: Sequence[Edit] = ()) -> str:
    """Make the edits, note the work in work/<issue>.md, commit both; the commit's short sha."""
    changed = make_edits(worktree, edits)
    note = os.path.join("work", f"{issue_id}.md")
    os.makedirs(os.path.join(worktree, "work"), exist_ok=True)
    with open(os.path.join(worktree, note), "a", encoding="utf-8") as handle:
        handle.write(f"# {title}\n\nDone by the demo agent with model {model}.\n")
    env = _identity(worktree, role)
    _git(worktree, "add", "--", note, *changed, env=env)
    _git(worktree, "commit", "-q", "-m", f"{issue_id}: {title}", env=env)
    return _git(worktree, "rev-parse", "--short", "HEAD").stdout.strip()


def merge_keeping_both(worktree: str, branch: str, role: str) -> list[str] | None:
    """``git merge branch``, every conflict resolved by keeping both sides, committed; the files
    that conflicted, or None when the merge failed for another reason (then aborted)."""
    env = _identity(worktree, role)
    merged = _git(worktree, "-c", "merge.conflictStyle=merge", "merge", "--no-edit", branch, env=env, check=False)
    if merged.returncode == 0:
        return []
    conflicted = _git(worktree, "diff", "--name-only", "--diff-filter=U", "-z", env=env).stdout.split("\0")
    conflicted = [c for c in conflicted if c]
    if not conflicted:
        _git(worktree, "merge", "--abort", env=env, check=False)
        say(f"git merge {branch} failed: {(merged.stderr or merged.stdout).strip()}")
        return None
    for rel in conflicted:
        path = inside(worktree, rel)
        if path is not None and os.path.isfile(path):
            _write(path, keep_both(_read(path)))
        _git(worktree, "add", "-A", "--", rel, env=env)
        say(f"resolved the conflict in {rel}: kept both sides' lines")
    _git(worktree, "commit", "-q", "--no-edit", env=env)
    return conflicted


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
        mail = [m for m in doc.get("mail", []) if m["type"] in ("REWORK_REQUEST", "MERGE_FAILED")
                and hook["id"] in m["title"]]
        rework = any(m["type"] == "REWORK_REQUEST" for m in mail) or "gt:merge-failed" in hook["labels"]
        gt("hook")  # marks it in progress
        if self.mode == "idle":
            say("idle mode: not working on it")
            return
        if rework:
            self.rework(doc, mail)
            return
        time.sleep(self.delay)  # "thinking"
        self.swarm_part(doc, hook)
        sha = commit_work(doc["worktree"], hook["id"], hook["title"], self.model, doc["role"],
                          edits_in(hook.get("description") or ""))
        say(f"committed {sha} on {doc['branch']}")
        self.done()

    def rework(self, doc: dict[str, Any], mail: list[dict[str, Any]]) -> None:
        """Its branch did not land: read why, merge the rig's branch in, resolve, report done again."""
        for m in mail:  # reading them tells the witness it need not nudge again
            read = gt("-o", "json", "mail", "read", m["id"])
            say(f"read {m['type']} from {m['from']}: {m['title']}")
            if m["type"] == "REWORK_REQUEST" and read.returncode == 0:
                for line in json.loads(read.stdout)["body"].splitlines():
                    if line.strip():
                        say(f"  {line}")
        time.sleep(self.delay)  # "thinking"
        base = doc["baseBranch"]
        say(f"git merge {base}")
        conflicted = merge_keeping_both(doc["worktree"], base, doc["role"])
        if conflicted is None:
            gt("done", "--status", "escalated", "-m", f"git merge {base} failed in my worktree")
            say("asked the overseer for help")
            return
        say(f"merged {base} into {doc['branch']}" + (f"; {len(conflicted)} conflict(s) resolved" if conflicted else ""))
        self.done()

    def done(self) -> None:
        done = gt("done")
        say("reported done; the refinery will merge it" if done.returncode == 0
            else f"gt done failed: {done.stderr.strip()}")

    def swarm_part(self, doc: dict[str, Any], hook: dict[str, Any]) -> None:
        """A planner files its subtasks; a reviewer notes what it finds merged (before the work note)."""
        swarm = doc.get("swarm") or {}
        if swarm.get("role") == "planner":
            count = int(os.environ.get("GT_DEMO_SUBTASKS", "3"))
            filed = gt("swarm", "file", *(f"{hook['title']}: part {n}" for n in range(1, count + 1)))
            say(f"filed {count} subtasks" if filed.returncode == 0 else f"gt swarm file failed: {filed.stderr.strip()}")
        elif swarm.get("role") == "reviewer":
            found = [s for s in swarm["subtasks"] if os.path.exists(os.path.join(doc["worktree"], "work", f"{s}.md"))]
            os.makedirs(os.path.join(doc["worktree"], "work"), exist_ok=True)
            with open(os.path.join(doc["worktree"], "work", f"{hook['id']}.md"), "a", encoding="utf-8") as note:
                note.write(f"Reviewed the merged work of {', '.join(found) or 'nothing'}.\n\n")
            say(f"reviewed {len(found)} of {len(swarm['subtasks'])} subtasks' merged work")

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
