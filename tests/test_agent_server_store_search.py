"""The Agent Server's `/store` routes when the served store has semantic search and expiry
settings (`create_app(store={"index": ..., "ttl": ...})`, langgraph.json's `store`
section), driven by the real langgraph-sdk over loopback on SQLite and PostgreSQL:
`search_items(query=...)` ranks with scores, `put_item(index=..., ttl=...)`,
`get_item(refresh_ttl=...)`, served graphs search the same memories by query, a failing
embedding model is a 502 that writes nothing, and the TTL sweeper lives as long as the app.
Without settings the same calls stay 422 (tests/test_agent_server_store.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import UnprocessableEntityError

import interlock as il
from interlock.checkpoint import _time
from interlock.runtime import Runtime
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.conftest import SAVERS, make_saver
from tests.fakes.openai_server import bag_of_words

KEYS = "k-bob=bob:requester;k-ada=ada:approver"
DIMS = 32


def embed(texts: list[str]) -> list[list[float]]:
    if any("boom" in t for t in texts):
        raise RuntimeError("the embedding model is down")
    return [bag_of_words(t, DIMS) for t in texts]


SETTINGS = {
    "index": {"embed": embed, "dims": DIMS, "fields": ["text"]},
    "ttl": {"default_ttl": 60, "refresh_on_read": True},
}


def _cos(a: str, b: str) -> float:
    x, y = bag_of_words(a, DIMS), bag_of_words(b, DIMS)
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    return float(dot / (sum(p * p for p in x) * sum(q * q for q in y)) ** 0.5)


class Ask(TypedDict, total=False):
    question: str
    answer: list[str]


def _asker(saver: Any) -> Any:
    def recall(state: Ask, runtime: Runtime) -> dict[str, Any]:
        found = runtime.store.search(("notes",), query=state["question"], limit=2)
        return {"answer": [i.value["text"] for i in found]}

    g = il.StateGraph(Ask)
    g.add_node("recall", recall)
    g.add_edge(il.START, "recall")
    return g.compile(checkpointer=saver, name="asker")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_time, "utc_now", fake)
    return fake


@pytest.fixture(params=[k for k in SAVERS if k != "memory"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    s = make_saver(request.param, tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def url(saver: Any) -> Iterator[str]:
    app = create_app({"asker": _asker(saver)}, keys=ApiKeys.parse(KEYS), store=SETTINGS)
    with served(app) as http:
        yield str(http.base_url).rstrip("/")


def test_search_by_query_index_and_ttl_over_the_sdk(url: str, saver: Any, clock: Clock) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        store = bob.store
        store.put_item(["notes"], key="n1", value={"text": "ada likes green tea"})
        store.put_item(["notes"], key="n2", value={"text": "bo plays chess", "other": "tea"})
        store.put_item(["notes"], key="n3", value={"text": "tea"}, index=False)
        store.put_item(
            ["notes"], key="n4", value={"text": "x", "other": "green tea"}, index=["other"]
        )
        store.put_item(["notes"], key="n5", value={"text": "short lived tea"}, ttl=5)
        found = store.search_items(["notes"], query="green tea", limit=3)["items"]
        assert [i["key"] for i in found] == ["n4", "n1", "n5"]
        assert found[0]["score"] == pytest.approx(1.0)
        assert found[1]["score"] == pytest.approx(_cos("green tea", "ada likes green tea"))
        assert found[2]["score"] == pytest.approx(_cos("green tea", "short lived tea"))
        assert set(found[0]) == {"namespace", "key", "value", "created_at", "updated_at", "score"}
        assert store.search_items(["notes"], query="chess")["items"][0]["key"] == "n2"
        plain = store.search_items(["notes"])["items"]
        assert all(i["score"] is None for i in plain) and len(plain) == 5
        n5 = saver.get_item(("notes",), "n5")
        n1 = saver.get_item(("notes",), "n1")
        assert n5.ttl == 5 and n1.ttl == 60  # explicit, and the default
        assert n5.expires_at == clock.now + timedelta(minutes=5)
        clock.now += timedelta(minutes=4)
        assert store.get_item(["notes"], key="n5", refresh_ttl=False) is not None
        assert saver.get_item(("notes",), "n5").expires_at == n5.expires_at
        assert store.get_item(["notes"], key="n5") is not None  # refresh_on_read: restarted
        clock.now += timedelta(minutes=4)
        assert store.get_item(["notes"], key="n5") is not None
        clock.now += timedelta(minutes=5)
        assert store.get_item(["notes"], key="n5") is None  # expired
        assert "n5" not in {i["key"] for i in store.search_items(["notes"], query="tea")["items"]}
        with pytest.raises(UnprocessableEntityError):
            store.put_item(["notes"], key="n6", value={"text": "t"}, ttl=-1)
        with pytest.raises(UnprocessableEntityError, match="at most"):
            store.put_item(["notes"], key="n6", value={"text": "t"}, ttl=1e10)
        run = bob.runs.wait(None, "asker", input={"question": "who likes green tea?"})
        assert run["answer"] == ["ada likes green tea", "x"]  # the served graph, by meaning


def test_a_failing_model_is_a_502_that_writes_nothing(url: str, saver: Any) -> None:
    response = httpx.put(
        f"{url}/store/items",
        json={"namespace": ["notes"], "key": "k", "value": {"text": "boom"}},
        headers={"x-api-key": "k-bob"},
    )
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "embedding_failed" and "the embedding model is down" in body["message"]
    assert saver.get_item(("notes",), "k") is None
    response = httpx.post(
        f"{url}/store/items/search",
        json={"namespace_prefix": ["notes"], "query": "boom"},
        headers={"x-api-key": "k-bob"},
    )
    assert response.status_code == 502


def _sweepers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "interlock-store-ttl"]


def test_the_ttl_sweeper_runs_while_the_app_does(saver: Any) -> None:
    before = _sweepers()
    settings = {"ttl": {"default_ttl": 1, "sweep_interval_minutes": 60}}
    app = create_app({"asker": _asker(saver)}, keys=ApiKeys.parse(KEYS), store=settings)
    assert _sweepers() == before  # not before the app starts
    with served(app):
        assert len(_sweepers()) == len(before) + 1
    assert _sweepers() == before
    with pytest.raises(ValueError, match=r"unknown keys \['indexes'\]"):
        create_app({"asker": _asker(saver)}, keys=ApiKeys.parse(KEYS), store={"indexes": {}})


def test_an_async_embedding_function_serves_too(saver: Any) -> None:
    # langgraph.json's index may name an async function; the routes embed with it
    async def aembed(texts: list[str]) -> list[list[float]]:
        return [bag_of_words(t, DIMS) for t in texts]

    settings = {"index": {"embed": aembed, "dims": DIMS, "fields": ["text"]}}
    app = create_app({"asker": _asker(saver)}, keys=ApiKeys.parse(KEYS), store=settings)
    with served(app) as http, get_sync_client(url=str(http.base_url), api_key="k-bob") as bob:
        bob.store.put_item(["notes"], key="n1", value={"text": "ada likes green tea"})
        bob.store.put_item(["notes"], key="n2", value={"text": "bo plays chess"})
        found = bob.store.search_items(["notes"], query="green tea")["items"]
        assert [i["key"] for i in found] == ["n1", "n2"]
        assert found[0]["score"] == pytest.approx(_cos("green tea", "ada likes green tea"))
        assert bob.store.get_item(["notes"], key="n2")["value"] == {"text": "bo plays chess"}
        assert bob.store.list_namespaces() == {"namespaces": [["notes"]]}
        bob.store.delete_item(["notes"], key="n2")
        assert [i["key"] for i in bob.store.search_items(["notes"])["items"]] == ["n1"]
