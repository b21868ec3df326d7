"""Load a manifests directory into a validated, defaulted ``DesiredState``.

Every problem in every file is collected before anything is returned, and
each one points at the line and column of the node that causes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from reconciler.errors import ManifestError, ManifestProblem
from reconciler.manifests import build
from reconciler.manifests.build import issue_id
from reconciler.manifests.files import (
    LINK_REFUSED,
    ManifestFile,
    display_path,
    manifest_files,
)
from reconciler.manifests.schemas import KIND_FILES, apply_defaults, iter_schema_errors
from reconciler.manifests.yamlsource import MAX_BYTES, Document, Pointer, read_documents, render_pointer, too_large
from reconciler.model.desired import DesiredState, Source
from reconciler.model.patterns import PatternError, compiled


@dataclass
class Manifest:
    """One schema-valid document, defaults applied."""

    kind: str
    name: str
    doc: Document
    body: dict[str, Any]

    def source(self, pointer: Pointer = ("metadata", "name")) -> Source:
        mark = self.doc.mark(pointer)
        return Source(self.doc.path, mark.line, mark.col)

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.body.get("spec", {})
        return spec


class _Problems:
    def __init__(self) -> None:
        self.items: list[ManifestProblem] = []

    def at(self, doc: Document, pointer: Pointer, message: str, *, key: bool = False) -> None:
        mark = doc.key_mark(pointer) if key else doc.mark(pointer)
        self.items.append(
            ManifestProblem(doc.path, mark.line, mark.col, render_pointer(pointer), message)
        )


class ManifestSource(Protocol):
    """Where manifests come from: a directory on disk, or one commit of the town's repository."""

    @property
    def root(self) -> Path: ...

    def files(self) -> list[ManifestFile]: ...

    def read(self, files: list[ManifestFile]) -> dict[str, bytes | OSError]:
        """Each file's bytes by its ``shown`` name, or why it could not be read."""
        ...


class WorkingTree:
    """The manifests directory as it is on disk; ``overrides`` put texts in place of files
    (or add files), so an edit can be validated with the rest of the town before it is written."""

    def __init__(self, directory: Path, overrides: Mapping[Path, str] | None = None) -> None:
        self.directory = directory
        self.overrides = {p.absolute(): text for p, text in (overrides or {}).items()}
        self._paths: dict[str, Path] = {}

    @property
    def root(self) -> Path:
        return self.directory.resolve().parent

    def files(self) -> list[ManifestFile]:
        if not self.directory.is_dir():
            raise ManifestError(
                [ManifestProblem(str(self.directory), 1, 1, "", "manifests directory does not exist")])
        paths = {p.absolute(): p for p in manifest_files(self.directory)}
        for path in self.overrides:
            paths.setdefault(path, path)
        found = []
        for absolute, path in sorted(paths.items()):
            shown = display_path(path)
            self._paths[shown] = absolute
            text = self.overrides.get(absolute)
            if text is not None:
                found.append(ManifestFile(shown, ("text", hash(text)), len(text.encode())))
                continue
            try:
                st = path.stat()
            except OSError:
                found.append(ManifestFile(shown, None, 0))  # read() says why
                continue
            found.append(ManifestFile(shown, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), st.st_size))
        return found

    def read(self, files: list[ManifestFile]) -> dict[str, bytes | OSError]:
        read: dict[str, bytes | OSError] = {}
        for f in files:
            path = self._paths[f.shown]
            text = self.overrides.get(path)
            if text is None and path.is_symlink():
                read[f.shown] = OSError(0, LINK_REFUSED)
                continue
            try:
                read[f.shown] = text.encode() if text is not None else path.read_bytes()
            except OSError as exc:
                read[f.shown] = exc
        return read


@dataclass(frozen=True)
class _FileRead:
    """One file's documents as read and validated, and the version they were read at."""

    version: object
    manifests: list[Manifest]
    problems: list[ManifestProblem]
    invalid: set[tuple[str, str]]


class ManifestCache:
    """Each file's documents, read and validated, kept while its version is unchanged.

    The controller holds one for its life, so a pass parses and validates only the
    files that changed (by inode, size, mtime and ctime on disk; by blob id in a
    commit); ``parsed`` counts the files actually read, for tests and benchmarks.
    """

    def __init__(self) -> None:
        self._files: dict[str, _FileRead] = {}
        self.parsed: list[str] = []

    def kept(self, f: ManifestFile) -> _FileRead | None:
        kept = self._files.get(f.shown)
        return kept if kept is not None and f.version is not None and kept.version == f.version else None

    def keep(self, f: ManifestFile, read: _FileRead) -> None:
        self.parsed.append(f.shown)
        self._files[f.shown] = read

    def forget_missing(self, present: list[ManifestFile]) -> None:
        for gone in set(self._files) - {f.shown for f in present}:
            del self._files[gone]


