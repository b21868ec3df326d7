"""A corpus of invalid manifests: each error must name the file, line and column
of the offending node and say what is wrong."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifests.loader import load_desired_state

from .conftest import write_tree
from .manifest_texts import CONVOY, RIG, ROUTING


class Expected(t.NamedTuple):
    path: str
    line: int
    col: int
    fragment: str


class Case(t.NamedTuple):
    test_id: str
    files: dict[str, str]
    expected: list[Expected]


M = "manifests/"
TOWN = "apiVersion: gt/v1\nkind: Town\nmetadata: {name: t}\nspec:\n"

CASES = [
    Case("yaml-syntax-unclosed-flow", {M + "a.yaml": "apiVersion: gt/v1\nkind: Rig\nmetadata: {name: x\n"},
         [Expected(M + "a.yaml", 4, 1, "YAML syntax error")]),
    Case("yaml-syntax-bad-indent", {M + "a.yaml": "apiVersion: gt/v1\nkind: Rig\n  metadata: x\n"},
         [Expected(M + "a.yaml", 3, 11, "mapping values are not allowed")]),
    Case("tab-indentation", {M + "a.yaml": "apiVersion: gt/v1\nkind: Rig\nmetadata:\n\tname: x\n"},
         [Expected(M + "a.yaml", 4, 1, "tabs cannot indent YAML")]),
    Case("duplicate-key", {M + "rig.yaml": RIG + "  repo: ../other\n"},
         [Expected(M + "rig.yaml", 8, 3, "duplicate key 'repo' (first defined at line 6, column 3)")]),
    Case("duplicate-top-key", {M + "rig.yaml": RIG.replace("kind: Rig\n", "kind: Rig\nkind: Rig\n")},
         [Expected(M + "rig.yaml", 3, 1, "duplicate key 'kind'")]),
    Case("empty-file", {M + "empty.yaml": ""},
         [Expected(M + "empty.yaml", 1, 1, "empty manifest file")]),
    Case("comments-only-file", {M + "c.yml": "# nothing here yet\n---\n"},
         [Expected(M + "c.yml", 1, 1, "empty manifest file")]),
    Case("document-is-a-list", {M + "l.yaml": "- apiVersion: gt/v1\n- kind: Rig\n"},
         [Expected(M + "l.yaml", 1, 1, "must be a mapping")]),
    Case("document-is-a-scalar", {M + "s.yaml": "just some text\n"},
         [Expected(M + "s.yaml", 1, 1, "must be a mapping")]),
    Case("wrong-api-version", {M + "rig.yaml": RIG.replace("gt/v1", "gt/v2")},
         [Expected(M + "rig.yaml", 1, 13, "'gt/v2' is not allowed here: must be 'gt/v1'")]),
    Case("unknown-kind", {M + "x.yaml": RIG.replace("kind: Rig", "kind: Rigg")},
         [Expected(M + "x.yaml", 2, 7, "unknown kind 'Rigg'")]),
    Case("missing-kind", {M + "x.yaml": RIG.replace("kind: Rig\n", "")},
         [Expected(M + "x.yaml", 1, 1, "missing required field 'kind'")]),
    Case("missing-spec", {M + "rig.yaml": "apiVersion: gt/v1\nkind: Rig\nmetadata: {name: csm}\n"},
         [Expected(M + "rig.yaml", 1, 1, "missing required field 'spec'")]),
    Case("missing-required-repo", {M + "rig.yaml": RIG.replace("  repo: ../csm\n", "")},
         [Expected(M + "rig.yaml", 6, 3, "missing required field 'repo'")]),
    Case("unknown-field", {M + "rig.yaml": RIG + "  replicas: 3\n"},
         [Expected(M + "rig.yaml", 8, 3, "unknown field 'replicas' (allowed: beads, branch")]),
    Case("unknown-nested-field", {M + "rig.yaml": RIG + "  witness:\n    idleAftr: 5m\n"},
         [Expected(M + "rig.yaml", 9, 5, "unknown field 'idleAftr'")]),
    Case("negative-max", {M + "rig.yaml": RIG + "  workers:\n    max: -1\n"},
         [Expected(M + "rig.yaml", 9, 10, "$.spec.workers.max: -1 is less than the minimum of 0")]),
    Case("wrong-type-max", {M + "rig.yaml": RIG + "  workers: {max: four}\n"},
         [Expected(M + "rig.yaml", 8, 18, "'four' is not of type 'integer'")]),
    Case("wrong-type-issues", {M + "c.yaml": CONVOY.replace("[cs-login, cs-session]", "cs-login"), M + "rig.yaml": RIG},
         [Expected(M + "c.yaml", 7, 11, "'cs-login' is not of type 'array'")]),
    Case("bad-state-enum", {M + "rig.yaml": RIG + "  state: sleeping\n"},
         [Expected(M + "rig.yaml", 8, 10, "'sleeping' is not one of: active, parked, docked")]),
    Case("bad-rig-name", {M + "rig.yaml": RIG.replace("name: csm", "name: Bad_Name")},
         [Expected(M + "rig.yaml", 4, 9, "'Bad_Name' is not a valid lowercase DNS label")]),
    Case("name-too-long", {M + "rig.yaml": RIG.replace("name: csm", "name: " + "a" * 41)},
         [Expected(M + "rig.yaml", 4, 9, "is not a valid lowercase DNS label")]),
    Case("bad-issue-id", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace("cs-session", "CS_Session")},
         [Expected(M + "c.yaml", 7, 22, "'CS_Session' is not a valid Beads issue id")]),
    Case("shell-in-name", {M + "rig.yaml": RIG.replace("name: csm", "name: 'x;rm -rf /'")},
         [Expected(M + "rig.yaml", 4, 9, "is not a valid lowercase DNS label")]),
    Case("bad-duration", {M + "rig.yaml": RIG + "  witness: {idleAfter: five minutes}\n"},
         [Expected(M + "rig.yaml", 8, 24, "'five minutes' is not a valid duration")]),
    Case("bad-prefix", {M + "rig.yaml": RIG.replace("prefix: cs", "prefix: 'C S'")},
         [Expected(M + "rig.yaml", 7, 19, "'C S' is not a valid Beads prefix")]),
    Case("empty-issue-list", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace("[cs-login, cs-session]", "[]")},
         [Expected(M + "c.yaml", 7, 11, "should be non-empty")]),
    Case("repeated-issue-in-convoy", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace("cs-session", "cs-login")},
         [Expected(M + "c.yaml", 7, 11, "has non-unique elements")]),
    Case("dangling-rig", {M + "c.yaml": CONVOY},
         [Expected(M + "c.yaml", 6, 8, "rig 'csm' is not declared (declared rigs: none)")]),
    Case("issue-with-foreign-prefix", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace("cs-session", "gt-session")},
         [Expected(M + "c.yaml", 7, 22, "issue 'gt-session' does not carry the prefix 'cs-' of rig 'csm'")]),
    Case("duplicate-name", {M + "a.yaml": RIG, M + "b.yaml": RIG},
         [Expected(M + "b.yaml", 4, 9, "duplicate Rig 'csm' (first declared at manifests/a.yaml:4:9)")]),
    Case("duplicate-name-same-file", {M + "a.yaml": RIG + "---\n" + RIG},
         [Expected(M + "a.yaml", 12, 9, "duplicate Rig 'csm'")]),
    Case("two-towns", {M + "t.yaml": "apiVersion: gt/v1\nkind: Town\nmetadata: {name: a}\n---\n"
                                     "apiVersion: gt/v1\nkind: Town\nmetadata: {name: b}\n"},
         [Expected(M + "t.yaml", 6, 7, "only one Town is allowed")]),
    Case("issue-in-two-active-convoys", {
        M + "rig.yaml": RIG, M + "c1.yaml": CONVOY,
        M + "c2.yaml": CONVOY.replace("name: auth", "name: other").replace("cs-login, cs-session", "cs-x, cs-session")},
         [Expected(M + "c2.yaml", 7, 18,
                   "issue 'cs-session' is also listed by active convoy 'auth' (manifests/c1.yaml:4:9)")]),
    Case("bad-title-regex", {M + "r.yaml": ROUTING + "    - {when: {title: '(unclosed'}, model: sonnet}\n"},
         [Expected(M + "r.yaml", 13, 22, "invalid regular expression '(unclosed'")]),
    Case("rule-names-undeclared-model", {M + "r.yaml": ROUTING + "    - {when: {label: x}, model: opus}\n"},
         [Expected(M + "r.yaml", 13, 33, "model 'opus' is not declared (declared models: sonnet)")]),
    Case("model-names-undeclared-agent",
         {M + "r.yaml": ROUTING.replace("sonnet: {agent: claude", "sonnet: {agent: codex")},
         [Expected(M + "r.yaml", 10, 21, "model 'sonnet' names agent 'codex', which is not declared")]),
    Case("default-model-undeclared", {M + "r.yaml": ROUTING.replace("default: sonnet", "default: opus")},
         [Expected(M + "r.yaml", 6, 12, "default model 'opus' is not declared")]),
    Case("rig-names-undeclared-routing", {M + "rig.yaml": RIG + "  routing: fancy\n"},
         [Expected(M + "rig.yaml", 8, 12, "routing 'fancy' is not declared")]),
    Case("coordinator-names-undeclared-routing", {M + "t.yaml": TOWN + "  coordinator: {routing: fancy}\n"},
         [Expected(M + "t.yaml", 5, 26, "routing 'fancy' is not declared")]),
    Case("coordinator-names-undeclared-model", {M + "r.yaml": ROUTING,
                                                M + "t.yaml": TOWN + "  coordinator: {model: opus}\n"},
         [Expected(M + "t.yaml", 5, 24, "model 'opus' is not declared in routing 'default' of the coordinator "
                   "(declared models: sonnet)")]),
    Case("coordinator-names-undeclared-agent", {M + "t.yaml": TOWN + "  coordinator: {agent: codex}\n"},
         [Expected(M + "t.yaml", 5, 24, "agent 'codex' is not declared in routing 'default' of the coordinator "
                   "(declared agents: claude)")]),
    Case("coordinator-unknown-field", {M + "t.yaml": TOWN + "  coordinator: {modle: opus}\n"},
         [Expected(M + "t.yaml", 5, 17, "unknown field 'modle' (allowed: agent, model, routing)")]),
    Case("empty-when", {M + "r.yaml": ROUTING + "    - {when: {}, model: sonnet}\n"},
         [Expected(M + "r.yaml", 13, 14, "should be non-empty")]),
    Case("empty-agent-command", {M + "r.yaml": ROUTING.replace("command: [claude]", "command: []")},
         [Expected(M + "r.yaml", 8, 23, "should be non-empty")]),
    Case("script-agent-without-command", {M + "r.yaml": ROUTING.replace("{command: [claude]}", "{env: {A: b}}")},
         [Expected(M + "r.yaml", 8, 5, "has no command: a script agent needs one")]),
    Case("bad-ready-regex",
         {M + "r.yaml": ROUTING.replace("{command: [claude]}", "{command: [claude], ready: '(oops'}")},
         [Expected(M + "r.yaml", 8, 40, "invalid regular expression '(oops'")]),
    Case("bad-dialog-regex", {M + "r.yaml": ROUTING.replace(
        "{command: [claude]}", "{command: [c], dialogs: [{name: d, match: '[x', keys: [Enter]}]}")},
         [Expected(M + "r.yaml", 8, 55, "invalid regular expression '[x'")]),
    Case("prompt-via-unknown",
         {M + "r.yaml": ROUTING.replace("{command: [claude]}", "{command: [c], prompt: {via: mail}}")},
         [Expected(M + "r.yaml", 8, 42, "'mail' is not one of: args, type, none")]),
    # YAML 1.1 surprises: editors that speak YAML 1.2 accept these; say what they were read as.
    Case("yaml11-name-on", {M + "rig.yaml": RIG.replace("name: csm", "name: on")},
         [Expected(M + "rig.yaml", 4, 9, "'on' was read as the boolean true (YAML 1.1 reads on, off, yes and no "
                   "as booleans); quote it to mean the text: \"on\"")]),
    Case("yaml11-prefix-no", {M + "rig.yaml": RIG.replace("{prefix: cs}", "{prefix: no}")},
         [Expected(M + "rig.yaml", 7, 19, "'no' was read as the boolean false")]),
    Case("yaml11-title-date", {M + "c.yaml": CONVOY + "  title: 2024-01-01\n", M + "rig.yaml": RIG},
         [Expected(M + "c.yaml", 8, 10, "'2024-01-01' was read as a date (2024-01-01); quote it")]),
    Case("yaml11-sexagesimal-branch", {M + "rig.yaml": RIG + "  branch: 1:30\n"},
         [Expected(M + "rig.yaml", 8, 11, "'1:30' was read as the number 90; quote it")]),
    Case("non-string-key", {M + "rig.yaml": RIG + "  1: x\n"},
         [Expected(M + "rig.yaml", 8, 3, "keys must be strings")]),
    Case("bad-env-name", {M + "rig.yaml": RIG + "  workers:\n    env: {'BAD-NAME': x}\n"},
         [Expected(M + "rig.yaml", 9, 11, "'BAD-NAME' is not a valid environment variable name")]),
    # Hostile input: refused at once, at file:line, instead of killing or hanging the reader.
    Case("nested-10000-deep", {M + "deep.yaml": RIG + "  x: " + "[" * 10000 + "]" * 10000 + "\n"},
         [Expected(M + "deep.yaml", 8, 1004, "nesting depth")]),
    Case("nested-70-deep-blocks", {M + "deep.yaml": RIG + "".join("  " * (n + 1) + f"k{n}:\n" for n in range(70))
                                    + "  " * 71 + "end\n"},
         [Expected(M + "deep.yaml", 72, 131, "nested more than 64 levels deep")]),
    Case("alias-bomb", {M + "bomb.yaml": RIG + "  x:\n" + "".join(
        f"    l{n}: &l{n} [{', '.join([f'*l{n - 1}' if n else 'lol'] * 9)}]\n" for n in range(9))},
         [Expected(M + "bomb.yaml", 9, 24, "more than 100,000 values in one document")]),
    Case("file-over-1-mib", {M + "big.yaml": RIG + "# " + "x" * (1024 * 1024) + "\n"},
         [Expected(M + "big.yaml", 1, 1, "file is larger than 1024 KiB")]),
    # An issue with its own model, agent or message: its names must be its rig's Routing's.
    Case("override-unknown-model", {M + "rig.yaml": RIG, M + "r.yaml": ROUTING, M + "c.yaml": CONVOY.replace(
        "cs-session]", "{id: cs-session, model: opus}]")},
         [Expected(M + "c.yaml", 7, 46, "model 'opus' is not declared in routing 'default' of rig 'csm' "
                   "(declared models: sonnet)")]),
    Case("override-unknown-agent-builtin-routing", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace(
        "cs-session]", "{id: cs-session, model: opus, agent: codex}]")},
         [Expected(M + "c.yaml", 7, 59, "agent 'codex' is not declared in routing 'default' of rig 'csm' "
                   "(declared agents: claude)")]),
    Case("override-unknown-field", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace(
        "cs-session]", "{id: cs-session, modle: opus}]")},
         [Expected(M + "c.yaml", 7, 39, "unknown field 'modle' (allowed: agent, id, message, model, steps)")]),
    Case("override-without-id", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace(
        "cs-session]", "{model: opus}]")},
         [Expected(M + "c.yaml", 7, 22, "missing required field 'id'")]),
    Case("override-bad-id", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace(
        "cs-session]", "{id: CS_Session}]")},
         [Expected(M + "c.yaml", 7, 27, "'CS_Session' is not a valid Beads issue id")]),
    Case("override-foreign-prefix", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace(
        "cs-session]", "{id: gt-session, message: hi}]")},
         [Expected(M + "c.yaml", 7, 27, "issue 'gt-session' does not carry the prefix 'cs-'")]),
    Case("override-repeats-an-id", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY.replace(
        "cs-session]", "{id: cs-login, message: hi}]")},
         [Expected(M + "c.yaml", 7, 27, "issue 'cs-login' is listed twice (first at $.spec.issues[0])")]),
    # A swarm's models must be its rig's Routing's, those it leaves to the defaults too.
    Case("swarm-unknown-model", {M + "rig.yaml": RIG, M + "r.yaml": ROUTING, M + "c.yaml": CONVOY
                                 + "  swarm: {planner: sonnet, executor: haiku, reviewer: sonnet}\n"},
         [Expected(M + "c.yaml", 8, 38, "executor model 'haiku' is not declared in routing 'default' of rig 'csm' "
                   "(declared models: sonnet)")]),
    Case("swarm-default-models-undeclared", {M + "rig.yaml": RIG, M + "r.yaml": ROUTING, M + "c.yaml": CONVOY
                                             + "  swarm: {planner: sonnet}\n"},
         [Expected(M + "c.yaml", 8, 10, "executor model 'haiku' (the default) is not declared"),
          Expected(M + "c.yaml", 8, 10, "reviewer model 'opus' (the default) is not declared")]),
    Case("swarm-unknown-field", {M + "rig.yaml": RIG, M + "c.yaml": CONVOY + "  swarm: {planer: sonnet}\n"},
         [Expected(M + "c.yaml", 8, 11, "unknown field 'planer' (allowed: executor, planner, reviewer)")]),
    Case("lookahead-pattern", {M + "routing.yaml": ROUTING.replace('{label: "model:sonnet"}', '{title: "(?=x)y"}')},
         [Expected(M + "routing.yaml", 12, 22, "invalid regular expression '(?=x)y'")]),

]


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_invalid_manifest_is_reported_at_its_node(case: Case, in_tmp: Path) -> None:
    write_tree(in_tmp, case.files)
    with pytest.raises(ManifestError) as info:
        load_desired_state(in_tmp / "manifests")
    got = info.value.problems
    rendered = "\n".join(map(str, got))
    for exp in case.expected:
        matches = [p for p in got if (p.path, p.line, p.col) == (exp.path, exp.line, exp.col)]
        assert matches, f"no error at {exp.path}:{exp.line}:{exp.col}; got:\n{rendered}"
        assert any(exp.fragment in str(p) for p in matches), rendered
    assert len(got) == len(case.expected), rendered


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_every_error_in_every_file_is_collected(in_tmp: Path) -> None:
    write_tree(in_tmp, {
        M + "a.yaml": RIG.replace("name: csm", "name: Bad") + "  workers: {max: -2}\n",
        M + "b.yaml": "kind: Rig\n\tx\n",
        M + "c.yaml": CONVOY.replace("rig: csm", "rig: nope"),
    })
    with pytest.raises(ManifestError) as info:
        load_desired_state(in_tmp / "manifests")
    where = [(p.path, p.line) for p in info.value.problems]
    assert where == [(M + "a.yaml", 4), (M + "a.yaml", 8), (M + "b.yaml", 2), (M + "c.yaml", 6)]


def test_documents_before_a_syntax_error_are_still_checked(in_tmp: Path) -> None:
    write_tree(in_tmp, {M + "a.yaml": RIG.replace("name: csm", "name: X") + "---\nkind: [\n"})
    with pytest.raises(ManifestError) as info:
        load_desired_state(in_tmp / "manifests")
    assert [(p.line, "DNS label" in p.message or "syntax" in p.message) for p in info.value.problems] == [
        (4, True), (10, True)]


def test_an_invalid_object_does_not_cascade_into_dangling_references(in_tmp: Path) -> None:
    write_tree(in_tmp, {M + "rig.yaml": RIG + "  workers: {max: -1}\n", M + "c.yaml": CONVOY})
    with pytest.raises(ManifestError) as info:
        load_desired_state(in_tmp / "manifests")
    assert [p.message for p in info.value.problems] == ["-1 is less than the minimum of 0"]


def test_two_rigs_whose_workers_would_share_a_session_are_refused(in_tmp: Path) -> None:
    from reconciler.errors import ManifestError
    from reconciler.manifests.loader import load_desired_state

    rig = "apiVersion: gt/v1\nkind: Rig\nmetadata: {{name: {name}}}\nspec:\n  repo: ../{name}\n{extra}"
    (in_tmp / "manifests").mkdir()
    (in_tmp / "manifests/a.yaml").write_text(rig.format(name="a", extra="  workers: {names: [b-c, d]}\n"))
    (in_tmp / "manifests/a-b.yaml").write_text(rig.format(name="a-b", extra="  workers: {names: [c]}\n"))
    with pytest.raises(ManifestError) as caught:
        load_desired_state(in_tmp / "manifests")
    [problem] = caught.value.problems
    assert problem.path.endswith("a-b.yaml") and problem.line == 6  # at the names that collide
    assert "'gt-a-b-c'" in problem.message and "(manifests/a.yaml:3:" in problem.message
    (in_tmp / "manifests/a.yaml").write_text(rig.format(name="a", extra="  workers: {names: [b, d]}\n"))
    assert sorted(r.name for r in load_desired_state(in_tmp / "manifests").rigs) == ["a", "a-b"]


def test_errors_in_a_long_issue_list_point_at_the_right_item(in_tmp: Path) -> None:
    """Plain ids are checked without jsonschema's per-item cost; what is wrong is still reported at
    its own line and column, whatever its place in the list."""
    ids = [f"cs-a{n}" for n in range(40)]
    block = "".join(f"    - {i}\n" for i in ids)
    bad = block.replace("    - cs-a29\n", "    - cs-A29\n").replace("    - cs-a33\n", "    - {id: cs-a33, modle: x}\n")
    convoy = CONVOY.replace("  issues: [cs-login, cs-session]\n", "  issues:\n" + bad)
    write_tree(in_tmp, {"manifests/rig.yaml": RIG, "manifests/convoy.yaml": convoy})
    with pytest.raises(ManifestError) as err:
        load_desired_state(in_tmp / "manifests")
    found = [(p.pointer, p.line) for p in err.value.problems]
    assert found == [("$.spec.issues[29]", 37), ("$.spec.issues[33].modle", 41)], found
    repeated = CONVOY.replace("  issues: [cs-login, cs-session]\n", "  issues:\n" + block + "    - cs-a7\n")
    (in_tmp / "manifests/convoy.yaml").write_text(repeated)
    with pytest.raises(ManifestError) as err:
        load_desired_state(in_tmp / "manifests")
    assert any("non-unique" in p.message or "twice" in p.message or "more than once" in p.message
               for p in err.value.problems), [str(p) for p in err.value.problems]
    (in_tmp / "manifests/convoy.yaml").write_text(CONVOY.replace("  issues: [cs-login, cs-session]\n",
                                                                  "  issues:\n" + block))
    assert len(load_desired_state(in_tmp / "manifests").convoys[0].issues) == 40
