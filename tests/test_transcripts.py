"""Token counts read from Claude Code's session transcripts, written by the test in its format."""

from __future__ import annotations

from pathlib import Path

from reconciler.clients.transcripts import project_dir_name, rig_usage
from reconciler.model.costs import TokenPrice, TokenUsage

from .transcripts import assistant_line, user_line, write_transcript

TOWN = "/srv/my_town.v2"
TREES = f"{TOWN}/.gt/worktrees/demo"


def test_the_project_directory_is_the_path_with_every_other_character_a_dash() -> None:
    # Claude Code turns '/', '.', '_' and every other non-alphanumeric character into '-', runs kept.
    assert project_dir_name(f"{TREES}/nux") == "-srv-my-town-v2--gt-worktrees-demo-nux"


def test_tokens_per_issue_from_the_sessions_of_a_rigs_workers(isolated_env: Path) -> None:
    home = isolated_env / ".claude"
    nux, slit = f"{TREES}/nux", f"{TREES}/slit"
    # nux worked dm-greet in two sessions (a restart), then dm-cache: worker names are reused.
    write_transcript(isolated_env, nux, [
        user_line(nux, "gt/nux/dm-greet", "s1", "Run gt prime"),
        assistant_line(nux, "gt/nux/dm-greet", "s1", "msg_1", input_tokens=10, output_tokens=5,
                       cache_write=1000, cache_read=0),
        # One response streamed in parts: written twice under one id, the last with its whole output.
        assistant_line(nux, "gt/nux/dm-greet", "s1", "msg_2", input_tokens=3, output_tokens=1,
                       cache_write=0, cache_read=1000),
        assistant_line(nux, "gt/nux/dm-greet", "s1", "msg_2", input_tokens=3, output_tokens=200,
                       cache_write=0, cache_read=1000),
    ], session="s1")
    write_transcript(isolated_env, nux, [
        assistant_line(nux, "gt/nux/dm-greet", "s2", "msg_3", input_tokens=7, output_tokens=50, cache_read=500),
        # Claude Code's own notices carry zero usage under a synthetic model: not a response.
        assistant_line(nux, "gt/nux/dm-greet", "s2", "msg_4", output_tokens=9, model="<synthetic>"),
        assistant_line(nux, "gt/nux/dm-cache", "s2", "msg_5", input_tokens=1, output_tokens=2,
                       model="claude-haiku-4-5-20251001"),
    ], session="s2")
    write_transcript(isolated_env, slit, [
        assistant_line(slit, "gt/slit/dm-parser", "s3", "msg_6", input_tokens=100, output_tokens=10),
    ])
    # Not ours: another rig whose name extends this one's, and a session on a branch gt did not make.
    other = f"{TOWN}/.gt/worktrees/demo-b/nux"
    write_transcript(isolated_env, other, [
        assistant_line(other, "gt/nux/dm-greet", "s4", "msg_7", input_tokens=999, output_tokens=999)])
    write_transcript(isolated_env, nux, [
        assistant_line(nux, "main", "s5", "msg_8", input_tokens=999, output_tokens=999)])

    found = {u.issue: u for u in rig_usage("demo", TREES, home)}
    assert set(found) == {"dm-greet", "dm-cache", "dm-parser"}
    greet = found["dm-greet"]
    assert greet.tokens == TokenUsage(input=10 + 3 + 7, output=5 + 200 + 50, cache_write=1000,
                                      cache_read=1000 + 500)
    assert greet.sessions == 2 and greet.models == ("claude-sonnet-4-5-20250929",)
    assert found["dm-cache"].tokens == TokenUsage(1, 2, 0, 0)
    assert found["dm-cache"].models == ("claude-haiku-4-5-20251001",)
    assert found["dm-parser"].tokens == TokenUsage(100, 10, 0, 0)


def test_subagent_transcripts_count_and_a_message_in_two_files_counts_once(isolated_env: Path) -> None:
    nux = f"{TREES}/nux"
    main = write_transcript(isolated_env, nux, [
        assistant_line(nux, "gt/nux/dm-greet", "s1", "msg_1", input_tokens=10, output_tokens=10)], session="s1")
    subagents = main.parent / "s1" / "subagents"
    subagents.mkdir(parents=True)
    (subagents / "agent-a1.jsonl").write_text(main.read_text().replace("msg_1", "msg_9")
                                              + main.read_text())  # its own response, and msg_1 again
    found = rig_usage("demo", TREES, isolated_env / ".claude")
    assert [(u.issue, u.tokens) for u in found] == [("dm-greet", TokenUsage(20, 20, 0, 0))]


def test_no_transcripts_no_tokens(isolated_env: Path) -> None:
    assert rig_usage("demo", TREES, isolated_env / ".claude") == ()


def test_a_token_price_against_hand_computed_dollars() -> None:
    # Sonnet at $3 in, $15 out per million; cache writes 1.25 x input ($3.75), cache hits 0.1 x ($0.30).
    sonnet = TokenPrice.of(3, 15)
    assert (sonnet.cache_write, sonnet.cache_read) == (3.75, 0.3)
    tokens = TokenUsage(input=1_000, output=2_000, cache_write=10_000, cache_read=100_000)
    # 1000*3 + 2000*15 + 10000*3.75 + 100000*0.30 = 3000 + 30000 + 37500 + 30000 = 100500 per million
    assert sonnet.cost(tokens) == 0.1005
    assert TokenPrice.of(3, 15, cache_write=6, cache_read=0.15).cost(tokens) == 0.108  # 3000+30000+60000+15000
