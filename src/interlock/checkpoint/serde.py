"""JSON serialisation with typed tags: what stores write and read back.

Plain JSON values are written as they are. Other values become a tagged object
`{"__il": tag, ...}`: tuples, sets, bytes, datetimes, UUIDs, decimals, enums, dicts with
non-string keys, dataclasses and pydantic models (by `module:qualname`), and `Command`.
A plain dict that happens to contain the tag key is escaped, so every value round-trips.

Anything else fails in `dumps` with `SerializationError` naming its key path and type — at
write time, before anything is stored, never at read time.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from interlock.errors import SerializationError

__all__ = ["dumps", "ensure_serializable", "loads", "to_jsonable"]

TAG = "__il"
_ATOMS = (str, int, float, bool, type(None))
_class_cache: dict[str, type] = {}


def _path(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def _qualname(cls: type) -> str:
    module = cls.__module__
    if module.startswith("interlock."):
        module = "~" + module[len("interlock.") :]  # a shorter tag for our own classes
    return f"{module}:{cls.__qualname__}"


_MISSING = object()
_defaults_cache: dict[type, list[tuple[str, Any]]] = {}


def _dc_fields(cls: type) -> list[tuple[str, Any]]:
    """`(name, default or _MISSING)` of the fields stored for a dataclass."""
    fields = _defaults_cache.get(cls)
    if fields is None:
        fields = []
        for f in dataclasses.fields(cls):
            if not f.init and f.name.startswith("_"):
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = _MISSING
            fields.append((f.name, default))
        _defaults_cache[cls] = fields
    return fields


def to_jsonable(value: Any, path: str = "") -> Any:
    """`value` as plain JSON data (with tags); raises `SerializationError` with its path."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            return {TAG: "float", "v": repr(value)}
        return value
    if t is list:
        return [to_jsonable(v, _path(path, i)) for i, v in enumerate(value)]
    if t is dict:
        if all(type(k) is str for k in value):
            if TAG in value:
                return {
                    TAG: "dict",
                    "v": [[k, to_jsonable(v, _path(path, k))] for k, v in value.items()],
                }
            return {k: to_jsonable(v, _path(path, k)) for k, v in value.items()}
        return {
            TAG: "map",
            "v": [
                [to_jsonable(k, _path(path, f"<key {k!r}>")), to_jsonable(v, _path(path, k))]
                for k, v in value.items()
            ],
        }
    encoder = _ENCODERS.get(t)
    if encoder is not None:
        return encoder(value, path)
    return _encode_other(value, path)


