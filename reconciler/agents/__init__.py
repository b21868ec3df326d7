"""Agents shipped with gt: small programs that behave like a coding agent."""
