"""Chat models: the protocol, real providers over HTTP, and a scripted model."""

from __future__ import annotations

from typing import Any

from interlock.agent.models.anthropic import ChatAnthropic
from interlock.agent.models.base import BaseChatModel, tool_specs
from interlock.agent.models.errors import (
    MissingAPIKey,
    ModelAuthError,
    ModelError,
    ModelRateLimited,
    ModelResponseError,
    ModelTimeout,
    ModelUnavailable,
)
from interlock.agent.models.openai_compat import ChatDeepSeek, ChatOpenAI
from interlock.agent.models.scripted import GenericFakeChatModel, ScriptedChatModel, ScriptExhausted

__all__ = [
    "BaseChatModel",
    "ChatAnthropic",
    "ChatDeepSeek",
    "ChatOpenAI",
    "GenericFakeChatModel",
    "MissingAPIKey",
    "ModelAuthError",
    "ModelError",
    "ModelRateLimited",
    "ModelResponseError",
    "ModelTimeout",
    "ModelUnavailable",
    "ScriptExhausted",
    "ScriptedChatModel",
    "init_chat_model",
    "tool_specs",
]


def init_chat_model(
    model: Any, *, model_provider: str | None = None, **kwargs: Any
) -> BaseChatModel:
    """A chat model from `"provider:model"`, or a LangChain chat model object wrapped (see
    `interlock.agent.models.registry`)."""
    from interlock.agent.models.registry import init_chat_model as _init

    return _init(model, model_provider=model_provider, **kwargs)
