"""Global CLI settings, town discovery and terminal styling (kept import-light)."""

from __future__ import annotations

import enum
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from reconciler.errors import NotATown, TownNotFound


class OutputMode(str, enum.Enum):
    human = "human"
    json = "json"
    markdown = "markdown"  # gt diff --base: a pull-request comment; elsewhere read as human


class ColorMode(str, enum.Enum):
    auto = "auto"
    always = "always"
    never = "never"


_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
# paint() marks a style with these private-use characters; echo() turns them into ANSI codes only
# after every control character in the line was escaped, so text from a store or a manifest (an
# issue title with an escape sequence or a newline) can never colour, move or forge a line.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"{_OPEN}([0-9;]*){_CLOSE}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """Control characters (and bidi overrides) as visible escapes: ``\\n``, ``\\x1b``, ``\\u202e``."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                                   else f"\\u{ord(m.group()):04x}"), text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, not counting the style marks of ``Settings.paint``
    (all of them are kept, so a style opened before the cut is still closed)."""
    out: list[str] = []
    shown = 0
    for part in re.split(f"({_OPEN}[0-9;]*{_CLOSE})", text):
        if part.startswith(_OPEN):
            out.append(part)
        else:
            out.append(part[:max(width - shown, 0)])
            shown += len(out[-1])
    return "".join(out)


@dataclass(frozen=True)
class Settings:
    town: Path | None = None
    output: OutputMode = OutputMode.human
    color: ColorMode = ColorMode.auto
    town_from_option: bool = True  # False: it came from GT_TOWN

    @property
    def json(self) -> bool:
        return self.output is OutputMode.json

    def colored(self, stream: TextIO) -> bool:
        """Colour only on a terminal, never with NO_COLOR set, always when asked."""
        if self.color is ColorMode.never:
            return False
        if self.color is ColorMode.always:
            return True
        return not os.environ.get("NO_COLOR") and stream.isatty()

    def paint(self, text: str, *styles: str, stream: TextIO | None = None) -> str:
        if not styles or not self.colored(stream or sys.stdout):
            return text
        codes = ";".join(_STYLES[s] for s in styles)
        return f"{_OPEN}{codes}{_CLOSE}{text}{_OPEN}0{_CLOSE}"

    def echo(self, text: str, *, err: bool = False) -> None:
        """Print one line: control characters escaped, then gt's own styles where colour is on."""
        import typer

        colored = self.colored(sys.stderr if err else sys.stdout)
        line = _MARK.sub(lambda m: f"\x1b[{m.group(1)}m" if colored else "", escape_controls(text))
        typer.echo(line, err=err, color=colored)

    def town_root(self) -> Path:
        """The town: --town (or GT_TOWN), else the nearest directory holding manifests/."""
        if self.town is not None:
            root = self.town.resolve()
            if not (root / "manifests").is_dir():
                source = "--town" if self.town_from_option else "GT_TOWN"
                raise NotATown(str(self.town), source)
            return root
        return find_town(Path.cwd())


def find_town(start: Path) -> Path:
    """Walk up from ``start`` to the directory holding ``manifests/``, as git finds .git."""
    here = start.resolve()
    for candidate in (here, *here.parents):
        if (candidate / "manifests").is_dir():
            return candidate
    raise TownNotFound(str(here))
