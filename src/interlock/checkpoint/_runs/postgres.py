"""The run queue on PostgreSQL: a claim in one statement that skips rows others hold."""

from __future__ import annotations

from interlock.checkpoint._runs.protocol import RunRecord
from interlock.checkpoint._runs.sql import CLAIMABLE, RUN_COLS, SqlRunQueue
from interlock.checkpoint._sql_dialect import utc_now

__all__ = ["PgRunQueue"]


class PgRunQueue(SqlRunQueue):
    """`claim_run` with `FOR UPDATE SKIP LOCKED`."""

    def claim_run(self, owner: str, *, ttl: float) -> RunRecord | None:
        """Claim the oldest claimable run in one statement: the row is locked with
        `FOR UPDATE SKIP LOCKED`, so concurrent claimers take different runs without waiting
        for each other (one that finds its candidate taken gets None and polls again)."""
        returning = ", ".join("runs." + col.strip() for col in RUN_COLS.split(","))
        sql = self._q(
            f"WITH c AS (SELECT r.run_id FROM runs r WHERE {CLAIMABLE} "
            "ORDER BY r.created_at, r.run_id LIMIT 1 FOR UPDATE SKIP LOCKED) "
            "UPDATE runs SET status = 'running', owner = ?, lease_until = {now} + ?, "
            "attempts = runs.attempts + 1, updated_at = ? FROM c "
            f"WHERE runs.run_id = c.run_id RETURNING {returning}"
        )
        with self._read() as conn:
            row = conn.execute(sql, (owner, float(ttl), self.dialect.ts(utc_now()))).fetchone()
        return self._run(row) if row else None
