"""Long-term memory, porting `langgraph.store`: items (JSON objects) by namespace and key,
shared across threads.

```python
from interlock.store import BaseStore, Item, SearchItem
from interlock.store.memory import InMemoryStore
from interlock.store.sqlite import SqliteStore
from interlock.store.postgres import PostgresStore
```

Give a store to `compile(store=...)` or `entrypoint(store=...)`; nodes read it as
`runtime.store`, a `store` parameter, or `get_store()`. `store_of(saver)` is the store kept
in a saver's own database (the same file or PostgreSQL schema as its threads). A store made
with `index=` ranks `search(query=...)` by similarity; with `ttl=`, items expire. See
`docs/store.md`.
"""

from __future__ import annotations

from typing import Any

from interlock.errors import EmbeddingError, InvalidNamespaceError, StoreFeatureUnsupported
from interlock.store._base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    NamespaceMatchType,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

__all__ = [
    "NOT_PROVIDED",
    "BaseStore",
    "EmbeddingError",
    "GetOp",
    "IndexConfig",
    "InvalidNamespaceError",
    "Item",
    "ListNamespacesOp",
    "MatchCondition",
    "NamespaceMatchType",
    "NotProvided",
    "Op",
    "PutOp",
    "Result",
    "SearchItem",
    "SearchOp",
    "StoreFeatureUnsupported",
    "TTLConfig",
    "store_of",
]


def store_of(saver: Any, *, index: Any = None, ttl: Any = None) -> BaseStore:
    """The long-term memory store kept in `saver`'s database (any interlock saver),
    sharing its connections; `index` / `ttl`: semantic search and expiry settings, as
    the stores take them.

    Example:
        >>> from interlock import InMemorySaver
        >>> saver = InMemorySaver()
        >>> store_of(saver).put(("notes",), "n1", {"text": "hi"})
        >>> store_of(saver).get(("notes",), "n1").value
        {'text': 'hi'}
    """
    from interlock.store._items import ItemsStore

    return ItemsStore(saver, index=index, ttl=ttl)
