"""Chat models over real HTTP against a local server speaking each provider's protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock import HumanMessage, ScriptedChatModel, SystemMessage, ToolMessage, tool
from interlock.agent.messages import AIMessage
from interlock.agent.models import (
    ChatAnthropic,
    ChatOpenAI,
    MissingAPIKey,
    ModelAuthError,
    ModelRateLimited,
    ModelResponseError,
    ModelTimeout,
    ModelUnavailable,
    init_chat_model,
)
from interlock.agent.models.registry import infer_provider
from interlock.agent.models.testing import FakeProvider, Reply

FAST = {"retry-after": "0"}


@tool
def get_weather(city: str, unit: str = "C") -> str:
    """Current weather.

    Args:
        city: City name
        unit: C or F
    """
    return f"20{unit} in {city}"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as f:
        yield f


def openai(fake: FakeProvider, **kw: object) -> ChatOpenAI:
    model = init_chat_model(
        "deepseek:deepseek-v4-flash", api_key="sk-test", base_url=fake.url, retry_backoff=0.01, **kw
    )
    assert isinstance(model, ChatOpenAI)
    return model


def anthropic(fake: FakeProvider, **kw: object) -> ChatAnthropic:
    model = init_chat_model(
        "anthropic:claude-test", api_key="ak-test", base_url=fake.url, retry_backoff=0.01, **kw
    )
    assert isinstance(model, ChatAnthropic)
    return model


def collect(chunks: list) -> AIMessage:
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    return total.to_message()


def test_openai_text_tools_and_request_shape(fake: FakeProvider) -> None:
    fake.replies.append(
        Reply.openai_calls(
            [("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome", "unit": "F"})]
        )
    )
    model = openai(fake, temperature=0).bind_tools([get_weather])
    reply = model.invoke([SystemMessage("be brief"), HumanMessage("weather?")])
    assert [c["args"] for c in reply.tool_calls] == [
        {"city": "Oslo"},
        {"city": "Rome", "unit": "F"},
    ]
    assert reply.usage_metadata == {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    sent = fake.requests[0]
    assert sent["path"] == "/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    assert sent["json"]["model"] == "deepseek-v4-flash" and sent["json"]["temperature"] == 0
    assert sent["json"]["messages"][0] == {"role": "system", "content": "be brief"}
    params = sent["json"]["tools"][0]["function"]["parameters"]
    assert params["properties"]["city"]["description"] == "City name"
    assert params["required"] == ["city"]


def test_openai_tool_results_go_back_in_wire_shape(fake: FakeProvider) -> None:
    fake.replies.append(Reply.openai_text("It is 20C."))
    call = {"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1", "type": "tool_call"}
    openai(fake).invoke(
        [
            HumanMessage("w?"),
            AIMessage("", tool_calls=[call]),
            ToolMessage("20C", tool_call_id="c1"),
        ]
    )
    msgs = fake.requests[0]["json"]["messages"]
    assert msgs[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
    }
    assert msgs[2] == {"role": "tool", "tool_call_id": "c1", "content": "20C"}


def test_openai_streams_tokens_and_tool_arguments(fake: FakeProvider) -> None:
    fake.replies.append(
        Reply.openai_calls([("get_weather", {"city": "Lisbon"})], text="Checking the weather")
    )
    chunks = list(openai(fake).bind_tools([get_weather]).stream("hi"))
    assert len(chunks) > 5
    message = collect(chunks)
    assert message.content == "Checking the weather"
    assert message.tool_calls[0]["args"] == {"city": "Lisbon"}
    assert message.usage_metadata["total_tokens"] == 18
    assert fake.requests[0]["json"]["stream_options"] == {"include_usage": True}


def test_openai_async_invoke_and_stream(fake: FakeProvider) -> None:
    fake.replies += [Reply.openai_text("one"), Reply.openai_text("two words")]
    model = openai(fake)

    async def go() -> tuple[str, str]:
        a = await model.ainvoke("x")
        chunks = [c async for c in model.astream("y")]
        return a.content, collect(chunks).content

    assert asyncio.run(go()) == ("one", "two words")


def test_retries_429_5xx_and_dropped_connections_then_succeeds(fake: FakeProvider) -> None:
    fake.replies += [
        Reply.status(429, headers=FAST),
        Reply.status(503, headers=FAST),
        Reply.drop(),
        Reply.openai_text("finally"),
    ]
    assert openai(fake, max_retries=3).invoke("x").content == "finally"
    assert len(fake.requests) == 4


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply.status(429, headers=FAST), ModelRateLimited),
        (Reply.status(500, headers=FAST), ModelUnavailable),
        (Reply.status(401), ModelAuthError),
        (Reply.status(400, '{"error": {"message": "bad model"}}'), ModelResponseError),
    ],
)
def test_failures_map_to_the_error_family(fake: FakeProvider, reply: Reply, error: type) -> None:
    fake.replies += [reply, reply]
    with pytest.raises(error):
        openai(fake, max_retries=1).invoke("x")


def test_timeout(fake: FakeProvider) -> None:
    fake.replies.append(Reply.hang(2.0))
    with pytest.raises(ModelTimeout):
        openai(fake, timeout=0.3, max_retries=0).invoke("x")


def test_anthropic_plain_and_streamed_with_tools(fake: FakeProvider) -> None:
    fake.replies += [
        Reply.anthropic_calls([("get_weather", {"city": "Oslo"})], text="Let me see"),
        Reply.anthropic_calls([("get_weather", {"city": "Rome"})], text="Sure"),
    ]
    model = anthropic(fake, max_tokens=100).bind_tools([get_weather])
    reply = model.invoke([SystemMessage("sys"), HumanMessage("w?")])
    assert reply.content == "Let me see" and reply.tool_calls[0]["args"] == {"city": "Oslo"}
    assert reply.usage_metadata == {"input_tokens": 13, "output_tokens": 5, "total_tokens": 18}
    sent = fake.requests[0]
    assert sent["path"] == "/v1/messages" and sent["headers"]["x-api-key"] == "ak-test"
    assert sent["json"]["system"] == "sys" and sent["json"]["max_tokens"] == 100
    assert sent["json"]["tools"][0]["input_schema"]["required"] == ["city"]
    streamed = collect(list(model.stream("w?")))
    assert streamed.content == "Sure" and streamed.tool_calls[0]["args"] == {"city": "Rome"}


def test_anthropic_tool_results_become_user_blocks(fake: FakeProvider) -> None:
    fake.replies.append(Reply.anthropic_text("done"))
    call = {"name": "get_weather", "args": {"city": "Oslo"}, "id": "t1", "type": "tool_call"}
    anthropic(fake).invoke(
        [
            HumanMessage("w?"),
            AIMessage("", tool_calls=[call]),
            ToolMessage("20C", tool_call_id="t1", status="error"),
        ]
    )
    msgs = fake.requests[0]["json"]["messages"]
    assert msgs[1]["content"][0] == {
        "type": "tool_use",
        "id": "t1",
        "name": "get_weather",
        "input": {"city": "Oslo"},
    }
    assert msgs[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "20C", "is_error": True}
        ],
    }


def test_missing_key_names_the_variable_and_sends_nothing(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingAPIKey, match="DEEPSEEK_API_KEY"):
        init_chat_model("deepseek:deepseek-v4-flash", base_url=fake.url)
    assert fake.requests == []


def test_keys_and_urls_from_env_and_dotenv(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    (tmp_path / ".env").write_text(
        f'OPENROUTER_API_KEY="from-dotenv"\nOPENROUTER_BASE_URL={fake.url}\n'
    )
    fake.replies.append(Reply.openai_text("hi"))
    model = init_chat_model("openrouter:some/model")
    assert model.invoke("x").content == "hi"
    assert fake.requests[0]["headers"]["authorization"] == "Bearer from-dotenv"
    monkeypatch.setenv("OPENROUTER_API_KEY", "from-env")
    assert init_chat_model("openrouter:some/model").api_key == "from-env"


def test_provider_inference_and_local_servers(fake: FakeProvider) -> None:
    assert infer_provider("gpt-4o-mini") == "openai"
    assert infer_provider("claude-3-5-haiku") == "anthropic"
    assert infer_provider("deepseek-chat") == "deepseek"
    ollama = init_chat_model("ollama:llama3.2")
    assert ollama.base_url == "http://localhost:11434/v1" and ollama.api_key is None
    fake.replies.append(Reply.openai_text("from vllm"))
    vllm = init_chat_model("openai-compatible:qwen", base_url=fake.url)
    assert vllm.invoke("x").content == "from vllm"
    assert "authorization" not in fake.requests[0]["headers"]


def test_scripted_model_replays_and_records() -> None:
    model = ScriptedChatModel(["first", lambda msgs: f"saw {len(msgs)}"])
    assert model.invoke("a").content == "first"
    assert model.invoke(["a", "b"]).content == "saw 2"
    assert [len(c) for c in model.calls] == [1, 2]
    with pytest.raises(Exception, match="ran out"):
        model.invoke("c")
