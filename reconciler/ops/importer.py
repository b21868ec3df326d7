"""``gt import``: manifests that describe a running town, so its workers keep running.

Each worker session on a socket is described: one gt made (its stamps name rig, worker and
issue), or one Gas Town made (its ``GT_ROLE`` is ``<rig>/polecats/<name>``). Its rig becomes a
Rig manifest (the repository its worktree belongs to) unless the town declares it already, and
the issues hooked to its workers become a Convoy, so that ``gt diff`` right after has nothing to
do: gt's own sessions are its workers as they are, and Gas Town's keep their hooks (gt plans
nothing for an issue held by another) until they finish or are released.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.clients.files import write_atomic
from reconciler.clients.git import checked_out_branch, commit_paths, main_repository
from reconciler.clients.git_tree import TownRepository
from reconciler.clients.sessions import SessionFacts, session_facts
from reconciler.clients.stores import default_stores
from reconciler.clients.tmux import Tmux
from reconciler.errors import ReconcilerError, UsageError
from reconciler.manifests.loader import load_desired_state
from reconciler.model.desired import NAME_POOL, DesiredState
from reconciler.model.roles import TownRole

ROLE = re.compile(r"^(?P<rig>[a-z][-a-z0-9]{0,39})/(?P<kind>polecats|workers)/(?P<worker>[A-Za-z0-9][-A-Za-z0-9_]*)$")
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
HELD = ("hooked", "in_progress")


@dataclass(frozen=True)
class Worker:
    """A worker session that the imported manifests describe."""

    session: str
    rig: str
    worker: str
    role: str  # the hook's assignee
    repo: Path
    origin: str  # "gt" or "Gas Town"
    issue: str = ""  # the issue on its hook, once found


@dataclass(frozen=True)
class Skipped:
    session: str
    why: str


@dataclass
class Import:
    """What ``gt import`` found and the manifest files it would write (path -> text)."""

    workers: list[Worker] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)
    declared: list[str] = field(default_factory=list)  # rigs the town declares already


def describe(facts: SessionFacts) -> Worker | Skipped:
    """The worker a session is, or why it is not one gt can describe."""
    if not facts.stamps.rig and facts.stamps.worker in TownRole.__members__:
        return Skipped(facts.name, f"gt's {facts.stamps.worker} session: the Town manifest keeps it, not a Rig")
    if facts.stamps.rig and facts.stamps.worker:
        rig, worker, origin = facts.stamps.rig, facts.stamps.worker, "gt"
        role = f"{rig}/workers/{worker}"
    else:
        found = ROLE.match(facts.env.get("GT_ROLE", "")) or ROLE.match(facts.env.get("BD_ACTOR", ""))
        if found is None:
            return Skipped(facts.name, "not a worker: no gt stamps and no GT_ROLE of a polecat "
                                       "(the mayor, a witness or a refinery are not imported)")
        rig, worker, role, origin = found["rig"], found["worker"].lower(), found.group(0), "Gas Town"
        if not NAME.match(worker):
            return Skipped(facts.name, f"worker name {found['worker']!r} is not a lowercase DNS label")
    where = Path(facts.env.get("GT_POLECAT_PATH") or facts.cwd)
    repo = main_repository(where)
    if repo is None:
        return Skipped(facts.name, f"its directory {where} is not in a Git repository")
    return Worker(facts.name, rig, worker, role, repo, origin, facts.stamps.issue)


def plan_import(root: Path, socket: str) -> Import:
    """Read the sessions on ``socket`` and the rigs' stores; build (and validate) the manifests."""
    manifests = root / "manifests"
    repo = TownRepository.find(root)
    edits = repo.uncommitted() if repo else []
    if edits:  # the files written are validated against the working tree, which must be HEAD
        raise UsageError("commit or stash the manifest edits first: "
                         + ", ".join(f"{path} ({what})" for path, what in edits))
    current = load_desired_state(manifests)
    result = Import()
    for facts in session_facts(Tmux(socket)):
        found = describe(facts)
        if isinstance(found, Skipped):
            result.skipped.append(found)
        else:
            result.workers.append(found)
    by_rig: dict[str, list[Worker]] = {}
    for w in result.workers:
        by_rig.setdefault(w.rig, []).append(w)
    rig_texts = {manifests / "rigs" / f"{rig}.yaml": _rig_text(root, rig, workers)
                 for rig, workers in sorted(by_rig.items()) if not _declares(current, rig)}
    result.declared = sorted(rig for rig in by_rig if _declares(current, rig))
    with_rigs = load_desired_state(manifests, overrides=rig_texts)
    prefixes: dict[str, str] = {}
    hooked: dict[str, list[str]] = {}
    listed = {i for c in current.convoys if not c.paused for i in c.issues}
    for rig, workers in sorted(by_rig.items()):
        issues = _hooked(with_rigs, rig, workers)
        result.workers = [replace_issue(w, issues) for w in result.workers]
        hooked[rig] = [i for i in issues.values() if i not in listed]
        if hooked[rig]:
            prefixes[rig] = hooked[rig][0].rsplit("-", 1)[0]
    files = {path: _rig_text(root, path.stem, by_rig[path.stem], prefixes.get(path.stem))
             for path in rig_texts}
    for rig, ids in hooked.items():
        if ids:
            files[manifests / "convoys" / f"imported-{rig}.yaml"] = _convoy_text(rig, ids)
    for path in files:
        if path.exists():
            raise UsageError(f"{path} exists: gt import never overwrites a manifest; move it aside first")
    load_desired_state(manifests, overrides=files)  # every file valid, with the rest of the town
    result.files = files
    return result


