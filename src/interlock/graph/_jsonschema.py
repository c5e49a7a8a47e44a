"""A small JSON-schema checker for `interrupt(response_schema=...)` answers.

Covers what response schemas use: type, properties, required, additionalProperties, items,
prefixItems, minItems/maxItems, enum, const, minimum/maximum, minLength/maxLength,
anyOf/oneOf (reporting the closest alternative), if/then/else, and local `$ref`s (pydantic puts
nested models under `$defs`; an embedded schema with its own `$defs` resolves against itself).
Returns readable problems; an empty list means valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["schema_errors"]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list, tuple),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_errors(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Problems of `value` against `schema`, as `path: message` strings."""
    problems: list[str] = []
    _check(value, schema, schema, "answer", problems)
    return problems


def _type_ok(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(name, (object,)))


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {})
        return node
    return schema


def _check(value: Any, schema: Any, root: Mapping[str, Any], path: str, out: list[str]) -> None:
    if not isinstance(schema, Mapping):
        return
    if "$defs" in schema:
        root = schema  # refs inside an embedded schema resolve against it
    schema = _resolve(schema, root)
    if "if" in schema:
        probe: list[str] = []
        _check(value, schema["if"], root, path, probe)
        branch = schema.get("else") if probe else schema.get("then")
        if branch is not None:
            _check(value, branch, root, path, out)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches: list[list[str]] = []
            for sub in schema[key]:
                errs: list[str] = []
                _check(value, sub, root, path, errs)
                if not errs:
                    return
                branches.append(errs)
            if branches:
                out.extend(sorted(branches, key=len)[0])
            return
    typ = schema.get("type")
    if typ is not None:
        names = typ if isinstance(typ, list) else [typ]
        if not any(_type_ok(value, n) for n in names):
            out.append(f"{path}: expected {' or '.join(names)}, got {type(value).__name__}")
            return
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: must be one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: must be {schema['const']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: must be <= {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{path}: must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: must have at most {schema['maxLength']} characters")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{path}.{name}: required")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                _check(item, props[name], root, f"{path}.{name}", out)
            elif extra is False:
                out.append(f"{path}.{name}: not allowed")
            elif isinstance(extra, Mapping):
                _check(item, extra, root, f"{path}.{name}", out)
    if isinstance(value, (list, tuple)):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(f"{path}: needs at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: allows at most {schema['maxItems']} items, got {len(value)}")
        prefix = schema.get("prefixItems") or []
        for i, item in enumerate(value):
            if i < len(prefix):
                _check(item, prefix[i], root, f"{path}[{i}]", out)
            elif isinstance(schema.get("items"), Mapping):
                _check(item, schema["items"], root, f"{path}[{i}]", out)
