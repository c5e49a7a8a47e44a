"""`init_chat_model`: provider names, inference, and where keys and URLs come from."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock.agent.models import (
    ChatAnthropic,
    ChatOpenAI,
    MissingAPIKey,
    ModelError,
    ScriptedChatModel,
    init_chat_model,
)
from interlock.agent.models.registry import infer_provider
from tests.fakes import AnthropicServer, OpenAIServer

PROVIDER_VARS = [
    f"{p}_{kind}"
    for p in ("OPENAI", "DEEPSEEK", "OPENROUTER", "OLLAMA", "ANTHROPIC", "OPENAI_COMPATIBLE")
    for kind in ("API_KEY", "BASE_URL")
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No provider variables, and a working directory without a `.env`."""
    for var in PROVIDER_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def test_provider_inference() -> None:
    assert infer_provider("gpt-4o-mini") == "openai"
    for name in ("o1-mini", "o3", "o4-mini"):
        assert infer_provider(name) == "openai"
    assert infer_provider("claude-sonnet-4-5") == "anthropic"
    assert infer_provider("deepseek-v4-flash") == "deepseek"
    assert infer_provider("llama3.2") is None
    assert isinstance(init_chat_model("claude-sonnet-4-5", api_key="k"), ChatAnthropic)
    bare = init_chat_model("deepseek-v4-flash", api_key="k")
    assert isinstance(bare, ChatOpenAI) and bare.provider == "deepseek"
    assert bare.model == "deepseek-v4-flash"
    with pytest.raises(ModelError, match="provider:model"):
        init_chat_model("llama3.2")


def test_default_base_urls() -> None:
    expected = {
        "openai:gpt-4o": "https://api.openai.com/v1",
        "deepseek:deepseek-v4-flash": "https://api.deepseek.com",
        "openrouter:meta/llama": "https://openrouter.ai/api/v1",
        "anthropic:claude-x": "https://api.anthropic.com",
    }
    for name, url in expected.items():
        m = init_chat_model(name, api_key="k")
        assert m.base_url == url, name  # type: ignore[attr-defined]
        assert m.model == name.split(":", 1)[1]  # type: ignore[attr-defined]
    ollama = init_chat_model("ollama:llama3.2:8b")  # no key needed
    assert ollama.base_url == "http://localhost:11434/v1"  # type: ignore[attr-defined]
    assert ollama.model == "llama3.2:8b" and ollama.api_key is None  # type: ignore[attr-defined]
    same = init_chat_model("gpt-4o", model_provider="openrouter", api_key="k")
    assert same.base_url == "https://openrouter.ai/api/v1"  # type: ignore[attr-defined]


def test_unknown_provider_and_compatible_without_url() -> None:
    with pytest.raises(ModelError, match="unknown provider 'nope'"):
        init_chat_model("nope:model")
    with pytest.raises(ModelError, match="base_url"):
        init_chat_model("openai-compatible:qwen")


def test_missing_key_names_the_variable_and_sends_nothing(server: OpenAIServer) -> None:
    for name, var in [
        ("deepseek:deepseek-v4-flash", "DEEPSEEK_API_KEY"),
        ("openai:gpt-4o", "OPENAI_API_KEY"),
        ("openrouter:x/y", "OPENROUTER_API_KEY"),
        ("anthropic:claude-x", "ANTHROPIC_API_KEY"),
    ]:
        with pytest.raises(MissingAPIKey, match=var):
            init_chat_model(name, base_url=server.url)
    with pytest.raises(MissingAPIKey, match="OPENAI_API_KEY"):
        ChatOpenAI(model="gpt-4o", base_url=server.url)
    assert server.requests == []


def test_key_and_url_from_the_environment(
    server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "from-env")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", server.url + "/")
    server.text("hi")
    m = init_chat_model("deepseek:deepseek-v4-flash", temperature=0)
    assert m.invoke("x").content == "hi"
    assert server.requests[0]["headers"]["authorization"] == "Bearer from-env"
    # arguments beat the environment
    assert init_chat_model("deepseek:m", api_key="arg").api_key == "arg"  # type: ignore[attr-defined]


def test_openai_base_url_variable(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    server.text("via OPENAI_BASE_URL").text("compatible")
    assert init_chat_model("gpt-4o-mini").invoke("x").content == "via OPENAI_BASE_URL"
    # openai-compatible without its own variables falls back to OPENAI_*
    assert init_chat_model("openai-compatible:local").invoke("x").content == "compatible"
    assert server.requests[1]["headers"]["authorization"] == "Bearer sk-env"


def test_dotenv_is_read_but_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: OpenAIServer
) -> None:
    (tmp_path / ".env").write_text(
        "# provider settings\n"
        f'export OPENROUTER_API_KEY="from-dotenv"\nOPENROUTER_BASE_URL={server.url}\n'
    )
    server.text("hi")
    m = init_chat_model("openrouter:some/model")
    assert m.invoke("x").content == "hi"
    assert server.requests[0]["headers"]["authorization"] == "Bearer from-dotenv"
    assert "OPENROUTER_API_KEY" not in os.environ  # .env is read, never loaded
    monkeypatch.setenv("OPENROUTER_API_KEY", "from-env")
    assert init_chat_model("openrouter:m").api_key == "from-env"  # type: ignore[attr-defined]


def test_anthropic_key_from_dotenv(tmp_path: Path) -> None:
    with AnthropicServer() as server:
        (tmp_path / ".env").write_text(f"ANTHROPIC_API_KEY=ak-dot\nANTHROPIC_BASE_URL={server.url}")
        server.text("hello")
        assert init_chat_model("claude-3-5-haiku").invoke("x").content == "hello"
        assert server.requests[0]["headers"]["x-api-key"] == "ak-dot"


def test_local_compatible_server_sends_no_authorization(server: OpenAIServer) -> None:
    server.text("from vllm")
    vllm = init_chat_model("vllm:qwen", base_url=server.url)
    assert vllm.invoke("x").content == "from vllm"
    assert "authorization" not in server.requests[0]["headers"]
    assert server.bodies[0]["model"] == "qwen"


def test_settings_reach_the_model() -> None:
    m = init_chat_model(
        "openai:gpt-4o", api_key="k", temperature=0.3, max_tokens=9, timeout=5, max_retries=4
    )
    assert isinstance(m, ChatOpenAI)
    assert (m.temperature, m.max_tokens, m.timeout, m.max_retries) == (0.3, 9, 5, 4)


def test_scripted_provider() -> None:
    m = init_chat_model("scripted:demo", responses=["hello"])
    assert isinstance(m, ScriptedChatModel) and m.invoke("x").content == "hello"
