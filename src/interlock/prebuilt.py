"""Porting alias of LangGraph's `langgraph.prebuilt` (and of `langchain.tools`' injected
arguments): `from interlock.prebuilt import ToolNode, tools_condition, InjectedState,
InjectedStore, ToolRuntime, ToolCallRequest` (LangGraph's `langgraph.prebuilt.tool_node.
ToolCallRequest`, what `ToolNode(wrap_tool_call=...)` is given).

`InjectedState`, `InjectedStore` and `ToolRuntime` are loaded on first use: they import
langchain-core (when installed) so that its `@tool` recognises them; `ToolNode` alone
does not.
"""

from typing import TYPE_CHECKING, Any

from interlock.agent.prebuilt import ToolCallRequest, ToolInvocationError, ToolNode, tools_condition

if TYPE_CHECKING:
    from interlock.agent.injection import InjectedState, InjectedStore, ToolRuntime

__all__ = [
    "InjectedState",
    "InjectedStore",
    "ToolCallRequest",
    "ToolInvocationError",
    "ToolNode",
    "ToolRuntime",
    "tools_condition",
]

_INJECTION = ("InjectedState", "InjectedStore", "ToolRuntime")


def __getattr__(name: str) -> Any:
    if name in _INJECTION:
        from interlock.agent import injection

        return getattr(injection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
