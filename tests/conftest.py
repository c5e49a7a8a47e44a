"""Shared fixtures: every behaviour test runs on each saver, sync and async."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

SAVERS = ["memory", "sqlite"]
if os.environ.get("INTERLOCK_SKIP_POSTGRES") != "1":
    SAVERS.append("postgres")


def make_saver(kind: str, tmp_path: Any) -> Any:
    """A fresh saver of the given kind (each Postgres one in its own schema)."""
    if kind == "memory":
        from interlock.checkpoint.memory import InMemorySaver

        return InMemorySaver()
    if kind == "sqlite":
        from interlock.checkpoint.sqlite import SqliteSaver

        return SqliteSaver(tmp_path / "store.db")
    if kind == "postgres":
        from tests.pg import fresh_postgres_saver

        return fresh_postgres_saver()
    raise ValueError(kind)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the PostgreSQL schemas this process created. At the session's end rather than
    in a session fixture's teardown, which pytest-timeout bounds as part of the last test:
    hundreds of schemas on a busy shared server can take longer than a test may."""
    from tests.pg import drop_created_schemas

    drop_created_schemas()


@pytest.fixture(params=SAVERS)
def saver(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """Each saver kind in turn."""
    s = make_saver(request.param, tmp_path)
    try:
        yield s
    finally:
        s.close()


class Runner:
    """Calls a compiled graph through its sync or its async API, with the same signature."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def _run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def invoke(self, graph: Any, input: Any, config: Any = None, **kw: Any) -> Any:
        if self.mode == "sync":
            return graph.invoke(input, config, **kw)
        return self._run(graph.ainvoke(input, config, **kw))

    def stream(self, graph: Any, input: Any, config: Any = None, **kw: Any) -> list[Any]:
        if self.mode == "sync":
            return list(graph.stream(input, config, **kw))

        async def collect() -> list[Any]:
            return [c async for c in graph.astream(input, config, **kw)]

        return self._run(collect())

    def get_state(self, graph: Any, config: Any) -> Any:
        if self.mode == "sync":
            return graph.get_state(config)
        return self._run(graph.aget_state(config))

    def history(self, graph: Any, config: Any, **kw: Any) -> list[Any]:
        if self.mode == "sync":
            return list(graph.get_state_history(config, **kw))

        async def collect() -> list[Any]:
            return [s async for s in graph.aget_state_history(config, **kw)]

        return self._run(collect())

    def update_state(self, graph: Any, config: Any, values: Any, as_node: Any = None) -> Any:
        if self.mode == "sync":
            return graph.update_state(config, values, as_node=as_node)
        return self._run(graph.aupdate_state(config, values, as_node=as_node))


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    """The graph API, called sync or async."""
    return Runner(request.param)
