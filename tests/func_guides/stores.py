"""What the guides' `MemorySaver` import resolves to here: the store under test.

DIFFERENCE (every guide): the guides import `MemorySaver` from
`langgraph.checkpoint.memory`; the ports import it from this module, which hands out the
store the test chose (memory, SQLite or Postgres). Nothing else in the programs changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_factory: Callable[[], Any] | None = None


def use(factory: Callable[[], Any] | None) -> None:
    """Make `MemorySaver()` return `factory()` (None: interlock's InMemorySaver)."""
    global _factory
    _factory = factory


def MemorySaver() -> Any:
    """A fresh store of the kind under test (the name the guides import)."""
    if _factory is None:
        from interlock import InMemorySaver

        return InMemorySaver()
    return _factory()
