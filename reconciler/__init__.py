"""gt: a declarative reconciler for Gas Town."""

__version__ = "0.1.0"
