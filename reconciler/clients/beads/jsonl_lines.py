"""The lines of a ``bd export`` JSONL file: parsed, kept and written back.

Every line keeps its raw text, so an unchanged line is written back byte for
byte, in order. A changed record is re-serialised in its original line's style:
same key order and unknown fields, the same spacing after ``:`` and ``,``, Go's
``\\u003c``-style escapes if the line used them, and a kept ``\\r`` line ending.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.clients.beads import Issue, record_status
from reconciler.errors import IssueNotFound, StoreCorrupt

Record = dict[str, Any]

# The spacing after a record's first key tells how the line was written.
_FIRST_KEY = re.compile(r'\s*\{\s*"(?:[^"\\]|\\.)*"\s*:(\s*)')
# Go's encoder escapes these; a line written that way keeps the habit.
_GO_ESCAPES = {char: f"\\u{ord(char):04x}" for char in "<>&\u2028\u2029"}
_GO_ESCAPED = re.compile(r"\\u00(3c|3e|26)|\\u202[89]")


class Line:
    """One line of the file; ``record`` is shared with the cache and never mutated.

    Its ``Issue`` is built on first use: a pass needs a fraction of a large store's issues.
    """

    __slots__ = ("_issue", "issue_id", "raw", "record")

    def __init__(self, raw: str, record: Record | None = None, issue: Issue | None = None, *,
                 issue_id: str | None = None) -> None:
        self.raw, self.record, self._issue = raw, record, issue
        self.issue_id = issue.id if issue is not None else issue_id  # None: not an issue record

    @property
    def issue(self) -> Issue | None:
        if self._issue is None and self.issue_id is not None and self.record is not None:
            self._issue = Issue.from_record(self.record)
        return self._issue

    @property
    def status(self) -> str:
        """The issue's status, read without building the issue."""
        if self._issue is not None:
            return self._issue.status
        return record_status(self.record or {})


@dataclass(frozen=True, slots=True)
class Snapshot:
    lines: tuple[Line, ...]
    trailing_newline: bool
    index: dict[str, int]  # issue id -> position of its (last) line

    @classmethod
    def build(cls, lines: Iterable[Line], trailing_newline: bool) -> Snapshot:
        kept = tuple(lines)
        index = {ln.issue_id: pos for pos, ln in enumerate(kept) if ln.issue_id is not None}
        return cls(kept, trailing_newline, index)

    def live(self) -> Iterator[Line]:
        """Lines of live issues in file order (a duplicated id counts once, at its last line)."""
        for pos, line in enumerate(self.lines):
            if line.issue_id is not None and self.index[line.issue_id] == pos and line.status != "tombstone":
                yield line

    def issues(self) -> Iterator[Issue]:
        for line in self.live():
            issue = line.issue
            assert issue is not None
            yield issue

    def find(self, issue_id: str) -> tuple[int, Line]:
        pos = self.index.get(issue_id)
        if pos is None:
            raise IssueNotFound(issue_id)
        line = self.lines[pos]
        if line.issue is None or line.issue.status == "tombstone":
            raise IssueNotFound(issue_id)
        return pos, line

    def replaced(self, pos: int, line: Line) -> Snapshot:
        lines = list(self.lines)
        lines[pos] = line
        return Snapshot(tuple(lines), self.trailing_newline, self.index)

    def appended(self, line: Line) -> Snapshot:
        return Snapshot.build((*self.lines, line), self.trailing_newline)

    def render(self) -> bytes:
        text = "\n".join(line.raw for line in self.lines)
        if self.lines and self.trailing_newline:
            text += "\n"
        return text.encode("utf-8")


# -- parsing -------------------------------------------------------------------


def parse(data: bytes, path: Path, known: dict[str, Line]) -> Snapshot:
    """Parse the whole file; ``known`` lines (by raw text) are reused unparsed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise StoreCorrupt(str(path), line_no, f"not UTF-8: {exc.reason}") from None
    if not text:
        return Snapshot.build((), True)
    chunks = text.split("\n")
    trailing = chunks[-1] == ""
    if trailing:
        chunks.pop()
    lines = [known.get(raw) or _parse_line(raw, path, no) for no, raw in enumerate(chunks, 1)]
    return Snapshot.build(lines, trailing)


def _parse_line(raw: str, path: Path, line_no: int) -> Line:
    if not raw.strip():
        return Line(raw)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON: {exc.msg} at column {exc.colno}"
        raise StoreCorrupt(str(path), line_no, reason) from None
    if not isinstance(value, dict):
        reason = f"expected a JSON object, got {type(value).__name__}"
        raise StoreCorrupt(str(path), line_no, reason)
    if not _is_issue(value, path, line_no):
        return Line(raw, value)
    return Line(raw, value, issue_id=str(value["id"]))


def _is_issue(record: Record, path: Path, line_no: int) -> bool:
    """``_type: issue`` records, and older untyped exports that carry an id."""
    kind = record.get("_type")
    has_id = isinstance(record.get("id"), str) and record["id"] != ""
    if kind is None:
        return has_id
    if kind == "issue" and not has_id:
        raise StoreCorrupt(str(path), line_no, "issue record has no id")
    return bool(kind == "issue")


# -- serialising ---------------------------------------------------------------


def dump_new(record: Record) -> str:
    """Serialise a new record the way ``bd export`` writes one: compact, unescaped."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def dump_like(record: Record, raw: str) -> str:
    """Serialise a changed record in the style its original line was written in."""
    match = _FIRST_KEY.match(raw)
    spaced = match is not None and match.group(1) != ""
    separators = (", ", ": ") if spaced else (",", ":")
    text = json.dumps(record, ensure_ascii=False, separators=separators)
    if _GO_ESCAPED.search(raw):
        for char, escape in _GO_ESCAPES.items():
            text = text.replace(char, escape)
    return text + ("\r" if raw.endswith("\r") else "")
