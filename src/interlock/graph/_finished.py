"""The tasks of a paused step that finished (their writes are kept with the step): what
`get_state` shows of them, as LangGraph's.

- each finished task's `result`: the state update it wrote (`{channel: value}`);
- the thread's head: its values with those writes folded in (in the order a commit folds
  them), and `next` without those tasks (`interlock.graph._inspect`); the history shows
  the checkpoint as it was stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interlock.checkpoint.base import TaskWrites
from interlock.graph._root_state import is_state_channel
from interlock.graph._run import DONE
from interlock.graph._state import StateSchema, detached
from interlock.graph._writes import task_id

__all__ = ["finished_writes", "ordered_writes", "with_finished"]


def finished_writes(
    checkpoint_id: str, names: Sequence[str], writes: Mapping[str, TaskWrites]
) -> dict[str, list[tuple[str, Any]]]:
    """Per task id of a finished task of the checkpoint: the state writes it made."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for i, name in enumerate(names):
        tid = task_id(checkpoint_id, name, i)
        tw = writes.get(tid)
        if tw is not None and any(c == DONE for c, _ in tw.writes):
            out[tid] = [(c, v) for c, v in tw.writes if is_state_channel(c)]
    return out


def ordered_writes(
    checkpoint_id: str,
    names: Sequence[str],
    pulls: int,
    done: Mapping[str, Sequence[tuple[str, Any]]],
) -> list[tuple[str, Any]]:
    """The finished tasks' writes in the order a commit folds them: nodes by name, then
    sends in order."""
    order = sorted(range(len(names)), key=lambda i: (0, names[i], 0) if i < pulls else (1, "", i))
    ids = [task_id(checkpoint_id, names[i], i) for i in order]
    return [w for tid in ids for w in done.get(tid, ())]


def with_finished(
    schema: StateSchema,
    values: dict[str, Any],
    checkpoint_id: str,
    names: Sequence[str],
    pulls: int,
    done: Mapping[str, Sequence[tuple[str, Any]]],
) -> dict[str, Any]:
    """`values` with the finished tasks' writes folded in (`ordered_writes`); `values`
    unchanged if they cannot be folded. `values` (the cached state) is left as it was,
    whatever the reducers do to their left operand."""
    writes = ordered_writes(checkpoint_id, names, pulls, done)
    if not writes:
        return values
    shown = {k: detached(v) for k, v in values.items()}
    try:
        schema.apply(shown, writes)
    except Exception:
        return values
    return shown
