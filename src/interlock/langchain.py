"""Porting module for LangChain users: one place to import from when your nodes call
LangChain chat models themselves (`pip install 'interlock[langchain]'`).

`interlock.MessagesState` and `interlock.add_messages` turn dicts, `(role, content)`
tuples and strings into interlock's own messages, which a LangChain chat model refuses
(`NotImplementedError: Unsupported message type`). The `MessagesState` and `add_messages`
here merge exactly as interlock's do (ids assigned, replace by id, `RemoveMessage` and
`REMOVE_ALL_MESSAGES`), but every message they keep is a langchain-core message, as
LangGraph's are:

    from langgraph.graph import MessagesState, add_messages         # LangGraph
    from interlock.langchain import MessagesState, add_messages     # interlock

The converters and wrappers of `interlock.agent.langchain` (`to_langchain`,
`from_langchain`, `as_chat_model`, `as_tool`, ...) are importable from here too. This
module imports langchain-core; `import interlock` does not.

Example:
    >>> from interlock.langchain import add_messages
    >>> [type(m).__name__ for m in add_messages([], [("user", "hi"), ("ai", "hello")])]
    ['HumanMessage', 'AIMessage']
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, TypedDict

from langchain_core import messages as _lc
from langchain_core.messages import AnyMessage

from interlock.agent import messages as _messages
from interlock.agent.langchain import (
    LangChainChatModel,
    LangChainTool,
    as_chat_model,
    as_tool,
    from_langchain,
    is_langchain_chat_model,
    is_langchain_message,
    is_langchain_tool,
    to_langchain,
)
from interlock.agent.messages import REMOVE_ALL_MESSAGES

__all__ = [
    "REMOVE_ALL_MESSAGES",
    "AnyMessage",
    "LangChainChatModel",
    "LangChainTool",
    "MessagesState",
    "add_messages",
    "as_chat_model",
    "as_tool",
    "from_langchain",
    "is_langchain_chat_model",
    "is_langchain_message",
    "is_langchain_tool",
    "to_langchain",
]


_PLAIN = frozenset(
    (
        _lc.AIMessage,
        _lc.HumanMessage,
        _lc.SystemMessage,
        _lc.ToolMessage,
        _lc.RemoveMessage,
        _lc.ChatMessage,
        _lc.FunctionMessage,
    )
)
"""langchain-core message classes kept as they are (not chunks, which become messages)."""


def _is_one(items: Any) -> bool:
    """Whether `items` is a single message-like value rather than a list of them."""
    return (
        isinstance(items, (str, Mapping, _lc.BaseMessage, _messages.BaseMessage))
        or _messages.is_message_like(items)
        or (isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], str))
    )


def _as_langchain(item: Any) -> Any:
    """One message-like value as a langchain-core message (a chunk as the whole message, as
    LangGraph keeps it). A missing id is set on an incoming message object before it is
    converted, so folding the same stored write again gives the same id."""
    if isinstance(item, (_lc.BaseMessage, _messages.BaseMessage)) or _messages.is_message_like(
        item
    ):
        if item.id is None:
            item.id = str(uuid.uuid4())
        if not isinstance(item, _lc.BaseMessage):  # interlock's, or of LangChain's shape
            item = to_langchain(item)
    else:  # a dict, (role, content) tuple or string, read as LangChain reads it
        (item,) = _lc.convert_to_messages([item])
    if isinstance(item, _lc.BaseMessageChunk):
        item = _lc.message_chunk_to_message(item)
    return item


def _all_langchain(items: Any) -> list[Any]:
    if items is None:
        return []
    if _is_one(items):
        items = [items]
    if all(type(m) in _PLAIN for m in items):  # a stored history: nothing to convert
        return items if isinstance(items, list) else list(items)
    return [_as_langchain(m) for m in items]


def add_messages(left: Any, right: Any) -> list[Any]:
    """interlock's `add_messages` (append new ids, replace existing ids, remove on
    `RemoveMessage` or `RemoveMessage(id=REMOVE_ALL_MESSAGES)`), keeping langchain-core
    messages: dicts, `(role, content)` tuples and strings are read by langchain-core's
    `convert_to_messages`, interlock messages converted by `to_langchain`, streamed chunks
    kept as whole messages. `left` is not mutated.

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> merged = add_messages([HumanMessage("hi", id="1")], {"role": "ai", "content": "yo"})
        >>> [(type(m).__name__, m.content) for m in merged]
        [('HumanMessage', 'hi'), ('AIMessage', 'yo')]
    """
    return _messages.add_messages(_all_langchain(left), _all_langchain(right))


add_messages.batchable = True  # type: ignore[attr-defined]
"""As interlock's: folding `add_messages(add_messages(a, b), c)` equals
`add_messages(a, b + c)`, so the engine may join a channel's stored writes."""
add_messages.prepare = lambda update: _messages.add_messages.prepare(  # type: ignore[attr-defined]
    _all_langchain(update)
)
add_messages.replay = lambda left, right: _messages.add_messages(  # type: ignore[attr-defined]
    _all_langchain(left), _all_langchain(right), missing_ok=True
)
"""As interlock's: the engine stores an update as langchain-core messages with ids."""


class MessagesState(TypedDict, total=False):
    """A state with one key, `messages`: langchain-core messages merged by this module's
    `add_messages`. Subclass it to add keys, as with LangGraph's.

    Example:
        >>> from interlock import START, StateGraph
        >>> graph = StateGraph(MessagesState).add_node("echo", lambda s: {"messages": "hi"})
        >>> app = graph.add_edge(START, "echo").compile()
        >>> [type(m).__name__ for m in app.invoke({"messages": [("ai", "hello")]})["messages"]]
        ['AIMessage', 'HumanMessage']
    """

    messages: Annotated[list[AnyMessage], add_messages]
