"""The README's two commands, as a new user runs them: copied word for word, in a scrubbed
environment (a fresh HOME, the system PATH, no virtualenv active)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import git
import pytest

from reconciler.clients.beads.embedded import JsonlStore

from .conftest import REPO_ROOT

SCRUBBED_PATH = "/usr/local/bin:/usr/bin:/bin"


def readme_commands() -> tuple[str, str]:
    """The install-and-demo command of 'Try it', and the test command after it."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Try it", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    main, tests = blocks[0].strip(), next(b.strip() for b in blocks if "pytest" in b)
    assert "\n" not in main and "\n" not in tests, "each is one command to copy"
    return main, tests


def test_ci_runs_exactly_the_readme_test_command_scrubbed() -> None:
    _, tests = readme_commands()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == tests
    assert "env -i" in ci and f"PATH={SCRUBBED_PATH}" in ci and 'HOME="$home"' in ci


def test_the_readme_main_job_converges_as_a_new_user_runs_it() -> None:
    main, _ = readme_commands()
    town = REPO_ROOT / "demo-town"
    if town.exists():
        pytest.skip(f"{town} exists (a demo of yours): remove it to run this test")
    if shutil.which("tmux", path=SCRUBBED_PATH) is None:
        pytest.skip("tmux not installed")
    home = tempfile.mkdtemp(prefix="gt-new-user-")
    env = {"HOME": home, "PATH": SCRUBBED_PATH, "LANG": "C.UTF-8"}
    try:
        done = subprocess.run(["bash", "-c", main], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=420, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "the demo converged" in done.stdout
        issues = JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm").list()
        assert {i.id: i.status for i in issues} == {
            "dm-greet": "closed", "dm-parser": "closed", "dm-readme": "closed", "dm-cache": "closed"}
        with git.Repo(town / "rigs/demo") as rig:
            merged = {c.summary.split(":")[0] for c in rig.iter_commits("main")}
        assert {"dm-greet", "dm-parser", "dm-readme", "dm-cache"} <= merged
    finally:
        if town.exists():
            subprocess.run([str(REPO_ROOT / ".venv/bin/gt"), "--town", str(town), "shutdown", "--grace", "1"],
                           env=env, capture_output=True, check=False, timeout=60)
            shutil.rmtree(town, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    assert not os.path.exists(town)
