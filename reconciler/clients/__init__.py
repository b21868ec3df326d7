"""The only code that touches the world: tmux, git, the Beads stores, files under .gt/, processes."""
