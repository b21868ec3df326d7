"""Lower layers never import higher ones; the planner and the model touch no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "reconciler"
# module prefix -> what it may never import
FORBIDDEN = {
    "reconciler.model": ("reconciler.", "libtmux", "subprocess", "watchdog", "git", "yaml", "jsonschema"),
    "reconciler.model.observed": ("reconciler.plan", "reconciler.act", "reconciler.observe", "reconciler.loop",
                            "reconciler.cli", "libtmux", "subprocess", "watchdog", "git"),
    "reconciler.plan": ("reconciler.act", "reconciler.observe", "reconciler.loop", "reconciler.cli",
                        "reconciler.clients.tmux", "reconciler.clients.beads", "libtmux", "subprocess", "watchdog", "git",
                        "time", "os"),
    "reconciler.manifests": ("reconciler.plan", "reconciler.act", "reconciler.observe", "reconciler.loop",
                             "reconciler.cli", "libtmux", "subprocess", "watchdog", "git"),
    "reconciler.act": ("reconciler.loop", "reconciler.cli"),
    "reconciler.observe": ("reconciler.act", "reconciler.loop", "reconciler.cli"),
    "reconciler.loop": ("reconciler.cli",),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_layers(path: Path) -> None:
    module = _module_name(path)
    rules = [bad for prefix, bad in FORBIDDEN.items() if module == prefix or module.startswith(prefix + ".")]
    imported = _imports(path, module)
    violations = sorted(
        name for name in imported for banned in (b for rule in rules for b in rule)
        if (name == banned.rstrip(".") or name.startswith(banned if banned.endswith(".") else banned + "."))
        and not name.startswith(module)
        and not (module.startswith("reconciler.model") and name.startswith("reconciler.model"))
    )
    assert not violations, f"{module} imports {violations}"
