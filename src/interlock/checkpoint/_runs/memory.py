"""The run queue in Python structures: a mixin of `InMemorySaver`."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from interlock.checkpoint import serde
from interlock.checkpoint._runs.protocol import (
    FINAL_STATUSES,
    RunKind,
    RunRecord,
    RunStatus,
    StrandedThread,
    new_run_id,
)
from interlock.checkpoint._time import as_utc

__all__ = ["MemoryRunQueue"]

_OPEN = ("queued", "running")


@dataclass(slots=True)
class _Run:
    record: RunRecord
    """Everything but the JSON fields, which are kept serialised below."""
    input: str
    result: str | None = None
    options: str | None = None
    lease_until: float | None = None
    """Monotonic seconds: a running run's lease, or when a released run is claimable."""


class MemoryRunQueue:
    """`enqueue_run`, `claim_run`, ... over a dict, under the saver's lock."""

    _lock: threading.RLock

    if TYPE_CHECKING:  # the other rooms' structures, read by `stranded_threads`
        from interlock.checkpoint._checkpoints.memory import _Checkpoints
        from interlock.checkpoint._interrupts.memory import StoredInterrupt
        from interlock.checkpoint._threads.memory import _Thread

        _interrupts: dict[str, StoredInterrupt]
        _checkpoints: dict[str, _Checkpoints]
        _thread_rows: dict[str, _Thread]

        def _advertised(self, graph: str, version_id: str) -> bool: ...

    def _init_runs(self) -> None:
        self._run_rows: dict[str, _Run] = {}

    def _runs(self) -> dict[str, _Run]:
        return self._run_rows

    def _fail_open_runs(self, thread_id: str, error: str) -> None:
        """Under the saver's lock: fail the thread's queued and running runs."""
        for row in self._run_rows.values():
            if row.record.thread_id == thread_id and row.record.status in _OPEN:
                row.record = replace(
                    row.record,
                    status="failed",
                    error=error,
                    owner=None,
                    updated_at=datetime.now(UTC),
                )
                row.lease_until = None

    if TYPE_CHECKING:  # the event log's hook (`_events/memory.py`)

        def _drop_ended_run_events(
            self, before: datetime, run_ids: Collection[str] = ()
        ) -> None: ...

        def _forget_run_events(self, thread_id: str, run_id: str) -> None: ...

    def _drop_ended_runs(self, before: datetime) -> None:
        """Under the saver's lock: forget the runs that ended before `before`, and their
        events (the event log's hook)."""
        dropped = []
        for run_id, row in list(self._run_rows.items()):
            if row.record.status not in _OPEN and row.record.updated_at < before:
                del self._run_rows[run_id]
                dropped.append(run_id)
        self._drop_ended_run_events(before, dropped)

    def _has_open_runs(self, thread_id: str) -> bool:
        return any(
            r.record.thread_id == thread_id and r.record.status in _OPEN
            for r in self._run_rows.values()
        )

    def enqueue_run(
        self,
        *,
        thread_id: str,
        agent: str,
        input: Any,
        created_by: str | None = None,
        after: str | None = None,
        run_id: str | None = None,
        kind: RunKind = "input",
        options: Any = None,
        owner: str | None = None,
        ttl: float | None = None,
    ) -> RunRecord:
        """Queue a run (claimed by `owner` already, if given)."""
        text = serde.dumps(input, "run input")
        extra = None if options is None else serde.dumps(options, "run options")
        now = datetime.now(UTC)
        record = RunRecord(
            run_id=run_id or new_run_id(),
            thread_id=thread_id,
            agent=agent,
            input=None,
            status="running" if owner else "queued",
            owner=owner or None,
            attempts=1 if owner else 0,
            created_by=created_by,
            created_at=now,
            updated_at=now,
            after=after,
            kind=kind,
        )
        lease = time.monotonic() + float(ttl or 0) if owner else None
        with self._lock:
            runs = self._runs()
            if record.run_id in runs:
                raise ValueError(f"run {record.run_id!r} already exists")
            runs[record.run_id] = _Run(record=record, input=text, options=extra, lease_until=lease)
        return self._decode(runs[record.run_id])

    def cancel_run(self, run_id: str) -> RunRecord | None:
        """Cancel the run if it is queued."""
        with self._lock:
            row = self._runs().get(run_id)
            if row is None:
                return None
            if row.record.status == "queued":
                row.record = replace(row.record, status="cancelled", updated_at=datetime.now(UTC))
                row.lease_until = None
            return self._decode(row)

    def stop_run(self, run_id: str) -> RunRecord | None:
        """Cancel the run if it is queued, mark it if it is running or a queued resume."""
        with self._lock:
            row = self._runs().get(run_id)
            if row is None:
                return None
            status, kind = row.record.status, row.record.kind
            if status == "queued" and kind != "resume":
                row.record = replace(row.record, status="cancelled", updated_at=datetime.now(UTC))
                row.lease_until = None
            elif status in ("queued", "running"):  # a resume applies its decision first
                options = serde.loads(row.options) if row.options is not None else {}
                row.options = serde.dumps({**options, "stop": True}, "run options")
                row.record = replace(row.record, updated_at=datetime.now(UTC))
            return self._decode(row)

    def discard_run(self, run_id: str, owner: str) -> bool:
        """Delete the run if `owner` holds it."""
        with self._lock:
            if self._held(run_id, owner) is None:
                return False
            del self._runs()[run_id]
            return True

    def delete_run(self, thread_id: str, run_id: str) -> bool:
        """Forget the ended run and its events."""
        with self._lock:
            row = self._runs().get(run_id)
            if row is None or row.record.thread_id != thread_id or row.record.status in _OPEN:
                return False
            del self._runs()[run_id]
            self._forget_run_events(thread_id, run_id)
            return True

    def stranded_threads(self, *, since: datetime, limit: int = 100) -> tuple[StrandedThread, ...]:
        """Threads decided but not carried out (a walk of the requests: this store is for
        tests and notebooks)."""
        now, since = time.monotonic(), as_utc(since)
        found: dict[str, list[Any]] = {}
        with self._lock:
            pending = {
                i.record.thread_id
                for i in self._interrupts.values()
                if i.record.status == "pending"
            }
            for item in self._interrupts.values():
                r = item.record
                if r.status not in ("resolved", "expired") or r.decided_at is None:
                    continue
                if as_utc(r.decided_at) < since or r.thread_id in pending:
                    continue
                stored = self._checkpoints.get(r.thread_id)
                if stored is None or stored.heads.get(r.checkpoint_ns) != r.checkpoint_id:
                    continue
                lease = self._thread_rows.get(r.thread_id)
                if lease is not None and lease.lease is not None and lease.lease[1] > now:
                    continue
                if any(
                    run.record.thread_id == r.thread_id
                    and (
                        run.record.status in _OPEN
                        or as_utc(run.record.updated_at) >= as_utc(r.decided_at)
                    )
                    for run in self._run_rows.values()
                ):
                    continue
                found.setdefault(r.thread_id, []).append(r)
        out = []
        for thread_id, records in found.items():
            records.sort(key=lambda r: (as_utc(r.decided_at), r.interrupt_id))
            root = [r for r in records if r.checkpoint_ns == ""] or records
            out.append(
                StrandedThread(
                    thread_id=thread_id,
                    checkpoint_id=root[-1].checkpoint_id,
                    interrupt_ids=tuple(r.interrupt_id for r in records),
                    graph=None,
                    decided_by=records[-1].decided_by,
                    decided_at=as_utc(records[-1].decided_at),
                )
            )
        out.sort(key=lambda s: (s.decided_at, s.thread_id))
        return tuple(
            replace(s, graph=self._graph_of(s.interrupt_ids[0])) for s in out[: max(0, int(limit))]
        )

    def _graph_of(self, interrupt_id: str) -> str | None:
        record = self.get_interrupt(interrupt_id)  # type: ignore[attr-defined]
        graph = (record.metadata or {}).get("graph") if record is not None else None
        return str(graph) if graph is not None else None

    def _for_claimer(self, record: RunRecord, versions: Collection[tuple[str, str]]) -> bool:
        """Whether a claimer running `versions` may take `record` (see `claim_run`)."""
        if record.for_graph is None or record.for_version is None:
            return True
        mark = (record.for_graph, record.for_version)
        return mark in versions or not self._advertised(*mark)

    def claim_run(
        self, owner: str, *, ttl: float, versions: Collection[tuple[str, str]] = ()
    ) -> RunRecord | None:
        """Claim the oldest claimable run (one per thread, in order)."""
        now = time.monotonic()
        versions = set(versions)
        with self._lock:
            open_runs = sorted(
                (r for r in self._runs().values() if r.record.status in _OPEN),
                key=lambda r: (r.record.created_at, r.record.run_id),
            )
            # a thread that runs one run under a live lease has no other claimed meanwhile
            seen: set[str] = {
                r.record.thread_id
                for r in open_runs
                if r.record.status == "running" and (r.lease_until or 0) > now
            }
            for row in open_runs:
                thread = row.record.thread_id
                if thread in seen:
                    continue
                seen.add(thread)  # an older open run of a thread blocks its later ones
                if row.lease_until is not None and row.lease_until > now:
                    continue
                if not self._for_claimer(row.record, versions):
                    continue
                row.record = replace(
                    row.record,
                    status="running",
                    owner=owner,
                    attempts=row.record.attempts + 1,
                    updated_at=datetime.now(UTC),
                )
                row.lease_until = now + ttl
                return self._decode(row)
        return None

    def _held(self, run_id: str, owner: str) -> _Run | None:
        row = self._runs().get(run_id)
        if row is None or row.record.owner != owner or row.record.status != "running":
            return None
        return row

    def renew_run(self, run_id: str, owner: str, *, ttl: float) -> bool:
        """Extend the lease if `owner` holds the run."""
        with self._lock:
            row = self._held(run_id, owner)
            if row is None:
                return False
            row.lease_until = time.monotonic() + ttl
            row.record = replace(row.record, updated_at=datetime.now(UTC))
            return True

    def finish_run(
        self,
        run_id: str,
        owner: str,
        *,
        status: Literal["done", "interrupted", "failed", "cancelled"],
        result: Any = None,
        error: str | None = None,
    ) -> bool:
        """Record the run's end if `owner` holds it."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"a run ends done, interrupted, failed or cancelled, not {status!r}")
        text = None if result is None else serde.dumps(result, "run result")
        with self._lock:
            row = self._held(run_id, owner)
            if row is None:
                return False
            row.record = replace(
                row.record, status=status, error=error, updated_at=datetime.now(UTC)
            )
            row.result, row.lease_until = text, None
            return True

    def release_run(
        self,
        run_id: str,
        owner: str,
        *,
        delay: float = 0.0,
        for_version: tuple[str, str] | None = None,
    ) -> bool:
        """Give the run back to the queue, claimable after `delay` seconds (marked for
        `for_version`, or keeping its mark)."""
        with self._lock:
            row = self._held(run_id, owner)
            if row is None:
                return False
            graph, version = for_version or (row.record.for_graph, row.record.for_version)
            row.record = replace(
                row.record,
                status="queued",
                owner=None,
                attempts=max(0, row.record.attempts - 1),
                updated_at=datetime.now(UTC),
                for_graph=graph,
                for_version=version,
            )
            row.lease_until = time.monotonic() + delay
            return True

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run by id."""
        with self._lock:
            row = self._runs().get(run_id)
            return self._decode(row) if row else None

    def list_runs(
        self,
        *,
        thread_id: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
    ) -> tuple[RunRecord, ...]:
        """Runs newest first."""
        with self._lock:
            rows = [
                r
                for r in self._runs().values()
                if (thread_id is None or r.record.thread_id == thread_id)
                and (status is None or r.record.status == status)
            ]
            rows.sort(key=lambda r: (r.record.created_at, r.record.run_id), reverse=True)
            return tuple(self._decode(r) for r in rows[: max(0, int(limit))])

    @staticmethod
    def _decode(row: _Run) -> RunRecord:
        return replace(
            row.record,
            input=serde.loads(row.input),
            result=None if row.result is None else serde.loads(row.result),
            options=None if row.options is None else serde.loads(row.options),
        )
