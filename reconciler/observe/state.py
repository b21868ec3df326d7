"""Observers: read tmux, Beads, Git and .gt/ into ``ObservedState``. They never change anything."""

from __future__ import annotations

from reconciler.clients.sessions import observe_sessions
from reconciler.clients.stores import StoreFactory
from reconciler.clients.tmux import Tmux
from reconciler.model import DesiredState
from reconciler.model.observed import ObservedState
from reconciler.observe.issues import observe_rigs
from reconciler.observe.programs import observe_programs


def observe(desired: DesiredState, tmux: Tmux, stores: StoreFactory) -> ObservedState:
    """Everything the planner needs: tmux (sessions and their panes), each rig's store and
    worktrees, where the agents' programs are, and the crash and failure history."""
    from reconciler.clients import history

    return ObservedState(
        sessions=observe_sessions(tmux, screens=True),
        rigs=observe_rigs(desired, stores),
        crashes=history.load(desired.root),
        programs=observe_programs(desired),
        failures=history.load_failures(desired.root),
    )



