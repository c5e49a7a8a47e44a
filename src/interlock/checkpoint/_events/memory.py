"""The run event log in Python structures: a mixin of `InMemorySaver`."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._events.protocol import TERMINAL_EVENTS, RunEvent, RunLog

__all__ = ["MemoryEventLog"]


@dataclass(slots=True)
class _Row:
    seq: int
    run_id: str
    event: str
    data: str
    """Serialised, as the SQL stores keep it."""
    at: datetime


class MemoryEventLog:
    """`append_events`, `read_events`, ... over a list per thread, under the saver's lock."""

    _lock: threading.RLock

    def _init_events(self) -> None:
        self._event_rows: dict[str, list[_Row]] = {}
        """thread id -> its events, oldest first."""

    def _forget_events(self, thread_id: str) -> None:
        """Under the saver's lock: drop every event of the thread."""
        self._event_rows.pop(thread_id, None)

    def _forget_run_events(self, thread_id: str, run_id: str) -> None:
        """Under the saver's lock: drop every event of one run."""
        kept = [r for r in self._event_rows.get(thread_id, []) if r.run_id != run_id]
        if kept:
            self._event_rows[thread_id] = kept
        else:
            self._event_rows.pop(thread_id, None)

    def _drop_ended_run_events(self, before: datetime, run_ids: Collection[str] = ()) -> None:
        """Under the saver's lock: drop the events of runs whose stream ended before
        `before`, and of the runs `run_ids` (whose records were dropped)."""
        for thread_id, rows in list(self._event_rows.items()):
            ended = {r.run_id for r in rows if r.event in TERMINAL_EVENTS and r.at < before}
            doomed = ended | (set(run_ids) & {r.run_id for r in rows})
            if not doomed:
                continue
            kept = [r for r in rows if r.run_id not in doomed]
            if kept:
                self._event_rows[thread_id] = kept
            else:
                del self._event_rows[thread_id]

    def _event(self, thread_id: str, row: _Row) -> RunEvent:
        return RunEvent(
            thread_id=thread_id,
            seq=row.seq,
            run_id=row.run_id,
            event=row.event,
            data=serde.loads(row.data),
            at=row.at,
        )

    def append_events(
        self, thread_id: str, run_id: str, events: Sequence[tuple[str, Any]]
    ) -> tuple[int, ...]:
        """Append events of one run; returns their numbers."""
        texts = [(str(e), serde.dumps(d, f"event {e}")) for e, d in events]
        with self._lock:
            rows = self._event_rows.setdefault(thread_id, [])
            start = rows[-1].seq if rows else 0
            now = datetime.now(UTC)
            for i, (event, text) in enumerate(texts, start=1):
                rows.append(_Row(seq=start + i, run_id=run_id, event=event, data=text, at=now))
            if not rows:
                del self._event_rows[thread_id]
            return tuple(range(start + 1, start + 1 + len(texts)))

    def read_events(
        self,
        thread_id: str,
        *,
        run_id: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> tuple[RunEvent, ...]:
        """Events above `after`, oldest first."""
        with self._lock:
            rows = [
                r
                for r in self._event_rows.get(thread_id, ())
                if r.seq > after and (run_id is None or r.run_id == run_id)
            ][: max(0, int(limit))]
            return tuple(self._event(thread_id, r) for r in rows)

    def _summaries(self, thread_id: str) -> list[RunLog]:
        by_run: dict[str, list[_Row]] = {}
        for row in self._event_rows.get(thread_id, ()):
            by_run.setdefault(row.run_id, []).append(row)
        return [
            RunLog(
                run_id=run_id,
                thread_id=thread_id,
                first=self._event(thread_id, rows[0]),
                last=self._event(thread_id, rows[-1]),
                count=len(rows),
            )
            for run_id, rows in by_run.items()
        ]

    def run_logs(self, thread_id: str, *, limit: int = 100) -> tuple[RunLog, ...]:
        """Runs with events, newest first."""
        with self._lock:
            logs = sorted(self._summaries(thread_id), key=lambda s: s.first.seq, reverse=True)
            return tuple(logs[: max(0, int(limit))])

    def run_log(self, thread_id: str, run_id: str) -> RunLog | None:
        """One run's summary."""
        with self._lock:
            return next((s for s in self._summaries(thread_id) if s.run_id == run_id), None)
