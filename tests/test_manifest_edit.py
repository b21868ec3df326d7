"""Manifest edits keep everything they do not change: comments, key order, quoting, flow or block
style, indentation, other documents. Each edit is compared with a golden file, byte for byte.

GT_UPDATE_GOLDEN=1 writes the golden files afresh (then read the diff before committing them).
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifests.edit import (
    Change,
    IssueEntry,
    add_issues,
    remove_issues,
    rig_state,
    set_rig_state,
    sling,
)
from reconciler.manifests.merge import merge_lines
from reconciler.model.desired import RigState
from reconciler.ops.edits import new_convoy_text, slug

GOLDEN = Path(__file__).parent / "golden" / "edits"
MESSAGE = 'Mind the API: keep v1 "as is"'


def before(name: str) -> str:
    return (GOLDEN / f"{name}.before.yaml").read_text()


class Case(t.NamedTuple):
    test_id: str
    edit: t.Callable[[], str]


CASES = [
    Case("create", lambda: new_convoy_text("manifests/convoys/auth-feature.yaml", "auth-feature", "Auth feature",
                                           "csm", [IssueEntry("cs-login"), IssueEntry("cs-session")])),
    Case("flow-add", lambda: add_issues(before("flow-list"), "f.yaml", "auth-feature", [IssueEntry("cs-logout")])),
    Case("flow-remove", lambda: remove_issues(before("flow-list"), "f.yaml", "auth-feature", ["cs-session"])),
    Case("flow-add-second-document", lambda: add_issues(before("flow-list"), "f.yaml", "cleanup",
                                                        [IssueEntry("cs-lint"), IssueEntry("cs-format")])),
    Case("block-add", lambda: add_issues(before("block-list"), "b.yaml", "release",
                                         [IssueEntry("cs-changelog"), IssueEntry("cs-notes", model="opus")])),
    Case("block-remove", lambda: remove_issues(before("block-list"), "b.yaml", "release", ["cs-api"])),
    Case("block-remove-first", lambda: remove_issues(before("block-list"), "b.yaml", "release", ["cs-schema"])),
    Case("block-remove-last", lambda: remove_issues(before("block-list"), "b.yaml", "release", ["cs-docs"])),
    Case("sling-create", lambda: new_convoy_text("manifests/convoys/csm.yaml", "csm", "Slung onto csm", "csm",
                                                 [IssueEntry("cs-hotfix", model="opus", agent="claude",
                                                             message=MESSAGE)])),
    Case("sling-add-override", lambda: sling(before("flow-list"), "f.yaml", "auth-feature",
                                             IssueEntry("cs-extra", model="haiku"))[0]),
    Case("sling-update-block-entry", lambda: sling(before("block-list"), "b.yaml", "release",
                                                   IssueEntry("cs-api", model="opus", message=MESSAGE))[0]),
    Case("rig-park", lambda: set_rig_state(before("rig"), "r.yaml", "csm", RigState.parked)),
    Case("rig-dock-adds-state", lambda: set_rig_state(before("town"), "t.yaml", "docs", RigState.docked)),
    Case("four-space-document-add", lambda: add_issues(before("town"), "t.yaml", "docs", [IssueEntry("dc-api")])),
]


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_edit_matches_its_golden_file(case: Case) -> None:
    got = case.edit()
    golden = GOLDEN / f"{case.test_id}.after.yaml"
    if os.environ.get("GT_UPDATE_GOLDEN"):
        golden.write_text(got)
    assert got == golden.read_text()


def test_every_golden_document_is_schema_valid() -> None:
    from reconciler.manifests.schemas import iter_schema_errors
    from reconciler.manifests.yamlsource import read_documents

    for golden in sorted(GOLDEN.glob("*.yaml")):
        documents, problems = read_documents(golden.name, golden.read_text())
        assert documents and not problems, golden.name
        for doc in documents:
            assert list(iter_schema_errors(doc.value["kind"], doc.value)) == [], golden.name


def test_lines_an_edit_does_not_touch_keep_their_bytes() -> None:
    text = before("town")
    edited = add_issues(text, "t.yaml", "docs", [IssueEntry("dc-api")])
    kept = [line for line in text.splitlines() if line not in edited.splitlines()]
    assert kept == []  # socket: null, the aligned models, the 4-space document: all as they were
    assert edited.count("\n") == text.count("\n") + 1


def test_windows_line_ends_stay() -> None:
    text = before("block-list").replace("\n", "\r\n")
    edited = add_issues(text, "b.yaml", "release", [IssueEntry("cs-changelog")])
    assert edited == (GOLDEN / "block-add.after.yaml").read_text().replace(
        "    - {id: cs-notes, model: opus}\n", "").replace("\n", "\r\n")


def test_slinging_again_updates_only_what_is_given() -> None:
    text = before("flow-list")
    once, change = sling(text, "f.yaml", "auth-feature", IssueEntry("cs-login", model="haiku"))
    assert change is Change.updated and "{id: cs-login, model: haiku}" in once
    twice, change = sling(once, "f.yaml", "auth-feature", IssueEntry("cs-login", message="hi"))
    assert change is Change.updated and "{id: cs-login, model: haiku, message: hi}" in twice
    same, change = sling(twice, "f.yaml", "auth-feature", IssueEntry("cs-login", model="haiku"))
    assert change is Change.unchanged and same == twice
    plain, change = sling(text, "f.yaml", "auth-feature", IssueEntry("cs-session"))
    assert change is Change.unchanged and plain == text  # listed, no fields of its own: stays an id


class Refused(t.NamedTuple):
    test_id: str
    edit: t.Callable[[], object]
    where: str
    fragment: str


REFUSED = [
    Refused("add-one-already-listed", lambda: add_issues(before("block-list"), "b.yaml", "release",
                                                         [IssueEntry("cs-api")]),
            "b.yaml:14:7", "$.spec.issues[1]: issue 'cs-api' is already in convoy 'release'"),
    Refused("remove-one-not-listed", lambda: remove_issues(before("flow-list"), "f.yaml", "auth-feature",
                                                           ["cs-nope"]),
            "f.yaml:9:11", "issue 'cs-nope' is not in convoy 'auth-feature' (it lists cs-login, cs-session, "
            "cs-middleware)"),
    Refused("remove-every-issue", lambda: remove_issues(before("flow-list"), "f.yaml", "cleanup", ["cs-typo-fix"]),
            "f.yaml:20:11", "would leave convoy 'cleanup' with no issue, and a convoy needs one: delete f.yaml"),
    Refused("no-such-convoy", lambda: add_issues(before("flow-list"), "f.yaml", "nope", [IssueEntry("cs-a")]),
            "f.yaml:1:1", "no Convoy named 'nope' in this file"),
    Refused("no-such-rig", lambda: set_rig_state(before("rig"), "r.yaml", "other", RigState.parked),
            "r.yaml:1:1", "no Rig named 'other' in this file"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.test_id for c in REFUSED])
def test_a_refused_edit_names_the_file_and_line(case: Refused) -> None:
    with pytest.raises(ManifestError) as info:
        case.edit()
    (problem,) = info.value.problems
    assert str(problem).startswith(case.where + ":"), str(problem)
    assert case.fragment in str(problem)


def test_rig_state_reads_the_default() -> None:
    assert rig_state(before("rig"), "r.yaml", "csm") is RigState.active
    assert rig_state(before("town"), "t.yaml", "docs") is RigState.active
    parked = set_rig_state(before("rig"), "r.yaml", "csm", RigState.parked)
    assert rig_state(parked, "r.yaml", "csm") is RigState.parked


@pytest.mark.parametrize(("title", "name"), [
    ("Auth feature", "auth-feature"),
    ("  Fix: the login/logout flow!  ", "fix-the-login-logout-flow"),
    ("2024 release", "release"),
    ("Ünïcode and émoji 🚀", "n-code-and-moji"),
    ("a" * 50, "a" * 40),
    ("x" * 39 + "-y", "x" * 39),
    ("!!!", ""),
])
def test_slug(title: str, name: str) -> None:
    assert slug(title) == name


class Merge(t.NamedTuple):
    test_id: str
    original: str
    base: str
    edited: str
    expected: str


MERGES = [
    Merge("no-change", "a: null\nb: 1\n", "a:\nb: 1\n", "a:\nb: 1\n", "a: null\nb: 1\n"),
    Merge("change-elsewhere", "a: null\nb: 1\n", "a:\nb: 1\n", "a:\nb: 2\n", "a: null\nb: 2\n"),
    Merge("change-on-a-re-rendered-line", "a: null\nb: 1\n", "a:\nb: 1\n", "a: 3\nb: 1\n", "a: 3\nb: 1\n"),
    Merge("insert-after-a-re-rendered-run", "x:  1\ny:  2\nz: 3\n", "x: 1\ny: 2\nz: 3\n", "x: 1\ny: 2\nw: 0\nz: 3\n",
          "x:  1\ny:  2\nw: 0\nz: 3\n"),
    Merge("insert-at-end", "a: 1  # one\n", "a: 1 # one\n", "a: 1 # one\nb: 2\n", "a: 1  # one\nb: 2\n"),
    Merge("delete", "a: 1\nb:  2\nc: 3\n", "a: 1\nb: 2\nc: 3\n", "a: 1\nb: 2\n", "a: 1\nb:  2\n"),
    Merge("comment-keeps-its-column", "k: [a, b]      # c\n", "k: [a, b]      # c\n", "k: [a, b, c] # c\n",
          "k: [a, b, c]   # c\n"),
    Merge("comment-follows-two-spaces-when-the-text-grows", "k: [a]      # c\n", "k: [a]      # c\n",
          "k: [a, bbbbbbbb] # c\n", "k: [a, bbbbbbbb]  # c\n"),
    Merge("comment-keeps-a-one-space-gap", "k: [a] # c\n", "k: [a] # c\n", "k: [a, b] # c\n", "k: [a, b] # c\n"),
]


@pytest.mark.parametrize("case", MERGES, ids=[c.test_id for c in MERGES])
def test_merge_lines(case: Merge) -> None:
    assert merge_lines(case.original, case.base, case.edited) == case.expected
