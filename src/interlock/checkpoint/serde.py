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
import hashlib
import importlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from interlock.errors import SerializationError

__all__ = ["digest", "dumps", "ensure_serializable", "loads", "to_jsonable"]

TAG = "__il"
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


class _Unstorable(Exception):
    """Internal: the fast encoder met a value it cannot store; `to_jsonable` finds its path."""

    def __init__(self, type_name: str, reason: str | None = None) -> None:
        super().__init__(reason)
        self.type_name = type_name
        self.reason = reason or (
            f"{self.type_name} is not serialisable; store plain data (str, numbers, lists, "
            "dicts), dataclasses, enums or pydantic models instead"
        )


def to_jsonable(value: Any, path: str = "") -> Any:
    """`value` as plain JSON data (with tags); raises `SerializationError` with its path.

    Example:
        >>> to_jsonable({"at": (1, 2)})
        {'at': {'__il': 'tuple', 'v': [1, 2]}}
    """
    try:
        return _enc(value)
    except _Unstorable:
        where, exc = _locate(value, path)
        where = where or "value"
        raise SerializationError(
            f"cannot store {where}: {exc.reason}", path=where, type_name=exc.type_name
        ) from None


def _enc(value: Any) -> Any:
    """The encoder: no path bookkeeping (paths are only worked out when something fails)."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if value != value or value in (_INF, _NINF):
            return {TAG: "float", "v": repr(value)}
        return value
    if t is list:
        return [_enc(v) for v in value]
    if t is dict:
        for k in value:
            if type(k) is not str:
                return {TAG: "map", "v": [[_enc(k), _enc(v)] for k, v in value.items()]}
        if TAG in value:
            return {TAG: "dict", "v": [[k, _enc(v)] for k, v in value.items()]}
        return {k: _enc(v) for k, v in value.items()}
    encoder = _ENCODERS.get(t)
    if encoder is not None:
        return encoder(value)
    return _encode_other(value)


_INF = float("inf")
_NINF = float("-inf")


def _encode_other(value: Any) -> Any:
    """Encode a value of a type seen for the first time, and remember an encoder for it."""
    encoder = _encoder_for(type(value))
    if encoder is None:
        raise _Unstorable(type(value).__qualname__)
    _ENCODERS[type(value)] = encoder
    return encoder(value)


def _encoder_for(cls: type) -> Callable[[Any], Any] | None:
    from interlock._types import Command

    if issubclass(cls, enum.Enum):
        tag = _class_tag(cls)
        return lambda v: {TAG: "enum", "cls": tag, "v": _enc(v.value)}
    if dataclasses.is_dataclass(cls):
        tag, fields = _class_tag(cls), _dc_fields(cls)

        def encode_dataclass(v: Any) -> Any:
            out = {}
            for name, default in fields:
                item = getattr(v, name)
                if default is not _MISSING and type(item) is type(default) and item == default:
                    continue  # defaults are restored on load
                out[name] = _enc(item)
            return {TAG: "dc", "cls": tag, "v": out}

        return encode_dataclass
    if hasattr(cls, "model_dump") and hasattr(cls, "model_validate"):
        tag = _class_tag(cls)
        return lambda v: {TAG: "pyd", "cls": tag, "v": {k: _enc(x) for k, x in _pyd_fields(v)}}
    if issubclass(cls, Command):
        return lambda v: {TAG: "cmd", "v": _enc(_command_fields(v))}
    for base in (list, tuple, dict, set, frozenset):
        if issubclass(cls, base):  # namedtuple, OrderedDict, defaultdict ... as their base
            return lambda v, base=base: _enc(base(v))  # type: ignore[misc]
    return None


def _pyd_fields(value: Any) -> list[tuple[str, Any]]:
    """A pydantic model's field values as they are (objects inside keep their types, as in
    a dataclass), then its extra fields."""
    pairs = [(name, getattr(value, name)) for name in type(value).model_fields]
    return pairs + list((getattr(value, "model_extra", None) or {}).items())


def _command_fields(value: Any) -> dict[str, Any]:
    data = {"update": value.update, "goto": value.goto, "graph": value.graph}
    if value.has_resume:
        data["resume"] = value.resume
    return data


_tag_cache: dict[type, str] = {}


def _class_tag(cls: type) -> str:
    """`module:qualname` of a class, checked once to load back (so reads never fail)."""
    tag = _tag_cache.get(cls)
    if tag is None:
        tag = _qualname(cls)
        try:
            _load_class(tag)
        except SerializationError:
            raise _Unstorable(
                cls.__qualname__,
                f"class {cls.__module__}.{cls.__qualname__} cannot be imported back by its "
                "path (defined inside a function?); define it at module level",
            ) from None
        _tag_cache[cls] = tag
    return tag


_SAME = object()
"""A child stored at its parent's path (an enum's value, a pydantic model's fields)."""


