"""Bring your LangChain objects: langchain-core chat models, tools and messages in interlock.

- `create_agent(model=..., tools=...)` and `init_chat_model(...)` accept a langchain-core
  `BaseChatModel` (wrapped as `LangChainChatModel`) and any `BaseTool` (wrapped as
  `LangChainTool`), mixed freely with interlock's tools and plain functions.
- `add_messages` and the stores take langchain-core messages as they are;
  `to_langchain` / `from_langchain` convert messages between the two libraries, field for
  field.

These wrappers are made at the edge, where such an object is passed in: the graph engine
and the stores never see LangChain types, and nothing of LangChain is imported until a
LangChain object is passed (`pip install 'interlock[langchain]'`). The names below are
imported on first use. Users import them from `interlock.langchain`, which also has a
`MessagesState` and `add_messages` that keep langchain-core messages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "LangChainChatModel": "interlock.agent.langchain._model",
    "LangChainTool": "interlock.agent.langchain._tools",
    "as_chat_model": "interlock.agent.langchain._model",
    "as_tool": "interlock.agent.langchain._tools",
    "from_langchain": "interlock.agent.langchain._messages",
    "is_langchain_chat_model": "interlock.agent.langchain._detect",
    "is_langchain_message": "interlock.agent.langchain._detect",
    "is_langchain_tool": "interlock.agent.langchain._detect",
    "to_langchain": "interlock.agent.langchain._messages",
}

__all__ = [
    "LangChainChatModel",
    "LangChainTool",
    "as_chat_model",
    "as_tool",
    "from_langchain",
    "is_langchain_chat_model",
    "is_langchain_message",
    "is_langchain_tool",
    "to_langchain",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from interlock.agent.langchain._detect import (
        is_langchain_chat_model,
        is_langchain_message,
        is_langchain_tool,
    )
    from interlock.agent.langchain._messages import from_langchain, to_langchain
    from interlock.agent.langchain._model import LangChainChatModel, as_chat_model
    from interlock.agent.langchain._tools import LangChainTool, as_tool
