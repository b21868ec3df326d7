"""gt route (and --why, -o json), gt sling --smart and gt-smart-sling, on a real demo town (the
``town`` fixture): its manifests in Git, its issues in the rig's embedded Beads store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import git
import pytest

from reconciler.cli.cmd_route import smart_sling
from reconciler.clients.beads.embedded import JsonlStore

from .conftest import gt, save

CONVOY = "manifests/convoys/demo.yaml"
ISSUES = "dm-greet, dm-parser, dm-readme, dm-cache"


def store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def last_message(town: Path) -> str:
    with git.Repo(town) as repo:
        return str(repo.head.commit.message).strip()


def test_route_names_the_model_agent_and_rule_of_each_issue(town: Path) -> None:
    code, out, err = gt("route", "dm-greet", "dm-parser", "dm-readme", "dm-cache")
    assert code == 0, err
    assert out.splitlines() == [
        "dm-greet: haiku on demo, by rules[0] label='model:haiku' of routing default",
        "dm-parser: opus on demo, by rules[6] label='complexity:complex' of routing default",
        "dm-readme: haiku on demo, by rules[7] title='(?i)\\\\b(rename|typo)\\\\b' of routing default",
        "dm-cache: sonnet on demo, by the default of routing default: no rule matches",
    ]


# Rules of every kind around the built-in ones: a glob with a type, a type with a priority, a glob.
RULES = """  rules:
    - {when: {label: "team:*", type: bug}, model: opus}
    - {when: {type: bug, priority: 0}, model: opus}
