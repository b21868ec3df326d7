"""The code's own contracts, run with the suite: layers (import-linter), ruff, mypy --strict."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO_ROOT

BIN = Path(sys.executable).parent  # the tools the README's install put beside this Python
LAYERS = ("cli", "ops", "loop", "act", "observe", "plan", "clients", "manifests", "model")


def _run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                          env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1", **env})


def test_the_layer_contracts_hold() -> None:
    run = _run([str(BIN / "lint-imports")], REPO_ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "BROKEN" not in run.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contracts(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "reconciler", tmp_path / "reconciler",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "reconciler" / "plan" / "pane.py").open("a") as handle:
        handle.write("\nfrom reconciler.act.executor import Executor  # noqa: E402,F401\n")
    run = _run([str(BIN / "lint-imports")], tmp_path, PYTHONPATH=str(tmp_path))
    assert run.returncode != 0
    assert "reconciler.plan.pane -> reconciler.act.executor" in run.stdout


def test_every_module_is_inside_a_layer() -> None:
    loose = []
    for path in sorted((REPO_ROOT / "reconciler").rglob("*.py")):
        parts = path.relative_to(REPO_ROOT / "reconciler").parts
        if parts in (("__init__.py",), ("errors.py",)):
            continue  # the package's version, and the bottom layer every layer may import
        if len(parts) < 2 or parts[0] not in LAYERS:
            loose.append("/".join(parts))
    assert not loose, f"modules outside the layers of DESIGN.md: {loose}"


def test_ruff_is_clean() -> None:
    run = _run([str(BIN / "ruff"), "check", "--no-cache", "."], REPO_ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    run = _run([str(BIN / "mypy"), "--cache-dir", str(tmp_path / "cache")], REPO_ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
