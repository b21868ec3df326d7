"""Molecules: an issue's steps declared in its convoy, worked one after the other on one branch,
the progress kept on the issue in Beads so that a restarted worker resumes where it stopped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import typing as t
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.clients.beads.embedded import JsonlStore
from reconciler.errors import ManifestError
from reconciler.manifests.loader import load_desired_state
from reconciler.model.desired import PromptVia
from reconciler.model.molecule import (
    current_step,
    progress,
    record_step,
    squash,
    step_line,
    step_prompt,
)
from reconciler.model.observed import DONE_LABEL
from reconciler.plan.planner import plan
from reconciler.plan.workers import worker_spec

from .conftest import REPO_ROOT, commit_all, save, wait_for, write_tree
from .manifest_texts import CONVOY, RIG
from .plan_builders import NOW, convoy, desired, hooked, obs_rig, observed, session

STEPS = ("Write a failing test.", "Make it pass.", "Tidy up.")


# -- the model: labels and notes --------------------------------------------------------------


class StepCase(t.NamedTuple):
    test_id: str
    labels: tuple[str, ...]
    step: int


STEP_CASES = [
    StepCase("no-label-is-the-first-step", (), 1),
    StepCase("the-label-says", ("model:haiku", "gt:step:2"), 2),
    StepCase("the-highest-of-two", ("gt:step:3", "gt:step:2"), 3),
    StepCase("garbage-is-ignored", ("gt:step:x", "gt:step:0", "gt:step:-1"), 1),
]


@pytest.mark.parametrize("case", STEP_CASES, ids=[c.test_id for c in STEP_CASES])
def test_the_current_step_is_read_from_the_labels(case: StepCase) -> None:
    assert current_step(case.labels) == case.step


def test_progress_states_and_a_shortened_molecule() -> None:
    assert progress((), ("gt:step:2",), False) is None
    at = progress(STEPS, ("gt:step:2",), False)
    assert at is not None and (at.current, at.total, at.text, at.last) == (2, 3, "Make it pass.", False)
    assert [at.state(n) for n in (1, 2, 3)] == ["done", "current", "pending"]
    shortened = progress(STEPS[:2], ("gt:step:3",), False)
    assert shortened is not None and (shortened.current, shortened.last) == (2, True)
    finished = progress(STEPS, ("gt:step:3", DONE_LABEL), True)
    assert finished is not None and [finished.state(n) for n in (1, 2, 3)] == ["done", "done", "done"]
    assert step_prompt(finished) == ""
    assert "step 2 of 3: Make it pass." in step_prompt(at) and "gt done --continue" in step_prompt(at)
    last = progress(STEPS, ("gt:step:3",), False)
    assert last is not None and "(the last)" in step_prompt(last) and "\n" not in step_prompt(last)


def test_a_step_finished_again_is_recorded_once_and_squash_keeps_the_other_notes() -> None:
    notes = "Investigated: the bug is in parse().\n"
    notes = record_step(notes, 1, step_line(1, 3, "a" * 40, "Write a\nfailing test.", "test added"))
    notes = record_step(notes, 2, step_line(2, 3, "b" * 40, "Make it pass."))
    notes = record_step(notes, 2, step_line(2, 3, "c" * 40, "Make it pass.", "again, after a rework"))
    assert notes == ("Investigated: the bug is in parse().\n"
                     "[gt:step 1/3] aaaaaaaaaaaa Write a failing test. -- test added\n"
                     "[gt:step 2/3] cccccccccccc Make it pass. -- again, after a rework\n")
    folded = squash(notes, "2026-01-02T03:04:05Z")
    assert folded is not None and folded.folded == 2
    assert folded.notes == ("Investigated: the bug is in parse().\n\n"
                            "[gt:mol digest] 2 of 3 steps done, squashed 2026-01-02T03:04:05Z\n"
                            "  [1/3] aaaaaaaaaaaa Write a failing test. -- test added\n"
                            "  [2/3] cccccccccccc Make it pass. -- again, after a rework\n")
    assert squash(folded.notes, "later") is None  # nothing new to fold
    more = record_step(folded.notes, 3, step_line(3, 3, "d" * 40, "Tidy up."))
    again = squash(more, "2026-01-03T00:00:00Z")
    assert again is not None and again.folded == 1
    assert again.digest.splitlines() == ["[gt:mol digest] 3 of 3 steps done, squashed 2026-01-03T00:00:00Z",
                                         "  [1/3] aaaaaaaaaaaa Write a failing test. -- test added",
                                         "  [2/3] cccccccccccc Make it pass. -- again, after a rework",
                                         "  [3/3] dddddddddddd Tidy up."]
    assert again.notes.startswith("Investigated: the bug is in parse().\n\n[gt:mol digest] 3 of 3")
    assert squash("", "now") is None


# -- the declaration -----------------------------------------------------------------------------


def test_steps_of_the_convoy_or_of_the_issue(in_tmp: Path) -> None:
    write_tree(in_tmp, {"manifests/rig.yaml": RIG, "manifests/c.yaml": CONVOY.replace(
        "  issues: [cs-login, cs-session]\n",
        "  molecule:\n    steps: [Write a failing test., Make it pass.]\n"
        "  issues: [cs-login, {id: cs-session, steps: [Migrate.]}]\n")})
    d = load_desired_state(in_tmp / "manifests")
    assert d.steps_for("csm", "cs-login") == ("Write a failing test.", "Make it pass.")
    assert d.steps_for("csm", "cs-session") == ("Migrate.",)
    assert d.steps_for("csm", "cs-other") == ()
    assert d.convoys[0].overrides == ()  # steps alone override no model, agent or message


class Invalid(t.NamedTuple):
    test_id: str
    convoy: str
    line: int
    col: int
    fragment: str


MOLECULE_AT = "  issues: [cs-login, cs-session]\n"
INVALID = [
    Invalid("empty-steps", "  molecule: {steps: []}\n" + MOLECULE_AT, 7, 21,
            "$.spec.molecule.steps: [] should be non-empty"),
    Invalid("no-steps", "  molecule: {}\n" + MOLECULE_AT, 7, 13, "missing required field 'steps'"),
    Invalid("misspelt-field", "  molecule:\n    step: [a]\n" + MOLECULE_AT, 8, 5,
            "unknown field 'step' (allowed: steps)"),
    Invalid("step-not-text", "  molecule:\n    steps:\n      - a\n      - {run: b}\n" + MOLECULE_AT, 10, 9,
            "$.spec.molecule.steps[1]: {'run': 'b'} is not of type 'string'"),
    Invalid("empty-step", "  molecule:\n    steps: [a, '']\n" + MOLECULE_AT, 8, 16,
            "$.spec.molecule.steps[1]: '' should be non-empty"),
    Invalid("molecule-a-list", "  molecule: [a, b]\n" + MOLECULE_AT, 7, 13, "is not of type 'object', 'null'"),
    Invalid("issue-steps-text", "  issues: [cs-login, {id: cs-session, steps: Migrate.}]\n", 7, 46,
            "$.spec.issues[1].steps: 'Migrate.' is not of type 'array', 'null'"),
    Invalid("issue-steps-empty", "  issues: [cs-login, {id: cs-session, steps: []}]\n", 7, 46,
            "$.spec.issues[1].steps: [] should be non-empty"),
]


@pytest.mark.parametrize("case", INVALID, ids=[c.test_id for c in INVALID])
def test_a_bad_molecule_is_reported_at_its_node(case: Invalid, in_tmp: Path) -> None:
    write_tree(in_tmp, {"manifests/rig.yaml": RIG, "manifests/c.yaml": CONVOY.replace(MOLECULE_AT, case.convoy)})
    with pytest.raises(ManifestError) as info:
        load_desired_state(in_tmp / "manifests")
    problems = info.value.problems
    rendered = "\n".join(map(str, problems))
    assert {(p.path, p.line, p.col) for p in problems} == {("manifests/c.yaml", case.line, case.col)}, rendered
    assert any(case.fragment in str(p) for p in problems), rendered


# -- the plan: a step is not drift ----------------------------------------------------------------


def test_the_start_prompt_names_the_step_but_the_fingerprint_does_not_change() -> None:
    d = desired(convoys=(convoy("auth", "cs-1", molecule=STEPS),))
    first, second = hooked("cs-1", "nux"), hooked("cs-1", "nux", labels=("gt:step:2",))
    at_1, at_2 = worker_spec(d, d.rig("csm"), "nux", first), worker_spec(d, d.rig("csm"), "nux", second)
    assert at_1.fingerprint == at_2.fingerprint
    assert "step 1 of 3: Write a failing test." in at_1.command[-1]
    assert "step 2 of 3: Make it pass." in at_2.command[-1]
    assert dict(at_1.env) == dict(at_2.env) and not any("step" in v for _, v in at_2.env)
    plain = desired(convoys=(convoy("auth", "cs-1"),))
    assert worker_spec(plain, plain.rig("csm"), "nux", first).fingerprint == at_1.fingerprint  # steps are no drift
    # A session started at step 1, its issue now at step 2: nothing to do, no drift reported.
    result = plan(d, observed(obs_rig("csm", second), sessions=(session(d, "csm", "nux", first, idle=5),)), NOW)
    assert [a.op.value for a in result.actions] == [] and [n.reason for n in result.notes] == []


def test_a_review_names_the_molecules_that_change() -> None:
    from reconciler.model.observed import ObservedState
    from reconciler.plan.review import review

    base = desired(convoys=(convoy("auth", "cs-1", {"id": "cs-2", "steps": ["Migrate."]}, molecule=STEPS),))
    head = desired(convoys=(convoy("auth", "cs-1", {"id": "cs-2", "steps": ["Migrate!"]}, molecule=STEPS[:2]),))
    (changed,) = review(base, head, ObservedState(), ObservedState(), NOW).convoys
    assert changed.details == ("molecule: 3 steps -> 2 steps", "cs-2 steps: 1 step, reworded")
    assert review(base, base, ObservedState(), ObservedState(), NOW).convoys == ()


def test_a_typed_start_prompt_stays_on_one_line() -> None:
    from reconciler.model.desired import AgentSpec
    from reconciler.model.presets import BUILTIN_ROUTING

    typed = replace(BUILTIN_ROUTING, name="default", agents=tuple(
        replace(a, prompt_via=PromptVia.type) if isinstance(a, AgentSpec) else a for a in BUILTIN_ROUTING.agents))
    d = desired(convoys=(convoy("auth", {"id": "cs-1", "message": "Mind the API."}, molecule=STEPS),),
                routings=(typed,))
    spec = worker_spec(d, d.rig("csm"), "nux", hooked("cs-1", "nux", labels=("gt:step:3",)))
    assert "step 3 of 3 (the last): Tidy up." in spec.prompt and "Mind the API." in spec.prompt
    assert "\n" not in spec.prompt


# -- the store keeps every field --------------------------------------------------------------------


FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "beads"


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures not beside the repository")
def test_notes_written_on_a_real_bd_record_keep_every_other_field(tmp_path: Path) -> None:
    source = FIXTURES / "upstream-001ae44.jsonl"
    copy = tmp_path / ".beads" / "issues.jsonl"
    copy.parent.mkdir()
    shutil.copyfile(source, copy)
    lines = copy.read_text(encoding="utf-8").splitlines()
    index, before = next((n, json.loads(x)) for n, x in enumerate(lines)
                         if '"notes"' in x and '"status":"open"' in x)
    store = JsonlStore(copy, "bd")
    issue = store.update(before["id"], add_labels=["gt:step:2"], notes=before["notes"] + "\n[gt:step 1/2] abc x\n")
    assert issue.notes.endswith("[gt:step 1/2] abc x\n") and "gt:step:2" in issue.labels
    after_lines = copy.read_text(encoding="utf-8").splitlines()
    assert [x for n, x in enumerate(after_lines) if n != index] == [x for n, x in enumerate(lines) if n != index]
    after = json.loads(after_lines[index])
    assert list(after) == list(before) + (["labels"] if "labels" not in before else [])
    assert {k: v for k, v in after.items() if k not in ("notes", "labels", "updated_at")} == \
        {k: v for k, v in before.items() if k not in ("notes", "labels", "updated_at")}


def test_bd_gets_the_notes_whole(tmp_path: Path) -> None:
    from reconciler.clients.beads.bdcli import BdStore

    log = tmp_path / "calls"
    bd = tmp_path / "bd"
    record = {"id": "gt-a", "title": "A", "status": "in_progress", "notes": "n"}
    bd.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + "
                  f"'\\n')\nprint(json.dumps([{record!r}]))\n")
    bd.chmod(0o755)
    store = BdStore(tmp_path, "gt", actor="rig/workers/nux", bd=str(bd))
    store.update("gt-a", add_labels=["gt:step:2"], remove_labels=["gt:step:1"], notes="line one\n-- line two")
    update = json.loads(log.read_text().splitlines()[0])
    assert update[:5] == ["update", "gt-a", "--add-label=gt:step:2", "--remove-label=gt:step:1",
                          "--notes=line one\n-- line two"]


# -- the commands, from inside real worker sessions -----------------------------------------------------


def gt(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from reconciler.cli import app

    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def worker_env(town: Path, worker: str, issue: str) -> dict[str, str]:
    return {"GT_TOWN": str(town), "GT_RIG": "demo", "GT_WORKER": worker, "GT_ISSUE": issue}


def rig_store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def commit_in(tree: Path, name: str) -> str:
    (tree / name).write_text(f"{name}\n")
    subprocess.run(["git", "add", name], cwd=tree, check=True)
    subprocess.run(["git", "commit", "-q", "-m", name], cwd=tree, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_mol_current_next_squash_and_done_continue(demo_town: Path) -> None:
    from .test_controller import WORKING, agent_env, live_issues

    convoy_file = demo_town / "manifests/convoys/demo.yaml"
    convoy_file.write_text(convoy_file.read_text().replace(
        "issues: [dm-greet, dm-parser, dm-readme, dm-cache]",
        "issues: [{id: dm-greet, steps: [Write a failing test., Make it pass., Tidy up.]}, "
        "dm-parser, dm-readme, dm-cache]"))
    agent_env(demo_town, GT_DEMO_MODE="idle")  # the agents read their hooks and do nothing: the test works
    commit_all(demo_town, "a molecule for dm-greet")
    before = json.loads(next(x for x in (demo_town / "rigs/demo/.beads/issues.jsonl").read_text().splitlines()
                             if '"dm-greet"' in x))
    assert gt("apply", "--yes")[0] == 0 and live_issues(demo_town) == WORKING
    wait_for(lambda: rig_store(demo_town).get("dm-greet").status == "in_progress")  # its agent ran gt hook
    nux, slit = worker_env(demo_town, "nux", "dm-greet"), worker_env(demo_town, "slit", "dm-parser")
    tree = demo_town / ".gt/worktrees/demo/nux"

    code, _, err = gt("mol", "current")
    assert code == 2 and "not inside a gt worker session" in err
    code, _, err = gt("mol", "next")
    assert code == 2 and "not inside a gt worker session" in err
    code, _, err = gt("mol", "current", "demo/slit")
    assert code == 2 and "dm-parser has no molecule" in err
    code, _, err = gt("done", "--continue", env=slit)
    assert code == 2 and "dm-parser has no molecule" in err
    code, _, err = gt("done", "--continue", "--status", "escalated", env=nux)
    assert code == 2 and "cannot go with --status escalated" in err

    code, out, err = gt("mol", "current", env=nux)
    assert code == 0 and out.startswith("dm-greet: step 1 of 3: Write a failing test.\n"), out + err
    assert "  1. [>] Write a failing test.\n  2. [ ] Make it pass.\n" in out
    doc = json.loads(gt("prime", "-o", "json", env=nux)[1])
    assert (doc["molecule"]["step"], doc["molecule"]["total"], doc["molecule"]["done"]) == (1, 3, False)
    assert any("gt done --continue" in s for s in doc["steps"])
    text = gt("prime", env=nux)[1]
    assert "## Molecule: step 1 of 3\n\n1. [>] Write a failing test.\n2. [ ] Make it pass." in text
    code, out, _ = gt("prime", env=slit)
    assert code == 0 and "Molecule" not in out and "gt done --continue" not in out

    code, _, err = gt("done", env=nux)  # the refinery would merge a third of the workflow
    assert code == 2 and "dm-greet is at step 1 of 3 of its molecule" in err
    assert DONE_LABEL not in rig_store(demo_town).get("dm-greet").labels
    code, _, err = gt("mol", "squash", env=nux)
    assert code == 2 and "nothing to squash: no step of dm-greet is finished yet" in err
    (tree / "test_greet.py").write_text("assert False\n")
    code, _, err = gt("done", "--continue", env=nux)
    assert code == 2 and "uncommitted changes (test_greet.py)" in err
    assert rig_store(demo_town).get("dm-greet").labels.count("gt:step:2") == 0

    first = commit_in(tree, "test_greet.py")
    code, out, err = gt("done", "--continue", "-m", "the test fails", env=nux)
    assert code == 0, out + err
    assert out.startswith(f"dm-greet: step 1 of 3 done ({first[:7]}); next, step 2 of 3: Make it pass.\n")
    issue = rig_store(demo_town).get("dm-greet")
    assert "gt:step:2" in issue.labels and issue.status in ("hooked", "in_progress")
    assert issue.notes == f"[gt:step 1/3] {first[:12]} Write a failing test. -- the test fails\n"
    code, out, _ = gt("diff")  # the next step is not drift: nothing restarts the worker
    assert code == 0 and "In sync" in out, out
    code, out, _ = gt("convoy", "show", "demo")
    assert code == 0 and "dm-greet   working (demo/nux), step 2 of 3 " in out, out
    shown = json.loads(gt("-o", "json", "convoy", "show", "demo")[1])
    steps = [(i["id"], i["step"]) for i in shown["issues"]][:2]
    assert steps == [("dm-greet", {"at": 2, "of": 3}), ("dm-parser", None)]

    second = commit_in(tree, "greet.py")
    code, out, _ = gt("-o", "json", "mol", "next", env=nux)
    moved = json.loads(out)
    assert code == 0 and (moved["finished"], moved["commit"], moved["done"]) == (2, second, False)
    assert (moved["next"]["step"], moved["next"]["text"]) == (3, "Tidy up.")
    code, _, err = gt("mol", "next", env=nux)
    assert code == 2 and "dm-greet is at its last step (3 of 3): there is no next step" in err

    code, out, _ = gt("mol", "squash", env=nux)
    assert code == 0 and "2 finished steps folded" in out
    notes = rig_store(demo_town).get("dm-greet").notes
    assert notes.startswith("[gt:mol digest] 2 of 3 steps done, squashed ") and "[gt:step" not in notes
    assert (f"  [1/3] {first[:12]} Write a failing test. -- the test fails\n"
            f"  [2/3] {second[:12]} Make it pass.\n") in notes

    third = commit_in(tree, "tidy.txt")
    code, out, err = gt("done", "--continue", env=nux)
    assert code == 0 and "step 3 of 3 done, the last: the issue is reported done" in out, out + err
    issue = rig_store(demo_town).get("dm-greet")
    assert DONE_LABEL in issue.labels and issue.notes.endswith(f"[gt:step 3/3] {third[:12]} Tidy up.\n")
    (done_mail,) = json.loads(gt("-o", "json", "mail", "inbox", "--as", "demo/refinery")[1])
    assert done_mail["type"] == "WORKER_DONE" and done_mail["from"] == "demo/workers/nux"
    code, out, _ = gt("mol", "current", env=nux)
    assert code == 0 and out.startswith("dm-greet: step 3 of 3 (all done): Tidy up.") and "[>]" not in out
    code, _, err = gt("done", "--continue", env=nux)
    assert code == 2 and "reported done already" in err

    # Anyone can squash an issue by its id, merged or not.
    code, out, _ = gt("mol", "squash", "dm-greet")
    assert code == 0 and "1 finished step folded" in out and "3 of 3 steps done" in out
    code, _, err = gt("mol", "squash", "dm-greet")
    assert code == 2 and "no step of dm-greet was finished since the last squash" in err
    code, _, err = gt("mol", "squash", "dm-parser")
    assert code == 2 and "dm-parser has no molecule" in err
    code, _, err = gt("mol", "squash", "xx-nope")
    assert code == 2 and "carries the prefix of no rig" in err
    # The record lost nothing on the way: every field it had is still there.
    after = json.loads(next(x for x in (demo_town / "rigs/demo/.beads/issues.jsonl").read_text().splitlines()
                            if '"dm-greet"' in x))
    assert set(before) <= set(after) and after["notes"].count("[gt:mol digest]") == 1
    assert {k: after[k] for k in ("id", "title", "description", "priority", "created_at")} == \
        {k: before[k] for k in ("id", "title", "description", "priority", "created_at")}


# -- end to end: a script agent, its session killed after step 1 -------------------------------------------

MOL_CONVOY = """\
apiVersion: gt/v1
kind: Convoy
metadata: {name: demo}
spec:
  rig: demo
  molecule:
    steps: [Write a failing test., Make it pass., Tidy up.]
  issues:
    - {id: dm-greet, agent: mol}