def load_desired_state(directory: Path, town_name: str | None = None,
                       cache: ManifestCache | None = None, *,
                       overrides: Mapping[Path, str] | None = None) -> DesiredState:
    """Read, validate and cross-check every manifest below ``directory``, as on disk.

    Raises ManifestError holding every problem when anything is wrong. With a
    ``cache``, unchanged files are not read again; ``overrides`` replace (or add)
    files by path with the given texts.
    """
    return load_source(WorkingTree(directory, overrides), town_name, cache)


def load_source(source: ManifestSource, town_name: str | None = None,
                cache: ManifestCache | None = None) -> DesiredState:
    """Read, validate and cross-check every manifest of ``source`` (see load_desired_state)."""
    problems = _Problems()
    files = source.files()
    cache = cache if cache is not None else ManifestCache()
    reads = {f.shown: kept for f in files if (kept := cache.kept(f)) is not None}
    wanted = [f for f in files if f.shown not in reads and f.size <= MAX_BYTES]
    contents = source.read(wanted) if wanted else {}
    manifests: list[Manifest] = []
    invalid: set[tuple[str, str]] = set()
    for f in files:
        kept = reads.get(f.shown)
        if kept is None:
            own, own_invalid = _Problems(), set[tuple[str, str]]()
            found = _read_file(f, contents.get(f.shown), own, own_invalid)
            kept = _FileRead(f.version, found, own.items, own_invalid)
            cache.keep(f, kept)
        manifests.extend(kept.manifests)
        problems.items.extend(kept.problems)
        invalid.update(kept.invalid)
    cache.forget_missing(files)
    _cross_check(manifests, problems, invalid)
    if problems.items:
        raise ManifestError(sorted(problems.items, key=lambda p: (p.path, p.line, p.col)))
    root = source.root
    return build.desired_state(manifests, town_name or root.name, tuple(f.shown for f in files), str(root))


def _read_file(f: ManifestFile, content: bytes | OSError | None, problems: _Problems,
               invalid: set[tuple[str, str]]) -> list[Manifest]:
    shown = f.shown
    if f.size > MAX_BYTES or content is None:  # not even read: the limit is there so nothing hangs
        problems.items.append(too_large(shown))
        return []
    if isinstance(content, OSError):
        problems.items.append(ManifestProblem(shown, 1, 1, "", f"cannot read: {content.strerror or content}"))
        return []
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.items.append(ManifestProblem(shown, 1, 1, "", f"not UTF-8 text: {exc.reason}"))
        return []
    documents, yaml_problems = read_documents(shown, text)
    problems.items.extend(yaml_problems)
    if not documents and not yaml_problems:
        problems.items.append(
            ManifestProblem(shown, 1, 1, "", "empty manifest file: no YAML document in it")
        )
    bad_files = {p.path for p in yaml_problems}
    return [
        m for doc in documents if (m := _check_document(doc, problems, shown in bad_files, invalid))
    ]


def _check_document(doc: Document, problems: _Problems, file_had_yaml_errors: bool,
                    invalid: set[tuple[str, str]]) -> Manifest | None:
    value = doc.value
    if not isinstance(value, dict):
        got = "a list" if isinstance(value, list) else f"a {type(value).__name__} ({value!r})"
        problems.at(doc, (), f"a manifest must be a mapping with apiVersion, kind, metadata and spec, not {got}")
        return None
    kind = value.get("kind")
    if kind not in KIND_FILES:
        if "kind" not in value:
            problems.at(doc, (), f"missing required field 'kind' (one of {', '.join(KIND_FILES)})")
        else:
            problems.at(doc, ("kind",), f"unknown kind {kind!r}: expected one of {', '.join(KIND_FILES)}")
        return None
    before = len(problems.items)
    for pointer, where, message, text_wanted in iter_schema_errors(kind, value):
        surprise = doc.read_as(pointer) if text_wanted else None
        problems.at(doc, pointer, surprise or message, key=(where == "key"))
    if len(problems.items) > before or file_had_yaml_errors:
        # Remember the name, so references to it do not add "not declared" errors on top.
        name = value.get("metadata", {}).get("name") if isinstance(value.get("metadata"), dict) else None
        if isinstance(name, str):
            invalid.add((kind, name))
        return None
    return Manifest(kind, value["metadata"]["name"], doc, apply_defaults(kind, value))


