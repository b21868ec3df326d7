"""The controller (steward): watch, reconcile on change and on an interval, one pass at a time."""

from .controller import Controller, PassResult
from .lock import LockHeld, TownLock, holder_alive

__all__ = ["Controller", "LockHeld", "PassResult", "TownLock", "holder_alive"]
