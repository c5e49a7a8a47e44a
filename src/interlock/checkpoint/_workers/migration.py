"""The worker-versions room's table and the run queue's version mark (migration 15)."""

from __future__ import annotations

__all__ = ["WORKERS_MIGRATION"]

WORKERS_MIGRATION: list[str | tuple[str, str]] = [
    """CREATE TABLE IF NOT EXISTS worker_versions (
        graph TEXT NOT NULL,
        version_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        agent TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        lease_until {real} NOT NULL,
        PRIMARY KEY (graph, version_id, owner)
    )""",
    # a run given back for the process running the version its thread paused under
    "ALTER TABLE runs ADD COLUMN for_graph TEXT",
    "ALTER TABLE runs ADD COLUMN for_version TEXT",
]
"""One row per (graph, version, process) advert; the version a queued run waits for."""
