"""Calls a node runs side by side (a `ToolNode`'s tool calls), each in its own slice of the
node's task.

Each call gets its own `interrupt()` numbering (call `i` of a batch asks with indices
`first + i * SPAN + k`, `first` the node's own count of questions so far),
its own `once()` records and its own subgraph namespaces, so an answer reaches the call
that asked, whichever calls run beside it. Call 0's slice is the node's own: a node with
one call pauses with the ids it would have without this module.

When a call pauses or fails, the first such call in order decides the node's outcome (as
LangGraph's thread pool does); the results of calls that finished are then recorded with
the task, and returned — not run again — when the node re-runs after the pause. A result
that cannot be stored is not recorded: that call runs again.

The planning (`_plan`, `_finish`) is shared; the sync and async runners only run calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Any, TypeVar

from interlock.checkpoint.serde import ensure_serializable
from interlock.errors import GraphInterrupt, SerializationError
from interlock.graph._interrupt import TaskContext, _current

__all__ = ["SPAN", "arun_side_by_side", "run_side_by_side"]

T = TypeVar("T")

SPAN = 1000
"""`interrupt()` calls (and subgraph runs) one call may make in one run of the node."""
_RESULT = "side:"
"""Memo key prefix of a finished call's result: `side:<slot>:<key>`."""
_ONCE = "side-once:"
"""Memo key prefix of a call's own `once()` records: `side-once:<slot>/<record>`."""
_MAX_THREADS = 32


@dataclasses.dataclass(slots=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None


def _slice(parent: TaskContext, slot: int, subgraphs: int) -> TaskContext:
    """The context of the call in `slot`: the node's ids, config and emitter, its own
    numbering (interrupts from `index_base + slot`, subgraphs from `subgraphs`)."""
    base = parent.index_base + slot
    resume: list[Any] = []
    while base + len(resume) in parent.answers:
        resume.append(parent.answers[base + len(resume)])
    prefix = f"{_ONCE}{slot}/"
    memo = {k[len(prefix) :]: v for k, v in parent.memo.items() if k.startswith(prefix)}
    changes: dict[str, Any] = {
        "resume": resume,
        "memo": memo,
        "new_memo": {},
        "calls": 0,
        "once_calls": 0,
        "index_base": base,
    }
    if hasattr(parent, "subgraph_calls"):
        changes["subgraph_calls"] = subgraphs
    return dataclasses.replace(parent, **changes)


def _plan(
    keys: Sequence[str],
) -> tuple[TaskContext | None, list[TaskContext | None], list[_Outcome | None], list[int]]:
    """The running task (None outside a graph), each call's context, the outcomes already
    recorded (calls that finished before an earlier run of the node paused), and each
    call's slot. A batch takes the slots after the `interrupt()`s the node asked so far,
    and the node's own next ones come after the batch's: several batches in one node, and
    the node's own questions, never share a number or a record."""
    parent = _current.get()
    if parent is None:
        return None, [None] * len(keys), [None] * len(keys), list(range(len(keys)))
    first = parent.calls
    slots = [first + i * SPAN for i in range(len(keys))]
    parent.calls = first + len(keys) * SPAN
    subgraphs = getattr(parent, "subgraph_calls", 0)
    if hasattr(parent, "subgraph_calls"):
        parent.subgraph_calls = subgraphs + len(keys) * SPAN
    slices: list[TaskContext | None] = []
    outcomes: list[_Outcome | None] = []
    for i, (slot, key) in enumerate(zip(slots, keys, strict=True)):
        recorded = f"{_RESULT}{slot}:{key}"
        if recorded in parent.memo:
            slices.append(None)
            outcomes.append(_Outcome(value=parent.memo[recorded]))
        else:
            slices.append(_slice(parent, slot, subgraphs + i * SPAN))
            outcomes.append(None)
    return parent, slices, outcomes, slots


def _finish(
    parent: TaskContext | None,
    slices: Sequence[TaskContext | None],
    outcomes: Sequence[_Outcome],
    keys: Sequence[str],
    slots: Sequence[int],
) -> list[Any]:
    """The calls' results in order, or the first call's pause or error raised."""
    first = next((o for o in outcomes if o.error is not None), None)
    if parent is not None:
        for ctx, slot in zip(slices, slots, strict=True):
            if ctx is not None:
                for name, value in ctx.new_memo.items():
                    parent.memo[f"{_ONCE}{slot}/{name}"] = value
                    parent.new_memo[f"{_ONCE}{slot}/{name}"] = value
        if first is not None and isinstance(first.error, GraphInterrupt):
            for i, (ctx, outcome) in enumerate(zip(slices, outcomes, strict=True)):
                if ctx is None or outcome.error is not None:
                    continue
                try:
                    ensure_serializable(outcome.value, f"call {i}")
                except SerializationError:
                    continue  # not recorded: this call runs again with the node
                parent.new_memo[f"{_RESULT}{slots[i]}:{keys[i]}"] = outcome.value
    if first is not None:
        assert first.error is not None
        raise first.error
    return [o.value for o in outcomes]


def _run_one(ctx: TaskContext | None, call: Callable[[], Any]) -> _Outcome:
    token = _current.set(ctx) if ctx is not None else None
    try:
        return _Outcome(value=call())
    except (Exception, GraphInterrupt) as exc:  # decided in call order by `_finish`
        return _Outcome(error=exc)
    finally:
        if token is not None:
            _current.reset(token)


def run_side_by_side(calls: Sequence[Callable[[], T]], keys: Sequence[str]) -> list[T]:
    """Run `calls` in threads (one runs inline), each in its own slice of the running
    task; `keys` name them for the record kept when the node pauses. Their results in
    order, or the first pause or error (in order) raised."""
    parent, slices, found, slots = _plan(keys)
    todo = [i for i, o in enumerate(found) if o is None]
    outcomes = list(found)
    if len(todo) == 1:
        outcomes[todo[0]] = _run_one(slices[todo[0]], calls[todo[0]])
    elif todo:
        limit = (parent.config.get("max_concurrency") if parent else None) or _MAX_THREADS
        with ThreadPoolExecutor(min(len(todo), limit), thread_name_prefix="side") as pool:
            futures = [
                (i, pool.submit(copy_context().run, _run_one, slices[i], calls[i])) for i in todo
            ]
            for i, future in futures:
                outcomes[i] = future.result()
    return _finish(parent, slices, _filled(outcomes), keys, slots)


def _filled(outcomes: Sequence[_Outcome | None]) -> list[_Outcome]:
    assert all(o is not None for o in outcomes), "every call ran or was recorded"
    return [o for o in outcomes if o is not None]


async def _arun_one(ctx: TaskContext | None, call: Callable[[], Awaitable[Any]]) -> _Outcome:
    token = _current.set(ctx) if ctx is not None else None  # this asyncio task's own context
    try:
        return _Outcome(value=await call())
    except (Exception, GraphInterrupt) as exc:
        return _Outcome(error=exc)
    finally:
        if token is not None:
            _current.reset(token)


async def arun_side_by_side(
    calls: Sequence[Callable[[], Awaitable[T]]], keys: Sequence[str]
) -> list[T]:
    """Async twin of `run_side_by_side`: the calls run as concurrent asyncio tasks."""
    parent, slices, found, slots = _plan(keys)
    todo = [i for i, o in enumerate(found) if o is None]
    outcomes = list(found)
    done = await asyncio.gather(*(_arun_one(slices[i], calls[i]) for i in todo))
    for i, outcome in zip(todo, done, strict=True):
        outcomes[i] = outcome
    return _finish(parent, slices, _filled(outcomes), keys, slots)
