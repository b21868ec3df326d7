"""Every session of the town in one ``list-panes -a`` call, stamps included."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from reconciler.clients.processes import process_names
from reconciler.clients.tmux import Tmux, target
from reconciler.model.observed import ObservedSession, Stamps

STAMP_OPTIONS = ("rig", "worker", "issue", "generation", "fingerprint", "nudges", "last_nudge", "help",
                 "prompted", "answers", "agent")
FIELDS = (
    "#{session_name}", "#{pane_index}", "#{pane_pid}", "#{pane_current_command}", "#{pane_dead}",
    "#{pane_dead_status}", "#{session_activity}", "#{session_created}",
    *(f"#{{@gt_{name}}}" for name in STAMP_OPTIONS),
)
DEAD_HISTORY = 60  # lines of history read from a dead pane
SCREEN_MARK = "\x1fgt-screen\x1f"  # a unit separator: never in a pane's captured text


def _number(text: str, default: float = 0.0) -> float:
    try:
        return float(text)
    except ValueError:
        return default


def parse_row(row: list[str]) -> ObservedSession | None:
    if len(row) != len(FIELDS):
        return None
    name, _index, pid, command, dead, dead_status, activity, created, *stamps = row
    values = dict(zip(STAMP_OPTIONS, stamps, strict=True))
    return ObservedSession(
        name=name,
        pane_pid=int(_number(pid)),
        command=command,
        dead=dead == "1",
        exit_status=int(dead_status) if dead == "1" and dead_status.lstrip("-").isdigit() else None,
        activity=_number(activity),
        created=_number(created),
        stamps=Stamps(
            rig=values["rig"], worker=values["worker"], issue=values["issue"],
            generation=values["generation"], fingerprint=values["fingerprint"],
            nudges=int(_number(values["nudges"])), last_nudge=_number(values["last_nudge"]),
            help=values["help"], prompted=values["prompted"],
            answers=int(_number(values["answers"])), agent=values["agent"],
        ),
    )


def observe_sessions(tmux: Tmux, *, screens: bool = False) -> tuple[ObservedSession, ...]:
    """The first pane of each session (the one gt started), sorted by session name.

    With ``screens``, the text of every worker's pane is read too (in as few tmux
    calls as fit), so the planner can see dialogs, ready prompts and why an agent died.
    """
    first: dict[str, tuple[int, ObservedSession]] = {}
    for row in tmux.list_panes(FIELDS):
        session = parse_row(row)
        if session is None:
            continue
        index = int(_number(row[1]))
        if session.name not in first or index < first[session.name][0]:
            first[session.name] = (index, session)
    sessions = [s for _, (_, s) in sorted(first.items())]
    if screens:
        texts = read_screens(tmux, [s.name for s in sessions if s.stamps.worker],
                             {s.name for s in sessions if s.dead})
        sessions = [_with_screen(s, texts.get(s.name)) for s in sessions]
    names = process_names(s.pane_pid for s in sessions if not s.dead)
    if names is None:
        return tuple(sessions)
    return tuple(replace(s, processes=names.get(s.pane_pid, ())) if not s.dead else s
                 for s in sessions)


def _with_screen(session: ObservedSession, screen: tuple[str, ...] | None) -> ObservedSession:
    """The session with its pane text; a dead one whose status tmux missed gets the launcher's."""
    session = replace(session, screen=screen)
    if session.dead and session.exit_status is None:
        session = replace(session, exit_status=session.launcher_status())
    return session


def read_screens(tmux: Tmux, names: list[str], dead: set[str]) -> dict[str, tuple[str, ...]]:
    """Each session's visible pane text, trailing blank lines dropped; one marker line before each.

    A dead pane's text is read with its history too: when a pane dies, tmux scrolls what the
    program printed off the screen to show its own "Pane is dead" line.
    """
    groups = [[["display-message", "-p", "-t", target(name), SCREEN_MARK + name.replace("#", "##")],
               ["capture-pane", "-p", "-J", *(["-S", f"-{DEAD_HISTORY}"] if name in dead else []),
                "-t", target(name)]] for name in names]
    texts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for result in tmux.run_groups(groups):
        for line in result.stdout:
            if line.startswith(SCREEN_MARK):
                current = texts.setdefault(line[len(SCREEN_MARK):], [])
            elif current is not None:
                current.append(line.rstrip())  # -J keeps trailing spaces; a prompt's are noise
    out = {}
    for name, lines in texts.items():
        while lines and not lines[-1].strip():
            lines.pop()
        out[name] = tuple(lines)
    return out


@dataclass(frozen=True)
class SessionFacts:
    """What ``gt import`` reads of a session it may describe: where its first pane runs, the
    environment tmux gives it, and the stamps gt left on it (empty for a session gt did not make)."""

    name: str
    cwd: str
    env: Mapping[str, str]
    stamps: Stamps


def session_facts(tmux: Tmux) -> tuple[SessionFacts, ...]:
    """Every session on the socket, sorted by name; one ``show-environment`` per session."""
    rows = tmux.list_panes(["#{session_name}", "#{pane_index}", "#{pane_current_path}",
                            *(f"#{{@gt_{name}}}" for name in ("rig", "worker", "issue", "agent"))])
    first: dict[str, list[str]] = {}
    for row in rows:
        if len(row) == 7 and (row[0] not in first or int(_number(row[1])) < int(_number(first[row[0]][1]))):
            first[row[0]] = row
    facts = []
    for name, (_, _, cwd, rig, worker, issue, agent) in sorted(first.items()):
        shown = tmux.run(["show-environment", "-t", target(name)])
        env = dict(line.split("=", 1) for line in shown.stdout if "=" in line and not line.startswith("-"))
        facts.append(SessionFacts(name, cwd, env, Stamps(rig=rig, worker=worker, issue=issue, agent=agent)))
    return tuple(facts)
