"""Every session of the town in one ``list-panes -a`` call, stamps included."""

from __future__ import annotations

from dataclasses import replace

from ..observed import ObservedSession, Stamps
from ..tmux import Tmux
from .processes import process_names

STAMP_OPTIONS = ("rig", "worker", "issue", "generation", "fingerprint", "nudges", "last_nudge", "help")
FIELDS = (
    "#{session_name}", "#{pane_index}", "#{pane_pid}", "#{pane_current_command}", "#{pane_dead}",
    "#{session_activity}", "#{session_created}",
    *(f"#{{@gt_{name}}}" for name in STAMP_OPTIONS),
)


def _number(text: str, default: float = 0.0) -> float:
    try:
        return float(text)
    except ValueError:
        return default


def parse_row(row: list[str]) -> ObservedSession | None:
    if len(row) != len(FIELDS):
        return None
    name, _index, pid, command, dead, activity, created, *stamps = row
    values = dict(zip(STAMP_OPTIONS, stamps, strict=True))
    return ObservedSession(
        name=name,
        pane_pid=int(_number(pid)),
        command=command,
        dead=dead == "1",
        activity=_number(activity),
        created=_number(created),
        stamps=Stamps(
            rig=values["rig"], worker=values["worker"], issue=values["issue"],
            generation=values["generation"], fingerprint=values["fingerprint"],
            nudges=int(_number(values["nudges"])), last_nudge=_number(values["last_nudge"]),
            help=values["help"],
        ),
    )


def observe_sessions(tmux: Tmux) -> tuple[ObservedSession, ...]:
    """The first pane of each session (the one gt started), sorted by session name."""
    first: dict[str, tuple[int, ObservedSession]] = {}
    for row in tmux.list_panes(FIELDS):
        session = parse_row(row)
        if session is None:
            continue
        index = int(_number(row[1]))
        if session.name not in first or index < first[session.name][0]:
            first[session.name] = (index, session)
    sessions = [s for _, (_, s) in sorted(first.items())]
    names = process_names(s.pane_pid for s in sessions if not s.dead)
    if names is None:
        return tuple(sessions)
    return tuple(replace(s, processes=names.get(s.pane_pid, ())) if not s.dead else s
                 for s in sessions)
