"""langchain-core messages in interlock: conversion both ways, `add_messages`, storage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core import messages as lc

from interlock import (
    REMOVE_ALL_MESSAGES,
    AIMessage,
    AIMessageChunk,
    Command,
    HumanMessage,
    InMemorySaver,
    RemoveMessage,
    SqliteSaver,
    SystemMessage,
    ToolMessage,
    add_messages,
)
from interlock.agent.langchain import from_langchain, to_langchain
from interlock.agent.messages import as_message, convert_to_messages, messages_to_dicts
from interlock.checkpoint import serde
from tests import _langchain_graph as lg

ROOT = Path(__file__).resolve().parents[1]

OURS: list[Any] = [
    SystemMessage("rules", id="s1", name="policy", additional_kwargs={"cache": True}),
    HumanMessage(
        [{"type": "text", "text": "look"}, {"type": "image", "url": "https://x/y.png"}],
        id="h1",
        name="ada",
        response_metadata={"via": "web"},
    ),
    AIMessage(
        [{"type": "text", "text": "calling"}, {"type": "reasoning", "reasoning": "why"}],
        id="a1",
        tool_calls=[
            {"name": "lookup", "args": {"term": "x"}, "id": "c1", "type": "tool_call"},
            {"name": "send", "args": {"to": ["a", "b"], "n": 2}, "id": "c2", "type": "tool_call"},
        ],
        invalid_tool_calls=[
            {
                "name": "bad",
                "args": "{oops",
                "id": "c3",
                "error": "not JSON",
                "type": "invalid_tool_call",
            }
        ],
        usage_metadata={
            "input_tokens": 10,
            "output_tokens": 4,
            "total_tokens": 14,
            "output_token_details": {"reasoning": 2},
        },
        response_metadata={"model_name": "m-1", "finish_reason": "tool_calls"},
        additional_kwargs={"reasoning_content": "why"},
    ),
    ToolMessage("found", tool_call_id="c1", id="t1", name="lookup", artifact={"rows": [1, 2]}),
    ToolMessage([{"type": "text", "text": "failed"}], tool_call_id="c2", id="t2", status="error"),
]

LC_CLASSES = [lc.SystemMessage, lc.HumanMessage, lc.AIMessage, lc.ToolMessage, lc.ToolMessage]


def test_our_messages_become_theirs_field_for_field_and_come_back_equal() -> None:
    theirs = to_langchain(OURS)
    assert [type(m) for m in theirs] == LC_CLASSES
    for mine, their in zip(OURS, theirs, strict=True):
        assert their.content == mine.content and their.id == mine.id
        assert their.name == mine.name
        assert their.additional_kwargs == mine.additional_kwargs
        assert their.response_metadata == mine.response_metadata
    assert theirs[2].tool_calls == OURS[2].tool_calls
    assert theirs[2].invalid_tool_calls == OURS[2].invalid_tool_calls
    assert theirs[2].usage_metadata == OURS[2].usage_metadata
    assert (theirs[3].artifact, theirs[4].status) == ({"rows": [1, 2]}, "error")
    back = from_langchain(theirs)
    assert back == OURS
    assert [type(m) for m in back] == [type(m) for m in OURS]


def test_their_messages_become_ours_and_come_back_equal() -> None:
    theirs = [*lg.first_messages(), lg.model_turn(), *lg.tool_results()]
    ours = from_langchain(theirs)
    assert [type(m) for m in ours] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        ToolMessage,
    ]
    assert ours[2].tool_calls == theirs[2].tool_calls
    assert ours[2].usage_metadata["input_token_details"] == {"cache_read": 4}
    assert to_langchain(ours) == theirs


def test_conversion_copies_so_the_two_messages_are_independent() -> None:
    theirs = to_langchain(OURS[2])
    theirs.tool_calls[0]["args"]["term"] = "changed"
    theirs.additional_kwargs["extra"] = 1
    assert OURS[2].tool_calls[0]["args"] == {"term": "x"}
    assert "extra" not in OURS[2].additional_kwargs


def test_single_messages_and_remove_messages_convert() -> None:
    assert type(to_langchain(RemoveMessage(id="x"))) is lc.RemoveMessage
    assert to_langchain(RemoveMessage(id="x")).id == "x"
    assert from_langchain(lc.RemoveMessage(id="x")) == RemoveMessage(id="x")
    assert from_langchain(OURS[0]) is OURS[0]
    mine = to_langchain([("user", "hi"), "there"])
    assert [type(m) for m in mine] == [lc.HumanMessage, lc.HumanMessage]


def test_streamed_chunks_convert_and_add_up_like_theirs() -> None:
    pieces = [
        lc.AIMessageChunk(
            content="Hel",
            id="r1",
            tool_call_chunks=[{"name": "lookup", "args": '{"te', "id": "c1", "index": 0}],
        ),
        lc.AIMessageChunk(
            content="lo",
            tool_call_chunks=[{"name": None, "args": 'rm": "x"}', "id": None, "index": 0}],
            usage_metadata={
                "input_tokens": 3,
                "output_tokens": 2,
                "total_tokens": 5,
                "input_token_details": {"cache_read": 1},
            },
        ),
    ]
    mine = [from_langchain(p) for p in pieces]
    assert all(type(m) is AIMessageChunk for m in mine)
    total_theirs = pieces[0] + pieces[1]
    total_mine = (mine[0] + mine[1]).to_message()
    assert total_mine.content == total_theirs.content == "Hello"
    assert total_mine.tool_calls == total_theirs.tool_calls
    assert total_mine.tool_calls[0]["args"] == {"term": "x"}
    assert total_mine.usage_metadata == total_theirs.usage_metadata
    assert type(to_langchain(mine[0])) is lc.AIMessageChunk


def test_streamed_content_blocks_and_nested_kwargs_merge_like_theirs() -> None:
    pieces = [
        lc.AIMessageChunk(content=[{"type": "text", "text": "Hel", "index": 0}], id="r"),
        lc.AIMessageChunk(
            content=[{"type": "text", "text": "lo", "index": 0}],
            additional_kwargs={"function_call": {"name": "f", "arguments": '{"a'}},
        ),
        lc.AIMessageChunk(
            content=[{"type": "tool_use", "id": "t1", "name": "x", "input": {}, "index": 1}],
            additional_kwargs={"function_call": {"arguments": '": 1}'}},
        ),
    ]
    theirs = pieces[0] + pieces[1] + pieces[2]
    mine = from_langchain(pieces[0]) + from_langchain(pieces[1]) + from_langchain(pieces[2])
    assert mine.content == theirs.content
    assert mine.content[0] == {"type": "text", "text": "Hello", "index": 0}
    assert mine.additional_kwargs == theirs.additional_kwargs
    assert mine.additional_kwargs["function_call"] == {"name": "f", "arguments": '{"a": 1}'}


def test_messages_of_kinds_we_do_not_have_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"ChatMessage.*type='chat'"):
        as_message(lc.ChatMessage(content="x", role="critic"))


def test_add_messages_keeps_their_messages_and_merges_by_id() -> None:
    first = lc.HumanMessage("hi")
    merged = add_messages([], [first, lc.AIMessage("yo", id="a1")])
    assert first.id is not None  # given an id on the object itself, as ours are
    assert [type(m) for m in merged] == [lc.HumanMessage, lc.AIMessage]
    merged = add_messages(merged, [lc.AIMessage("yo!", id="a1"), ToolMessage("r", id="t")])
    assert [m.content for m in merged] == ["hi", "yo!", "r"]
    assert type(merged[1]) is lc.AIMessage and type(merged[2]) is ToolMessage
    merged = add_messages(merged, [lc.RemoveMessage(id=first.id)])
    assert [m.id for m in merged] == ["a1", "t"]
    with pytest.raises(ValueError, match="no message has that id"):
        add_messages(merged, [lc.RemoveMessage(id="nope")])
    assert add_messages(merged, [lc.RemoveMessage(id=REMOVE_ALL_MESSAGES)]) == []
    assert add_messages(merged, lc.HumanMessage("one", id="h9"))[-1].id == "h9"


def test_convert_to_messages_and_dicts_accept_their_messages() -> None:
    theirs = lc.AIMessage("x", id="a")
    assert convert_to_messages(theirs) == [theirs]
    assert convert_to_messages([theirs, "hi"])[0] is theirs
    (d,) = messages_to_dicts([theirs])
    assert d["type"] == "ai" and d["content"] == "x" and d["id"] == "a"


def test_the_store_serialiser_round_trips_their_messages_as_their_types() -> None:
    theirs = [
        *lg.first_messages(),
        lg.model_turn(),
        *lg.tool_results(),
        lc.RemoveMessage(id="sys-0"),
        lc.AIMessageChunk(content="pa", id="k", tool_call_chunks=[]),
    ]
    back = serde.loads(serde.dumps({"messages": theirs}))["messages"]
    assert back == theirs
    assert [type(m) for m in back] == [type(m) for m in theirs]


def test_objects_inside_their_messages_keep_their_types_when_stored() -> None:
    # Needs the store serialiser to encode a pydantic model field by field (as it does a
    # dataclass) rather than through `model_dump`, which turns a dataclass held in an `Any`
    # field (here a ToolMessage's artifact) into a plain dict.
    theirs = lc.ToolMessage(
        "2 hits", tool_call_id="c1", id="t1", artifact={"hits": [lg.Hit(3, 0.5)], "at": (1, 2)}
    )
    back = serde.loads(serde.dumps(theirs))
    assert back.artifact == {"hits": [lg.Hit(3, 0.5)], "at": (1, 2)}
    assert back == theirs


def test_a_graph_of_their_messages_pauses_and_resumes_in_memory() -> None:
    app = lg.build(InMemorySaver())
    config = {"configurable": {"thread_id": "m1"}}
    paused = app.invoke({"messages": lg.first_messages()}, config)
    assert paused["__interrupt__"][0].value == {"question": "send the answer?"}
    done = app.invoke(Command(resume="Sent."), config)
    expected = [*lg.first_messages()[1:], lg.model_turn(), *lg.tool_results()]
    expected.append(lc.AIMessage("Sent.", id="ai-2"))
    assert done["messages"] == expected
    assert [type(m) for m in done["messages"]] == [type(m) for m in expected]


def _stored_and_read_in_another_process(saver: Any, spec: str) -> None:
    thread = "lc-thread"
    config = {"configurable": {"thread_id": thread}}
    app = lg.build(saver)
    app.invoke({"messages": lg.first_messages()}, config)
    code = f"from tests._langchain_graph import child; child({spec!r}, {thread!r}, 'Sent.')"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    paused_view, final_view = out.stdout.splitlines()
    paused = [*lg.first_messages(), lg.model_turn(), *lg.tool_results()]
    assert paused_view == lg.describe(paused)
    final = [*paused[1:], lc.AIMessage("Sent.", id="ai-2")]
    assert final_view == lg.describe(final)
    # and this process reads what the other one wrote, as the same types
    values = app.get_state(config).values["messages"]
    assert values == final and [type(m) for m in values] == [type(m) for m in final]
    assert '"class": "langchain_core.messages.ai.AIMessage"' in final_view


def test_their_messages_are_stored_on_sqlite_and_read_back_in_another_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lc.db"
    with SqliteSaver(path) as saver:
        _stored_and_read_in_another_process(saver, f"sqlite:{path}")


@pytest.mark.postgres
def test_their_messages_are_stored_on_postgres_and_read_back_in_another_process() -> None:
    from tests._race import open_saver
    from tests.pg import postgres_spec

    spec = postgres_spec()
    saver = open_saver(spec)
    try:
        _stored_and_read_in_another_process(saver, spec)
    finally:
        saver.close()
