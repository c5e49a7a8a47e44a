"""`get_state_history`: a thread's checkpoints as snapshots, newest first, each folded onto
the one before it (so reading a long history stays linear)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from interlock._types import RunnableConfig, StateSnapshot
from interlock.checkpoint.base import BaseSaver
from interlock.graph._inspect import nested_async, nested_sync, target
from interlock.graph._options import config_value
from interlock.graph._root_state import state_dict

__all__ = ["history_async", "history_sync"]

Known = tuple[str | None, dict[str, Any] | None]


def _known(graph: Any, checkpoint_id: str, snap: StateSnapshot) -> Known:
    """What the next (newer) checkpoint folds onto: `snap`'s values as the engine keeps
    them (a root-schema graph's value back in its state dict)."""
    values = snap.values
    if graph.spec.schema.kind == "root":
        values = state_dict(values)
    return (checkpoint_id, values)


def _kept(snaps: list[StateSnapshot], filter: Mapping[str, Any] | None) -> list[StateSnapshot]:
    """`snaps` newest first, those whose metadata matches `filter`."""
    return [
        snap
        for snap in reversed(snaps)
        if not filter or all((snap.metadata or {}).get(k) == v for k, v in filter.items())
    ]


def history_sync(
    graph: Any,
    saver: BaseSaver,
    config: RunnableConfig,
    filter: Mapping[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> Iterator[StateSnapshot]:
    """`get_state_history` on `saver` (see `CompiledStateGraph.get_state_history`). A
    config with a `checkpoint_ns` reads that subgraph's checkpoints, as the subgraph (its
    schema shows the values), as `get_state` does."""
    graph, thread_id, ns, _ = target(graph, config)
    before_id = config_value(before or {}, "checkpoint_id")
    records = list(saver.list_checkpoints(thread_id, ns, before=before_id, limit=limit))
    snapshots: list[StateSnapshot] = []
    prev: Known = (None, None)
    for rec in reversed(records):  # oldest first: each step folds onto the previous one
        after = prev[0] if prev[0] is not None and rec.parent_id == prev[0] else None
        stored = saver.get_checkpoint(thread_id, ns, rec.checkpoint_id, after=after)
        nested = nested_sync(graph, saver, stored, thread_id, history=True)
        snap = graph._snapshot(
            stored,
            config,
            prev if after else (None, None),
            cache=False,
            history=True,
            nested=nested,
        )
        prev = _known(graph, rec.checkpoint_id, snap)
        snapshots.append(snap)
    yield from _kept(snapshots, filter)


async def history_async(
    graph: Any,
    saver: BaseSaver,
    config: RunnableConfig,
    filter: Mapping[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> AsyncIterator[StateSnapshot]:
    """Async twin of `history_sync`."""
    graph, thread_id, ns, _ = target(graph, config)
    before_id = config_value(before or {}, "checkpoint_id")
    records = await saver.alist_checkpoints(thread_id, ns, before=before_id, limit=limit)
    snapshots: list[StateSnapshot] = []
    prev: Known = (None, None)
    for rec in reversed(records):
        after = prev[0] if prev[0] is not None and rec.parent_id == prev[0] else None
        stored = await saver.aget_checkpoint(thread_id, ns, rec.checkpoint_id, after=after)
        nested = await nested_async(graph, saver, stored, thread_id, history=True)
        snap = graph._snapshot(
            stored,
            config,
            prev if after else (None, None),
            cache=False,
            history=True,
            nested=nested,
        )
        prev = _known(graph, rec.checkpoint_id, snap)
        snapshots.append(snap)
    for snap in _kept(snapshots, filter):
        yield snap
