"""Long-term memory items in Python structures: a mixin of `InMemorySaver` (and of
`interlock.store.memory.InMemoryStore`'s backend)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._items.codec import matches, namespace_matches
from interlock.checkpoint._items.protocol import ItemWrite, StoredItem
from interlock.checkpoint._time import utc_now

__all__ = ["MemoryItems"]


@dataclass(frozen=True, slots=True)
class _Row:
    text: str
    """The value, serialised (as the SQL stores keep it)."""
    created_at: datetime
    updated_at: datetime


class MemoryItems:
    """Items in a dict under the saver's lock, kept serialised: an unstorable value fails at
    write time, and callers cannot change stored values through objects they hold."""

    _lock: threading.RLock

    def _init_items(self) -> None:
        self._items: dict[tuple[tuple[str, ...], str], _Row] = {}

    def put_items(self, writes: Sequence[ItemWrite]) -> None:
        """Apply puts and deletes in order, at once."""
        texts = [
            None if w.value is None else serde.dumps(dict(w.value), f"item {w.key!r}")
            for w in writes
        ]
        with self._lock:
            now = utc_now()
            for write, text in zip(writes, texts, strict=True):
                at = (write.namespace, write.key)
                if text is None:
                    self._items.pop(at, None)
                    continue
                old = self._items.get(at)
                self._items[at] = _Row(text, old.created_at if old else now, now)

    def _memory_item(self, at: tuple[tuple[str, ...], str], row: _Row) -> StoredItem:
        return StoredItem(
            namespace=at[0],
            key=at[1],
            value=serde.loads(row.text),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def get_item(self, namespace: tuple[str, ...], key: str) -> StoredItem | None:
        """One item, or None."""
        with self._lock:
            row = self._items.get((namespace, key))
        return None if row is None else self._memory_item((namespace, key), row)

    def search_items(
        self,
        prefix: tuple[str, ...],
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredItem]:
        """Items under `prefix`, newest first, filtered and paged."""
        with self._lock:
            rows = [(at, row) for at, row in self._items.items() if at[0][: len(prefix)] == prefix]
        rows.sort(key=lambda r: r[0])
        rows.sort(key=lambda r: r[1].updated_at, reverse=True)  # stable: ties by (ns, key)
        out: list[StoredItem] = []
        skipped = 0
        for at, row in rows:
            if len(out) >= limit:
                break
            item = self._memory_item(at, row)
            if not matches(item.value, filter):
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(item)
        return out

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
            found = {at[0] for at in self._items}
        kept = {
            ns if max_depth is None else ns[:max_depth]
            for ns in found
            if namespace_matches(ns, prefix, suffix=False)
            and namespace_matches(ns, suffix, suffix=True)
        }
        return sorted(kept)[offset : offset + limit]
