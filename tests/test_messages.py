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


def test_add_messages_accepts_single_items_and_coerces() -> None:
    merged = add_messages("hello", ("assistant", "hi"))
    assert [type(m) for m in merged] == [HumanMessage, AIMessage]
    assert [m.content for m in merged] == ["hello", "hi"]
    more = add_messages(merged, [{"role": "tool", "content": "r", "tool_call_id": "c"}])
    assert isinstance(more[-1], ToolMessage) and more[-1].tool_call_id == "c"
    for role, cls in [("human", HumanMessage), ("ai", AIMessage), ("system", SystemMessage)]:
        assert type(add_messages([], (role, "x"))[0]) is cls
    assert all(m.id for m in more)


def test_replacement_keeps_the_position_and_left_is_not_mutated() -> None:
    left = [HumanMessage("a", id="1"), AIMessage("b", id="2"), HumanMessage("c", id="3")]
    snapshot = list(left)
    out = add_messages(left, [AIMessage("B", id="2"), HumanMessage("d", id="4")])
    assert [(m.id, m.content) for m in out] == [("1", "a"), ("2", "B"), ("3", "c"), ("4", "d")]
    assert left == snapshot and left[1].content == "b" and out is not left


def test_remove_then_readd_and_remove_all_in_one_batch() -> None:
    left = [HumanMessage("a", id="1"), AIMessage("b", id="2")]
    out = add_messages(left, [RemoveMessage(id="1"), HumanMessage("a again", id="1")])
    assert [(m.id, m.content) for m in out] == [("2", "b"), ("1", "a again")]
    cleared = add_messages(left, [RemoveMessage(id=REMOVE_ALL_MESSAGES)])
    assert cleared == []
    restart = add_messages(
        left, [HumanMessage("x", id="9"), RemoveMessage(id=REMOVE_ALL_MESSAGES), "fresh"]
    )
    assert [m.content for m in restart] == ["fresh"]
    with pytest.raises(ValueError, match="'1'"):
        add_messages(left, [RemoveMessage(id="1"), RemoveMessage(id="1")])


def test_replaying_a_stored_write_gives_the_same_state() -> None:
    write = [HumanMessage("q"), AIMessage("a")]
    once = add_messages([HumanMessage("start", id="0")], write)
    twice = add_messages([HumanMessage("start", id="0")], write)
    assert once == twice and len({m.id for m in once}) == 3
    # folding the writes one by one equals folding them as one batch (the runtime does both)
    step = add_messages(add_messages([], write[:1]), write[1:])
    assert step == add_messages([], write)


def test_add_messages_is_linear() -> None:
    import time

    left = [HumanMessage(str(i), id=str(i)) for i in range(50_000)]
    right = [AIMessage("r", id=str(i)) for i in range(0, 50_000, 2)] + [
        HumanMessage("new", id=f"n{i}") for i in range(10_000)
    ]
    started = time.perf_counter()
    out = add_messages(left, right)
    assert time.perf_counter() - started < 1.0  # quadratic would take minutes
    assert len(out) == 60_000 and out[0].content == "r" and out[1].content == "1"


def test_messages_round_trip_through_the_checkpoint_serde() -> None:
    from interlock.checkpoint.serde import dumps, loads

    call = {"name": "f", "args": {"x": [1, 2]}, "id": "c", "type": "tool_call"}
    messages = [
        SystemMessage("s", id="0"),
        HumanMessage([{"type": "text", "text": "hi"}], id="1", name="ana"),
        AIMessage(
            "",
            id="2",
            tool_calls=[call],
            usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
            additional_kwargs={"reasoning_content": "hmm"},
        ),
        ToolMessage("r", id="3", tool_call_id="c", status="error", artifact={"raw": 1}),
        RemoveMessage(id="4"),
    ]
    assert loads(dumps(messages)) == messages
    assert [type(m) for m in loads(dumps(messages))] == [type(m) for m in messages]


def test_messages_to_and_from_dicts() -> None:
    from interlock.messages import messages_from_dicts, messages_to_dicts

    messages = [
        HumanMessage("hi", id="1"),
        AIMessage(
            "", id="2", tool_calls=[{"name": "f", "args": {}, "id": "c", "type": "tool_call"}]
        ),
        ToolMessage("r", id="3", tool_call_id="c", status="error"),
    ]
    dicts = messages_to_dicts(messages)
    assert [d["type"] for d in dicts] == ["human", "ai", "tool"]
    assert messages_from_dicts(dicts) == messages
    dicts[1]["tool_calls"][0]["args"]["x"] = 1  # the dicts are copies
    assert messages[1].tool_calls[0]["args"] == {}
    role_dicts = messages_from_dicts([{"role": "tool", "content": "x", "tool_call_id": "c"}])
    assert isinstance(role_dicts[0], ToolMessage)


def test_text_and_pretty_repr() -> None:
    blocks = HumanMessage([{"type": "text", "text": "a"}, {"type": "image_url"}, "b"])
    assert blocks.text == "ab"
    call = {"name": "f", "args": {"x": 1}, "id": "c1", "type": "tool_call"}
    shown = AIMessage("thinking", tool_calls=[call]).pretty_repr()
    assert "Ai Message" in shown and "thinking" in shown and "f (c1)" in shown


def test_chunks_concatenate_reasoning_and_report_broken_tool_calls() -> None:
    total = AIMessageChunk("", additional_kwargs={"reasoning_content": "Let "}) + AIMessageChunk(
        "", additional_kwargs={"reasoning_content": "me think"}
    )
    assert total.additional_kwargs == {"reasoning_content": "Let me think"}
    broken = AIMessageChunk(
        "", tool_call_chunks=[{"index": 0, "id": "c", "name": "f", "args": '{"a": '}]
    ) + AIMessageChunk("", tool_call_chunks=[{"index": 1, "id": "d", "name": "g", "args": "{}"}])
    assert [c["name"] for c in broken.tool_calls] == ["g"]  # the unfinished one is not offered
    message = broken.to_message()
    assert [c["name"] for c in message.tool_calls] == ["g"]
    assert message.invalid_tool_calls[0]["name"] == "f"
    assert "JSON" in message.invalid_tool_calls[0]["error"]
