"""Molecules: an issue's ordered workflow of steps, and its progress as Beads keeps it.

Pure functions of an issue's labels and notes, so that the progress lives in the issue itself
(in Beads) and survives a restart of the worker, of the controller, or a lost ``.gt/``:

* the step the issue is at is its label ``gt:step:<n>`` (1-based; no such label: step 1);
* each finished step leaves one line in the issue's notes,
  ``[gt:step 2/3] <commit> <step text> -- <note>``;
* ``gt mol squash`` folds those lines into one digest block at the end of the notes.

The steps themselves are declared in the convoy (``ConvoySpec.steps_for``), never copied into
the issue, and never into a session's environment: a new step is not drift.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

STEP_LABEL = "gt:step:"  # + the current step's number
_LINE = re.compile(r"^\[gt:step (?P<n>[0-9]+)/(?P<total>[0-9]+)\] (?P<body>.*)$")
DIGEST_HEAD = "[gt:mol digest]"
_ITEM = re.compile(r"^  \[(?P<n>[0-9]+)/(?P<total>[0-9]+)\] (?P<body>.*)$")
TEXT_IN_LINE = 200  # characters of a step's text kept in its line of the notes


def step_label(n: int) -> str:
    return f"{STEP_LABEL}{n}"


def step_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """The ``gt:step:<n>`` labels among ``labels`` (one, normally)."""
    return tuple(x for x in labels if x.startswith(STEP_LABEL))


def current_step(labels: Iterable[str]) -> int:
    """The step an issue is at: the highest ``gt:step:<n>`` label, else 1."""
    found = [int(x[len(STEP_LABEL):]) for x in step_labels(labels) if x[len(STEP_LABEL):].isdigit()]
    return max([n for n in found if n >= 1], default=1)


def one_line(text: str, limit: int = TEXT_IN_LINE) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True)
class Progress:
    """Where an issue is in its molecule."""

    steps: tuple[str, ...]
    current: int  # 1-based; a number past the last step (the molecule was shortened) is the last
    done: bool  # the issue is reported done: its last step is finished too

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def text(self) -> str:
        return self.steps[self.current - 1]

    @property
    def last(self) -> bool:
        return self.current == self.total

    def state(self, n: int) -> str:
        """``done``, ``current`` or ``pending``, for step ``n``."""
        if n < self.current or (self.done and n == self.current):
            return "done"
        return "current" if n == self.current else "pending"

    def as_dict(self) -> dict[str, object]:
        return {"step": self.current, "total": self.total, "text": self.text, "done": self.done,
                "steps": [{"n": n, "text": t, "state": self.state(n)} for n, t in enumerate(self.steps, 1)]}


def progress(steps: tuple[str, ...], labels: Iterable[str], done: bool) -> Progress | None:
    """The progress of an issue whose molecule has ``steps``; None when it has none."""
    if not steps:
        return None
    return Progress(steps, min(current_step(labels), len(steps)), done)


def step_line(n: int, total: int, commit: str, text: str, note: str = "") -> str:
    """The line a finished step leaves in the issue's notes."""
    tail = f" -- {one_line(note)}" if note.strip() else ""
    return f"[gt:step {n}/{total}] {commit[:12] or '-'} {one_line(text)}{tail}"


def record_step(notes: str, n: int, line: str) -> str:
    """``notes`` with ``line`` appended, and any earlier line of step ``n`` dropped (a step
    finished again, after a failed merge, is recorded once)."""
    kept = [x for x in notes.splitlines() if not ((m := _LINE.match(x)) and int(m["n"]) == n)]
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, line]) + "\n"


def finished_lines(notes: str) -> tuple[str, ...]:
    """The step lines in ``notes`` not squashed yet."""
    return tuple(x for x in notes.splitlines() if _LINE.match(x))


@dataclass(frozen=True)
class Squashed:
    notes: str  # the new notes
    digest: str  # the digest block, as it ends the notes
    folded: int  # step lines folded by this squash


def squash(notes: str, when: str) -> Squashed | None:
    """``notes`` with every step line (and an earlier digest) folded into one digest block at
    their end; None when there is no step line to fold. Other lines stay as they were."""
    items: dict[int, tuple[int, str]] = {}
    kept: list[str] = []
    folded = 0
    in_digest = False
    for line in notes.splitlines():
        if line.startswith(DIGEST_HEAD):
            in_digest = True
            continue
        item = _ITEM.match(line) if in_digest else None
        if item is not None:
            items[int(item["n"])] = (int(item["total"]), item["body"])
            continue
        in_digest = False
        step = _LINE.match(line)
        if step is not None:
            items[int(step["n"])] = (int(step["total"]), step["body"])
            folded += 1
            continue
        kept.append(line)
    if not folded:
        return None
    while kept and not kept[-1].strip():
        kept.pop()
    total = items[max(items)][0]
    head = f"{DIGEST_HEAD} {len(items)} of {total} step{'s' if total != 1 else ''} done, squashed {when}"
    digest = "\n".join([head, *(f"  [{n}/{t}] {body}" for n, (t, body) in sorted(items.items()))])
    return Squashed("\n".join([*kept, *([""] if kept else []), digest]) + "\n", digest, folded)


def step_prompt(at: Progress) -> str:
    """What a worker is told of its step, in its start prompt and by gt prime: one paragraph
    (typed prompts cannot hold a newline). Empty once the issue is reported done."""
    if at.done:
        return ""
    head = f"This issue is a molecule of {at.total} steps, done in order on your branch; you are at step " \
           f"{at.current} of {at.total}{' (the last)' if at.last else ''}: {one_line(at.text, 400)}"
    if at.last:
        return head + " Commit it, then run `gt done --continue` (or `gt done`): the refinery merges your branch."
    return head + (" Do this step only, commit it, then run `gt done --continue`: it records the step and "
                   "tells you the next one (`gt mol current` shows where you are).")
