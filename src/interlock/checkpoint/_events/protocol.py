"""The run event log of the store protocol: what a run streamed, kept so that any process
can replay it or follow it while it runs.

A run's stream (its `metadata` first, one event per chunk, `error` or `end` last) is appended
to the log as it is produced (`append_events`). Events are numbered per thread (`seq` 1, 2,
...): a thread runs one run at a time, so its runs' events follow each other, and a reader
resumes after the last number it saw (`read_events(thread_id, after=seq)`), for one run
(`run_id=`) or the whole thread. Numbers are given by the store inside the append's
transaction, so two processes appending to one thread never get the same number.

The log is append-only and bounded by its writer (the server logs at most a fixed number of
chunks per run, always its terminal event). Retention drops a run's events with the run:
`prune(finished_before=)` forgets the events of runs that ended before that instant, and
`delete_thread` every event of the thread.

`BaseSaver` composes `EventLog`; stores implement the sync methods, async twins come free.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.checkpoint._async import to_thread

__all__ = ["TERMINAL_EVENTS", "EventLog", "RunEvent", "RunLog"]

TERMINAL_EVENTS = ("end", "error")
"""The events that end a run's stream (retention drops a run's events after one of them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEvent:
    """One event of a run's stream."""

    thread_id: str
    seq: int
    """Its number in the thread's log: 1, 2, ... in append order."""
    run_id: str
    event: str
    """The stream's event name (`metadata`, `values`, `updates`, `end`, ...)."""
    data: Any
    """Its payload (JSON)."""
    at: datetime
    """When it was appended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunLog:
    """What the log knows of one run: its first and last events, and how many it has."""

    run_id: str
    thread_id: str
    first: RunEvent
    last: RunEvent
    count: int

    @property
    def ended(self) -> bool:
        """Whether the run's stream has ended (its last event is `end` or `error`)."""
        return self.last.event in TERMINAL_EVENTS


class EventLog(ABC):
    """The run-event-log part of the store protocol (see the module docstring)."""

    @abstractmethod
    def append_events(
        self, thread_id: str, run_id: str, events: Sequence[tuple[str, Any]]
    ) -> tuple[int, ...]:
        """Append `(event, data)` pairs of one run, in order, durably before returning;
        returns their numbers. `data` must be JSON-serialisable (`SerializationError` before
        anything is written)."""

    @abstractmethod
    def read_events(
        self,
        thread_id: str,
        *,
        run_id: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> tuple[RunEvent, ...]:
        """The thread's events numbered above `after`, oldest first, at most `limit`;
        only `run_id`'s with `run_id`."""

    @abstractmethod
    def run_logs(self, thread_id: str, *, limit: int = 100) -> tuple[RunLog, ...]:
        """The runs with events in the thread's log, newest first."""

    @abstractmethod
    def run_log(self, thread_id: str, run_id: str) -> RunLog | None:
        """One run's summary; None if it has no events."""

    # ---- async twins --------------------------------------------------------------------

    async def aappend_events(
        self, thread_id: str, run_id: str, events: Sequence[tuple[str, Any]]
    ) -> tuple[int, ...]:
        """Async twin of `append_events`."""
        return await to_thread(self.append_events, thread_id, run_id, events)

    async def aread_events(
        self,
        thread_id: str,
        *,
        run_id: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> tuple[RunEvent, ...]:
        """Async twin of `read_events`."""
        return await to_thread(self.read_events, thread_id, run_id=run_id, after=after, limit=limit)

    async def arun_logs(self, thread_id: str, *, limit: int = 100) -> tuple[RunLog, ...]:
        """Async twin of `run_logs`."""
        return await to_thread(self.run_logs, thread_id, limit=limit)

    async def arun_log(self, thread_id: str, run_id: str) -> RunLog | None:
        """Async twin of `run_log`."""
        return await to_thread(self.run_log, thread_id, run_id)
