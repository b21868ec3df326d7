"""Edits of manifest text that keep everything they do not change: text in, text out, no I/O.

A document is edited as a tree with ruamel.yaml, a round-trip library: comments, key order,
quoting and flow or block style survive, and a new entry is written the way YAML wants it
(quoted when it must be). ruamel.yaml re-renders some things it does not change (aligned flow
mappings lose their alignment, ``null`` becomes nothing), so only the lines the edit touched
are taken from its output: every other line of the file stays byte for byte what it was
(``merge_lines``). A problem (no such document, an issue already listed) is a ManifestError
at the file, line and column it concerns.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from reconciler.errors import ManifestError, ManifestProblem
from reconciler.manifests.merge import merge_lines
from reconciler.manifests.yamlsource import Pointer, render_pointer
from reconciler.model.desired import RigState

ENTRY_FIELDS = ("model", "agent", "message")  # an issue's own fields, in the schema's order


@dataclass(frozen=True)
class IssueEntry:
    """An issue as a convoy lists it: its id and, set or not, its own model, agent and message."""

    id: str
    model: str | None = None
    agent: str | None = None
    message: str | None = None

    @property
    def overrides(self) -> dict[str, str]:
        return {f: v for f in ENTRY_FIELDS if (v := getattr(self, f)) is not None}


class Change(str, enum.Enum):
    """What an edit did to one entry: completes 'cs-x was ...'."""

    added = "added"
    updated = "updated"
    unchanged = "unchanged"


def refuse(path: str, line: int, col: int, pointer: Pointer, message: str) -> ManifestError:
    return ManifestError([ManifestProblem(path, line, col, render_pointer(pointer) if pointer else "", message)])


# -- reading and writing a file's documents ---------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 1 << 20  # never fold a line the file did not fold
    return yaml


class _Documents:
    """Every document of one file, as ruamel.yaml's round-trip tree."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        try:
            self.docs: list[Any] = list(_yaml().load_all(text))
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            raise refuse(path, line, col, (), f"cannot edit: {exc}") from exc
        self.indents = [_indents(doc) for doc in self.docs]  # as read, before any edit

    def find(self, kind: str, name: str) -> CommentedMap | None:
        for doc in self.docs:
            if isinstance(doc, CommentedMap) and doc.get("kind") == kind:
                meta = doc.get("metadata")
                if isinstance(meta, dict) and meta.get("name") == name:
                    return doc
        return None

    def get(self, kind: str, name: str) -> CommentedMap:
        doc = self.find(kind, name)
        if doc is None:
            raise refuse(self.path, 1, 1, (), f"no {kind} named '{name}' in this file")
        return doc

    def dump(self) -> str:
        """Every document, each with its own indentation (one file may mix 2 and 4 spaces)."""
        out = io.StringIO()
        for i, (doc, indents) in enumerate(zip(self.docs, self.indents, strict=True)):
            yaml = _yaml()
            yaml.indent(**indents)
            yaml.explicit_start = i > 0
            yaml.dump(doc, out)
        return out.getvalue()


def _nodes(node: Any) -> Iterator[tuple[Any, Any]]:
    """(node, its parent mapping or None) for every block collection, depth first."""
    stack: list[tuple[Any, Any]] = [(node, None)]
    while stack:
        here, parent = stack.pop()
        yield here, parent
        if isinstance(here, CommentedMap):
            stack.extend((v, here) for v in here.values() if isinstance(v, CommentedMap | CommentedSeq))
        elif isinstance(here, CommentedSeq):
            stack.extend((v, None) for v in here if isinstance(v, CommentedMap | CommentedSeq))


def _indents(doc: Any) -> dict[str, int]:
    """A document's own indentation (mapping, sequence, dash offset), where it shows; else gt's."""
    found = {"mapping": 2, "sequence": 4, "offset": 2}
    seen_map = seen_seq = False
    for node, parent in _nodes(doc):
        if parent is None or node.fa.flow_style() or not len(node):
            continue
        key = next(k for k, v in parent.items() if v is node)
        key_col = parent.lc.key(key)[1]
        if isinstance(node, CommentedMap) and not seen_map:
            found["mapping"], seen_map = node.lc.col - key_col, True
        elif isinstance(node, CommentedSeq) and not seen_seq and node.lc.item(0) is not None:
            item_col = node.lc.item(0)[1]
            found["offset"], found["sequence"], seen_seq = node.lc.col - key_col, item_col - key_col, True
    found["mapping"] = max(found["mapping"], 1)
    found["sequence"] = max(found["sequence"], found["offset"] + 2)
    return found


def _edit(text: str, path: str, kind: str, name: str, change: Callable[[CommentedMap], None]) -> str:
    """``text`` with ``change`` made to the document declaring ``kind`` ``name``; nothing else moves,
    and a file with Windows line ends keeps them."""
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n") if crlf else text
    base = _Documents(text, path)
    edited = _Documents(text, path)
    change(edited.get(kind, name))
    merged = merge_lines(text, base.dump(), edited.dump())
    return merged.replace("\n", "\r\n") if crlf else merged


