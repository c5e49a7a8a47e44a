"""The SQL both stores share: column lists, statements reused across modules, the `Dialect`
(what differs between SQLite and PostgreSQL), and small pure helpers."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interlock.errors import ResumeConflict

__all__ = [
    "ACQUIRE_SQL",
    "CHECKPOINT_INSERT_COLS",
    "CHECKPOINT_READ_COLS",
    "HEAD_OF",
    "INTERRUPT_COLS",
    "RECORD_COLS",
    "Dialect",
    "audit_cursor",
    "decode_cursor",
    "encode_cursor",
    "json_text",
    "missing_checkpoint",
    "prunable",
    "utc_now",
]

RECORD_COLS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_id, step, created_at, source, writes, "
    "next, sends, barriers, metadata"
)
CHECKPOINT_READ_COLS = (
    ", ".join("c." + col.strip() for col in RECORD_COLS.split(","))
    + ", c.base_id, c.bytes_since, c.steps_since, c.snapshot_bytes"
)
"""What a checkpoint read selects (table alias `c`): the record, then its row stats."""
HEAD_OF = "(SELECT h.head_id FROM heads h WHERE h.thread_id = ? AND h.checkpoint_ns = ?)"
"""The head checkpoint id of (thread_id, checkpoint_ns); compared with `c.checkpoint_id`,
the read is one primary-key lookup however long the thread is."""
ACQUIRE_SQL = (
    "INSERT INTO threads (thread_id, created_at, updated_at, lease_owner, "
    "lease_until, lease_ttl) VALUES (?, ?, ?, ?, {now} + ?, ?) "
    "ON CONFLICT (thread_id) DO UPDATE SET lease_owner = excluded.lease_owner, "
    "lease_until = excluded.lease_until, lease_ttl = excluded.lease_ttl "
    "WHERE threads.lease_owner IS NULL OR threads.lease_owner = excluded.lease_owner "
    "OR threads.lease_until <= {now}"
)
"""Take a thread's lease if free, expired or already ours; parameters: thread_id, now,
now, owner, ttl, ttl."""
CHECKPOINT_INSERT_COLS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_id, step, source, created_at, writes, "
    "snapshot, next, sends, barriers, metadata, base_id, bytes_since, steps_since, snapshot_bytes"
)
INTERRUPT_COLS = (
    "interrupt_id, thread_id, checkpoint_ns, checkpoint_id, task_id, task_name, idx, kind, "
    "status, value, resume, created_at, deadline, decided_by, decided_at, metadata"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    """What differs between SQL databases."""

    name: str
    json_type: str
    ts_type: str
    real_type: str
    placeholder: str
    """`?` or `%s`."""
    json_placeholder: str
    """How a JSON text parameter is written (`?` or `%s::jsonb`)."""
    now_epoch: str
    """SQL expression: the database clock in seconds since the epoch."""

    def sql(self, text: str) -> str:
        """Render a statement written with `?` and `?J` (JSON) placeholders."""
        return (
            text.replace("?J", "\x00")
            .replace("?", self.placeholder)
            .replace("\x00", self.json_placeholder)
            .replace("{now}", self.now_epoch)
        )

    def ddl(self, text: str) -> str:
        """Render a migration statement."""
        return text.format(json=self.json_type, ts=self.ts_type, real=self.real_type)

    def ts(self, value: datetime | None) -> Any:
        """A timestamp parameter: in UTC (naive = UTC); as fixed-width ISO text for a TEXT
        column, so that text order is time order."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.isoformat(timespec="microseconds") if self.ts_type == "TEXT" else value

    def ts_req(self, raw: Any) -> datetime:
        """A timestamp read back from a NOT NULL column."""
        value = self.ts_out(raw)
        assert value is not None
        return value

    def ts_out(self, raw: Any) -> datetime | None:
        """A timestamp read back."""
        if raw is None:
            return None
        if isinstance(raw, datetime):
            return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        return datetime.fromisoformat(raw)


def utc_now() -> datetime:
    return datetime.now(UTC)


def prunable(rows: Sequence[Sequence[Any]], keep_last: int) -> list[tuple[str, str, str]]:
    by_chain: dict[tuple[str, str], dict[str, tuple[str | None, str]]] = {}
    for thread_id, ns, cid, parent, base in rows:
        by_chain.setdefault((thread_id, ns), {})[cid] = (parent, base)
    doomed = []
    for (thread_id, ns), items in by_chain.items():
        ids = sorted(items)
        keep = set(ids[-keep_last:]) if keep_last > 0 else set()
        for cid in list(keep):
            current: str | None = cid
            base = items[cid][1]
            while current is not None and current in items:
                keep.add(current)
                if current == base:
                    break
                current = items[current][0]
        doomed += [(thread_id, ns, cid) for cid in ids if cid not in keep]
    return doomed


def missing_checkpoint(thread_id: str, checkpoint_id: str) -> ResumeConflict:
    """The error for writes against a checkpoint that is not stored."""
    return ResumeConflict(
        f"checkpoint {checkpoint_id} of thread {thread_id!r} does not exist (deleted, or lost "
        "with a database restart); nothing was saved"
    )


def audit_cursor(cursor: str) -> str:
    if len(cursor) != 32 or any(c not in "0123456789abcdef" for c in cursor):
        raise ValueError(f"invalid cursor {cursor!r}")
    return cursor


def encode_cursor(at: datetime, interrupt_id: str) -> str:
    raw = json.dumps([at.isoformat(), interrupt_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, iid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), iid
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc


def json_text(value: Any) -> str:
    """A JSON column as JSON text (SQLite gives text; PostgreSQL's JSONB reads as text here)."""
    return "null" if value is None else value if isinstance(value, str) else json.dumps(value)
