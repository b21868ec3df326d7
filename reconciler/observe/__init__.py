"""Observers: read tmux, Beads, Git and .gt/ into ObservedState. They never change anything."""