def declares(text: str, path: str, kind: str, name: str) -> bool:
    """Whether a document of ``text`` declares ``kind`` ``name``."""
    return _Documents(text, path).find(kind, name) is not None


def scalar(value: str) -> str:
    """``value`` as YAML writes it in a block mapping: plain when it can be, quoted when it must."""
    out = io.StringIO()
    _yaml().dump({"k": value}, out)
    return out.getvalue()[len("k: "):].rstrip("\n")


# -- comments that belong after a block sequence ----------------------------------------------


def _split_comment(token: CommentToken | None) -> tuple[str, str]:
    """A sequence item's comment: (what ends its own line, the lines below it)."""
    if token is None:
        return "", ""
    value: str = token.value
    if value.startswith("#"):
        eol, _, below = value.partition("\n")
        return eol + "\n", below
    return "", value.removeprefix("\n")


def _set_item_comment(seq: CommentedSeq, index: int, eol: str, below: str) -> None:
    if not eol and not below:
        seq.ca.items.pop(index, None)
        return
    column = seq.ca.items[index][0].column if index in seq.ca.items and seq.ca.items[index][0] else 0
    slot = seq.ca.items.setdefault(index, [None, None, None, None])
    slot[0] = CommentToken(eol + below if eol else "\n" + below, CommentMark(column), None)


def _append(seq: CommentedSeq, item: Any) -> None:
    """Append to a sequence; in a block sequence the comment lines under the last item (they
    belong to what follows the list) move under the new one."""
    last = len(seq) - 1
    seq.append(item)
    if seq.fa.flow_style() or last < 0 or last not in seq.ca.items:
        return
    eol, below = _split_comment(seq.ca.items[last][0])
    _set_item_comment(seq, last, eol, "")
    _set_item_comment(seq, last + 1, "", below)


def _delete(seq: CommentedSeq, index: int) -> None:
    """Delete an item with its own end-of-line comment; comment lines under it stay, under the
    item before it (or, for the first, above the list)."""
    _, below = _split_comment(seq.ca.items[index][0]) if index in seq.ca.items else ("", "")
    tokens = {i: c for i, c in seq.ca.items.items() if i != index}
    del seq[index]
    seq.ca.items.clear()
    seq.ca.items.update({(i - 1 if i > index else i): c for i, c in tokens.items()})
    if not below or seq.fa.flow_style():
        return
    if index > 0:
        eol, under = _split_comment(seq.ca.items[index - 1][0]) if index - 1 in seq.ca.items else ("", "")
        _set_item_comment(seq, index - 1, eol, under + below)
    elif seq.ca.comment and seq.ca.comment[0] is not None:
        seq.ca.comment[0].value += below
    else:
        seq.ca.comment = [CommentToken("\n" + below, CommentMark(0), None), None]


def _move_comment_below(mapping: CommentedMap, before: Any, key: Any) -> None:
    """After inserting ``key`` after ``before``: the comment lines under ``before``'s value (they
    belong to what follows it) move under ``key``; end-of-line comments stay where they are."""
    holder: CommentedMap | CommentedSeq = mapping
    index, slot_at = before, 2
    value = mapping[before]
    while isinstance(value, CommentedMap | CommentedSeq) and len(value) and not value.fa.flow_style():
        if isinstance(value, CommentedMap):  # a block value: its last line holds the comment
            holder, index, slot_at = value, list(value)[-1], 2
        else:
            holder, index, slot_at = value, len(value) - 1, 0
        value = value[index]
    slot = holder.ca.items.get(index)
    if not slot or len(slot) <= slot_at or slot[slot_at] is None:
        return
    eol, below = _split_comment(slot[slot_at])
    if not below:
        return
    slot[slot_at] = CommentToken(eol, slot[slot_at].start_mark, None) if eol else None
    mapping.ca.items.setdefault(key, [None, None, None, None])[2] = CommentToken("\n" + below, CommentMark(0), None)


# -- convoys ------------------------------------------------------------------------------------


def _issues(doc: CommentedMap, path: str) -> CommentedSeq:
    spec = doc.get("spec")
    issues = spec.get("issues") if isinstance(spec, CommentedMap) else None
    if not isinstance(issues, CommentedSeq):
        raise refuse(path, doc.lc.line + 1, 1, ("spec", "issues"), "the convoy has no list of issues to edit")
    if not issues:
        issues.fa.set_flow_style()  # written []: an empty list has no block style to keep
    return issues


def _id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else item


def _index(issues: CommentedSeq, issue: str) -> int | None:
    return next((i for i, item in enumerate(issues) if _id(item) == issue), None)


def _item(issues: CommentedSeq, entry: IssueEntry) -> Any:
    """An entry as the list holds it: an id, or (with its own fields) a flow mapping."""
    if not entry.overrides:
        return entry.id
    item = CommentedMap([("id", entry.id), *entry.overrides.items()])
    item.fa.set_flow_style()
    return item


def _where(issues: CommentedSeq, index: int) -> tuple[int, int]:
    line, col = issues.lc.item(index)
    return line + 1, col + 1


