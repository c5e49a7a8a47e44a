"""The items room's table (migration 20).

`prefix` is the namespace as index text (`codec.encode`), so that a namespace prefix is a
range of the primary key; on PostgreSQL it is compared byte by byte (`COLLATE "C"`), as
SQLite compares text, whatever the database's locale. `namespace` holds the same labels as
readable JSON.
"""

from __future__ import annotations

__all__ = ["ITEMS_MIGRATION"]

_TABLE = """CREATE TABLE IF NOT EXISTS store_items (
        prefix TEXT{collate} NOT NULL,
        key TEXT{collate} NOT NULL,
        namespace {{json}} NOT NULL,
        value {{json}} NOT NULL,
        created_at {{ts}} NOT NULL,
        updated_at {{ts}} NOT NULL,
        PRIMARY KEY (prefix, key)
    )"""

ITEMS_MIGRATION: list[str | tuple[str, str]] = [
    ("sqlite", _TABLE.format(collate="")),
    ("postgres", _TABLE.format(collate=' COLLATE "C"')),
]
"""Long-term memory items, one row per (namespace, key)."""
