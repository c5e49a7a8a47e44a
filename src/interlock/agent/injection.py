"""LangGraph's injected tool arguments: `InjectedState`, `InjectedStore` and `ToolRuntime`.

A tool parameter annotated with one of them is not the model's to fill: it is left out of
the schema the model is told, a value the model sends for it anyway is dropped, and
`ToolNode` fills it when it runs the call (LangGraph 1.2's rules):

- `Annotated[dict, InjectedState]` (or `InjectedState()`): the graph's state, whole;
  `Annotated[str, InjectedState("key")]`: one key of it (a key missing from the state is
  a `KeyError`, unless the parameter has a default; then it is left out);
- `Annotated[Any, InjectedStore()]`: the store the graph was compiled with
  (`compile(store=...)`; none is a `ValueError`);
- `runtime: ToolRuntime` (a LangChain tool's parameter named `runtime` needs no
  annotation): a `ToolRuntime` with the state, the run's context, store, stream writer and
  config, the call's id and the node's tools.

The markers are langchain-core's kinds of injected argument when langchain-core is
installed (`InjectedToolArg`; `ToolRuntime` is one of its directly injected types), so a
langchain-core `@tool` leaves them out of its schema as it does for LangGraph's own markers.
Without langchain-core they are plain classes that interlock's own `@tool` recognises.
This module imports langchain-core when it is installed; `import interlock` does not
import this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

__all__ = [
    "InjectedState",
    "InjectedStore",
    "Injections",
    "ToolRuntime",
    "function_injections",
    "inject",
    "injections",
    "tool_runtime",
]

ContextT = TypeVar("ContextT")
StateT = TypeVar("StateT")


def _bases() -> tuple[type, type, type | None]:
    """langchain-core's `InjectedToolArg`, directly injected base and `InjectedToolCallId`
    (`object`, `object`, None without langchain-core)."""
    try:
        from langchain_core.tools import base
    except ImportError:  # pragma: no cover - langchain-core is installed in the tests
        return object, object, None
    direct = getattr(base, "_DirectlyInjectedToolArg", object)
    return base.InjectedToolArg, direct, base.InjectedToolCallId


_INJECTED_BASE, _DIRECT_BASE, _CALL_ID = _bases()


class InjectedState(_INJECTED_BASE):  # type: ignore[misc, valid-type]
    """Marks a tool parameter that `ToolNode` fills from the graph's state.

    `InjectedState` (or `InjectedState()`) gives the whole state, `InjectedState("key")`
    one key of it.

    Example:
        >>> from typing import Annotated
        >>> from interlock import tool
        >>> @tool
        ... def greet(name: str, user: Annotated[str, InjectedState("user")]) -> str:
        ...     '''Greet someone on behalf of the user.'''
        ...     return f"{user} greets {name}"
        >>> sorted(greet.args_schema["properties"])
        ['name']
    """

    def __init__(self, field: str | None = None) -> None:
        self.field = field
        """The state key to give, or None for the whole state."""


class InjectedStore(_INJECTED_BASE):  # type: ignore[misc, valid-type]
    """Marks a tool parameter that `ToolNode` fills with the graph's store
    (`compile(store=...)`).

    Example:
        >>> from typing import Annotated, Any
        >>> from interlock import tool
        >>> @tool
        ... def remember(fact: str, store: Annotated[Any, InjectedStore()]) -> str:
        ...     '''Remember a fact.'''
        ...     store.put(("facts",), fact, {"fact": fact})
        ...     return "noted"
        >>> sorted(remember.args_schema["properties"])
        ['fact']
    """


def _no_writer(_chunk: Any) -> None:
    return None


@dataclass
class ToolRuntime(_DIRECT_BASE, Generic[ContextT, StateT]):  # type: ignore[misc, valid-type]
    """What a tool's `runtime: ToolRuntime` parameter receives from `ToolNode` (LangGraph's
    fields, in its order).

    Example:
        >>> from interlock import tool
        >>> @tool
        ... def whoami(runtime: ToolRuntime) -> str:
        ...     '''Say which call this is.'''
        ...     return runtime.tool_call_id
        >>> whoami.args_schema["properties"]
        {}
    """

    state: StateT
    """The graph's state as the node got it (for a list of tool calls sent with `Send`,
    the graph's state values as a dict, as in LangGraph 1.2)."""
    context: ContextT
    """`invoke(..., context=...)`, or None."""
    config: dict[str, Any]
    """The running graph call's config (`{}` outside a graph)."""
    stream_writer: Callable[[Any], None]
    """Sends a chunk to `stream(..., stream_mode="custom")` readers."""
    tool_call_id: str | None
    """The id of the tool call being run."""
    store: Any
    """`compile(store=...)`, or None."""
    tools: list[Any] = field(default_factory=list)
    """The node's tools, as they were given to `ToolNode`."""
    execution_info: Any = None
    """The node task's `ExecutionInfo`."""
    server_info: Any = None
    """Kept for LangGraph's signature; always None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Injections:
    """Which parameters of one tool `ToolNode` fills, and from what."""

    state: dict[str, str | None] = field(default_factory=dict)
    """Parameter -> state key (None: the whole state)."""
    store: str | None = None
    """The parameter that takes the store."""
    runtime: str | None = None
    """The parameter that takes the `ToolRuntime`."""
    call_id: str | None = None
    """The parameter annotated with langchain-core's `InjectedToolCallId`: the call's id."""
    hidden: frozenset[str] = frozenset()
    """Every injected parameter: a value the model sends for one is dropped."""
    optional: frozenset[str] = frozenset()
    """State parameters with a default: a missing key leaves them out."""

    def __bool__(self) -> bool:
        return bool(self.state or self.store or self.runtime or self.hidden)


def _marker(hint: Any, kind: type) -> Any:
    """The `kind` marker `hint` carries (an instance, or True for the bare class), or None."""
    if get_origin(hint) is Annotated:
        found = [
            m
            for m in hint.__metadata__
            if isinstance(m, kind) or (isinstance(m, type) and issubclass(m, kind))
        ]
        if len(found) > 1:
            raise ValueError(
                f"A tool argument should not be annotated with {kind.__name__} more than "
                f"once. Found: {found}"
            )
        if found:
            return found[0] if isinstance(found[0], kind) else True
        return _marker(get_args(hint)[0], kind)
    if isinstance(hint, type) and issubclass(hint, kind):
        return True
    origin = get_origin(hint)
    if isinstance(origin, type) and issubclass(origin, kind):
        return True
    if origin is Union or origin is UnionType:
        return next((m for m in (_marker(h, kind) for h in get_args(hint)) if m), None)
    return None


def _is_hidden(hint: Any) -> bool:
    """Whether the model may not set a parameter of this annotation (any injected kind,
    langchain-core's own such as `InjectedToolCallId` included)."""
    kinds = [k for k in (_INJECTED_BASE, _DIRECT_BASE) if k is not object]
    kinds += [InjectedState, InjectedStore, ToolRuntime]
    return any(_marker(hint, k) for k in kinds)


def injections(
    hints: Mapping[str, Any], *, optional: frozenset[str] = frozenset(), runtime_name: bool
) -> Injections:
    """The injections of a tool whose parameters have the annotations `hints` (with their
    `Annotated` extras); `optional` names the parameters with a default. `runtime_name`:
    a parameter named `runtime` takes the `ToolRuntime` whatever its annotation (LangGraph's
    rule for LangChain tools)."""
    state: dict[str, str | None] = {}
    store = runtime = call_id = None
    hidden: set[str] = set()
    for name, hint in hints.items():
        if name == "return":
            continue
        if _is_hidden(hint):
            hidden.add(name)
        if runtime_name and name == "runtime":
            runtime = name
        marker = _marker(hint, InjectedState)
        if marker:
            state[name] = marker.field if isinstance(marker, InjectedState) else None
        if _marker(hint, InjectedStore):
            store = name
        if _marker(hint, ToolRuntime):
            runtime = name
        if _CALL_ID is not None and _marker(hint, _CALL_ID):
            call_id = name
    return Injections(
        state=state,
        store=store,
        runtime=runtime,
        call_id=call_id,
        hidden=frozenset(hidden | ({runtime} if runtime else set())),
        optional=frozenset(n for n in optional if state.get(n)),
    )


def function_injections(func: Callable[..., Any]) -> Injections:
    """The injections of an interlock tool's function (none when its annotations cannot
    be resolved: the tool's schema reports that itself)."""
    try:
        hints = get_type_hints(func, include_extras=True)
    except Exception:
        return Injections()
    params = inspect.signature(func).parameters.values()
    optional = frozenset(p.name for p in params if p.default is not inspect.Parameter.empty)
    return injections(hints, optional=optional, runtime_name=False)


def inject(
    args: Mapping[str, Any],
    found: Injections,
    runtime: ToolRuntime[Any, Any],
    *,
    tool_name: str,
    messages_key: str,
) -> dict[str, Any]:
    """`args` without values for injected parameters, plus the values `ToolNode` gives them.

    Raises (as LangGraph does, before the tool runs and whatever `handle_tool_errors`
    says) `KeyError` / `AttributeError` for a state key the state lacks, `ValueError` for
    a store when the graph has none or for a state key asked of a list of messages.
    """
    given: dict[str, Any] = {}
    if found.state:
        state = runtime.state
        if isinstance(state, list):
            fields = list(found.state.values())
            if fields[0] is None or fields == [messages_key]:
                state = {messages_key: state}
            else:
                keys = ", ".join(f for f in fields if f)
                raise ValueError(
                    f"Invalid input to ToolNode. Tool {tool_name} requires graph state dict "
                    f"as input. State should contain fields {keys}."
                )
        for param, key in found.state.items():
            if key is None:
                given[param] = state
            elif isinstance(state, Mapping):
                if key in state:
                    given[param] = state[key]
                elif param not in found.optional:
                    raise _missing(KeyError(key), tool_name, param, key)
            elif hasattr(state, key):
                given[param] = getattr(state, key)
            elif param not in found.optional:
                raise _missing(AttributeError(key), tool_name, param, key)
    if found.store:
        if runtime.store is None:
            raise ValueError(
                "Cannot inject store into tools with InjectedStore annotations - please "
                "compile your graph with a store."
            )
        given[found.store] = runtime.store
    if found.runtime:
        given[found.runtime] = runtime
    if found.call_id:  # a LangChain tool sets it itself, to the same id
        given[found.call_id] = runtime.tool_call_id
    return {**{k: v for k, v in args.items() if k not in found.hidden}, **given}


def _missing(exc: Exception, tool_name: str, param: str, key: str) -> Exception:
    """LangGraph's error for a state key the state lacks, with a note saying what to do."""
    exc.add_note(
        f"tool {tool_name!r} takes {param!r} from the state's {key!r} (InjectedState), and "
        "the state has no such key: give it a value before the tools run, or a default "
        "to the parameter"
    )
    return exc


def tool_runtime(state: Any, tool_call_id: str | None, tools: list[Any]) -> ToolRuntime[Any, Any]:
    """The `ToolRuntime` of one call run by the node running now (outside a graph: no
    context, no store, an empty config)."""
    from interlock.errors import GraphError
    from interlock.graph._interrupt import get_config
    from interlock.graph._runtime import get_runtime

    try:
        runtime: Any = get_runtime()
        config = get_config()
    except GraphError:
        return ToolRuntime(
            state=state,
            context=None,
            config={},
            stream_writer=_no_writer,
            tool_call_id=tool_call_id,
            store=None,
            tools=list(tools),
        )
    return ToolRuntime(
        state=state,
        context=runtime.context,
        config=config,
        stream_writer=runtime.stream_writer,
        tool_call_id=tool_call_id,
        store=runtime.store,
        tools=list(tools),
        execution_info=runtime.execution_info,
    )
