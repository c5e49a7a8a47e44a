"""Chunks of the `checkpoints`, `tasks` and `debug` stream modes, in LangGraph's shapes.

- `checkpoints`: after each commit, `{"config", "parent_config", "values", "metadata",
  "next", "tasks": [{"id", "name", "interrupts", "state"}]}` (what `get_state` would say).
- `tasks`: when a task starts, `{"id", "name", "input", "triggers"}`; when it ends,
  `{"id", "name", "error", "result", "interrupts"}` (`result` maps channels to the values
  it wrote; a channel written twice gives `{"$writes": [...]}`).
- `debug`: both, wrapped as `{"step", "timestamp", "type": "checkpoint" | "task" |
  "task_result", "payload"}`.

Pure functions: the engine calls them and emits what they return.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from interlock._types import Interrupt
from interlock.checkpoint.base import CheckpointRecord, InterruptRecord
from interlock.graph._effects import Emit, Task
from interlock.graph._state import BadInput, detached
from interlock.graph._writes import task_id

__all__ = ["checkpoint_events", "task_result_events", "task_start_events"]


def _config(rec: CheckpointRecord, checkpoint_id: str | None) -> dict[str, Any] | None:
    if checkpoint_id is None:
        return None
    return {
        "configurable": {
            "thread_id": rec.thread_id,
            "checkpoint_ns": rec.checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def _interrupts(records: Sequence[InterruptRecord]) -> tuple[dict[str, Any], ...]:
    return tuple(asdict(Interrupt(value=r.value, id=r.interrupt_id)) for r in records)


def checkpoint_events(
    modes: frozenset[str] | None,
    rec: CheckpointRecord,
    values: dict[str, Any],
    interrupts: Sequence[InterruptRecord] = (),
) -> Iterator[Emit]:
    """The `checkpoints` / `debug` chunks of a commit: every key of the state, whatever
    the output schema (as LangGraph's show every channel)."""
    want_plain = modes is None or "checkpoints" in modes
    want_debug = modes is None or "debug" in modes
    if not (want_plain or want_debug):
        return
    names = list(rec.next) + [n for n, _ in rec.sends]
    tasks = []
    for i, name in enumerate(names):
        tid = task_id(rec.checkpoint_id, name, i)
        mine = [r for r in interrupts if r.task_name == name]
        tasks.append({"id": tid, "name": name, "interrupts": _interrupts(mine), "state": None})
    payload = {
        "config": _config(rec, rec.checkpoint_id),
        "parent_config": _config(rec, rec.parent_id),
        "values": {k: detached(v) for k, v in values.items()},
        "metadata": dict(rec.metadata),
        "next": names,
        "tasks": tasks,
    }
    if want_plain:
        yield Emit("checkpoints", payload)
    if want_debug:
        yield Emit("debug", _debug(rec.step, rec.created_at, "checkpoint", payload))


def task_start_events(
    modes: frozenset[str] | None, tasks: Sequence[Task], step: int, now: datetime
) -> Iterator[Emit]:
    """The `tasks` / `debug` chunks of tasks about to run."""
    for task in tasks:
        if isinstance(task.input, BadInput):
            continue  # it fails before it starts (LangGraph raises while planning it)
        payload = {"id": task.id, "name": task.name, "input": task.input, "triggers": ()}
        if modes is None or "tasks" in modes:
            yield Emit("tasks", payload)
        if modes is None or "debug" in modes:
            yield Emit("debug", _debug(step, now, "task", payload))


def task_result_events(
    modes: frozenset[str] | None,
    task: Task,
    step: int,
    now: datetime,
    *,
    writes: Sequence[tuple[str, Any]] = (),
    error: BaseException | None = None,
    interrupts: Sequence[InterruptRecord] = (),
    nested: Sequence[Interrupt] = (),
) -> Iterator[Emit]:
    """The `tasks` / `debug` chunks of a task that finished, failed or paused (`nested`:
    the requests of the subgraph it waits on); none for a task that never started."""
    if isinstance(task.input, BadInput):
        return
    result: dict[str, Any] = {}
    for channel, value in writes:
        if channel in result:
            old = result[channel]
            many = old["$writes"] if isinstance(old, dict) and "$writes" in old else [old]
            result[channel] = {"$writes": [*many, value]}
        else:
            result[channel] = value
    payload = {
        "id": task.id,
        "name": task.name,
        "error": f"{type(error).__name__}: {error}" if error is not None else None,
        "result": result,
        "interrupts": [
            *(asdict(Interrupt(value=r.value, id=r.interrupt_id)) for r in interrupts),
            *(asdict(i) for i in nested),
        ],
    }
    if modes is None or "tasks" in modes:
        yield Emit("tasks", payload)
    if modes is None or "debug" in modes:
        yield Emit("debug", _debug(step, now, "task_result", payload))


def _debug(step: int, at: datetime, kind: str, payload: Any) -> dict[str, Any]:
    return {"step": step, "timestamp": at.isoformat(), "type": kind, "payload": payload}
