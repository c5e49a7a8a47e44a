"""The assistants room's tables (migration 21).

`assistants` holds each assistant's current version (and `max_version`, the highest version
number given, which the next update increments: the row's lock orders racing updates);
`assistant_versions` every version; `assistant_meta` one row per top-level pair of the
current metadata (`key`, `value` spelled as thread metadata is, `_threads.search.tag`), so
that a metadata filter is an index probe. Searches by graph walk `assistants_graph`; the
default order walks `assistants_created`. On PostgreSQL ids, names and graph ids compare
byte by byte (`COLLATE "C"`), as SQLite compares text, so both order a search alike.
"""

from __future__ import annotations

__all__ = ["ASSISTANTS_MIGRATION"]

_ASSISTANTS = """CREATE TABLE IF NOT EXISTS assistants (
        assistant_id TEXT{collate} PRIMARY KEY,
        graph_id TEXT{collate} NOT NULL,
        name TEXT{collate} NOT NULL,
        description TEXT,
        config {{json}} NOT NULL,
        context {{json}} NOT NULL,
        metadata {{json}} NOT NULL,
        version INTEGER NOT NULL,
        max_version INTEGER NOT NULL,
        created_at {{ts}} NOT NULL,
        updated_at {{ts}} NOT NULL
    )"""

_VERSIONS = """CREATE TABLE IF NOT EXISTS assistant_versions (
        assistant_id TEXT{collate} NOT NULL,
        version INTEGER NOT NULL,
        graph_id TEXT{collate} NOT NULL,
        name TEXT{collate} NOT NULL,
        description TEXT,
        config {{json}} NOT NULL,
        context {{json}} NOT NULL,
        metadata {{json}} NOT NULL,
        created_at {{ts}} NOT NULL,
        PRIMARY KEY (assistant_id, version)
    )"""

ASSISTANTS_MIGRATION: list[str | tuple[str, str]] = [
    ("sqlite", _ASSISTANTS.format(collate="")),
    ("postgres", _ASSISTANTS.format(collate=' COLLATE "C"')),
    ("sqlite", _VERSIONS.format(collate="")),
    ("postgres", _VERSIONS.format(collate=' COLLATE "C"')),
    "CREATE INDEX IF NOT EXISTS assistants_graph ON assistants (graph_id, created_at)",
    "CREATE INDEX IF NOT EXISTS assistants_created ON assistants (created_at)",
    "CREATE INDEX IF NOT EXISTS assistants_updated ON assistants (updated_at)",
    """CREATE TABLE IF NOT EXISTS assistant_meta (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        assistant_id TEXT NOT NULL,
        PRIMARY KEY (key, value, assistant_id)
    )""",
    "CREATE INDEX IF NOT EXISTS assistant_meta_assistant ON assistant_meta (assistant_id)",
]
"""Assistants, their versions and their metadata index."""
