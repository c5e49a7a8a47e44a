"""`stream_mode="messages"` beyond model tokens: the messages a node returns.

LangGraph's `messages` stream carries a model's tokens as they come and, when a node
finishes, each message in its update that the run has not sent yet (a tool's
`ToolMessage`, a message a node builds itself, a model's reply fetched without
streaming). A message is any object in LangChain's shape (a string `type`, a `content`
and an `id`: interlock's messages and langchain-core's alike), found where LangGraph
looks: the update itself, a list of them, or a value (or list) of an update's key.
Messages the node was given in its input, and those already sent (as tokens or by an
earlier node of the run), are not sent again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from interlock._types import Command

__all__ = ["seen_in", "send_returned_messages"]


def _is_message(value: Any) -> bool:
    return (
        not isinstance(value, (str, bytes, Mapping, list, tuple))
        and isinstance(getattr(value, "type", None), str)
        and hasattr(value, "content")
        and hasattr(value, "id")
    )


def _fields(value: Any) -> Iterator[Any]:
    """The values of an update or a state: a mapping's, a dataclass's or a pydantic
    model's fields."""
    if isinstance(value, Mapping):
        yield from value.values()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield from (getattr(value, f.name, None) for f in dataclasses.fields(value))
    elif hasattr(type(value), "model_fields"):
        yield from (getattr(value, name, None) for name in type(value).model_fields)


def _messages_in(value: Any) -> Iterator[Any]:
    if isinstance(value, Command):
        if value.update is not None:
            yield from _messages_in(value.update)
        return
    if _is_message(value):
        yield value
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, Command):
                yield from _messages_in(item)
            elif _is_message(item):
                yield item
        return
    for field in _fields(value):
        if _is_message(field):
            yield field
        elif isinstance(field, (list, tuple)):
            yield from (item for item in field if _is_message(item))


def seen_in(state: Any) -> set[str]:
    """The ids of the messages a node is given (they are not sent as its own)."""
    out: set[str] = set()
    for field in _fields(state):
        items = field if isinstance(field, (list, tuple)) else (field,)
        for item in items:
            if _is_message(item) and isinstance(item.id, str):
                out.add(item.id)
    return out


def send_returned_messages(
    result: Any,
    given: set[str],
    said: set[str],
    emit: Callable[[str, Any], None],
    metadata: dict[str, Any],
) -> None:
    """Send each message of a node's `result` not in `given` (its input's) nor `said`
    (the run's sent ones) as a `messages` chunk `(message, metadata)`; a message without
    an id gets one first (so the stream and the state name it alike)."""
    for message in _messages_in(result):
        if message.id is None:
            with contextlib.suppress(AttributeError, TypeError, ValueError):  # frozen: None
                message.id = str(uuid.uuid4())
        mid = message.id
        if isinstance(mid, str) and (mid in given or mid in said):
            continue
        if isinstance(mid, str):
            said.add(mid)
        emit("messages", (message, dict(metadata)))
