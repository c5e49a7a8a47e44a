"""Threads (summaries, leases, retention) in Python structures: a mixin of `InMemorySaver`."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from interlock.checkpoint import serde
from interlock.checkpoint._runs.protocol import THREAD_DELETED
from interlock.checkpoint._threads.protocol import ThreadAudit, ThreadInfo
from interlock.checkpoint._threads.search import ThreadQuery, metadata_tags
from interlock.checkpoint._time import as_utc, utc_now

__all__ = ["MemoryThreads"]


@dataclass(slots=True)
class _Thread:
    created_at: datetime
    updated_at: datetime
    lease: tuple[str, float, float] | None = None
    """(owner, expires at (monotonic), ttl)."""
    creator: str | None = None
    """Who created the thread over the service (`set_thread_owner`)."""
    metadata: str | None = None
    """The thread's metadata as JSON text (`set_thread_metadata`)."""
    tags: frozenset[tuple[str, str]] = frozenset()
    """Its index entries (`search.metadata_tags`)."""


class MemoryThreads:
    """Leases, summaries and retention over dicts, under the saver's lock; what a summary
    says of checkpoints, requests and runs comes from those rooms' halves."""

    _lock: threading.RLock

    if TYPE_CHECKING:

        def _head_state(self, thread_id: str) -> tuple[str, bool] | None: ...

        def _has_checkpoints(self, thread_id: str) -> bool: ...

        def _checkpoint_count(self, thread_id: str) -> int: ...

        def _forget_checkpoints(self, thread_id: str) -> None: ...

        def _prune_checkpoints(
            self, keep_last: int, thread_ids: Collection[str] | None = None
        ) -> int: ...

        def _has_pending(self, thread_id: str) -> bool: ...

        def _forget_interrupts(self, thread_id: str) -> None: ...

        def _forget_votes(self, thread_id: str) -> None: ...

        def _fail_open_runs(self, thread_id: str, error: str) -> None: ...

        def _forget_crons(self, thread_id: str) -> None: ...

        def _drop_ended_runs(self, before: datetime) -> None: ...

        def _forget_events(self, thread_id: str) -> None: ...

        def _has_open_runs(self, thread_id: str) -> bool: ...

        def _log(
            self,
            thread_id: str | None,
            interrupt_id: str | None,
            action: str,
            actor: Any,
            detail: str,
        ) -> None: ...

    def _init_threads(self) -> None:
        self._thread_rows: dict[str, _Thread] = {}

    def _thread(self, thread_id: str) -> _Thread:
        t = self._thread_rows.get(thread_id)
        if t is None:
            now = utc_now()
            t = self._thread_rows[thread_id] = _Thread(created_at=now, updated_at=now)
        return t

    def _touch_thread(self, thread_id: str, owner: str | None, release: bool) -> None:
        """Under the saver's lock, in a write: the thread was updated now; the lease of
        `owner` is renewed for its ttl (or given back with `release`)."""
        thread = self._thread(thread_id)
        thread.updated_at = utc_now()
        if owner is None or not thread.lease or thread.lease[0] != owner:
            return
        if release:
            thread.lease = None
        else:
            ttl = thread.lease[2]
            thread.lease = (owner, time.monotonic() + ttl, ttl)

    # ---- leases ----------------------------------------------------------------------------

    def acquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Take (or renew) the thread's lease."""
        with self._lock:
            thread = self._thread(thread_id)
            now = time.monotonic()
            if thread.lease and thread.lease[0] != owner and thread.lease[1] > now:
                return False
            thread.lease = (owner, now + ttl, ttl)
            return True

    def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Extend the lease only if `owner` still holds it, unexpired."""
        with self._lock:
            thread = self._thread_rows.get(thread_id)
            now = time.monotonic()
            if thread is None or not thread.lease or thread.lease[0] != owner:
                return False
            if thread.lease[1] <= now:
                return False
            thread.lease = (owner, now + ttl, ttl)
            return True

    def release_thread(self, thread_id: str, owner: str) -> None:
        """Give the lease back."""
        with self._lock:
            thread = self._thread_rows.get(thread_id)
            if thread and thread.lease and thread.lease[0] == owner:
                thread.lease = None

    # ---- summaries -------------------------------------------------------------------------

    def _info(self, thread_id: str, thread: _Thread) -> ThreadInfo:
        head = self._head_state(thread_id)
        status: Literal["idle", "interrupted", "busy", "finished"]
        if thread.lease and thread.lease[1] > time.monotonic():
            status = "busy"
        elif self._has_pending(thread_id):
            status = "interrupted"
        elif head is not None and not head[1]:
            status = "finished"
        else:
            status = "idle"
        return ThreadInfo(
            thread_id=thread_id,
            head_id=head[0] if head else None,
            created_at=thread.created_at,
            updated_at=thread.updated_at,
            status=status,
            metadata=serde.loads(thread.metadata) if thread.metadata else {},
            owner=thread.creator,
        )

    def get_thread(self, thread_id: str) -> ThreadInfo | None:
        """Summary of one thread."""
        with self._lock:
            thread = self._thread_rows.get(thread_id)
            if thread is None or not self._has_checkpoints(thread_id):
                return None
            return self._info(thread_id, thread)

    def list_threads(
        self, *, limit: int = 100, offset: int = 0, owner: str | None = None
    ) -> tuple[ThreadInfo, ...]:
        """Threads, most recently updated first (with `owner`: that person's)."""
        with self._lock:
            items = sorted(
                (
                    (tid, t)
                    for tid, t in self._thread_rows.items()
                    if self._has_checkpoints(tid) and (owner is None or t.creator == owner)
                ),
                key=lambda x: x[1].updated_at,
                reverse=True,
            )[offset : offset + limit]
            return tuple(self._info(tid, t) for tid, t in items)

    def set_thread_owner(self, thread_id: str, owner: str) -> None:
        """Record who created the thread (the first owner stays)."""
        with self._lock:
            thread = self._thread(thread_id)
            if thread.creator is None:
                thread.creator = owner

    def thread_owner(self, thread_id: str) -> str | None:
        """Who created the thread."""
        with self._lock:
            thread = self._thread_rows.get(thread_id)
            return None if thread is None else thread.creator

    # ---- metadata and search ---------------------------------------------------------------

    def set_thread_metadata(self, thread_id: str, metadata: Mapping[str, Any]) -> None:
        """Replace the thread's metadata (kept as JSON text) and its tags."""
        text = serde.dumps(dict(metadata), "metadata")
        tags = frozenset(metadata_tags(metadata))
        with self._lock:
            thread = self._thread(thread_id)
            thread.metadata, thread.tags = text, tags

    def _matching(self, query: ThreadQuery) -> list[tuple[str, _Thread]]:
        """Under the lock: the threads `query` matches, in its order."""
        wanted = set(metadata_tags(query.metadata))
        ids = None if query.ids is None else set(query.ids)
        now = time.monotonic()
        found = []
        for tid, t in self._thread_rows.items():
            if not (self._has_checkpoints(tid) or t.creator is not None or t.metadata is not None):
                continue
            if ids is not None and tid not in ids:
                continue
            if query.owner is not None and t.creator != query.owner:
                continue
            if not wanted <= t.tags:
                continue
            if query.pending is not None and self._has_pending(tid) != query.pending:
                continue
            leased = t.lease is not None and t.lease[1] > now
            if query.leased is not None and leased != query.leased:
                continue
            found.append((tid, t))
        key = query.sort_by
        found.sort(
            key=lambda x: x[0] if key == "thread_id" else getattr(x[1], key),
            reverse=query.descending,
        )
        return found

    def search_threads(
        self, query: ThreadQuery, *, limit: int = 10, offset: int = 0
    ) -> tuple[ThreadInfo, ...]:
        """One page of the threads `query` matches (reads every thread)."""
        with self._lock:
            page = self._matching(query)[offset : offset + limit]
            return tuple(self._info(tid, t) for tid, t in page)

    def count_threads(self, query: ThreadQuery) -> int:
        """How many threads `query` matches."""
        with self._lock:
            return len(self._matching(query))

    # ---- retention -------------------------------------------------------------------------

    def delete_thread(self, thread_id: str, *, audit: ThreadAudit | None = None) -> None:
        """Forget the thread entirely (its queued runs fail; the audit log keeps its lines;
        `audit` is logged in the same critical section)."""
        detail = None if audit is None else serde.dumps(dict(audit.detail), audit.action)
        with self._lock:
            self._fail_open_runs(thread_id, THREAD_DELETED)
            self._forget_events(thread_id)  # the event log's hook
            self._forget_crons(thread_id)  # the crons room's hook (audited)
            self._thread_rows.pop(thread_id, None)
            self._forget_checkpoints(thread_id)
            self._forget_interrupts(thread_id)
            self._forget_votes(thread_id)
            if audit is not None and detail is not None:
                self._log(thread_id, None, audit.action, audit.actor, detail)

    def prune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
        thread_ids: Collection[str] | None = None,
    ) -> int:
        """Delete finished threads and/or old checkpoints; returns checkpoints deleted."""
        deleted = 0
        with self._lock:
            if finished_before is not None:
                self._drop_ended_runs(as_utc(finished_before))
                for tid, thread in list(self._thread_rows.items()):
                    info = self._info(tid, thread) if self._has_checkpoints(tid) else None
                    if (
                        info
                        and info.status == "finished"
                        and thread.updated_at < as_utc(finished_before)
                        and not self._has_open_runs(tid)  # a queued run will add to it
                    ):
                        deleted += self._checkpoint_count(tid)
                        self.delete_thread(tid)
            if keep_last is not None:
                deleted += self._prune_checkpoints(keep_last, thread_ids)
        return deleted
