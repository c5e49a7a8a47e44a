"""`BaseCache`: where compiled graphs keep the results of nodes with a `CachePolicy`.

A cache maps a full key — a namespace (a tuple of strings; interlock uses one per node:
`("__pregel_ns_writes", "<module>.<function>", "<node name>")`) and a key (the digest of the
node's input) — to a value, with an optional time to live. Values are stored serialised:
a hit gives fresh objects, never ones a node of another run could have changed.

Write your own by subclassing `BaseCache` and implementing its six methods (the async ones
may call the sync ones off the event loop, as `SqliteCache` does).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from interlock.checkpoint import serde as _serde

__all__ = ["BaseCache", "FullKey", "JsonSerializer", "Namespace", "Serializer"]

ValueT = TypeVar("ValueT")
Namespace = tuple[str, ...]
"""Where an entry lives: `clear` drops whole namespaces."""
FullKey = tuple[Namespace, str]
"""An entry's address: its namespace and its key."""


class Serializer(Protocol):
    """How a cache turns values into bytes and back (LangGraph's serializer protocol:
    `dumps_typed` returns an encoding name and the bytes)."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """`obj` as `(encoding, bytes)`."""
        ...

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """The value `dumps_typed` made `data` from."""
        ...


class JsonSerializer:
    """interlock's own serialisation (the stores' JSON with typed tags): messages,
    dataclasses, pydantic models, datetimes, bytes, sets, `Send` and `Command` round-trip;
    anything else fails in `dumps_typed` with `SerializationError`. No pickle: a cache file
    someone else can write never runs code when it is read.

    Example:
        >>> s = JsonSerializer()
        >>> s.loads_typed(s.dumps_typed({"n": (1, 2)}))
        {'n': (1, 2)}
    """

    encoding = "json"

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """`obj` as `("json", UTF-8 bytes)`."""
        return self.encoding, _serde.dumps(obj).encode()

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """The value of `("json", bytes)`; `ValueError` for another encoding."""
        encoding, raw = data
        if encoding != self.encoding:
            raise ValueError(f"cannot read a cache value encoded as {encoding!r}")
        return _serde.loads(raw)


class BaseCache(ABC, Generic[ValueT]):
    """A cache of node results: `compile(cache=...)`. See the module docstring.

    `serde` turns values into bytes (default: `JsonSerializer`); `clock` gives the time in
    Unix seconds that time-to-live is measured against (default `time.time`; tests inject
    their own).
    """

    serde: Serializer

    def __init__(
        self, *, serde: Serializer | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.serde = serde if serde is not None else JsonSerializer()
        self.clock: Callable[[], float] = clock if clock is not None else time.time

    def expiry(self, ttl: float | None) -> float | None:
        """When an entry set now with `ttl` seconds to live expires (None: never)."""
        return None if ttl is None else self.clock() + ttl

    def expired(self, expiry: float | None) -> bool:
        """Whether an entry with this `expiry` is gone by now (it lives while the clock is
        before its expiry)."""
        return expiry is not None and self.clock() >= expiry

    @abstractmethod
    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """The values of those `keys` that are cached and not expired."""

    @abstractmethod
    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Async twin of `get`."""

    @abstractmethod
    def set(self, pairs: Mapping[FullKey, tuple[ValueT, float | None]]) -> None:
        """Store each value under its key with its time to live in seconds (None: forever),
        replacing what was there."""

    @abstractmethod
    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, float | None]]) -> None:
        """Async twin of `set`."""

    @abstractmethod
    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Delete the entries of `namespaces`; with None, every entry."""

    @abstractmethod
    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Async twin of `clear`."""