def _encode_other(value: Any, path: str) -> Any:
    from interlock.types import Command

    if isinstance(value, enum.Enum):
        return {TAG: "enum", "cls": _qualname(type(value)), "v": to_jsonable(value.value, path)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {}
        for name, default in _dc_fields(type(value)):
            item = getattr(value, name)
            if default is not _MISSING and type(item) is type(default) and item == default:
                continue  # defaults are restored on load
            fields[name] = to_jsonable(item, _path(path, name))
        return {TAG: "dc", "cls": _qualname(type(value)), "v": fields}
    if hasattr(value, "model_dump") and hasattr(type(value), "model_validate"):
        data = value.model_dump(mode="python")
        return {TAG: "pyd", "cls": _qualname(type(value)), "v": to_jsonable(data, path)}
    if isinstance(value, Command):
        data = {
            "update": value.update,
            "goto": value.goto,
            "graph": value.graph,
        }
        if value.has_resume:
            data["resume"] = value.resume
        return {TAG: "cmd", "v": to_jsonable(data, path)}
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        base = next(b for b in (list, tuple, dict, set, frozenset) if isinstance(value, b))
        return to_jsonable(base(value), path)
    where = path or "value"
    raise SerializationError(
        f"cannot store {where}: {type(value).__qualname__} is not serialisable; store plain "
        "data (str, numbers, lists, dicts), dataclasses or pydantic models instead",
        path=where,
        type_name=type(value).__qualname__,
    )


def _enc_tuple(v: tuple, p: str) -> Any:
    return {TAG: "tuple", "v": [to_jsonable(x, _path(p, i)) for i, x in enumerate(v)]}


def _enc_set(v: set | frozenset, p: str) -> Any:
    items = [to_jsonable(x, _path(p, i)) for i, x in enumerate(v)]
    with contextlib.suppress(TypeError):
        items.sort(key=lambda x: json.dumps(x, sort_keys=True))
    return {TAG: "set" if type(v) is set else "frozenset", "v": items}


_ENCODERS: dict[type, Callable[[Any, str], Any]] = {
    tuple: _enc_tuple,
    set: _enc_set,
    frozenset: _enc_set,
    bytes: lambda v, p: {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")},
    bytearray: lambda v, p: {TAG: "bytes", "v": base64.b64encode(bytes(v)).decode("ascii")},
    dt.datetime: lambda v, p: {TAG: "datetime", "v": v.isoformat()},
    dt.date: lambda v, p: {TAG: "date", "v": v.isoformat()},
    dt.time: lambda v, p: {TAG: "time", "v": v.isoformat()},
    dt.timedelta: lambda v, p: {TAG: "timedelta", "v": v.total_seconds()},
    uuid.UUID: lambda v, p: {TAG: "uuid", "v": str(v)},
    decimal.Decimal: lambda v, p: {TAG: "decimal", "v": str(v)},
}


def dumps(value: Any, path: str = "") -> str:
    """Serialise `value` to JSON text (compact, UTF-8 kept)."""
    return json.dumps(to_jsonable(value, path), separators=(",", ":"), ensure_ascii=False)


def ensure_serializable(value: Any, path: str = "value") -> None:
    """Raise `SerializationError` (with the key path) if `value` cannot be stored."""
    to_jsonable(value, path)


# ---- reading -----------------------------------------------------------------------------


def _load_class(name: str) -> type:
    cls = _class_cache.get(name)
    if cls is not None:
        return cls
    module, _, qual = name.partition(":")
    if module.startswith("~"):
        module = "interlock." + module[1:]
    try:
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise SerializationError(f"stored value refers to unknown class {name!r}: {exc}") from exc
    if not isinstance(obj, type) or not (
        dataclasses.is_dataclass(obj)
        or issubclass(obj, enum.Enum)
        or hasattr(obj, "model_validate")
    ):
        raise SerializationError(
            f"refusing to load {name!r}: only dataclasses, enums and pydantic models are "
            "restored from storage"
        )
    _class_cache[name] = obj
    return obj


def _decode_tagged(obj: dict[str, Any]) -> Any:
    """Decode one tagged object whose contents are already decoded (bottom-up)."""
    tag = obj[TAG]
    v: Any = obj.get("v")
    if tag == "dict":
        return {k: x for k, x in v}
    if tag == "tuple":
        return tuple(v)
    if tag == "set":
        return set(v)
    if tag == "frozenset":
        return frozenset(v)
    if tag == "map":
        return {_hashable(k): x for k, x in v}
    if tag == "bytes":
        return base64.b64decode(v)
    if tag == "datetime":
        return dt.datetime.fromisoformat(v)
    if tag == "date":
        return dt.date.fromisoformat(v)
    if tag == "time":
        return dt.time.fromisoformat(v)
    if tag == "timedelta":
        return dt.timedelta(seconds=v)
    if tag == "uuid":
        return uuid.UUID(v)
    if tag == "decimal":
        return decimal.Decimal(v)
    if tag == "float":
        return float(v)
    if tag == "enum":
        return _load_class(obj["cls"])(v)
    if tag == "dc":
        cls = _load_class(obj["cls"])
        init = _init_fields(cls)
        inst = cls(**{k: x for k, x in v.items() if k in init})
        for k, x in v.items():
            if k not in init:
                object.__setattr__(inst, k, x)
        return inst
    if tag == "pyd":
        return _load_class(obj["cls"]).model_validate(v)  # type: ignore[attr-defined]
    if tag == "cmd":
        from interlock.types import Command

        kwargs = {k: v[k] for k in ("update", "goto", "graph") if k in v}
        if "resume" in v:
            kwargs["resume"] = v["resume"]
        return Command(**kwargs)
    raise SerializationError(f"unknown stored tag {tag!r}")


_init_cache: dict[type, frozenset[str]] = {}


def _init_fields(cls: type) -> frozenset[str]:
    names = _init_cache.get(cls)
    if names is None:
        names = frozenset(f.name for f in dataclasses.fields(cls) if f.init)
        _init_cache[cls] = names
    return names


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _hook(obj: dict[str, Any]) -> Any:
    if TAG in obj:
        return _decode_tagged(obj)
    return obj


def from_jsonable(value: Any) -> Any:
    """Inverse of `to_jsonable` (for data already parsed from JSON)."""
    return json.loads(json.dumps(value), object_hook=_hook)


def loads(text: str | bytes) -> Any:
    """Deserialise what `dumps` wrote."""
    return json.loads(text, object_hook=_hook)
