"""The run queue's fronts as a test sees them (migration 18): what `run_fronts` holds, and
what it must hold — each thread's oldest open run, computed from `runs`."""

from __future__ import annotations

from typing import Any

OPEN = "('queued', 'running')"
KEPT = "SELECT thread_id, run_id FROM run_fronts ORDER BY thread_id"
TRUE = (
    f"SELECT r.thread_id, r.run_id FROM runs r WHERE r.status IN {OPEN} AND NOT EXISTS "
    f"(SELECT 1 FROM runs e WHERE e.thread_id = r.thread_id AND e.status IN {OPEN} "
    "AND (e.created_at < r.created_at OR (e.created_at = r.created_at AND e.run_id < r.run_id))) "
    "ORDER BY r.thread_id"
)


def check_fronts(store: Any) -> list[tuple[str, str]]:
    """Assert that `run_fronts` holds the fronts `runs` has; return them (thread, run)."""
    with store._read() as conn:
        kept = [tuple(r) for r in store._x(conn, KEPT).fetchall()]
        true = [tuple(r) for r in store._x(conn, TRUE).fetchall()]
    assert kept == true
    return kept