def _cross_check(manifests: list[Manifest], problems: _Problems,
                 invalid: set[tuple[str, str]]) -> None:
    seen: dict[tuple[str, str], Manifest] = {}
    towns: list[Manifest] = []
    for m in manifests:
        first = seen.setdefault((m.kind, m.name), m)
        if first is not m:
            problems.at(m.doc, ("metadata", "name"),
                        f"duplicate {m.kind} '{m.name}' (first declared at {first.source()})")
        if m.kind == "Town":
            towns.append(m)
    for extra in towns[1:]:
        problems.at(extra.doc, ("kind",),
                    f"only one Town is allowed; another is declared at {towns[0].source(('kind',))}")
    rigs = {m.name: m for m in manifests if m.kind == "Rig"}
    routings = {m.name: m for m in manifests if m.kind == "Routing"}
    for m in manifests:
        if m.kind == "Rig":
            _check_rig(m, routings, problems, invalid)
        elif m.kind == "Town":
            _check_coordinator(m, routings, problems, invalid)
        elif m.kind == "Routing":
            _check_routing(m, problems)
    _check_convoys([m for m in manifests if m.kind == "Convoy"], rigs, routings, problems, invalid)
    _check_session_names(list(rigs.values()), problems)


def _check_session_names(rigs: list[Manifest], problems: _Problems) -> None:
    """Two rigs whose workers would share a tmux session (rig ``a`` worker ``b-c`` and rig ``a-b``
    worker ``c`` are both ``gt-a-b-c``): one session must never be taken for another worker's."""
    from reconciler.model.desired import NAME_POOL
    from reconciler.model.observed import session_name

    owner: dict[str, tuple[Manifest, str]] = {}
    for rig in sorted(rigs, key=lambda m: m.name):
        workers = rig.spec["workers"]
        names = [*(workers["names"] or NAME_POOL), *(f"w{n}" for n in range(1, workers["max"] + 1))]
        for worker in dict.fromkeys(names):
            session = session_name(rig.name, worker)
            first = owner.setdefault(session, (rig, worker))
            if first[0] is not rig:
                problems.at(rig.doc, ("spec", "workers", "names") if worker in workers["names"] else
                            ("metadata", "name"),
                            f"worker '{worker}' of rig '{rig.name}' and worker '{first[1]}' of rig "
                            f"'{first[0].name}' ({first[0].source()}) would share the tmux session "
                            f"'{session}': rename a rig or a worker")
                break


def _check_routing_ref(m: Manifest, at: Pointer, wanted: str, routings: dict[str, Manifest],
                       problems: _Problems, invalid: set[tuple[str, str]]) -> None:
    """A Routing named by a rig or the coordinator must be declared (``default`` is built in)."""
    if wanted not in routings and wanted != "default" and ("Routing", wanted) not in invalid:
        declared = ", ".join(sorted(routings)) or "none"
        problems.at(m.doc, at, f"routing '{wanted}' is not declared (declared: {declared})")


def _check_rig(rig: Manifest, routings: dict[str, Manifest], problems: _Problems,
               invalid: set[tuple[str, str]]) -> None:
    _check_routing_ref(rig, ("spec", "routing"), rig.spec["routing"], routings, problems, invalid)


def _check_coordinator(town: Manifest, routings: dict[str, Manifest], problems: _Problems,
                       invalid: set[tuple[str, str]]) -> None:
    """The coordinator's Routing must be declared, and its model and agent declared by it."""
    spec = town.spec["coordinator"]
    if spec is None:
        return
    at: Pointer = ("spec", "coordinator")
    _check_routing_ref(town, (*at, "routing"), spec["routing"], routings, problems, invalid)
    names = _routing_names(spec["routing"], routings, invalid)
    if names is not None:
        _check_names(town, at, spec, names, "the coordinator", problems)


def _check_routing(routing: Manifest, problems: _Problems) -> None:
    spec = routing.spec
    agents, models = spec["agents"], spec["models"]
    for name, model in models.items():
        if model["agent"] not in agents:
            problems.at(routing.doc, ("spec", "models", name, "agent"),
                        f"model '{name}' names agent '{model['agent']}', which is not declared "
                        f"(declared agents: {', '.join(sorted(agents))})")
    declared = ", ".join(sorted(models))
    if spec["default"] not in models:
        problems.at(routing.doc, ("spec", "default"),
                    f"default model '{spec['default']}' is not declared (declared models: {declared})")
    for i, rule in enumerate(spec["rules"]):
        if rule["model"] not in models:
            problems.at(routing.doc, ("spec", "rules", i, "model"),
                        f"model '{rule['model']}' is not declared (declared models: {declared})")
        _check_regex(routing, ("spec", "rules", i, "when", "title"), rule["when"].get("title"), problems)
    for name, agent in agents.items():
        where = ("spec", "agents", name)
        if agent["command"] is None and agent["preset"] in (None, "script"):
            problems.at(routing.doc, where, f"agent '{name}' has no command: a script agent needs one "
                        "(or name a preset: claude, codex)", key=True)
        _check_regex(routing, (*where, "ready"), agent["ready"], problems)
        _check_regex(routing, (*where, "busy"), agent["busy"], problems)
        for i, dialog in enumerate(agent["dialogs"] or ()):
            _check_regex(routing, (*where, "dialogs", i, "match"), dialog["match"], problems)


