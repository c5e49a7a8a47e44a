"""What a paused step streams and returns, in LangGraph's shapes.

- `updates`: one `{"__interrupt__": (...)}` chunk per task that asks (`pause_groups`);
- `values`: after each, the state the step started from with that task's requests,
  except for breakpoints (`is_breakpoint`); then, when the step's finished tasks wrote
  something, the state with their writes folded in (`paused_values`: not committed, the
  step runs again on resume) — what LangGraph's `invoke` returns for a paused step.

Pure functions: the engine calls them and emits what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interlock._types import Interrupt
from interlock.checkpoint.base import InterruptRecord
from interlock.graph._effects import Task
from interlock.graph._run import fold_order
from interlock.graph._state import StateSchema, detached

__all__ = ["is_breakpoint", "pause_groups", "paused_values"]


def is_breakpoint(asked: Interrupt) -> bool:
    """Whether a pause's request is a breakpoint's (a subgraph's stops its parent's task
    too): LangGraph sends no `values` chunk for those."""
    value = asked.value
    return isinstance(value, dict) and value.get("type") == "breakpoint" and "when" in value


def pause_groups(
    waiting: Sequence[InterruptRecord], nested: Sequence[Sequence[Interrupt]]
) -> list[tuple[Interrupt, ...]]:
    """A pause's requests as LangGraph streams them: one `__interrupt__` chunk per task
    that asks (its requests in the order asked), then one per task whose subgraph asks."""
    groups: dict[tuple[str, str], list[Interrupt]] = {}
    for r in waiting:
        key = (r.checkpoint_ns, r.task_id)
        groups.setdefault(key, []).append(Interrupt(value=r.value, id=r.interrupt_id))
    return [*(tuple(g) for g in groups.values()), *(tuple(n) for n in nested if n)]


def paused_values(
    schema: StateSchema,
    values: dict[str, Any],
    finished: Sequence[tuple[Task, Sequence[tuple[str, Any]], Any]],
) -> dict[str, Any] | None:
    """The state a paused step shows: `values` (the step's start) with the writes of its
    finished tasks folded in, in the order a commit folds them, as LangGraph's `invoke`
    returns it and its `values` stream ends with it. Nothing is committed: the step keeps
    its checkpoint. None when they change nothing, or cannot be folded (two tasks writing
    one plain key: the commit would refuse them). `values` is left as it was, whatever
    the reducers do to their left operand."""
    ordered = sorted(finished, key=lambda f: fold_order(f[0]))
    writes = [w for _, task_writes, _ in ordered for w in task_writes]
    if not writes:  # nothing to fold: no copy of the state on every pause
        return None
    shown = {k: detached(v) for k, v in values.items()}
    try:
        touched = schema.apply(shown, writes)
    except Exception:
        return None
    return shown if touched else None
