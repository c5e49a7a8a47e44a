"""Is this a LangChain object? Answered without importing LangChain.

An object can only be an instance of a langchain-core class if the module defining that
class is already imported, so each check looks the class up in `sys.modules` and uses
`isinstance` only then: nothing of LangChain is imported by asking.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = [
    "is_langchain_chat_model",
    "is_langchain_message",
    "is_langchain_runnable",
    "is_langchain_tool",
]


def _isinstance(obj: Any, module: str, name: str) -> bool:
    mod = sys.modules.get(module)
    cls = getattr(mod, name, None) if mod is not None else None
    return isinstance(cls, type) and isinstance(obj, cls)


def is_langchain_chat_model(obj: Any) -> bool:
    """Whether `obj` is a `langchain_core.language_models.BaseChatModel`."""
    return _isinstance(obj, "langchain_core.language_models.chat_models", "BaseChatModel")


def is_langchain_tool(obj: Any) -> bool:
    """Whether `obj` is a `langchain_core.tools.BaseTool` (`@tool`, `StructuredTool`, ...)."""
    return _isinstance(obj, "langchain_core.tools.base", "BaseTool")


def is_langchain_message(obj: Any) -> bool:
    """Whether `obj` is a `langchain_core.messages.BaseMessage`."""
    return _isinstance(obj, "langchain_core.messages.base", "BaseMessage")


def is_langchain_runnable(obj: Any) -> bool:
    """Whether `obj` is any LangChain `Runnable` (e.g. a model with tools already bound)."""
    return _isinstance(obj, "langchain_core.runnables.base", "Runnable")
