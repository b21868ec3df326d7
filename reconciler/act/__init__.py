"""Executors: carry out actions and report outcomes; they never print."""

from .executor import Executor, Outcome, Result

__all__ = ["Executor", "Outcome", "Result"]
