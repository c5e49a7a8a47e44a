"""`SqliteStore`: long-term memory in a SQLite file (LangGraph's
`langgraph.store.sqlite.SqliteStore`).

The items live in the same file, schema and migrations as `SqliteSaver`'s threads: give
both the same path (or the store a saver) to keep one file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from interlock.checkpoint.sqlite import SqliteSaver
from interlock.store._items import SaverStore

__all__ = ["SqliteStore"]


class SqliteStore(SaverStore):
    """Items in a SQLite file: a path (its own connections; the schema is created or
    upgraded on opening) or a `SqliteSaver` (sharing its connections).

    `index`: semantic search settings; `ttl`: expiry settings (see docs/store.md); both
    are checked before the file is opened.

    Example:
        >>> with SqliteStore.from_conn_string(":memory:") as store:
        ...     store.setup()
        ...     store.put(("users", "ada"), "m1", {"text": "likes tea"})
        ...     store.get(("users", "ada"), "m1").value
        {'text': 'likes tea'}
    """

    def __init__(
        self, conn: str | Path | SqliteSaver, *, index: Any = None, ttl: Any = None
    ) -> None:
        if isinstance(conn, sqlite3.Connection):
            raise TypeError(
                "SqliteStore takes a path or a SqliteSaver, not a sqlite3 connection: use "
                "SqliteStore(path) or SqliteStore.from_conn_string(path)"
            )
        if isinstance(conn, SqliteSaver):
            super().__init__(conn, owned=False, index=index, ttl=ttl)
        else:
            super().__init__(lambda: SqliteSaver(conn), owned=True, index=index, ttl=ttl)

    @classmethod
    @contextmanager
    def from_conn_string(
        cls, conn_string: str, *, index: Any = None, ttl: Any = None
    ) -> Iterator[SqliteStore]:
        """Open a store for a path (LangGraph's spelling); closes it on exit."""
        store = cls(conn_string, index=index, ttl=ttl)
        try:
            yield store
        finally:
            store.close()
