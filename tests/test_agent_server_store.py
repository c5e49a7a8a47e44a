"""The Agent Server's long-term memory routes, driven by the real `langgraph-sdk`
(`client.store`, sync and async clients) over loopback against `interlock serve`'s app on
SQLite and PostgreSQL: items written over HTTP are seen by the served graphs as
`runtime.store` and the other way round, across threads and around a pause; bad input is a
4xx with the SDK's error body and leaves a waiting run intact; credentials are checked as on
every route.

Response shapes (`{"items": [...]}`, `{"namespaces": [...]}`, an item or null, 204 for
writes) are those of LangGraph's Agent Server, as langgraph-sdk 0.4.14 reads them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import (
    AuthenticationError,
    PermissionDeniedError,
    UnprocessableEntityError,
)

import interlock as il
from interlock.runtime import Runtime
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.conftest import SAVERS, make_saver

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-root=root:admin"


class Memo(TypedDict, total=False):
    user: str
    fact: str
    recalled: list[str]


def _memo(saver: Any) -> Any:
    def remember(state: Memo, runtime: Runtime) -> dict[str, Any]:
        fact = il.interrupt({"ask": "what should I remember?"})
        runtime.store.put(("memories", state["user"]), fact, {"text": fact})
        return {"fact": fact}

    def recall(state: Memo, store: Any) -> dict[str, Any]:
        found = store.search(("memories", state["user"]), limit=50)
        return {"recalled": sorted(i.value["text"] for i in found)}

    g = il.StateGraph(Memo)
    g.add_node("remember", remember)
    g.add_node("recall", recall)
    g.add_edge(il.START, "remember")
    g.add_edge("remember", "recall")
    return g.compile(checkpointer=saver, name="memo")


@pytest.fixture(params=[k for k in SAVERS if k != "memory"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    saver = make_saver(request.param, tmp_path)
    app = create_app({"memo": _memo(saver)}, keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/")
    finally:
        saver.close()


def test_items_over_the_sync_client(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        store = bob.store
        store.put_item(["users", "ada"], key="m1", value={"text": "likes tea", "n": 5})
        store.put_item(["users", "ada"], key="m2", value={"text": "plays chess", "n": 3})
        store.put_item(["users", "bo"], key="m1", value={"text": "likes jazz"})
        item = store.get_item(["users", "ada"], key="m1")
        assert set(item) == {"namespace", "key", "value", "created_at", "updated_at"}
        assert item["namespace"] == ["users", "ada"] and item["value"]["text"] == "likes tea"
        assert store.get_item(["users", "ada"], key="nope") is None
        found = store.search_items(["users"])
        assert set(found) == {"items"} and len(found["items"]) == 3
        assert all(i["score"] is None for i in found["items"])
        updated = [i["updated_at"] for i in found["items"]]
        assert updated == sorted(updated, reverse=True)  # newest write first
        some = store.search_items(["users", "ada"], filter={"n": {"$gte": 4}})
        assert [i["key"] for i in some["items"]] == ["m1"]
        assert len(store.search_items(["users"], limit=1, offset=2)["items"]) == 1
        assert store.list_namespaces() == {"namespaces": [["users", "ada"], ["users", "bo"]]}
        assert store.list_namespaces(prefix=["users"], max_depth=1) == {"namespaces": [["users"]]}
        assert store.list_namespaces(suffix=["bo"]) == {"namespaces": [["users", "bo"]]}
        store.delete_item(["users", "ada"], key="m1")
        assert store.get_item(["users", "ada"], key="m1") is None


def test_items_over_the_async_client(url: str) -> None:
    async def go() -> None:
        async with get_client(url=url, api_key="k-bob") as bob:
            await bob.store.put_item(["docs", "x"], key="d", value={"title": "a/b%_ü"})
            item = await bob.store.get_item(["docs", "x"], key="d")
            assert item["value"] == {"title": "a/b%_ü"}
            found = await bob.store.search_items(["docs"], filter={"title": "a/b%_ü"})
            assert [i["key"] for i in found["items"]] == ["d"]
            listed = await bob.store.list_namespaces(prefix=["docs"])
            assert listed == {"namespaces": [["docs", "x"]]}
            await bob.store.delete_item(["docs", "x"], key="d")
            assert await bob.store.get_item(["docs", "x"], key="d") is None

    asyncio.run(go())


def test_served_graphs_share_the_store_across_threads_and_a_pause(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        bob.store.put_item(["memories", "ada"], key="seed", value={"text": "seed"})
        results = []
        for fact in ["tea", "jazz"]:
            thread = bob.threads.create()
            paused = bob.runs.wait(thread["thread_id"], "memo", input={"user": "ada"})
            assert "__interrupt__" in paused
            done = ada.runs.wait(thread["thread_id"], "memo", command={"resume": fact})
            results.append(done["recalled"])
        assert results == [["seed", "tea"], ["jazz", "seed", "tea"]]
        written = bob.store.get_item(["memories", "ada"], key="jazz")
        assert written["value"] == {"text": "jazz"}


def test_bad_input_is_a_422_and_a_waiting_run_stays_intact(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        thread = bob.threads.create()
        bob.runs.wait(thread["thread_id"], "memo", input={"user": "bo"})
        before = bob.threads.get_state(thread["thread_id"])
        assert before["next"] == ["remember"]
        with pytest.raises(UnprocessableEntityError):
            bob.store.search_items(["users"], query="what does ada like?")
        with pytest.raises(UnprocessableEntityError):
            bob.store.put_item(["users", "ada"], key="k", value={"v": 1}, ttl=5)
        with pytest.raises(UnprocessableEntityError):
            bob.store.put_item(["users", "ada"], key="k", value={"v": 1}, index=["v"])
        with pytest.raises(UnprocessableEntityError):
            bob.store.search_items(["users"], filter={"n": {"$near": 1}})
        with pytest.raises(UnprocessableEntityError):
            bob.store.put_item(["users", ""], key="k", value={"v": 1})
        with pytest.raises(UnprocessableEntityError):
            bob.store.put_item(["langgraph"], key="k", value={"v": 1})
        with pytest.raises(UnprocessableEntityError):
            bob.store.put_item(["users"], key="k", value=["not", "an", "object"])  # type: ignore[arg-type]
        with pytest.raises(UnprocessableEntityError):
            bob.store.search_items(["users"], limit=-1)
        with pytest.raises(UnprocessableEntityError):
            bob.store.list_namespaces(max_depth=-1)
        raw = httpx.put(
            f"{url}/store/items",
            json={"namespace": ["a", ""], "key": "k", "value": {}},
            headers={"x-api-key": "k-bob"},
        )
        assert raw.status_code == 422 and raw.json()["code"] == "invalid_namespace"
        raw = httpx.post(
            f"{url}/store/items/search",
            json={"namespace_prefix": ["a"], "query": "x"},
            headers={"x-api-key": "k-bob"},
        )
        assert raw.status_code == 422 and raw.json()["code"] == "not_supported"
        assert "semantic search" in raw.json()["message"]
        assert bob.store.list_namespaces() == {"namespaces": []}  # nothing was written
        after = bob.threads.get_state(thread["thread_id"])
        assert after["next"] == ["remember"] and after["tasks"] == before["tasks"]
    with get_sync_client(url=url, api_key="k-ada") as ada:
        done = ada.runs.wait(thread["thread_id"], "memo", command={"resume": "cats"})
        assert done["recalled"] == ["cats"]


def test_credentials_and_roles_are_checked(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bad") as stranger:
        with pytest.raises(AuthenticationError):
            stranger.store.search_items(["users"])
        with pytest.raises(AuthenticationError):
            stranger.store.put_item(["users"], key="k", value={"v": 1})
    anonymous = httpx.get(f"{url}/store/items", params={"namespace": "users", "key": "k"})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    with (
        get_sync_client(url=url, api_key="k-ada") as ada,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        with pytest.raises(PermissionDeniedError):  # an approver reads, does not write
            ada.store.put_item(["users"], key="k", value={"v": 1})
        with pytest.raises(PermissionDeniedError):
            ada.store.delete_item(["users"], key="k")
        root.store.put_item(["users"], key="k", value={"v": 1})  # an admin may
        assert ada.store.get_item(["users"], key="k")["value"] == {"v": 1}
        assert ada.store.list_namespaces() == {"namespaces": [["users"]]}
