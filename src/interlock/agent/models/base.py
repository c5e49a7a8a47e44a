"""The chat-model protocol: invoke / stream (sync and async) with tools bound."""

from __future__ import annotations

import asyncio
import copy
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from interlock.agent.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    as_messages,
    convert_to_messages,
)

__all__ = ["BaseChatModel", "tool_specs"]


def tool_specs(tools: Sequence[Any]) -> list[dict[str, Any]]:
    """Normalise bound tools to `{"name", "description", "parameters"}` dicts."""
    out = []
    for t in tools:
        if hasattr(t, "json_schema"):
            out.append(t.json_schema())
        elif isinstance(t, Mapping) and t.get("type") == "function" and "function" in t:
            fn = t["function"]
            out.append(
                {
                    "name": fn["name"],
                    "description": fn.get("description", ""),
                    "parameters": fn.get("parameters") or {"type": "object", "properties": {}},
                }
            )
        elif isinstance(t, Mapping) and "name" in t:
            out.append(
                {
                    "name": t["name"],
                    "description": t.get("description", ""),
                    "parameters": t.get("parameters") or {"type": "object", "properties": {}},
                }
            )
        else:
            from interlock.agent.langchain._tools import as_tool

            out.append(as_tool(t).json_schema())
    return out


class BaseChatModel(ABC):
    """Base of every chat model. Subclasses implement `_generate` and, for token
    streaming, `_stream` (the default streams the whole answer as one chunk); async twins
    default to running the sync ones in a worker thread."""

    tools: list[dict[str, Any]]
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None

    def __init__(self) -> None:
        self.tools = []

    # ---- to implement --------------------------------------------------------------------

    @abstractmethod
    def _generate(self, messages: list[BaseMessage]) -> AIMessage:
        """One answer to the conversation."""

    def _stream(self, messages: list[BaseMessage]) -> Iterator[AIMessageChunk]:
        reply = self._generate(messages)
        yield AIMessageChunk(
            content=reply.content,
            id=reply.id,
            tool_calls=list(reply.tool_calls),
            usage_metadata=reply.usage_metadata,
            response_metadata=dict(reply.response_metadata),
        )

    async def _agenerate(self, messages: list[BaseMessage]) -> AIMessage:
        return await asyncio.to_thread(self._generate, messages)

    async def _astream(self, messages: list[BaseMessage]) -> AsyncIterator[AIMessageChunk]:
        for chunk in await asyncio.to_thread(lambda: list(self._stream(messages))):
            yield chunk

    # ---- public --------------------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        parallel_tool_calls: bool | None = None,
        **_kwargs: Any,
    ) -> BaseChatModel:
        """A copy of this model that offers `tools` to the model; this one is unchanged."""
        bound = copy.copy(self)
        bound.tools = tool_specs(tools)
        bound.tool_choice = tool_choice
        bound.parallel_tool_calls = parallel_tool_calls
        return bound

    def invoke(self, input: Any, config: Any = None, **_kwargs: Any) -> AIMessage:
        """One answer to `input` (a string, a message, or a list of messages; LangChain's
        messages are read as ours)."""
        return self._generate(as_messages(convert_to_messages(input)))

    async def ainvoke(self, input: Any, config: Any = None, **_kwargs: Any) -> AIMessage:
        """Async twin of `invoke`."""
        return await self._agenerate(as_messages(convert_to_messages(input)))

    def stream(self, input: Any, config: Any = None, **_kwargs: Any) -> Iterator[AIMessageChunk]:
        """The answer as it is produced, chunk by chunk (chunks add up with `+`)."""
        yield from self._stream(as_messages(convert_to_messages(input)))

    async def astream(
        self, input: Any, config: Any = None, **_kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        """Async twin of `stream`."""
        async for chunk in self._astream(as_messages(convert_to_messages(input))):
            yield chunk
