"""gt init: a new town validates at once; nothing existing is overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import git
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.stores import open_store
from reconciler.manifests.loader import load_desired_state

runner = CliRunner()


def test_init_creates_a_town_that_validates(in_tmp: Path) -> None:
    result = runner.invoke(app, ["init", "town"])
    assert result.exit_code == 0, result.output
    root = in_tmp / "town"
    for rel in ("manifests/town.yaml", "manifests/rigs/app.yaml", "manifests/convoys/first.yaml",
                "manifests/routing.yaml", "schemas/rig.schema.json"):
        assert (root / rel).is_file(), rel
    assert ".gt/" in (root / ".gitignore").read_text().splitlines()
    state = load_desired_state(root / "manifests")
    assert state.counts() == {"Town": 1, "Rig": 1, "Convoy": 1, "Routing": 1}
    assert state.town.name == "town"
    repo = git.Repo(root)
    assert not repo.is_dirty(untracked_files=True)
    assert repo.head.commit.message.startswith("gt init")
    assert runner.invoke(app, ["--town", str(root), "validate"]).exit_code == 0


def test_manifests_point_editors_at_the_town_schemas(in_tmp: Path) -> None:
    runner.invoke(app, ["init", "."])
    first = (in_tmp / "manifests/rigs/app.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/rig.schema.json"
    assert (in_tmp / "manifests/rigs" / "../../schemas/rig.schema.json").resolve().is_file()
    assert json.loads((in_tmp / "schemas/rig.schema.json").read_text())["title"] == "Rig"


def test_init_refuses_an_existing_town_and_changes_nothing(in_tmp: Path) -> None:
    assert runner.invoke(app, ["init", "."]).exit_code == 0
    rig = in_tmp / "manifests/rigs/app.yaml"
    rig.write_text("# mine\n")
    result = runner.invoke(app, ["init", "."])
    assert result.exit_code == 2 and "refusing to overwrite" in result.stderr
    assert rig.read_text() == "# mine\n"


def test_init_keeps_an_existing_gitignore_and_repo(in_tmp: Path) -> None:
    repo = git.Repo.init(in_tmp)
    (in_tmp / ".gitignore").write_text("node_modules/\n")
    repo.close()
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert (in_tmp / ".gitignore").read_text().splitlines() == ["node_modules/", ".gt/", "/.beads/"]


def test_init_demo_creates_a_rig_with_issues(in_tmp: Path) -> None:
    result = runner.invoke(app, ["-o", "json", "init", "--demo", "demo"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    root = in_tmp / "demo"
    rig = Path(out["demoRig"])
    assert rig == root / "rigs" / "demo"
    state = load_desired_state(root / "manifests")
    spec = state.rig("demo")
    assert (root / spec.repo).resolve() == rig.resolve()
    assert spec.prefix == "dm"
    rig_repo = git.Repo(rig)
    assert rig_repo.active_branch.name == "main" and rig_repo.head.commit.message.startswith("demo rig")
    store = open_store("embedded", rig, "dm")
    issues = {i.id: i for i in store.list()}
    assert set(issues) == set(state.convoys[0].issues)
    assert "model:haiku" in issues["dm-greet"].labels
    assert "complexity:complex" in issues["dm-parser"].labels
    # dm-cache waits for the parser: it is not ready yet.
    assert {i.id for i in store.ready()} == {"dm-greet", "dm-parser", "dm-readme"}
    routing = state.routing_for(spec)
    assert routing.pick(issues["dm-greet"].labels, issues["dm-greet"].title)[0].name == "haiku"
    assert routing.pick(issues["dm-parser"].labels, issues["dm-parser"].title)[0].name == "opus"
    assert routing.pick((), issues["dm-readme"].title)[0].name == "haiku"  # title rule: typo
    # The town repository does not swallow the demo rig's own repository.
    assert "/rigs/" in (root / ".gitignore").read_text().splitlines()
    assert not git.Repo(root).is_dirty(untracked_files=True)
