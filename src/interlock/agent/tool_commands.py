"""What `ToolNode` makes of a tool that returns a `Command` (LangGraph 1.2's rules).

A tool may return `Command(update=..., goto=...)`, or a list of `Command`s and
`ToolMessage`s. The node then returns a list of `Command`s, which the graph applies as
it applies a node's own: updates through the reducers, `goto` as routes, and
`Command(graph=Command.PARENT, ...)` in the graph that runs this one as a subgraph.

Every tool call must still be answered by one `ToolMessage` of its id: a `Command` to the
current graph must carry it in its update (`{"messages": [ToolMessage(...,
tool_call_id=...)]}`), and a list must hold exactly one, else `ValueError` with
LangGraph's message (reported to the model or raised, as `handle_tool_errors` says). The
`ToolMessage` of the call gets the tool's name.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from interlock._types import Command, Send
from interlock.agent.langchain._detect import is_langchain_message
from interlock.agent.messages import REMOVE_ALL_MESSAGES, ToolMessage
from interlock.agent.messages import convert_to_messages as _convert

__all__ = ["combine", "has_command", "normalize_command"]

InputKind = Literal["list", "dict", "tool_calls"]


def has_command(output: Any) -> bool:
    """Whether a tool's output is a `Command`, or a list holding one."""
    return isinstance(output, Command) or (
        isinstance(output, list | tuple) and any(isinstance(o, Command) for o in output)
    )


def _tool_message(item: Any) -> ToolMessage | None:
    """`item` as a tool message (a LangChain one stays itself), or None if it is none."""
    if isinstance(item, ToolMessage):
        return item
    if is_langchain_message(item) and getattr(item, "type", None) == "tool":
        return item  # type: ignore[no-any-return]  # langchain-core's, in its own shape
    return None


def normalize_command(
    output: Any, call: Mapping[str, Any], kind: InputKind, messages_key: str
) -> Command | list[Any]:
    """A tool's `Command` (or list of `Command`s and `ToolMessage`s) checked and copied,
    the call's `ToolMessage` named after the tool."""
    if isinstance(output, Command):
        return _checked(output, call, kind, messages_key, require_terminator=True)
    items = list(output)
    if not all(isinstance(o, Command) or _tool_message(o) is not None for o in items):
        raise TypeError(
            f"Tool {call['name']} returned a list with invalid element types: expected all "
            "Command or ToolMessage"
        )
    expected = call.get("id")
    terminators = 0
    for item in items:
        if isinstance(item, Command):
            if isinstance(item.update, dict):
                messages = item.update.get(messages_key, [])
                terminators += sum(
                    1
                    for m in _as_list(messages)
                    if (t := _tool_message(m)) is not None and t.tool_call_id == expected
                )
        elif _tool_message(item).tool_call_id == expected:  # type: ignore[union-attr]
            terminators += 1
    if terminators != 1:
        raise ValueError(
            f"Tool {call['name']} returned a list with {terminators} messages bound to "
            f"tool_call_id {expected!r}; expected exactly one terminating ToolMessage."
        )
    return [
        _checked(item, call, kind, messages_key, require_terminator=False)
        if isinstance(item, Command)
        else item  # a ToolMessage, ours or LangChain's, as the tool made it
        for item in items
    ]


def _as_list(messages: Any) -> list[Any]:
    try:
        return _convert(messages)
    except (TypeError, ValueError):
        return []


def _checked(
    command: Command,
    call: Mapping[str, Any],
    kind: InputKind,
    key: str,
    *,
    require_terminator: bool,
) -> Command:
    if isinstance(command.update, dict):
        if kind not in ("dict", "tool_calls"):
            raise ValueError(
                f"Tools can provide a dict in Command.update only when using dict with "
                f"'{key}' key as ToolNode input, got: {command.update} for tool "
                f"'{call['name']}'"
            )
        checked = copy.copy(command)
        checked.update = copy.deepcopy(command.update)
        messages = _as_list(checked.update.get(key, []))
    elif isinstance(command.update, list):
        if kind != "list":
            raise ValueError(
                "Tools can provide a list of messages in Command.update only when using "
                f"list of messages as ToolNode input, got: {command.update} for tool "
                f"'{call['name']}'"
            )
        checked = copy.copy(command)
        checked.update = copy.deepcopy(command.update)
        messages = _as_list(checked.update)
    else:
        return command
    if [(getattr(m, "type", None), getattr(m, "id", None)) for m in messages] == [
        ("remove", REMOVE_ALL_MESSAGES)
    ]:
        return checked  # every message removed: nothing to answer the call with
    answered = False
    for message in messages:
        tool_message = _tool_message(message)
        if tool_message is not None and tool_message.tool_call_id == call.get("id"):
            tool_message.name = call["name"]
            answered = True
    if require_terminator and checked.graph is None and not answered:
        example = (
            '`Command(update={"messages": [ToolMessage("Success", tool_call_id=tool_call_id), '
            "...]}, ...)`"
            if kind == "dict"
            else '`Command(update=[ToolMessage("Success", tool_call_id=tool_call_id), ...], ...)`'
        )
        raise ValueError(
            f"Expected to have a matching ToolMessage in Command.update for tool "
            f"'{call['name']}', got: {messages}. Every tool call (LLM requesting to call a "
            "tool) in the message history MUST have a corresponding ToolMessage. You can "
            f"fix it by modifying the tool to return {example}."
        )
    return checked


def combine(outputs: Sequence[Any], kind: InputKind, key: str) -> Any:
    """The node's return value: its `ToolMessage`s (a list, or `{key: [...]}`) when no
    tool returned a `Command`; else a list of `Command`s in call order, each message as a
    `Command` updating `key`, and the `Command.PARENT`s that only send (`goto=[Send...]`)
    joined into one."""
    flat: list[Any] = []
    for output in outputs:
        flat.extend(output) if isinstance(output, list) else flat.append(output)
    if not any(isinstance(o, Command) for o in flat):
        return flat if kind == "list" else {key: flat}
    commands: list[Command] = []
    sends: list[Send] = []
    for output in flat:
        if not isinstance(output, Command):
            commands.append(Command(update=[output] if kind == "list" else {key: [output]}))
        elif (
            output.graph == Command.PARENT
            and isinstance(output.goto, list)
            and all(isinstance(s, Send) for s in output.goto)
        ):
            sends.extend(output.goto)
        else:
            commands.append(output)
    if sends:
        commands.append(Command(graph=Command.PARENT, goto=sends))
    return commands
