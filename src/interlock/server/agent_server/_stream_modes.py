"""The `tasks`, `checkpoints` and `debug` stream modes of the runs API, in the shape
LangGraph's Agent Server sends them (pure: no I/O).

Every run logs its `tasks` and `checkpoints` chunks (some slim: `_chunks`) and, after
each, a slim `debug` event (`{"step", "timestamp", "type"}`, no payload: the payload is
the chunk just before it in the same namespace). A follower made whole again with a
`Shaper` fed the run's events from its first:

- `checkpoints`: the library's chunk (`config`, `parent_config`, `values`, `metadata`,
  `next`, `tasks`) with `checkpoint` and `parent_checkpoint` added
  (`{thread_id, checkpoint_ns, checkpoint_id, checkpoint_map}`), as the server adds them;
- `tasks`: the library's chunk (a task's start, or its result);
- `debug`: `{"step", "timestamp", "type": "checkpoint" | "task" | "task_result",
  "payload"}`, the payload being the `checkpoints` / `tasks` chunk above.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from interlock.server.agent_server._chunks import Restorer, split_event
from interlock.server.agent_server._wire import checkpoint_ref

__all__ = ["DEBUG_MODES", "Shaper", "slim_debug"]

DEBUG_MODES = frozenset({"tasks", "checkpoints", "debug"})
"""The modes whose chunks a follower makes whole from the run's earlier events."""


def slim_debug(chunk: Any) -> Any:
    """A `debug` chunk as the log keeps it: without its payload (the chunk before it)."""
    if isinstance(chunk, dict):
        return {k: v for k, v in chunk.items() if k != "payload"}
    return chunk


def _thread_of(config: Any) -> str:
    conf = config.get("configurable") if isinstance(config, dict) else None
    return str((conf or {}).get("thread_id") or "")


def wire_checkpoint(data: Any) -> Any:
    """A `checkpoints` chunk with the `checkpoint` / `parent_checkpoint` refs added."""
    if not isinstance(data, dict):
        return data
    config, parent = data.get("config"), data.get("parent_config")
    thread_id = _thread_of(config) or _thread_of(parent)
    return {
        **data,
        "checkpoint": checkpoint_ref(config, thread_id),
        "parent_checkpoint": checkpoint_ref(parent, thread_id),
    }


class Shaper:
    """One follower's view of a run's logged chunks: feed it every event of the run in
    order (`feed`); it answers the data to send for an event of these modes."""

    def __init__(self, modes: Collection[str] | None) -> None:
        self.active = modes is not None and bool(DEBUG_MODES & set(modes))
        """Whether the follower asked for a mode made whole here (else `feed` is a no-op)."""
        self._restore = Restorer()
        self._last: dict[tuple[str, ...], Any] = {}

    def feed(self, event: str, data: Any) -> Any:
        """The data to send for the logged `event` (its payload made whole)."""
        if not self.active:
            return data
        mode, namespace = split_event(event)
        if mode in ("values", "updates", "tasks", "checkpoints"):
            data = self._restore(mode, namespace, data)
        if mode == "checkpoints":
            data = wire_checkpoint(data)
        if mode in ("tasks", "checkpoints"):
            self._last[namespace] = data
        elif mode == "debug" and isinstance(data, dict):
            data = {**data, "payload": self._last.get(namespace)}
        return data
