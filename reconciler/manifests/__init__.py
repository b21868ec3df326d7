"""Manifests: read YAML, validate against the schemas, build the typed model."""
