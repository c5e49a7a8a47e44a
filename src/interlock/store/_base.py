"""LangGraph's long-term memory vocabulary: `Item`, `SearchItem`, the operations and
`BaseStore` (its abstract `batch` / `abatch` and the methods written over them)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple, TypedDict

from interlock.errors import StoreFeatureUnsupported

__all__ = [
    "NOT_PROVIDED",
    "BaseStore",
    "GetOp",
    "IndexConfig",
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
    "TTLConfig",
]

NamespaceMatchType = Literal["prefix", "suffix"]


class NotProvided:
    """The default of `put(ttl=...)`: no TTL given (LangGraph's sentinel)."""

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_PROVIDED"


NOT_PROVIDED = NotProvided()


def _time(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Item:
    """A stored item: `value` (a dict) under `namespace` and `key`, with the times it was
    first (`created_at`) and last (`updated_at`) written.

    Example:
        >>> from datetime import UTC, datetime
        >>> now = datetime(2026, 1, 1, tzinfo=UTC)
        >>> item = Item(value={"a": 1}, key="k", namespace=("u",), created_at=now, updated_at=now)
        >>> item.dict()["namespace"]
        ['u']
    """

    __slots__ = ("created_at", "key", "namespace", "updated_at", "value")

    def __init__(
        self,
        *,
        value: dict[str, Any],
        key: str,
        namespace: tuple[str, ...],
        created_at: datetime | str,
        updated_at: datetime | str,
    ) -> None:
        self.value = value
        self.key = key
        self.namespace = tuple(namespace)
        self.created_at = _time(created_at)
        self.updated_at = _time(updated_at)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Item):
            return NotImplemented
        return (
            self.value == other.value
            and self.key == other.key
            and self.namespace == other.namespace
            and self.created_at == other.created_at
            and self.updated_at == other.updated_at
        )

    def __hash__(self) -> int:
        return hash((self.namespace, self.key))

    def dict(self) -> dict[str, Any]:
        """As JSON-ready data (times as ISO text), the shape the Agent Server sends."""
        return {
            "namespace": list(self.namespace),
            "key": self.key,
            "value": self.value,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.dict().items())
        return f"{type(self).__name__}({fields})"


class SearchItem(Item):
    """An item found by `search`, with its relevance `score`: its cosine similarity to the
    search's `query` (None for a search without one)."""

    __slots__ = ("score",)

    def __init__(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: dict[str, Any],
        created_at: datetime | str,
        updated_at: datetime | str,
        score: float | None = None,
    ) -> None:
        super().__init__(
            value=value,
            key=key,
            namespace=namespace,
            created_at=created_at,
            updated_at=updated_at,
        )
        self.score = score

    def dict(self) -> dict[str, Any]:
        """As JSON-ready data, with `score`."""
        return {**super().dict(), "score": self.score}


class GetOp(NamedTuple):
    """Read one item."""

    namespace: tuple[str, ...]
    key: str
    refresh_ttl: bool = True
    """Whether reading the item restarts its TTL (for an item written with one)."""


class SearchOp(NamedTuple):
    """Find items under a namespace prefix."""

    namespace_prefix: tuple[str, ...]
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    query: str | None = None
    """Semantic search: rank by similarity to this text (a store made with `index=`)."""
    refresh_ttl: bool = True
    """Whether the items found restart their TTL."""


class MatchCondition(NamedTuple):
    """A namespace pattern for `ListNamespacesOp` (a `*` label matches any label)."""

    match_type: NamespaceMatchType
    path: tuple[str, ...]


class ListNamespacesOp(NamedTuple):
    """List the namespaces that hold items."""

    match_conditions: tuple[MatchCondition, ...] | None = None
    max_depth: int | None = None
    limit: int = 100
    offset: int = 0


class PutOp(NamedTuple):
    """Write one item (`value` None: delete it)."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None
    index: Literal[False] | list[str] | None = None  # type: ignore[assignment]
    """Which fields to embed: None the index's `fields`, False none, or these paths."""
    ttl: float | None = None
    """Minutes until the item expires (None: never)."""


Op = GetOp | SearchOp | PutOp | ListNamespacesOp
Result = Item | list[Item] | list[SearchItem] | list[tuple[str, ...]] | None


class TTLConfig(TypedDict, total=False):
    """LangGraph's expiry settings (`ttl=` of a store), in minutes."""

    refresh_on_read: bool
    """Whether reads restart an item's TTL by default (default True)."""
    default_ttl: float | None
    """The TTL of an item put without `ttl=` (None: it never expires)."""
    sweep_interval_minutes: float | None
    """How often `start_ttl_sweeper()` deletes expired items (default 5)."""
    omit_expired: bool
    """Accepted for LangGraph's sake: interlock never returns an expired item."""


class IndexConfig(TypedDict, total=False):
    """LangGraph's semantic search settings (`index=` of a store)."""

    dims: int
    """How many numbers the model's vectors have."""
    embed: Any
    """An `Embeddings` object, a function `list[str] -> list[list[float]]` (sync or
    async), or a `"provider:model"` string (LangChain's `init_embeddings`)."""
    fields: list[str] | None
    """Which parts of a value to embed (default `["$"]`: all of it as JSON)."""


class BaseStore(ABC):
    """A long-term memory store (LangGraph's `BaseStore`): items by namespace and key,
    shared by every thread of the graphs compiled with it (`compile(store=...)`; nodes read
    it as `runtime.store`, a `store` parameter, or `get_store()`).

    Subclasses implement `batch` and `abatch`; the other methods are written over them.
    `ttl_config` (set by a store made with `ttl=`) gives the default TTL of a put and
    whether reads refresh it.

    Example:
        >>> from interlock.store.memory import InMemoryStore
        >>> store = InMemoryStore()
        >>> store.put(("users", "ada"), "prefs", {"food": "tea"})
        >>> store.get(("users", "ada"), "prefs").value
        {'food': 'tea'}
        >>> [i.key for i in store.search(("users",))]
        ['prefs']
    """

    supports_ttl: bool = False
    """Whether `put(ttl=...)` is honoured (False: it raises `StoreFeatureUnsupported`)."""
    ttl_config: TTLConfig | None = None
    """The store's expiry settings (None: items expire only when put with a `ttl`)."""

    @abstractmethod
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run operations in order; one result per operation (None for a put)."""

    @abstractmethod
    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of `batch`."""

    def get(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        """The item at `namespace` / `key`, or None. `refresh_ttl` (default: the ttl
        settings' `refresh_on_read`, else True): an item with a TTL restarts it."""
        op = GetOp(namespace, key, _refresh(self.ttl_config, refresh_ttl))
        return self.batch([op])[0]  # type: ignore[return-value]

    def search(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        """Items whose namespace starts with `namespace_prefix` (every item for `()`) and
        whose value passes `filter` (`{"field": value}` or `{"field": {"$gt": 3}}`;
        operators `$eq $ne $gt $gte $lt $lte`), last written first; with a `query`, the
        items embedded for it, most similar first (`score`)."""
        refresh = _refresh(self.ttl_config, refresh_ttl)
        op = SearchOp(namespace_prefix, filter, limit, offset, query, refresh)
        return self.batch([op])[0]  # type: ignore[return-value]

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: dict[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """Write `value` (a dict) at `namespace` / `key`, replacing what was there (None:
        delete it, as in LangGraph). `index`: which fields to embed (None: the store's
        `fields`; False: none); `ttl`: minutes until it expires (default: the ttl settings'
        `default_ttl`; None: never)."""
        self.batch([self._put_op(namespace, key, value, index, ttl)])

    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        """Delete the item (nothing happens if there is none)."""
        self.batch([PutOp(namespace, str(key), None)])

    def list_namespaces(
        self,
        *,
        prefix: tuple[str, ...] | None = None,
        suffix: tuple[str, ...] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """The namespaces holding items, in order, matching `prefix` / `suffix` (a `*`
        label matches any label), cut to `max_depth` labels."""
        op = ListNamespacesOp(_conditions(prefix, suffix), max_depth, limit, offset)
        return self.batch([op])[0]  # type: ignore[return-value]

    async def aget(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        """Async twin of `get`."""
        op = GetOp(namespace, key, _refresh(self.ttl_config, refresh_ttl))
        return (await self.abatch([op]))[0]  # type: ignore[return-value]

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        """Async twin of `search`."""
        refresh = _refresh(self.ttl_config, refresh_ttl)
        op = SearchOp(namespace_prefix, filter, limit, offset, query, refresh)
        return (await self.abatch([op]))[0]  # type: ignore[return-value]

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: dict[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """Async twin of `put`."""
        await self.abatch([self._put_op(namespace, key, value, index, ttl)])

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        """Async twin of `delete`."""
        await self.abatch([PutOp(namespace, str(key), None)])

    async def alist_namespaces(
        self,
        *,
        prefix: tuple[str, ...] | None = None,
        suffix: tuple[str, ...] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Async twin of `list_namespaces`."""
        op = ListNamespacesOp(_conditions(prefix, suffix), max_depth, limit, offset)
        return (await self.abatch([op]))[0]  # type: ignore[return-value]

    def _put_op(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None,
        ttl: float | NotProvided | None,
    ) -> PutOp:
        """The put, its TTL defaulted from the settings; `StoreFeatureUnsupported` (a
        `NotImplementedError`, as LangGraph raises) for a TTL on a store that does not
        honour TTLs (`supports_ttl` False)."""
        if isinstance(ttl, NotProvided):
            ttl = (self.ttl_config or {}).get("default_ttl")
        elif ttl is not None and not self.supports_ttl:
            raise StoreFeatureUnsupported(
                f"{type(self).__name__} does not support ttl={ttl!r}: its items never expire. "
                "Put with ttl=None (or leave ttl out), or use a store that honours TTLs "
                "(InMemoryStore, SqliteStore, PostgresStore; supports_ttl is True)"
            )
        return PutOp(namespace, key, value, index, ttl)  # type: ignore[arg-type]


def _refresh(config: TTLConfig | None, refresh_ttl: bool | None) -> bool:
    """Whether a read refreshes TTLs: as asked, else the settings' default (True)."""
    if refresh_ttl is not None:
        return bool(refresh_ttl)
    return bool((config or {}).get("refresh_on_read", True))


def _conditions(
    prefix: tuple[str, ...] | None, suffix: tuple[str, ...] | None
) -> tuple[MatchCondition, ...] | None:
    found = []
    if prefix is not None:
        found.append(MatchCondition("prefix", tuple(prefix)))
    if suffix is not None:
        found.append(MatchCondition("suffix", tuple(suffix)))
    return tuple(found) or None
