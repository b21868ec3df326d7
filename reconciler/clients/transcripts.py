"""Claude Code's session transcripts: the tokens a rig's workers used, issue by issue.

Claude Code appends every message of a session to ``<config>/projects/<dir>/<session-id>.jsonl``
(subagents' under ``<dir>/<session-id>/subagents/``). ``<config>`` is ``$CLAUDE_CONFIG_DIR``, else
``~/.claude``; ``<dir>`` is the directory the session started in with every character but an
ASCII letter or digit turned into ``-`` (``/town/.gt/worktrees/demo/nux`` gives
``-town--gt-worktrees-demo-nux``), cut at 200 characters and a hash appended when longer. Each
assistant line carries ``message.usage`` (``input_tokens``, ``output_tokens``,
``cache_creation_input_tokens``, ``cache_read_input_tokens``), ``message.model``, ``message.id``,
and the session's ``cwd`` and ``gitBranch``.

A gt worker works on branch ``gt/<worker>/<issue>`` in ``.gt/worktrees/<rig>/<worker>``, so a line
belongs to the issue its branch names when its cwd is that worker's worktree; worker names are
reused, branches are not. A response streamed in parts is written several times under one
message id: it is counted once, at its largest usage.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from reconciler.model.costs import IssueUsage, TokenUsage
from reconciler.model.observed import WORKER_NAME

log = logging.getLogger(__name__)

DIR_NAME_LIMIT = 200  # longer project directory names are cut here and given a hash suffix
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_BRANCH = re.compile(r"gt/(?P<worker>[^/]+)/(?P<issue>[^/]+)")


def project_dir_name(path: str) -> str:
    """The name Claude Code gives the project directory of a session started in ``path`` (before
    the cut and hash of names over 200 characters)."""
    return _NOT_ALNUM.sub("-", path)


def claude_home() -> Path:
    """Where Claude Code keeps its state: ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured) if configured else Path.home() / ".claude"


@dataclass(frozen=True)
class _Entry:
    """One assistant response, as one line of a transcript records it."""

    worker: str
    issue: str
    key: str  # the message id; a line without one is its own key
    tokens: TokenUsage
    model: str
    session: str


def rig_usage(rig: str, worktrees: str, home: Path | None = None) -> tuple[IssueUsage, ...]:
    """The tokens the Claude Code sessions of ``rig``'s workers (whose worktrees are below
    ``worktrees``) used, per issue; nothing when there are no transcripts."""
    projects = (home or claude_home()) / "projects"
    roots = {worktrees.rstrip("/"), os.path.realpath(worktrees)}
    prefixes = {project_dir_name(r + "/")[:DIR_NAME_LIMIT] for r in roots}
    try:
        dirs = [d for d in projects.iterdir() if d.name.startswith(tuple(prefixes)) and d.is_dir()
                and not d.is_symlink()]
    except OSError:
        return ()
    best: dict[str, dict[str, _Entry]] = {}  # issue -> message id -> its fullest line
    for directory in sorted(dirs):
        for path in sorted(directory.rglob("*.jsonl")):
            for entry in _entries(path, roots):
                seen = best.setdefault(entry.issue, {})
                kept = seen.get(entry.key)
                if kept is None or entry.tokens.output > kept.tokens.output:
                    seen[entry.key] = entry
    return tuple(_usage(rig, issue, list(entries.values())) for issue, entries in sorted(best.items()))


def _usage(rig: str, issue: str, entries: list[_Entry]) -> IssueUsage:
    tokens = TokenUsage()
    for e in entries:
        tokens += e.tokens
    return IssueUsage(rig, issue, tokens, sessions=len({e.session for e in entries}),
                      models=tuple(sorted({e.model for e in entries if e.model})))


# One parse of a transcript per change of the file: the controller looks every pass.
_PARSED: dict[str, tuple[tuple[int, int, int], tuple[_Entry, ...]]] = {}


def _entries(path: Path, roots: set[str]) -> tuple[_Entry, ...]:
    try:
        st = path.stat()
    except OSError:
        return ()
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _PARSED.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        with path.open("rb") as f:
            entries = tuple(e for n, line in enumerate(f) if (e := _entry(line, roots, f"{path}:{n}")))
    except OSError as exc:
        log.warning("transcript not read: %s", exc, extra={"gt_path": str(path)})
        return ()
    _PARSED[str(path)] = (stamp, entries)
    return entries


def _entry(line: bytes, roots: set[str], place: str) -> _Entry | None:
    if b'"usage"' not in line or b'"gitBranch"' not in line:
        return None  # most lines: prompts, tool results, snapshots
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a line being written, or not Claude Code's
    if not isinstance(record, dict) or record.get("type") != "assistant":
        return None
    message, branch, cwd = record.get("message"), record.get("gitBranch"), record.get("cwd")
    if not isinstance(message, dict) or not isinstance(branch, str):
        return None
    usage, model = message.get("usage"), message.get("model")
    found = _BRANCH.fullmatch(branch)
    if not isinstance(usage, dict) or found is None or model == "<synthetic>":
        return None
    worker = found["worker"]
    if not WORKER_NAME.fullmatch(worker) or not _inside(cwd, roots, worker):
        return None
    key = message.get("id")
    return _Entry(worker, found["issue"], key if isinstance(key, str) and key else place,
                  TokenUsage(*(_count(usage, k) for k in ("input_tokens", "output_tokens",
                                                          "cache_creation_input_tokens",
                                                          "cache_read_input_tokens"))),
                  model if isinstance(model, str) else "", str(record.get("sessionId", "")))


def _inside(cwd: object, roots: set[str], worker: str) -> bool:
    """The line's cwd is the worker's worktree or below it (a session may cd into a subdirectory)."""
    if not isinstance(cwd, str):
        return False
    return any(cwd == f"{r}/{worker}" or cwd.startswith(f"{r}/{worker}/") for r in roots)


def _count(usage: dict[str, object], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and value > 0 else 0

