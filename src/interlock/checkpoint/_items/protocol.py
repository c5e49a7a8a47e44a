"""Long-term memory items in the store protocol: the record and the abstract methods.

An item is a JSON object (`value`, a dict; interlock's typed tags let it hold messages,
datetimes, dataclasses as checkpoints do) kept under a namespace (a tuple of labels) and a
key, with the times it was first and last written. Items belong to no thread: a graph's
nodes read and write them across threads (LangGraph's `BaseStore`, which `interlock.store`
shapes over this protocol).

Reads are index ranges: `search_items` reads the namespaces under a prefix, newest write
first; `list_item_namespaces` walks the distinct namespaces in tuple order, one index seek
per namespace it returns (or skips). A `filter` on value fields is checked in Python over
the prefix's items, in that order.

An item may carry embedding vectors (one per embedded field, written with it and replaced by
every write of it): `search_items(..., query=vector)` ranks the prefix's items that have
vectors by cosine similarity (`vectors.rank`), best first. An item may expire (`ttl`
minutes after it was written or, when a read asks, last read): an expired item is never
read, listed or searched, and `sweep_items` deletes it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from interlock.checkpoint._async import to_thread

__all__ = ["ItemWrite", "Items", "StoredItem", "expiry"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredItem:
    """One item as stored."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    """When the key was first written (kept when it is written again)."""
    updated_at: datetime
    """When it was last written."""
    expires_at: datetime | None = None
    """When it expires (None: never)."""
    ttl: float | None = None
    """Its time to live in minutes (None: it never expires)."""
    score: float | None = None
    """Its cosine similarity to the query of the search that found it (None without one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemWrite:
    """A put (`value` a dict) or a delete (`value` None) of one item."""

    namespace: tuple[str, ...]
    key: str
    value: Mapping[str, Any] | None
    vectors: Sequence[tuple[str, Sequence[float]]] = ()
    """Its embeddings, `(field, vector)`: they replace the ones it had (none: it has none)."""
    ttl: float | None = None
    """Minutes until it expires (None: never). Positive; callers check it."""


def expiry(now: datetime, ttl: float | None) -> datetime | None:
    """When an item written or refreshed at `now` with `ttl` minutes expires."""
    return None if ttl is None else now + timedelta(minutes=ttl)


class Items(ABC):
    """Items by (namespace, key): write in one transaction, read one, search a namespace
    prefix, list namespaces. Callers (`interlock.store`) validate namespaces and filters."""

    @abstractmethod
    def put_items(self, writes: Sequence[ItemWrite]) -> None:
        """Apply puts and deletes in order, in one transaction. A put of an existing key
        replaces its value, vectors, expiry and `updated_at` and keeps `created_at` (unless
        it had expired: then it is new); deleting a missing key does nothing.
        `SerializationError` (nothing written) for a value that cannot be stored."""

    @abstractmethod
    def get_item(
        self, namespace: tuple[str, ...], key: str, *, refresh: bool = False
    ) -> StoredItem | None:
        """One item, or None (also when it has expired). `refresh`: an item with a TTL
        expires `ttl` minutes from now (the item returned says so)."""

    @abstractmethod
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
        """Items whose namespace starts with `prefix` (all for `()`), not expired, whose
        value passes `filter` (`codec.matches`), `offset` skipped, at most `limit`: newest
        `updated_at` first (then by namespace and key), or with a `query` vector the items
        having vectors, most similar first (`score`; ties by namespace and key).
        `refresh`: the items returned with a TTL expire `ttl` minutes from now."""

    @abstractmethod
    def sweep_items(self) -> int:
        """Delete the expired items (and their vectors); how many."""

    @abstractmethod
    def list_item_namespaces(
        self,
        *,
        prefix: Sequence[str] = (),
        suffix: Sequence[str] = (),
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """The distinct namespaces holding items that start with `prefix` and end with
        `suffix` (a `*` label matches any label), cut to their first `max_depth` labels
        (then distinct again), in tuple order, `offset` skipped, at most `limit`."""

    async def aput_items(self, writes: Sequence[ItemWrite]) -> None:
        """Async twin of `put_items`."""
        await to_thread(self.put_items, writes)

    async def aget_item(
        self, namespace: tuple[str, ...], key: str, *, refresh: bool = False
    ) -> StoredItem | None:
        """Async twin of `get_item`."""
        return await to_thread(self.get_item, namespace, key, refresh=refresh)

    async def asearch_items(
        self,
        prefix: tuple[str, ...],
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        query: Sequence[float] | None = None,
        refresh: bool = False,
    ) -> list[StoredItem]:
        """Async twin of `search_items`."""
        return await to_thread(
            self.search_items,
            prefix,
            filter=filter,
            limit=limit,
            offset=offset,
            query=query,
            refresh=refresh,
        )

    async def asweep_items(self) -> int:
        """Async twin of `sweep_items`."""
        return await to_thread(self.sweep_items)

    async def alist_item_namespaces(
        self,
        *,
        prefix: Sequence[str] = (),
        suffix: Sequence[str] = (),
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Async twin of `list_item_namespaces`."""
        return await to_thread(
            self.list_item_namespaces,
            prefix=prefix,
            suffix=suffix,
            max_depth=max_depth,
            limit=limit,
            offset=offset,
        )
