"""`ItemsStore`: LangGraph's `BaseStore` over any interlock store's items room.

`batch` checks every operation first (a bad one raises before anything is read or written),
then embeds what needs embedding — the texts of every put and the query of every search, in
one call of the index's model — and only then runs the operations in order; consecutive puts
and deletes are written in one transaction. So a model that fails or answers wrongly leaves
the store unchanged. The plan is made once (`_plan`); the sync and async drivers only call
the model and the backend.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from interlock.checkpoint import serde
from interlock.checkpoint._items.codec import check_filter, check_labels, check_namespace
from interlock.checkpoint._items.protocol import Items, ItemWrite, StoredItem
from interlock.errors import StoreFeatureUnsupported
from interlock.store._base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from interlock.store._embed import Index
from interlock.store._ttl import Sweeper, check_minutes, check_ttl_config

__all__ = ["ItemsStore", "SaverStore"]


@dataclass(slots=True)
class _Put:
    """A put or delete waiting for the vectors of its texts."""

    namespace: tuple[str, ...]
    key: str
    value: Mapping[str, Any] | None
    ttl: float | None = None
    texts: list[tuple[str, str]] = field(default_factory=list)

    def write(self, vectors: Mapping[str, list[float]]) -> ItemWrite:
        embedded = tuple((name, vectors[text]) for name, text in self.texts)
        return ItemWrite(
            namespace=self.namespace, key=self.key, value=self.value, vectors=embedded, ttl=self.ttl
        )


@dataclass(slots=True)
class _Step:
    method: str
    """The `Items` method (its async twin has an `a` prefix)."""
    kwargs: dict[str, Any]
    shape: Callable[[Any], list[Result]]
    """The results of the operations this step ran, from what the method returned."""
    puts: list[_Put] = field(default_factory=list)
    query: str | None = None
    """A search's query, embedded into `kwargs["query"]` before the step runs."""


def _count(n: int) -> Callable[[Any], list[Result]]:
    return lambda _: [None] * n


def _item(found: StoredItem | None) -> list[Result]:
    if found is None:
        return [None]
    return [
        Item(
            value=found.value,
            key=found.key,
            namespace=found.namespace,
            created_at=found.created_at,
            updated_at=found.updated_at,
        )
    ]


def _found(found: list[StoredItem]) -> list[Result]:
    return [
        [
            SearchItem(
                namespace=i.namespace,
                key=i.key,
                value=i.value,
                created_at=i.created_at,
                updated_at=i.updated_at,
                score=i.score,
            )
            for i in found
        ]
    ]


def _bound(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"an item's key is a string, not {type(key).__name__} {key!r}")
    return key


def _list_step(op: ListNamespacesOp) -> _Step:
    prefix: tuple[str, ...] | None = None
    suffix: tuple[str, ...] | None = None
    for condition in op.match_conditions or ():
        match_type, path = condition
        labels = check_labels(path, "namespace pattern")
        if match_type == "prefix" and prefix is None:
            prefix = labels
        elif match_type == "suffix" and suffix is None:
            suffix = labels
        else:
            raise ValueError(
                f"match condition {match_type!r}: give at most one prefix and one suffix"
            )
    _bound("max_depth", op.max_depth, allow_none=True)
    _bound("limit", op.limit)
    _bound("offset", op.offset)
    kwargs = {
        "prefix": prefix or (),
        "suffix": suffix or (),
        "max_depth": op.max_depth,
        "limit": op.limit,
        "offset": op.offset,
    }
    return _Step("list_item_namespaces", kwargs, lambda found: [list(found)])


