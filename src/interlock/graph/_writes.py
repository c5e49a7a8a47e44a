"""How task writes become state: task ids, folding a checkpoint chain through the reducers,
a node's return value as writes and gotos, and the `updates` stream view of a step."""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from interlock._types import Command, overwritten
from interlock.checkpoint.base import InterruptRecord, StoredCheckpoint, Write
from interlock.errors import InvalidUpdate
from interlock.graph._effects import ParentCommand
from interlock.graph._spec import GraphSpec

__all__ = ["STATE", "fold", "pending_of", "split_result", "task_id", "update_view"]

STATE = "__state__"
"""The channel of a write that replaces the whole state (a version migration's checkpoint)."""


def task_id(checkpoint_id: str, name: str, index: int) -> str:
    """Deterministic id of the `index`-th task of the step after `checkpoint_id`."""
    raw = f"{checkpoint_id}\x00{name}\x00{index}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def fold(base: Mapping[str, Any], chain: Iterable[Sequence[Write]], spec: GraphSpec) -> dict:
    """Rebuild state values: `base` plus each checkpoint's writes through the reducers.

    List updates to list-concatenating reducers (`operator.add`, `add_messages`) are joined
    and applied once per channel, so folding a long chain stays linear instead of copying
    the whole list at every step.
    """
    values = dict(base)

    def apply(
        vals: dict[str, Any], writes: Iterable[tuple[str, Any]], over: set[str] | None = None
    ) -> None:
        # committed writes were vetted already
        spec.schema.apply(vals, writes, strict=False, overwrites=over, replaying=True)

    batched: dict[str, list[Any]] = {}
    for writes in chain:
        overwrites: set[str] = set()  # keys an `Overwrite` set in this checkpoint's step
        by_input = True  # a resume's `update` (node "__input__") is folded before the step
        for w in writes:
            if by_input and w.node != "__input__":
                by_input = False
                overwrites = set()
            if w.channel == STATE:  # a migration: the state is what it wrote, whole
                batched.clear()
                values = dict(w.value)
                continue
            if w.channel in overwrites:
                continue  # after an Overwrite in the same step: ignored, as in LangGraph
            if _batchable(spec, w.channel, w.value):
                batched.setdefault(w.channel, []).extend(
                    w.value if isinstance(w.value, list) else [w.value]
                )
                continue
            if w.channel in batched:
                apply(values, [(w.channel, batched.pop(w.channel))])
            apply(values, [(w.channel, w.value)], overwrites)
    for channel, updates in batched.items():
        apply(values, [(channel, updates)])
    return values


def _batchable(spec: GraphSpec, channel: str, value: Any) -> bool:
    ch = spec.schema.channels.get(channel)
    if ch is None or ch.reducer is None or overwritten(value)[0]:
        return False
    if getattr(ch.reducer, "batchable", False):
        return True
    return ch.reducer is operator.add and isinstance(value, list)


def pending_of(stored: StoredCheckpoint | None) -> list[InterruptRecord]:
    """The interrupts still waiting at a checkpoint."""
    if stored is None:
        return []
    return [i for i in stored.interrupts if i.status == "pending"]


def split_result(
    spec: GraphSpec, name: str, result: Any, *, child: bool = False
) -> tuple[list[tuple[str, Any]], list]:
    """A node's return value as (writes, goto targets). In a subgraph (`child`),
    `Command(graph=Command.PARENT)` raises `ParentCommand` for the parent's task."""
    if isinstance(result, Command):
        if result.graph == Command.PARENT:
            if not child:
                raise InvalidUpdate(
                    f"node {name!r} returned Command(graph=Command.PARENT), but its graph "
                    "is not running as a subgraph: there is no parent graph to send it to"
                )
            raise ParentCommand(Command(update=result.update, goto=result.goto))
        if result.graph is not None:
            raise InvalidUpdate(
                f"node {name!r} returned Command(graph={result.graph!r}); only None and "
                "Command.PARENT are known graphs"
            )
        writes = spec.schema.command_updates(result.update, name)
        return writes, list(result.goto_targets())
    if isinstance(result, (list, tuple)) and result and all(isinstance(r, Command) for r in result):
        writes, gotos = [], []
        for cmd in result:
            w, g = split_result(spec, name, cmd, child=child)
            writes += w
            gotos += g
        return writes, gotos
    return spec.schema.to_updates(result, name), []


def update_view(writes: list[tuple[str, Any]]) -> dict[str, Any] | list[dict[str, Any]] | None:
    """A task's writes as the `updates` stream shows them: one dict, or (when it wrote a
    channel twice, e.g. a node returning several `Command`s) a one-key dict per write, as
    LangGraph shows them."""
    if not writes:
        return None
    channels = [c for c, _ in writes]
    if len(set(channels)) < len(channels):
        return [{c: v} for c, v in writes]
    out: dict[str, Any] = {}
    for c, v in writes:
        out[c] = v
    return out
