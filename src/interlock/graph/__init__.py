"""The step-graph runtime: `StateGraph`, `interrupt`, and running/inspecting threads."""

from interlock._types import END, START
from interlock.graph._builder import StateGraph
from interlock.graph._compiled import CompiledStateGraph
from interlock.graph._interrupt import (
    aonce,
    get_config,
    get_message_writer,
    get_stream_writer,
    interrupt,
    is_expired_answer,
    once,
)
from interlock.graph._node_cache import CachePolicy
from interlock.graph._runtime import (
    Durability,
    ExecutionInfo,
    RetryPolicy,
    Runtime,
    get_runtime,
    get_store,
)

__all__ = [
    "END",
    "START",
    "CachePolicy",
    "CompiledStateGraph",
    "Durability",
    "ExecutionInfo",
    "RetryPolicy",
    "Runtime",
    "StateGraph",
    "aonce",
    "get_config",
    "get_message_writer",
    "get_runtime",
    "get_store",
    "get_stream_writer",
    "interrupt",
    "is_expired_answer",
    "once",
]
