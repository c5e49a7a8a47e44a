"""`ScriptedChatModel`: replays given answers — for tests, docs and offline demos."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from interlock.agent.messages import AIMessage, AIMessageChunk, BaseMessage
from interlock.agent.models.base import BaseChatModel
from interlock.errors import InterlockError

__all__ = ["GenericFakeChatModel", "ScriptExhausted", "ScriptedChatModel"]

Response = AIMessage | str | Callable[[list[BaseMessage]], AIMessage | str]


class ScriptExhausted(InterlockError):
    """The scripted model was asked for more answers than it was given."""


class ScriptedChatModel(BaseChatModel):
    """Answers with the given responses, in order: `AIMessage`s, strings, or callables that
    receive the conversation and return one. `.calls` records what it was sent.

    Example:
        >>> model = ScriptedChatModel(["hello"])
        >>> model.invoke("hi").content
        'hello'
    """

    def __init__(self, responses: Sequence[Response]) -> None:
        super().__init__()
        self.responses = list(responses)
        self.calls: list[list[BaseMessage]] = []
        self._position = 0
        self._lock = threading.Lock()

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> BaseChatModel:
        """Bound copies share the script and its position."""
        bound = super().bind_tools(tools, **kwargs)
        return bound

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        with self._lock:
            if self._position >= len(self.responses):
                raise ScriptExhausted(
                    f"ScriptedChatModel ran out of responses after {len(self.responses)} calls"
                )
            response = self.responses[self._position]
            self._position += 1
            self.calls.append(list(messages))
        if callable(response) and not isinstance(response, (AIMessage, str)):
            response = response(list(messages))
        if isinstance(response, str):
            response = AIMessage(content=response)
        reply = AIMessage(
            content=response.content,
            id=response.id or f"run-{uuid.uuid4().hex[:12]}",
            name=response.name,
            tool_calls=[dict(c) for c in response.tool_calls],  # type: ignore[misc]
            usage_metadata=response.usage_metadata,
            response_metadata=dict(response.response_metadata),
        )
        return reply

    def _generate(self, messages: list[BaseMessage]) -> AIMessage:
        return self._next(messages)

    def _stream(self, messages: list[BaseMessage]) -> Iterator[AIMessageChunk]:
        reply = self._next(messages)
        text = reply.content if isinstance(reply.content, str) else reply.text
        tokens = re.findall(r"\S+\s*|\s+", text) or [""]
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            yield AIMessageChunk(
                content=token,
                id=reply.id,
                tool_call_chunks=[
                    {
                        "index": n,
                        "id": c.get("id"),
                        "name": c.get("name"),
                        "args": json.dumps(c.get("args") or {}),
                    }
                    for n, c in enumerate(reply.tool_calls)
                ]
                if last
                else [],
                usage_metadata=reply.usage_metadata if last else None,
            )


GenericFakeChatModel = ScriptedChatModel
