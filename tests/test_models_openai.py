"""OpenAI chat completions over real HTTP against `tests.fakes.OpenAIServer`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import reduce
from operator import add
from typing import Any

import pytest

from interlock.agent.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from interlock.agent.models import ChatDeepSeek, ChatOpenAI, init_chat_model
from interlock.agent.models.testing import Reply
from tests.fakes import OpenAIServer

WEATHER = {
    "name": "get_weather",
    "description": "Current weather.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class SchemaTool:
    """Stands for an interlock tool: anything with `json_schema()`."""

    def json_schema(self) -> dict[str, Any]:
        return {
            "name": "send_email",
            "description": "Send an email.",
            "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
        }


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def model(server: OpenAIServer, **kw: Any) -> ChatOpenAI:
    m = init_chat_model("deepseek:deepseek-v4-flash", api_key="sk-test", base_url=server.url, **kw)
    assert isinstance(m, ChatOpenAI)
    return m


def assemble(chunks: list[AIMessageChunk]) -> AIMessage:
    return reduce(add, chunks).to_message()


def test_text_reply_and_request_body(server: OpenAIServer) -> None:
    server.text("Hello there")
    reply = model(server, temperature=0, max_tokens=50).invoke("hi")
    assert isinstance(reply, AIMessage)
    assert reply.content == "Hello there" and reply.tool_calls == []
    assert reply.usage_metadata == {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    assert reply.response_metadata["finish_reason"] == "stop"
    (request,) = server.requests
    assert request["path"] == "/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    assert request["json"] == {
        "model": "deepseek-v4-flash",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
        "max_tokens": 50,
    }


def test_tool_call_with_args_and_tool_formats(server: OpenAIServer) -> None:
    server.tool_calls(("get_weather", {"city": "Oslo"}))
    openai_format = {"type": "function", "function": WEATHER}
    bound = model(server).bind_tools([openai_format, SchemaTool()], tool_choice="get_weather")
    reply = bound.invoke([("system", "be brief"), ("user", "weather in Oslo?")])
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("get_weather", {"city": "Oslo"})]
    assert reply.tool_calls[0]["id"] and reply.tool_calls[0]["type"] == "tool_call"
    body = server.bodies[0]
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "send_email"]
    assert body["tools"][0] == {"type": "function", "function": WEATHER}
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["messages"][0] == {"role": "system", "content": "be brief"}


def test_bind_tools_returns_a_copy(server: OpenAIServer) -> None:
    server.text("plain")
    base = model(server)
    bound = base.bind_tools([WEATHER], parallel_tool_calls=False)
    assert bound is not base and base.tools == [] and bound.tools[0]["name"] == "get_weather"
    base.invoke("x")
    assert "tools" not in server.bodies[0] and "parallel_tool_calls" not in server.bodies[0]


def test_two_parallel_tool_calls(server: OpenAIServer) -> None:
    server.tool_calls(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"}))
    reply = model(server).bind_tools([WEATHER], parallel_tool_calls=True).invoke("two cities")
    assert [c["args"]["city"] for c in reply.tool_calls] == ["Oslo", "Rome"]
    assert len({c["id"] for c in reply.tool_calls}) == 2
    assert server.bodies[0]["parallel_tool_calls"] is True


def test_streams_tokens_and_assembles_parallel_tool_arguments(server: OpenAIServer) -> None:
    server.tool_calls(
        ("get_weather", {"city": "Lisbon"}),
        ("get_weather", {"city": "Porto"}),
        text="Checking both cities",
    )
    chunks = list(model(server).bind_tools([WEATHER]).stream("weather?"))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) > 3 and "".join(texts) == "Checking both cities"
    fragments = [tc["args"] for c in chunks for tc in c.tool_call_chunks]
    assert len(fragments) > 4  # the arguments really arrived in pieces
    message = assemble(chunks)
    assert [c["args"] for c in message.tool_calls] == [{"city": "Lisbon"}, {"city": "Porto"}]
    assert all(c["name"] == "get_weather" and c["id"] for c in message.tool_calls)
    assert message.invalid_tool_calls == []
    # usage comes in the final chunk, because the request asked for it
    assert chunks[-1].usage_metadata == {
        "input_tokens": 11,
        "output_tokens": 7,
        "total_tokens": 18,
    }
    assert message.usage_metadata == chunks[-1].usage_metadata
    body = server.bodies[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_history_with_tool_results_goes_out_in_wire_shape(server: OpenAIServer) -> None:
    server.text("It is 20C.")
    call = {"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1", "type": "tool_call"}
    model(server).invoke(
        [
            HumanMessage("w?", name="ana"),
            AIMessage("", tool_calls=[call]),
            ToolMessage("20C", tool_call_id="c1"),
        ]
    )
    assert server.bodies[0]["messages"] == [
        {"role": "user", "content": "w?", "name": "ana"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "20C"},
    ]


def test_deepseek_reasoning_is_kept_and_sent_back_with_tool_calls(server: OpenAIServer) -> None:
    """DeepSeek's thinking mode answers 400 unless a tool-calling turn's reasoning returns."""
    server.replies.append(
        Reply.openai_calls([("get_weather", {"city": "Oslo"})], reasoning="I should look it up.")
    )
    server.text("Done", reasoning="Easy.")
    m = model(server).bind_tools([WEATHER])
    first = m.invoke("w?")
    assert first.additional_kwargs["reasoning_content"] == "I should look it up."
    tool_result = ToolMessage("20C", tool_call_id=first.tool_calls[0]["id"] or "")
    streamed = assemble(list(m.stream([HumanMessage("w?"), first, tool_result])))
    assert streamed.content == "Done"
    assert streamed.additional_kwargs["reasoning_content"] == "Easy."
    sent = server.bodies[1]["messages"][1]
    assert sent["reasoning_content"] == "I should look it up." and sent["tool_calls"]
    # a turn without tool calls does not carry it
    server.text("ok")
    m.invoke([HumanMessage("a"), streamed, HumanMessage("b")])
    assert "reasoning_content" not in server.bodies[2]["messages"][1]


def test_async_invoke_and_stream(server: OpenAIServer) -> None:
    server.text("one").tool_calls(("get_weather", {"city": "Bergen"}), text="two words")
    m = model(server).bind_tools([WEATHER])

    async def go() -> tuple[AIMessage, AIMessage]:
        first = await m.ainvoke("x")
        chunks = [c async for c in m.astream("y")]
        return first, assemble(chunks)

    first, second = asyncio.run(go())
    assert first.content == "one"
    assert second.content == "two words" and second.tool_calls[0]["args"] == {"city": "Bergen"}
    assert second.usage_metadata is not None and second.usage_metadata["total_tokens"] == 18


def test_model_kwargs_and_extra_arguments_go_into_the_body(server: OpenAIServer) -> None:
    server.text("ok")
    model(server, model_kwargs={"seed": 7}, top_p=0.5).invoke("x")
    assert server.bodies[0]["seed"] == 7 and server.bodies[0]["top_p"] == 0.5


def test_direct_construction_with_provider(server: OpenAIServer) -> None:
    server.text("from the class")
    m = ChatDeepSeek(model="deepseek-v4-flash", api_key="k", base_url=server.url)
    assert m.provider == "deepseek"
    assert m.invoke("x").content == "from the class"
    assert server.requests[0]["headers"]["authorization"] == "Bearer k"
    assert ChatDeepSeek(model="m", api_key="k").base_url == "https://api.deepseek.com"
    assert ChatOpenAI(model="m", provider="ollama").base_url == "http://localhost:11434/v1"
    secret = ChatOpenAI(model="m", api_key="sk-secret-123", base_url=server.url)
    assert "sk-secret-123" not in repr(secret)
