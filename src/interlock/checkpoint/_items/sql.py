"""Long-term memory items in SQL, written once for SQLite and PostgreSQL: a mixin of
`SqlSaver`.

The namespace is stored as index text (`codec.encode`), so that every read is a range of the
primary key `(prefix, key)`: a search reads the namespaces under its prefix; listing
namespaces seeks from one distinct namespace to the next (`prefix > ?`, one index lookup
each), jumping over a whole subtree once it has a namespace cut to `max_depth`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._items.codec import (
    decode,
    encode,
    matches,
    namespace_matches,
    prefix_range,
)
from interlock.checkpoint._items.protocol import ItemWrite, StoredItem
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import json_text, utc_now

__all__ = ["SqlItems"]

_COLS = "prefix, key, value, created_at, updated_at"

_PAGE = 200
"""Rows read at a time while a filter is checked in Python."""


class SqlItems(SqlCore):
    """Items over the `store_items` table."""

    def put_items(self, writes: Sequence[ItemWrite]) -> None:
        """Apply puts and deletes in order, in one transaction."""
        texts = [
            None if w.value is None else serde.dumps(dict(w.value), f"item {w.key!r}")
            for w in writes
        ]
        if not writes:
            return
        with self._write() as conn:
            now = self.dialect.ts(utc_now())
            for write, text in zip(writes, texts, strict=True):
                prefix = encode(write.namespace)
                if text is None:
                    self._x(
                        conn,
                        "DELETE FROM store_items WHERE prefix = ? AND key = ?",
                        (prefix, write.key),
                    )
                    continue
                self._x(
                    conn,
                    "INSERT INTO store_items (prefix, key, namespace, value, created_at, "
                    "updated_at) VALUES (?, ?, ?J, ?J, ?, ?) ON CONFLICT (prefix, key) DO "
                    "UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (prefix, write.key, serde.dumps(list(write.namespace)), text, now, now),
                )

    def _stored_item(self, r: Sequence[Any]) -> StoredItem:
        return StoredItem(
            namespace=decode(r[0]),
            key=r[1],
            value=serde.loads(json_text(r[2])),
            created_at=self.dialect.ts_req(r[3]),
            updated_at=self.dialect.ts_req(r[4]),
        )

    def get_item(self, namespace: tuple[str, ...], key: str) -> StoredItem | None:
        """One item, or None."""
        with self._read() as conn:
            row = self._x(
                conn,
                f"SELECT {_COLS} FROM store_items WHERE prefix = ? AND key = ?",
                (encode(namespace), key),
            ).fetchone()
        return None if row is None else self._stored_item(row)

    def search_items(
        self,
        prefix: tuple[str, ...],
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredItem]:
        """Items under `prefix`, newest first; without a filter paged in SQL, with one read
        page by page (in one read) and checked in Python."""
        if limit <= 0:
            return []
        span = prefix_range(prefix)
        where = " WHERE prefix >= ? AND prefix < ?" if span else ""
        sql = (
            f"SELECT {_COLS} FROM store_items{where} "
            "ORDER BY updated_at DESC, prefix, key LIMIT ? OFFSET ?"
        )
        bounds: tuple[Any, ...] = span or ()
        with self._read() as conn:
            if not filter:
                rows = self._x(conn, sql, (*bounds, limit, offset)).fetchall()
                return [self._stored_item(r) for r in rows]
            return list(self._filtered(conn, sql, bounds, filter, limit, offset))

    def _filtered(
        self,
        conn: Any,
        sql: str,
        bounds: tuple[Any, ...],
        filter: Mapping[str, Any],
        limit: int,
        offset: int,
    ) -> Iterator[StoredItem]:
        kept = skipped = 0
        read = 0
        while True:
            rows = self._x(conn, sql, (*bounds, _PAGE, read)).fetchall()
            read += len(rows)
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
        with self._read() as conn:
            while len(out) < limit:
                text = self._next_prefix(conn, after, inclusive, high)
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

    def _next_prefix(self, conn: Any, after: str, inclusive: bool, high: str | None) -> Any:
        sql = "SELECT prefix FROM store_items WHERE prefix " + (">= ?" if inclusive else "> ?")
        params: list[Any] = [after]
        if high is not None:
            sql += " AND prefix < ?"
            params.append(high)
        row = self._x(conn, sql + " ORDER BY prefix LIMIT 1", params).fetchone()
        return None if row is None else row[0]
