"""The JSON Schemas of the manifests: loading, validating, defaults, bundling.

The schema files are the contract; defaults are taken from their ``default``
keywords so that what the docs say and what the loader does cannot drift.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from reconciler.manifests.yamlsource import Pointer

KIND_FILES = {
    "Town": "town.schema.json",
    "Rig": "rig.schema.json",
    "Convoy": "convoy.schema.json",
    "Routing": "routing.schema.json",
}
COMMON_FILE = "common.schema.json"


@cache
def raw_schema(filename: str) -> dict[str, Any]:
    text = resources.files("reconciler").joinpath("schemas", filename).read_text("utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def kind_for(name: str) -> str | None:
    """The kind a user means by ``name`` (case-insensitive), or None."""
    for kind in KIND_FILES:
        if kind.lower() == name.lower():
            return kind
    return None


def bundled_schema(kind: str) -> dict[str, Any]:
    """The schema of ``kind`` with the common definitions inlined: one self-contained file."""
    schema = copy.deepcopy(raw_schema(KIND_FILES[kind]))
    common = raw_schema(COMMON_FILE)["$defs"]

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(COMMON_FILE + "#"):
                node["$ref"] = ref[len(COMMON_FILE) :]
            return {k: rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    bundled: dict[str, Any] = rewrite(schema)
    # Common definitions refer to each other with '#/$defs/...', which stays valid.
    bundled["$defs"] = {**copy.deepcopy(common), **bundled.get("$defs", {})}
    return bundled


def _anchored(pattern: str) -> str:
    """ECMA-262 '$' (what JSON Schema means) never matches before a final newline; Python's does."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern


