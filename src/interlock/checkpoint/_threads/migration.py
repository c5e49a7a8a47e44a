"""Migration 16, thread search as index ranges: `thread_meta` (one row per top-level pair of
a thread's metadata), the indexes a search walks or probes, and the metadata of threads made
before it.

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
