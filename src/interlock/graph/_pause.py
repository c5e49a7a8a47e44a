"""What a paused step streams and returns, in LangGraph's shapes.

- `updates`: one `{"__interrupt__": (...)}` chunk per task that asks (`pause_groups`);
- `values`: after each, the state the step started from with that task's requests,
  except for breakpoints (`is_breakpoint`).

Pure functions: the engine calls them and emits what they return.
"""

from __future__ import annotations

from collections.abc import Sequence

from interlock._types import Interrupt
from interlock.checkpoint.base import InterruptRecord

__all__ = ["is_breakpoint", "pause_groups"]


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
