"""A test agent for molecules: it knows only its start prompt and what gt tells it.

It logs its start prompt (one line a session, in $MOL_LOG), then, step after step: reads its current
step from ``gt prime``, commits one file for it (``work/<issue>/step-<n>.md``, holding the step's
text and this session's GT_GENERATION), and runs ``gt done --continue``, until the issue is reported
done. Then it waits at its prompt as an agent does.

$MOL_HOLD names a file: while it holds the number of the step reached, the agent renames it to
``<file>.held`` and waits there without working, so that a test can kill its session at a known step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def gt(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("gt")
    assert program is not None, "gt is not on the worker's PATH"
    return subprocess.run([program, *args], capture_output=True, text=True, check=False)


def git(worktree: str, *args: str) -> None:
    identity = {"GIT_AUTHOR_NAME": "mol-agent", "GIT_AUTHOR_EMAIL": "mol-agent@localhost",
                "GIT_COMMITTER_NAME": "mol-agent", "GIT_COMMITTER_EMAIL": "mol-agent@localhost"}
    subprocess.run(["git", *args], cwd=worktree, check=True, capture_output=True, env=identity | dict(os.environ))


def main() -> int:
    prompt = sys.argv[-1] if len(sys.argv) > 1 else ""
    with open(os.environ["MOL_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"generation": os.environ.get("GT_GENERATION", ""), "prompt": prompt}) + "\n")
    hold = Path(os.environ["MOL_HOLD"])
    while True:
        run = gt("prime", "-o", "json")
        if run.returncode != 0:
            print(f"gt prime failed: {run.stderr.strip()}", flush=True)
            break
        doc = json.loads(run.stdout)
        hook, molecule = doc["hook"], doc["molecule"]
        if hook is None or molecule is None or molecule["done"]:
            break
        step = molecule["step"]
        if hold.exists() and hold.read_text().strip() == str(step):
            hold.rename(hold.with_name(hold.name + ".held"))
            print(f"holding at step {step}", flush=True)
            sys.stdin.read()  # until the session is killed
            return 0
        path = Path(doc["worktree"], "work", hook["id"], f"step-{step}.md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{molecule['text']}\ngeneration {os.environ.get('GT_GENERATION', '')}\n", encoding="utf-8")
        git(doc["worktree"], "add", "--", str(path))
        git(doc["worktree"], "commit", "-q", "-m", f"{hook['id']}: step {step}")
        done = gt("done", "--continue", "-m", f"step {step} by the test agent")
        print(done.stdout.strip() or done.stderr.strip(), flush=True)
        if done.returncode != 0:
            break
    print("mol> ", end="", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
