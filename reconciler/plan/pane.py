"""What a worker's pane shows, judged from its text by what its agent declares. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from reconciler.model.desired import AgentSpec, Dialog
from reconciler.model.patterns import compiled as _compiled


class Pane(str, enum.Enum):
    unread = "unread"  # the pane's text was not read
    dialog = "dialog"  # one of the agent's known dialogs: gt answers it
    busy = "busy"  # the agent says it is working
    ready = "ready"  # the agent waits for input: a prompt or nudge may be typed
    unknown = "unknown"  # none of the above: maybe a dialog gt does not know


@dataclass(frozen=True)
class PaneReading:
    state: Pane
    dialog: Dialog | None = None


def read_pane(agent: AgentSpec, screen: tuple[str, ...] | None) -> PaneReading:
    """Known dialogs first (their cursors can look like a prompt), then busy, then ready."""
    if screen is None:
        return PaneReading(Pane.unread)
    text = "\n".join(screen)
    for dialog in agent.dialogs:
        if _compiled(dialog.match).search(text):
            return PaneReading(Pane.dialog, dialog)
    if agent.busy and _compiled(agent.busy).search(text):
        return PaneReading(Pane.busy)
    if agent.ready and _compiled(agent.ready).search(text):
        return PaneReading(Pane.ready)
    return PaneReading(Pane.unknown)
