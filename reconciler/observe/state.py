"""Observers: read tmux, Beads, Git and .gt/ into ``ObservedState``. They never change anything."""

from __future__ import annotations

from reconciler.clients.runtime import Runtime
from reconciler.clients.stores import StoreFactory
from reconciler.model import DesiredState
from reconciler.model.observed import ObservedState
from reconciler.observe.issues import observe_rigs
from reconciler.observe.programs import observe_programs


def observe(desired: DesiredState, runtime: Runtime, stores: StoreFactory) -> ObservedState:
    """Everything the planner needs: the runtime's sessions and their screens, each rig's store and
    worktrees, where the agents' programs are, and the crash and failure history."""
    from reconciler.clients import history

    return ObservedState(
        sessions=runtime.sessions(screens=True),
        rigs=observe_rigs(desired, stores),
        crashes=history.load(desired.root),
        programs=observe_programs(desired),
        failures=history.load_failures(desired.root),
    )



