"""The crons room's table (migration 22)."""

from __future__ import annotations

__all__ = ["CRONS_MIGRATION"]

CRONS_MIGRATION: list[str | tuple[str, str]] = [
    """CREATE TABLE IF NOT EXISTS crons (
        cron_id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        thread_id TEXT,
        owner TEXT,
        schedule TEXT NOT NULL,
        timezone TEXT,
        payload {json} NOT NULL,
        metadata {json} NOT NULL,
        on_run_completed TEXT,
        end_time {ts},
        enabled INTEGER NOT NULL,
        next_run_date {ts},
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )""",
    # the scheduler's question, "which enabled crons are due?": a range of this partial
    # index (disabled crons and crons that never fire again are not in it)
    "CREATE INDEX IF NOT EXISTS crons_due ON crons (next_run_date, cron_id) "
    "WHERE enabled = 1 AND next_run_date IS NOT NULL",
    # the searches' filters (`client.crons.search`): by thread, by agent, a requester's own
    "CREATE INDEX IF NOT EXISTS crons_thread ON crons (thread_id, created_at)",
    "CREATE INDEX IF NOT EXISTS crons_agent ON crons (agent, created_at)",
    "CREATE INDEX IF NOT EXISTS crons_owner ON crons (owner, created_at)",
]
"""One row per cron; its run request and metadata as JSON."""
