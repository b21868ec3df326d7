"""Executors: carry out actions and report outcomes; they never print."""
