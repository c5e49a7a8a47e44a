"""Long-term memory items in Python structures: a mixin of `InMemorySaver` (and of
`interlock.store.memory.InMemoryStore`'s backend)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from interlock.checkpoint import _time, serde
from interlock.checkpoint._items.codec import matches, namespace_matches
from interlock.checkpoint._items.protocol import ItemWrite, StoredItem, expiry
from interlock.checkpoint._items.vectors import Packed, pack, rank

__all__ = ["MemoryItems"]

_At = tuple[tuple[str, ...], str]


@dataclass(frozen=True, slots=True)
class _Row:
    text: str
    """The value, serialised (as the SQL stores keep it)."""
    created_at: datetime
    updated_at: datetime
    vectors: tuple[Packed, ...] = ()
    expires_at: datetime | None = None
    ttl: float | None = None

    def alive(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


class MemoryItems:
    """Items in a dict under the saver's lock, kept serialised: an unstorable value fails at
    write time, and callers cannot change stored values through objects they hold."""

    _lock: threading.RLock

    def _init_items(self) -> None:
        self._items: dict[_At, _Row] = {}

    def put_items(self, writes: Sequence[ItemWrite]) -> None:
        """Apply puts and deletes in order, at once."""
        texts = [
            None if w.value is None else serde.dumps(dict(w.value), f"item {w.key!r}")
            for w in writes
        ]
        packed = [tuple(pack(v) for _, v in w.vectors) for w in writes]
        with self._lock:
            now = _time.utc_now()
            for write, text, vectors in zip(writes, texts, packed, strict=True):
                at = (write.namespace, write.key)
                if text is None:
                    self._items.pop(at, None)
                    continue
                old = self._items.get(at)
                created = old.created_at if old is not None and old.alive(now) else now
                self._items[at] = _Row(
                    text, created, now, vectors, expiry(now, write.ttl), write.ttl
                )

    def _memory_item(self, at: _At, row: _Row, score: float | None = None) -> StoredItem:
        return StoredItem(
            namespace=at[0],
            key=at[1],
            value=serde.loads(row.text),
            created_at=row.created_at,
            updated_at=row.updated_at,
            expires_at=row.expires_at,
            ttl=row.ttl,
            score=score,
        )

    def _refreshed(self, at: _At, row: _Row, now: datetime) -> _Row:
        """`row` with its expiry moved to `ttl` from `now` (under the lock)."""
        if row.ttl is None:
            return row
        fresh = replace(row, expires_at=expiry(now, row.ttl))
        self._items[at] = fresh
        return fresh

    def get_item(
        self, namespace: tuple[str, ...], key: str, *, refresh: bool = False
    ) -> StoredItem | None:
        """One item, or None."""
        at = (namespace, key)
        with self._lock:
            now = _time.utc_now()
            row = self._items.get(at)
            if row is None or not row.alive(now):
                return None
            if refresh:
                row = self._refreshed(at, row, now)
        return self._memory_item(at, row)

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
        """Items under `prefix`, newest first or most similar first, filtered and paged."""
        if limit <= 0:
            return []
        with self._lock:
            now = _time.utc_now()
            rows = {
                at: row
                for at, row in self._items.items()
                if at[0][: len(prefix)] == prefix and row.alive(now)
            }
            if query is None:
                ordered = sorted(rows, key=lambda at: at)
                ordered.sort(key=lambda at: rows[at].updated_at, reverse=True)  # stable
                scored: list[tuple[_At, float | None]] = [(at, None) for at in ordered]
            else:
                vectors = ((at, b, n) for at, row in rows.items() for b, n in row.vectors)
                scored = list(rank(query, vectors))
            out: list[StoredItem] = []
            for at, score in self._page(rows, scored, filter, limit, offset):
                row = self._refreshed(at, rows[at], now) if refresh else rows[at]
                out.append(self._memory_item(at, row, score))
        return out

    def _page(
        self,
        rows: Mapping[_At, _Row],
        scored: Sequence[tuple[_At, float | None]],
        filter: Mapping[str, Any] | None,
        limit: int,
        offset: int,
    ) -> Iterator[tuple[_At, float | None]]:
        kept = skipped = 0
        for at, score in scored:
            if filter and not matches(serde.loads(rows[at].text), filter):
                continue
            if skipped < offset:
                skipped += 1
                continue
            yield at, score
            kept += 1
            if kept >= limit:
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
        """Distinct namespaces, matched, cut and paged."""
        with self._lock:
            now = _time.utc_now()
            found = {at[0] for at, row in self._items.items() if row.alive(now)}
        kept = {
            ns if max_depth is None else ns[:max_depth]
            for ns in found
            if namespace_matches(ns, prefix, suffix=False)
            and namespace_matches(ns, suffix, suffix=True)
        }
        return sorted(kept)[offset : offset + limit]

    def sweep_items(self) -> int:
        """Delete the expired items."""
        with self._lock:
            now = _time.utc_now()
            expired = [at for at, row in self._items.items() if not row.alive(now)]
            for at in expired:
                del self._items[at]
        return len(expired)
