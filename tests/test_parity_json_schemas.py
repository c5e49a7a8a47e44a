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


def test_schemas_are_the_same_at_every_call() -> None:
    # types `get_type_hints` makes die once read; one made later at the same address must
    # not be taken for them (a message's `content` once came out as a list of tool calls)
    import gc

    graph = _graph(il.MessagesState)
    first = graph.get_input_jsonschema()
    for _ in range(40):
        gc.collect()
        assert graph.get_input_jsonschema() == first


@dataclass(kw_only=True)
class KwOnly:
    tenant: str = "acme"
    pref: Inner  # required after a defaulted field: legal with kw_only


def test_a_kw_only_dataclass_holding_a_typeddict() -> None:
    schema = _graph(Q, context_schema=KwOnly).get_context_jsonschema()
    assert sorted(schema["properties"]) == ["pref", "tenant"]
    assert schema["required"] == ["pref"]


def test_an_entrypoints_schemas_are_langgraphs() -> None:
    from interlock.func import entrypoint

    @entrypoint()
    def flow(topic: str) -> dict:  # type: ignore[type-arg]
        return {"t": topic}

    # observed with LangGraph 1.2.22
    assert flow.get_input_jsonschema() == {"title": "LangGraphInput", "type": "string"}
    assert flow.get_output_jsonschema() == {
        "additionalProperties": True,
        "title": "LangGraphOutput",
        "type": "object",
    }


class Client:  # an SDK client kept in state: pydantic has no schema for it
    def __init__(self, url: str) -> None:
        self.url = url


class WithClient(TypedDict):
    q: str
    client: Client


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    saver = SqliteSaver(tmp_path / "s.db")
    chat = il.StateGraph(il.MessagesState, context_schema=Ctx)
    chat.add_node("a", lambda s: {})
    chat.add_edge(il.START, "a")
    odd = il.StateGraph(WithClient)
    odd.add_node("a", lambda s: {})
    odd.add_edge(il.START, "a")
    app = create_app(
        {
            "chat": chat.compile(checkpointer=saver, name="chat"),
            "odd": odd.compile(checkpointer=saver, name="odd"),
        },
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
    # the state as LangGraph's server gives it: every key optional, titled `<graph>_state`
    state = got["state_schema"]
    assert state["title"] == "chat_state" and "required" not in state
    assert state["properties"]["messages"]["default"] is None
    assert got["context_schema"]["required"] == ["user"]
    with get_sync_client(url=url, api_key="k-bob") as bob:
        odd = bob.assistants.get_schemas("odd")
    # a schema that cannot be made is null, as in LangGraph's server; the state's key is Any
    assert odd["input_schema"] is None and odd["output_schema"] is None
    assert odd["state_schema"]["properties"]["client"] == {"default": None, "title": "Client"}
