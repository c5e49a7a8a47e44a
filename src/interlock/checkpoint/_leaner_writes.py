"""Migration 17, fewer pages written per pause and decision.

Every commit writes each B-tree page it touched (on SQLite, a WAL frame per page), so an
index that a round trip changes costs on every pause and decision, whether or not anyone
reads it. Before this migration a library round trip on SQLite (pause, then resume to the
end) wrote 86 pages; after it, 73. What changed:

- `threads_owner` and `interrupts_requester` hold only rows whose key is set: a thread made
  by the library has no owner, and a request asked outside the service has no requester, so
  their rows could never be found by the queries those indexes serve (`owner = ?`,
  `requested_by = ?`, which imply `IS NOT NULL`: both planners still use them).
- `pending_approvers_thread` is gone: deleting a thread removes its pending approvers
  through its requests (`pending_approvers_interrupt`), the only other reader.
- On SQLite, `pending_approvers`, `heads` and `audit_chains` are `WITHOUT ROWID` tables:
  their primary key is the table, not a second B-tree beside it (their rows are small).
  The rebuild copies every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["LEANER_WRITES_MIGRATION"]


def _without_rowid(table: str, columns: str, key: str, after: Sequence[str] = ()) -> list[Any]:
    """SQLite statements that rebuild `table` as a `WITHOUT ROWID` table with primary key
    `key`, keeping its rows, then run `after` (its indexes)."""
    names = ", ".join(c.split()[0] for c in columns.split(","))
    return [
        ("sqlite", f"CREATE TABLE {table}_rebuilt ({columns}, PRIMARY KEY ({key})) WITHOUT ROWID"),
        ("sqlite", f"INSERT INTO {table}_rebuilt ({names}) SELECT {names} FROM {table}"),
        ("sqlite", f"DROP TABLE {table}"),
        ("sqlite", f"ALTER TABLE {table}_rebuilt RENAME TO {table}"),
        *(("sqlite", statement) for statement in after),
    ]


LEANER_WRITES_MIGRATION: list[Any] = [
    "DROP INDEX IF EXISTS threads_owner",
    "CREATE INDEX IF NOT EXISTS threads_owner ON threads (owner, updated_at) "
    "WHERE owner IS NOT NULL",
    "DROP INDEX IF EXISTS interrupts_requester",
    (
        "sqlite",
        "CREATE INDEX IF NOT EXISTS interrupts_requester ON interrupts "
        "(status, json_extract(metadata, '$.requested_by'), created_at, interrupt_id) "
        "WHERE json_extract(metadata, '$.requested_by') IS NOT NULL",
    ),
    (
        "postgres",
        "CREATE INDEX IF NOT EXISTS interrupts_requester ON interrupts "
        "(status, (metadata->>'requested_by'), created_at, interrupt_id) "
        "WHERE (metadata->>'requested_by') IS NOT NULL",
    ),
    "DROP INDEX IF EXISTS pending_approvers_thread",
    *_without_rowid(
        "pending_approvers",
        "principal TEXT NOT NULL, created_at TEXT NOT NULL, interrupt_id TEXT NOT NULL, "
        "thread_id TEXT NOT NULL",
        "principal, created_at, interrupt_id",
        ["CREATE INDEX pending_approvers_interrupt ON pending_approvers (interrupt_id)"],
    ),
    *_without_rowid(
        "heads",
        "thread_id TEXT NOT NULL, checkpoint_ns TEXT NOT NULL, head_id TEXT NOT NULL",
        "thread_id, checkpoint_ns",
    ),
    *_without_rowid(
        "audit_chains",
        "chain TEXT NOT NULL, seq INTEGER NOT NULL, head TEXT NOT NULL",
        "chain",
    ),
]
