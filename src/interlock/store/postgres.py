"""`PostgresStore`: long-term memory in PostgreSQL (LangGraph's
`langgraph.store.postgres.PostgresStore`).

The items live in the same database, schema and migrations as `PostgresSaver`'s threads:
give both the same DSN (or the store a saver) to keep one database. Install with
`pip install 'interlock[postgres]'`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from interlock.checkpoint.postgres import PostgresSaver
from interlock.store._items import SaverStore

__all__ = ["PostgresStore"]


class PostgresStore(SaverStore):
    """Items in PostgreSQL: a DSN (its own connection pool, made with `saver_options`
    such as `schema=`; the schema is created or upgraded on opening) or a `PostgresSaver`
    (sharing its pool).

    `index`: semantic search settings (exact cosine ranking in Python: no pgvector needed);
    `ttl`: expiry settings (see docs/store.md); both are checked before connecting.

    Example:
        >>> with PostgresStore.from_conn_string(DSN) as store:  # doctest: +SKIP
        ...     store.setup()
        ...     store.put(("users", "ada"), "m1", {"text": "likes tea"})
    """

    def __init__(
        self,
        conn: str | PostgresSaver,
        *,
        index: Any = None,
        ttl: Any = None,
        **saver_options: Any,
    ) -> None:
        if not isinstance(conn, str | PostgresSaver):
            raise TypeError(
                "PostgresStore takes a DSN or a PostgresSaver, not a psycopg connection: "
                "use PostgresStore(dsn) or PostgresStore.from_conn_string(dsn)"
            )
        if isinstance(conn, str):
            dsn = conn
            super().__init__(
                lambda: PostgresSaver(dsn, **saver_options), owned=True, index=index, ttl=ttl
            )
        else:
            super().__init__(conn, owned=False, index=index, ttl=ttl)

    @classmethod
    @contextmanager
    def from_conn_string(
        cls, conn_string: str, *, index: Any = None, ttl: Any = None, **saver_options: Any
    ) -> Iterator[PostgresStore]:
        """Open a store for a DSN (LangGraph's spelling); closes it on exit."""
        store = cls(conn_string, index=index, ttl=ttl, **saver_options)
        try:
            yield store
        finally:
            store.close()
