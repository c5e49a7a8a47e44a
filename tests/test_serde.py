"""JSON serialisation with typed tags."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from dataclasses import dataclass, field

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

    class Local(BaseModel):
        id: int

    # a class defined inside a function cannot be imported back by its path: it fails loudly
    with pytest.raises(SerializationError, match="Local"):
        loads(dumps(Local(id=1)))


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
