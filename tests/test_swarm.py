"""Swarms with real parts: the embedded Beads store, real git, and, end to end, the controller
running demo agents in real tmux sessions: the planner files three subtasks, they run at once
on the executor model, and the review runs last, on the merged result, once all three are
merged and closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town
from reconciler.model.swarm import REVIEW_LABEL, TASK_LABEL

from .conftest import commit_all, gt, save, wait_for

PLAN = "dm-prof"
TASKS = ("dm-prof.1", "dm-prof.2", "dm-prof.3")
REVIEW = "dm-prof.4"


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def make_swarm(town: Path) -> None:
    """The demo town with one swarm convoy in place of its demo convoy: dm-prof, planned on sonnet,
    executed on haiku, reviewed on opus, written by gt convoy create and gt swarm deploy."""
    store(town).create("User profile", issue_id=PLAN, description="Profiles: a page, an API, the tests.")
    (town / "manifests/convoys/demo.yaml").unlink()
    commit_all(town, "no demo convoy")
    for args in (("convoy", "create", "Profile", PLAN, "--commit"),
                 ("swarm", "deploy", "profile", "--planner", "sonnet", "--executor", "haiku", "--reviewer", "opus",
                  "--commit")):
        code, out, err = gt(*args)
        assert code == 0, out + err


@pytest.fixture
def town(town: Path) -> Path:
    """The demo town of conftest (no tmux), made a swarm."""
    make_swarm(town)
    return town


def inside(monkeypatch: pytest.MonkeyPatch, town: Path, worker: str, issue: str) -> None:
    """Be worker ``worker`` of rig demo, holding ``issue``, as its session's environment says."""
    store(town).hook(issue, f"demo/workers/{worker}")
    for key, value in {"GT_TOWN": str(town), "GT_RIG": "demo", "GT_WORKER": worker, "GT_ISSUE": issue}.items():
        monkeypatch.setenv(key, value)


