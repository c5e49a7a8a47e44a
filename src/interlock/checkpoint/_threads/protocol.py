"""Threads in the store protocol: summaries, the lease that keeps one run at a time on a
thread, and retention.

A run holds its thread through a lease (`acquire_thread`, renewed by its writes and by a
keeper, `release_thread` or its last write gives it back) so two runs never execute one
thread at once. Retention deletes a thread (`delete_thread`: every concept's rows of it but
the audit log) or finished threads and old checkpoints (`prune`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from interlock.checkpoint._async import to_thread
from interlock.checkpoint._checkpoints.protocol import StoredCheckpoint

__all__ = ["ThreadAudit", "ThreadInfo", "Threads"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadInfo:
    """Summary of a thread."""

    thread_id: str
    head_id: str | None
    """Latest checkpoint of the root namespace."""
    created_at: datetime
    updated_at: datetime
    status: Literal["idle", "interrupted", "busy", "finished"]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    owner: str | None = None
    """Who created the thread over the service (`set_thread_owner`); None otherwise."""
    graph: str | None = None
    """The name of the graph that wrote the head checkpoint (its metadata's `graph`), when
    the store reads it with the summary (the SQL stores do); None otherwise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadAudit:
    """The audit entry a thread's deletion writes in its own transaction (`delete_thread`);
    the store stamps its id and time."""

    actor: str | None
    """Who deleted it (None: no person)."""
    action: str = "thread.deleted"
    detail: Mapping[str, Any] = field(default_factory=dict)
    """JSON-serialisable: why (`reason`), the requests it cancelled (`pending`)."""


class Threads(ABC):
    """Threads: leases, summaries, retention. `acquire_and_get` reads through the checkpoints
    room's `get_checkpoint`."""

    if TYPE_CHECKING:

        def get_checkpoint(
            self,
            thread_id: str,
            checkpoint_ns: str = "",
            checkpoint_id: str | None = None,
            *,
            after: str | None = None,
        ) -> StoredCheckpoint | None: ...

    @abstractmethod
    def acquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Take the thread's lease for `ttl` seconds; False if another owner holds a live one.
        Re-acquiring one's own lease renews it."""

    def acquire_and_get(
        self,
        thread_id: str,
        owner: str,
        *,
        ttl: float,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        after: str | None = None,
        flush: bool = True,
        hold: bool = False,
    ) -> tuple[bool, StoredCheckpoint | None]:
        """Take the thread's lease, then read the checkpoint a run starts from (as
        `get_checkpoint`). Returns `(False, None)` when another owner holds a live lease.

        A run's first two store calls in one: stores over a network do both in one round
        trip; the default calls `acquire_thread` then `get_checkpoint`.

        `flush=False` lets a store whose commits can skip the wait for the disk skip it for
        this lease: the caller promises that nothing a person or another process acts on
        depends on the lease before the run's first write that waits (a decision, a pause
        or its last write), which makes the lease durable too. The engine's runs pass it
        (see `CompiledStateGraph._load`). Other stores ignore it.

        `hold=True` (the engine's synchronous runs) lets a store keep the lease's
        transaction open when the lease is taken, so that the calling thread's next store
        write commits in it: the lease, the read and that write are then one transaction
        (one commit where there were two, and no other writer between the read and the
        write). Reads of the calling thread before that write run in it too. The caller
        must call `end_hold` before anything but this thread's store calls runs (nodes,
        the caller's stream loop, other threads' work it waits for). Stores that cannot
        hold a transaction open ignore it."""
        if not self.acquire_thread(thread_id, owner, ttl=ttl):
            return False, None
        return True, self.get_checkpoint(thread_id, checkpoint_ns, checkpoint_id, after=after)

    def end_hold(self, *, commit: bool = True, owner: str | None = None) -> bool:
        """End what `acquire_and_get(hold=True)` left open on the calling thread, if no
        write ended it yet: commit it (the lease stays taken), or with `commit=False` roll
        it back (the lease was never taken: the caller must not give it back, nor run
        anything under it). With `owner`, only what that owner's `acquire_and_get` left
        open: another run's code that ends on this thread meanwhile (a stream the garbage
        collector closes) leaves a hold that is not its own alone. Returns whether
        something was ended. A no-op here."""
        return False

    def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Extend `owner`'s lease by `ttl` seconds only if `owner` still holds it and it has
        not lapsed; False otherwise (nothing changes: unlike `acquire_thread`, a free or
        lapsed lease is not taken). What a running run's lease keeper calls. The default
        re-acquires (stores should override it)."""
        return self.acquire_thread(thread_id, owner, ttl=ttl)

    @abstractmethod
    def release_thread(self, thread_id: str, owner: str) -> None:
        """Give the lease back (no-op if `owner` does not hold it)."""

    @abstractmethod
    def get_thread(self, thread_id: str) -> ThreadInfo | None:
        """Summary of one thread; None if it has no checkpoint."""

    @abstractmethod
    def list_threads(
        self, *, limit: int = 100, offset: int = 0, owner: str | None = None
    ) -> tuple[ThreadInfo, ...]:
        """Threads, most recently updated first; with `owner`, only those that person
        created (an index range, not a filtered page)."""

    @abstractmethod
    def set_thread_owner(self, thread_id: str, owner: str) -> None:
        """Record who created the thread (the first owner stays); the thread need not have
        a checkpoint yet."""

    @abstractmethod
    def thread_owner(self, thread_id: str) -> str | None:
        """Who created the thread (`set_thread_owner`), or None: one point read."""

    @abstractmethod
    def delete_thread(self, thread_id: str, *, audit: ThreadAudit | None = None) -> None:
        """Delete everything stored for the thread (all namespaces). `audit`: the entry
        that records the deletion (`thread.deleted` by its actor), appended in the same
        transaction: a deletion that fails leaves no entry, one that went always has it."""

    @abstractmethod
    def prune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
        thread_ids: Collection[str] | None = None,
    ) -> int:
        """Retention. `finished_before`: delete finished threads (no next task, nothing
        pending, no queued or running background run) last updated before that instant,
        and the records of background runs that ended before it. `keep_last`: in every
        thread (or in `thread_ids` only), drop checkpoints older than the last `keep_last`,
        keeping what is needed to read them. Returns the number of checkpoints deleted."""

    def expire_finished(self, ttl: timedelta | float) -> int:
        """Retention by age: delete finished threads not updated for `ttl` (seconds or a
        timedelta). Returns the number of checkpoints deleted. Run it from a cron job or a
        worker; interrupted and running threads are never touched."""
        age = ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))
        return self.prune(finished_before=datetime.now(UTC) - age)

    async def aexpire_finished(self, ttl: timedelta | float) -> int:
        """Async twin of `expire_finished`."""
        return await to_thread(self.expire_finished, ttl)

    async def aacquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Async twin of `acquire_thread`."""
        return await to_thread(self.acquire_thread, thread_id, owner, ttl=ttl)

    async def aacquire_and_get(
        self,
        thread_id: str,
        owner: str,
        *,
        ttl: float,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        after: str | None = None,
        flush: bool = True,
        hold: bool = False,
    ) -> tuple[bool, StoredCheckpoint | None]:
        """Async twin of `acquire_and_get`. `hold` is not passed on: the call runs on a
        worker thread, whose open transaction no later store call of the caller would
        share (it would keep the store's write lock until that thread wrote again)."""
        return await to_thread(
            self.acquire_and_get,
            thread_id,
            owner,
            ttl=ttl,
            checkpoint_ns=checkpoint_ns,
            checkpoint_id=checkpoint_id,
            after=after,
            flush=flush,
        )

    async def arelease_thread(self, thread_id: str, owner: str) -> None:
        """Async twin of `release_thread`."""
        await to_thread(self.release_thread, thread_id, owner)

    async def aget_thread(self, thread_id: str) -> ThreadInfo | None:
        """Async twin of `get_thread`."""
        return await to_thread(self.get_thread, thread_id)

    async def alist_threads(
        self, *, limit: int = 100, offset: int = 0, owner: str | None = None
    ) -> tuple[ThreadInfo, ...]:
        """Async twin of `list_threads`."""
        return await to_thread(self.list_threads, limit=limit, offset=offset, owner=owner)

    async def aset_thread_owner(self, thread_id: str, owner: str) -> None:
        """Async twin of `set_thread_owner`."""
        await to_thread(self.set_thread_owner, thread_id, owner)

    async def athread_owner(self, thread_id: str) -> str | None:
        """Async twin of `thread_owner`."""
        return await to_thread(self.thread_owner, thread_id)

    async def adelete_thread(self, thread_id: str, *, audit: ThreadAudit | None = None) -> None:
        """Async twin of `delete_thread`."""
        await to_thread(self.delete_thread, thread_id, audit=audit)

    async def aprune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
        thread_ids: Collection[str] | None = None,
    ) -> int:
        """Async twin of `prune`."""
        return await to_thread(
            self.prune, finished_before=finished_before, keep_last=keep_last, thread_ids=thread_ids
        )
