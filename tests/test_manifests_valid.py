"""The shipped examples load, with the values and defaults a user would expect."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import load_desired_state
from reconciler.model.desired import CoordinatorSpec, CrashLoopPolicy, RefineryPolicy, SwarmSpec, WitnessPolicy
from reconciler.model.presets import BUILTIN_ROUTING

from .conftest import REPO_ROOT, write_tree
from .manifest_texts import CONVOY, RIG


def test_repository_examples_load_with_their_values() -> None:
    state = load_desired_state(REPO_ROOT / "manifests")
    assert state.counts() == {"Town": 1, "Rig": 2, "Convoy": 2, "Routing": 1}
    csm = state.rig("csm")
    assert (csm.repo, csm.branch, csm.prefix, csm.state, csm.workers_max) == ("../csm", "main", "cs", "active", 4)
    assert csm.worker_names == ("nux", "slit", "toast", "furiosa")
    assert csm.witness == WitnessPolicy(idle_after=300, max_nudges=3, nudge_every=120, stuck_after=1800)
    assert csm.refinery == RefineryPolicy("squash", (("pytest", "-q"),), 3, 600.0, False)
    auth = next(c for c in state.convoys if c.name == "auth-feature")
    assert (auth.rig, auth.issues, auth.parallelism, auth.paused) == (
        "csm", ("cs-login", "cs-session", "cs-middleware"), 3, False)
    assert state.rig("docs").state == "parked"


def test_examples_route_by_label_and_title() -> None:
    state = load_desired_state(REPO_ROOT / "manifests")
    routing = state.routing_for(state.rig("csm"))
    assert routing.pick(("model:haiku",), "Build login")[0].name == "haiku"
    assert routing.pick(("complexity:complex",), "Build login")[0].name == "opus"
    assert routing.pick((), "Rename the session module")[0].name == "haiku"
    assert routing.pick((), "Build login")[0].name == "sonnet"
    model, rule = routing.pick(("complexity:complex", "model:haiku"), "x")
    assert model.name == "haiku" and rule is not None and rule.label == "model:haiku"  # first match wins
    assert routing.agent(model.agent).command == ("claude", "--dangerously-skip-permissions")


def test_defaults_apply_to_a_minimal_town(in_tmp: Path) -> None:
    bare_rig = "apiVersion: gt/v1\nkind: Rig\nmetadata: {name: api}\nspec: {repo: ../api}\n"
    convoy = CONVOY.replace("rig: csm", "rig: api").replace("cs-login, cs-session", "api-one")
    write_tree(in_tmp, {"manifests/rig.yaml": bare_rig, "manifests/convoy.yaml": convoy})
    state = load_desired_state(in_tmp / "manifests")
    rig = state.rig("api")
    assert rig.prefix == "api"  # no beads.prefix: the rig's name
    assert (rig.branch, rig.state, rig.workers_max, rig.beads_path, rig.routing) == (
        "main", "active", 4, ".beads", "default")
    assert rig.witness == WitnessPolicy(idle_after=300, max_nudges=3, nudge_every=120, stuck_after=1800)
    assert rig.refinery == RefineryPolicy("squash", (), 3, 600.0, False)
    assert state.convoys[0].title == "auth" and state.convoys[0].parallelism == 0
    town = state.town
    assert town.source is None and town.name == in_tmp.name
    assert (town.socket, town.beads_backend, town.interval, town.max_spawns_per_pass) == (None, "embedded", 30.0, 5)
    assert town.crash_loop == CrashLoopPolicy(30.0, 600.0, 5, 900.0)
    assert (town.coordinator, town.views) == (None, True)  # no coordinator; the two views
    assert state.routing_for(rig) is BUILTIN_ROUTING


def test_a_swarm_takes_the_schemas_defaults_for_the_phases_it_leaves_out(in_tmp: Path) -> None:
    swarm = CONVOY + "  swarm: {executor: sonnet}\n"
    plain = CONVOY.replace("name: auth", "name: plain").replace("cs-login, cs-session", "cs-other")
    write_tree(in_tmp, {"manifests/rig.yaml": RIG, "manifests/c.yaml": swarm + "---\n" + plain})
    auth, other = load_desired_state(in_tmp / "manifests").convoys
    assert auth.swarm == SwarmSpec(planner="sonnet", executor="sonnet", reviewer="opus") and other.swarm is None


def test_town_settings_are_read(in_tmp: Path) -> None:
    town = ("apiVersion: gt/v1\nkind: Town\nmetadata: {name: hq}\nspec:\n"
            "  tmux: {socket: my-town}\n  beads: {backend: bd}\n"
            "  controller: {interval: 1m30s, debounce: 250ms, crashLoop: {maxCrashes: 2}}\n")
    write_tree(in_tmp, {"manifests/town.yaml": town})
    t = load_desired_state(in_tmp / "manifests").town
    assert (t.name, t.socket, t.beads_backend, t.interval, t.debounce) == ("hq", "my-town", "bd", 90.0, 0.25)
    assert t.crash_loop.max_crashes == 2 and t.crash_loop.window == 900.0


@pytest.mark.parametrize(("written", "expected"), [
    ("{}", CoordinatorSpec("default", None, None)),
    ("{model: opus}", CoordinatorSpec("default", "opus", None)),
    ("{routing: default, model: haiku, agent: claude}", CoordinatorSpec("default", "haiku", "claude")),
    ("null", None),
], ids=["all-defaults", "a-model", "everything", "none"])
def test_the_coordinator_is_read(in_tmp: Path, written: str, expected: CoordinatorSpec | None) -> None:
    town = f"apiVersion: gt/v1\nkind: Town\nmetadata: {{name: hq}}\nspec:\n  coordinator: {written}\n  views: false\n"
    write_tree(in_tmp, {"manifests/town.yaml": town})
    t = load_desired_state(in_tmp / "manifests").town
    assert (t.coordinator, t.views) == (expected, False)


def test_multi_document_files_nested_dirs_and_yml(in_tmp: Path) -> None:
    write_tree(in_tmp, {
        "manifests/deep/er/all.yml": RIG + "---\n" + CONVOY,
        "manifests/.hidden/ignored.yaml": "not: [valid",
        "manifests/notes.txt": "ignored",
    })
    state = load_desired_state(in_tmp / "manifests")
    assert [r.name for r in state.rigs] == ["csm"] and [c.name for c in state.convoys] == ["auth"]
    assert state.rigs[0].source is not None and state.rigs[0].source.line == 4
    assert state.convoys[0].source is not None and state.convoys[0].source.line == 12


def test_paused_convoys_may_share_issues(in_tmp: Path) -> None:
    paused = CONVOY.replace("name: auth", "name: later") + "  paused: true\n"
    write_tree(in_tmp, {"manifests/a.yaml": RIG + "---\n" + CONVOY + "---\n" + paused})
    state = load_desired_state(in_tmp / "manifests")
    assert [c.paused for c in state.convoys] == [False, True]


def test_yaml_anchors_and_merge_keys(in_tmp: Path) -> None:
    routing = (
        "apiVersion: gt/v1\nkind: Routing\nmetadata: {name: default}\nspec:\n  default: sonnet\n"
        "  agents: {claude: {command: [claude]}}\n  models:\n"
        "    haiku: &m {agent: claude, args: [--model, haiku], cost: 1}\n"
        "    sonnet: {<<: *m, args: [--model, sonnet]}\n")
    write_tree(in_tmp, {"manifests/r.yaml": routing})
    sonnet = load_desired_state(in_tmp / "manifests").routings[0].model("sonnet")
    assert (sonnet.agent, sonnet.args, sonnet.cost) == ("claude", ("--model", "sonnet"), 1.0)


def test_anchors_do_not_cross_documents(in_tmp: Path) -> None:
    from reconciler.errors import ManifestError

    write_tree(in_tmp, {"manifests/a.yaml": RIG.replace("{prefix: cs}", "&b {prefix: cs}")
                        + "---\n" + RIG.replace("name: csm", "name: web").replace("{prefix: cs}", "*b")})
    with pytest.raises(ManifestError, match=r"manifests/a.yaml:15:10: YAML syntax error: found undefined alias"):
        load_desired_state(in_tmp / "manifests")


@pytest.mark.parametrize("text,seconds", [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("2h", 7200)])
def test_durations(text: str, seconds: float) -> None:
    from reconciler.manifests.build import parse_duration

    assert parse_duration(text) == seconds


def test_the_cache_rereads_an_edited_manifest_and_not_an_unchanged_one(tmp_path: Path) -> None:
    from reconciler.manifests.loader import ManifestCache, load_desired_state

    from .manifest_texts import CONVOY, RIG

    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "rig.yaml").write_text(RIG)
    convoy = manifests / "convoy.yaml"
    convoy.write_text(CONVOY)
    cache = ManifestCache()
    first = load_desired_state(manifests, cache=cache)
    assert sorted(Path(p).name for p in cache.parsed) == ["convoy.yaml", "rig.yaml"]
    cache.parsed.clear()
    assert load_desired_state(manifests, cache=cache) == first
    assert cache.parsed == []  # nothing changed: nothing parsed or validated again
    convoy.write_text(CONVOY + "  paused: true\n")
    edited = load_desired_state(manifests, cache=cache)
    assert [Path(p).name for p in cache.parsed] == ["convoy.yaml"]
    assert edited.convoys[0].paused and not first.convoys[0].paused


def test_an_override_is_validated_with_the_rest_of_the_town_without_touching_the_file(in_tmp: Path) -> None:
    from reconciler.errors import ManifestError

    write_tree(in_tmp, {"manifests/rig.yaml": RIG})
    rig = in_tmp / "manifests" / "rig.yaml"
    convoy = in_tmp / "manifests" / "convoys" / "new.yaml"
    state = load_desired_state(in_tmp / "manifests", overrides={convoy: CONVOY})
    assert [c.name for c in state.convoys] == ["auth"] and not convoy.exists()
    with pytest.raises(ManifestError) as err:
        load_desired_state(in_tmp / "manifests", overrides={convoy: CONVOY.replace("rig: csm", "rig: nope")})
    assert "rig 'nope' is not declared" in str(err.value) and "convoys/new.yaml:6:" in str(err.value)
    widened = load_desired_state(in_tmp / "manifests", overrides={rig: RIG + "  workers: {max: 7}\n"})
    assert widened.rig("csm").workers_max == 7 and "max" not in rig.read_text()
