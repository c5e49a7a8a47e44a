"""LangGraph's prebuilt `ToolNode` and `tools_condition`, for graphs you wire yourself.

`ToolNode(tools)` is a node that runs every tool call of the last AI message side by side
(threads under `invoke`, asyncio tasks under `ainvoke`) and returns one `ToolMessage` per
call, in the order of the calls. `tools_condition` routes to `"tools"` when the last
message asks for tools, else to `END`. Both behave as LangGraph 1.2's do: the same input
forms, the same message contents and the same `handle_tool_errors` rules (by default a
call with invalid arguments becomes an error message the model sees, while an exception
raised inside a tool fails the run).

Tools may take injected arguments (`InjectedState`, `InjectedStore`, `ToolRuntime`: see
`interlock.agent.injection`), which the model does not see and the node fills, and may
return `Command`s, which the graph applies (see `interlock.agent.tool_commands`).

An `interrupt()` inside a tool pauses the graph, and each call asks with its own interrupt
id. Where interlock does more: calls that finished before a sibling paused are recorded
with the task and not run again on resume (LangGraph runs them again).

Tools are interlock tools, plain functions (made tools) or langchain-core `BaseTool`s
(wrapped at this edge: the graph and the stores only see interlock messages).
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from interlock.agent.langchain._detect import is_langchain_message
from interlock.agent.langchain._tools import LangChainTool, as_tool
from interlock.agent.messages import AIMessage, ToolMessage, as_message
from interlock.agent.tool_commands import combine, has_command, normalize_command
from interlock.agent.tool_wrap import (
    AsyncToolCallWrapper,
    ToolCallRequest,
    ToolCallWrapper,
    checked_output,
)
from interlock.agent.tools import Tool, ToolArgumentsError, ToolException
from interlock.errors import GraphError, StepNotSaved
from interlock.graph._runtime import sent_state
from interlock.graph._side_by_side import arun_side_by_side, run_side_by_side

__all__ = ["ToolCallRequest", "ToolInvocationError", "ToolNode", "tools_condition"]

INVALID_TOOL_NAME_ERROR_TEMPLATE = (
    "Error: {requested_tool} is not a valid tool, try one of [{available_tools}]."
)
TOOL_CALL_ERROR_TEMPLATE = "Error: {error}\n Please fix your mistakes."
TOOL_INVOCATION_ERROR_TEMPLATE = (
    "Error invoking tool '{tool_name}' with kwargs {tool_kwargs} with error:\n"
    " {error}\n"
    " Please fix the error and try again."
)
TOOL_MESSAGE_BLOCK_TYPES = (
    "text",
    "image_url",
    "image",
    "json",
    "search_result",
    "custom_tool_call_output",
    "document",
    "file",
)
"""Content blocks a tool may return as they are (langchain-core's list)."""

ErrorHandler = bool | str | Callable[..., str] | type[Exception] | tuple[type[Exception], ...]
InputKind = Literal["list", "dict", "tool_calls"]


class ToolInvocationError(ToolException):
    """A tool call's arguments do not fit the tool (LangGraph's name and message).

    Example:
        >>> str(ToolInvocationError("add", {"a": 1}, [{"loc": ("b",), "msg": "Field required"}]))
        "Error invoking tool 'add' with kwargs {'a': 1} with error:\\n b: Field required\\n Please fix the error and try again."
    """  # noqa: E501

    def __init__(self, tool_name: str, tool_kwargs: Any, errors: Sequence[Mapping[str, Any]]):
        shown = "\n".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'Unknown error')}"
            for e in errors
            if e.get("loc")  # as LangGraph: errors about the arguments as a whole are left out
        )
        self.message = TOOL_INVOCATION_ERROR_TEMPLATE.format(
            tool_name=tool_name, tool_kwargs=tool_kwargs, error=shown
        )
        self.tool_name = tool_name
        self.tool_kwargs = tool_kwargs
        self.errors = list(errors)
        super().__init__(self.message)


def _default_handle_tool_errors(e: Exception) -> str:
    """LangGraph's default: invalid arguments become a message; other errors are raised."""
    if isinstance(e, ToolInvocationError):
        return e.message
    raise e


