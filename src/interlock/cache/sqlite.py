"""`SqliteCache`: node results in a SQLite file of their own (LangGraph's
`langgraph.cache.sqlite.SqliteCache`), shared by the processes that open the same file.

The file holds one table, `cache (ns, key, expiry, encoding, val)`; its schema version is
the file's `PRAGMA user_version` (1), so a later interlock can migrate it and this one
refuses a file a newer one wrote (`SchemaTooNew`). It is not the checkpoint store's file:
a cache can be deleted at any time without losing anything but time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from interlock.cache.base import BaseCache, FullKey, Namespace, Serializer, ValueT
from interlock.errors import SchemaTooNew

__all__ = ["SqliteCache"]

SCHEMA_VERSION = 1
"""The cache file's schema (`PRAGMA user_version`)."""

_SCHEMA = """CREATE TABLE IF NOT EXISTS cache (
    ns TEXT,
    key TEXT,
    expiry REAL,
    encoding TEXT NOT NULL,
    val BLOB NOT NULL,
    PRIMARY KEY (ns, key)
)"""


def _ns(namespace: Namespace) -> str:
    return ",".join(namespace)


class SqliteCache(BaseCache[ValueT]):
    """A cache in the SQLite file at `path` (created if missing; WAL mode).

    Example:
        >>> import tempfile, os
        >>> cache = SqliteCache(path=os.path.join(tempfile.mkdtemp(), "cache.db"))
        >>> cache.set({(("ns",), "k"): ({"n": 1}, None)})
        >>> cache.get([(("ns",), "k")])
        {(('ns',), 'k'): {'n': 1}}
        >>> cache.close()
    """

    def __init__(
        self,
        *,
        path: str | Path,
        serde: Serializer | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(serde=serde, clock=clock)
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False, timeout=30.0, isolation_level=None
        )
        try:
            self._setup(self._conn)
        except BaseException:
            self._conn.close()
            self._conn = None
            raise

    def _setup(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"the cache file {self.path} has schema version {version}, newer than this "
                    f"interlock's ({SCHEMA_VERSION}): upgrade interlock, or give this one a "
                    "cache file of its own"
                )
            conn.execute(_SCHEMA)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (`ValueError` once `close()`d)."""
        if self._conn is None:
            raise ValueError(f"the cache {self.path} is closed")
        return self._conn

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """The cached values of `keys`. Expired entries are deleted as they are met; an
        entry this cache's serializer cannot read (another encoding) counts as missing."""
        if not keys:
            return {}
        wanted = {(_ns(tuple(ns)), key): (tuple(ns), key) for ns, key in keys}
        out: dict[FullKey, ValueT] = {}
        with self._lock:
            rows: list[Any] = []
            items = list(wanted)
            for i in range(0, len(items), 400):  # under SQLite's bound-parameter limit
                part = items[i : i + 400]
                where = " OR ".join("(ns = ? AND key = ?)" for _ in part)
                params = [v for pair in part for v in pair]
                rows += self.conn.execute(
                    f"SELECT ns, key, expiry, encoding, val FROM cache WHERE {where}", params
                ).fetchall()
            stale = []
            for ns, key, expiry, encoding, raw in rows:
                if self.expired(expiry):
                    stale.append((ns, key))
                    continue
                try:
                    out[wanted[(ns, key)]] = self.serde.loads_typed((encoding, bytes(raw)))
                except ValueError:  # written by another program's serializer: a miss
                    continue
            if stale:
                self.conn.executemany("DELETE FROM cache WHERE ns = ? AND key = ?", stale)
        return out

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Async twin of `get` (run off the event loop)."""
        return await asyncio.to_thread(self.get, keys)

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, float | None]]) -> None:
        """Store each value, serialised, with its time to live (in one transaction)."""
        rows = []
        for (ns, key), (value, ttl) in pairs.items():
            encoding, raw = self.serde.dumps_typed(value)
            rows.append((_ns(tuple(ns)), key, self.expiry(ttl), encoding, raw))
        if not rows:
            return
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO cache (ns, key, expiry, encoding, val) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, float | None]]) -> None:
        """Async twin of `set`."""
        await asyncio.to_thread(self.set, pairs)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Delete the entries of `namespaces` (every entry with None)."""
        with self._lock:
            if namespaces is None:
                self.conn.execute("DELETE FROM cache")
            elif namespaces:
                self.conn.executemany(
                    "DELETE FROM cache WHERE ns = ?", [(_ns(tuple(ns)),) for ns in namespaces]
                )

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Async twin of `clear`."""
        await asyncio.to_thread(self.clear, namespaces)

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteCache[ValueT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing to close with
            self.close()