"""


def test_a_molecule_of_three_steps_survives_a_worker_restart_in_the_middle(fast_town: Path, tmp_path: Path) -> None:
    from reconciler.clients.tmux import Tmux
    from reconciler.loop.town import Town

    from .test_controller import start

    log, hold = tmp_path / "agent.log", tmp_path / "hold"
    hold.write_text("2")  # the first session stops at step 2, its step 1 done
    routing = fast_town / "manifests/routing.yaml"
    agent = (f"    mol:\n      command: [{json.dumps(sys.executable)}, "
             f"{json.dumps(str(Path(__file__).parent / 'agents' / 'mol_agent.py'))}]\n"
             f"      processNames: [python, python3, {Path(sys.executable).name}]\n"
             f"      env: {{MOL_LOG: {json.dumps(str(log))}, MOL_HOLD: {json.dumps(str(hold))}}}\n")
    routing.write_text(routing.read_text().replace("  agents:\n", "  agents:\n" + agent))
    save(fast_town / "manifests/convoys/demo.yaml", MOL_CONVOY)
    start(fast_town)
    store = rig_store(fast_town)

    held = wait_for(lambda: hold.with_name("hold.held").exists(), timeout=60)
    assert held
    issue = store.get("dm-greet")
    assert "gt:step:2" in issue.labels and DONE_LABEL not in issue.labels
    assert issue.notes.startswith("[gt:step 1/3] ")
    assert "Write a failing test. -- step 1 by the test agent" in issue.notes
    first = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(first) == 1 and "step 1 of 3: Write a failing test." in first[0]["prompt"]
    code, out, _ = gt("diff")  # at step 2 in the session started at step 1: not drift
    assert code == 0 and "In sync" in out and "drift" not in out, out

    socket = Town.load(fast_town).desired.socket
    killed = Tmux(socket).run(["kill-session", "-t", "gt-demo-nux"])
    assert killed.returncode == 0, killed.error()

    wait_for(lambda: store.get("dm-greet").status == "closed", timeout=90)
    starts = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(starts) == 2, starts  # respawned once; never restarted as a step changed
    assert starts[1]["generation"] != starts[0]["generation"]
    assert "step 2 of 3: Make it pass." in starts[1]["prompt"]  # the new session is told where it is
    rig = fast_town / "rigs/demo"

    def on_main(n: int) -> list[str]:
        return subprocess.run(["git", "show", f"main:work/dm-greet/step-{n}.md"], cwd=rig, capture_output=True,
                              text=True, check=True).stdout.splitlines()

    assert on_main(1) == ["Write a failing test.", f"generation {starts[0]['generation']}"]
    assert on_main(2) == ["Make it pass.", f"generation {starts[1]['generation']}"]  # resumed at step 2
    assert on_main(3) == ["Tidy up.", f"generation {starts[1]['generation']}"]
    notes = store.get("dm-greet").notes.splitlines()
    assert [x.split("]")[0] for x in notes] == ["[gt:step 1/3", "[gt:step 2/3", "[gt:step 3/3"]
    code, out, _ = gt("mol", "squash", "dm-greet")
    assert code == 0 and "3 of 3 steps done" in out