class ToolNode:
    """A graph node that runs the tool calls of the last AI message (LangGraph's `ToolNode`).

    Input: the state (a dict or an object with a `messages` attribute), a list of messages
    (the result is then a list of `ToolMessage`s), a list of tool calls (e.g.
    `Send("tools", [tool_call])`) or LangGraph's `{"__type": "tool_call_with_context",
    "tool_call": ...}`. `handle_tool_errors`: the default turns invalid arguments into an
    error message and raises anything else; `True` reports every error to the model,
    a string replaces the message, an exception type (or tuple) reports only those, a
    function `f(e) -> str` reports the exceptions its first parameter's annotation names;
    `False` raises everything. A call to an unknown tool always becomes an error message.
    `wrap_tool_call(request, execute)` (and `awrap_tool_call` under `ainvoke`) runs around
    each call: see `interlock.agent.tool_wrap`. A list of tool calls (`Send("tools",
    [tool_call])`) is run on the graph's state values, as in LangGraph 1.2.

    Example:
        >>> from interlock import END, START, AIMessage, MessagesState, StateGraph, tool
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two numbers.'''
        ...     return a + b
        >>> g = StateGraph(MessagesState)
        >>> _ = g.add_node("tools", ToolNode([add])).add_edge(START, "tools")
        >>> call = {"name": "add", "args": {"a": 2, "b": 3}, "id": "c1"}
        >>> g.compile().invoke({"messages": [AIMessage("", tool_calls=[call])]})[
        ...     "messages"][-1].content
        '5'
    """

    def __init__(
        self,
        tools: Sequence[Any],
        *,
        name: str = "tools",
        tags: list[str] | None = None,
        handle_tool_errors: ErrorHandler = _default_handle_tool_errors,
        messages_key: str = "messages",
        wrap_tool_call: ToolCallWrapper | None = None,
        awrap_tool_call: AsyncToolCallWrapper | None = None,
    ) -> None:
        self.name = name
        """The node's name when added with `add_node(tool_node)`."""
        self.tags = tags
        """Kept for LangGraph's signature; interlock does not use them."""
        self.handle_tool_errors = handle_tool_errors
        self.messages_key = messages_key
        self.wrap_tool_call = wrap_tool_call
        """Runs around each call: `wrap_tool_call(request, execute)` (`tool_wrap`)."""
        self.awrap_tool_call = awrap_tool_call
        """Its async form, used under `ainvoke` (else `wrap_tool_call` is)."""
        self._given = list(tools)
        self._tools_by_name = {t.name: t for t in (as_tool(obj) for obj in tools)}

    def __repr__(self) -> str:
        return f"ToolNode(tools={list(self._tools_by_name)!r}, name={self.name!r})"

    @property
    def tools_by_name(self) -> dict[str, Tool]:
        """The node's tools by name (LangChain tools as their interlock wrappers)."""
        return dict(self._tools_by_name)

    # ---- the node ---------------------------------------------------------------------------

    def __call__(self, input: Any) -> Any:
        """Run the calls (in threads) and return their messages (or, when a tool returned
        a `Command`, a list of `Command`s: see `interlock.agent.tool_commands`)."""
        if self.awrap_tool_call is not None and self.wrap_tool_call is None:
            raise GraphError(
                "ToolNode(awrap_tool_call=...) runs under ainvoke/astream only; give "
                "wrap_tool_call too to run under invoke (LangGraph skips the wrapper there)"
            )
        calls, kind, state = self._parse_input(input)
        runs = [partial(self._run_one, call, kind, state) for call in calls]
        outputs = run_side_by_side(runs, [str(c.get("id")) for c in calls])
        return combine(outputs, kind, self.messages_key)

    async def acall(self, input: Any) -> Any:
        """Async twin of calling the node (the graph's `ainvoke` awaits this)."""
        calls, kind, state = self._parse_input(input)
        runs = [partial(self._arun_one, call, kind, state) for call in calls]
        outputs = await arun_side_by_side(runs, [str(c.get("id")) for c in calls])
        return combine(outputs, kind, self.messages_key)

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        """Run the node on `input` yourself, e.g. from inside another node (LangGraph's
        Runnable method; `config` is not needed)."""
        return self(input)

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        """Async twin of `invoke`."""
        return await self.acall(input)

    def _parse_input(self, input: Any) -> tuple[list[dict[str, Any]], InputKind, Any]:
        """The calls, the input's kind, and the state injected arguments are taken from."""
        if isinstance(input, list) and input and _is_tool_call(input[-1]):
            # sent with `Send("tools", [tool_call])`: the tools see the graph's state
            state = sent_state()
            return [dict(c) for c in input], "tool_calls", {} if state is None else state
        if isinstance(input, Mapping) and input.get("__type") == "tool_call_with_context":
            return [dict(input["tool_call"])], "tool_calls", input.get("state", {})
        kind: InputKind = "list" if isinstance(input, list) else "dict"
        key = self.messages_key
        if kind == "list":
            messages = input
        elif isinstance(input, Mapping):
            messages = input.get(key, [])
        else:  # a pydantic model, a dataclass...
            messages = getattr(input, key, [])
        if not messages and kind == "dict":
            raise ValueError("No message found in input")
        for message in reversed(messages):
            if isinstance(message, AIMessage) or (
                is_langchain_message(message) and isinstance(as_message(message), AIMessage)
            ):
                return [dict(c) for c in message.tool_calls], kind, input
        raise ValueError("No AIMessage found in input")

    # ---- one call ---------------------------------------------------------------------------

    def _run_one(self, call: dict[str, Any], kind: InputKind, state: Any) -> Any:
        wrap = self.wrap_tool_call
        if wrap is None:
            return self._execute(call, self._tools_by_name.get(call["name"]), state, kind)
        request = self._request(call, state)
        try:
            output = wrap(request, lambda r: self._execute_request(r, kind))
        except StepNotSaved:
            raise
        except Exception as exc:  # the wrapper's own error: handled as a tool's
            return self._handled(exc, call)
        return self._wrapped(output, call, kind)

    async def _arun_one(self, call: dict[str, Any], kind: InputKind, state: Any) -> Any:
        awrap, wrap = self.awrap_tool_call, self.wrap_tool_call
        if awrap is None and wrap is None:
            return await self._aexecute(call, self._tools_by_name.get(call["name"]), state, kind)
        request = self._request(call, state)
        try:
            if awrap is not None:
                output = await awrap(request, lambda r: self._aexecute_request(r, kind))
            else:  # a sync wrapper under ainvoke runs the calls it makes sync (LangGraph)
                assert wrap is not None
                output = wrap(request, lambda r: self._execute_request(r, kind))
        except StepNotSaved:
            raise
        except Exception as exc:
            return self._handled(exc, call)
        return self._wrapped(output, call, kind)

    def _request(self, call: dict[str, Any], state: Any) -> ToolCallRequest:
        from interlock.agent.injection import tool_runtime

        return ToolCallRequest(
            tool_call=call,
            tool=self._tools_by_name.get(call["name"]),
            state=state,
            runtime=tool_runtime(state, call.get("id"), self._given),
        )

    def _wrapped(self, output: Any, call: dict[str, Any], kind: InputKind) -> Any:
        """A wrapper's answer, checked as a tool's output is (`execute`'s is already)."""
        output = checked_output(output, call)
        if has_command(output):
            return normalize_command(output, call, kind, self.messages_key)
        return _message(output, call)

    def _execute_request(self, request: ToolCallRequest, kind: InputKind) -> Any:
        tool = request.tool if request.tool is None else as_tool(request.tool)
        return self._execute(request.tool_call, tool, request.state, kind, request.runtime)

    async def _aexecute_request(self, request: ToolCallRequest, kind: InputKind) -> Any:
        tool = request.tool if request.tool is None else as_tool(request.tool)
        return await self._aexecute(request.tool_call, tool, request.state, kind, request.runtime)

    def _execute(
        self, call: dict[str, Any], tool: Tool | None, state: Any, kind: InputKind, rt: Any = None
    ) -> Any:
        if tool is None:
            return self._unknown(call)
        input, injected = self._input_for(tool, call, state, rt)  # its errors are not handled
        try:
            if injected is None:
                output = tool.invoke(input)
            else:
                output = tool.invoke(input, injected=injected)
            return self._output(output, call, kind)
        except StepNotSaved:  # a graph the tool ran holds its step: not the tool's error
            raise
        except Exception as exc:
            return self._handled(_invocation_error(exc, call), call)

    async def _aexecute(
        self, call: dict[str, Any], tool: Tool | None, state: Any, kind: InputKind, rt: Any = None
    ) -> Any:
        if tool is None:
            return self._unknown(call)
        input, injected = self._input_for(tool, call, state, rt)
        try:
            if injected is None:
                output = await tool.ainvoke(input)
            else:
                output = await tool.ainvoke(input, injected=injected)
            return self._output(output, call, kind)
        except StepNotSaved:
            raise
        except Exception as exc:
            return self._handled(_invocation_error(exc, call), call)

    def _output(self, output: Any, call: Mapping[str, Any], kind: InputKind) -> Any:
        if has_command(output):
            return normalize_command(output, call, kind, self.messages_key)
        return _message(output, call)

    def _input_for(
        self, tool: Tool, call: Mapping[str, Any], state: Any, runtime: Any = None
    ) -> tuple[Any, dict[str, Any] | None]:
        """What the tool is invoked with, and the values of its injected parameters (None
        when it has none). A LangChain tool takes the call itself (so that its
        `InjectedToolCallId` and artifacts work), injected values among its arguments;
        ours take the arguments its schema declares (others are ignored, as LangChain
        does), injected values apart."""
        args = call.get("args") or {}
        found = getattr(tool, "injections", None)  # a Tool subclass may not set it
        given: dict[str, Any] | None = None
        name = call["name"]
        if found:  # the module is loaded: the tool's annotations name its markers
            from interlock.agent.injection import inject, tool_runtime

            if runtime is None:  # (a wrapper's request carries one)
                runtime = tool_runtime(state, call.get("id"), self._given)
            key = self.messages_key
            if isinstance(tool, LangChainTool):
                args = inject(args, found, runtime, tool_name=name, messages_key=key)
            else:
                given = inject({}, found, runtime, tool_name=name, messages_key=key)
        if isinstance(tool, LangChainTool):
            return {"name": name, "args": args, "id": call.get("id"), "type": "tool_call"}, None
        return tool.declared_args(args), given

    def _unknown(self, call: Mapping[str, Any]) -> ToolMessage:
        content = INVALID_TOOL_NAME_ERROR_TEMPLATE.format(
            requested_tool=call["name"], available_tools=", ".join(self._tools_by_name)
        )
        return ToolMessage(
            content=content, name=call["name"], tool_call_id=call.get("id") or "", status="error"
        )

    def _handled(self, exc: Exception, call: Mapping[str, Any]) -> ToolMessage:
        """The error message for `exc` if `handle_tool_errors` covers it; else raise it."""
        flag = self.handle_tool_errors
        if isinstance(flag, type) and issubclass(flag, Exception):
            handled: tuple[type[Exception], ...] = (flag,)
        elif isinstance(flag, tuple):
            handled = flag
        elif callable(flag) and not isinstance(flag, type):
            handled = _handled_types(flag)
        else:
            handled = (Exception,)
        if not flag or not isinstance(exc, handled):
            raise exc
        if isinstance(flag, bool | tuple | type):
            content = TOOL_CALL_ERROR_TEMPLATE.format(error=repr(exc))
        elif isinstance(flag, str):
            content = flag
        else:
            content = flag(exc)
        return ToolMessage(
            content=content, name=call["name"], tool_call_id=call.get("id") or "", status="error"
        )


