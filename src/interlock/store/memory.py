"""`InMemoryStore`: long-term memory in this process (LangGraph's
`langgraph.store.memory.InMemoryStore`), for tests and notebooks."""

from __future__ import annotations

import threading
from typing import Any

from interlock.checkpoint._items.memory import MemoryItems
from interlock.checkpoint._items.protocol import Items
from interlock.store._items import ItemsStore

__all__ = ["InMemoryStore"]


class _Items(MemoryItems, Items):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._init_items()


class InMemoryStore(ItemsStore):
    """Items kept in this process's memory (serialised, as the database stores keep them).

    `index`: semantic search settings; `ttl`: expiry settings (LangGraph's `InMemoryStore`
    has no `ttl=`; interlock's stores all have it). See docs/store.md.

    Example:
        >>> store = InMemoryStore()
        >>> store.put(("users", "ada"), "m1", {"text": "likes tea"})
        >>> [item.value["text"] for item in store.search(("users",))]
        ['likes tea']
    """

    def __init__(self, *, index: Any = None, ttl: Any = None) -> None:
        super().__init__(_Items(), index=index, ttl=ttl)
