"""gt convoy create|add|remove, gt sling, gt rig park|unpark|dock|undock: reviewed manifest edits
in a real town (a Git repository made by gt init --demo): the diff, the write, the commit of
that one file, and every refusal leaving the files byte for byte as they were."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import git
import pytest

from .conftest import gt

CONVOY = "manifests/convoys/demo.yaml"
RIG = "manifests/rigs/demo.yaml"
DOCS_RIG = """\
apiVersion: gt/v1
kind: Rig
metadata:
  name: docs
spec:
  repo: rigs/demo
  beads: {prefix: dc}
"""




def head(root: Path) -> str:
    with git.Repo(root) as repo:
        return repo.head.commit.hexsha


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "manifests").rglob("*")) if p.is_file()}


def commit_files(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.write_text(text)
    with git.Repo(root) as repo:
        repo.index.add([rel])
        repo.index.commit(f"add {rel}")


def test_an_edit_without_flags_is_written_shown_and_not_committed(town: Path) -> None:
    before = head(town)
    code, out, err = gt("convoy", "add", "demo", "dm-new", "dm-later")
    assert code == 0, err
    assert out.startswith(f"--- a/{CONVOY}\n+++ b/{CONVOY}\n@@ ")
    assert "-  issues: [dm-greet, dm-parser, dm-readme, dm-cache]\n" in out
    assert "+  issues: [dm-greet, dm-parser, dm-readme, dm-cache, dm-new, dm-later]\n" in out
    assert f"wrote {CONVOY}; not committed: the controller applies only committed manifests" in out
    assert "dm-new, dm-later]" in (town / CONVOY).read_text()
    with git.Repo(town) as repo:
        assert head(town) == before and [d.a_path for d in repo.index.diff(None)] == [CONVOY]


def test_commit_makes_one_commit_of_that_file_alone(town: Path) -> None:
    """Whatever else is staged or changed stays as it was: staged, not committed."""
    before = head(town)
    routing = town / "manifests/routing.yaml"
    routing.write_text(routing.read_text() + "# staged, not mine\n")
    (town / RIG).write_text((town / RIG).read_text() + "# changed, not staged\n")
    with git.Repo(town) as repo:
        repo.index.add(["manifests/routing.yaml"])
    code, out, err = gt("convoy", "add", "demo", "dm-new", "--commit")
    assert code == 0, err
    with git.Repo(town) as repo:
        commit = repo.head.commit
        assert [p.hexsha for p in commit.parents] == [before]
        assert commit.message.strip() == "convoy demo: add dm-new"
        assert list(commit.stats.files) == [CONVOY]
        assert [d.a_path for d in repo.index.diff("HEAD")] == ["manifests/routing.yaml"]  # still staged
        assert [d.a_path for d in repo.index.diff(None)] == [RIG]  # still unstaged
        assert not repo.is_dirty(path=CONVOY)
    assert f"committed {commit.hexsha[:12]} 'convoy demo: add dm-new' ({CONVOY} only)" in out


def test_dry_run_shows_the_diff_and_writes_nothing(town: Path) -> None:
    files = snapshot(town)
    code, out, _ = gt("convoy", "remove", "demo", "dm-readme", "--dry-run")
    assert code == 0
    assert "-  issues: [dm-greet, dm-parser, dm-readme, dm-cache]\n+  issues: [dm-greet, dm-parser, dm-cache]\n" in out
    assert out.rstrip().endswith(f"dry run: {CONVOY} not written")
    assert snapshot(town) == files
    code, _, err = gt("convoy", "remove", "demo", "dm-readme", "--dry-run", "--commit")
    assert code == 2 and "--dry-run writes nothing, so it cannot --commit or --apply" in err


class Refusal(t.NamedTuple):
    test_id: str
    args: tuple[str, ...]
    fragment: str


REFUSALS = [
    Refusal("sling-unknown-rig", ("sling", "dm-x", "nope"), "rig 'nope' is not declared (declared rigs: demo)"),
    Refusal("add-issue-without-the-rigs-prefix", ("convoy", "add", "demo", "xx-1"),
            f"{CONVOY}:10:54: $.spec.issues[4]: issue 'xx-1' does not carry the prefix 'dm-' of rig 'demo'"),
    Refusal("sling-unknown-model", ("sling", "dm-x", "demo", "--model", "gpt9"),
            f"{CONVOY}:10:72: $.spec.issues[4].model: model 'gpt9' is not declared in routing 'default' of rig "
            "'demo' (declared models: haiku, opus, sonnet)"),
    Refusal("sling-unknown-agent", ("sling", "dm-x", "demo", "--agent", "claude"),
            "$.spec.issues[4].agent: agent 'claude' is not declared in routing 'default' of rig 'demo' "
            "(declared agents: demo)"),
    Refusal("sling-a-bad-id", ("sling", "DM_X", "demo"), "'DM_X' is not a valid Beads issue id"),
    Refusal("create-for-an-unknown-rig", ("convoy", "create", "Docs", "dm-x", "--rig", "nope"),
            "rig 'nope' is not declared"),
    Refusal("create-without-a-rig-owning-the-prefix", ("convoy", "create", "Docs", "xx-1"),
            "no rig has the prefix of xx-1 (rigs: demo (dm-)); say which rig with --rig"),
    Refusal("create-an-existing-convoy", ("convoy", "create", "Demo", "dm-x"),
            f"convoy 'demo' already exists ({CONVOY}:6:9)"),
    Refusal("create-with-an-issue-of-another-convoy", ("convoy", "create", "Greet", "dm-greet"),
            "manifests/convoys/greet.yaml:10:12: $.spec.issues[0]: issue 'dm-greet' is also listed by active convoy"),
    Refusal("create-with-a-bad-name", ("convoy", "create", "Docs", "dm-x", "--name", "Bad_Name"),
            "'Bad_Name' is not a valid lowercase DNS label"),
    Refusal("add-to-an-unknown-convoy", ("convoy", "add", "nope", "dm-x"),
            "convoy 'nope' is not declared (declared convoys: demo)"),
    Refusal("add-an-issue-already-listed", ("convoy", "add", "demo", "dm-new", "dm-greet"),
            f"{CONVOY}:10:12: $.spec.issues[0]: issue 'dm-greet' is already in convoy 'demo'"),
    Refusal("remove-an-issue-not-listed", ("convoy", "remove", "demo", "dm-zzz"),
            "issue 'dm-zzz' is not in convoy 'demo' (it lists dm-greet, dm-parser, dm-readme, dm-cache)"),
    Refusal("remove-every-issue", ("convoy", "remove", "demo", "dm-greet", "dm-parser", "dm-readme", "dm-cache"),
            f"would leave convoy 'demo' with no issue, and a convoy needs one: delete {CONVOY} (git rm)"),
    Refusal("park-an-unknown-rig", ("rig", "park", "nope"), "rig 'nope' is not declared"),
    Refusal("swarm-an-unknown-convoy", ("swarm", "deploy", "nope"), "convoy 'nope' is not declared"),
    Refusal("swarm-on-an-unknown-model", ("swarm", "deploy", "demo", "--executor", "gpt9"),
            f"{CONVOY}:12:38: $.spec.swarm.executor: executor model 'gpt9' is not declared in routing 'default' "
            "of rig 'demo' (declared models: haiku, opus, sonnet)"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.test_id for c in REFUSALS])
@pytest.mark.parametrize("flag", ["--commit", "--apply"])
def test_a_refused_edit_leaves_every_file_byte_identical(town: Path, case: Refusal, flag: str) -> None:
    files, before = snapshot(town), head(town)
    code, out, err = gt(*case.args, flag)
    assert code == 2, out + err
    assert case.fragment in err, err
    assert snapshot(town) == files and head(town) == before


def test_convoy_create_names_it_from_the_title_and_finds_its_rig(town: Path) -> None:
    code, out, err = gt("convoy", "create", "Docs: first pass!", "dm-intro", "dm-faq", "--commit")
    assert code == 0, err
    path = "manifests/convoys/docs-first-pass.yaml"
    assert out.startswith(f"--- /dev/null\n+++ b/{path}\n")
    assert (town / path).read_text() == (
        "# yaml-language-server: $schema=../../schemas/convoy.schema.json\n"
        "# A convoy is a batch of one rig's issues, worked in parallel, started in this order.\n"
        "apiVersion: gt/v1\nkind: Convoy\nmetadata:\n  name: docs-first-pass\nspec:\n"
        "  title: 'Docs: first pass!'\n  rig: demo\n  issues: [dm-intro, dm-faq]\n")
    with git.Repo(town) as repo:
        assert repo.head.commit.message.strip() == "convoy docs-first-pass: create with dm-intro, dm-faq (rig demo)"
        assert list(repo.head.commit.stats.files) == [path]
    code, out, _ = gt("validate")
    assert code == 0, out


def test_convoy_create_asks_for_a_rig_when_two_share_the_prefix(town: Path) -> None:
    commit_files(town, "manifests/rigs/docs.yaml", DOCS_RIG.replace("prefix: dc", "prefix: dm"))
    code, _, err = gt("convoy", "create", "Docs", "dm-intro")
    assert code == 2 and "rigs demo, docs all have the prefix of dm-intro: say which with --rig" in err
    code, _, err = gt("convoy", "create", "Docs", "dm-intro", "--rig", "docs", "--name", "handbook")
    assert code == 0, err
    assert "rig: docs\n" in (town / "manifests/convoys/handbook.yaml").read_text()


def test_sling_creates_the_rigs_own_convoy_with_an_override(town: Path) -> None:
    commit_files(town, "manifests/rigs/docs.yaml", DOCS_RIG)
    code, _out, err = gt("sling", "dc-intro", "docs", "--model", "haiku", "--message", "Short: one page", "--commit")
    assert code == 0, err
    path = "manifests/convoys/docs.yaml"
    assert (town / path).read_text().endswith(
        "  title: Slung onto docs\n  rig: docs\n  issues: [{id: dc-intro, model: haiku, message: 'Short: one page'}]\n")
    with git.Repo(town) as repo:
        assert repo.head.commit.message.strip() == "convoy docs: sling dc-intro (model haiku, with a message)"
        assert list(repo.head.commit.stats.files) == [path]
    code, _, err = gt("sling", "dc-faq", "docs", "--commit")
    assert code == 0, err
    assert "issues: [{id: dc-intro, model: haiku, message: 'Short: one page'}, dc-faq]\n" in (town / path).read_text()


def test_sling_again_updates_the_entry_and_plain_ids_stay_plain(town: Path) -> None:
    code, _, err = gt("sling", "dm-new", "demo")
    assert code == 0, err
    assert "dm-cache, dm-new]" in (town / CONVOY).read_text()
    code, out, err = gt("sling", "dm-greet", "demo", "--model", "opus", "--commit")
    assert code == 0, err
    assert "issues: [{id: dm-greet, model: opus}, dm-parser" in (town / CONVOY).read_text()
    with git.Repo(town) as repo:
        assert repo.head.commit.message.strip() == "convoy demo: sling dm-greet again (model opus)"
    code, _, err = gt("sling", "dm-greet", "demo", "--message", "Say hello")
    assert code == 0, err
    assert "{id: dm-greet, model: opus, message: Say hello}" in (town / CONVOY).read_text()
    files = snapshot(town)
    code, out, _ = gt("sling", "dm-greet", "demo", "--model", "opus")
    assert code == 0 and out.strip() == "dm-greet is already in convoy demo as asked: nothing to change"
    assert snapshot(town) == files


def test_sling_into_another_rigs_convoy_of_that_name_is_refused(town: Path) -> None:
    commit_files(town, "manifests/rigs/docs.yaml", DOCS_RIG)
    convoy = (town / CONVOY).read_text().replace("name: demo", "name: docs").replace(
        "[dm-greet, dm-parser, dm-readme, dm-cache]", "[dm-other]")
    commit_files(town, "manifests/convoys/other.yaml", convoy)
    files = snapshot(town)
    code, _, err = gt("sling", "dc-1", "docs")
    assert code == 2 and "convoy 'docs' (manifests/convoys/other.yaml:6:9) is rig demo's, not rig docs's" in err
    assert snapshot(town) == files


def test_rig_state_verbs_and_which_undo_which(town: Path) -> None:
    def state() -> str:
        line = next(x for x in (town / RIG).read_text().splitlines() if x.lstrip().startswith("state:"))
        return line.split()[1]

    steps: list[tuple[tuple[str, ...], int, str, str]] = [
        (("park",), 0, "parked", "committed"),
        (("park",), 0, "parked", "rig demo is already parked: nothing to change"),
        (("undock",), 2, "parked", "rig demo is parked, not docked: gt rig unpark demo makes it active"),
        (("unpark",), 0, "active", "committed"),
        (("unpark",), 0, "active", "rig demo is already active: nothing to change"),
        (("dock",), 0, "docked", "committed"),
        (("unpark",), 2, "docked", "rig demo is docked, not parked: gt rig undock demo makes it active"),
        (("park",), 0, "parked", "committed"),  # parking a docked rig keeps it stopped: allowed
        (("dock",), 0, "docked", "committed"),
        (("undock",), 0, "active", "committed"),
    ]
    for verb, code_wanted, state_wanted, said in steps:
        code, out, err = gt("rig", *verb, "demo", "--commit")
        assert code == code_wanted, (verb, out, err)
        assert said in out + err, (verb, out, err)
        assert state() == state_wanted, verb
    with git.Repo(town) as repo:
        messages = [c.message.strip() for c in repo.iter_commits(max_count=6)]
    assert messages == ["rig demo: undock (active)", "rig demo: dock (docked)", "rig demo: park (parked)",
                        "rig demo: dock (docked)", "rig demo: unpark (active)", "rig demo: park (parked)"]
    line = next(x for x in (town / RIG).read_text().splitlines() if x.startswith("  state:"))
    assert line == "  state: active           # active | parked (start nothing new) | docked (stop all, keep hooks)"


def test_swarm_deploy_writes_the_phases_models_into_the_convoy(town: Path) -> None:
    before = head(town)
    code, out, err = gt("swarm", "deploy", "demo", "--planner", "sonnet", "--executor", "haiku",
                        "--reviewer", "opus", "--commit")
    assert code == 0, err
    assert out.startswith(f"--- a/{CONVOY}\n+++ b/{CONVOY}\n@@ ")
    assert "   parallelism: 3\n+  swarm: {planner: sonnet, executor: haiku, reviewer: opus}\n" in out
    assert "committed" in out and "'convoy demo: swarm (planner sonnet, executor haiku, reviewer opus)'" in out
    with git.Repo(town) as repo:
        assert repo.head.commit.parents[0].hexsha == before
        assert [d.a_path for d in repo.head.commit.diff(before)] == [CONVOY]
        committed = repo.head.commit.tree[CONVOY].data_stream.read().decode()
    assert committed == (town / CONVOY).read_text()
    assert committed.splitlines()[-1] == "  swarm: {planner: sonnet, executor: haiku, reviewer: opus}"
    # Again: a phase asked for changes in place; the others stay as the convoy has them.
    code, out, err = gt("swarm", "deploy", "demo", "--executor", "sonnet")
    assert code == 0, err
    assert ("-  swarm: {planner: sonnet, executor: haiku, reviewer: opus}\n"
            "+  swarm: {planner: sonnet, executor: sonnet, reviewer: opus}\n") in out
    code, out, err = gt("swarm", "deploy", "demo", "--executor", "sonnet", "--commit")
    assert code == 0 and "already a swarm with those models: nothing to change" in out + err


def test_swarm_deploy_without_models_takes_the_schemas_defaults(town: Path) -> None:
    files = snapshot(town)
    code, out, err = gt("-o", "json", "swarm", "deploy", "demo", "--dry-run")
    assert code == 0, err
    doc = json.loads(out)
    assert "+  swarm: {planner: sonnet, executor: haiku, reviewer: opus}\n" in doc["diff"]
    assert (doc["change"], doc["written"]) == ("added", False) and snapshot(town) == files


def test_an_edit_as_json_is_one_document(town: Path) -> None:
    code, out, err = gt("-o", "json", "convoy", "add", "demo", "dm-new", "--dry-run")
    assert code == 0
    doc = json.loads(out)
    assert doc.pop("diff").startswith(f"--- a/{CONVOY}\n+++ b/{CONVOY}\n")
    assert doc == {"path": CONVOY, "changed": True, "message": "convoy demo: add dm-new", "change": "added",
                   "written": False, "commit": None}
    assert f"dry run: {CONVOY} not written" in err  # what people read goes to stderr
    assert "\x1b" not in out


def test_help_lists_the_edit_verbs(town: Path) -> None:
    code, out, _ = gt("--help")
    section = out.split("Edit manifests:", 1)[1].split("\n\n", 1)[0]
    assert [line.split()[0] for line in section.strip().splitlines()] == ["convoy", "sling", "rig", "swarm"]
    for group, verbs in (("convoy", ("create", "add", "remove", "list", "show")),
                         ("rig", ("park", "unpark", "dock", "undock", "status", "list", "reset")),
                         ("swarm", ("deploy", "file"))):
        code, out, _ = gt(group, "--help")
        assert code == 0 and all(f"  {v} " in out for v in verbs), out
        for verb in verbs:
            code, out, _ = gt(group, verb, "--help")
            assert code == 0 and "TEXT" not in out and "{" not in out.splitlines()[0], out
