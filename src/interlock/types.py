"""LangGraph's `langgraph.types`, for porting: `interrupt`, `Command`, `Send`, `Overwrite`,
`Interrupt`, `StateSnapshot`, `RetryPolicy`, `Durability`, `StreamWriter`, `GraphOutput`, the
`version="v2"` stream parts (`StreamPart`, `ValuesStreamPart`, ...) and friends.

The vocabulary lives in `interlock._types` (below every layer); `interrupt`, `RetryPolicy`
and `Durability` are the graph's (`interlock.graph`), looked up when first used, so
importing this module stays light.
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
    from interlock.graph._runtime import Durability, RetryPolicy

__all__ = [
    "END",
    "START",
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
    "interrupt",
]


def __getattr__(name: str) -> Any:
    if name == "interrupt":
        from interlock.graph._interrupt import interrupt

        return interrupt
    if name == "RetryPolicy":
        from interlock.graph._runtime import RetryPolicy

        return RetryPolicy
    if name == "Durability":
        from interlock.graph._runtime import Durability

        return Durability
    raise AttributeError(name)