def add_issues(text: str, path: str, convoy: str, entries: Sequence[IssueEntry]) -> str:
    """``text`` with ``entries`` appended to convoy ``convoy``'s issues; one already listed is refused."""

    def change(doc: CommentedMap) -> None:
        issues = _issues(doc, path)
        for entry in entries:
            found = _index(issues, entry.id)
            if found is not None:
                line, col = _where(issues, found)
                raise refuse(path, line, col, ("spec", "issues", found),
                             f"issue '{entry.id}' is already in convoy '{convoy}'")
            _append(issues, _item(issues, entry))

    return _edit(text, path, "Convoy", convoy, change)


def remove_issues(text: str, path: str, convoy: str, ids: Sequence[str]) -> str:
    """``text`` without ``ids`` in convoy ``convoy``; one not listed, or removing them all, is refused."""

    def change(doc: CommentedMap) -> None:
        issues = _issues(doc, path)
        listed = [_id(i) for i in issues]
        for issue in ids:
            if issue not in listed:
                raise refuse(path, issues.lc.line + 1, issues.lc.col + 1, ("spec", "issues"),
                             f"issue '{issue}' is not in convoy '{convoy}' (it lists {', '.join(map(str, listed))})")
        if set(listed) <= set(ids):
            raise refuse(path, issues.lc.line + 1, issues.lc.col + 1, ("spec", "issues"),
                         f"that would leave convoy '{convoy}' with no issue, and a convoy needs one: "
                         f"delete {path} (git rm) to drop the convoy")
        for issue in ids:
            found = _index(issues, issue)
            if found is not None:
                _delete(issues, found)

    return _edit(text, path, "Convoy", convoy, change)


def sling(text: str, path: str, convoy: str, entry: IssueEntry) -> tuple[str, Change]:
    """``text`` with ``entry`` in convoy ``convoy``: appended, or its listed entry given the fields
    ``entry`` sets (the others stay as they were). An entry with no field of its own is an id."""
    done: list[Change] = []

    def change(doc: CommentedMap) -> None:
        issues = _issues(doc, path)
        found = _index(issues, entry.id)
        if found is None:
            _append(issues, _item(issues, entry))
            done.append(Change.added)
            return
        item = issues[found]
        current = {f: item.get(f) for f in ENTRY_FIELDS} if isinstance(item, dict) else {}
        if all(current.get(f) == v for f, v in entry.overrides.items()):
            done.append(Change.unchanged)
            return
        if isinstance(item, CommentedMap):
            for field, value in entry.overrides.items():
                item[field] = value
        else:
            issues[found] = _item(issues, entry)
        done.append(Change.updated)

    edited = _edit(text, path, "Convoy", convoy, change)
    return (text if done[0] is Change.unchanged else edited), done[0]


def set_swarm(text: str, path: str, convoy: str, swarm: dict[str, str]) -> str:
    """``text`` with convoy ``convoy``'s ``spec.swarm`` set to ``swarm``: its fields changed in place
    when it has one, else added last, as a flow mapping."""

    def change(doc: CommentedMap) -> None:
        spec = doc.get("spec")
        if not isinstance(spec, CommentedMap):
            raise refuse(path, doc.lc.line + 1, 1, ("spec",), f"convoy '{convoy}' has no spec to edit")
        current = spec.get("swarm")
        if isinstance(current, CommentedMap):
            for field, value in swarm.items():
                current[field] = value
            return
        mapping = CommentedMap(swarm.items())
        mapping.fa.set_flow_style()
        if "swarm" in spec:  # swarm: null
            spec["swarm"] = mapping
            return
        keys = list(spec)
        spec.insert(len(keys), "swarm", mapping)
        _move_comment_below(spec, keys[-1], "swarm")

    return _edit(text, path, "Convoy", convoy, change)


# -- rigs -------------------------------------------------------------------------------------------

STATE_AFTER = ("beads", "branch", "repo")  # where a missing state goes: after these, as gt init writes it


def rig_state(text: str, path: str, rig: str) -> RigState:
    """The state the rig's document sets (active when it sets none)."""
    doc = _Documents(text, path).get("Rig", rig)
    spec = doc.get("spec")
    state = spec.get("state", RigState.active.value) if isinstance(spec, dict) else RigState.active.value
    return RigState(state)


def set_rig_state(text: str, path: str, rig: str, state: RigState) -> str:
    """``text`` with rig ``rig``'s ``spec.state`` set to ``state`` (added after its repo, branch
    or beads when the rig sets none)."""

    def change(doc: CommentedMap) -> None:
        spec = doc.get("spec")
        if not isinstance(spec, CommentedMap):
            raise refuse(path, doc.lc.line + 1, 1, ("spec",), f"rig '{rig}' has no spec to edit")
        if "state" in spec:
            spec["state"] = state.value
            return
        keys = list(spec)
        after = next((keys.index(k) for k in STATE_AFTER if k in spec), len(keys) - 1)
        spec.insert(after + 1, "state", state.value)
        _move_comment_below(spec, keys[after], "state")

    return _edit(text, path, "Rig", rig, change)
