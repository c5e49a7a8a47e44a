"""The items room's tables: `store_items` (migration 20) and, for semantic search and
expiry, `store_vectors` and `store_items.expires_at` / `ttl_minutes` (migration 23).

`prefix` is the namespace as index text (`codec.encode`), so that a namespace prefix is a
range of the primary key; on PostgreSQL it is compared byte by byte (`COLLATE "C"`), as
SQLite compares text, whatever the database's locale. `namespace` holds the same labels as
readable JSON.
"""

from __future__ import annotations

__all__ = ["ITEMS_MIGRATION", "VECTORS_MIGRATION"]

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

_VECTORS = """CREATE TABLE IF NOT EXISTS store_vectors (
        prefix TEXT{collate} NOT NULL,
        key TEXT{collate} NOT NULL,
        field TEXT NOT NULL,
        vector {blob} NOT NULL,
        norm {{real}} NOT NULL,
        PRIMARY KEY (prefix, key, field)
    )"""

VECTORS_MIGRATION: list[str | tuple[str, str]] = [
    "ALTER TABLE store_items ADD COLUMN expires_at {ts}",
    "ALTER TABLE store_items ADD COLUMN ttl_minutes {real}",
    "CREATE INDEX IF NOT EXISTS store_items_expiry ON store_items (expires_at) "
    "WHERE expires_at IS NOT NULL",
    ("sqlite", _VECTORS.format(collate="", blob="BLOB")),
    ("postgres", _VECTORS.format(collate=' COLLATE "C"', blob="BYTEA")),
]
"""An item's embedding vectors, one row per embedded field (float32 bytes and their norm),
keyed as its item; when an item expires, and for how long it lives once written or read."""
