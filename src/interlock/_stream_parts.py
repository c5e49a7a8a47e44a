"""The vocabulary of `version="v2"` runs: the typed stream parts and `GraphOutput`.

`graph.stream(..., version="v2")` yields one dict per item, `{"type": mode, "ns": namespace,
"data": chunk}` (a `values` part also has `"interrupts"`), whatever the modes and
`subgraphs` are; `graph.invoke(..., version="v2")` returns a `GraphOutput`. Public as
`interlock.types` (LangGraph's `langgraph.types`). Like `interlock._types`, this module sits
below every layer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypedDict, TypeVar

from interlock._types import Interrupt

__all__ = [
    "CheckpointStreamPart",
    "CustomStreamPart",
    "DebugStreamPart",
    "GraphOutput",
    "MessagesStreamPart",
    "StreamPart",
    "TasksStreamPart",
    "UpdatesStreamPart",
    "ValuesStreamPart",
]

OutputT = TypeVar("OutputT")
StateT = TypeVar("StateT")

_INTERRUPT = "__interrupt__"
_DEPRECATED = (
    "Accessing GraphOutput via `{how}` is deprecated. Use `result.value` to access the output "
    "value directly, or `result.interrupts` for interrupts."
)


class ValuesStreamPart(TypedDict, Generic[OutputT]):
    """`stream_mode="values"`: the state after a step (the schema's type when the graph's
    output schema is a dataclass or pydantic model), and the run's pending requests."""

    type: Literal["values"]
    ns: tuple[str, ...]
    data: OutputT
    interrupts: tuple[Interrupt, ...]


class UpdatesStreamPart(TypedDict):
    """`stream_mode="updates"`: `{node: update}`, or `{"__interrupt__": (...)}` on a pause."""

    type: Literal["updates"]
    ns: tuple[str, ...]
    data: dict[str, Any]


class MessagesStreamPart(TypedDict):
    """`stream_mode="messages"`: `(message, metadata)`."""

    type: Literal["messages"]
    ns: tuple[str, ...]
    data: tuple[Any, dict[str, Any]]


class CustomStreamPart(TypedDict):
    """`stream_mode="custom"`: what a node gave its stream writer."""

    type: Literal["custom"]
    ns: tuple[str, ...]
    data: Any


class CheckpointStreamPart(TypedDict, Generic[StateT]):
    """`stream_mode="checkpoints"`: a saved checkpoint (config, values, next, tasks, ...)."""

    type: Literal["checkpoints"]
    ns: tuple[str, ...]
    data: dict[str, Any]


class TasksStreamPart(TypedDict):
    """`stream_mode="tasks"`: a task's start (`input`, `triggers`) or its result."""

    type: Literal["tasks"]
    ns: tuple[str, ...]
    data: dict[str, Any]


class DebugStreamPart(TypedDict, Generic[StateT]):
    """`stream_mode="debug"`: `{"step", "timestamp", "type", "payload"}`."""

    type: Literal["debug"]
    ns: tuple[str, ...]
    data: dict[str, Any]


StreamPart: TypeAlias = (
    CheckpointStreamPart[StateT]
    | ValuesStreamPart[OutputT]
    | UpdatesStreamPart
    | MessagesStreamPart
    | CustomStreamPart
    | TasksStreamPart
    | DebugStreamPart[StateT]
)
"""One item of a `version="v2"` stream; `part["type"]` says which. Generic in the state
type and the output type, in that order (`StreamPart[State, Output]`)."""


@dataclass(frozen=True)
class GraphOutput(Generic[OutputT]):
    """What `invoke(..., version="v2")` returns: the graph's output and its pending requests.

    Example:
        >>> out = GraphOutput(value={"log": ["a"]}, interrupts=(Interrupt("ok?", "i1"),))
        >>> out.value, [i.value for i in out.interrupts]
        ({'log': ['a']}, ['ok?'])
    """

    value: OutputT
    """The output: the state's output keys (as the output schema's type when it is a
    dataclass or pydantic model), or an entrypoint's result."""
    interrupts: tuple[Interrupt, ...] = ()
    """The run's pending requests (empty when it finished or stopped at a breakpoint)."""

    def __getitem__(self, key: str) -> Any:
        """Deprecated (as in LangGraph): `result["__interrupt__"]` or `result[state_key]`."""
        warnings.warn(_DEPRECATED.format(how="result[key]"), DeprecationWarning, stacklevel=2)
        if key == _INTERRUPT:
            return self.interrupts
        if isinstance(self.value, dict):
            return self.value[key]
        try:
            return getattr(self.value, key)
        except AttributeError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        """Deprecated (as in LangGraph): `"__interrupt__" in result`, `state_key in result`."""
        warnings.warn(_DEPRECATED.format(how="key in result"), DeprecationWarning, stacklevel=2)
        if key == _INTERRUPT:
            return bool(self.interrupts)
        if isinstance(self.value, dict):
            return key in self.value
        return isinstance(key, str) and hasattr(self.value, key)
