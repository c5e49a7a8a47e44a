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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.checkpoint._async import to_thread

__all__ = ["ItemWrite", "Items", "StoredItem"]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemWrite:
    """A put (`value` a dict) or a delete (`value` None) of one item."""

    namespace: tuple[str, ...]
    key: str
    value: Mapping[str, Any] | None


class Items(ABC):
    """Items by (namespace, key): write in one transaction, read one, search a namespace
    prefix, list namespaces. Callers (`interlock.store`) validate namespaces and filters."""

    @abstractmethod
    def put_items(self, writes: Sequence[ItemWrite]) -> None:
        """Apply puts and deletes in order, in one transaction. A put of an existing key
        replaces its value and `updated_at` and keeps `created_at`; deleting a missing key
        does nothing. `SerializationError` (nothing written) for a value that cannot be
        stored."""

    @abstractmethod
    def get_item(self, namespace: tuple[str, ...], key: str) -> StoredItem | None:
        """One item, or None."""

    @abstractmethod
    def search_items(
        self,
        prefix: tuple[str, ...],
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredItem]:
        """Items whose namespace starts with `prefix` (all for `()`) and whose value passes
        `filter` (`codec.matches`), newest `updated_at` first (then by namespace and key),
        `offset` skipped, at most `limit`."""

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

    async def aget_item(self, namespace: tuple[str, ...], key: str) -> StoredItem | None:
        """Async twin of `get_item`."""
        return await to_thread(self.get_item, namespace, key)

    async def asearch_items(
        self,
        prefix: tuple[str, ...],
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[StoredItem]:
        """Async twin of `search_items`."""
        return await to_thread(self.search_items, prefix, filter=filter, limit=limit, offset=offset)

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
