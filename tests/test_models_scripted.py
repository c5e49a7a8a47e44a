"""`ScriptedChatModel`: replays a script, records what it was sent, streams token by token."""

from __future__ import annotations

import asyncio
from functools import reduce
from operator import add

import pytest

from interlock.agent.messages import AIMessage, BaseMessage, HumanMessage, tool_call
from interlock.agent.models import GenericFakeChatModel, ScriptedChatModel, ScriptExhausted
from interlock.errors import InterlockError

CALL = tool_call(name="get_weather", args={"city": "Oslo"}, id="c1")


def test_replays_messages_strings_and_callables_in_order() -> None:
    def echo(messages: list[BaseMessage]) -> AIMessage:
        return AIMessage(f"saw {len(messages)}: {messages[-1].text}")

    model = ScriptedChatModel(
        [AIMessage("", tool_calls=[CALL], usage_metadata={"input_tokens": 1}), "plain", echo]
    )
    first = model.invoke("weather?")
    assert first.tool_calls == [CALL] and first.usage_metadata == {"input_tokens": 1}
    assert first.id  # every answer gets an id, as a provider's would
    assert model.invoke([("user", "a")]).content == "plain"
    assert model.invoke(["a", "b"]).content == "saw 2: b"
    assert [[m.text for m in call] for call in model.calls] == [["weather?"], ["a"], ["a", "b"]]
    assert all(isinstance(m, HumanMessage) for m in model.calls[2])


def test_replies_are_copies_of_the_script() -> None:
    scripted = AIMessage("x", tool_calls=[dict(CALL)])  # type: ignore[list-item]
    model = ScriptedChatModel([scripted, scripted])
    reply = model.invoke("a")
    reply.tool_calls[0]["args"]["city"] = "edited"
    assert model.invoke("b").tool_calls[0]["args"] == {"city": "Oslo"}


def test_runs_out_with_a_clear_error() -> None:
    model = ScriptedChatModel(["only one"])
    model.invoke("a")
    assert model.remaining == 0
    with pytest.raises(ScriptExhausted, match=r"ran out of responses.*last message received: 'b'"):
        model.invoke("b")
    assert issubclass(ScriptExhausted, InterlockError)


def test_streams_content_token_by_token_with_tool_calls_last() -> None:
    model = ScriptedChatModel([AIMessage("Let me check that", tool_calls=[CALL])])
    chunks = list(model.stream("w?"))
    assert [c.content for c in chunks] == ["Let ", "me ", "check ", "that"]
    assert all(not c.tool_call_chunks for c in chunks[:-1])
    message = reduce(add, chunks).to_message()
    assert message.content == "Let me check that" and message.tool_calls == [CALL]


def test_bound_copy_shares_the_script() -> None:
    model = ScriptedChatModel(["one", "two"])
    bound = model.bind_tools([{"name": "t", "description": "", "parameters": {}}])
    assert bound.invoke("a").content == "one"
    assert model.invoke("b").content == "two"
    assert model.tools == [] and bound.tools[0]["name"] == "t"
    assert len(model.calls) == 2


def test_async_twins() -> None:
    model = ScriptedChatModel(["async one", "async two words"])

    async def go() -> tuple[str, list[str]]:
        first = await model.ainvoke("a")
        tokens = [c.text async for c in model.astream("b")]
        return first.text, tokens

    assert asyncio.run(go()) == ("async one", ["async ", "two ", "words"])


def test_generic_fake_chat_model_takes_langchains_arguments() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("hi"), "there"]))
    assert [model.invoke("x").content, model.invoke("y").content] == ["hi", "there"]
