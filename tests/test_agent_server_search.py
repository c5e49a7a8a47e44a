"""`client.threads.search(...)` and `client.threads.count(...)` of the real `langgraph-sdk`
against the app served over loopback: filters by metadata, status, ids and values, sorting,
paging, `select`, and who sees which threads — answered alike whether the store reads a
filter's index range or walks the sort order (`range_cap` forces each)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-rita=rita:requester;k-ada=ada:approver"


class Order(TypedDict, total=False):
    item: str
    approved: Any


def ask(state: Order) -> dict[str, Any]:
    return {"approved": il.interrupt({"ship": state["item"]})}


def _graph(saver: SqliteSaver, name: str, pause: bool) -> Any:
    g = il.StateGraph(Order)
    g.add_node("ask", ask if pause else (lambda state: {"approved": "no need"}))
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name=name)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[tuple[Any, dict[str, Any], SqliteSaver]]:
    """bob: `t1` shipping, waiting (orders); `t2` shipping, done (notes); `t3` billing,
    never run; `t5` a run holds it. rita: `t4` shipping, waiting."""
    saver = SqliteSaver(tmp_path / "search.db")
    app = create_app(
        {"orders": _graph(saver, "orders", True), "notes": _graph(saver, "notes", False)},
        keys=ApiKeys.parse(KEYS),
    )
    with served(app) as http:
        url = str(http.base_url).rstrip("/")
        clients = {k: get_sync_client(url=url, api_key=f"k-{k}") for k in ("bob", "rita", "ada")}
        bob, rita = clients["bob"], clients["rita"]
        t1 = bob.threads.create(metadata={"team": "shipping", "n": 1})["thread_id"]
        bob.runs.wait(t1, "orders", input={"item": "book"})
        t2 = bob.threads.create(metadata={"team": "shipping"})["thread_id"]
        bob.runs.wait(t2, "notes", input={"item": "pen"})
        t3 = bob.threads.create(metadata={"team": "billing"})["thread_id"]
        t4 = rita.threads.create(metadata={"team": "shipping"})["thread_id"]
        rita.runs.wait(t4, "orders", input={"item": "lamp"})
        t5 = bob.threads.create(metadata={"team": "ops"})["thread_id"]
        bob.runs.wait(t5, "notes", input={"item": "cup"})
        assert saver.acquire_thread(t5, "a-run-elsewhere", ttl=600)
        ids = {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5}
        try:
            yield clients, ids, saver
        finally:
            for made in clients.values():
                made.close()
    saver.close()


def _named(ids: dict[str, str], found: list[dict[str, Any]]) -> list[str]:
    names = {v: k for k, v in ids.items()}
    return [names[t["thread_id"]] for t in found]


@pytest.mark.parametrize("cap", [0, 2_000])
def test_search_and_count_through_the_sdk(scene: Any, cap: int) -> None:
    clients, ids, saver = scene
    saver.range_cap = cap  # 0: every search walks the sort order; 2,000: ranges
    saver.range_per_row = 0
    bob, ada = clients["bob"], clients["ada"]

    def names(client: Any = bob, **kw: Any) -> list[str]:
        return sorted(_named(ids, client.threads.search(limit=100, **kw)))

    assert names() == ["t1", "t2", "t3", "t5"]  # bob's own threads only
    assert names(ada) == ["t1", "t2", "t3", "t4", "t5"]  # an approver's: every thread
    assert names(metadata={"team": "shipping"}) == ["t1", "t2"]
    assert names(ada, metadata={"team": "shipping"}) == ["t1", "t2", "t4"]
    assert names(metadata={"team": "shipping", "n": 1}) == ["t1"]
    assert names(metadata={"graph_id": "orders"}) == ["t1"]
    assert names(metadata={"team": "nobody"}) == []
    assert names(status="interrupted") == ["t1"]
    assert names(ada, status="interrupted") == ["t1", "t4"]
    assert names(status="idle") == ["t2", "t3"]
    assert names(status="busy") == ["t5"]
    assert names(status="error") == []
    assert names(status="idle", metadata={"team": "shipping"}) == ["t2"]
    assert names(ids=[ids["t1"], ids["t4"], "nope"]) == ["t1"]  # rita's t4 is not bob's
    assert names(values={"item": "book"}) == ["t1"]
    assert names(values={"item": "book"}, status="idle") == []
    assert bob.threads.count(metadata={"team": "shipping"}) == 2
    assert ada.threads.count(status="interrupted") == 2
    assert bob.threads.count(values={"approved": "no need"}) == 2
    assert bob.threads.count() == 4

    (found,) = bob.threads.search(metadata={"n": 1})
    assert found["status"] == "interrupted" and found["values"] == {"item": "book"}
    assert found["metadata"] == {
        "team": "shipping",
        "n": 1,
        "graph_id": "orders",
        "assistant_id": found["metadata"]["assistant_id"],
    }
    assert [i["value"] for i in next(iter(found["interrupts"].values()))] == [{"ship": "book"}]
    (never,) = bob.threads.search(metadata={"team": "billing"})
    assert never["status"] == "idle" and never["values"] is None and never["interrupts"] == {}

    order = _named(ids, bob.threads.search(sort_by="created_at", sort_order="asc"))
    assert order == ["t1", "t2", "t3", "t5"]
    assert _named(ids, bob.threads.search(sort_by="created_at", sort_order="desc")) == [
        "t5",
        "t3",
        "t2",
        "t1",
    ]
    pages = [
        _named(ids, bob.threads.search(sort_by="created_at", limit=2, offset=at))
        for at in (0, 2, 4)
    ]
    assert pages == [["t5", "t3"], ["t2", "t1"], []]
    by_status = _named(ids, ada.threads.search(sort_by="status", sort_order="asc", limit=100))
    assert by_status[0] == "t5" and sorted(by_status[1:3]) == ["t2", "t3"]
    assert sorted(by_status[3:]) == ["t1", "t4"]
    shifted = _named(ids, ada.threads.search(sort_by="status", limit=2, offset=2))
    assert shifted == _named(ids, ada.threads.search(sort_by="status", limit=100))[2:4]
    slim = bob.threads.search(metadata={"n": 1}, select=["thread_id", "status"])
    assert slim == [{"thread_id": ids["t1"], "status": "interrupted"}]


def test_metadata_changes_are_searched_at_once(scene: Any) -> None:
    clients, ids, _ = scene
    bob = clients["bob"]
    bob.threads.update(ids["t3"], metadata={"team": "shipping", "owner": "bob"})
    found = _named(ids, bob.threads.search(metadata={"team": "shipping"}, limit=100))
    assert sorted(found) == ["t1", "t2", "t3"]
    assert bob.threads.search(metadata={"team": "billing"}) == []
    assert _named(ids, bob.threads.search(metadata={"owner": "bob"})) == ["t3"]
    bob.threads.delete(ids["t3"])
    assert bob.threads.search(metadata={"owner": "bob"}) == []
