"""`init_chat_model("provider:model")`: providers by name, keys from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interlock._dotenv import read_dotenv
from interlock.agent.models.base import BaseChatModel
from interlock.agent.models.errors import MissingAPIKey, ModelError

__all__ = ["PROVIDERS", "Provider", "infer_provider", "init_chat_model"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """How to reach one provider family."""

    name: str
    wire: str
    """"openai" (chat completions) or "anthropic" (Messages API)."""
    base_url: str | None
    needs_key: bool = True

    @property
    def key_var(self) -> str:
        """The environment variable holding the API key."""
        return f"{self.name.upper().replace('-', '_')}_API_KEY"

    @property
    def url_var(self) -> str:
        """The environment variable overriding the base URL."""
        return f"{self.name.upper().replace('-', '_')}_BASE_URL"


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(name="openai", wire="openai", base_url="https://api.openai.com/v1"),
        Provider(name="deepseek", wire="openai", base_url="https://api.deepseek.com"),
        Provider(name="openrouter", wire="openai", base_url="https://openrouter.ai/api/v1"),
        Provider(
            name="ollama", wire="openai", base_url="http://localhost:11434/v1", needs_key=False
        ),
        Provider(name="openai-compatible", wire="openai", base_url=None, needs_key=False),
        Provider(name="anthropic", wire="anthropic", base_url="https://api.anthropic.com"),
    )
}
_ALIASES = {
    "vllm": "openai-compatible",
    "llamacpp": "openai-compatible",
    "llama.cpp": "openai-compatible",
    "compatible": "openai-compatible",
}


def infer_provider(model: str) -> str | None:
    """The provider a bare model name implies (`gpt-4o` → openai, `claude-…` → anthropic)."""
    name = model.lower()
    if name.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    if name.startswith("claude"):
        return "anthropic"
    if name.startswith("deepseek"):
        return "deepseek"
    return None


def _setting(key: str, explicit: Any, dotenv: Mapping[str, str]) -> Any:
    if explicit is not None:
        return explicit
    return os.environ.get(key) or dotenv.get(key) or None


def init_chat_model(
    model: str,
    *,
    model_provider: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout: float = 60.0,
    max_retries: int = 2,
    retry_backoff: float = 0.5,
    model_kwargs: Mapping[str, Any] | None = None,
    **extra: Any,
) -> BaseChatModel:
    """A chat model from `"provider:model"` (or a bare name whose provider is inferred).

    Providers: openai, deepseek, openrouter, ollama, anthropic, openai-compatible (any server
    speaking chat completions: pass `base_url=`), and `scripted` (offline; pass
    `responses=[...]`). Keys and URLs come from the arguments, else `<PROVIDER>_API_KEY` /
    `<PROVIDER>_BASE_URL` in the environment, else a `.env` file in the working directory. A
    missing key raises `MissingAPIKey` naming the variable; no request is sent.

    Example:
        >>> init_chat_model("deepseek:deepseek-v4-flash", api_key="sk-test").base_url
        'https://api.deepseek.com'
    """
    provider_name = model_provider
    name = model
    if provider_name is None and ":" in model:
        provider_name, name = model.split(":", 1)
    if provider_name is None:
        provider_name = infer_provider(model)
    if provider_name is None:
        raise ModelError(
            f"cannot tell the provider of {model!r}: write 'provider:model' "
            f"(providers: {sorted(PROVIDERS)} or 'scripted')"
        )
    provider_name = _ALIASES.get(provider_name.lower(), provider_name.lower())
    if provider_name == "scripted":
        from interlock.agent.models.scripted import ScriptedChatModel

        return ScriptedChatModel(extra.pop("responses", []))
    provider = PROVIDERS.get(provider_name)
    if provider is None:
        raise ModelError(f"unknown provider {provider_name!r}; known: {sorted(PROVIDERS)}")
    dotenv = read_dotenv(".env")
    key = _setting(provider.key_var, api_key, dotenv)
    url = _setting(provider.url_var, base_url, dotenv) or provider.base_url
    if provider.name == "openai-compatible" and url is None:
        url = _setting("OPENAI_BASE_URL", None, dotenv)
        key = key or _setting("OPENAI_API_KEY", None, dotenv)
    if url is None:
        raise ModelError(f"provider {provider.name!r} needs base_url= (or {provider.url_var})")
    if provider.needs_key and not key:
        raise MissingAPIKey(
            f"no API key for {provider.name}: set {provider.key_var} in the environment or in "
            f".env, or pass api_key="
        )
    if provider.wire == "anthropic":
        from interlock.agent.models.anthropic import ChatAnthropic

        return ChatAnthropic(
            name,
            api_key=key,
            base_url=url,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            model_kwargs=model_kwargs,
        )
    from interlock.agent.models.openai_compat import ChatOpenAI

    return ChatOpenAI(
        name,
        api_key=key,
        base_url=url,
        temperature=temperature,
        max_tokens=max_tokens,
        timeout=timeout,
        max_retries=max_retries,
        retry_backoff=retry_backoff,
        model_kwargs={**(model_kwargs or {}), **extra},
        provider=provider.name,
    )
