"""How chunks are named and stored in the run event log (pure: no I/O).

A chunk is named by its stream mode, and a subgraph's by its mode and namespace, as
LangGraph names subgraph events on the wire: `updates`, `updates|review:<task id>`,
`values|outer:<id>|inner:<id>` (`event_name`, `split_event`).

Two chunks are stored slim, since the log has their content just before them: a
`checkpoints` chunk without its `values` when they are those of the last `values` chunk of
its namespace, and a task's start (`tasks`, without `result`) without its `input` when it
is that state — no task has ended and no update come in that namespace since (`Slimmer`).
`Restorer` makes them whole again from the same `values` chunk, which a reader of the
run's events from its first has seen.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Restorer", "Slimmer", "event_name", "split_event"]


def event_name(mode: str, namespace: tuple[str, ...] = ()) -> str:
    """A chunk's event name in the log: its mode, then its namespace (`updates`,
    `updates|review:<task id>`), as LangGraph names subgraph events on the wire."""
    return "|".join((mode, *namespace))


def split_event(name: str) -> tuple[str, tuple[str, ...]]:
    """`(mode, namespace)` of a logged event's name (`event_name` read back)."""
    mode, *namespace = name.split("|")
    return mode, tuple(namespace)


class _States:
    """The last `values` chunk of each namespace, and whether it is still the state: no
    task has ended and no update come in that namespace since (a chunk lost between
    writer and store leaves a reader's copy stale, not fresh)."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, ...], Any] = {}
        self._fresh: set[tuple[str, ...]] = set()

    def current(self, namespace: tuple[str, ...]) -> tuple[bool, Any]:
        """`(fresh, state)` of `namespace`."""
        return namespace in self._fresh, self._values.get(namespace)

    def see(self, mode: str, namespace: tuple[str, ...], data: Any) -> None:
        if mode == "values":
            self._values[namespace] = data
            self._fresh.add(namespace)
        elif mode == "updates" or (mode == "tasks" and _is_result(data)):
            self._fresh.discard(namespace)


def _is_result(data: Any) -> bool:
    return isinstance(data, dict) and "result" in data


class Slimmer:
    """Drops from a chunk what the log has just before it (the writer's side)."""

    def __init__(self) -> None:
        self._states = _States()

    def __call__(self, mode: str, namespace: tuple[str, ...], data: Any) -> Any:
        fresh, state = self._states.current(namespace)
        out = data
        if fresh and isinstance(data, dict):
            if mode == "checkpoints" and data.get("values") == state:
                out = {k: v for k, v in data.items() if k != "values"}
            elif mode == "tasks" and not _is_result(data) and data.get("input") == state:
                out = {k: v for k, v in data.items() if k != "input"}
        self._states.see(mode, namespace, data)
        return out


class Restorer:
    """Makes slim chunks whole again (the reader's side: fed a run's chunks in order from
    its first). A slim chunk whose state the reader does not have fresh (a chunk before it
    was lost) is left as it is."""

    def __init__(self) -> None:
        self._states = _States()

    def __call__(self, mode: str, namespace: tuple[str, ...], data: Any) -> Any:
        fresh, state = self._states.current(namespace)
        out = data
        if fresh and isinstance(data, dict):
            if mode == "checkpoints" and "values" not in data:
                out = {**data, "values": state}
            elif mode == "tasks" and not _is_result(data) and "input" not in data:
                out = {**data, "input": state}
        self._states.see(mode, namespace, data)
        return out
