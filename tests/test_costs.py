"""Cost in plans, gt costs and budgets, end to end: the demo town, real tmux, real git, the embedded
store, the demo agent; token counts from transcripts the test writes in Claude Code's format.

Hand-computed figures. The demo Routing: haiku $0.001 a task ($1 in, $5 out per million tokens),
sonnet (the default) $0.01 ($3, $15), opus $0.10 ($5, $25); a cache write costs 1.25 times the input
price, a cache hit 0.1 times. dm-greet goes to haiku (label model:haiku), dm-parser to opus
(complexity:complex), dm-readme to haiku (a typo), dm-cache to sonnet.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from reconciler.clients.beads.embedded import JsonlStore
from reconciler.loop.town import Town

from .conftest import commit_all, gt, wait_for
from .test_review import edit
from .transcripts import assistant_line, user_line, write_transcript


def rig_store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs/demo/.beads/issues.jsonl", "dm")


def help_mail(town: Path) -> list[tuple[str, tuple[str, ...]]]:
    mail = JsonlStore(town / ".beads/issues.jsonl", "hq").list(label="msg-type:HELP")
    return [(m.title, m.labels) for m in mail]


def test_gt_diff_shows_each_start_and_the_convoy_against_the_default_model(demo_town: Path) -> None:
    code, out, _ = gt("diff", "--why")
    assert code == 1
    lines = out.splitlines()
    assert any(re.match(r"  \+ spawn +demo/nux +dm-greet +haiku \(demo\) \$0\.001 +unassigned$", x) for x in lines)
    assert any(re.match(r"  \+ spawn +demo/slit +dm-parser +opus \(demo\) \$0\.1 +unassigned$", x) for x in lines)
    assert "      cost: $0.001 on haiku, saves $0.009 against $0.01 on the default model, sonnet" in lines
    assert "      cost: $0.1 on opus, $0.09 more than $0.01 on the default model, sonnet" in lines
    # Three starts: 0.001 + 0.1 + 0.001 = 0.102; on sonnet 3 x 0.01 = 0.03.
    assert "  3 starts: $0.102, $0.072 more than $0.03 on the default model, sonnet" in lines
    # The convoy's four open issues: 0.102 + dm-cache on sonnet 0.01 = 0.112; on sonnet 0.04.
    assert ("  convoy demo (rig demo): 4 issues not closed, $0.112 projected, $0.072 more than $0.04 on the "
            "default model, sonnet") in lines
    assert lines[-1] == "Plan: 3 spawn; 1 note."
    code, out, _ = gt("-o", "json", "diff")
    costs = json.loads(out)["costs"]
    assert [(c["issue"], c["model"], c["cost"], c["defaultCost"], c["saving"]) for c in costs["starts"]] == [
        ("dm-greet", "haiku", 0.001, 0.01, 0.009), ("dm-parser", "opus", 0.1, 0.01, -0.09),
        ("dm-readme", "haiku", 0.001, 0.01, 0.009)]
    assert costs["total"] == {"cost": 0.102, "defaultModel": "sonnet", "defaultCost": 0.03, "saving": -0.072}
    assert costs["convoys"] == [{"convoy": "demo", "rig": "demo", "open": 4, "cost": 0.112, "defaultModel": "sonnet",
                                 "defaultCost": 0.04, "saving": -0.072}]


def test_costs_measured_and_estimated_then_a_budget_spent_stops_new_work_and_mails_help_once(
        demo_town: Path, isolated_env: Path) -> None:
    three = {"dm-greet", "dm-parser", "dm-readme"}
    code, out, err = gt("apply", "--yes")
    assert code == 0, out + err
    # gt recorded each worker's model on its issue when it started it.
    assert {i.id: [x for x in i.labels if x.startswith("gt:model:")] for i in rig_store(demo_town).list()
            if i.id in three} == {"dm-greet": ["gt:model:haiku"], "dm-parser": ["gt:model:opus"],
                                  "dm-readme": ["gt:model:haiku"]}
    wait_for(lambda: {i.id for i in rig_store(demo_town).list() if "gt:done" in i.labels} == three, timeout=60)
    code, out, err = gt("apply", "--yes")  # the refinery merges the three and closes them
    assert code == 0, out + err
    assert {i.id for i in rig_store(demo_town).list(status="closed")} == three

    # What Claude Code would have written while working two of them (dm-readme has no transcript).
    root = Town.load(demo_town).desired.root
    nux, slit = f"{root}/.gt/worktrees/demo/nux", f"{root}/.gt/worktrees/demo/slit"
    write_transcript(isolated_env, nux, [
        user_line(nux, "gt/nux/dm-greet", "s1", "You are demo/workers/nux, a gt worker."),
        assistant_line(nux, "gt/nux/dm-greet", "s1", "msg_a", input_tokens=2_000, output_tokens=400,
                       cache_write=10_000, model="claude-haiku-4-5-20251001"),
        assistant_line(nux, "gt/nux/dm-greet", "s1", "msg_b", input_tokens=0, output_tokens=600,
                       cache_read=100_000, model="claude-haiku-4-5-20251001"),
    ], session="s1")
    write_transcript(isolated_env, slit, [
        assistant_line(slit, "gt/slit/dm-parser", "s2", "msg_c", input_tokens=1_000, output_tokens=4_000,
                       cache_write=20_000, cache_read=200_000, model="claude-opus-4-5-20251101"),
    ], session="s2")
    # dm-greet on haiku: 2000 x $1 + 1000 x $5 + 10000 x $1.25 + 100000 x $0.10 = $29,500 per million = $0.0295
    # dm-parser on opus: 1000 x $5 + 4000 x $25 + 20000 x $6.25 + 200000 x $0.50 = $330,000 per million = $0.33
    # dm-readme on haiku, estimated: $0.001. In all $0.3605.
    code, out, err = gt("costs")
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(r"Closed issues at \w+ \(main\): 3, \$0\.3605 in all; 2 measured from the tokens their "
                        r"agent recorded, 1 estimated at their model's per-task cost", lines[0]), lines[0]
    assert lines[lines.index("by model") + 1].split() == ["haiku", "2", "issues", "$0.0305", "1", "measured,", "1",
                                                          "estimated"]
    assert lines[lines.index("by model") + 2].split() == ["opus", "1", "issue", "$0.33", "1", "measured,", "0",
                                                          "estimated"]
    assert lines[lines.index("by convoy") + 1].split()[:4] == ["demo", "3", "issues", "$0.3605"]
    assert lines[lines.index("by rig") + 1].split()[:4] == ["demo", "3", "issues", "$0.3605"]
    by_issue = {x.split()[0]: x for x in lines[lines.index("issues") + 1:]}
    assert by_issue["dm-greet"].split()[1:4] == ["$0.0295", "measured", "haiku"]
    assert "2,000 in, 1,000 out, 10,000 cache write, 100,000 cache read in 1 session" in by_issue["dm-greet"]
    assert by_issue["dm-readme"].split()[1:4] == ["$0.001", "estimated", "haiku"]
    assert by_issue["dm-readme"].endswith("no token counts recorded")
    code, out, _ = gt("-o", "json", "costs")
    doc = json.loads(out)
    assert doc["total"] == {"name": "all", "issues": 3, "cost": 0.3605, "measured": 2, "estimated": 1}
    issues = {i["issue"]: i for i in doc["issues"]}
    assert issues["dm-parser"] | {"title": ""} == {
        "rig": "demo", "issue": "dm-parser", "convoy": "demo", "title": "", "model": "opus", "modelFrom": "recorded",
        "basis": "measured", "cost": 0.33, "tokens": {"input": 1000, "output": 4000, "cacheWrite": 20000,
                                                      "cacheRead": 200000},
        "sessions": 1, "agentModels": ["claude-opus-4-5-20251101"]}
    assert (issues["dm-readme"]["basis"], issues["dm-readme"]["tokens"]) == ("estimated", None)
    assert [(t["name"], t["cost"], t["measured"]) for t in doc["byModel"]] == [("haiku", 0.0305, 1), ("opus", 0.33, 1)]

    # A budget of $0.36 for the convoy: $0.3605 is spent, so dm-cache (now ready, sonnet $0.01) does not start.
    convoy = demo_town / "manifests/convoys/demo.yaml"
    edit(convoy, "parallelism: 3", "parallelism: 3\n  budget: 0.36")
    commit_all(demo_town, "a budget for the demo convoy")
    code, out, _ = gt("diff")
    assert code == 1
    assert ("  ! budget   demo                   dm-cache         convoy demo budget $0.36: $0.3605 spent or "
            "committed, $0 left; not starting dm-cache (sonnet, $0.01 a task)") in out.splitlines()
    assert "  ~ escalate convoy/demo            demo" in out
    assert "  budget convoy demo $0.36: $0.3605 spent, $0 at work; spent: nothing new starts" in out
    code, out, err = gt("apply", "--yes")
    assert code == 0, out + err
    assert help_mail(demo_town) == [("HELP: the budget of convoy demo is spent ($0.36)",
                                     ("gt:message", "from:demo/witness", "msg-type:HELP",
                                      "budget:convoy/demo@0.36"))]
    assert rig_store(demo_town).get("dm-cache").assignee is None
    code, out, err = gt("apply", "--yes")  # the mail is the record: nothing more to do, no second HELP
    assert code == 0 and "In sync" in out, out + err
    assert len(help_mail(demo_town)) == 1
    code, out, _ = gt("convoy", "show", "demo")
    shown = out.splitlines()
    assert re.search(r"dm-greet +merged \(closed\) +haiku +\$0\.0295 measured +Add a greeting module", out), out
    assert re.search(r"dm-readme +merged \(closed\) +haiku +\$0\.001 estimated +Fix typo in README", out), out
    assert re.search(r"dm-cache +waiting +sonnet +\$0\.01 projected +Cache parsed configs", out), out
    assert ("cost: $0.3605 spent on 3 closed issues (2 measured, 1 estimated); $0.01 projected for 1 not closed, "
            "the same as $0.01 on the default model, sonnet") in shown
    assert "  budget convoy demo $0.36: $0.3605 spent, $0 at work; spent: nothing new starts" in shown
    code, out, _ = gt("-o", "json", "convoy", "show", "demo")
    doc = json.loads(out)["costs"]
    assert [(i["issue"], i["basis"], i["cost"]) for i in doc["issues"]] == [
        ("dm-greet", "measured", 0.0295), ("dm-parser", "measured", 0.33), ("dm-readme", "estimated", 0.001),
        ("dm-cache", "projected", 0.01)]
    assert doc["budgets"] == [{"scope": "convoy", "name": "demo", "rig": "demo", "budget": 0.36, "spent": 0.3605,
                               "running": 0.0, "starting": 0.0, "left": -0.0005, "blocked": []}]

    # Raised to $0.40, the start fits ($0.0395 left) and no HELP is needed.
    edit(convoy, "budget: 0.36", "budget: 0.4")
    commit_all(demo_town, "more budget")
    code, out, err = gt("apply", "--yes")
    assert code == 0, out + err
    assert "  budget convoy demo $0.4: $0.3605 spent, $0 at work, $0.01 starting; $0.0295 left" in out
    assert rig_store(demo_town).get("dm-cache").assignee == "demo/workers/nux"
    assert len(help_mail(demo_town)) == 1
