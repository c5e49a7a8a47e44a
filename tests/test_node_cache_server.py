"""A graph with a cached node served by `interlock serve`'s app, driven by the real
`langgraph-sdk` over loopback: runs on two threads share the node's result, the second
run's `updates` event carries LangGraph's `"__metadata__": {"cached": True}` marker, and
the run ends with the state as if the node had run."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph_sdk import get_sync_client

from interlock import START, CachePolicy, StateGraph
from interlock.cache import SqliteCache
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

CALLS: list[str] = []


class Trip(TypedDict, total=False):
    city: str
    log: Annotated[list[str], operator.add]


def forecast(state: Trip) -> dict[str, Any]:
    CALLS.append(state["city"])
    return {"log": [f"sunny in {state['city']}"]}


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    CALLS.clear()
    saver = SqliteSaver(tmp_path / "as.db")
    with SqliteCache(path=tmp_path / "cache.db") as cache:
        g = StateGraph(Trip).add_node("forecast", forecast, cache_policy=CachePolicy())
        graph = g.add_edge(START, "forecast").compile(checkpointer=saver, cache=cache)
        app = create_app({"trips": graph}, keys=ApiKeys.parse("k-bob=bob:requester"), workers=1)
        with served(app) as http:
            yield str(http.base_url).rstrip("/")
    saver.close()


def test_a_cached_node_over_the_agent_server_api(url: str) -> None:
    client = get_sync_client(url=url, api_key="k-bob")
    try:
        updates = []
        for _ in range(2):
            tid = client.threads.create()["thread_id"]
            parts = client.runs.stream(
                tid, "trips", input={"city": "Oslo", "log": []}, stream_mode="updates"
            )
            updates.append([p.data for p in parts if p.event == "updates"])
            state = client.threads.get_state(tid)
            assert state["values"] == {"city": "Oslo", "log": ["sunny in Oslo"]}
        assert updates == [
            [{"forecast": {"log": ["sunny in Oslo"]}}],
            [{"forecast": {"log": ["sunny in Oslo"]}, "__metadata__": {"cached": True}}],
        ]
        assert CALLS == ["Oslo"]
    finally:
        client.close()
