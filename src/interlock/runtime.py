"""LangGraph's `langgraph.runtime`, for porting: `Runtime` (what a node taking a `runtime`
parameter receives: `context`, `store`, `stream_writer`, `execution_info`) and
`get_runtime()`."""

from __future__ import annotations

from interlock.graph._runtime import ExecutionInfo, Runtime, get_runtime

__all__ = ["ExecutionInfo", "Runtime", "get_runtime"]
