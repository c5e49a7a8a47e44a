"""Root state schemas: a graph whose state is one value, not keys.

`StateGraph(Annotated[list, operator.add])` or `StateGraph(int)` (LangGraph's "root
channel"): nodes receive the value itself and return an update of it, conditional edges
and `invoke` see the value, and a reducer from `Annotated` folds the updates (a bare type
keeps the last value written, once per step).

Inside, the engine does not know: such a graph's state is a dict with one internal key,
`ROOT` (`"__root__"`, LangGraph's name for it), whose channel carries the reducer. The
stores, the folding of checkpoint chains, node caching and version manifests therefore
work as for any graph, and a keyed graph's checkpoints are unchanged. The value is taken
out of that dict at the edges only:

- a node's input and a conditional edge's argument (`StateSchema.to_input`);
- a node's return value, `invoke`'s input and `update_state`'s values become a write of
  `ROOT` (`StateSchema.to_updates`);
- what callers see: `invoke`'s result (`output`), `get_state().values` (`shown_values`),
  and the `values`, `updates`, `checkpoints` and `debug` stream chunks (`root_chunks`).

A `tasks` chunk's `result` keeps `{"__root__": ...}`, as LangGraph's does.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any

from interlock._types import Command
from interlock.errors import InvalidGraph, InvalidUpdate

__all__ = [
    "ROOT",
    "check_schemas",
    "command_update",
    "fresh",
    "is_root_type",
    "is_state_channel",
    "migrated",
    "node_reads",
    "not_a_command",
    "output",
    "root_chunks",
    "shown_values",
    "state_dict",
    "task_result",
]

ROOT = "__root__"
"""The one state key of a root-schema graph (never seen by its nodes or callers)."""
_INTERRUPT = "__interrupt__"


def is_root_type(schema: Any) -> bool:
    """Whether `schema` declares one value rather than keys: a type without annotations
    (`int`, `list[str]`, `Annotated[list, operator.add]`), as LangGraph decides it.
    `dict` (and None) stay the open keyed schema."""
    if schema is None or schema is dict:
        return False
    return not hasattr(schema, "__annotations__")


def check_schemas(state: Any, input_schema: Any, output_schema: Any) -> None:
    """Refuse mixing a root schema with a keyed one among a graph's state, input and output
    schemas: LangGraph builds such a graph but it cannot run sensibly (its input or output
    has no key to go to)."""
    root = is_root_type(state)
    for label, other in (("input_schema", input_schema), ("output_schema", output_schema)):
        if other is not None and is_root_type(other) != root:
            raise InvalidGraph(
                f"{label} {other!r} does not fit state schema {state!r}: a root state schema "
                "(one value, such as Annotated[list, operator.add]) takes root input and "
                "output schemas only, and a keyed one keyed schemas only"
            )


def node_reads(graph: Any, name: str, action: Any, schema: Any) -> Any:
    """The schema node `name` reads the state with (`schema`, from `node_schema`), checked
    against the graph's (`graph`, a `StateSchema`): a root-schema graph's nodes read its
    value (None: the graph's own) and may not read keys, nor be a compiled graph with keys
    (it would receive the value as its input); a keyed graph's nodes may not read a root
    schema. A root-schema compiled graph may be a node of either: it receives the parent's
    state as its input, and its value is the node's update."""
    root = graph.kind == "root"
    sub = getattr(action, "spec", None) if hasattr(action, "_run_as_child") else None
    if root and sub is not None and sub.schema.kind != "root":
        raise InvalidGraph(
            f"node {name!r}: a compiled graph with keys cannot be a node of a root-schema "
            "graph (it would receive the graph's one value as its input); call it from a "
            "node function instead"
        )
    if schema is not None and (schema.kind == "root") != root:
        raise InvalidGraph(
            f"node {name!r} reads the state as {schema.type!r}, which does not fit the "
            f"graph's state schema {graph.type!r}: in a root-schema graph (one value) nodes "
            "receive that value, in a keyed graph they read keys"
        )
    return None if root else schema


def command_update(update: Any, node: str) -> None:
    """Refuse `Command(update={...})` in a root-schema graph: LangGraph reads the dict's
    keys as channels, which such a graph does not have, and drops them with a warning.
    Return the dict itself (not in a `Command`) to make it the value."""
    if isinstance(update, Mapping):
        by = "sent as input" if node == "__input__" else f"returned by node {node!r}"
        raise InvalidUpdate(
            f"Command(update={{...}}) {by}: this graph's state is one value (a root "
            "schema), and a Command's dict update writes keys, which it has none of; "
            "give the value itself (a node may return the dict), not in a Command"
        )


def not_a_command(value: Any, node: str) -> None:
    """Refuse a `Command` where a root-schema graph's value is expected (`update_state`'s
    values: a node's returned Command never gets here): as a last-value root's value it
    would be stored as is, and a reducer would fail on it. A keyed graph refuses it too."""
    if isinstance(value, Command):
        raise InvalidUpdate(
            f"a Command given as node {node!r}'s update: update_state takes the value "
            "itself, not a Command (give the value, then invoke to go on)"
        )


def is_state_channel(channel: str) -> bool:
    """Whether a task's stored write is a state write (not the runtime's own record:
    `__done__`, `__error__`, `__goto__`...); the root value's key is one."""
    return channel == ROOT or not channel.startswith("__")


def migrated(fn: Callable[[Any], Any] | None, values: Mapping[str, Any], root: bool) -> dict:
    """The state a version migration `fn` makes of the stored `values`. For a root-schema
    graph (`root`) it receives the value and returns the new one; otherwise the state
    dict, as always. `fn` never sees the internal key: a state a root version stored
    reaches a keyed graph's migration as the value, and one a keyed version stored reaches
    a root graph's as its keys (the stored values may hold the new schema's empty starts
    beside them: they are left out). A keyed schema cannot declare `ROOT` itself
    (`StateSchema`), so a stored `ROOT` is a root version's value."""
    if fn is None:
        return dict(values)
    others = {k: v for k, v in values.items() if k != ROOT}
    if not root:
        return dict(fn(values.get(ROOT, others)))
    return {ROOT: fn(others if others else values.get(ROOT))}


def task_result(schema: Any, writes: Any) -> Any:
    """A finished task's `result` in `get_state().tasks`: `{channel: value}` of its writes
    (a channel written twice: `{"$writes": [first, second]}`, as in its `tasks` stream
    chunk), or for a root-schema graph (`schema.kind`) what it wrote to the value, as
    LangGraph's."""
    result: dict[str, Any] = {}
    for channel, value in writes:
        if channel in result:
            old = result[channel]
            many = old["$writes"] if isinstance(old, dict) and "$writes" in old else [old]
            result[channel] = {"$writes": [*many, value]}
        else:
            result[channel] = value
    if schema.kind == "root":
        return result.get(ROOT)
    return result


def shown_values(values: Mapping[str, Any]) -> Any:
    """The value a root-schema graph's state dict holds (None before anything was
    written to a last-value root)."""
    return values.get(ROOT)


def state_dict(value: Any) -> dict[str, Any]:
    """The engine's state dict for a root value `shown_values` returned (None: nothing
    written yet, so that a reducer folds the next update into its empty start)."""
    return {} if value is None else {ROOT: value}


def _paused(value: Any, interrupts: Any) -> dict[str, Any]:
    """What a paused root-schema graph shows: a dict value with `"__interrupt__"` beside
    its keys, any other value `{"__interrupt__": ...}` only (it has no key to go under),
    as LangGraph's."""
    if isinstance(value, dict):
        return {**value, _INTERRUPT: interrupts}
    return {_INTERRUPT: interrupts}


def output(values: Mapping[str, Any], interrupts: tuple[Any, ...]) -> Any:
    """`invoke`'s result: the value, or when the run paused the value with the requests
    (`_paused`)."""
    if interrupts:
        return _paused(values.get(ROOT), list(interrupts))
    return values.get(ROOT)


def fresh(out: Any) -> Any:
    """A copy of a (sub)graph run's output dict, or a root-schema graph's value as is."""
    return dict(out) if isinstance(out, Mapping) else out


def _update(view: Any) -> Any:
    """An `updates` chunk's entry for one task: `{"__root__": v}` → `v`; several writes
    (`[{"__root__": a}, {"__root__": b}]`) → `[a, b]`."""
    if isinstance(view, dict) and set(view) == {ROOT}:
        return view[ROOT]
    if isinstance(view, list) and all(isinstance(v, dict) and set(v) == {ROOT} for v in view):
        return [v[ROOT] for v in view]
    return view


def _checkpoint(payload: Any) -> Any:
    if isinstance(payload, dict) and isinstance(payload.get("values"), dict):
        return {**payload, "values": shown_values(payload["values"])}
    return payload


def root_chunk(mode: str, chunk: Any) -> Any:
    """A stream chunk of a root-schema graph as callers see it."""
    if mode == "values" and isinstance(chunk, dict):
        if _INTERRUPT in chunk:  # a pause
            return _paused(chunk.get(ROOT), chunk[_INTERRUPT])
        return shown_values(chunk)
    if mode == "updates" and isinstance(chunk, dict):
        return {k: v if k.startswith("__") else _update(v) for k, v in chunk.items()}
    if mode == "checkpoints":
        return _checkpoint(chunk)
    if mode == "debug" and isinstance(chunk, dict) and chunk.get("type") == "checkpoint":
        return {**chunk, "payload": _checkpoint(chunk.get("payload"))}
    return chunk


def root_chunks(gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """The engine's effects for a root-schema graph: as `gen`'s, with each `Emit`'s chunk
    in the shape callers see (`root_chunk`); replies go to `gen` unchanged."""
    from interlock.graph._effects import Emit

    reply: Any = None
    while True:
        try:
            effect = gen.send(reply)
        except StopIteration as stop:
            return stop.value
        if isinstance(effect, Emit):
            effect = Emit(effect.mode, root_chunk(effect.mode, effect.payload))
        reply = yield effect
