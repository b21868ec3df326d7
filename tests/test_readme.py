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
from reconciler.clients.git import TRAILER_HEAD
from reconciler.loop.town import Town
from reconciler.model.mail import CONVOY_LABEL, ISSUE_LABEL, MessageType
from reconciler.ops.mail import every_message

from .conftest import REPO_ROOT
from .test_demo import assert_nothing_running

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
    """gt demo's whole run: every issue merged, the one conflict sent back to its worker and
    reworked by it (both sides' lines on main), the convoy landed, and nothing left running."""
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
        assert "the demo converged" in done.stdout and "1 conflict sent back and reworked" in done.stdout
        issues = JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm").list()
        assert {i.id: i.status for i in issues} == {
            "dm-greet": "closed", "dm-parser": "closed", "dm-readme": "closed", "dm-cache": "closed"}

        mail = every_message(JsonlStore(town / ".beads/issues.jsonl", "hq"))
        (rework,) = [m for m in mail if m.kind is MessageType.REWORK_REQUEST]
        (issue,) = rework.about(ISSUE_LABEL)
        worker = rework.to
        assert issue in ("dm-greet", "dm-parser") and "conflicts with main" in rework.body
        assert "README.md" in rework.body
        assert [m.to for m in mail if m.kind is MessageType.MERGE_FAILED] == [worker]
        assert [m.to for m in mail if m.kind is MessageType.MERGED and issue in m.subject.split()] == [worker]
        assert [m.about(CONVOY_LABEL) for m in mail if m.kind is MessageType.CONVOY_LANDED] == [["demo"]]
        assert f"{issue} was sent back (" in done.stdout and f"to {worker}, who merged main" in done.stdout
        assert "REWORK_REQUEST  demo/refinery" in done.stdout  # the mail table: type, from, to, subject

        with git.Repo(town / "rigs/demo") as rig:
            merged = {c.summary.split(":")[0]: c for c in rig.iter_commits("main")}
            assert {"dm-greet", "dm-parser", "dm-readme", "dm-cache"} <= set(merged)
            readme = rig.commit("main").tree["README.md"].data_stream.read().decode()
            landing = merged[issue]
            head = next(line.split(": ", 1)[1] for line in str(landing.message).splitlines()
                        if line.startswith(f"{TRAILER_HEAD}: "))
            reworked = rig.commit(head)  # what the worker reported done the second time
            assert f"Worked by {worker} on gt/{worker.rsplit('/', 1)[1]}/{issue}." in str(landing.message)
            assert len(reworked.parents) == 2  # its merge of main, conflict resolved
        assert "- greet(name): says hello\n- parse(text): reads key=value lines\n" in readme or \
            "- parse(text): reads key=value lines\n- greet(name): says hello\n" in readme
        assert "- none yet" not in readme and "<<<<<<<" not in readme and "worked by the gt demo agents" in readme
        assert_nothing_running(town, Town.load(town).desired.socket)
    finally:
        if town.exists():
            subprocess.run([str(REPO_ROOT / ".venv/bin/gt"), "--town", str(town), "shutdown", "--grace", "1"],
                           env=env, capture_output=True, check=False, timeout=60)
            shutil.rmtree(town, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    assert not os.path.exists(town)
