"""Thread search's schema (migration 16): a store written before it, where the Agent Server
kept a thread's metadata in its `thread.created` audit entry and its `thread-metadata` log,
upgrades in place on SQLite and PostgreSQL, and its threads are found by their metadata —
by the store and by `client.threads.search` of the real `langgraph-sdk`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock.checkpoint import _sql_core
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint._testkit import make_record
from interlock.checkpoint.base import AuditEntry, ThreadQuery
from interlock.server import ApiKeys, create_app
from tests._http import served


def _created(store: Any, thread_id: str, who: str, metadata: dict[str, Any]) -> None:
    """What the previous Agent Server wrote for `POST /threads`: the creation claim, the
    owner and the audit entry (its detail holds the metadata)."""
    assert store.acquire_thread(thread_id, "create:x", ttl=30)
    store.set_thread_owner(thread_id, who)
    detail = {"agent": "orders", "metadata": metadata, "via": "agent_server"}
    store.append_audit(
        [
            AuditEntry(
                at=datetime.now(UTC),
                actor=who,
                action="thread.created",
                thread_id=thread_id,
                detail=detail,
            )
        ]
    )
    store.release_thread(thread_id, "create:x")


def _write_before_16(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", [x for x in MIGRATIONS if x[0] < 16])
        old = open_store()
        try:
            assert 16 not in old.schema_versions()
            # run, then tagged by its run and patched (the last log entry is its metadata)
            _created(old, "ran", "bob", {"team": "shipping"})
            old.put_checkpoint(
                make_record("ran", None, [("item", "x")], {"item": "x"}), expected_head=None
            )
            for meta in (
                {"team": "shipping", "graph_id": "orders"},
                {"team": "billing", "graph_id": "orders", "n": 1},
            ):
                old.append_events("ran", "thread-metadata", [("thread.metadata", meta)])
            _created(old, "never-ran", "bob", {"team": "shipping"})  # no checkpoint
            _created(old, "rita's", "rita", {"team": "shipping"})
            old.put_checkpoint(make_record("library", None, [], {}), expected_head=None)
        finally:
            old.close()


def _check(store: Any) -> None:
    assert store.schema_versions() == [v for v, _, _ in MIGRATIONS]

    def ids(**query: Any) -> list[str]:
        return sorted(t.thread_id for t in store.search_threads(ThreadQuery(**query), limit=50))

    assert ids() == ["library", "never-ran", "ran", "rita's"]
    assert ids(metadata={"team": "shipping"}) == ["never-ran", "rita's"]
    assert ids(metadata={"team": "billing", "n": 1}) == ["ran"]  # its newest metadata
    assert ids(metadata={"graph_id": "orders"}) == ["ran"]
    assert ids(owner="bob", metadata={"team": "shipping"}) == ["never-ran"]
    found = {t.thread_id: t for t in store.search_threads(ThreadQuery(), limit=50)}
    assert found["ran"].metadata == {"team": "billing", "graph_id": "orders", "n": 1}
    assert found["library"].metadata == {} and found["never-ran"].head_id is None
    assert store.count_threads(ThreadQuery(metadata={"team": "shipping"})) == 2


def test_a_sqlite_store_before_thread_search_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "old.db"
    _write_before_16(lambda: SqliteSaver(path), monkeypatch)
    with SqliteSaver(path) as store:
        _check(store)


@pytest.mark.postgres
def test_a_postgres_store_before_thread_search_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _write_before_16(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
    store = PostgresSaver(DSN, schema=schema)
    try:
        _check(store)
    finally:
        store.close()


class Order(TypedDict, total=False):
    item: str


def test_the_upgraded_threads_are_found_by_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "old.db"
    _write_before_16(lambda: SqliteSaver(path), monkeypatch)
    saver = SqliteSaver(path)
    g = il.StateGraph(Order)
    g.add_node("noop", lambda state: {})
    g.add_edge(il.START, "noop")
    app = create_app(
        {"orders": g.compile(checkpointer=saver, name="orders")},
        keys=ApiKeys.parse("k-bob=bob:requester;k-ada=ada:approver"),
    )
    with served(app) as http:
        url = str(http.base_url).rstrip("/")
        with get_sync_client(url=url, api_key="k-bob") as bob:
            found = bob.threads.search(metadata={"team": "shipping"})
            assert [t["thread_id"] for t in found] == ["never-ran"]  # rita's is not bob's
            (ran,) = bob.threads.search(metadata={"team": "billing"})
            assert ran["thread_id"] == "ran" and ran["metadata"]["n"] == 1
            assert bob.threads.get("ran")["metadata"] == ran["metadata"]
        with get_sync_client(url=url, api_key="k-ada") as ada:
            assert ada.threads.count(metadata={"team": "shipping"}) == 2
    saver.close()
