"""Pure planning: no I/O, no clock; the time is passed in."""

from .actions import MARKERS, Action, Level, Note, Op, Plan, WorkerSpec
from .planner import plan

__all__ = ["MARKERS", "Action", "Level", "Note", "Op", "Plan", "WorkerSpec", "plan"]
