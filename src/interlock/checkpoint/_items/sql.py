"""Long-term memory items in SQL, written once for SQLite and PostgreSQL: a mixin of
`SqlSaver`.

The namespace is stored as index text (`codec.encode`), so that every read is a range of the
primary key `(prefix, key)`: a search reads the namespaces under its prefix; listing
namespaces seeks from one distinct namespace to the next (`prefix > ?`, one index lookup
each), jumping over a whole subtree once it has a namespace cut to `max_depth`.

Vectors (`store_vectors`, migration 23) are keyed the same way, so a semantic search reads
the vectors under its prefix (a range of that table's primary key), ranks them in Python
and then reads the best items by primary key, a page at a time, until it has `limit` that
are alive and pass the filter. Expiry (`expires_at`) is compared with this process's clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from interlock.checkpoint import _time, serde
from interlock.checkpoint._items.codec import (
    decode,
    encode,
    matches,
    namespace_matches,
    prefix_range,
)
from interlock.checkpoint._items.protocol import ItemWrite, StoredItem, expiry
from interlock.checkpoint._items.vectors import pack, rank
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import json_text

__all__ = ["SqlItems"]

_COLS = "prefix, key, value, created_at, updated_at, expires_at, ttl_minutes"

_ALIVE = "(expires_at IS NULL OR expires_at > ?)"

_DROP_VECTORS = "DELETE FROM store_vectors WHERE prefix = ? AND key = ?"

_PAGE = 200
"""Rows read at a time while a filter is checked in Python."""


class SqlItems(SqlCore):
    """Items over the `store_items` table."""

    def put_items(self, writes: Sequence[ItemWrite]) -> None:
        """Apply puts and deletes in order (each key's), in one transaction."""
        texts = [
            None if w.value is None else serde.dumps(dict(w.value), f"item {w.key!r}")
            for w in writes
        ]
        packed = [[(field, *pack(v)) for field, v in w.vectors] for w in writes]
        if not writes:
            return
        # key by key (each key's writes in the order given): two batches of the same keys
        # lock their rows in one order, and never deadlock
        order = sorted(
            range(len(writes)), key=lambda n: (encode(writes[n].namespace), writes[n].key)
        )
        with self._write() as conn:
            now = _time.utc_now()
            at = self.dialect.ts(now)
            for write, text, vectors in ((writes[n], texts[n], packed[n]) for n in order):
                prefix = encode(write.namespace)
                where = (prefix, write.key)
                # the item's row first, then its vectors (as `sweep_items`): the row lock
                # orders concurrent writes of one key, and a put never waits for the
                # vectors of a row a sweep holds (no deadlock)
                if text is None:
                    self._x(conn, "DELETE FROM store_items WHERE prefix = ? AND key = ?", where)
                    self._x(conn, _DROP_VECTORS, where)
                    continue
                self._x(
                    conn,
                    "INSERT INTO store_items (prefix, key, namespace, value, created_at, "
                    "updated_at, expires_at, ttl_minutes) VALUES (?, ?, ?J, ?J, ?, ?, ?, ?) "
                    "ON CONFLICT (prefix, key) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at, created_at = CASE WHEN "
                    "store_items.expires_at <= excluded.updated_at THEN excluded.created_at "
                    "ELSE store_items.created_at END, expires_at = excluded.expires_at, "
                    "ttl_minutes = excluded.ttl_minutes",
                    (
                        *where,
                        serde.dumps(list(write.namespace)),
                        text,
                        at,
                        at,
                        self.dialect.ts(expiry(now, write.ttl)),
                        write.ttl,
                    ),
                )
                self._x(conn, _DROP_VECTORS, where)  # read after the row lock: all of them
                for field, blob, length in vectors:
                    self._x(
                        conn,
                        "INSERT INTO store_vectors (prefix, key, field, vector, norm) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (*where, field, blob, length),
                    )

    def _stored_item(self, r: Sequence[Any], score: float | None = None) -> StoredItem:
        return StoredItem(
            namespace=decode(r[0]),
            key=r[1],
            value=serde.loads(json_text(r[2])),
            created_at=self.dialect.ts_req(r[3]),
            updated_at=self.dialect.ts_req(r[4]),
            expires_at=self.dialect.ts_out(r[5]),
            ttl=r[6],
            score=score,
        )

    def get_item(
        self, namespace: tuple[str, ...], key: str, *, refresh: bool = False
    ) -> StoredItem | None:
        """One item, or None."""
        now = _time.utc_now()
        with self._read() as conn:
            row = self._x(
                conn,
                f"SELECT {_COLS} FROM store_items WHERE prefix = ? AND key = ? AND {_ALIVE}",
                (encode(namespace), key, self.dialect.ts(now)),
            ).fetchone()
        if row is None:
            return None
        found = self._stored_item(row)
        return self._refresh([found], now)[0] if refresh else found

    def _refresh(self, found: list[StoredItem], now: datetime) -> list[StoredItem]:
        """`found`, the items with a TTL expiring `ttl` minutes from `now` (written in one
        transaction; an item that expired or was written again meanwhile is left alone)."""
        if not any(i.ttl is not None for i in found):
            return found
        out = list(found)
        # in key order, as `put_items` and `sweep_items` lock them (no deadlock)
        order = sorted(range(len(found)), key=lambda n: (encode(found[n].namespace), found[n].key))
        with self._write() as conn:
            for n in order:
                item = found[n]
                if item.ttl is None:
                    continue
                later = expiry(now, item.ttl)
                self._x(
                    conn,
                    "UPDATE store_items SET expires_at = ? WHERE prefix = ? AND key = ? "
                    "AND updated_at = ? AND expires_at > ?",
                    (
                        self.dialect.ts(later),
                        encode(item.namespace),
                        item.key,
                        self.dialect.ts(item.updated_at),
                        self.dialect.ts(now),
                    ),
                )
                out[n] = replace(item, expires_at=later)
        return out

    def search_items(
        self,
        prefix: tuple[str, ...],
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        query: Sequence[float] | None = None,
        refresh: bool = False,
    ) -> list[StoredItem]:
        """Items under `prefix`, newest first (without a filter paged in SQL, with one read
        page by page and checked in Python) or most similar to `query` first."""
        if limit <= 0:
            return []
        now = _time.utc_now()
        alive = self.dialect.ts(now)
        span = prefix_range(prefix)
        if query is not None:
            found = self._similar(span, query, alive, filter, limit, offset)
        else:
            where = "prefix >= ? AND prefix < ? AND " if span else ""
            bounds: tuple[Any, ...] = (*(span or ()), alive)
            with self._read() as conn:
                if not filter:
                    sql = (
                        f"SELECT {_COLS} FROM store_items WHERE {where}{_ALIVE} "
                        "ORDER BY updated_at DESC, prefix, key LIMIT ? OFFSET ?"
                    )
                    rows = self._x(conn, sql, (*bounds, limit, offset)).fetchall()
                    found = [self._stored_item(r) for r in rows]
                else:
                    found = list(self._filtered(conn, where, bounds, filter, limit, offset))
        return self._refresh(found, now) if refresh else found

    def _similar(
        self,
        span: tuple[str, str] | None,
        query: Sequence[float],
        alive: Any,
        filter: Mapping[str, Any] | None,
        limit: int,
        offset: int,
    ) -> list[StoredItem]:
        """The items under `span` with vectors, best match first: the vectors ranked in
        Python, then the items read by primary key in that order (`limit + offset` first,
        then `_PAGE` at a time)."""
        where = " WHERE prefix >= ? AND prefix < ?" if span else ""
        out: list[StoredItem] = []
        skipped = 0
        with self._read() as conn:
            rows = self._x(
                conn, f"SELECT prefix, key, vector, norm FROM store_vectors{where}", span or ()
            )
            ranked = rank(query, (((r[0], r[1]), r[2], r[3]) for r in rows))
            start, size = 0, min(limit + offset, _PAGE)  # without a filter, one page
            while start < len(ranked):
                page = ranked[start : start + size]
                start, size = start + size, _PAGE
                marks = ", ".join("(?, ?)" for _ in page)
                got = self._x(
                    conn,
                    f"SELECT {_COLS} FROM store_items WHERE (prefix, key) IN "
                    f"(VALUES {marks}) AND {_ALIVE}",
                    [*(part for at, _ in page for part in at), alive],
                ).fetchall()
                by_at = {(r[0], r[1]): r for r in got}
                for at, score in page:
                    row = by_at.get(at)
                    if row is None:
                        continue
                    item = self._stored_item(row, score)
                    if filter and not matches(item.value, filter):
                        continue
                    if skipped < offset:
                        skipped += 1
                        continue
                    out.append(item)
                    if len(out) >= limit:
                        return out
        return out

    def _filtered(
        self,
        conn: Any,
        where: str,
        bounds: tuple[Any, ...],
        filter: Mapping[str, Any],
        limit: int,
        offset: int,
    ) -> Iterator[StoredItem]:
        """The items passing `filter`, newest first, read `_PAGE` rows at a time, each page
        after the last row of the one before (not by OFFSET: on PostgreSQL each page is its
        own snapshot, and a write between two pages must not shift the next one)."""
        first = (
            f"SELECT {_COLS} FROM store_items WHERE {where}{_ALIVE} "
            "ORDER BY updated_at DESC, prefix, key LIMIT ?"
        )
        after = (
            f"SELECT {_COLS} FROM store_items WHERE {where}{_ALIVE} AND (updated_at < ? OR "
            "(updated_at = ? AND (prefix > ? OR (prefix = ? AND key > ?)))) "
            "ORDER BY updated_at DESC, prefix, key LIMIT ?"
        )
        kept = skipped = 0
        last: Sequence[Any] | None = None
        while True:
            if last is None:
                rows = self._x(conn, first, (*bounds, _PAGE)).fetchall()
            else:
                cursor = (last[4], last[4], last[0], last[0], last[1])
                rows = self._x(conn, after, (*bounds, *cursor, _PAGE)).fetchall()
            for r in rows:
                item = self._stored_item(r)
                if not matches(item.value, filter):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                yield item
                kept += 1
                if kept >= limit:
                    return
            if len(rows) < _PAGE:
                return
            last = rows[-1]

    def list_item_namespaces(
        self,
        *,
        prefix: Sequence[str] = (),
        suffix: Sequence[str] = (),
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Distinct namespaces, one index seek each (see the module docstring)."""
        if limit <= 0:
            return []
        fixed: list[str] = []
        for label in prefix:  # the labels before the first wildcard make the range
            if label == "*":
                break
            fixed.append(label)
        span = prefix_range(fixed)
        low, high = span if span else ("", None)
        checked = len(fixed) < len(prefix) or bool(suffix)
        out: list[tuple[str, ...]] = []
        skipped = 0
        after, inclusive = low, True
        alive = self.dialect.ts(_time.utc_now())
        with self._read() as conn:
            while len(out) < limit:
                text = self._next_prefix(conn, after, inclusive, high, alive)
                if text is None:
                    break
                namespace = decode(text)
                after, inclusive = text, False
                if checked and not (
                    namespace_matches(namespace, prefix, suffix=False)
                    and namespace_matches(namespace, suffix, suffix=True)
                ):
                    continue
                last = False
                if max_depth is not None and len(namespace) >= max_depth:
                    namespace = namespace[: max(max_depth, 0)]  # its subtree cuts the same
                    after, inclusive = encode(namespace)[:-1] + "/", True
                    last = not namespace  # cut to (): every namespace is the same
                if skipped < offset:
                    skipped += 1
                elif not out or out[-1] != namespace:
                    out.append(namespace)
                if last:
                    break
        return out

    def _next_prefix(
        self, conn: Any, after: str, inclusive: bool, high: str | None, alive: Any
    ) -> Any:
        sql = "SELECT prefix FROM store_items WHERE prefix " + (">= ?" if inclusive else "> ?")
        params: list[Any] = [after]
        if high is not None:
            sql += " AND prefix < ?"
            params.append(high)
        sql += f" AND {_ALIVE} ORDER BY prefix LIMIT 1"
        row = self._x(conn, sql, [*params, alive]).fetchone()
        return None if row is None else row[0]

    def sweep_items(self) -> int:
        """Delete the expired items and their vectors, in one transaction."""
        expired = "expires_at <= ?"
        if self.dialect.name == "postgres":  # the rows locked in key order, as `put_items`
            expired = (
                "(prefix, key) IN (SELECT prefix, key FROM store_items "
                "WHERE expires_at <= ? ORDER BY prefix, key FOR UPDATE)"
            )
        with self._write() as conn:
            gone = self._x(
                conn,
                f"DELETE FROM store_items WHERE {expired} RETURNING prefix, key",
                (self.dialect.ts(_time.utc_now()),),
            ).fetchall()
            for prefix, key in gone:
                self._x(conn, _DROP_VECTORS, (prefix, key))
        return len(gone)
