"""LangGraph's `langgraph.types`, for porting: `interrupt`, `Command`, `Send`, `Overwrite`,
`Interrupt`, `StateSnapshot`, `RetryPolicy`, `CachePolicy`, `Durability`, `StreamWriter`,
`GraphOutput`, the `version="v2"` stream parts (`StreamPart`, `ValuesStreamPart`, ...) and
friends.

The vocabulary lives in `interlock._types` (below every layer); `interrupt`, `RetryPolicy`,
`CachePolicy` (with `default_cache_key`) and `Durability` are the graph's
(`interlock.graph`), looked up when first used, so importing this module stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock._stream_parts import (
    CheckpointStreamPart,
    CustomStreamPart,
    DebugStreamPart,
    GraphOutput,
    MessagesStreamPart,
    StreamPart,
    TasksStreamPart,
    UpdatesStreamPart,
    ValuesStreamPart,
)
from interlock._types import (
    END,
    START,
    Command,
    Escalation,
    Interrupt,
    Overwrite,
    PregelTask,
    RunnableConfig,
    Send,
    StateSnapshot,
    StreamMode,
    StreamWriter,
)

if TYPE_CHECKING:
    from interlock.graph._interrupt import interrupt
    from interlock.graph._node_cache import CachePolicy, default_cache_key
    from interlock.graph._runtime import Durability, RetryPolicy

__all__ = [
    "END",
    "START",
    "CachePolicy",
    "CheckpointStreamPart",
    "Command",
    "CustomStreamPart",
    "DebugStreamPart",
    "Durability",
    "Escalation",
    "GraphOutput",
    "Interrupt",
    "MessagesStreamPart",
    "Overwrite",
    "PregelTask",
    "RetryPolicy",
    "RunnableConfig",
    "Send",
    "StateSnapshot",
    "StreamMode",
    "StreamPart",
    "StreamWriter",
    "TasksStreamPart",
    "UpdatesStreamPart",
    "ValuesStreamPart",
    "default_cache_key",
    "interrupt",
]


def __getattr__(name: str) -> Any:
    if name == "interrupt":
        from interlock.graph._interrupt import interrupt

        return interrupt
    if name == "RetryPolicy":
        from interlock.graph._runtime import RetryPolicy

        return RetryPolicy
    if name in ("CachePolicy", "default_cache_key"):
        from interlock.graph import _node_cache

        return getattr(_node_cache, name)
    if name == "Durability":
        from interlock.graph._runtime import Durability

        return Durability
    raise AttributeError(name)
