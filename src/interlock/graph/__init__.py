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

__all__ = [
    "END",
    "START",
    "CompiledStateGraph",
    "StateGraph",
    "aonce",
    "get_config",
    "get_message_writer",
    "get_stream_writer",
    "interrupt",
    "is_expired_answer",
    "once",
]
