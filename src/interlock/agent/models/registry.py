"""`init_chat_model("provider:model")`: a chat model by name, keys from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlock.agent.models._providers import (
    PROVIDERS,
    Provider,
    canonical_provider,
    infer_provider,
)
from interlock.agent.models.base import BaseChatModel
from interlock.agent.models.errors import ModelError

__all__ = ["PROVIDERS", "Provider", "infer_provider", "init_chat_model"]


def _split(model: str, model_provider: str | None) -> tuple[str, str]:
    """`(provider, model name)` from `"provider:model"`, `model_provider=` or the name."""
    if model_provider is not None:
        return canonical_provider(model_provider), model
    prefix, sep, rest = model.partition(":")
    if sep and (canonical_provider(prefix) in PROVIDERS or prefix.lower() == "scripted"):
        return canonical_provider(prefix), rest
    inferred = infer_provider(model)
    if inferred is None:
        if sep:  # an unknown prefix: say so rather than "cannot tell"
            raise ModelError(
                f"unknown provider {prefix!r} in {model!r}; known: {sorted(PROVIDERS)} or "
                f"'scripted' (any chat-completions server: 'openai-compatible:<model>' with "
                f"base_url=)"
            )
        raise ModelError(
            f"cannot tell the provider of {model!r}: write 'provider:model' "
            f"(providers: {sorted(PROVIDERS)} or 'scripted')"
        )
    return inferred, model


def init_chat_model(
    model: Any,
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
    missing key raises `MissingAPIKey` naming the variable; no request is sent. Other keyword
    arguments (e.g. `top_p=`) go into the request body, like `model_kwargs`.

    `model` may also be a LangChain chat model object (`ChatOpenAI(...)`, any langchain-core
    `BaseChatModel`, configured as you configure it in LangChain): it is returned wrapped as
    an interlock chat model (`interlock.agent.langchain.LangChainChatModel`).

    Example:
        >>> init_chat_model("deepseek:deepseek-v4-flash", api_key="sk-test").base_url
        'https://api.deepseek.com'
    """
    if not isinstance(model, str):
        settings_given = (model_provider, api_key, base_url, temperature, max_tokens)
        return _from_object(model, *settings_given, model_kwargs or None, extra or None)
    provider_name, name = _split(model, model_provider)
    if provider_name == "scripted":
        from interlock.agent.models.scripted import ScriptedChatModel

        return ScriptedChatModel(extra.pop("responses", []))
    settings: dict[str, Any] = {
        "api_key": api_key,
        "base_url": base_url,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "timeout": timeout,
        "max_retries": max_retries,
        "retry_backoff": retry_backoff,
        "model_kwargs": {**(model_kwargs or {}), **extra},
    }
    spec = PROVIDERS.get(provider_name)
    if spec is None:
        raise ModelError(f"unknown provider {provider_name!r}; known: {sorted(PROVIDERS)}")
    if spec.wire == "anthropic":
        from interlock.agent.models.anthropic import ChatAnthropic

        return ChatAnthropic(name, provider=spec.name, **settings)
    from interlock.agent.models.openai_compat import ChatOpenAI

    return ChatOpenAI(name, provider=spec.name, **settings)


def _from_object(model: Any, *settings: Any) -> BaseChatModel:
    """A chat model object given to `init_chat_model`: a LangChain one is wrapped."""
    from interlock.agent.langchain._detect import is_langchain_chat_model

    if isinstance(model, BaseChatModel):
        wrapped: BaseChatModel = model
    elif is_langchain_chat_model(model):
        from interlock.agent.langchain._model import LangChainChatModel

        wrapped = LangChainChatModel(model)
    else:
        raise TypeError(
            f"init_chat_model takes 'provider:model' or a chat model object, not {model!r}"
        )
    if any(value is not None for value in settings):
        raise TypeError(
            "init_chat_model: configure a chat model object itself; provider, key, URL, "
            "temperature, max_tokens and request options apply to 'provider:model' names only"
        )
    return wrapped
