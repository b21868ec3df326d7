"""Manifest edits asked for on the command line: gt convoy create|add|remove, gt sling, gt rig park.

Each verb finds what it edits through the loader (so the town must be valid to start with),
makes the edit on the text (``reconciler.manifests.edit``), and checks the result with the
rest of the town before anything is written: an edit that would not validate is refused and
the file is left as it was. Writing is atomic; committing commits that one file only.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import UsageError
from reconciler.manifests import edit
from reconciler.manifests.edit import Change, IssueEntry
from reconciler.manifests.loader import load_desired_state
from reconciler.model.desired import DesiredState, RigSpec, RigState, Source

if TYPE_CHECKING:
    from reconciler.plan.routes import RouteExplanation

CONVOYS_DIR = "manifests/convoys"


@dataclass(frozen=True)
class ManifestEdit:
    """One file's text before (None: a new file) and after an edit, and what to commit it as."""

    root: Path
    path: Path  # absolute
    before: str | None
    after: str
    message: str
    change: Change = Change.updated

    @property
    def rel(self) -> str:
        """The file as git names it, from the town root."""
        return self.path.relative_to(self.root).as_posix()

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """The change as a unified diff, paths as git shows them (a/..., b/...)."""
        old = "/dev/null" if self.before is None else f"a/{self.rel}"
        lines = difflib.unified_diff((self.before or "").splitlines(keepends=True),
                                     self.after.splitlines(keepends=True), old, f"b/{self.rel}")
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                       for line in lines)


class FileMoved(UsageError):
    def __init__(self, rel: str) -> None:
        super().__init__(f"{rel} changed while gt was editing it; nothing written: run the command again")


def write(edit_: ManifestEdit) -> None:
    """Write the new text atomically, unless the file changed on disk since it was read."""
    from reconciler.clients.files import write_atomic

    now = _read(edit_.path) if edit_.path.exists() else None
    if now != edit_.before:
        raise FileMoved(edit_.rel)
    write_atomic(edit_.path, edit_.after)


def commit(edit_: ManifestEdit) -> str:
    """Commit that file alone with the edit's message; the commit's id."""
    from reconciler.clients.git import commit_paths

    return commit_paths(edit_.root, [edit_.rel], edit_.message)


def ensure_repository(root: Path) -> None:
    """Refuse early, before writing, to commit in a town that is not a Git repository."""
    from reconciler.clients.git import in_repository

    if not in_repository(root):
        raise UsageError(f"{root} is not a Git repository, so nothing can be committed (git init it, or "
                         "leave out --commit and --apply)")


# -- finding and checking ------------------------------------------------------------------------


def _town(root: Path) -> DesiredState:
    return load_desired_state(root / "manifests")


def _checked(edit_: ManifestEdit) -> ManifestEdit:
    """The edit, once the town with the new text validates (else its ManifestError, nothing written)."""
    if edit_.changed:
        load_desired_state(edit_.root / "manifests", overrides={edit_.path: edit_.after})
    return edit_


def _declared_path(source: Source | None, what: str) -> Path:
    if source is None:
        raise UsageError(f"{what} is not declared in a manifest")
    return (Path.cwd() / source.path).resolve()  # the loader names files from the cwd


def _read(path: Path) -> str:
    """The file's text as it is, line ends included."""
    return path.read_bytes().decode("utf-8")


def _rig(desired: DesiredState, name: str) -> RigSpec:
    found = next((r for r in desired.rigs if r.name == name), None)
    if found is None:
        declared = ", ".join(r.name for r in desired.rigs) or "none"
        raise UsageError(f"rig '{name}' is not declared (declared rigs: {declared})")
    return found


def _plural(items: Sequence[str]) -> str:
    return ", ".join(items)


# -- convoys -----------------------------------------------------------------------------------------

NAME_LENGTH = 40


def slug(title: str) -> str:
    """A convoy name from a title: a lowercase DNS label of at most 40 characters ('' if none)."""
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    words = re.sub(r"^[^a-z]+", "", words)  # a name starts with a letter
    return words[:NAME_LENGTH].rstrip("-")


