"""JSON serialisation with typed tags."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from interlock import Command, Interrupt, Send, SerializationError
from interlock.checkpoint.serde import dumps, ensure_serializable, loads


class Color(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    tags: list[str] = field(default_factory=list)


VALUES = [
    None,
    True,
    3,
    2.5,
    "text ☃",
    [1, [2]],
    {"a": {"b": 1}},
    (1, "two"),
    {1, 2},
    frozenset({"x"}),
    b"\x00\xff",
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.date(2026, 1, 2),
    dt.time(3, 4),
    dt.timedelta(seconds=90),
    uuid.UUID(int=7),
    decimal.Decimal("1.10"),
    Color.RED,
    {(1, 2): "tuple key", 3: "int key"},
    Point(1, ["a"]),
    Point(2),
    Interrupt(value={"q": 1}, id="x"),
    Send("node", {"a": 1}),
    {"__il": "looks like a tag", "v": 1},
    [{"__il": ["nested"]}],
]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ for v in VALUES])
def test_round_trip(value: object) -> None:
    assert loads(dumps(value)) == value
    assert type(loads(dumps(value))) is type(value)


def test_nan_and_infinity_round_trip() -> None:
    out = loads(dumps([float("inf"), float("-inf"), float("nan")]))
    assert out[0] == float("inf") and out[1] == float("-inf") and out[2] != out[2]


def test_command_round_trip_keeps_resume_none() -> None:
    cmd = loads(dumps(Command(resume=None, goto="x")))
    assert cmd.has_resume and cmd.resume is None and cmd.goto == "x"


class Order(BaseModel):
    id: int
    items: list[str]


def test_pydantic_models_round_trip() -> None:
    assert loads(dumps({"order": Order(id=1, items=["a"])})) == {"order": Order(id=1, items=["a"])}


def test_classes_that_cannot_be_loaded_back_fail_at_write_time() -> None:
    class Local(BaseModel):
        id: int

    @dataclass
    class LocalPoint:
        x: int

    # defined inside a function: not importable by its path, so `dumps` refuses it (a read
    # would otherwise fail later)
    with pytest.raises(SerializationError, match="module level") as info:
        dumps({"order": Local(id=1)})
    assert info.value.path == "order" and info.value.type_name.endswith("Local")
    with pytest.raises(SerializationError) as info:
        dumps([1, LocalPoint(x=1)], "values")
    assert info.value.path == "values[1]"


def test_output_is_human_readable_json() -> None:
    text = dumps({"messages": ["hi"], "when": dt.date(2026, 1, 1)})
    assert text == '{"messages":["hi"],"when":{"__il":"date","v":"2026-01-01"}}'


def test_unknown_types_fail_at_write_time_with_the_path() -> None:
    with pytest.raises(SerializationError) as info:
        dumps({"state": {"items": [1, {"handle": open}]}})
    assert info.value.path == "state.items[1].handle"
    assert info.value.type_name == "builtin_function_or_method"
    with pytest.raises(SerializationError, match="payload"):
        ensure_serializable(lambda: 1, "payload")


def test_loading_refuses_arbitrary_classes() -> None:
    text = '{"__il":"dc","cls":"subprocess:Popen","v":{}}'
    with pytest.raises(SerializationError, match="refusing"):
        loads(text)


class Shade(enum.IntEnum):
    DARK = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Frozen:
    name: str
    extra: dict[str, int] = field(default_factory=dict)
    when: dt.datetime | None = None


def test_nested_values_round_trip_with_their_types() -> None:
    value = {
        "items": [Frozen(name="a", extra={"k": 1}, when=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))],
        "shade": Shade.DARK,
        "cmd": Command(update={"x": (1, 2)}, goto=["a", Send("b", {"n": {3}})]),
        7: {"__il": {"deep": b"\x01"}},
    }
    out = loads(dumps(value))
    assert out == value
    assert type(out["shade"]) is Shade
    assert type(out["items"][0].extra) is dict
    assert isinstance(out["cmd"].goto[1], Send) and out["cmd"].goto[1].arg == {"n": {3}}


def test_defaults_are_omitted_and_restored() -> None:
    text = dumps(Frozen(name="a"))
    assert "extra" not in text and "when" not in text
    restored = loads(text)
    assert restored == Frozen(name="a")
    restored.extra["new"] = 1  # a fresh default per instance, not one shared dict
    assert loads(text).extra == {}


def test_container_subclasses_are_stored_as_their_base() -> None:
    from collections import OrderedDict, namedtuple

    pair = namedtuple("pair", "a b")
    assert loads(dumps(OrderedDict(a=1))) == {"a": 1}
    assert loads(dumps(pair(1, 2))) == (1, 2)


class Bag(BaseModel):
    items: list[Any]


def test_error_paths_through_tuples_keys_dataclasses_and_commands() -> None:
    cases = [
        ({"a": (1, object())}, "a[1]"),
        ({frozenset({1}): 1, (1, object()): 2}, "<key (1, <object"),
        (Frozen(name="x", extra={"k": object()}), "extra.k"),  # type: ignore[dict-item]
        (Command(update={"x": [object()]}), "update.x[0]"),
        (Bag(items=[1, object()]), "items[1]"),
    ]
    for value, path in cases:
        with pytest.raises(SerializationError) as info:
            dumps(value)
        assert info.value.path.startswith(path), (info.value.path, path)
        assert info.value.type_name == "object"
        assert "object is not serialisable" in str(info.value)


def test_a_top_level_failure_is_named_value() -> None:
    with pytest.raises(SerializationError) as info:
        dumps(object())
    assert info.value.path == "value"


def test_unknown_tags_are_refused() -> None:
    with pytest.raises(SerializationError, match="unknown stored tag"):
        loads('{"__il":"nope","v":1}')
