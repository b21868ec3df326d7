"""Observers: read tmux, Beads, Git and .gt/ into ``ObservedState``. They never change anything."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from reconciler.clients.runtime import Runtime
from reconciler.clients.stores import StoreFactory
from reconciler.errors import ObserveError, ReconcilerError
from reconciler.model.actions import SESSION_ONLY, Action, Op

MAILS = (Op.announce, Op.merge, Op.escalate)  # actions that write the mail a pass reads (landings, reworks, HELP)
from reconciler.model.costs import IssueUsage
from reconciler.model.desired import DesiredState
from reconciler.model.observed import ObservedState
from reconciler.observe.issues import observe_rig, observe_rigs
from reconciler.observe.programs import observe_programs


def observe(desired: DesiredState, runtime: Runtime, stores: StoreFactory, *, usage: bool = False) -> ObservedState:
    """Everything the planner needs: the runtime's sessions and their screens, each rig's store and
    worktrees, where the agents' programs are, and the crash and failure history; the tokens the
    agents used too where a budget needs them (or ``usage`` asks)."""
    from reconciler.clients import handoffs, history

    announced, rework, escalated = observe_mail(desired)
    return ObservedState(
        sessions=runtime.sessions(screens=True),
        rigs=observe_rigs(desired, stores),
        crashes=history.load(desired.root),
        programs=observe_programs(desired),
        failures=history.load_failures(desired.root),
        handoffs=handoffs.load(desired.root),
        announced=announced,
        rework=rework,
        usage=observe_usage(desired) if usage or desired.budgeted else (),
        escalated=escalated,
    )


def observe_mail(desired: DesiredState) -> tuple[frozenset[str] | None, frozenset[str], frozenset[str] | None]:
    """From the town's mail, in one read: the convoys whose landing was mailed already (None when
    the mail cannot be read, so that an unreadable store never makes every pass announce again),
    the workers with an unread REWORK_REQUEST, and the budgets whose HELP went out (their labels;
    None likewise)."""
    from reconciler.clients.stores import town_store
    from reconciler.model.costs import BUDGET_LABEL
    from reconciler.model.mail import CONVOY_LABEL, MESSAGE_LABEL, Envelope, MessageType

    try:
        mail = town_store(desired).list(label=MESSAGE_LABEL)
    except (ReconcilerError, OSError):
        return None, frozenset(), None
    announced: set[str] = set()
    rework: set[str] = set()
    escalated: set[str] = set()
    for m in mail:
        kind = Envelope.of(m.labels).kind
        if kind is MessageType.CONVOY_LANDED:
            announced.update(label[len(CONVOY_LABEL):] for label in m.labels if label.startswith(CONVOY_LABEL))
        elif kind is MessageType.REWORK_REQUEST and m.status != "closed" and m.assignee:
            rework.add(m.assignee)
        elif kind is MessageType.HELP:
            escalated.update(label for label in m.labels if label.startswith(BUDGET_LABEL))
    return frozenset(announced), frozenset(rework), frozenset(escalated)


def observe_usage(desired: DesiredState) -> tuple[IssueUsage, ...]:
    """The tokens each rig's workers used, per issue, from Claude Code's transcripts."""
    from reconciler.clients.transcripts import rig_usage
    from reconciler.model.paths import TownPaths

    paths = TownPaths(desired.root)
    return tuple(u for rig in desired.rigs for u in rig_usage(rig.name, paths.worktrees(rig.name)))


def observe_spending(desired: DesiredState, stores: StoreFactory) -> ObservedState:
    """What gt costs reads: each rig's store and the tokens its workers used; no session."""
    return ObservedState(rigs=observe_rigs(desired, stores), usage=observe_usage(desired))




def observe_for_review(desired: DesiredState, runtime: Runtime, stores: StoreFactory) -> ObservedState:
    """What a review plans against: the sessions if tmux can list them (none in a CI job without
    tmux), the stores as they are, and agents taken as declared (a CI job has no agent programs)."""
    try:
        sessions = runtime.sessions(screens=False)
    except ObserveError:
        sessions = ()
    return ObservedState(sessions=sessions, rigs=observe_rigs(desired, stores))


def observe_after(desired: DesiredState, runtime: Runtime, stores: StoreFactory, before: ObservedState,
                  done: Iterable[Action]) -> ObservedState:
    """``before``, brought up to date after ``done``: the sessions and the history are read again,
    and the store and worktrees of each rig an action changed; every other rig is kept as seen."""
    from reconciler.clients import handoffs, history

    done = list(done)
    if not done:
        return before
    touched = {a.rig for a in done if a.op not in SESSION_ONLY}
    announced, rework, escalated = observe_mail(desired) if any(a.op in MAILS for a in done) else \
        (before.announced, before.rework, before.escalated)
    # A merge closes an issue, whose tokens then count as spent.
    usage = observe_usage(desired) if desired.budgeted and any(a.op is Op.merge for a in done) else before.usage
    rigs = tuple(observe_rig(desired, desired.rig(r.name), stores) if r.name in touched else r
                 for r in before.rigs)
    return replace(before, sessions=runtime.sessions(screens=True), rigs=rigs,
                   crashes=history.load(desired.root), failures=history.load_failures(desired.root),
                   handoffs=handoffs.load(desired.root),
                   announced=announced, rework=rework, usage=usage, escalated=escalated)
