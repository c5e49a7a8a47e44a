"""interlock messages to langchain-core messages and back, field for field.

Both libraries give a message the same fields (`content` as text or content blocks, `id`,
`name`, `additional_kwargs`, `response_metadata`; `tool_calls`, `invalid_tool_calls` and
`usage_metadata` on AI messages; `tool_call_id`, `status` and `artifact` on tool
results), so a conversion copies them and loses nothing: `from_langchain(to_langchain(m))
== m`. langchain-core is imported by `to_langchain` only.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any, overload

from interlock.agent.langchain._detect import is_langchain_message
from interlock.agent.messages import BaseMessage, RemoveMessage, as_message, convert_to_messages

__all__ = ["from_langchain", "to_langchain"]


def _classes() -> dict[str, type]:
    from langchain_core import messages as lc

    return {
        "system": lc.SystemMessage,
        "human": lc.HumanMessage,
        "ai": lc.AIMessage,
        "tool": lc.ToolMessage,
        "remove": lc.RemoveMessage,
        "AIMessageChunk": lc.AIMessageChunk,
    }


def _one_to_langchain(message: Any, classes: dict[str, type]) -> Any:
    if is_langchain_message(message):
        return message
    message = as_message(message)
    cls = classes[message.type]
    if isinstance(message, RemoveMessage):
        return cls(id=message.id)
    values = {
        f.name: copy.deepcopy(getattr(message, f.name))
        for f in dataclasses.fields(message)
        if f.init
    }
    return cls(**values)


@overload
def to_langchain(messages: BaseMessage) -> Any: ...
@overload
def to_langchain(messages: Sequence[Any]) -> list[Any]: ...


def to_langchain(messages: Any) -> Any:
    """interlock messages as langchain-core messages: one message gives one, a list gives a
    list. LangChain messages are returned as they are; strings, `(role, content)` tuples and
    role dicts are read as `convert_to_messages` reads them. Needs langchain-core (`pip
    install 'interlock[langchain]'`).

    Example:
        >>> from interlock import HumanMessage
        >>> to_langchain(HumanMessage("hi", id="1")).__class__.__module__
        'langchain_core.messages.human'
    """
    classes = _classes()
    if isinstance(messages, BaseMessage) or is_langchain_message(messages):
        return _one_to_langchain(messages, classes)
    return [_one_to_langchain(m, classes) for m in convert_to_messages(messages)]


@overload
def from_langchain(messages: BaseMessage) -> BaseMessage: ...
@overload
def from_langchain(messages: Sequence[Any]) -> list[BaseMessage]: ...


def from_langchain(messages: Any) -> Any:
    """langchain-core messages as interlock messages (the inverse of `to_langchain`): one
    message gives one, a list gives a list; interlock messages are returned as they are.

    Example:
        >>> from interlock import AIMessage
        >>> m = AIMessage("ok", id="a", tool_calls=[])
        >>> from_langchain(to_langchain(m)) == m
        True
    """
    if isinstance(messages, BaseMessage) or is_langchain_message(messages):
        return as_message(messages)
    return [as_message(m) for m in messages]