def infer_rig(desired: DesiredState, issues: Sequence[str]) -> str:
    """The one rig whose prefix every issue carries; else a UsageError asking for --rig."""
    def owners(issue: str) -> set[str]:
        return {r.name for r in desired.rigs if issue.startswith(r.prefix + "-")}

    common = set.intersection(*(owners(i) for i in issues)) if issues else set()
    if len(common) == 1:
        return common.pop()
    prefixes = ", ".join(f"{r.name} ({r.prefix}-)" for r in desired.rigs) or "none"
    if len(common) > 1:
        raise UsageError(f"rigs {', '.join(sorted(common))} all have the prefix of {_plural(issues)}: "
                         "say which with --rig")
    strangers = [i for i in issues if not owners(i)]
    if strangers:
        raise UsageError(f"no rig has the prefix of {_plural(strangers)} (rigs: {prefixes}); "
                         "say which rig with --rig")
    raise UsageError(f"{_plural(issues)} belong to different rigs (rigs: {prefixes}); a convoy holds one "
                     "rig's issues: say which with --rig")


def new_convoy_text(rel: str, name: str, title: str, rig: str, entries: Sequence[IssueEntry]) -> str:
    """A new convoy file, as gt init writes one: the schema line, a comment, then the convoy."""
    from reconciler.ops.scaffold import CONVOY_HEAD, schemas_for

    head = CONVOY_HEAD.format(schemas=schemas_for(rel), convoy=name, title=edit.scalar(title), rig=rig, issues="")
    return edit.add_issues(head, rel, name, entries)


def create_convoy(root: Path, title: str, issues: Sequence[str], *, rig: str | None = None,
                  name: str | None = None) -> ManifestEdit:
    """gt convoy create: a new file manifests/convoys/NAME.yaml."""
    desired = _town(root)
    if rig is not None:
        _rig(desired, rig)
    rig = rig or infer_rig(desired, issues)
    name = name or slug(title)
    if not name:
        raise UsageError(f"the title {title!r} gives no name (letters, digits, '-'): pass --name")
    existing = next((c for c in desired.convoys if c.name == name), None)
    if existing is not None:
        raise UsageError(f"convoy '{name}' already exists ({existing.source}): gt convoy add {name} ISSUE... "
                         "adds to it, or pass another --name")
    path = root / CONVOYS_DIR / f"{name}.yaml"
    if path.exists():
        raise UsageError(f"{path.relative_to(root)} already exists: pass another --name")
    rel = path.relative_to(root).as_posix()
    text = new_convoy_text(rel, name, title, rig, [IssueEntry(i) for i in issues])
    return _checked(ManifestEdit(root, path, None, text, f"convoy {name}: create with {_plural(issues)} "
                                 f"(rig {rig})", Change.added))


def _convoy_file(root: Path, desired: DesiredState, name: str) -> Path:
    convoy = next((c for c in desired.convoys if c.name == name), None)
    if convoy is None:
        declared = ", ".join(c.name for c in desired.convoys) or "none"
        raise UsageError(f"convoy '{name}' is not declared (declared convoys: {declared}); "
                         "gt convoy create makes one")
    return _declared_path(convoy.source, f"convoy '{name}'")


def add_to_convoy(root: Path, name: str, issues: Sequence[str]) -> ManifestEdit:
    """gt convoy add: append to the convoy's issues, wherever it is declared."""
    path = _convoy_file(root, _town(root), name)
    before = _read(path)
    rel = path.relative_to(root).as_posix()
    after = edit.add_issues(before, rel, name, [IssueEntry(i) for i in issues])
    return _checked(ManifestEdit(root, path, before, after, f"convoy {name}: add {_plural(issues)}", Change.added))


def remove_from_convoy(root: Path, name: str, issues: Sequence[str]) -> ManifestEdit:
    """gt convoy remove: drop from the convoy's issues; its last issue is refused."""
    path = _convoy_file(root, _town(root), name)
    before = _read(path)
    rel = path.relative_to(root).as_posix()
    after = edit.remove_issues(before, rel, name, issues)
    return _checked(ManifestEdit(root, path, before, after, f"convoy {name}: remove {_plural(issues)}"))


