"""Read YAML into plain values while remembering where every node was.

PyYAML's loaders silently keep the last of two equal keys and forget marks.
We compose the node graph ourselves so that each value keeps its line and
column, duplicate keys are refused, and every problem is reported at the
node that causes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.errors import ManifestProblem

Pointer = tuple[str | int, ...]

# Limits that keep a hostile manifest from hanging or killing whoever reads it: an alias
# that expands a few hundred bytes into billions of values, a list nested 10,000 deep.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000  # per document, aliases counted as often as they are used


def too_large(path: str) -> ManifestProblem:
    return ManifestProblem(path, 1, 1, "", f"file is larger than {MAX_BYTES // 1024} KiB; a manifest is far smaller")


class TooBig(Exception):
    """A document past one of the limits; carries where, for the problem it becomes."""

    def __init__(self, mark: Mark, pointer: Pointer, message: str) -> None:
        super().__init__(message)
        self.mark, self.pointer, self.message = mark, pointer, message


@dataclass(frozen=True)
class Mark:
    line: int
    col: int


@dataclass
class Document:
    """One YAML document: its value, and the mark of every node by JSON path."""

    path: str
    value: Any
    start: Mark
    marks: dict[Pointer, Mark] = field(default_factory=dict)
    key_marks: dict[Pointer, Mark] = field(default_factory=dict)
    # Unquoted scalars YAML 1.1 read as something other than text (on -> True, 2024-01-01 -> a date).
    implicit: dict[Pointer, tuple[str, Any]] = field(default_factory=dict)

    def read_as(self, pointer: Pointer) -> str | None:
        """'... was read as ...; quote it' when an unquoted scalar at ``pointer`` did not stay text."""
        if pointer not in self.implicit:
            return None
        raw, value = self.implicit[pointer]
        if isinstance(value, bool):
            what = f"the boolean {str(value).lower()} (YAML 1.1 reads on, off, yes and no as booleans)"
        elif value is None:
            what = "null"
        elif isinstance(value, int | float):
            what = f"the number {value!r}"
        else:
            what = f"a {type(value).__name__} ({value})"
        return f"{raw!r} was read as {what}; quote it to mean the text: \"{raw}\""

    def mark(self, pointer: Pointer) -> Mark:
        """The mark of the node at ``pointer``, or of its nearest ancestor."""
        while pointer not in self.marks and pointer:
            pointer = pointer[:-1]
        return self.marks.get(pointer, self.start)

    def key_mark(self, pointer: Pointer) -> Mark:
        """The mark of the key naming the node at ``pointer`` (falls back to the node)."""
        return self.key_marks.get(pointer) or self.mark(pointer)


def render_pointer(pointer: Pointer) -> str:
    """``('spec', 'issues', 1)`` -> ``$.spec.issues[1]``."""
    text = "$"
    for part in pointer:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _mark_of(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node tree into values, collecting problems instead of raising."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[ManifestProblem] = []
        self._scalars = yaml.constructor.SafeConstructor()
        self._values = 0

    def problem(self, mark: Mark, pointer: Pointer, message: str) -> None:
        self.problems.append(
            ManifestProblem(self.doc.path, mark.line, mark.col, render_pointer(pointer), message)
        )

    def build(self, node: yaml.Node, pointer: Pointer) -> Any:
        self._values += 1
        if self._values > MAX_VALUES:
            raise TooBig(_mark_of(node), pointer, f"more than {MAX_VALUES:,} values in one document "
                         "(an alias used over and over?); a manifest is far smaller")
        if len(pointer) > MAX_DEPTH:
            raise TooBig(_mark_of(node), pointer, f"nested more than {MAX_DEPTH} levels deep")
        self.doc.marks[pointer] = _mark_of(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, pointer)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, pointer + (i,)) for i, item in enumerate(node.value)]
        try:
            value = self._scalars.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(_mark_of(node), pointer, f"invalid value: {exc}")
            return None
        # A plain scalar: style None from the Python parser, "" from libyaml.
        if isinstance(node, yaml.ScalarNode) and not node.style and not isinstance(value, str):
            self.doc.implicit[pointer] = (node.value, value)
        return value

    def _mapping(self, node: yaml.MappingNode, pointer: Pointer) -> dict[str, Any]:
        seen: dict[str, Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            mark = _mark_of(key_node)
            if not isinstance(key, str) or key_node.tag != "tag:yaml.org,2002:str":
                self.problem(mark, pointer, f"keys must be strings, got {key_node.value!r}")
                continue
            if key in seen:
                first = seen[key]
                self.problem(
                    mark,
                    pointer + (key,),
                    f"duplicate key '{key}' (first defined at line {first.line}, column {first.col})",
                )
            seen[key] = mark
        try:
            # Resolves YAML merge keys (<<: *anchor); explicit keys win over merged ones.
            self._scalars.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.problem(_mark_of(node), pointer, f"invalid merge: {exc}")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:str"):
                continue
            key = key_node.value
            self.doc.key_marks[pointer + (key,)] = _mark_of(key_node)
            result[key] = self.build(value_node, pointer + (key,))
        return result


# libyaml's C parser composes about ten times faster and keeps every node's position.
FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_documents(path: str, text: str) -> tuple[list[Document], list[ManifestProblem]]:
    """Every non-empty document of a YAML text, and the problems met reading it.

    A syntax error stops the file there (YAML cannot be resumed after one), but
    documents before it are still returned so their own errors are reported too.
    Text is composed with the C parser when it is there; a text it rejects is read
    again with the pure-Python one, whose messages say more.
    """
    if len(text) > MAX_BYTES:
        return [], [too_large(path)]
    if FAST_LOADER is not yaml.SafeLoader:
        fast = _read(path, text, FAST_LOADER)
        # The pure-Python parser explains a syntax error better, but not one about size or depth.
        if not fast[1] or any("nesting depth" in p.message or "values in one" in p.message
                              or "levels deep" in p.message for p in fast[1]):
            return fast
    return _read(path, text, yaml.SafeLoader)


def _read(path: str, text: str, loader: Any) -> tuple[list[Document], list[ManifestProblem]]:
    documents: list[Document] = []
    problems: list[ManifestProblem] = []
    try:
        for node in yaml.compose_all(text, Loader=loader):
            if node is None or (
                isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
            ):
                continue  # an empty document between two '---' is harmless
            doc = Document(path=path, value=None, start=_mark_of(node))
            builder = _Builder(doc)
            doc.value = builder.build(node, ())
            problems.extend(builder.problems)
            documents.append(doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(ManifestProblem(path, line, col, "", _syntax_message(exc, text, mark)))
    except yaml.YAMLError as exc:
        problems.append(ManifestProblem(path, 1, 1, "", f"YAML error: {exc}"))
    except TooBig as exc:
        problems.append(ManifestProblem(path, exc.mark.line, exc.mark.col, render_pointer(exc.pointer), exc.message))
    except RecursionError:
        problems.append(ManifestProblem(path, 1, 1, "", f"nested more than {MAX_DEPTH} levels deep"))
    return documents, problems


def _syntax_message(exc: yaml.MarkedYAMLError, text: str, mark: Any) -> str:
    problem = exc.problem or "syntax error"
    if mark is not None and "\t" in _line(text, mark.line):
        return f"YAML syntax error: {problem} (tabs cannot indent YAML; use spaces)"
    if exc.context:
        return f"YAML syntax error: {problem} ({exc.context})"
    return f"YAML syntax error: {problem}"


def _line(text: str, index: int) -> str:
    lines = text.splitlines()
    return lines[index] if 0 <= index < len(lines) else ""
