"""Observers: read tmux and Beads into ``ObservedState``. They never change anything."""

from __future__ import annotations

from ..model import DesiredState
from ..observed import ObservedState
from ..tmux import Tmux
from .issues import StoreFactory, observe_rigs
from .sessions import observe_sessions


def observe(desired: DesiredState, tmux: Tmux, stores: StoreFactory) -> ObservedState:
    """Everything the planner needs: one tmux call, one read of each rig's store, the crash log."""
    from .. import crashlog

    return ObservedState(observe_sessions(tmux), observe_rigs(desired, stores), crashlog.load(desired.root))


__all__ = ["StoreFactory", "observe", "observe_rigs", "observe_sessions"]
