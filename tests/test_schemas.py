"""The schemas are complete, self-describing and ship with the package."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler.manifests.schemas import KIND_FILES, bundled_schema, resolve

from .conftest import REPO_ROOT


def _properties(schema: dict[str, Any], kind: str, path: str = "$") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(path, property schema, required?) for every declared property, recursively."""
    schema = resolve(schema, kind)
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}", sub, name in required
        yield from _properties(sub, kind, f"{path}.{name}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _properties(extra, kind, f"{path}.*")
    items = schema.get("items")
    if isinstance(items, dict):
        yield from _properties(items, kind, f"{path}[]")
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []):  # e.g. an id, or {id, model}
        yield from _properties(alternative, kind, path)


@pytest.mark.parametrize("kind", list(KIND_FILES))
def test_every_field_has_a_description_and_a_default(kind: str) -> None:
    schema = bundled_schema(kind)
    missing = []
    for path, sub, required in _properties(schema, kind):
        resolved = resolve(sub, kind)
        if "description" not in resolved:
            missing.append(f"{path}: no description")
        # apiVersion and kind are fixed by const; a when-condition is absent unless written.
        optional_condition = ".when." in path
        if not required and "default" not in resolved and not optional_condition:
            missing.append(f"{path}: no default")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("kind", list(KIND_FILES))
def test_objects_reject_unknown_fields(kind: str) -> None:
    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                yield node
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    for obj in walk(bundled_schema(kind)):
        assert obj.get("additionalProperties") is False, sorted(obj["properties"])


def test_schemas_ship_inside_the_package() -> None:
    shipped = {p.name for p in resources.files("reconciler").joinpath("schemas").iterdir()}
    assert set(KIND_FILES.values()) | {"common.schema.json"} <= shipped
    for name in shipped:
        on_disk = (REPO_ROOT / "schemas" / name).read_text()
        assert resources.files("reconciler").joinpath("schemas", name).read_text() == on_disk


@pytest.mark.parametrize("kind", list(KIND_FILES))
def test_bundled_schema_is_self_contained_and_accepts_the_examples(kind: str) -> None:
    schema = json.loads(json.dumps(bundled_schema(kind)))
    refs = [m for m in json.dumps(schema).split('"$ref": ')[1:]]
    assert all(r.startswith('"#/') for r in refs)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    docs = [d for p in sorted((REPO_ROOT / "manifests").rglob("*.yaml"))
            for d in yaml.safe_load_all(p.read_text()) if d and d.get("kind") == kind]
    assert docs, f"the examples show no {kind}"
    for doc in docs:
        assert list(validator.iter_errors(doc)) == []


@pytest.mark.parametrize("kind", list(KIND_FILES))
def test_readme_documents_every_field(kind: str) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split(f"### {kind}", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    undocumented = []
    for path, _, _ in _properties(bundled_schema(kind), kind):
        if not path.startswith("$.spec.") or ".when." in path:
            continue
        leaf = path.rsplit(".", 1)[1].rstrip("[]")
        if leaf != "*" and leaf not in section:
            undocumented.append(path)
    assert not undocumented, undocumented


def test_defaults_live_in_the_schemas_alone() -> None:
    """The model built from manifests has no defaults of its own, so a schema default is the
    only one: a change to it reaches every user, and no second copy can drift."""
    import dataclasses

    from reconciler.model.desired import (
        ConvoySpec,
        CrashLoopPolicy,
        DesiredState,
        IssueOverride,
        ModelSpec,
        RefineryPolicy,
        RigSpec,
        TownSpec,
        WitnessPolicy,
    )

    backed = (TownSpec, CrashLoopPolicy, RigSpec, WitnessPolicy, RefineryPolicy, ConvoySpec, ModelSpec,
              IssueOverride)
    with_default = [f"{cls.__name__}.{f.name}" for cls in backed for f in dataclasses.fields(cls)
                    if f.name != "source" and (f.default is not dataclasses.MISSING
                                               or f.default_factory is not dataclasses.MISSING)]
    assert with_default == []
    assert dataclasses.fields(DesiredState)[0].default is dataclasses.MISSING  # the town, too


def test_a_town_without_a_town_manifest_gets_the_schema_defaults(tmp_path: Any) -> None:
    from reconciler.manifests.build import town

    town_schema = json.loads((REPO_ROOT / "schemas" / "town.schema.json").read_text())
    controller = town_schema["properties"]["spec"]["properties"]["controller"]["properties"]
    spec = town(None, "plain")
    assert spec.name == "plain" and spec.source is None
    assert spec.max_spawns_per_pass == controller["maxSpawnsPerPass"]["default"]
    assert spec.overseer == town_schema["properties"]["spec"]["properties"]["overseer"]["default"]
