"""Pure planning: no I/O, no clock; the time is passed in."""
