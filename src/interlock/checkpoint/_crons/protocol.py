"""Crons in the store protocol: the record, the search query and the abstract methods.

A cron is a run request (`payload`) queued for one agent each time its `schedule` comes
due: on its thread (`thread_id`), or on a new thread each time (`thread_id` None). The store
keeps crons and answers the scheduler's one question, "which enabled crons are due now?"
(`due_crons`: an index range of `next_run_date`); the service computes due times (the
store never parses a schedule) and fires.

Exactly once: every process's scheduler may read the same due cron; `advance_cron` moves
its `next_run_date` from the due time it read to the next one only if it still is that due
time (a conditional update), so one caller wins each due time. The run a fire queues has an
id derived from the cron and the due time, so queuing it twice fails the second time.

A fire and a change of its cron are ordered: `queue_cron_run` queues a due time's run (and,
for a cron without a thread, makes its thread) in one transaction with the check that the
cron still is as the scheduler read it — there, enabled, due at that time, not changed
since. A delete, disable or change either commits first (the fire queues nothing) or waits
for the fire's commit (its run was queued before the change returned).

Creating, updating and deleting a cron write an audit entry in the same transaction
(`cron.created`, `cron.updated`, `cron.deleted`, on the cron's thread); deleting a thread
deletes its crons (`cron.deleted` with reason `thread_deleted`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from interlock.checkpoint._async import to_thread
from interlock.checkpoint._runs.protocol import RunRecord

__all__ = [
    "CRON_CHANGES",
    "CRON_SORTS",
    "CronFire",
    "CronJob",
    "CronQuery",
    "CronSort",
    "Crons",
    "change_detail",
    "checked_in_python",
    "cron_detail",
    "cron_matches",
]

CronSort = Literal[
    "cron_id", "agent", "thread_id", "created_at", "updated_at", "next_run_date", "end_time"
]
CRON_SORTS: tuple[CronSort, ...] = (
    "cron_id",
    "agent",
    "thread_id",
    "created_at",
    "updated_at",
    "next_run_date",
    "end_time",
)
CRON_CHANGES = frozenset(
    {
        "schedule",
        "timezone",
        "payload",
        "metadata",
        "on_run_completed",
        "end_time",
        "enabled",
        "next_run_date",
    }
)
"""The fields `update_cron` changes (the others are fixed at creation)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CronJob:
    """A run request queued for an agent each time its schedule comes due."""

    cron_id: str
    agent: str
    """The registered graph that runs it."""
    thread_id: str | None = None
    """The thread each fire runs on; None: a new thread each time."""
    owner: str | None = None
    """Who created it: its runs are queued as them."""
    schedule: str
    """The cron expression (interpreted by the service, not the store)."""
    timezone: str | None = None
    """The IANA time zone of the schedule (None: UTC)."""
    payload: Mapping[str, Any] = field(default_factory=dict)
    """The run request each fire queues (JSON: `input`, `config`, `context`, ...)."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    on_run_completed: Literal["delete", "keep"] | None = None
    """A cron without a thread: whether each fire's thread is deleted once its run ended."""
    end_time: datetime | None = None
    """After this the cron fires no more (None: never ends)."""
    enabled: bool = True
    next_run_date: datetime | None = None
    """When it next comes due (None: never again)."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CronQuery:
    """Which crons a search or count finds, and in what order. `None`: any."""

    agent: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    owner: str | None = None
    """Only the crons this person created (a requester's own)."""
    metadata: Mapping[str, Any] | None = None
    """Each top-level pair equal in the cron's metadata (checked on the crons the other
    filters find)."""
    assistant_id: str | None = None
    """Only the crons whose run request names this assistant (`payload["assistant_id"]`;
    checked, as `metadata`, on the crons the other filters find: give its graph as `agent`
    too)."""
    sort_by: CronSort = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    """Crons without a value for `sort_by` come last either way; ties by `cron_id`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CronFire:
    """One due time's run, as `queue_cron_run` queues it: only while the cron is as read."""

    cron_id: str
    due: datetime
    """The due time fired: the cron's `next_run_date` as the scheduler read it."""
    updated_at: datetime
    """The cron's `updated_at` as the scheduler read it: the run request it fires is of
    that version (any change since makes the fire stale)."""
    run_id: str
    thread_id: str
    agent: str
    input: Any
    """The run's input (JSON)."""
    created_by: str | None
    """Who the run is queued as (the cron's creator): `run.queued`'s actor."""
    after: str | None = None
    """The thread's head checkpoint the run was checked against (`enqueue_run`'s)."""
    options: Any = None
    """How the worker runs it (`RunRecord.options`)."""
    queued: Mapping[str, Any] = field(default_factory=dict)
    """The detail of the `run.queued` audit entry written with the run."""
    new_thread: Mapping[str, Any] | None = None
    """A cron without a thread: the metadata of the thread made for the due time (owned by
    `created_by`), unless that thread has an owner already; None: the thread exists."""
    thread_created: Mapping[str, Any] = field(default_factory=dict)
    """The detail of the `thread.created` audit entry written when the thread is made."""


def cron_matches(cron: CronJob, query: CronQuery) -> bool:
    """Whether `cron` passes `query`'s filters."""
    return (
        (query.agent is None or cron.agent == query.agent)
        and (query.thread_id is None or cron.thread_id == query.thread_id)
        and (query.enabled is None or cron.enabled == query.enabled)
        and (query.owner is None or cron.owner == query.owner)
        and (query.assistant_id is None or cron.payload.get("assistant_id") == query.assistant_id)
        and all(
            k in cron.metadata and cron.metadata[k] == v for k, v in (query.metadata or {}).items()
        )
    )


def checked_in_python(query: CronQuery) -> bool:
    """Whether some filter of `query` is checked on the crons read (not in SQL)."""
    return bool(query.metadata) or query.assistant_id is not None


def cron_detail(cron: CronJob) -> dict[str, Any]:
    """The audit detail of a cron's creation."""
    return {
        "cron_id": cron.cron_id,
        "agent": cron.agent,
        "schedule": cron.schedule,
        "timezone": cron.timezone,
        "payload": dict(cron.payload),
        "metadata": dict(cron.metadata),
        "on_run_completed": cron.on_run_completed,
        "end_time": None if cron.end_time is None else cron.end_time.isoformat(),
        "enabled": cron.enabled,
        "next_run_date": None if cron.next_run_date is None else cron.next_run_date.isoformat(),
    }


def change_detail(cron_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The audit detail of an update: the fields it set (times as ISO text)."""
    out: dict[str, Any] = {"cron_id": cron_id}
    for key, value in sorted(changes.items()):
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


class Crons(ABC):
    """Crons: keep, change, search, and the scheduler's due query and conditional advance."""

    @abstractmethod
    def add_cron(self, cron: CronJob, *, actor: str | None) -> CronJob:
        """Keep a new cron (audited `cron.created` by `actor`, same transaction).
        `ValueError` if its id exists; `SerializationError` (nothing written) for a payload
        or metadata that cannot be stored."""

    @abstractmethod
    def get_cron(self, cron_id: str) -> CronJob | None:
        """One cron by id."""

    @abstractmethod
    def update_cron(
        self, cron_id: str, changes: Mapping[str, Any], *, actor: str | None
    ) -> CronJob | None:
        """Set the fields named in `changes` (keys of `CRON_CHANGES`; others are a
        `ValueError`) and `updated_at`, audited `cron.updated` with the changes, same
        transaction; the cron as now stored, None (nothing written) if there is none."""

    @abstractmethod
    def delete_cron(self, cron_id: str, *, actor: str | None) -> CronJob | None:
        """Delete a cron (audited `cron.deleted`, same transaction); the cron it was, None
        if there is none."""

    @abstractmethod
    def search_crons(
        self, query: CronQuery, *, limit: int = 10, offset: int = 0
    ) -> tuple[CronJob, ...]:
        """The crons `query` matches, in its order, `offset` skipped, at most `limit`."""

    @abstractmethod
    def count_crons(self, query: CronQuery) -> int:
        """How many crons `query` matches."""

    @abstractmethod
    def due_crons(
        self, now: datetime, *, limit: int = 100, agents: Collection[str] | None = None
    ) -> tuple[CronJob, ...]:
        """Enabled crons whose `next_run_date` is at or before `now`, earliest first (then
        by id), at most `limit`: one index range (`crons_due`, enabled crons only).
        `agents`: only the crons of these agents (a scheduler's own, so that crons no
        process it could fire them does not crowd out its own)."""

    @abstractmethod
    def advance_cron(self, cron_id: str, *, due: datetime, next_run: datetime | None) -> bool:
        """Move the cron's `next_run_date` from `due` to `next_run` (None: never again) if
        it still is `due`; True for the one caller that did. Of callers racing with the
        same `due`, from any processes, exactly one gets True."""

    @abstractmethod
    def queue_cron_run(self, fire: CronFire) -> RunRecord | None:
        """Queue the run of `fire` if its cron still exists, is enabled, is due at
        `fire.due` (`next_run_date` unchanged) and has `fire.updated_at` — all in one
        transaction: for a cron without a thread the thread is made too (`new_thread`:
        owner, metadata, `thread.created`), and the run is audited `run.queued`. None
        (nothing written) when the cron is no longer so; a `ValueError` (nothing written)
        when `fire.run_id` exists; `SerializationError` (nothing written) for input,
        options or metadata that cannot be stored. A delete or update of the cron racing
        it either commits first (None) or returns after this committed."""

    # ---- async twins --------------------------------------------------------------------

    async def aadd_cron(self, cron: CronJob, *, actor: str | None) -> CronJob:
        """Async twin of `add_cron`."""
        return await to_thread(self.add_cron, cron, actor=actor)

    async def aget_cron(self, cron_id: str) -> CronJob | None:
        """Async twin of `get_cron`."""
        return await to_thread(self.get_cron, cron_id)

    async def aupdate_cron(
        self, cron_id: str, changes: Mapping[str, Any], *, actor: str | None
    ) -> CronJob | None:
        """Async twin of `update_cron`."""
        return await to_thread(self.update_cron, cron_id, changes, actor=actor)

    async def adelete_cron(self, cron_id: str, *, actor: str | None) -> CronJob | None:
        """Async twin of `delete_cron`."""
        return await to_thread(self.delete_cron, cron_id, actor=actor)

    async def asearch_crons(
        self, query: CronQuery, *, limit: int = 10, offset: int = 0
    ) -> tuple[CronJob, ...]:
        """Async twin of `search_crons`."""
        return await to_thread(self.search_crons, query, limit=limit, offset=offset)

    async def acount_crons(self, query: CronQuery) -> int:
        """Async twin of `count_crons`."""
        return await to_thread(self.count_crons, query)

    async def adue_crons(
        self, now: datetime, *, limit: int = 100, agents: Collection[str] | None = None
    ) -> tuple[CronJob, ...]:
        """Async twin of `due_crons`."""
        return await to_thread(self.due_crons, now, limit=limit, agents=agents)

    async def aadvance_cron(
        self, cron_id: str, *, due: datetime, next_run: datetime | None
    ) -> bool:
        """Async twin of `advance_cron`."""
        return await to_thread(self.advance_cron, cron_id, due=due, next_run=next_run)

    async def aqueue_cron_run(self, fire: CronFire) -> RunRecord | None:
        """Async twin of `queue_cron_run`."""
        return await to_thread(self.queue_cron_run, fire)
