"""How chunks are named and stored in the run event log (pure: no I/O).

A chunk is named by its stream mode, and a subgraph's by its mode and namespace, as
LangGraph names subgraph events on the wire: `updates`, `updates|review:<task id>`,
`values|outer:<id>|inner:<id>` (`event_name`, `split_event`).

Two chunks are stored slim, since the log has their content just before them: a
`checkpoints` chunk without its `values` when they are those of the last `values` chunk of
its namespace, and a task's start (`tasks`, without `result`) without its `input` when it
is that state (`Slimmer`). `restore_slim` makes them whole again from the same `values`
chunk, which a reader of the run's events from its first has seen.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Slimmer", "event_name", "restore_slim", "split_event"]


def event_name(mode: str, namespace: tuple[str, ...] = ()) -> str:
    """A chunk's event name in the log: its mode, then its namespace (`updates`,
    `updates|review:<task id>`), as LangGraph names subgraph events on the wire."""
    return "|".join((mode, *namespace))


def split_event(name: str) -> tuple[str, tuple[str, ...]]:
    """`(mode, namespace)` of a logged event's name (`event_name` read back)."""
    mode, *namespace = name.split("|")
    return mode, tuple(namespace)


class Slimmer:
    """Drops from a chunk what the log has just before it (see the module docstring)."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, ...], Any] = {}
        """The last `values` chunk of each namespace."""

    def __call__(self, mode: str, namespace: tuple[str, ...], data: Any) -> Any:
        if mode == "values":
            self._values[namespace] = data
            return data
        if not isinstance(data, dict) or namespace not in self._values:
            return data
        state = self._values[namespace]
        if mode == "checkpoints" and data.get("values") == state:
            return {k: v for k, v in data.items() if k != "values"}
        if mode == "tasks" and "result" not in data and data.get("input") == state:
            return {k: v for k, v in data.items() if k != "input"}
        return data


def restore_slim(mode: str, data: Any, state: Any) -> Any:
    """A slim `checkpoints` or task-start chunk made whole again with `state`, the last
    `values` chunk of its namespace."""
    if not isinstance(data, dict):
        return data
    if mode == "checkpoints" and "values" not in data:
        return {**data, "values": state}
    if mode == "tasks" and "result" not in data and "input" not in data:
        return {**data, "input": state}
    return data
