"""Messages and the add_messages reducer."""

from __future__ import annotations

import pytest

from interlock.messages import (
    REMOVE_ALL_MESSAGES,
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    add_messages,
    convert_to_messages,
)


def test_positional_and_keyword_content() -> None:
    assert HumanMessage("hi") == HumanMessage(content="hi")
    assert AIMessage("x", id="1").type == "ai" and ToolMessage("r", tool_call_id="c").type == "tool"


def test_add_messages_appends_replaces_removes() -> None:
    a, b = HumanMessage("a", id="1"), AIMessage("b", id="2")
    merged = add_messages([a], [b])
    assert [m.content for m in merged] == ["a", "b"]
    replaced = add_messages(merged, [AIMessage("B", id="2")])
    assert [m.content for m in replaced] == ["a", "B"]
    removed = add_messages(replaced, [RemoveMessage("1")])
    assert [m.id for m in removed] == ["2"]
    assert (
        add_messages(removed, [RemoveMessage(REMOVE_ALL_MESSAGES), HumanMessage("c")])[0].content
        == "c"
    )
    with pytest.raises(ValueError, match="no message"):
        add_messages(removed, [RemoveMessage("nope")])
    assert [m.content for m in merged] == ["a", "b"]  # left is never mutated


def test_ids_are_assigned_in_place_so_replays_are_deterministic() -> None:
    incoming = [HumanMessage("no id")]
    first = add_messages([], incoming)
    assert incoming[0].id is not None and first[0].id == incoming[0].id
    again = add_messages([], incoming)  # folding the same stored write again
    assert again[0].id == first[0].id


def test_coercions() -> None:
    msgs = convert_to_messages(
        [
            "hello",
            ("ai", "hi"),
            ("system", "s"),
            {"role": "user", "content": "u"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": '{"a": 1}'}}],
            },
        ]
    )
    assert [type(m) for m in msgs] == [
        HumanMessage,
        AIMessage,
        SystemMessage,
        HumanMessage,
        AIMessage,
    ]
    assert msgs[-1].tool_calls[0]["args"] == {"a": 1}
    with pytest.raises(ValueError):
        convert_to_messages([("wizard", "x")])


def test_chunks_add_up_including_tool_call_fragments() -> None:
    total = AIMessageChunk(
        "Hel", id="m", tool_call_chunks=[{"index": 0, "id": "c", "name": "f", "args": '{"ci'}]
    ) + AIMessageChunk(
        "lo",
        tool_call_chunks=[{"index": 0, "args": 'ty": "Oslo"}'}],
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    )
    message = total.to_message()
    assert message.content == "Hello" and message.id == "m"
    assert message.tool_calls == [
        {"name": "f", "args": {"city": "Oslo"}, "id": "c", "type": "tool_call"}
    ]
    assert message.usage_metadata == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
