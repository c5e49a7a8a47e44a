"""`ScriptedChatModel`: replays given answers — for tests, docs and offline demos."""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from interlock.agent.messages import AIMessage, AIMessageChunk, BaseMessage
from interlock.agent.models.base import BaseChatModel
from interlock.errors import InterlockError

__all__ = ["GenericFakeChatModel", "ScriptExhausted", "ScriptedChatModel"]

Response = AIMessage | str | Callable[[list[BaseMessage]], AIMessage | str]


class ScriptExhausted(InterlockError):
    """The scripted model was asked for more answers than it was given."""


class _Cursor:
    """Position in the script, shared by a model and its bound copies."""

    def __init__(self) -> None:
        self.position = 0
        self.lock = threading.Lock()


def _last_text(messages: list[BaseMessage]) -> str:
    return messages[-1].text[:80] if messages else ""


class ScriptedChatModel(BaseChatModel):
    """Answers with the given responses, in order: `AIMessage`s, strings, or callables that
    receive the conversation and return one. `.calls` records what it was sent.

    Example:
        >>> model = ScriptedChatModel(["hello"])
        >>> model.invoke("hi").content
        'hello'
    """

    def __init__(self, responses: Sequence[Response] = ()) -> None:
        super().__init__()
        self.responses = list(responses)
        self.calls: list[list[BaseMessage]] = []
        self._cursor = _Cursor()

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> BaseChatModel:
        """A copy that records the bound tools; it shares the script, its position and
        `.calls` with this model, so either one consumes the next response."""
        return super().bind_tools(tools, **kwargs)

    @property
    def remaining(self) -> int:
        """How many responses are left."""
        return len(self.responses) - self._cursor.position

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        with self._cursor.lock:
            position = self._cursor.position
            if position >= len(self.responses):
                raise ScriptExhausted(
                    f"ScriptedChatModel ran out of responses: all {len(self.responses)} were "
                    f"used and call {position + 1} asked for another; add more responses to "
                    f"the script (last message received: {_last_text(messages)!r})"
                )
            response = self.responses[position]
            self._cursor.position += 1
            self.calls.append(list(messages))
        if callable(response) and not isinstance(response, (AIMessage, str)):
            response = response(list(messages))
        if isinstance(response, str):
            response = AIMessage(content=response)
        reply = AIMessage(
            content=response.content,
            id=response.id or f"run-{uuid.uuid4().hex[:12]}",
            name=response.name,
            tool_calls=copy.deepcopy(response.tool_calls),
            invalid_tool_calls=copy.deepcopy(response.invalid_tool_calls),
            additional_kwargs=copy.deepcopy(response.additional_kwargs),
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


class GenericFakeChatModel(ScriptedChatModel):
    """LangChain's name for a scripted model: `GenericFakeChatModel(messages=iter([...]))`.

    Example:
        >>> GenericFakeChatModel(messages=iter(["ok"])).invoke("hi").content
        'ok'
    """

    def __init__(
        self, responses: Sequence[Response] = (), *, messages: Iterable[Response] = ()
    ) -> None:
        super().__init__([*responses, *messages])
