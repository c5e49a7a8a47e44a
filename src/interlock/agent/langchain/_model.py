"""A langchain-core chat model (`ChatOpenAI`, `ChatAnthropic`, `ChatOllama`, any
`BaseChatModel`) behind interlock's chat-model protocol.

The conversation goes to the model as LangChain messages (`to_langchain`) and its answer
comes back as interlock messages, field for field: text or content blocks, tool calls with
their ids (several per turn too), usage, ids and metadata. Streaming yields interlock
`AIMessageChunk`s carrying LangChain's pieces (tool-call chunks included), so
`stream_mode="messages"` shows the model's tokens. Provider failures that carry an HTTP
status, a timeout or a lost connection are raised as interlock's `ModelError` family, the
original exception chained as the cause.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, NoReturn

from interlock.agent.langchain._detect import is_langchain_chat_model, is_langchain_tool
from interlock.agent.langchain._messages import to_langchain
from interlock.agent.langchain._node_tokens import streamed_by_caller
from interlock.agent.langchain._tools import LangChainTool, as_tool
from interlock.agent.messages import AIMessage, AIMessageChunk, BaseMessage, as_message
from interlock.agent.models.base import BaseChatModel, tool_specs
from interlock.agent.models.errors import (
    ModelAuthError,
    ModelError,
    ModelRateLimited,
    ModelResponseError,
    ModelTimeout,
    ModelUnavailable,
)

__all__ = ["LangChainChatModel", "as_chat_model"]


class LangChainChatModel(BaseChatModel):
    """An interlock chat model that calls a langchain-core `BaseChatModel`.

    `bind_tools` hands the tools to the LangChain model's own `bind_tools` (LangChain tools
    as they are, ours as OpenAI-style function specs). A model class that does not
    implement `bind_tools` (langchain-core's fake models) is called without them; the tool
    calls in its answers still run.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> LangChainChatModel(GenericFakeChatModel(messages=iter(["hello"]))).invoke("hi").content
        'hello'
    """

    def __init__(self, model: Any) -> None:
        if not is_langchain_chat_model(model):
            raise TypeError(f"{model!r} is not a langchain_core BaseChatModel")
        super().__init__()
        self.model = model
        """The LangChain model."""
        self._runnable: Any = model

    def __repr__(self) -> str:
        return f"LangChainChatModel({type(self.model).__name__})"

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> BaseChatModel:
        """A copy of this model whose LangChain model has `tools` bound; this one is
        unchanged. Other keyword arguments go to the LangChain model's `bind_tools`."""
        bound = copy.copy(self)
        bound.tools = tool_specs(tools)
        bound.tool_choice = tool_choice
        bound.parallel_tool_calls = parallel_tool_calls
        bound._runnable = self.model
        if tools and _implements_bind_tools(self.model):
            options = dict(kwargs)
            if tool_choice is not None:
                options["tool_choice"] = tool_choice
            if parallel_tool_calls is not None:
                options["parallel_tool_calls"] = parallel_tool_calls
            native = [_native_tool(t) for t in tools]
            bound._runnable = self.model.bind_tools(native, **options)
        return bound

    def _generate(self, messages: list[BaseMessage]) -> AIMessage:
        try:
            reply = self._runnable.invoke(to_langchain(messages))
        except Exception as exc:
            _raise_mapped(exc, self.model)
        return _as_ai(reply)

    def _stream(self, messages: list[BaseMessage]) -> Iterator[AIMessageChunk]:
        try:
            with streamed_by_caller():  # the caller sends the chunks on: not twice
                for chunk in self._runnable.stream(to_langchain(messages)):
                    yield _as_chunk(chunk)
        except Exception as exc:
            _raise_mapped(exc, self.model)

    async def _agenerate(self, messages: list[BaseMessage]) -> AIMessage:
        try:
            reply = await self._runnable.ainvoke(to_langchain(messages))
        except Exception as exc:
            _raise_mapped(exc, self.model)
        return _as_ai(reply)

    async def _astream(self, messages: list[BaseMessage]) -> AsyncIterator[AIMessageChunk]:
        try:
            with streamed_by_caller():
                async for chunk in self._runnable.astream(to_langchain(messages)):
                    yield _as_chunk(chunk)
        except Exception as exc:
            _raise_mapped(exc, self.model)


def _implements_bind_tools(model: Any) -> bool:
    base = sys.modules["langchain_core.language_models.chat_models"].BaseChatModel
    return type(model).bind_tools is not base.bind_tools


def _native_tool(tool: Any) -> Any:
    """What the LangChain model's `bind_tools` is given for one of our tool arguments."""
    if isinstance(tool, LangChainTool):
        return tool.lc_tool
    if is_langchain_tool(tool) or isinstance(tool, Mapping):
        return tool
    return {"type": "function", "function": as_tool(tool).json_schema()}


def _as_ai(reply: Any) -> AIMessage:
    message = as_message(reply)
    if isinstance(message, AIMessageChunk):
        return message.to_message()
    if not isinstance(message, AIMessage):
        raise ModelResponseError(f"the LangChain model answered with a {message.type} message")
    return message


def _as_chunk(chunk: Any) -> AIMessageChunk:
    message = as_message(chunk)
    if isinstance(message, AIMessageChunk):
        return message
    if not isinstance(message, AIMessage):
        raise ModelResponseError(f"the LangChain model streamed a {message.type} message")
    return AIMessageChunk(  # a model that does not stream answers with one whole message
        content=message.content,
        id=message.id,
        name=message.name,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        tool_calls=message.tool_calls,
        invalid_tool_calls=message.invalid_tool_calls,
        usage_metadata=message.usage_metadata,
    )


def _raise_mapped(exc: Exception, model: Any) -> NoReturn:
    """Raise `exc` as an interlock `ModelError` when it says what failed (an HTTP status, a
    timeout, a lost connection), chained to it; otherwise raise `exc` itself."""
    cls = None if isinstance(exc, ModelError) else _error_class(exc)
    if cls is None:
        raise exc
    status = getattr(exc, "status_code", None)
    text = f"{type(model).__name__} failed: {type(exc).__name__}: {exc}"
    raise cls(text, status=status if isinstance(status, int) else None) from exc


def _error_class(exc: Exception) -> type[ModelError] | None:
    status = getattr(exc, "status_code", None)
    names = [c.__name__ for c in type(exc).__mro__]
    cls: type[ModelError] | None = None
    if isinstance(status, int) and not isinstance(status, bool):
        if status in (401, 403):
            cls = ModelAuthError
        elif status == 429:
            cls = ModelRateLimited
        elif status >= 500:
            cls = ModelUnavailable
        elif status >= 400:
            cls = ModelResponseError
    elif any("Timeout" in n for n in names):
        cls = ModelTimeout
    elif any(n in ("APIConnectionError", "ConnectError", "ConnectionError") for n in names):
        cls = ModelUnavailable
    return cls


def as_chat_model(model: Any) -> Any:
    """A LangChain chat model wrapped as an interlock chat model; anything else unchanged."""
    if is_langchain_chat_model(model):
        return LangChainChatModel(model)
    return model
