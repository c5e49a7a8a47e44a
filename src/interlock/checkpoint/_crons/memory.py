"""Crons in Python structures: a mixin of `InMemorySaver`. A fire's run is queued (and its
thread made) under the saver's lock, in the critical section that checks the cron, which
its deletes and updates take too."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._audit.audited import AuditedMemory
from interlock.checkpoint._crons.protocol import (
    CRON_CHANGES,
    CronFire,
    CronJob,
    CronQuery,
    change_detail,
    cron_detail,
    cron_matches,
)
from interlock.checkpoint._runs.protocol import RunKind, RunRecord
from interlock.checkpoint._time import as_utc

__all__ = ["MemoryCrons", "ordered", "utc_times"]


def _copy(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A stored copy of a JSON object (fails now, as the SQL stores do, if it cannot be
    stored; the caller's object is not kept)."""
    return dict(serde.loads(serde.dumps(dict(value), what)))


def utc_times(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with its times in UTC (a naive time taken as UTC), as the stores keep them."""
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


def ordered(crons: list[CronJob], query: CronQuery) -> list[CronJob]:
    """`crons` in `query`'s order: by its field, ties by id, crons without a value last."""
    desc = query.sort_order == "desc"
    key = query.sort_by
    has = [c for c in crons if getattr(c, key) is not None]
    none = [c for c in crons if getattr(c, key) is None]
    has.sort(key=lambda c: (getattr(c, key), c.cron_id), reverse=desc)
    none.sort(key=lambda c: c.cron_id, reverse=desc)
    return has + none


class MemoryCrons(AuditedMemory):
    """Crons in a dict under the saver's lock; each change audited in the same critical
    section."""

    if TYPE_CHECKING:  # the runs' and threads' rooms, written in a fire's critical section

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
        ) -> RunRecord: ...

        def thread_owner(self, thread_id: str) -> str | None: ...

        def set_thread_owner(self, thread_id: str, owner: str) -> None: ...

        def set_thread_metadata(self, thread_id: str, metadata: Mapping[str, Any]) -> None: ...

    def _init_crons(self) -> None:
        self._crons: dict[str, CronJob] = {}

    def _forget_crons(self, thread_id: str) -> None:
        """Under the saver's lock, as its thread is deleted: delete the thread's crons."""
        for cron in [c for c in self._crons.values() if c.thread_id == thread_id]:
            del self._crons[cron.cron_id]
            detail = {"cron_id": cron.cron_id, "reason": "thread_deleted"}
            self._audited(thread_id, None, "cron.deleted", None, detail)

    def add_cron(self, cron: CronJob, *, actor: str | None) -> CronJob:
        """Keep a new cron (audited)."""
        times = {
            "end_time": cron.end_time,
            "next_run_date": cron.next_run_date,
            "created_at": cron.created_at,
            "updated_at": cron.updated_at,
        }
        stored = replace(
            cron,
            payload=_copy(cron.payload, "cron payload"),
            metadata=_copy(cron.metadata, "cron metadata"),
            **utc_times(times),
        )
        detail = serde.dumps(cron_detail(stored), "cron")
        with self._lock:
            if cron.cron_id in self._crons:
                raise ValueError(f"cron {cron.cron_id!r} exists")
            self._crons[cron.cron_id] = stored
            self._log(cron.thread_id, None, "cron.created", actor, detail)
        return stored

    def get_cron(self, cron_id: str) -> CronJob | None:
        """One cron by id."""
        with self._lock:
            return self._crons.get(cron_id)

    def update_cron(
        self, cron_id: str, changes: Mapping[str, Any], *, actor: str | None
    ) -> CronJob | None:
        """Set the changed fields (audited)."""
        unknown = set(changes) - CRON_CHANGES
        if unknown:
            raise ValueError(f"a cron's {sorted(unknown)} cannot be changed")
        values = utc_times(dict(changes))
        for name in ("payload", "metadata"):
            if name in values:
                values[name] = _copy(values[name], f"cron {name}")
        detail = serde.dumps(change_detail(cron_id, changes), "cron")
        with self._lock:
            cron = self._crons.get(cron_id)
            if cron is None:
                return None
            cron = replace(cron, **values, updated_at=datetime.now(UTC))
            self._crons[cron_id] = cron
            self._log(cron.thread_id, None, "cron.updated", actor, detail)
        return cron

    def delete_cron(self, cron_id: str, *, actor: str | None) -> CronJob | None:
        """Delete a cron (audited)."""
        with self._lock:
            cron = self._crons.pop(cron_id, None)
            if cron is not None:
                self._audited(cron.thread_id, None, "cron.deleted", actor, {"cron_id": cron_id})
        return cron

    def search_crons(
        self, query: CronQuery, *, limit: int = 10, offset: int = 0
    ) -> tuple[CronJob, ...]:
        """Matching crons in the query's order, a page."""
        with self._lock:
            found = [c for c in self._crons.values() if cron_matches(c, query)]
        return tuple(ordered(found, query)[offset : offset + max(limit, 0)])

    def count_crons(self, query: CronQuery) -> int:
        """How many crons match."""
        with self._lock:
            return sum(1 for c in self._crons.values() if cron_matches(c, query))

    def due_crons(
        self, now: datetime, *, limit: int = 100, agents: Collection[str] | None = None
    ) -> tuple[CronJob, ...]:
        """Enabled crons due at `now` (of `agents`), earliest first."""
        now = as_utc(now)
        with self._lock:
            due = [
                c
                for c in self._crons.values()
                if c.enabled
                and c.next_run_date is not None
                and c.next_run_date <= now
                and (agents is None or c.agent in agents)
            ]
        due.sort(key=lambda c: (c.next_run_date, c.cron_id))
        return tuple(due[: max(limit, 0)])

    def advance_cron(self, cron_id: str, *, due: datetime, next_run: datetime | None) -> bool:
        """Move `next_run_date` from `due` to `next_run`, if it still is `due`."""
        with self._lock:
            cron = self._crons.get(cron_id)
            if cron is None or cron.next_run_date != as_utc(due):
                return False
            self._crons[cron_id] = replace(
                cron, next_run_date=None if next_run is None else as_utc(next_run)
            )
        return True

    def queue_cron_run(self, fire: CronFire) -> RunRecord | None:
        """Queue the fire's run (and make its thread) under the lock, if the cron is still
        as read. Everything that could fail is checked before the first write."""
        queued = serde.dumps(dict(fire.queued), "audit detail of run.queued")
        created = serde.dumps(dict(fire.thread_created), "audit detail of thread.created")
        if fire.new_thread is not None:
            serde.dumps(dict(fire.new_thread), "metadata")
        who = fire.created_by
        with self._lock:
            cron = self._crons.get(fire.cron_id)
            if (
                cron is None
                or not cron.enabled
                or cron.next_run_date != as_utc(fire.due)
                or cron.updated_at != as_utc(fire.updated_at)
            ):
                return None
            run = self.enqueue_run(  # first: refuses a run id it has, before any write
                thread_id=fire.thread_id,
                agent=fire.agent,
                input=fire.input,
                created_by=who,
                after=fire.after,
                run_id=fire.run_id,
                options=fire.options,
            )
            if fire.new_thread is not None and self.thread_owner(fire.thread_id) is None:
                self.set_thread_owner(fire.thread_id, who or "system")
                self._log(fire.thread_id, None, "thread.created", who, created)
                self.set_thread_metadata(fire.thread_id, fire.new_thread)
            self._log(fire.thread_id, None, "run.queued", who, queued)
        return run
