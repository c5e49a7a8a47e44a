"""`ToolNode(wrap_tool_call=..., awrap_tool_call=...)`: a function around each tool call
(LangGraph 1.2's hook), for retries, caching, checks or edited arguments.

The wrapper gets a `ToolCallRequest` (the call, the tool, the state and the call's
`ToolRuntime`) and `execute`, which runs a request as the node would (injected arguments,
`handle_tool_errors`), and may be called any number of times, with the request changed by
`request.override(...)`. It returns the call's `ToolMessage` (or a `Command`), with or
without calling `execute`. An exception it raises is handled by `handle_tool_errors` as a
tool's is; an `interrupt()` in the tool pauses the graph as without a wrapper.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from interlock.agent.langchain._detect import is_langchain_message
from interlock.agent.messages import ToolMessage
from interlock.agent.tool_commands import has_command

__all__ = ["AsyncToolCallWrapper", "ToolCallRequest", "ToolCallWrapper", "checked_output"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallRequest:
    """One tool call as `wrap_tool_call` sees it (LangGraph's `ToolCallRequest`).

    Example:
        >>> def twice(request, execute):
        ...     call = request.tool_call
        ...     doubled = {**call, "args": {k: v * 2 for k, v in call["args"].items()}}
        ...     return execute(request.override(tool_call=doubled))
    """

    tool_call: dict[str, Any]
    """The call: `name`, `args`, `id` (what the model asked)."""
    tool: Any
    """The tool that runs it (an interlock `Tool`; LangChain tools as their wrappers), or
    None when the node has no tool of that name (`execute` then answers with an error)."""
    state: Any
    """The state the tool's injected arguments are taken from."""
    runtime: Any
    """The call's `ToolRuntime` (its `state` is `state`)."""

    def override(self, **changes: Any) -> ToolCallRequest:
        """A copy with `changes` (`tool_call=`, `state=`, `tool=`); a new `state` is the
        runtime's state too, as in LangGraph."""
        request = replace(self, **changes)
        if "state" in changes and hasattr(request.runtime, "state"):
            request = replace(request, runtime=replace(request.runtime, state=request.state))
        return request


ToolCallWrapper = Callable[[ToolCallRequest, Callable[[ToolCallRequest], Any]], Any]
"""`wrap_tool_call(request, execute) -> ToolMessage | Command`."""

AsyncToolCallWrapper = Callable[
    [ToolCallRequest, Callable[[ToolCallRequest], Awaitable[Any]]], Awaitable[Any]
]
"""`async awrap_tool_call(request, execute) -> ToolMessage | Command` (`execute` is awaited)."""


def checked_output(output: Any, call: dict[str, Any]) -> Any:
    """What a wrapper returned, if it is a call's answer (a `ToolMessage`, ours or
    LangChain's, or a `Command` or list of them); else `TypeError` (LangGraph would put
    anything else in the state as a message)."""
    if has_command(output) or isinstance(output, ToolMessage):
        return output
    if is_langchain_message(output) and getattr(output, "type", None) == "tool":
        return output
    raise TypeError(
        f"wrap_tool_call returned {type(output).__name__} for tool call {call.get('id')!r} "
        f"({call.get('name')}): return the ToolMessage (or Command) that execute(request) "
        "gives, or one you make"
    )
