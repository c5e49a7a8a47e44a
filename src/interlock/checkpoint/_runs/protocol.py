"""The run queue of the store protocol: background runs that outlive the process that
queued them.

A run is new input for one thread, queued in the store (`enqueue_run`) and executed later by
whichever worker claims it (`claim_run`): the oldest claimable run — queued, or running with
an expired lease (its worker died) — whose thread has no older open run (runs of one thread
are claimed in order, one at a time). The claimer holds the run under a lease it renews
(`renew_run`) and ends it (`finish_run`: done, interrupted, failed, or cancelled once asked
to stop, `stop_run`) or gives it back to be retried later (`release_run`); both succeed
only for the run's current owner, so a worker whose run was taken over cannot overwrite the
new owner's outcome.

A run may also be queued already claimed (`enqueue_run(owner=..., ttl=...)`): that is how
the service records a run it executes in the request that asked for it (a message's run to
its pause, a decision's resume), so that another process takes it over if this one dies.
A queued run may be cancelled (`cancel_run`); a run refused before it did anything is
discarded by its owner (`discard_run`); an ended run is forgotten with its events
(`delete_run`). `stranded_threads` finds the threads whose recorded
decision was never carried out and that no run is about to carry out (the service's sweep
queues a run for each). A run whose thread paused under a graph version the claimer does
not run may be given back marked for that version (`release_run(for_version=...)`): while a
live process advertises the version (`WorkerVersions`), only claimers running it
(`claim_run(versions=...)`) take it.

Leases use the store's clock (the database clock for SQL stores), as thread leases do.
`BaseSaver` composes `RunQueue`; stores implement the sync methods, async twins come free.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from interlock.checkpoint._async import to_thread
from interlock.checkpoint._audit.protocol import new_audit_id

__all__ = [
    "RUN_KINDS",
    "RUN_STATUSES",
    "RunKind",
    "RunQueue",
    "RunRecord",
    "RunStatus",
    "StrandedThread",
    "new_run_id",
]

RunStatus = Literal["queued", "running", "done", "interrupted", "failed", "cancelled"]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "queued",
    "running",
    "done",
    "interrupted",
    "failed",
    "cancelled",
)
FINAL_STATUSES: tuple[RunStatus, ...] = ("done", "interrupted", "failed", "cancelled")
RunKind = Literal["input", "command", "resume"]
RUN_KINDS: tuple[RunKind, ...] = ("input", "command", "resume")


THREAD_DELETED = "its thread was deleted before it ended"
"""The error of the open runs of a thread that `delete_thread` removes (they fail)."""


def new_run_id() -> str:
    """A 32-hex run id that sorts by creation time."""
    return new_audit_id()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """A background run: new input for a thread, queued until a worker runs it."""

    run_id: str
    thread_id: str
    agent: str
    """Name of the registered graph that runs it."""
    input: Any
    """The state update to apply (JSON-serialisable)."""
    status: RunStatus = "queued"
    created_by: str | None = None
    """Who queued it (the requester)."""
    created_at: datetime
    updated_at: datetime
    owner: str | None = None
    """The worker that claimed it last."""
    attempts: int = 0
    """How many workers took it and did not give it back (`release_run` does not count):
    more than one means it was taken over from a worker that died."""
    after: str | None = None
    """The thread's head checkpoint when the run was queued: the run's input, if applied,
    is in a checkpoint after it (bounds the search on a takeover)."""
    result: Any = None
    """What the run ended with (done / interrupted), JSON."""
    error: str | None = None
    """Why it failed."""
    kind: RunKind = "input"
    """`input`: apply `input` (a state update) once, then run to a pause or the end;
    `command`: the same with `Command(update=input["update"], goto=input["goto"])`;
    `resume`: carry out the recorded decisions of `input["interrupt_ids"]` (never decide
    them: a decision not recorded is not carried out). A resume with no requests and
    `input["continue"]` goes on from the thread's head (`invoke(None)`: the next nodes of a
    thread stopped between steps); a release before it fails such a run (its requests are
    "gone") rather than run it as new input."""
    options: Any = None
    """How the run is executed and logged (JSON), e.g. the run event log's stream modes
    (`interlock.server._durable`); None for a plain run."""
    for_graph: str | None = None
    """With `for_version`: the graph version the run was given back for (its thread paused
    under it, see `release_run`); None for any worker."""
    for_version: str | None = None
    """The version of `for_graph` only whose workers claim the run while a live process
    advertises it (`WorkerVersions`); once none does, any worker does."""

    @property
    def stop_asked(self) -> bool:
        """Whether the run was asked to stop while it ran (`stop_run`): whoever runs it
        stops it at its next step boundary, a takeover included."""
        return isinstance(self.options, dict) and self.options.get("stop") is True


@dataclass(frozen=True, slots=True, kw_only=True)
class StrandedThread:
    """A thread left decided but not carried out: its head checkpoint is paused on
    requests that were decided (resolved or expired), nothing is pending on it, no run is
    open or ended on it since the decision, and no run holds its lease."""

    thread_id: str
    checkpoint_id: str
    """The head checkpoint paused on the decided requests."""
    interrupt_ids: tuple[str, ...]
    graph: str | None
    """The graph that raised the requests (their `metadata["graph"]`)."""
    decided_by: str | None
    decided_at: datetime
    """When the newest of the decisions was recorded."""


class RunQueue(ABC):
    """The run-queue part of the store protocol (see the module docstring)."""

    @abstractmethod
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
        """Queue a run (durably, before returning) and return it. `input` and `options`
        must be JSON-serialisable (`SerializationError` before anything is written). With
        `owner` (and `ttl`), the run is queued already claimed by `owner` for `ttl` seconds
        (status `running`, attempts 1): the caller runs it now, another process takes it
        over if the lease lapses. A `run_id` that exists already is a `ValueError`."""

    @abstractmethod
    def cancel_run(self, run_id: str) -> RunRecord | None:
        """Cancel a queued run (status `cancelled`: never claimed); return the run as it is
        now — a run that is running or ended is returned unchanged. None: no such run."""

    @abstractmethod
    def stop_run(self, run_id: str) -> RunRecord | None:
        """Ask a run to stop: a queued run is cancelled (as `cancel_run`), except a queued
        resume, which carries out a recorded decision: it is marked like a running run. A
        marked run (`options["stop"]`, `RunRecord.stop_asked`) is stopped by whoever runs
        it, now or on a takeover, between two steps after its first, and ends `cancelled`.
        Returns the run as it is now (an ended run unchanged); None: no such run."""

    @abstractmethod
    def discard_run(self, run_id: str, owner: str) -> bool:
        """Delete a running run `owner` holds and that did nothing (it was refused before
        it started), so that it is not listed; False if `owner` does not hold it."""

    @abstractmethod
    def delete_run(self, thread_id: str, run_id: str) -> bool:
        """Forget an ended run of `thread_id` (done, interrupted, failed or cancelled) and
        its events in the run event log, in one transaction; False (nothing deleted) if the
        run is queued or running, of another thread, or unknown."""

    @abstractmethod
    def stranded_threads(self, *, since: datetime, limit: int = 100) -> tuple[StrandedThread, ...]:
        """Threads left decided but not carried out (see `StrandedThread`), among the
        decisions recorded at or after `since`, oldest decision first. One indexed query
        over the recent decisions (not a scan of the threads)."""

    @abstractmethod
    def claim_run(
        self, owner: str, *, ttl: float, versions: Collection[tuple[str, str]] = ()
    ) -> RunRecord | None:
        """Claim the oldest claimable run for `owner` for `ttl` seconds (status `running`,
        attempts + 1); None when there is none. Atomic: two claimers never get one run while
        its lease is live. `versions`: the `(graph, version)` pairs the claimer runs; a run
        given back for a version (`for_version`) is claimable only by a claimer listing it
        while a live process advertises that version (`WorkerVersions`), and by any claimer
        once none does."""

    @abstractmethod
    def renew_run(self, run_id: str, owner: str, *, ttl: float) -> bool:
        """Extend the lease of a running run by `ttl` seconds from now, if `owner` holds it."""

    @abstractmethod
    def finish_run(
        self,
        run_id: str,
        owner: str,
        *,
        status: Literal["done", "interrupted", "failed", "cancelled"],
        result: Any = None,
        error: str | None = None,
    ) -> bool:
        """Record the run's end, if `owner` holds it (False, and nothing changes, if not)."""

    @abstractmethod
    def release_run(
        self,
        run_id: str,
        owner: str,
        *,
        delay: float = 0.0,
        for_version: tuple[str, str] | None = None,
    ) -> bool:
        """Give a running run back to the queue, claimable again after `delay` seconds (its
        thread was busy, say), if `owner` holds it; the claim is not counted in `attempts`.
        `for_version` (`(graph, version)`): mark it for the workers running that version
        (see `claim_run`); None keeps the mark it has."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None:
        """One run by id."""

    @abstractmethod
    def list_runs(
        self,
        *,
        thread_id: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
    ) -> tuple[RunRecord, ...]:
        """Runs, newest first, optionally of one thread and/or one status."""

    # ---- async twins --------------------------------------------------------------------

    async def aenqueue_run(
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
        """Async twin of `enqueue_run`."""
        return await to_thread(
            self.enqueue_run,
            thread_id=thread_id,
            agent=agent,
            input=input,
            created_by=created_by,
            after=after,
            run_id=run_id,
            kind=kind,
            options=options,
            owner=owner,
            ttl=ttl,
        )

    async def acancel_run(self, run_id: str) -> RunRecord | None:
        """Async twin of `cancel_run`."""
        return await to_thread(self.cancel_run, run_id)

    async def astop_run(self, run_id: str) -> RunRecord | None:
        """Async twin of `stop_run`."""
        return await to_thread(self.stop_run, run_id)

    async def adiscard_run(self, run_id: str, owner: str) -> bool:
        """Async twin of `discard_run`."""
        return await to_thread(self.discard_run, run_id, owner)

    async def adelete_run(self, thread_id: str, run_id: str) -> bool:
        """Async twin of `delete_run`."""
        return await to_thread(self.delete_run, thread_id, run_id)

    async def astranded_threads(
        self, *, since: datetime, limit: int = 100
    ) -> tuple[StrandedThread, ...]:
        """Async twin of `stranded_threads`."""
        return await to_thread(self.stranded_threads, since=since, limit=limit)

    async def aclaim_run(
        self, owner: str, *, ttl: float, versions: Collection[tuple[str, str]] = ()
    ) -> RunRecord | None:
        """Async twin of `claim_run`."""
        return await to_thread(self.claim_run, owner, ttl=ttl, versions=versions)

    async def arenew_run(self, run_id: str, owner: str, *, ttl: float) -> bool:
        """Async twin of `renew_run`."""
        return await to_thread(self.renew_run, run_id, owner, ttl=ttl)

    async def afinish_run(
        self,
        run_id: str,
        owner: str,
        *,
        status: Literal["done", "interrupted", "failed", "cancelled"],
        result: Any = None,
        error: str | None = None,
    ) -> bool:
        """Async twin of `finish_run`."""
        return await to_thread(
            self.finish_run, run_id, owner, status=status, result=result, error=error
        )

    async def arelease_run(
        self,
        run_id: str,
        owner: str,
        *,
        delay: float = 0.0,
        for_version: tuple[str, str] | None = None,
    ) -> bool:
        """Async twin of `release_run`."""
        return await to_thread(
            self.release_run, run_id, owner, delay=delay, for_version=for_version
        )

    async def aget_run(self, run_id: str) -> RunRecord | None:
        """Async twin of `get_run`."""
        return await to_thread(self.get_run, run_id)

    async def alist_runs(
        self,
        *,
        thread_id: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
    ) -> tuple[RunRecord, ...]:
        """Async twin of `list_runs`."""
        return await to_thread(self.list_runs, thread_id=thread_id, status=status, limit=limit)
