"""Apply an edit made on a re-rendered text to the original text, line by line.

A round-trip YAML library renders a whole file again, and not every line comes back as it was
(aligned columns, ``null`` spelt out). ``merge_lines`` takes the change between two renderings
(before the edit and after it) and makes only that change to the original: lines the edit did
not touch keep their bytes. A pure function of three texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True)
class _Chunk:
    """Lines ``b[b1:b2]`` of the base rendering are lines ``o[o1:o2]`` of the original."""

    b1: int
    b2: int
    o1: int
    o2: int


def _chunks(base: list[str], original: list[str]) -> list[_Chunk]:
    """The two texts cut into matching pieces: one line where they agree, a run where they do not."""
    chunks: list[_Chunk] = []
    for tag, b1, b2, o1, o2 in SequenceMatcher(None, base, original, autojunk=False).get_opcodes():
        if tag == "equal":
            chunks.extend(_Chunk(b1 + k, b1 + k + 1, o1 + k, o1 + k + 1) for k in range(b2 - b1))
        else:
            chunks.append(_Chunk(b1, b2, o1, o2))
    return chunks


def merge_lines(original: str, base: str, edited: str) -> str:
    """``original`` with the change from ``base`` to ``edited`` made to it.

    ``base`` and ``edited`` render the same document before and after an edit. A hunk of that
    change that meets a line ``base`` renders differently from ``original`` takes that whole
    run from ``edited``; everything else comes from ``original`` unchanged.
    """
    o, b, e = (text.splitlines(keepends=True) for text in (original, base, edited))
    chunks = [c for c in _chunks(b, o) if c.b1 < c.b2]  # lines only the original has stay put
    start = {c.b1: c for c in chunks}
    end = {c.b2: c for c in chunks}
    containing = {i: c for c in chunks for i in range(c.b1, c.b2)}
    hunks = _hunks(SequenceMatcher(None, b, e, autojunk=False).get_opcodes(), containing)
    out: list[str] = []
    at = 0  # next line of the original to copy
    for b1, b2, e1, e2 in hunks:
        if b1 < b2:
            o1, o2 = start[b1].o1, end[b2].o2
        else:  # a pure insertion goes right after the line before it
            o1 = o2 = end[b1].o2 if b1 in end else 0
        out.extend(o[at:o1])
        out.extend(_keep_comment_gap(o[o1:o2], e[e1:e2]))
        at = o2
    out.extend(o[at:])
    return "".join(out)


def _hunks(opcodes: Sequence[tuple[str, int, int, int, int]],
           containing: dict[int, _Chunk]) -> list[tuple[int, int, int, int]]:
    """The changes as (b1, b2, e1, e2), each widened to whole chunks, overlapping ones joined.

    Widening takes in lines the edit kept (equal in ``base`` and ``edited``), so the edited range
    grows by as many lines as the base range.
    """
    hunks: list[tuple[int, int, int, int]] = []
    for tag, b1, b2, e1, e2 in opcodes:
        if tag == "equal":
            continue
        lo, hi = b1, b2
        if b1 < b2:
            lo, hi = containing[b1].b1, containing[b2 - 1].b2
        elif b1 in containing and containing[b1].b1 < b1:  # an insertion inside a re-rendered run
            lo, hi = containing[b1].b1, containing[b1].b2
        if hunks and lo < hunks[-1][1]:
            first_lo, last_hi, first_e, _ = hunks.pop()
            lo, hi, e1 = first_lo, max(hi, last_hi), first_e
            hunks.append((lo, hi, e1, e2 + (hi - b2)))
        else:
            hunks.append((lo, hi, e1 - (b1 - lo), e2 + (hi - b2)))
    return hunks


COMMENT_GAP = 2  # spaces before a trailing comment that no longer fits in its column


def _keep_comment_gap(old: list[str], new: list[str]) -> list[str]:
    """One line replaced by one line with the same trailing comment: the comment keeps its column
    when the new text fits before it, else it follows two spaces after (fewer if it had fewer)."""
    if len(old) != 1 or len(new) != 1:
        return new
    before, after = old[0].rstrip("\n"), new[0].rstrip("\n")
    for k in range(1, len(before)):
        if before[k] == "#" and before[k - 1] in " \t" and after.endswith(before[k:]):
            comment = before[k:]
            old_text = before[:k].rstrip()
            new_text = after[: len(after) - len(comment)].rstrip()
            if new_text == after[: len(after) - len(comment)]:
                return new  # no space before it in the new line: not a comment there
            gap = k - len(old_text)
            pad = k - len(new_text) if len(new_text) + 1 <= k else min(gap, COMMENT_GAP)
            return [new_text + " " * pad + comment + new[0][len(after):]]
    return new
