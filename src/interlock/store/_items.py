"""`ItemsStore`: LangGraph's `BaseStore` over any interlock store's items room.

`batch` checks every operation first (a bad one raises before anything is read or written),
then runs them in order; consecutive puts and deletes are written in one transaction. The
plan is made once (`_plan`); the sync and async drivers only call the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

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

__all__ = ["ItemsStore", "SaverStore", "refuse_options"]


def refuse_options(index: Any, ttl: Any) -> None:
    """`StoreFeatureUnsupported` for a store made with semantic search or TTL settings."""
    if index is not None:
        raise StoreFeatureUnsupported(
            "interlock's stores have no semantic search (index=...): leave index unset and "
            "search with filter=... (see docs/limits.md)"
        )
    if ttl is not None:
        raise StoreFeatureUnsupported(
            "interlock's stores keep items until they are deleted (no ttl=...): leave ttl "
            "unset and delete old items yourself (see docs/limits.md)"
        )


@dataclass(slots=True)
class _Step:
    method: str
    """The `Items` method (its async twin has an `a` prefix)."""
    kwargs: dict[str, Any]
    shape: Callable[[Any], list[Result]]
    """The results of the operations this step ran, from what the method returned."""
    writes: list[ItemWrite] = field(default_factory=list)


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


def _write(op: PutOp) -> ItemWrite:
    if op.value is None:
        return ItemWrite(namespace=check_labels(op.namespace), key=_key(op.key), value=None)
    if op.index not in (None, False):
        raise StoreFeatureUnsupported(
            f"put(index={op.index!r}): interlock's stores have no semantic search; leave "
            "index unset"
        )
    if op.ttl is not None:
        raise StoreFeatureUnsupported(
            f"put(ttl={op.ttl!r}): interlock's stores keep items until they are deleted; "
            "leave ttl unset"
        )
    if not isinstance(op.value, Mapping):
        raise TypeError(f"an item's value is a dict, not {type(op.value).__name__}")
    return ItemWrite(namespace=check_namespace(op.namespace), key=_key(op.key), value=op.value)


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


def _plan(ops: Iterable[Op]) -> list[_Step]:
    steps: list[_Step] = []
    for op in ops:
        if isinstance(op, PutOp):
            write = _write(op)
            if steps and steps[-1].method == "put_items":
                steps[-1].writes.append(write)
            else:
                writes = [write]
                steps.append(_Step("put_items", {"writes": writes}, _count(0), writes))
        elif isinstance(op, GetOp):
            namespace = check_labels(op.namespace)
            steps.append(_Step("get_item", {"namespace": namespace, "key": _key(op.key)}, _item))
        elif isinstance(op, SearchOp):
            if op.query is not None:
                raise StoreFeatureUnsupported(
                    "search(query=...): interlock's stores have no semantic search; "
                    "search with filter=... instead (see docs/limits.md)"
                )
            check_filter(op.filter)
            _bound("limit", op.limit)
            _bound("offset", op.offset)
            kwargs = {
                "prefix": check_labels(op.namespace_prefix, "namespace prefix"),
                "filter": op.filter,
                "limit": op.limit,
                "offset": op.offset,
            }
            steps.append(_Step("search_items", kwargs, _found))
        elif isinstance(op, ListNamespacesOp):
            steps.append(_list_step(op))
        else:
            raise TypeError(f"unknown store operation {type(op).__name__}")
    for step in steps:
        if step.method == "put_items":
            step.shape = _count(len(step.writes))
    return steps


class ItemsStore(BaseStore):
    """A `BaseStore` over an interlock store's items (any saver: `InMemorySaver`,
    `SqliteSaver`, `PostgresSaver`), sharing its connections and transactions.

    Example:
        >>> from interlock import InMemorySaver
        >>> store = ItemsStore(InMemorySaver())
        >>> store.put(("docs",), "a", {"title": "x"})
        >>> store.get(("docs",), "a").value
        {'title': 'x'}
    """

    def __init__(self, items: Items, *, index: Any = None, ttl: Any = None) -> None:
        refuse_options(index, ttl)
        self.items = items
        """Where the items are kept (the saver)."""

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations in order (all checked first)."""
        results: list[Result] = []
        for step in _plan(ops):
            results += step.shape(getattr(self.items, step.method)(**step.kwargs))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of `batch`."""
        results: list[Result] = []
        for step in _plan(ops):
            results += step.shape(await getattr(self.items, "a" + step.method)(**step.kwargs))
        return results


class SaverStore(ItemsStore):
    """An `ItemsStore` over a SQL saver it opened itself (from a path or DSN: closed with
    the store) or was given (left open): `SqliteStore` and `PostgresStore`."""

    def __init__(self, saver: Any, *, owned: bool) -> None:
        super().__init__(saver)
        self.saver = saver
        """The saver whose database holds the items."""
        self._owned = owned

    def setup(self) -> None:
        """Create or upgrade the schema (done on opening already; idempotent)."""
        self.saver.setup()

    def close(self) -> None:
        """Close the connections this store opened (not those of a saver it was given)."""
        if self._owned:
            self.saver.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
