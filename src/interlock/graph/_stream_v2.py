"""Stream items and `invoke` results in the shape a call asked for: `version="v1"` (the
default: chunks, `(mode, chunk)`, `(ns, mode, chunk)`, a dict of state values) or
`version="v2"` (LangGraph 1.2's typed parts `{"type", "ns", "data"}` and `GraphOutput`).

The engine's stream is the same either way: each item starts as `(namespace, mode, chunk)`
and only its shape here differs. Under v2, as in LangGraph:

- a `values` part moves the pause's `"__interrupt__"` out of the state into
  `"interrupts"`, and its `data` is an instance of the graph's output schema when that is a
  dataclass or pydantic model (the root graph's schema, also for a subgraph's parts);
- `checkpoints` and `debug` parts carry their checkpoint's values as an instance of the
  state schema, except the checkpoint of a run's input (not every key is set yet);
- `invoke` returns `GraphOutput(value, interrupts)`, or with `stream_mode` other than
  `"values"` the list of parts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from functools import partial
from typing import Any

from interlock._stream_parts import GraphOutput
from interlock.errors import GraphError

__all__ = ["ainvoke_version", "invoke_version", "shaper"]

_INTERRUPT = "__interrupt__"
Shape = Callable[[tuple[str, ...], str, Any], Any]
"""Turns an engine item `(namespace, mode, chunk)` into what the caller iterates."""
Mapper = Callable[[dict[str, Any]], Any]


def wants_v2(kwargs: dict[str, Any]) -> bool:
    """Take `version` out of a call's keyword options: True for `"v2"`, False for `"v1"`
    (the default). Anything else is refused before the run starts."""
    version = kwargs.pop("version", "v1")
    if version not in ("v1", "v2"):
        raise GraphError(f"version must be 'v1' or 'v2', not {version!r}")
    return version == "v2"


def shaper(
    graph: Any,
    stream_mode: str | Sequence[str],
    subgraphs: bool,
    kwargs: dict[str, Any],
) -> Shape:
    """The shape of `graph.stream(...)`'s items for a call's options (takes `version` out of
    `kwargs`)."""
    if not wants_v2(kwargs):
        return partial(_v1_item, isinstance(stream_mode, str), subgraphs)
    output, state = mappers(graph)
    return partial(_v2_part, output, state)


def _v1_item(single: bool, subgraphs: bool, ns: tuple[str, ...], mode: str, chunk: Any) -> Any:
    """`chunk`, `(mode, chunk)`, and with `subgraphs=True` the namespace first:
    `(ns, chunk)` or `(ns, mode, chunk)`."""
    if subgraphs:
        return (ns, chunk) if single else (ns, mode, chunk)
    return chunk if single else (mode, chunk)


def _v2_part(
    output: Mapper | None, state: Mapper | None, ns: tuple[str, ...], mode: str, chunk: Any
) -> dict[str, Any]:
    if mode == "values":
        data, interrupts = _split(chunk)
        if output is not None and isinstance(data, dict):
            data = output(data)
        return {"type": mode, "ns": ns, "data": data, "interrupts": interrupts}
    if state is not None and mode in ("checkpoints", "debug"):
        chunk = _with_state(chunk, state)
    return {"type": mode, "ns": ns, "data": chunk}


def _split(values: Any) -> tuple[Any, tuple[Any, ...]]:
    """State values without their `"__interrupt__"` key, and the requests it held."""
    if isinstance(values, dict) and _INTERRUPT in values:
        rest = dict(values)
        return rest, tuple(rest.pop(_INTERRUPT) or ())
    return values, ()


def _with_state(chunk: Any, state: Mapper) -> Any:
    """A `checkpoints` chunk (or a `debug` one wrapping a checkpoint) whose values are an
    instance of the state schema; a run's input checkpoint keeps its plain values."""
    if not isinstance(chunk, dict):
        return chunk
    if chunk.get("type") == "checkpoint" and isinstance(chunk.get("payload"), dict):
        return {**chunk, "payload": _with_state(chunk["payload"], state)}
    values = chunk.get("values")
    metadata = chunk.get("metadata") or {}
    if not isinstance(values, dict) or metadata.get("source") == "input":
        return chunk
    return {**chunk, "values": state(values)}


def mappers(graph: Any) -> tuple[Mapper | None, Mapper | None]:
    """How values become the output schema's and the state schema's type (None: they stay
    dicts, as for a TypedDict)."""
    builder = getattr(graph, "builder", None)
    return (
        _mapper(getattr(builder, "output_schema", None)),
        _mapper(getattr(builder, "state_schema", None)),
    )


def _mapper(schema: Any) -> Mapper | None:
    if not isinstance(schema, type):
        return None
    if dataclasses.is_dataclass(schema):
        names = frozenset(f.name for f in dataclasses.fields(schema) if f.init)
    elif hasattr(schema, "model_fields") and hasattr(schema, "model_validate"):
        names = frozenset(schema.model_fields)
    else:
        return None
    return partial(_build, schema, names)


def _build(schema: Any, names: frozenset[str], values: dict[str, Any]) -> Any:
    """`schema(**values)` (validated, as LangGraph builds it), keys it lacks left out."""
    return schema(**{k: v for k, v in values.items() if k in names})


def as_output(graph: Any, result: Any) -> GraphOutput[Any]:
    """A v1 `invoke` result (the output values, or an entrypoint's result, with
    `"__interrupt__"` when paused) as v2's `GraphOutput`."""
    value, interrupts = _split(result)
    output, _ = mappers(graph)
    if output is not None and isinstance(value, dict):
        value = output(value)
    return GraphOutput(value=value, interrupts=interrupts)


def invoke_version(graph: Any, input: Any, config: Any, kwargs: dict[str, Any]) -> Any:
    """`graph.invoke(input, config, version=..., **kwargs)`: v2 is v1's run, reshaped."""
    if not wants_v2(kwargs):
        return graph.invoke(input, config, **kwargs)
    stream_mode = kwargs.pop("stream_mode", "values")
    if stream_mode != "values":
        parts: Iterator[Any] = graph.stream(
            input, config, stream_mode=stream_mode, version="v2", **kwargs
        )
        return list(parts)
    return as_output(graph, graph.invoke(input, config, **kwargs))


async def ainvoke_version(graph: Any, input: Any, config: Any, kwargs: dict[str, Any]) -> Any:
    """Async twin of `invoke_version`."""
    if not wants_v2(kwargs):
        return await graph.ainvoke(input, config, **kwargs)
    stream_mode = kwargs.pop("stream_mode", "values")
    if stream_mode != "values":
        parts: AsyncIterator[Any] = graph.astream(
            input, config, stream_mode=stream_mode, version="v2", **kwargs
        )
        return [part async for part in parts]
    return as_output(graph, await graph.ainvoke(input, config, **kwargs))
