"""Caches for node results (LangGraph's `langgraph.cache`): `compile(cache=...)` with
`InMemoryCache` (`interlock.cache.memory`) or `SqliteCache` (`interlock.cache.sqlite`), for
the nodes added with `cache_policy=CachePolicy(...)`. `BaseCache` is the class to subclass
for a cache of your own.

The implementations are imported on first use, so `import interlock` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from interlock.cache.base import BaseCache, FullKey, JsonSerializer, Namespace

__all__ = ["BaseCache", "FullKey", "InMemoryCache", "JsonSerializer", "Namespace", "SqliteCache"]

_LAZY = {"InMemoryCache": "interlock.cache.memory", "SqliteCache": "interlock.cache.sqlite"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'interlock.cache' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from interlock.cache.memory import InMemoryCache
    from interlock.cache.sqlite import SqliteCache
