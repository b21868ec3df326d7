"""Regular expressions from manifests, run on RE2: time linear in the text, whatever the pattern.

A title rule or a ready/busy/dialog pattern is matched against text gt does not
control (issue titles, whatever a pane shows), many times a pass. Python's ``re``
backtracks: a pattern like ``(a+)+$`` against an ordinary line can run for minutes
and freeze the controller. RE2 (Google's engine, through the ``google-re2`` binding)
never backtracks; the price is that lookarounds and backreferences are refused, at
file:line, when the manifests are loaded. Python's ``\\Z`` and ``\\uXXXX`` are
accepted and translated.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Protocol

import re2


class Pattern(Protocol):
    def search(self, text: str) -> Any: ...


class PatternError(ValueError):
    """A pattern RE2 does not accept; the message says why."""


_END = re.compile(r"(?<!\\)((?:\\\\)*)\\Z")
_UNICODE = re.compile(r"(?<!\\)((?:\\\\)*)\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")


def translated(pattern: str) -> str:
    """Python's spellings RE2 lacks: ``\\Z`` (end of text) and ``\\uXXXX``/``\\UXXXXXXXX``."""
    pattern = _END.sub(r"\1\\z", pattern)
    return _UNICODE.sub(lambda m: f"{m.group(1)}\\x{{{m.group(2) or m.group(3)}}}", pattern)


@lru_cache(maxsize=512)
def compiled(pattern: str) -> Pattern:
    options = re2.Options()
    options.log_errors = False  # the error is ours to report, at file:line
    try:
        result: Pattern = re2.compile(translated(pattern), options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"{reason} (patterns run on RE2: no lookarounds or backreferences)") from None
    return result