def _check_regex(m: Manifest, pointer: Pointer, pattern: str | None, problems: _Problems) -> None:
    if pattern is None:
        return
    try:
        compiled(pattern)
    except PatternError as exc:
        problems.at(m.doc, pointer, f"invalid regular expression {pattern!r}: {exc}")


def _check_convoys(convoys: list[Manifest], rigs: dict[str, Manifest], routings: dict[str, Manifest],
                   problems: _Problems, invalid: set[tuple[str, str]]) -> None:
    claimed: dict[str, Manifest] = {}
    for convoy in convoys:
        spec = convoy.spec
        rig = rigs.get(spec["rig"])
        if rig is None and ("Rig", spec["rig"]) not in invalid:
            declared = ", ".join(sorted(rigs)) or "none"
            problems.at(convoy.doc, ("spec", "rig"),
                        f"rig '{spec['rig']}' is not declared (declared rigs: {declared})")
        prefix = (rig.spec["beads"]["prefix"] or rig.name) if rig else None
        names = _routing_names(rig.spec["routing"], routings, invalid) if rig else None
        if spec["swarm"] is not None and names is not None:
            _check_swarm(convoy, spec["swarm"], spec["rig"], names, problems)
        first: dict[str, int] = {}
        for i, entry in enumerate(spec["issues"]):
            issue = issue_id(entry)
            at: Pointer = ("spec", "issues", i, "id") if isinstance(entry, dict) else ("spec", "issues", i)
            if first.setdefault(issue, i) != i:
                problems.at(convoy.doc, at, f"issue '{issue}' is listed twice (first at $.spec.issues[{first[issue]}])")
                continue
            if prefix is not None and not issue.startswith(prefix + "-"):
                problems.at(convoy.doc, at,
                            f"issue '{issue}' does not carry the prefix '{prefix}-' of rig '{spec['rig']}'")
            if isinstance(entry, dict) and names is not None:
                _check_names(convoy, ("spec", "issues", i), entry, names, f"rig '{spec['rig']}'", problems)
            if spec["paused"]:
                continue
            other = claimed.setdefault(issue, convoy)
            if other is not convoy:
                problems.at(convoy.doc, at,
                            f"issue '{issue}' is also listed by active convoy '{other.name}' "
                            f"({other.source()}); an issue belongs to one active convoy at a time")


def _routing_names(name: str, routings: dict[str, Manifest],
                   invalid: set[tuple[str, str]]) -> tuple[str, set[str], set[str]] | None:
    """The Routing ``name``: its name, its models and its agents; None when it cannot be known."""
    routing = routings.get(name)
    if routing is not None:
        return name, set(routing.spec["models"]), set(routing.spec["agents"])
    if name == "default" and ("Routing", name) not in invalid:
        from reconciler.model.presets import BUILTIN_ROUTING

        return name, {m.name for m in BUILTIN_ROUTING.models}, {a.name for a in BUILTIN_ROUTING.agents}
    return None


def _check_swarm(convoy: Manifest, swarm: dict[str, str], rig: str,
                 names: tuple[str, set[str], set[str]], problems: _Problems) -> None:
    """Each phase's model must be declared by the rig's Routing."""
    routing, models, _ = names
    for phase, model in swarm.items():
        if model not in models:
            unset = ("spec", "swarm", phase) not in convoy.doc.marks
            problems.at(convoy.doc, ("spec", "swarm", phase),
                        f"{phase} model '{model}'{' (the default)' if unset else ''} is not declared in "
                        f"routing '{routing}' of rig '{rig}' (declared models: {', '.join(sorted(models))})")


def _check_names(m: Manifest, at: Pointer, entry: dict[str, Any], names: tuple[str, set[str], set[str]],
                 whose: str, problems: _Problems) -> None:
    """A model and agent named by ``entry`` (an issue's own, or the coordinator's) must be declared by
    the Routing they are taken from (``whose``: of a rig, or the coordinator's)."""
    routing, models, agents = names
    for field, declared in (("model", models), ("agent", agents)):
        wanted = entry[field]
        if wanted is not None and wanted not in declared:
            problems.at(m.doc, (*at, field),
                        f"{field} '{wanted}' is not declared in routing '{routing}' of {whose} "
                        f"(declared {field}s: {', '.join(sorted(declared))})")
