"""`InMemoryCache`: node results kept in the process (LangGraph's
`langgraph.cache.memory.InMemoryCache`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from interlock.cache.base import BaseCache, FullKey, Namespace, Serializer, ValueT

__all__ = ["InMemoryCache"]


class InMemoryCache(BaseCache[ValueT]):
    """A cache in a dict, shared by the threads of one process; gone when it exits.

    Example:
        >>> from interlock import CachePolicy, StateGraph, START
        >>> calls = []
        >>> def slow(state):
        ...     calls.append(state["n"])
        ...     return {"n": state["n"] * 2}
        >>> g = StateGraph(dict).add_node("slow", slow, cache_policy=CachePolicy(ttl=120))
        >>> app = g.add_edge(START, "slow").compile(cache=InMemoryCache())
        >>> app.invoke({"n": 2}), app.invoke({"n": 2}), calls
        ({'n': 4}, {'n': 4}, [2])
    """

    def __init__(
        self, *, serde: Serializer | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        super().__init__(serde=serde, clock=clock)
        self._entries: dict[Namespace, dict[str, tuple[str, bytes, float | None]]] = {}
        self._lock = threading.RLock()

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """The cached values of `keys` (expired entries are dropped as they are met)."""
        out: dict[FullKey, ValueT] = {}
        with self._lock:
            for ns, key in keys:
                found = self._entries.get(tuple(ns), {}).get(key)
                if found is None:
                    continue
                encoding, raw, expiry = found
                if self.expired(expiry):
                    del self._entries[tuple(ns)][key]
                    continue
                out[(tuple(ns), key)] = self.serde.loads_typed((encoding, raw))
        return out

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Async twin of `get` (nothing to wait for)."""
        return self.get(keys)

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, float | None]]) -> None:
        """Store each value, serialised, with its time to live."""
        encoded = [
            (tuple(ns), key, *self.serde.dumps_typed(value), ttl)
            for (ns, key), (value, ttl) in pairs.items()
        ]  # serialised first: a value that cannot be stored changes nothing
        with self._lock:
            for ns, key, encoding, raw, ttl in encoded:
                self._entries.setdefault(ns, {})[key] = (encoding, raw, self.expiry(ttl))

    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, float | None]]) -> None:
        """Async twin of `set`."""
        self.set(pairs)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Drop `namespaces` (every entry with None)."""
        with self._lock:
            if namespaces is None:
                self._entries.clear()
                return
            for ns in namespaces:
                self._entries.pop(tuple(ns), None)

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Async twin of `clear`."""
        self.clear(namespaces)
