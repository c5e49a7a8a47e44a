"""Anthropic's Messages API over real HTTP against `tests.fakes.AnthropicServer`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import reduce
from operator import add
from typing import Any

import pytest

from interlock.agent.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from interlock.agent.models import (
    ChatAnthropic,
    ModelAuthError,
    ModelResponseError,
    ModelUnavailable,
    init_chat_model,
)
from tests.fakes import AnthropicServer

WEATHER = {
    "name": "get_weather",
    "description": "Current weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def server() -> Iterator[AnthropicServer]:
    with AnthropicServer() as s:
        yield s


def model(server: AnthropicServer, **kw: Any) -> ChatAnthropic:
    m = init_chat_model(
        "anthropic:claude-test", api_key="ak-test", base_url=server.url, retry_backoff=0.01, **kw
    )
    assert isinstance(m, ChatAnthropic)
    return m


def assemble(chunks: list[AIMessageChunk]) -> AIMessage:
    return reduce(add, chunks).to_message()


def test_text_reply_system_prompt_and_headers(server: AnthropicServer) -> None:
    server.text("Bonjour")
    reply = model(server, max_tokens=64, temperature=0.2).invoke(
        [SystemMessage("be brief"), SystemMessage("be kind"), HumanMessage("hi")]
    )
    assert reply.content == "Bonjour" and reply.tool_calls == []
    assert reply.usage_metadata == {"input_tokens": 13, "output_tokens": 5, "total_tokens": 18}
    assert reply.response_metadata["stop_reason"] == "end_turn"
    (request,) = server.requests
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == "ak-test"
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert request["json"] == {
        "model": "claude-test",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 64,
        "system": "be brief\n\nbe kind",
        "temperature": 0.2,
    }


def test_tool_use_blocks_and_parallel_calls(server: AnthropicServer) -> None:
    server.tool_calls(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"}))
    bound = model(server).bind_tools([WEATHER], tool_choice="any", parallel_tool_calls=True)
    reply = bound.invoke("two cities")
    assert [c["args"] for c in reply.tool_calls] == [{"city": "Oslo"}, {"city": "Rome"}]
    assert all(c["id"] and c["name"] == "get_weather" for c in reply.tool_calls)
    body = server.bodies[0]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather.",
            "input_schema": WEATHER["parameters"],
        }
    ]
    assert body["tool_choice"] == {"type": "any"}
    assert body["max_tokens"] == 4096  # the API requires one


def test_tool_choice_by_name_and_no_parallel_calls(server: AnthropicServer) -> None:
    server.text("ok")
    model(server).bind_tools(
        [WEATHER], tool_choice="get_weather", parallel_tool_calls=False
    ).invoke("x")
    assert server.bodies[0]["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }


def test_tool_results_become_user_turns(server: AnthropicServer) -> None:
    server.text("done")
    calls = [
        {"name": "get_weather", "args": {"city": "Oslo"}, "id": "t1", "type": "tool_call"},
        {"name": "get_weather", "args": {"city": "Rome"}, "id": "t2", "type": "tool_call"},
    ]
    model(server).invoke(
        [
            HumanMessage("w?"),
            AIMessage("Looking", tool_calls=calls),
            ToolMessage("20C", tool_call_id="t1"),
            ToolMessage("boom", tool_call_id="t2", status="error"),
        ]
    )
    messages = server.bodies[0]["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Looking"},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    }
    # both results in one user turn (the API wants alternating roles)
    assert messages[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "20C"},
            {"type": "tool_result", "tool_use_id": "t2", "content": "boom", "is_error": True},
        ],
    }
    assert len(messages) == 3


def test_streaming_text_and_input_json_deltas(server: AnthropicServer) -> None:
    server.tool_calls(
        ("get_weather", {"city": "Lisbon"}), ("get_weather", {"city": "Porto"}), text="Let me see"
    )
    chunks = list(model(server).bind_tools([WEATHER]).stream("w?"))
    assert "".join(c.text for c in chunks) == "Let me see"
    assert len([c for c in chunks if c.content]) > 1
    message = assemble(chunks)
    assert [c["args"] for c in message.tool_calls] == [{"city": "Lisbon"}, {"city": "Porto"}]
    assert message.usage_metadata == {"input_tokens": 13, "output_tokens": 5, "total_tokens": 18}
    assert server.bodies[0]["stream"] is True


def test_async_invoke_and_stream(server: AnthropicServer) -> None:
    server.text("first").text("second answer")
    m = model(server)

    async def go() -> tuple[str, str]:
        a = await m.ainvoke("x")
        b = assemble([c async for c in m.astream("y")])
        return a.text, b.text

    assert asyncio.run(go()) == ("first", "second answer")


def test_error_event_inside_a_stream(server: AnthropicServer) -> None:
    server.events(
        [
            ("message_start", {"type": "message_start", "message": {"id": "m", "usage": {}}}),
            ("error", {"type": "error", "error": {"type": "overloaded_error"}}),
        ]
    )
    with pytest.raises(ModelResponseError, match="overloaded_error"):
        list(model(server).stream("x"))


def test_http_errors(server: AnthropicServer) -> None:
    server.error(401, "invalid x-api-key")
    with pytest.raises(ModelAuthError, match="invalid x-api-key"):
        model(server).invoke("x")
    server.error(529, "Overloaded").error(529, "Overloaded")
    with pytest.raises(ModelUnavailable, match="Overloaded"):
        model(server, max_retries=1).invoke("x")
    assert len(server.requests) == 3  # 401 is not retried; 529 is


def test_missing_key_for_direct_construction(
    server: AnthropicServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from interlock.agent.models import MissingAPIKey

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingAPIKey, match="ANTHROPIC_API_KEY"):
        ChatAnthropic(model="claude-test", base_url=server.url)
    assert server.requests == []
