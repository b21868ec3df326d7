"""Manifests: read YAML, validate against the schemas, build the typed model."""

from .loader import display_path, load_desired_state, manifest_files

__all__ = ["display_path", "load_desired_state", "manifest_files"]
