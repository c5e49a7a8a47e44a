"""A graph's JSON schemas as LangGraph gives them: `get_context_jsonschema()` (expected
values observed with LangGraph 1.2.22 on the same classes), and input/output schemas of
states whose types hold `typing.TypedDict`s deep inside (interlock's messages: before
Python 3.12 pydantic refused them, and `get_input_jsonschema()` raised). The Agent
Server's `/assistants/{id}/schemas` serves them to langgraph-sdk."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph_sdk import get_sync_client
from pydantic import BaseModel
from typing_extensions import TypedDict

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.graph._json_schemas import pydantic_safe
from interlock.server import ApiKeys, create_app
from tests._http import served


@dataclass
class Ctx:
    user: str
    n: int = 1


class TCtx(TypedDict, total=False):
    user: str


class PCtx(BaseModel):
    user: str = "x"


class Q(TypedDict):
    q: str


def _graph(state: Any, **kw: Any) -> Any:
    g = il.StateGraph(state, **kw)
    g.add_node("a", lambda s: {})
    g.add_edge(il.START, "a")
    return g.compile(name="g")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            Ctx,
            {
                "properties": {
                    "n": {"default": 1, "title": "N", "type": "integer"},
                    "user": {"title": "User", "type": "string"},
                },
                "required": ["user"],
                "title": "Ctx",
                "type": "object",
            },
        ),
        (
            TCtx,
            {
                "properties": {"user": {"title": "User", "type": "string"}},
                "title": "TCtx",
                "type": "object",
            },
        ),
        (
            PCtx,
            {
                "properties": {"user": {"default": "x", "title": "User", "type": "string"}},
                "title": "PCtx",
                "type": "object",
            },
        ),
        (None, None),
    ],
)
def test_context_schema_is_langgraphs(context: Any, expected: Any) -> None:
    assert _graph(Q, context_schema=context).get_context_jsonschema() == expected


def test_a_context_schema_of_another_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="pydantic model, a TypedDict or a dataclass"):
        _graph(Q, context_schema=int).get_context_jsonschema()


def test_messages_state_has_an_input_schema() -> None:
    schema = _graph(il.MessagesState).get_input_jsonschema()
    messages = schema["properties"]["messages"]
    assert messages["type"] == "array"
    refs = {ref["$ref"].rsplit("/", 1)[1] for ref in messages["items"]["anyOf"]}
    assert {"HumanMessage", "AIMessage", "ToolMessage", "SystemMessage"} <= refs
    tool_call = schema["$defs"]["ToolCall"]  # a typing.TypedDict inside a dataclass
    assert set(tool_call["properties"]) == {"name", "args", "id", "type"}
    assert _graph(il.MessagesState).get_output_jsonschema() == schema


class Inner(typing.TypedDict):
    n: int


class Outer(typing.TypedDict, total=False):
    one: Inner
    many: list[Inner]
    maybe: Inner | None
    labelled: Annotated[dict[str, Inner], "kept"]
    ok: int


@dataclass
class Holder:
    inner: Inner
    rest: list[int] = field(default_factory=list)


def test_typing_typeddicts_anywhere_inside_are_made_safe() -> None:
    schema = _graph(Outer).get_input_jsonschema()
    ref = {"$ref": "#/$defs/Inner"}
    props = schema["properties"]
    assert props["one"] == ref
    assert props["many"]["items"] == ref
    assert ref in props["maybe"]["anyOf"]
    assert props["labelled"]["additionalProperties"] == ref
    assert schema["$defs"]["Inner"]["required"] == ["n"]
    assert "required" not in schema  # total=False kept
    held = _graph(Q, context_schema=Holder).get_context_jsonschema()
    assert held["properties"]["inner"] == ref and held["required"] == ["inner"]
    # a type with nothing to change is returned as it is
    assert pydantic_safe(list[int]) is not None and pydantic_safe(Ctx) is Ctx


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    saver = SqliteSaver(tmp_path / "s.db")
    chat = il.StateGraph(il.MessagesState, context_schema=Ctx)
    chat.add_node("a", lambda s: {})
    chat.add_edge(il.START, "a")
    app = create_app(
        {"chat": chat.compile(checkpointer=saver, name="chat")},
        keys=ApiKeys.parse("k-bob=bob:requester"),
    )
    with served(app) as http:
        yield str(http.base_url).rstrip("/")
    saver.close()


def test_the_agent_server_serves_the_schemas(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        got = bob.assistants.get_schemas("chat")
    assert got["graph_id"] == "chat"
    assert got["input_schema"]["properties"]["messages"]["type"] == "array"
    assert got["state_schema"]["title"] == "MessagesState"
    assert got["context_schema"]["required"] == ["user"]