def replace_issue(worker: Worker, issues: Mapping[str, str]) -> Worker:
    return replace(worker, issue=issues.get(worker.role, worker.issue))


def write_import(root: Path, found: Import, *, commit: bool) -> None:
    for path, text in found.files.items():
        write_atomic(path, text)
    if commit and found.files:
        rigs = sorted({w.rig for w in found.workers})
        commit_paths(root, [str(p.relative_to(root)) for p in found.files],
                     f"gt import: describe the running workers of {', '.join(rigs)}")


def _declares(desired: DesiredState, rig: str) -> bool:
    return any(r.name == rig for r in desired.rigs)


def _hooked(desired: DesiredState, rig: str, workers: list[Worker]) -> dict[str, str]:
    """Each worker's hooked issue (role -> id), read from the rig's store."""
    try:
        store = default_stores(desired, desired.rig(rig))
        held = store.list(status=list(HELD))
    except ReconcilerError as exc:
        raise UsageError(f"rig {rig}: cannot read its Beads store: {exc}") from exc
    roles = {w.role for w in workers}
    found = {i.assignee: i.id for i in sorted(held, key=lambda i: (i.priority, i.id)) if i.assignee in roles}
    for w in workers:  # a gt session names its issue; its hook may have been lost meanwhile
        if w.role not in found and w.issue and any(i.id == w.issue for i in held):
            found[w.role] = w.issue
    return {role: issue for role, issue in found.items() if issue}


def _yaml(value: str) -> str:
    """A YAML scalar for any string (JSON strings are YAML)."""
    return value if re.fullmatch(r"[A-Za-z0-9._/-]+", value) and value not in ("yes", "no", "on", "off") \
        else json.dumps(value)


def _rig_text(root: Path, rig: str, workers: list[Worker], prefix: str | None = None) -> str:
    repo = workers[0].repo
    try:
        shown = str(repo.resolve().relative_to(root.resolve()))
    except ValueError:
        shown = str(repo)
    names = sorted({w.worker for w in workers})
    lines = [
        "# yaml-language-server: $schema=../../schemas/rig.schema.json",
        f"# Written by gt import from the running sessions {', '.join(sorted(w.session for w in workers))}.",
        "apiVersion: gt/v1", "kind: Rig", "metadata:", f"  name: {rig}", "spec:",
        f"  repo: {_yaml(shown)}",
        f"  branch: {_yaml(checked_out_branch(repo) or 'main')}",
    ]
    if prefix and prefix != rig:
        lines.append(f"  beads: {{prefix: {prefix}}}")
    workers_line = f"  workers: {{max: {max(len(names), 4)}"
    if not set(names) <= set(NAME_POOL):
        workers_line += f", names: [{', '.join(names)}]"
    lines.append(workers_line + "}")
    return "\n".join(lines) + "\n"


def _convoy_text(rig: str, issues: list[str]) -> str:
    return "\n".join([
        "# yaml-language-server: $schema=../../schemas/convoy.schema.json",
        "# Written by gt import: the issues hooked to the running workers of this rig.",
        "apiVersion: gt/v1", "kind: Convoy", "metadata:", f"  name: imported-{rig}", "spec:",
        f"  title: Imported work of {rig}", f"  rig: {rig}", f"  issues: [{', '.join(issues)}]",
    ]) + "\n"