class ItemsStore(BaseStore):
    """A `BaseStore` over an interlock store's items (any saver: `InMemorySaver`,
    `SqliteSaver`, `PostgresSaver`), sharing its connections and transactions.

    `index`: semantic search settings (`{"dims": ..., "embed": ..., "fields": [...]}`);
    `ttl`: expiry settings (`{"default_ttl": minutes, "refresh_on_read": True,
    "sweep_interval_minutes": ...}`). See docs/store.md.

    Example:
        >>> from interlock import InMemorySaver
        >>> store = ItemsStore(InMemorySaver())
        >>> store.put(("docs",), "a", {"title": "x"})
        >>> store.get(("docs",), "a").value
        {'title': 'x'}
    """

    supports_ttl = True

    def __init__(self, items: Items, *, index: Any = None, ttl: Any = None) -> None:
        self._configure(index, ttl)
        self.items = items
        """Where the items are kept (the saver)."""

    def _configure(self, index: Any, ttl: Any) -> None:
        """Check the settings (before anything is opened)."""
        self._index = None if index is None else Index(index)
        self.index_config: dict[str, Any] | None = None if index is None else dict(index)
        """The semantic search settings, as given (LangGraph's attribute)."""
        self.embeddings: Any = None if self._index is None else self._index.embeddings
        """What embeds texts (None without an index)."""
        self.ttl_config = None if ttl is None else check_ttl_config(ttl)  # type: ignore[assignment]
        self._sweeper: Sweeper | None = None

    # ---- planning ------------------------------------------------------------------------

    def _put(self, op: PutOp) -> _Put:
        if op.value is None:
            return _Put(check_labels(op.namespace), _key(op.key), None)
        if not isinstance(op.value, Mapping):
            raise TypeError(f"an item's value is a dict, not {type(op.value).__name__}")
        index = op.index
        if index is not None and index is not False:
            if not isinstance(index, list | tuple) or not all(isinstance(p, str) for p in index):
                raise TypeError(f"put(index=...) is None, False or a list of paths, not {index!r}")
            if self._index is None:
                raise StoreFeatureUnsupported(
                    f"put(index={index!r}): this store was made without semantic search; make "
                    "it with index={'dims': ..., 'embed': ...} or leave index unset"
                )
        put = _Put(check_namespace(op.namespace), _key(op.key), op.value)
        put.ttl = check_minutes("ttl", op.ttl)
        if self._index is not None:
            put.texts = self._index.texts(op.value, index)
        return put

    def _search(self, op: SearchOp) -> _Step:
        check_filter(op.filter)
        _bound("limit", op.limit)
        _bound("offset", op.offset)
        if op.query is not None and not isinstance(op.query, str):
            raise TypeError(f"search(query=...) is a string, not {type(op.query).__name__}")
        if op.query and self._index is None:
            raise StoreFeatureUnsupported(
                "search(query=...): this store was made without semantic search; make it with "
                "index={'dims': ..., 'embed': ...} (see docs/store.md), or search with "
                "filter=... instead"
            )
        kwargs = {
            "prefix": check_labels(op.namespace_prefix, "namespace prefix"),
            "filter": op.filter,
            "limit": op.limit,
            "offset": op.offset,
            "refresh": bool(op.refresh_ttl),
        }
        return _Step("search_items", kwargs, _found, query=op.query or None)

    def _plan(self, ops: Iterable[Op]) -> list[_Step]:
        steps: list[_Step] = []
        for op in ops:
            if isinstance(op, PutOp):
                put = self._put(op)
                if steps and steps[-1].method == "put_items":
                    steps[-1].puts.append(put)
                else:
                    steps.append(_Step("put_items", {}, _count(0), [put]))
            elif isinstance(op, GetOp):
                kwargs = {
                    "namespace": check_labels(op.namespace),
                    "key": _key(op.key),
                    "refresh": bool(op.refresh_ttl),
                }
                steps.append(_Step("get_item", kwargs, _item))
            elif isinstance(op, SearchOp):
                steps.append(self._search(op))
            elif isinstance(op, ListNamespacesOp):
                steps.append(_list_step(op))
            else:
                raise TypeError(f"unknown store operation {type(op).__name__}")
        puts = [p for s in steps for p in s.puts if p.value is not None]
        if puts and (len(steps) > 1 or self._index is not None):
            # a value that cannot be stored fails now: before an earlier step of the batch
            # commits, and before its texts cost a model call (one put step alone is one
            # transaction, which checks its values before writing any)
            for put in puts:
                serde.ensure_serializable(dict(put.value or {}), f"item {put.key!r}")
        for step in steps:
            if step.method == "put_items":
                step.shape = _count(len(step.puts))
        return steps

    @staticmethod
    def _texts(steps: Sequence[_Step]) -> tuple[list[str], list[str]]:
        """The distinct texts of the puts and the distinct queries, to embed."""
        texts = {text: None for s in steps for p in s.puts for _, text in p.texts}
        queries = {s.query: None for s in steps if s.query is not None}
        return list(texts), list(queries)

    @staticmethod
    def _embedded(
        steps: list[_Step],
        texts: list[str],
        vectors: list[list[float]],
        queries: dict[str, list[float]],
    ) -> list[_Step]:
        by_text = dict(zip(texts, vectors, strict=True))
        for step in steps:
            if step.method == "put_items":
                step.kwargs["writes"] = [p.write(by_text) for p in step.puts]
            if step.query is not None:
                step.kwargs["query"] = queries[step.query]
        return steps

    # ---- the drivers ---------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations in order (all checked, and embedded, first)."""
        steps = self._plan(ops)
        texts, queries = self._texts(steps)
        vectors: list[list[float]] = []
        near: dict[str, list[float]] = {}
        if self._index is not None:
            vectors = self._index.embed(texts)
            near = {q: self._index.embed_query(q) for q in queries}
        results: list[Result] = []
        for step in self._embedded(steps, texts, vectors, near):
            results += step.shape(getattr(self.items, step.method)(**step.kwargs))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of `batch`."""
        steps = self._plan(ops)
        texts, queries = self._texts(steps)
        vectors: list[list[float]] = []
        near: dict[str, list[float]] = {}
        if self._index is not None:
            vectors = await self._index.aembed(texts)
            near = dict(zip(queries, await self._index.aembed_queries(queries), strict=True))
        results: list[Result] = []
        for step in self._embedded(steps, texts, vectors, near):
            results += step.shape(await getattr(self.items, "a" + step.method)(**step.kwargs))
        return results

    # ---- expiry --------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete the expired items now; how many (they were already never returned)."""
        return self.items.sweep_items()

    async def asweep_ttl(self) -> int:
        """Async twin of `sweep_ttl`."""
        return await self.items.asweep_items()

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep expired items every `sweep_interval_minutes` (default: the ttl settings'
        `sweep_interval_minutes`, else 5) in a daemon thread, until `stop_ttl_sweeper()`
        (LangGraph's). Without ttl settings, nothing starts (a finished future)."""
        if self.ttl_config is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        if self._sweeper is not None and self._sweeper.alive():
            return self._sweeper.future
        minutes = check_minutes("sweep_interval_minutes", sweep_interval_minutes)
        minutes = minutes or self.ttl_config.get("sweep_interval_minutes") or 5.0
        self._sweeper = Sweeper(self.sweep_ttl, minutes)
        return self._sweeper.future

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread, waiting up to `timeout` seconds; whether it stopped (or
        was not running)."""
        if self._sweeper is None:
            return True
        stopped = self._sweeper.stop(timeout)
        if stopped:
            self._sweeper = None
        return stopped


class SaverStore(ItemsStore):
    """An `ItemsStore` over a SQL saver it opened itself (from a path or DSN: closed with
    the store) or was given (left open): `SqliteStore` and `PostgresStore`. The settings
    are checked before a saver is opened."""

    def __init__(
        self, saver: Any | Callable[[], Any], *, owned: bool, index: Any = None, ttl: Any = None
    ) -> None:
        self._configure(index, ttl)
        opened: Any = saver() if owned else saver
        self.saver = opened
        """The saver whose database holds the items."""
        self.items = opened
        self._owned = owned

    def setup(self) -> None:
        """Create or upgrade the schema (done on opening already; idempotent)."""
        self.saver.setup()

    def close(self) -> None:
        """Stop the TTL sweeper, and close the connections this store opened (not those of
        a saver it was given)."""
        self.stop_ttl_sweeper()
        if self._owned:
            self.saver.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
