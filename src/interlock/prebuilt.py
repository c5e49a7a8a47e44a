"""Porting alias of LangGraph's `langgraph.prebuilt`: `from interlock.prebuilt import
ToolNode, tools_condition`."""

from interlock.agent.prebuilt import ToolInvocationError, ToolNode, tools_condition

__all__ = ["ToolInvocationError", "ToolNode", "tools_condition"]