def sling(root: Path, entry: IssueEntry, rig: str, desired: DesiredState | None = None) -> ManifestEdit:
    """gt sling: the issue into the rig's own convoy (named after the rig), made when missing."""
    desired = desired or _town(root)
    _rig(desired, rig)
    flags = ", ".join(f"{k} {v}" if k != "message" else "with a message" for k, v in entry.overrides.items())
    detail = f" ({flags})" if flags else ""
    convoy = next((c for c in desired.convoys if c.name == rig), None)
    if convoy is None:
        path = root / CONVOYS_DIR / f"{rig}.yaml"
        rel = path.relative_to(root).as_posix()
        if path.exists():
            raise UsageError(f"{rel} exists but does not declare convoy '{rig}', where gt sling puts "
                             f"rig {rig}'s issues: add it there, or move that file")
        text = new_convoy_text(rel, rig, f"Slung onto {rig}", rig, [entry])
        return _checked(ManifestEdit(root, path, None, text, f"convoy {rig}: sling {entry.id}{detail}", Change.added))
    if convoy.rig != rig:
        raise UsageError(f"convoy '{rig}' ({convoy.source}) is rig {convoy.rig}'s, not rig {rig}'s; gt sling puts "
                         f"rig {rig}'s issues in a convoy named after it: rename that convoy")
    path = _declared_path(convoy.source, f"convoy '{rig}'")
    before = _read(path)
    after, change = edit.sling(before, path.relative_to(root).as_posix(), rig, entry)
    again = " again" if change is Change.updated else ""
    return _checked(ManifestEdit(root, path, before, after, f"convoy {rig}: sling {entry.id}{again}{detail}",
                                 change))


def smart_sling(root: Path, entry: IssueEntry, rig: str) -> tuple[ManifestEdit, RouteExplanation]:
    """gt sling --smart: the model the rig's routing rules pick for the issue (its labels, type,
    priority and title, read from the rig's store) written into its entry, as --model writes one;
    the rules decide afresh, whatever model the entry had."""
    from reconciler.ops.route import find_issue
    from reconciler.plan.routes import explain

    if entry.model is not None:
        raise UsageError("--smart lets the routing rules pick the model; --model names one: give one of them")
    desired = _town(root)
    spec = _rig(desired, rig)
    _, found = find_issue(desired, entry.id, rig)
    explained = explain(desired, spec, entry.id, found)
    made = sling(root, replace(entry, model=explained.rules_model), rig, desired)
    return replace(made, message=f"{made.message} by {explained.rules_reason()}"), explained


# -- rigs ------------------------------------------------------------------------------------------------


class RigVerb(str, enum.Enum):
    """gt rig park|unpark|dock|undock."""

    park = "park"
    unpark = "unpark"
    dock = "dock"
    undock = "undock"


TARGET = {RigVerb.park: RigState.parked, RigVerb.unpark: RigState.active,
          RigVerb.dock: RigState.docked, RigVerb.undock: RigState.active}
UNDOES = {RigVerb.unpark: RigState.parked, RigVerb.undock: RigState.docked}  # the state each verb leaves


def set_rig_state(root: Path, rig: str, verb: RigVerb) -> ManifestEdit:
    """The rig's spec.state as the verb sets it. Unpark leaves only parked, undock only docked:
    undocking a parked rig would start what parking holds, so it is refused, saying which verb fits."""
    desired = _town(root)
    spec = _rig(desired, rig)
    current = RigState(spec.state)
    undoes = UNDOES.get(verb)
    if undoes is not None and current not in (undoes, RigState.active):
        fits = "unpark" if current is RigState.parked else "undock"
        raise UsageError(f"rig {rig} is {current.value}, not {undoes.value}: gt rig {fits} {rig} makes it active")
    path = _declared_path(spec.source, f"rig '{rig}'")
    before = _read(path)
    target = TARGET[verb]
    after = before if target is current else edit.set_rig_state(before, path.relative_to(root).as_posix(), rig,
                                                                 target)
    return _checked(ManifestEdit(root, path, before, after, f"rig {rig}: {verb.value} ({target.value})",
                                 Change.unchanged if target is current else Change.updated))
