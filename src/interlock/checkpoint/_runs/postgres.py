"""The run queue on PostgreSQL: a claim in one statement that skips rows others hold, and
a run queued in one statement (every run the service starts is queued: one round trip)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from interlock.checkpoint._runs.protocol import RunKind, RunRecord
from interlock.checkpoint._runs.sql import RUN_COLS, SqlRunQueue, claimable
from interlock.checkpoint._sql_dialect import utc_now

__all__ = ["PG_CLAIM", "PgRunQueue"]

PG_CLAIM = (
    "SELECT c.run_id FROM run_fronts f CROSS JOIN LATERAL (SELECT r.run_id FROM runs r "
    "WHERE r.run_id = f.run_id AND {claimable} FOR UPDATE SKIP LOCKED) c "
    "ORDER BY f.created_at, f.run_id LIMIT 1 FOR UPDATE OF f SKIP LOCKED"
)
"""`CLAIM` that locks the run it takes and its thread's front: the fronts oldest first,
each front's run looked up and locked if claimable, up to the first one. The lookup is a
`LATERAL` subquery (a nested loop over the fronts, whatever the tables' statistics: as a
join, a fresh table's planner hashed every open run). A row another claimer or writer
holds is skipped, never waited for.

The front's row is locked until the claim commits because the triggers that move a front
lock it too (`_runs/migration.py`): without it, a run whose insert began before the
claimed one's (an older `created_at`) could commit while the claim was in flight, become
the front, and be claimed by a second claimer that could not yet see the first run
running (`test_racing_writers_keep_the_fronts_exact`, about 1 run in 25 on a loaded
machine). With it, that insert's trigger waits for the claim to commit, and the second
claimer sees the first run running (`CLAIMABLE`'s last check)."""


class PgRunQueue(SqlRunQueue):
    """`claim_run` with `FOR UPDATE SKIP LOCKED`; `enqueue_run` in one statement."""

    def _enqueue_conn(self) -> Any:
        """`enqueue_run`'s one `INSERT ... RETURNING` runs in autocommit: no transaction
        around it (`_read`'s connection)."""
        return self._read()

    def _insert_run(
        self,
        conn: Any,
        run_id: str,
        thread_id: str,
        agent: str,
        text: str,
        created_by: str | None,
        after: str | None,
        kind: RunKind,
        extra: str | None,
        owner: str | None,
        ttl: float | None,
    ) -> Any:
        """Insert a run in one `INSERT ... ON CONFLICT DO NOTHING RETURNING` (autocommit,
        or the caller's transaction); its row, or None if `run_id` exists."""
        status, attempts = ("running", 1) if owner else ("queued", 0)
        sql = self._q(
            f"INSERT INTO runs ({RUN_COLS}, lease_until) VALUES (?, ?, ?, ?J, ?, ?, "
            "clock_timestamp(), clock_timestamp(), ?, ?, ?, NULL, NULL, ?, ?J, NULL, NULL, "
            "CASE WHEN ?::text IS NULL THEN NULL ELSE {now} + ? END) "
            f"ON CONFLICT (run_id) DO NOTHING RETURNING {RUN_COLS}"
        )
        params = (
            run_id,
            thread_id,
            agent,
            text,
            status,
            created_by,
            owner or None,
            attempts,
            after,
            kind,
            extra,
            owner or None,
            float(ttl or 0),
        )
        return conn.execute(sql, params).fetchone()

    def claim_run(
        self, owner: str, *, ttl: float, versions: Collection[tuple[str, str]] = ()
    ) -> RunRecord | None:
        """Claim the oldest claimable run in one statement: the row is locked with
        `FOR UPDATE SKIP LOCKED`, so concurrent claimers take different runs without waiting
        for each other (one that finds its candidate taken gets None and polls again)."""
        returning = ", ".join("runs." + col.strip() for col in RUN_COLS.split(","))
        where, params = claimable(versions)
        sql = self._q(
            f"WITH c AS ({PG_CLAIM.format(claimable=where)}) "
            "UPDATE runs SET status = 'running', owner = ?, lease_until = {now} + ?, "
            "attempts = runs.attempts + 1, updated_at = ? FROM c "
            f"WHERE runs.run_id = c.run_id RETURNING {returning}"
        )
        with self._read() as conn:
            row = conn.execute(
                sql, (*params, owner, float(ttl), self.dialect.ts(utc_now()))
            ).fetchone()
        return self._run(row) if row else None
