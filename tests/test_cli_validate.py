"""gt validate, gt schema, global options: exit codes and output contracts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler import __version__
from reconciler.cli import app

from .conftest import REPO_ROOT, write_tree
from .manifest_texts import CONVOY, RIG

runner = CliRunner()


@pytest.fixture
def town(in_tmp: Path) -> Path:
    shutil.copytree(REPO_ROOT / "manifests", in_tmp / "manifests")
    return in_tmp


def test_valid_town_prints_a_one_line_summary(town: Path) -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "valid: 1 Town, 2 Rigs, 2 Convoys, 1 Routing in 5 files"


def test_town_is_found_from_a_subdirectory(town: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (town / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(town / "deep" / "er")
    assert runner.invoke(app, ["validate"]).exit_code == 0


def test_town_option_and_env(
    town: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    assert runner.invoke(app, ["validate"]).exit_code == 2
    assert runner.invoke(app, ["--town", str(town), "validate"]).exit_code == 0
    assert runner.invoke(app, ["validate"], env={"GT_TOWN": str(town)}).exit_code == 0


def test_no_town_is_a_clear_error(in_tmp: Path) -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "no town found" in result.stderr and "gt init" in result.stderr


def test_dir_argument_accepts_a_town_or_a_manifests_dir(
    town: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("x"))
    assert runner.invoke(app, ["validate", str(town)]).exit_code == 0
    assert runner.invoke(app, ["validate", str(town / "manifests")]).exit_code == 0
    missing = runner.invoke(app, ["validate", str(town / "nope")])
    assert missing.exit_code == 2 and "no such file or directory" in missing.stderr


def test_invalid_town_lists_every_error_and_exits_2(in_tmp: Path) -> None:
    write_tree(in_tmp, {
        "manifests/rigs/csm.yaml": RIG + "  workers:\n    max: -1\n",
        "manifests/bad.yaml": "kind: Convoy\n",
    })
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert "manifests/rigs/csm.yaml:9:10: $.spec.workers.max: -1 is less than the minimum of 0" in lines
    assert any(line.startswith("manifests/bad.yaml:1:1: $: missing required field") for line in lines)
    assert lines[-1] == "4 errors"
    assert result.stdout == ""


def test_json_output_is_one_parseable_document(in_tmp: Path) -> None:
    write_tree(in_tmp, {"manifests/rigs/csm.yaml": RIG + "  workers:\n    max: -1\n"})
    result = runner.invoke(app, ["--output", "json", "--color", "always", "validate"])
    assert result.exit_code == 2
    assert "\x1b" not in result.stdout
    assert json.loads(result.stdout) == [{
        "path": "manifests/rigs/csm.yaml", "line": 9, "col": 10,
        "pointer": "$.spec.workers.max", "message": "-1 is less than the minimum of 0",
    }]


def test_json_output_when_valid_is_an_empty_list(town: Path) -> None:
    result = runner.invoke(app, ["-o", "json", "validate"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_color_policy(in_tmp: Path) -> None:
    write_tree(in_tmp, {"manifests/rig.yaml": "kind: Nope\n"})
    assert "\x1b[" in runner.invoke(app, ["--color", "always", "validate"]).stderr
    assert "\x1b[" not in runner.invoke(app, ["--color", "never", "validate"]).stderr
    # CliRunner's streams are not terminals, so auto means no colour...
    assert "\x1b[" not in runner.invoke(app, ["validate"]).stderr
    # ...and NO_COLOR wins over a terminal too (checked without one: auto stays off).
    assert "\x1b[" not in runner.invoke(app, ["validate"], env={"NO_COLOR": "1"}).stderr


def test_no_color_is_honoured_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from reconciler.cli.settings import ColorMode, Settings

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    s = Settings(color=ColorMode.auto)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert s.colored(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not s.colored(Tty())
    assert Settings(color=ColorMode.always).colored(Tty())


def test_schema_command_prints_a_self_contained_schema() -> None:
    result = runner.invoke(app, ["schema", "rig"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Rig" and "name" in schema["$defs"]
    assert "common.schema.json" not in result.stdout


def test_schema_command_rejects_an_unknown_kind() -> None:
    result = runner.invoke(app, ["schema", "pod"])
    assert result.exit_code == 2 and "expected one of Town, Rig, Convoy, Routing" in result.stderr


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"gt {__version__}"


def test_installed_console_script_answers_help() -> None:
    gt = shutil.which("gt") or str(Path(sys.executable).parent / "gt")
    result = subprocess.run([gt, "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0
    for command in ("init", "validate", "schema"):
        assert command in result.stdout


def test_help_does_not_import_heavy_modules() -> None:
    code = ("import sys; sys.argv=['gt','--help']\n"
            "from reconciler.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('jsonschema','git','libtmux','watchdog','yaml','ruamel','rich')\n"
            "         if m in sys.modules]\n"
            "print(','.join(heavy), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert result.stderr.strip() == ""


def test_files_as_pre_commit_passes_them_are_checked_with_the_rest_of_their_town(in_tmp: Path) -> None:
    write_tree(in_tmp, {"manifests/rigs/csm.yaml": RIG, "manifests/convoys/auth.yaml": CONVOY,
                        "README.md": "not a manifest\n"})
    assert runner.invoke(app, ["validate", "manifests/rigs/csm.yaml"]).exit_code == 0
    (in_tmp / "manifests/rigs/csm.yaml").write_text(RIG.replace("name: csm", "name: other"))
    # Only the rig is passed; the convoy that names it breaks, and is reported.
    result = runner.invoke(app, ["validate", "manifests/rigs/csm.yaml"])
    assert result.exit_code == 2 and "manifests/convoys/auth.yaml:" in result.stderr
    assert "rig 'csm' is not declared" in result.stderr
    result = runner.invoke(app, ["validate", "README.md"])
    assert result.exit_code == 2 and "README.md: not a manifest" in result.stderr
