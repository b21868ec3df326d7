"""Pure planning: no I/O, no clock; the time is passed in."""

from .actions import MARKERS, Action, Note, Op, Plan, WorkerSpec
from .planner import plan

__all__ = ["MARKERS", "Action", "Note", "Op", "Plan", "WorkerSpec", "plan"]