def _is_tool_call(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("type") == "tool_call"


def _invocation_error(exc: Exception, call: Mapping[str, Any]) -> Exception:
    """Invalid arguments (ours, or pydantic's from a LangChain tool) as LangGraph's
    `ToolInvocationError`; any other error as it is."""
    pydantic = sys.modules.get("pydantic")  # loaded if it raised
    if isinstance(exc, ToolArgumentsError):
        errors: Sequence[Mapping[str, Any]] = exc.errors
    elif pydantic is not None and isinstance(exc, pydantic.ValidationError):
        errors = exc.errors()
    else:
        return exc
    error = ToolInvocationError(call["name"], call.get("args"), errors)
    error.__cause__ = exc
    return error


def _message(output: Any, call: Mapping[str, Any]) -> ToolMessage:
    """A tool's output as the `ToolMessage` LangGraph makes of it."""
    if is_langchain_message(output):
        output = as_message(output)
    if isinstance(output, ToolMessage):  # a LangChain tool's own, or one the tool made
        output.content = _block_content(output.content)
        output.tool_call_id = output.tool_call_id or call.get("id") or ""
        return output
    return ToolMessage(
        content=_block_content(_tool_content(output)),
        name=call["name"],
        tool_call_id=call.get("id") or "",
    )


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except Exception:
        return str(value)


def _tool_content(output: Any) -> Any:
    """What langchain-core makes of a tool's return value: text and content blocks as
    they are, anything else as JSON (or `str()` when it is not JSON)."""
    if isinstance(output, str):
        return output
    if isinstance(output, Sequence) and all(
        isinstance(x, str) or (isinstance(x, Mapping) and x.get("type") in TOOL_MESSAGE_BLOCK_TYPES)
        for x in output
    ):
        return list(output)
    return _dumps(output)


def _block_content(content: Any) -> str | list[Any]:
    """LangGraph's last step: a list of content blocks stays, anything else becomes text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(x, dict) and x.get("type") in TOOL_MESSAGE_BLOCK_TYPES for x in content
    ):
        return content
    return _dumps(content)


def _handled_types(handler: Callable[..., str]) -> tuple[type[Exception], ...]:
    """The exceptions a handler function takes, from its first parameter's annotation
    (`e: ValueError`, `e: ValueError | TypeError`); any `Exception` when unannotated."""
    params = list(inspect.signature(handler).parameters.values())
    if not params:
        return (Exception,)
    first = params[1] if params[0].name in ("self", "cls") and len(params) == 2 else params[0]
    hints = get_type_hints(handler)
    if first.name not in hints:
        return (Exception,)
    hint = hints[first.name]
    if get_origin(hint) in (Union, UnionType):
        types = get_args(hint)
        if all(isinstance(t, type) and issubclass(t, Exception) for t in types):
            return tuple(types)
        raise ValueError(
            "All types in the error handler error annotation must be Exception types. For "
            f"example, `def custom_handler(e: Union[ValueError, TypeError])`. Got '{hint}'."
        )
    if isinstance(hint, type) and issubclass(hint, Exception):
        return (hint,)
    raise ValueError(
        "Arbitrary types are not supported in the error handler signature. Annotate the "
        "error with an Exception type or a union of them, e.g. `def custom_handler(e: "
        f"ValueError)`. Got '{hint}'."
    )


def tools_condition(state: Any, messages_key: str = "messages") -> Literal["tools", "__end__"]:
    """Route to `"tools"` when the last message has tool calls, else to `END` (LangGraph's).

    `state` is the graph's state (a dict, or an object with a `messages` attribute such as
    a pydantic model or a dataclass) or a list of messages.

    Example:
        >>> from interlock import AIMessage
        >>> tools_condition({"messages": [AIMessage("hi")]})
        '__end__'
        >>> call = {"name": "add", "args": {}, "id": "c1"}
        >>> tools_condition([AIMessage("", tool_calls=[call])])
        'tools'
    """
    if isinstance(state, list):
        last = state[-1]
    elif (isinstance(state, dict) and (messages := state.get(messages_key, []))) or (
        messages := getattr(state, messages_key, [])
    ):
        last = messages[-1]
    else:
        raise ValueError(f"No messages found in input state to tool_edge: {state}")
    if hasattr(last, "tool_calls") and len(last.tool_calls) > 0:
        return "tools"
    return "__end__"
