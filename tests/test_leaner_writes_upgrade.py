"""Migration 17 (fewer pages per pause and decision): a store written before it upgrades in
place on SQLite and PostgreSQL — its paused threads resume, its inbox filters still find
their requests, its audit chains go on and verify, deleting a thread still removes its
pending approvers — and what the migration makes smaller really is smaller."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock.checkpoint import _sql_core
from interlock.checkpoint._audit.verify import verify_store
from tests._release_store import migrations_before


class Order(TypedDict, total=False):
    item: str
    answer: Any


def _graph(store: Any) -> Any:
    def ask(state: Order) -> Order:
        return {"answer": il.interrupt({"ship": state["item"]}, approvers=["ada", "role:admin"])}

    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=store, name="orders")


def _as(thread: str, user: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "user_id": user}}


def _write_before_17(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(17))
        old = open_store()
        try:
            assert 17 not in old.schema_versions()
            app = _graph(old)
            for thread in ("kept", "deleted", "untouched"):
                out = app.invoke({"item": thread}, _as(thread, "rita"))
                assert out["__interrupt__"]
        finally:
            old.close()


def _check(store: Any) -> None:
    assert 17 in store.schema_versions()
    pending = store.list_interrupts(status="pending", limit=10).items
    assert sorted(p.thread_id for p in pending) == ["deleted", "kept", "untouched"]
    by_rita = store.list_interrupts(requested_by="rita", limit=10).items
    assert len(by_rita) == 3
    for who in (["ada"], ["role:admin"]):
        assert len(store.list_interrupts(eligible=who, limit=10).items) == 3
    assert store.list_interrupts(eligible=["bob"], limit=10).items == ()

    app = _graph(store)
    done = app.invoke(il.Command(resume="yes"), _as("kept", "ada"))
    assert done == {"item": "kept", "answer": "yes"}
    store.delete_thread("deleted")
    left = store.list_interrupts(eligible=["ada"], limit=10).items
    assert [p.thread_id for p in left] == ["untouched"]  # the deleted thread's rows are gone
    again = app.invoke({"item": "new"}, _as("fresh", "rita"))  # a pause after the upgrade
    assert again["__interrupt__"]
    assert len(store.list_interrupts(eligible=["role:admin"], limit=10).items) == 2
    report = verify_store(store, [])
    assert report.problems == [] and report.chains >= 3  # old and new entries chain on


def test_a_sqlite_store_before_leaner_writes_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "old.db"
    _write_before_17(lambda: SqliteSaver(path), monkeypatch)
    with SqliteSaver(path) as store:
        _check(store)
    with sqlite3.connect(path) as db:
        tables = dict(db.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'table'"))
    for table in ("pending_approvers", "heads", "audit_chains"):
        assert tables[table].rstrip().endswith("WITHOUT ROWID"), tables[table]
    assert not [name for name in tables if name.endswith("_rebuilt")]


@pytest.mark.postgres
def test_a_postgres_store_before_leaner_writes_upgrades(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _write_before_17(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
    store = PostgresSaver(DSN, schema=schema)
    try:
        _check(store)
    finally:
        store.close()


def _entries(path: Path, index: str) -> int:
    """Rows in `index` (the cells of its leaf pages)."""
    with sqlite3.connect(path) as db:
        (n,) = db.execute(
            "SELECT COALESCE(SUM(ncell), 0) FROM dbstat WHERE name = ? AND pagetype = 'leaf'",
            (index,),
        ).fetchone()
    return int(n)


def test_a_library_round_trip_writes_no_row_no_query_can_find(tmp_path: Path) -> None:
    """A thread made by the library has no owner and its requests no requester: the
    indexes of owners and requesters get no row for them (each would be a page written on
    every commit of the thread), while the service's threads and requests still get theirs."""
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "s.db"
    with SqliteSaver(path) as store:
        app = _graph(store)
        for n in range(20):
            thread = {"configurable": {"thread_id": f"lib-{n}"}}
            app.invoke({"item": "x"}, thread)
            app.invoke(il.Command(resume="yes"), thread)
        assert _entries(path, "threads_owner") == 0
        assert _entries(path, "interrupts_requester") == 0
        assert _entries(path, "threads") == 20 and _entries(path, "interrupts_agent") == 20
        app.invoke({"item": "x"}, _as("svc", "rita"))
        store.set_thread_owner("svc", "rita")
        assert _entries(path, "threads_owner") == 1
        assert _entries(path, "interrupts_requester") == 1