"""
GLOB = '    - {when: {label: "area:docs*"}, model: haiku}\n'


def docs_town(town: Path) -> None:
    routing = town / "manifests/routing.yaml"
    save(routing, routing.read_text().replace("  rules:\n", RULES) + GLOB)
    store(town).create("Tidy the docs site", issue_id="dm-docs", labels=["area:docs-site", "team:core"],
                       issue_type="chore", priority=3)


def test_route_why_says_why_each_earlier_rule_did_not_match(town: Path) -> None:
    docs_town(town)
    code, out, err = gt("route", "--why", "dm-docs")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:3] == [
        "dm-docs: haiku on demo, by rules[11] label='area:docs*' of routing default",
        '  issue: "Tidy the docs site", type chore, priority 3, labels area:docs-site, team:core',
        "  routing default (manifests/routing.yaml:6:9), rig demo",
    ]
    assert lines[3:6] == [
        "  rules[0] label='team:*' type='bug' -> opus: type chore != bug",
        "  rules[1] type='bug' priority=0 -> opus: type chore != bug; priority 3 > 0",
        "  rules[2] label='model:haiku' -> haiku: label model:haiku not on the issue",
    ]
    assert "  rules[9] title='(?i)\\\\b(rename|typo)\\\\b' -> haiku: " \
           'title (?i)\\b(rename|typo)\\b not found in "Tidy the docs site"' in lines
    assert lines[-1] == "  rules[11] label='area:docs*' -> haiku: matches"
    assert len(lines) == 3 + 12  # every rule up to the one that matched, none after


def test_route_why_without_a_match_ends_at_the_default(town: Path) -> None:
    docs_town(town)
    store(town).create("Add a logout button", issue_id="dm-logout", labels=["area:ui"])
    code, out, err = gt("route", "--why", "dm-logout")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "dm-logout: sonnet on demo, by the default of routing default: no rule matches"
    assert "  rules[0] label='team:*' type='bug' -> opus: no label matches team:*; type task != bug" in lines
    assert "  rules[11] label='area:docs*' -> haiku: no label matches area:docs*" in lines
    assert lines[-1] == "  no rule matches: the default, sonnet"


def test_route_json_is_one_document_with_the_rules_tried(town: Path) -> None:
    docs_town(town)
    code, out, err = gt("route", "--why", "-o", "json", "dm-docs", "dm-greet")
    assert code == 0, err
    docs, greet = json.loads(out)
    assert {k: docs[k] for k in ("issue", "rig", "routing", "model", "agent", "chosenBy", "rulesModel")} == {
        "issue": "dm-docs", "rig": "demo", "routing": "default", "model": "haiku", "agent": "demo",
        "chosenBy": "rule", "rulesModel": "haiku"}
    assert docs["rule"] == {"index": 11, "rule": "rule label='area:docs*'", "model": "haiku", "matched": True,
                            "why": []}
    assert docs["facts"] == {"title": "Tidy the docs site", "labels": ["area:docs-site", "team:core"],
                             "type": "chore", "priority": 3}
    assert [r["index"] for r in docs["rules"]] == list(range(12))
    assert docs["rules"][1]["why"] == ["type chore != bug", "priority 3 > 0"]
    assert docs["override"] is None
    assert greet["rule"]["index"] == 2 and greet["model"] == "haiku"
    code, out, _ = gt("route", "-o", "json", "dm-greet")
    assert "rules" not in json.loads(out)[0]  # the rules tried come with --why only
    assert "\x1b" not in out


def test_a_convoy_entry_beats_the_rules_and_route_says_so(town: Path) -> None:
    code, _, err = gt("sling", "dm-greet", "demo", "--model", "opus", "--agent", "demo", "--commit")
    assert code == 0, err
    code, out, err = gt("route", "--why", "dm-greet")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ("dm-greet: opus on demo, by its entry in convoy demo; the rules would pick haiku by "
                        "rules[0] label='model:haiku' of routing default; agent demo by its entry in convoy demo")
    assert lines[-1] == "  rules[0] label='model:haiku' -> haiku: matches"
    doc = json.loads(gt("route", "-o", "json", "dm-greet")[1])[0]
    assert (doc["chosenBy"], doc["model"], doc["rulesModel"]) == ("override", "opus", "haiku")
    assert doc["override"] == {"convoy": "demo", "model": "opus", "agent": "demo"}


def test_route_finds_the_rig_whose_store_has_the_issue(town: Path) -> None:
    # A second rig on the same repository: both stores hold every demo issue.
    rig = (town / "manifests/rigs/demo.yaml").read_text()
    save(town / "manifests/rigs/mirror.yaml", rig.replace("name: demo", "name: mirror"))
    code, _, err = gt("route", "dm-greet")
    assert code == 2 and "issue dm-greet is in the stores of rigs demo, mirror: say which with --rig" in err
    code, out, err = gt("route", "--rig", "mirror", "dm-greet")
    assert code == 0, err
    assert out.startswith("dm-greet: haiku on demo")
    assert json.loads(gt("route", "--rig", "mirror", "-o", "json", "dm-greet")[1])[0]["rig"] == "mirror"
    code, _, err = gt("route", "dm-nope")
    assert code == 2 and "issue dm-nope is in no rig's store (rigs: demo, mirror)" in err
    code, _, err = gt("route", "--rig", "nope", "dm-greet")
    assert code == 2 and "rig 'nope' is not declared (declared rigs: demo, mirror)" in err


def test_sling_smart_writes_the_model_the_rules_pick(town: Path) -> None:
    code, out, err = gt("sling", "--smart", "dm-parser", "demo", "--commit")
    assert code == 0, err
    assert out.splitlines()[0] == "routed dm-parser: opus by rules[6] label='complexity:complex' of routing default"
    assert f"-  issues: [{ISSUES}]" in out  # the diff
    assert "issues: [dm-greet, {id: dm-parser, model: opus}, dm-readme, dm-cache]" in (town / CONVOY).read_text()
    assert last_message(town) == ("convoy demo: sling dm-parser again (model opus) by rules[6] "
                          "label='complexity:complex' of routing default")


def test_sling_smart_routes_afresh_over_an_earlier_model(town: Path) -> None:
    assert gt("sling", "dm-greet", "demo", "--model", "opus", "--message", "Be brief")[0] == 0
    code, out, err = gt("-o", "json", "sling", "--smart", "dm-greet", "demo")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["route"] == {"issue": "dm-greet", "rig": "demo", "routing": "default", "model": "haiku",
                            "rule": {"index": 0, "rule": "rule label='model:haiku'", "model": "haiku",
                                     "matched": True, "why": []},
                            "reason": "rules[0] label='model:haiku' of routing default"}
    assert "{id: dm-greet, model: haiku, message: Be brief}" in (town / CONVOY).read_text()
    assert "routed dm-greet: haiku" in err  # with -o json, everything but the document goes to stderr


def test_sling_smart_refuses_a_model_and_an_issue_no_store_has(town: Path) -> None:
    before = (town / CONVOY).read_text()
    code, _, err = gt("sling", "--smart", "dm-greet", "demo", "--model", "opus")
    assert code == 2 and "--smart lets the routing rules pick the model; --model names one" in err
    code, _, err = gt("sling", "--smart", "dm-ghost", "demo")
    assert code == 2 and "issue dm-ghost is not in rig demo's store" in err
    assert (town / CONVOY).read_text() == before


def test_gt_smart_sling_is_gt_sling_smart_with_the_flags_passed_through(
        town: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        smart_sling(["dm-readme", "demo", "--message", "Mind the spelling", "--commit"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("routed dm-readme: haiku by rules[7]")
    assert "{id: dm-readme, model: haiku, message: Mind the spelling}" in (town / CONVOY).read_text()
    assert last_message(town).startswith("convoy demo: sling dm-readme again (model haiku, with a message) by rules[7]")


def test_the_installed_gt_smart_sling_script(town: Path) -> None:
    script = Path(sys.executable).parent / "gt-smart-sling"
    assert script.exists(), "pip install -e . puts gt-smart-sling beside this Python"
    done = subprocess.run([str(script), "dm-cache", "demo", "--dry-run", "-o", "json"], cwd=town,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["written"] is False and doc["route"]["model"] == "sonnet"
    assert "{id: dm-cache, model: sonnet}" in doc["diff"]
    assert f"issues: [{ISSUES}]" in (town / CONVOY).read_text()
