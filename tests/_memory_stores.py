"""Long-term memory stores for the semantic search and expiry tests: each kind made with the
same settings (`open_store`), and the store API called sync or async (`Calls`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from interlock.store import BaseStore
from interlock.store.memory import InMemoryStore
from interlock.store.sqlite import SqliteStore
from tests.conftest import SAVERS

KINDS = ["memory", "sqlite", *(["postgres"] if "postgres" in SAVERS else [])]


@contextlib.contextmanager
def open_store(kind: str, tmp_path: Path, **options: Any) -> Iterator[BaseStore]:
    """A fresh store of `kind` made with `options` (`index=`, `ttl=`)."""
    if kind == "memory":
        yield InMemoryStore(**options)
    elif kind == "sqlite":
        with SqliteStore.from_conn_string(str(tmp_path / "memory.db"), **options) as s:
            yield s
    else:
        from interlock.store.postgres import PostgresStore
        from tests.pg import DSN, new_schema

        with PostgresStore.from_conn_string(DSN, schema=new_schema(), **options) as p:
            yield p


class Calls:
    """The store API, called sync or async with the same arguments."""

    def __init__(self, store: BaseStore, mode: str) -> None:
        self.store, self.mode = store, mode

    def __getattr__(self, name: str) -> Any:
        if self.mode == "sync":
            return getattr(self.store, name)
        method = getattr(self.store, "a" + name)
        return lambda *a, **kw: asyncio.run(method(*a, **kw))
