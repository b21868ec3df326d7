"""Manifest files as names and versions: what a source lists before anything is parsed.

Kept free of YAML and schema imports, so commands that only look at Git (gt status) stay fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST_SUFFIXES = (".yaml", ".yml")
# A link would be read on disk but not in a commit, where gt applies manifests from: refused in both.
LINK_REFUSED = "a symbolic link: manifests are read from commits, where links are not followed; commit the file itself"


def manifest_files(directory: Path) -> list[Path]:
    """Every *.yaml / *.yml below ``directory``, in a stable order; hidden entries skipped."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if is_manifest_name(name):
                found.append(Path(root) / name)
    return found


def is_manifest_name(name: str) -> bool:
    return name.endswith(MANIFEST_SUFFIXES) and not name.startswith(".")


def display_path(path: Path) -> str:
    """The path as a user would type it: relative to the cwd when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class ManifestFile:
    """One manifest of a source: the name errors give it, and what identifies its content."""

    shown: str
    version: object  # the same version means the same content: a stat, a Git blob id, a text's hash
    size: int
