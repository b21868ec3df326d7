"""The CLI behaves like the tools users know: -o after the command, one-line errors for a
wrong town, exit 3 for the unexpected, `yes | gt apply`, help in workflow order."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import SECTIONS, app

from .conftest import write_tree
from .manifest_texts import CONVOY, RIG

runner = CliRunner()


def gt(*args: str, **kw: object) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), **kw)  # type: ignore[arg-type]
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def small_town(in_tmp: Path) -> Path:
    write_tree(in_tmp, {"manifests/rig.yaml": RIG, "manifests/c.yaml": CONVOY})
    return in_tmp


@pytest.mark.parametrize("args", [["validate"], ["schema", "rig"], ["init", "--demo", "t2"]],
                         ids=["validate", "schema", "init"])
def test_output_json_works_after_the_command_too(small_town: Path, args: list[str]) -> None:
    before = gt("-o", "json", *args)
    after = gt(*args, "-o", "json") if args[0] != "init" else gt("init", "--demo", "t3", "-o", "json")
    assert before[0] == after[0] == 0, before[2] + after[2]
    json.loads(before[1])
    json.loads(after[1])
    if args[0] != "init":
        assert before[1] == after[1]


@pytest.mark.parametrize("command", [["validate"], ["diff"], ["apply", "--yes"], ["status"], ["doctor"],
                                     ["start"], ["rig", "reset", "x"], ["prime", "demo/nux"], ["shutdown"]])
def test_a_town_that_is_not_a_town_is_one_line(tmp_path: Path, command: list[str]) -> None:
    code, out, err = gt("--town", str(tmp_path / "nowhere"), *command)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [(f"error: --town {tmp_path / 'nowhere'} is not a town: it does not exist "
                                        "(gt init creates a town)")]
    code, _, err = gt("--town", str(tmp_path), *command)
    assert code == 2 and err.count("\n") == 1 and "holds no manifests/ directory" in err and ":1:1" not in err


def test_gt_town_from_the_environment_is_named_as_such(tmp_path: Path) -> None:
    code, _, err = gt("status", env={"GT_TOWN": str(tmp_path)})
    assert code == 2 and err.startswith(f"error: GT_TOWN {tmp_path} is not a town")


def test_an_unexpected_error_is_one_line_exit_3_and_journaled(small_town: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciler.manifests.loader

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(reconciler.manifests.loader, "load_source", boom)
    code, out, err = gt("validate")
    assert code == 3 and out == ""
    journal = small_town / ".gt" / "controller.log"
    assert err.strip().splitlines() == [
        f"error: unexpected RuntimeError: disk on fire second line (traceback in {journal})"]
    entry = json.loads(journal.read_text().splitlines()[-1])
    assert entry["action"] == "gt validate" and "Traceback" in entry["traceback"] and "boom" in entry["traceback"]


def test_rig_reset_of_an_undeclared_rig_is_an_error(small_town: Path) -> None:
    code, _, err = gt("rig", "reset", "nope")
    assert code == 2 and "rig 'nope' is not declared (declared rigs: csm)" in err


def test_help_lists_commands_in_workflow_order_without_type_names() -> None:
    code, out, _ = gt("--help")
    assert code == 0
    headings = [line.rstrip(":") for line in out.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert headings[1:] == [title for title, _ in SECTIONS]  # the first is Options
    commands = out.split("\nGet started:", 1)[1]
    listed = [line.split()[0] for line in commands.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    order = [name for _, names in SECTIONS for name in names]
    assert listed == [n for n in order if n in listed] and {"init", "diff", "apply", "prime", "hook"} <= set(listed)
    for name in listed:
        sub = ["rig", "reset"] if name == "rig" else ["controller", "run"] if name == "controller" else [name]
        code, text, _ = gt(*sub, "--help")
        assert code == 0, name
        raw = re.findall(r"\b(TEXT|FLOAT|INTEGER|PATH|BOOLEAN)\b|<(?:str|path|int|float|bool)>|\[\[", text)
        assert not raw, f"gt {name} --help shows raw type names {raw}"
        usage = text.splitlines()[0]
        assert "{" not in usage, f"gt {name}: a required argument is NAME, not {{NAME}}: {usage}"


def test_plurals_are_right(small_town: Path) -> None:
    code, out, _ = gt("validate")
    assert code == 0 and "0 Towns, 1 Rig, 1 Convoy, 0 Routings in 2 files" in out
    write_tree(small_town, {"manifests/rig.yaml": RIG + "  workers: {max: -1}\n"})
    code, _, err = gt("validate")
    assert code == 2 and err.strip().endswith("\n1 error")
