"""Migration 16, thread search as index ranges: `thread_meta` (one row per top-level pair of
a thread's metadata), `threads.waiting` (its pending requests, counted by triggers on
`interrupts`), the indexes a search walks or probes, and the metadata of threads made before
it; and `interrupts_due` made partial (requests with a deadline), so that it is never taken
for the inbox's list.

Before it, the Agent Server kept a thread's metadata in the thread's first audit entry
(`thread.created`, its `detail.metadata`) and, once changed, in the last event of the
thread's `thread-metadata` run in the run event log. The migration copies the newest of those
into `threads.metadata`, then indexes every thread's metadata in Python (`backfill_tags`:
the tags are canonical JSON, which SQL does not spell the same way on both databases).
"""

from __future__ import annotations

import json
from typing import Any

from interlock.checkpoint._threads.search import metadata_tags

__all__ = ["THREAD_SEARCH_MIGRATION", "backfill_tags"]

_METADATA_RUN = "thread-metadata"
"""The run id under which the Agent Server logged metadata changes (`_context.METADATA_RUN`)."""


def backfill_tags(store: Any, conn: Any) -> None:
    """Index the metadata of every thread that has some (a migration step)."""
    rows = store._x(
        conn, "SELECT thread_id, metadata FROM threads WHERE metadata IS NOT NULL"
    ).fetchall()
    tags = []
    for thread_id, text in rows:
        metadata = json.loads(text) if isinstance(text, str | bytes) else text
        if isinstance(metadata, dict):
            tags += [(k, v, thread_id) for k, v in metadata_tags(metadata)]
    if tags:
        conn.cursor().executemany(
            store._q("INSERT INTO thread_meta (key, value, thread_id) VALUES (?, ?, ?)"), tags
        )


_SQLITE_ASKED = (
    "CREATE TRIGGER IF NOT EXISTS interrupts_waiting_asked AFTER INSERT ON interrupts "
    "WHEN NEW.status = 'pending' BEGIN "
    "UPDATE threads SET waiting = waiting + 1 WHERE thread_id = NEW.thread_id; END"
)
_SQLITE_CHANGED = (
    "CREATE TRIGGER IF NOT EXISTS interrupts_waiting_changed AFTER UPDATE OF status "
    "ON interrupts WHEN (OLD.status = 'pending') <> (NEW.status = 'pending') BEGIN "
    "UPDATE threads SET waiting = MAX(0, waiting + CASE WHEN NEW.status = 'pending' "
    "THEN 1 ELSE -1 END) WHERE thread_id = NEW.thread_id; END"
)
_SQLITE_GONE = (
    "CREATE TRIGGER IF NOT EXISTS interrupts_waiting_gone AFTER DELETE ON interrupts "
    "WHEN OLD.status = 'pending' BEGIN "
    "UPDATE threads SET waiting = MAX(0, waiting - 1) WHERE thread_id = OLD.thread_id; END"
)
_PG_WAITING = """CREATE OR REPLACE FUNCTION interlock_thread_waiting() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.status = 'pending' THEN
    UPDATE threads SET waiting = GREATEST(0, waiting - 1) WHERE thread_id = OLD.thread_id;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = 'pending' THEN
    UPDATE threads SET waiting = waiting + 1 WHERE thread_id = NEW.thread_id;
  END IF;
  RETURN NULL;
END $$"""
"""The stores write a thread's row before its requests; a request written before its
thread's row (a bulk load) is not counted, and a count never goes below 0, so `waiting` is
never more than the thread's pending requests: 0 for every thread with none. A search for
idle threads reads the `waiting = 0` range and checks each thread's pending requests."""

THREAD_SEARCH_MIGRATION: list[Any] = [
    """CREATE TABLE IF NOT EXISTS thread_meta (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        PRIMARY KEY (key, value, thread_id)
    )""",
    "CREATE INDEX IF NOT EXISTS thread_meta_thread ON thread_meta (thread_id)",
    "CREATE INDEX IF NOT EXISTS threads_created ON threads (created_at)",
    # the threads a run holds (few), and the threads with a pending request, listed and
    # probed without reading their decided requests
    "CREATE INDEX IF NOT EXISTS threads_leased ON threads (thread_id) "
    "WHERE lease_owner IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS interrupts_pending_thread ON interrupts (thread_id) "
    "WHERE status = 'pending'",
    # the requests with a deadline only: SQLite, once it has statistics, read the inbox's
    # pending requests through (status, deadline) and sorted them all, as both indexes
    # start with the status (bench/inbox_scale.py; tests/test_inbox_plans.py)
    "DROP INDEX IF EXISTS interrupts_due",
    "CREATE INDEX IF NOT EXISTS interrupts_due ON interrupts (status, deadline) "
    "WHERE deadline IS NOT NULL",
    # threads.waiting: how many requests of the thread are pending, kept by triggers on
    # every write of `interrupts` (whichever room's statement makes it), so that the
    # threads waiting for nobody are an index range (`status="idle"`)
    "ALTER TABLE threads ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0",
    "UPDATE threads SET waiting = (SELECT COUNT(*) FROM interrupts i "
    "WHERE i.thread_id = threads.thread_id AND i.status = 'pending')",
    ("sqlite", _SQLITE_ASKED),
    ("sqlite", _SQLITE_CHANGED),
    ("sqlite", _SQLITE_GONE),
    ("postgres", _PG_WAITING),
    (
        "postgres",
        "CREATE TRIGGER interrupts_waiting AFTER INSERT OR DELETE OR UPDATE OF status "
        "ON interrupts FOR EACH ROW EXECUTE FUNCTION interlock_thread_waiting()",
    ),
    "CREATE INDEX IF NOT EXISTS threads_idle ON threads (updated_at) WHERE waiting = 0",
    "CREATE INDEX IF NOT EXISTS threads_idle_created ON threads (created_at) WHERE waiting = 0",
    (
        "sqlite",
        "UPDATE threads SET metadata = COALESCE("
        "(SELECT e.data FROM run_events e WHERE e.thread_id = threads.thread_id "
        f"AND e.run_id = '{_METADATA_RUN}' ORDER BY e.seq DESC LIMIT 1), "
        "(SELECT json_extract(a.detail, '$.metadata') FROM audit_log a "
        "WHERE a.thread_id = threads.thread_id AND a.action = 'thread.created' "
        "AND json_type(a.detail, '$.metadata') = 'object' ORDER BY a.entry_id LIMIT 1)) "
        "WHERE metadata IS NULL",
    ),
    (
        "postgres",
        "UPDATE threads SET metadata = COALESCE("
        "(SELECT e.data FROM run_events e WHERE e.thread_id = threads.thread_id "
        f"AND e.run_id = '{_METADATA_RUN}' ORDER BY e.seq DESC LIMIT 1), "
        "(SELECT a.detail->'metadata' FROM audit_log a "
        "WHERE a.thread_id = threads.thread_id AND a.action = 'thread.created' "
        "AND jsonb_typeof(a.detail->'metadata') = 'object' ORDER BY a.entry_id LIMIT 1)) "
        "WHERE metadata IS NULL",
    ),
    backfill_tags,
]
"""The statements of migration 16 (`_migrations.MIGRATIONS`); `backfill_tags` is a step in
Python."""
