"""interlock: durable human-in-the-loop runtime for AI agents.

Agents and step graphs pause at `interrupt()` (or a breakpoint), their state is saved durably,
a person decides, and the run resumes exactly where it stopped — once.

Everything public is importable from here. Heavier parts (models, server, Postgres) are
imported on first use, so `import interlock` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from interlock._types import (
    Command,
    Escalation,
    Interrupt,
    Overwrite,
    PregelTask,
    Send,
    StateSnapshot,
)
from interlock.errors import (
    CacheRequired,
    CheckpointerRequired,
    GraphError,
    GraphInterrupt,
    GraphRecursionError,
    InputRejected,
    InterlockError,
    InvalidGraph,
    InvalidResumeValue,
    InvalidUpdate,
    NonDeterministicTask,
    RecursionLimit,
    RequestExpired,
    ResumeConflict,
    ResumeError,
    RunStopped,
    RunSuperseded,
    SchemaTooNew,
    SerializationError,
    StepNotSaved,
    StoreError,
    StoreUnavailable,
    ThreadBusy,
    VersionChanged,
)
from interlock.graph import (
    END,
    START,
    CachePolicy,
    CompiledStateGraph,
    Durability,
    ExecutionInfo,
    RetryPolicy,
    Runtime,
    StateGraph,
    aonce,
    get_config,
    get_runtime,
    get_store,
    get_stream_writer,
    interrupt,
    once,
)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # stores
    "BaseSaver": "interlock.checkpoint.base",
    "InMemorySaver": "interlock.checkpoint.memory",
    "MemorySaver": "interlock.checkpoint.memory",
    "SqliteSaver": "interlock.checkpoint.sqlite",
    "PostgresSaver": "interlock.checkpoint.postgres",
    "InterruptRecord": "interlock.checkpoint.base",
    # node caches
    "InMemoryCache": "interlock.cache.memory",
    "SqliteCache": "interlock.cache.sqlite",
    "RunRecord": "interlock.checkpoint.base",
    # messages
    "AIMessage": "interlock.agent.messages",
    "AIMessageChunk": "interlock.agent.messages",
    "BaseMessage": "interlock.agent.messages",
    "HumanMessage": "interlock.agent.messages",
    "RemoveMessage": "interlock.agent.messages",
    "SystemMessage": "interlock.agent.messages",
    "ToolMessage": "interlock.agent.messages",
    "REMOVE_ALL_MESSAGES": "interlock.agent.messages",
    "add_messages": "interlock.agent.messages",
    "MessagesState": "interlock.agent.messages",
    # tools
    "tool": "interlock.agent.tools",
    "Tool": "interlock.agent.tools",
    "BaseTool": "interlock.agent.tools",
    "ToolException": "interlock.agent.tools",
    "ToolArgumentsError": "interlock.agent.tools",
    # models
    "init_chat_model": "interlock.agent.models",
    "BaseChatModel": "interlock.agent.models",
    "ScriptedChatModel": "interlock.agent.models",
    # agents
    "create_agent": "interlock.agent.react",
    "HumanInTheLoopMiddleware": "interlock.agent.approval",
    "ToolNode": "interlock.agent.prebuilt",
    "tools_condition": "interlock.agent.prebuilt",
    "load_dotenv": "interlock._dotenv",
    "ApprovalError": "interlock.agent.approval",
    # functional API
    "entrypoint": "interlock.func",
    "task": "interlock.func",
    "EntrypointGraph": "interlock.func",
}

__all__ = [
    "END",
    "START",
    "CachePolicy",
    "CacheRequired",
    "CheckpointerRequired",
    "Command",
    "Escalation",
    "CompiledStateGraph",
    "Durability",
    "ExecutionInfo",
    "GraphError",
    "GraphInterrupt",
    "GraphRecursionError",
    "InputRejected",
    "InterlockError",
    "Interrupt",
    "InvalidGraph",
    "InvalidResumeValue",
    "InvalidUpdate",
    "NonDeterministicTask",
    "PregelTask",
    "RecursionLimit",
    "RequestExpired",
    "RetryPolicy",
    "Runtime",
    "ResumeConflict",
    "RunStopped",
    "RunSuperseded",
    "SchemaTooNew",
    "ResumeError",
    "Overwrite",
    "Send",
    "SerializationError",
    "StateGraph",
    "StateSnapshot",
    "StoreError",
    "StepNotSaved",
    "StoreUnavailable",
    "ThreadBusy",
    "VersionChanged",
    "aonce",
    "get_config",
    "get_runtime",
    "get_store",
    "get_stream_writer",
    "interrupt",
    "once",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'interlock' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from interlock._dotenv import load_dotenv
    from interlock.agent.approval import ApprovalError, HumanInTheLoopMiddleware
    from interlock.agent.messages import (
        REMOVE_ALL_MESSAGES,
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        HumanMessage,
        MessagesState,
        RemoveMessage,
        SystemMessage,
        ToolMessage,
        add_messages,
    )
    from interlock.agent.models import BaseChatModel, ScriptedChatModel, init_chat_model
    from interlock.agent.prebuilt import ToolNode, tools_condition
    from interlock.agent.react import create_agent
    from interlock.agent.tools import BaseTool, Tool, ToolArgumentsError, ToolException, tool
    from interlock.cache.memory import InMemoryCache
    from interlock.cache.sqlite import SqliteCache
    from interlock.checkpoint.base import BaseSaver, InterruptRecord, RunRecord
    from interlock.checkpoint.memory import InMemorySaver, MemorySaver
    from interlock.checkpoint.postgres import PostgresSaver
    from interlock.checkpoint.sqlite import SqliteSaver
    from interlock.func import EntrypointGraph, entrypoint, task