@cache
def _validator(kind: str) -> Any:
    import re

    import jsonschema
    from jsonschema import ValidationError

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "string") and not re.search(_anchored(patrn), instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    strict = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, {"pattern": pattern})
    return strict(inlined(bundled_schema(kind)))


ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated"})


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The bundled schema with every local ``$ref`` replaced by what it names.

    The same constraints, without a reference lookup each time a node is checked: that
    lookup was a third of validating a manifest. The schemas' definitions are not
    recursive, so the expansion ends.
    """
    defs = schema.get("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, list):
            return [expand(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: expand(v) for k, v in node.items() if k not in ("$ref", "$defs")}
        ref = node.get("$ref")
        if not (isinstance(ref, str) and ref.startswith("#/$defs/")):
            return out
        target = expand(defs[ref[len("#/$defs/"):]])
        if set(out) <= ANNOTATIONS:
            return {**target, **out}
        return {"allOf": [target], **out}

    return {k: v for k, v in expand(schema).items()}


def resolve(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    """Follow a local ``$ref`` of the bundled schema of ``kind``."""
    while "$ref" in schema:
        ref = schema["$ref"]
        target: Any = bundled_schema_cached(kind)
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        schema = merged
    return schema


@cache
def bundled_schema_cached(kind: str) -> dict[str, Any]:
    return bundled_schema(kind)


def wants_text(schema: Any, kind: str) -> bool:
    """Whether a schema node asks for a string (directly, or as one of its alternatives)."""
    if not isinstance(schema, dict):
        return False
    schema = resolve(schema, kind)
    types = schema.get("type")
    if types == "string" or (isinstance(types, list) and "string" in types):
        return True
    return any(wants_text(sub, kind) for sub in schema.get("anyOf", []) + schema.get("oneOf", []))


def iter_schema_errors(kind: str, instance: Any) -> Iterator[tuple[Pointer, str, str, bool]]:
    """(pointer of the offending node, which mark to use, message, whether text was wanted there)
    for each violation.

    The mark is ``"key"`` when the key itself is wrong (an unknown field) and
    ``"node"`` otherwise.
    """
    instance, moved = _without_plain_items(kind, instance)
    for error in _by_path(_validator(kind).iter_errors(instance)):
        for pointer, where, message, text_wanted in _located(error, kind):
            yield _moved_back(pointer, moved), where, message, text_wanted


# Long lists whose items are mostly plain strings (a convoy's issue ids) cost jsonschema an
# `anyOf` evaluation each. Items that are strings and pass the string alternative checked here
# directly (the same type, pattern and length), when unique, are left out of what jsonschema
# sees but one, which keeps minItems honest; everything else is validated by jsonschema as usual.
_PLAIN_LISTS: dict[str, tuple[str, ...]] = {"Convoy": ("spec", "issues")}


@cache
def _plain_check(kind: str) -> Any:
    import re

    at = _PLAIN_LISTS.get(kind)
    if at is None:
        return None
    node: dict[str, Any] = bundled_schema_cached(kind)
    for key in at:
        node = resolve(node, kind)["properties"][key]
    alternatives = resolve(node, kind)["items"].get("anyOf") or []
    plain = resolve(alternatives[0], kind) if alternatives else {}
    if plain.get("type") != "string" or set(plain) - {"type", "pattern", "maxLength", "title", "description"}:
        return None
    pattern = re.compile(_anchored(plain["pattern"])) if "pattern" in plain else None
    longest = plain.get("maxLength")
    return lambda v: isinstance(v, str) and (longest is None or len(v) <= longest) and \
        (pattern is None or pattern.search(v) is not None)


Moved = tuple[tuple[str, ...], list[int]]  # the list's pointer, and where each item it kept was


def _without_plain_items(kind: str, instance: Any) -> tuple[Any, Moved | None]:
    """``instance`` with the plain items of its long list left out, and where each kept item was."""
    check, at = _plain_check(kind), _PLAIN_LISTS.get(kind)
    if check is None or at is None or not isinstance(instance, dict):
        return instance, None
    spec: Any = instance.get(at[0])
    items = spec.get(at[1]) if isinstance(spec, dict) else None
    if not isinstance(items, list) or len(items) < 2:
        return instance, None
    plain = [i for i, v in enumerate(items) if check(v)]
    if len({items[i] for i in plain}) != len(plain):
        return instance, None  # a repeated id: jsonschema says where
    kept = [i for i in range(len(items)) if i not in set(plain)] + plain[:1]
    kept.sort()
    return {**instance, at[0]: {**spec, at[1]: [items[i] for i in kept]}}, (at, kept)


def _moved_back(pointer: Pointer, moved: Moved | None) -> Pointer:
    if moved is None:
        return pointer
    at, kept = moved
    n = len(at)
    index = pointer[n] if pointer[:n] == at and len(pointer) > n else None
    return (*at, kept[index], *pointer[n + 1:]) if isinstance(index, int) else pointer


def _by_path(errors: Any) -> list[Any]:
    return sorted(errors, key=lambda e: list(map(str, e.absolute_path)))


def _chosen_alternative(error: Any) -> list[Any]:
    """Of a value that matched no alternative, the errors of the alternative of its own type
    (a mapping where a string or a mapping is allowed): those say what is really wrong."""
    groups: dict[Any, list[Any]] = {}
    for sub in error.context:
        groups.setdefault(sub.relative_schema_path[0], []).append(sub)
    for subs in groups.values():
        if not any(s.validator == "type" and not s.relative_path for s in subs):
            return subs
    return []


def _located(error: Any, kind: str) -> Iterator[tuple[Pointer, str, str, bool]]:
    if error.validator in ("anyOf", "oneOf"):
        chosen = _chosen_alternative(error)
        if chosen:
            for sub in _by_path(chosen):
                yield from _located(sub, kind)
            return
    pointer: Pointer = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        known = set(allowed)
        for key in error.instance:
            if key not in known:
                hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
                yield pointer + (key,), "key", f"unknown field '{key}'{hint}", False
        return
    if "propertyNames" in error.relative_schema_path:
        # The key itself is wrong: point at it, not at the mapping holding it.
        yield pointer + (str(error.instance),), "key", _message(error, kind), False
        return
    text_wanted = not isinstance(error.instance, str) and wants_text(error.schema, kind)
    yield pointer, "node", _message(error, kind), text_wanted


def _message(error: Any, kind: str) -> str:
    schema = error.schema
    if error.validator == "pattern":
        title = resolve(error.schema, kind).get("title") if isinstance(schema, dict) else None
        what = f"a valid {title}" if title else "valid"
        return f"{error.instance!r} is not {what}: must match {error.validator_value}"
    if error.validator == "const":
        return f"{error.instance!r} is not allowed here: must be {error.validator_value!r}"
    if error.validator == "enum":
        choices = ", ".join(map(str, error.validator_value))
        return f"{error.instance!r} is not one of: {choices}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"missing required field '{missing}'"
    if error.validator == "anyOf":
        # e.g. a rig prefix: show the most specific reason instead of "not valid under any".
        best = min(error.context, key=lambda e: len(e.absolute_schema_path), default=None)
        if best is not None and best.validator == "pattern":
            return _message(best, kind)
    return str(error.message)


def apply_defaults(kind: str, instance: Any) -> Any:
    """A copy of a valid ``instance`` with every absent property set to its schema default."""
    return _fill(bundled_schema_cached(kind), instance, kind)


def _fill(schema: dict[str, Any], value: Any, kind: str) -> Any:
    schema = _alternative(resolve(schema, kind), value, kind)
    if isinstance(value, dict) and schema.get("type") in ("object", ["object", "null"]):  # null: optional
        props: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for key, sub in value.items():
            sub_schema = props.get(key, extra if isinstance(extra, dict) else {})
            out[key] = _fill(sub_schema, sub, kind)
        for key, sub_schema in props.items():
            if key not in out:
                sub_schema = resolve(sub_schema, kind)
                if "default" in sub_schema:
                    out[key] = _fill(sub_schema, copy.deepcopy(sub_schema["default"]), kind)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_fill(schema["items"], v, kind) for v in value]
    return value


_JSON_TYPES: dict[type, str] = {dict: "object", list: "array", str: "string"}


def _alternative(schema: dict[str, Any], value: Any, kind: str) -> dict[str, Any]:
    """Of a schema with alternatives (an issue id, or a mapping with the id), the one of
    the value's own type, so its defaults are the ones filled in; else the schema itself."""
    if "type" in schema:
        return schema
    wanted = _JSON_TYPES.get(type(value))
    for sub in schema.get("anyOf", []) + schema.get("oneOf", []):
        sub = resolve(sub, kind)
        if sub.get("type") == wanted:
            return sub
    return schema