def _children(value: Any) -> list[tuple[Any, Any]]:
    """`(key, child)` pairs the encoder descends into, for locating a failure."""
    from interlock._types import Command

    if isinstance(value, dict):
        pairs: list[tuple[Any, Any]] = []
        for k, v in value.items():
            if type(k) is not str:
                pairs.append((f"<key {k!r}>", k))
            pairs.append((k, v))
        return pairs
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(enumerate(value))
    if isinstance(value, enum.Enum):
        return [(_SAME, value.value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(name, getattr(value, name)) for name, _ in _dc_fields(type(value))]
    if hasattr(value, "model_dump") and hasattr(type(value), "model_validate"):
        return _pyd_fields(value)
    if isinstance(value, Command):
        return list(_command_fields(value).items())
    return []


def _locate(value: Any, path: str) -> tuple[str, _Unstorable]:
    """The key path of the first part of `value` that cannot be stored, and why."""
    for key, child in _children(value):
        try:
            _enc(child)
        except _Unstorable:
            return _locate(child, path if key is _SAME else _path(path, key))
    try:
        _enc(value)
    except _Unstorable as exc:
        return path, exc
    raise AssertionError("unreachable: the value encodes")  # pragma: no cover


def _enc_tuple(v: tuple) -> Any:
    return {TAG: "tuple", "v": [_enc(x) for x in v]}


def _enc_set(v: set | frozenset) -> Any:
    items = [_enc(x) for x in v]
    with contextlib.suppress(TypeError):
        items.sort(key=lambda x: json.dumps(x, sort_keys=True))
    return {TAG: "set" if type(v) is set else "frozenset", "v": items}


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    tuple: _enc_tuple,
    set: _enc_set,
    frozenset: _enc_set,
    bytes: lambda v: {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")},
    bytearray: lambda v: {TAG: "bytes", "v": base64.b64encode(bytes(v)).decode("ascii")},
    dt.datetime: lambda v: {TAG: "datetime", "v": v.isoformat()},
    dt.date: lambda v: {TAG: "date", "v": v.isoformat()},
    dt.time: lambda v: {TAG: "time", "v": v.isoformat()},
    dt.timedelta: lambda v: {TAG: "timedelta", "v": v.total_seconds()},
    uuid.UUID: lambda v: {TAG: "uuid", "v": str(v)},
    decimal.Decimal: lambda v: {TAG: "decimal", "v": str(v)},
}

_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any, path: str = "") -> str:
    """Serialise `value` to JSON text (compact, UTF-8 kept).

    Example:
        >>> dumps({"ids": {1, 2}})
        '{"ids":{"__il":"set","v":[1,2]}}'
    """
    return _json_encode(to_jsonable(value, path))


def ensure_serializable(value: Any, path: str = "value") -> None:
    """Raise `SerializationError` (with the key path) if `value` cannot be stored.

    Example:
        >>> ensure_serializable({"to": "ada@example.com"}, "payload")
    """
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
    decoder = _DECODERS.get(obj[TAG])
    if decoder is None:
        raise SerializationError(f"unknown stored tag {obj[TAG]!r}")
    return decoder(obj)


def _dec_dataclass(obj: dict[str, Any]) -> Any:
    cls = _load_class(obj["cls"])
    v = obj["v"]
    init = _init_fields(cls)
    if init.issuperset(v):
        return cls(**v)
    inst = cls(**{k: x for k, x in v.items() if k in init})
    for k, x in v.items():
        if k not in init:
            object.__setattr__(inst, k, x)
    return inst


def _dec_command(obj: dict[str, Any]) -> Any:
    from interlock._types import Command

    v = obj["v"]
    kwargs = {k: v[k] for k in ("update", "goto", "graph", "resume") if k in v}
    return Command(**kwargs)


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "dc": _dec_dataclass,
    "tuple": lambda o: tuple(o["v"]),
    "dict": lambda o: {k: x for k, x in o["v"]},
    "set": lambda o: set(o["v"]),
    "frozenset": lambda o: frozenset(o["v"]),
    "map": lambda o: {_hashable(k): x for k, x in o["v"]},
    "bytes": lambda o: base64.b64decode(o["v"]),
    "datetime": lambda o: dt.datetime.fromisoformat(o["v"]),
    "date": lambda o: dt.date.fromisoformat(o["v"]),
    "time": lambda o: dt.time.fromisoformat(o["v"]),
    "timedelta": lambda o: dt.timedelta(seconds=o["v"]),
    "uuid": lambda o: uuid.UUID(o["v"]),
    "decimal": lambda o: decimal.Decimal(o["v"]),
    "float": lambda o: float(o["v"]),
    "enum": lambda o: _load_class(o["cls"])(o["v"]),
    "pyd": lambda o: _load_class(o["cls"]).model_validate(o["v"]),  # type: ignore[attr-defined]
    "cmd": _dec_command,
}


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


_json_decode = json.JSONDecoder(object_hook=_hook).decode
"""One decoder for every `loads` (`json.loads` with a hook builds one per call)."""


def loads(text: str | bytes) -> Any:
    """Deserialise what `dumps` wrote."""
    if isinstance(text, str):
        return _json_decode(text)
    return json.loads(text, object_hook=_hook)


def digest(value: Any) -> str:
    """The SHA-256 digest (hex) of `value`'s canonical JSON: tagged as stored, keys sorted,
    no spaces. Equal values give equal digests whatever their key order.

    Example:
        >>> digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
        True
    """
    return hashlib.sha256(_canonical(to_jsonable(value)).encode()).hexdigest()


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
"""JSON text with sorted keys and no spaces (for digests)."""
