"""The session runtime: everything gt does to worker sessions, behind one interface.

The planner and the executor never name tmux. They see sessions as ``ObservedSession``
values and change them through a ``Runtime``: start (cwd, env, argv and stamps given at
creation), stop, stamp, send keys, type text, capture the screen, list with stamps,
screens and the programs running under each pane. Local tmux (``TmuxRuntime``) is the
implementation gt ships; a runtime on other machines implements the same methods.
docs/runtime.md describes the contract each method keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.model.observed import ObservedSession

GENERATION = "generation"  # the stamp that tells one start of a session from the next


@dataclass(frozen=True)
class SessionStart:
    """One session to create; ``stamps`` must hold a unique ``generation``.

    ``env`` must hold ``PATH``: the command is looked up and run with it. A session of
    the same name that already exists is replaced.
    """

    name: str
    cwd: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    stamps: Mapping[str, str] = field(default_factory=dict)

    @property
    def generation(self) -> str:
        return self.stamps.get(GENERATION, "")


class Runtime(Protocol):
    """Where worker sessions run. Every method raises ``TerminalError`` on failure."""

    @property
    def where(self) -> str:
        """A short name for messages, e.g. ``tmux -L gt-demo``."""
        ...

    def sessions(self, *, screens: bool = False) -> tuple[ObservedSession, ...]:
        """Every session, sorted by name, with stamps, liveness and the programs under it;
        with ``screens`` also each worker's visible text (a dead one's last output too)."""
        ...

    def refuse(self, start: SessionStart) -> str | None:
        """Why ``start`` could never succeed here (too large for the runtime), asked before anything
        is prepared for it; None when it can be tried."""
        ...

    def start(self, starts: Sequence[SessionStart]) -> dict[str, str]:
        """Start them all; a session counts as started only once it is seen with its
        generation. Returns why, by session name, for each that did not start."""
        ...

    def stop(self, name: str) -> None:
        """End a session and everything in it; a session that is already gone is fine."""
        ...

    def stamp(self, name: str, stamps: Mapping[str, str]) -> None:
        """Set stamps on a session; ``sessions()`` reports them from then on."""
        ...

    def send_keys(self, name: str, keys: Sequence[str]) -> None:
        """Press named keys (``Enter``, ``Down``, ``C-c``), one after another."""
        ...

    def type_text(self, name: str, text: str) -> None:
        """Type ``text`` literally; nothing in it is read as a key name."""
        ...

    def capture(self, name: str) -> str:
        """The session's visible screen as text."""
        ...

    def terminate(self, grace: float) -> int:
        """Ask every program to end (SIGTERM), wait up to ``grace`` seconds, then end every
        session and the runtime itself. Returns how many sessions there were."""
        ...