def prime(town: Path) -> dict[str, Any]:
    code, out, err = gt("-o", "json", "prime")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_the_planner_files_children_and_one_review_that_readiness_keeps_last(
        town: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside(monkeypatch, town, "nux", PLAN)
    doc = prime(town)
    assert doc["swarm"] == {"convoy": "profile", "role": "planner", "model": "sonnet", "planning": PLAN,
                            "models": {"planner": "sonnet", "executor": "haiku", "reviewer": "opus"},
                            "subtasks": [], "review": None}
    assert "gt swarm file" in doc["steps"][1] and doc["steps"][-2].startswith("When the work is done")
    code, out, err = gt("swarm", "file", "Profile page", "Profile API")
    assert code == 0, err
    assert out.splitlines()[:2] == ["filed dm-prof.1 Profile page", "filed dm-prof.2 Profile API"]
    code, out, err = gt("-o", "json", "swarm", "file", "Profile tests", "-d", "Cover the page and the API.")
    assert code == 0, err
    assert json.loads(out) == {"planning": PLAN, "filed": [{"id": "dm-prof.4", "title": "Profile tests"}],
                               "review": {"id": "dm-prof.3", "blockedBy": [PLAN, "dm-prof.1", "dm-prof.2",
                                                                            "dm-prof.4"]}}
    code, out, err = gt("-o", "json", "swarm", "file", "Profile page", "Profile tests")  # a restarted planner
    assert code == 0 and json.loads(out)["filed"] == [], out + err  # files nothing twice
    s = store(town)
    kids = {i.id: i for i in s.list() if i.parent == PLAN}
    assert sorted(kids) == ["dm-prof.1", "dm-prof.2", "dm-prof.3", "dm-prof.4"]
    review = kids.pop("dm-prof.3")
    assert review.title == "Review: User profile" and REVIEW_LABEL in review.labels
    assert all(TASK_LABEL in k.labels and k.blocked_by == (PLAN,) for k in kids.values())
    assert kids["dm-prof.4"].description == "Cover the page and the API."
    assert prime(town)["swarm"]["subtasks"] == ["dm-prof.1", "dm-prof.2", "dm-prof.4"]
    code, text, _ = gt("prime")  # as an agent reads it
    assert code == 0 and "## Swarm profile: you are its planner (model sonnet)" in text
    assert "subtasks of dm-prof: dm-prof.1, dm-prof.2, dm-prof.4; review: dm-prof.3" in text
    # Readiness, as bd ready counts it: nothing while the plan is open, the subtasks once it is
    # closed, the review once every subtask is.
    children = {"dm-prof.1", "dm-prof.2", "dm-prof.3", "dm-prof.4"}
    assert children.isdisjoint(i.id for i in s.ready())
    s.close(PLAN, "merged")
    assert {i.id for i in s.ready()} & children == {"dm-prof.1", "dm-prof.2", "dm-prof.4"}
    for task in ("dm-prof.1", "dm-prof.2"):
        s.close(task, "merged")
        assert "dm-prof.3" not in {i.id for i in s.ready()}
    s.close("dm-prof.4", "merged")
    assert "dm-prof.3" in {i.id for i in s.ready()}


def test_prime_tells_each_part_of_a_swarm_what_it_does(town: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside(monkeypatch, town, "nux", PLAN)
    assert gt("swarm", "file", "Profile page", "Profile API")[0] == 0
    inside(monkeypatch, town, "slit", "dm-prof.1")
    doc = prime(town)
    assert (doc["swarm"]["role"], doc["swarm"]["model"]) == ("executor", "haiku")
    assert doc["steps"][0].startswith("dm-prof.1 is one subtask of dm-prof (swarm profile)")
    assert doc["steps"][1].startswith("Work the issue on your hook now")
    inside(monkeypatch, town, "toast", "dm-prof.3")
    doc = prime(town)
    assert (doc["swarm"]["role"], doc["swarm"]["model"], doc["swarm"]["review"]) == ("reviewer", "opus", "dm-prof.3")
    assert doc["steps"][0].startswith("You review swarm profile: every subtask of dm-prof (dm-prof.1, dm-prof.2) "
                                      "is merged into main.")


def test_only_a_swarms_planner_files_subtasks(town: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = store(town).path.read_bytes()
    code, _, err = gt("swarm", "file", "A")
    assert code == 2 and "not inside a gt worker session" in err
    inside(monkeypatch, town, "slit", "dm-greet")
    code, _, err = gt("swarm", "file", "A")
    assert code == 2 and "dm-greet is not a swarm's planning issue" in err
    assert prime(town)["swarm"] is None
    monkeypatch.setenv("GT_WORKER", "toast")
    code, _, err = gt("swarm", "file", "A")
    assert code == 2 and "nothing is hooked to demo/workers/toast" in err
    after = store(town).path.read_bytes()
    assert after.count(b"\n") == before.count(b"\n")  # the hook of dm-greet is all that changed


# -- end to end ------------------------------------------------------------------------------------


@pytest.fixture
def swarm_town(fast_town: Path) -> Iterator[Path]:
    """The fast demo town (its controller passes every second), made a swarm; agents think 1.5 s,
    so that three executors are seen at work together."""
    make_swarm(fast_town)
    routing = fast_town / "manifests/routing.yaml"
    save(routing, routing.read_text().replace("env: {GT_DEMO_DELAY: '0.1'}", "env: {GT_DEMO_DELAY: '1.5'}"))
    yield fast_town


def journal(town: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (town / ".gt/controller.log").read_text().splitlines()]


def test_a_swarm_plans_then_executes_in_parallel_then_reviews_the_merged_result(swarm_town: Path) -> None:
    town = swarm_town
    tmux = Tmux(Town.load(town).desired.socket)
    broken: list[str] = []

    def look() -> tuple[set[str], dict[str, str]]:
        """The issues live sessions work, then every issue's status; and whether the review was
        ever taken while a subtask was open (sessions first: a review session seen means its
        hook was set before the store is read, and closes are for good)."""
        live = {s.stamps.issue for s in observe_sessions(tmux) if not s.dead}
        status = {i.id: i.status for i in store(town).list()}
        open_tasks = [t for t in TASKS if status.get(t) != "closed"]
        if open_tasks and (REVIEW in live or status.get(REVIEW, "open") != "open"):
            broken.append(f"review {status.get(REVIEW)} (session: {REVIEW in live}) while {open_tasks} open")
        return live, status

    code, out, err = gt("start")
    assert code == 0, out + err
    # Plan: the planner files three subtasks and the review; none starts before the plan lands.
    wait_for(lambda: set(TASKS) | {REVIEW} <= set(look()[1]), timeout=60)
    # Execute: the three subtasks are worked at the same time.
    wait_for(lambda: set(TASKS) <= look()[0], timeout=60)
    assert look()[1][PLAN] == "closed"
    # Review, last; then the convoy has landed.
    wait_for(lambda: look()[1].get(REVIEW) == "closed", timeout=90)
    assert broken == []
    assert all(store(town).get(t).status == "closed" for t in TASKS)

    def done(action: str, outcome: str) -> dict[str, dict[str, Any]]:
        return {e["issue"]: e for e in journal(town) if (e.get("action"), e.get("outcome")) == (action, outcome)}

    merged = wait_for(lambda: (found := done("merge", "merged")).keys() == {PLAN, *TASKS, REVIEW} and found)
    spawned = done("spawn", "created")
    assert spawned.keys() == {PLAN, *TASKS, REVIEW}
    assert "sonnet by swarm profile: planner" in spawned[PLAN]["why"]
    assert all("haiku by swarm profile: executor" in spawned[t]["why"] for t in TASKS)
    assert "opus by swarm profile: reviewer" in spawned[REVIEW]["why"]
    assert spawned[REVIEW]["time"] > max(merged[t]["time"] for t in TASKS) > min(spawned[t]["time"] for t in TASKS)
    assert min(spawned[t]["time"] for t in TASKS) > merged[PLAN]["time"]

    rig = town / "rigs/demo"
    assert "with model sonnet" in (rig / f"work/{PLAN}.md").read_text()
    assert all("with model haiku" in (rig / f"work/{t}.md").read_text() for t in TASKS)
    review = (rig / f"work/{REVIEW}.md").read_text()
    assert f"Reviewed the merged work of {', '.join(TASKS)}." in review and "with model opus" in review

    code, out, err = gt("convoy", "show", "profile")
    assert code == 0, err
    assert "5/5 merged" in out and "Landed" in out
    assert [line.split()[0] for line in out.splitlines()[1:6]] == [PLAN, *TASKS, REVIEW]
    assert "reviewer: Review: User profile" in out
