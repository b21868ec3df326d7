"""Observers: read tmux, Beads, Git and .gt/ into ``ObservedState``. They never change anything."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from reconciler.clients.runtime import Runtime
from reconciler.clients.stores import StoreFactory
from reconciler.errors import ObserveError, ReconcilerError
from reconciler.model.actions import SESSION_ONLY, Action, Op
from reconciler.model.desired import DesiredState
from reconciler.model.observed import ObservedState
from reconciler.observe.issues import observe_rig, observe_rigs
from reconciler.observe.programs import observe_programs


def observe(desired: DesiredState, runtime: Runtime, stores: StoreFactory) -> ObservedState:
    """Everything the planner needs: the runtime's sessions and their screens, each rig's store and
    worktrees, where the agents' programs are, and the crash and failure history."""
    from reconciler.clients import handoffs, history

    return ObservedState(
        sessions=runtime.sessions(screens=True),
        rigs=observe_rigs(desired, stores),
        crashes=history.load(desired.root),
        programs=observe_programs(desired),
        failures=history.load_failures(desired.root),
        handoffs=handoffs.load(desired.root),
        announced=observe_announced(desired),
    )


def observe_announced(desired: DesiredState) -> frozenset[str] | None:
    """The convoys whose landing was mailed already; None when the mail cannot be read, so that an
    unreadable store never makes every pass announce again."""
    from reconciler.clients.stores import town_store
    from reconciler.model.mail import CONVOY_LABEL, MessageType

    if not desired.convoys:
        return frozenset()
    try:
        sent = town_store(desired).list(label=f"msg-type:{MessageType.CONVOY_LANDED.value}")
    except (ReconcilerError, OSError):
        return None
    return frozenset(label[len(CONVOY_LABEL):] for m in sent for label in m.labels if label.startswith(CONVOY_LABEL))





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
    rigs = tuple(observe_rig(desired, desired.rig(r.name), stores) if r.name in touched else r
                 for r in before.rigs)
    return replace(before, sessions=runtime.sessions(screens=True), rigs=rigs,
                   crashes=history.load(desired.root), failures=history.load_failures(desired.root),
                   handoffs=handoffs.load(desired.root),
                   announced=observe_announced(desired) if any(a.op is Op.announce for a in done)
                   else before.announced)
