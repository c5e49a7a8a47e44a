"""Migration 19 (`threads.revision`): a store written before it upgrades in place on SQLite
and PostgreSQL — its paused threads resume (on SQLite now with the lease taken by the
decision's own write), every write of a run raises the revision from there on, and an
interlock that does not know migration 19 refuses the upgraded store instead of writing
to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock.checkpoint import _sql_core
from interlock.errors import SchemaTooNew
from tests._release_store import migrations_before


class Order(TypedDict, total=False):
    item: str
    answer: Any


def _graph(store: Any, ran: list[str]) -> Any:
    def ask(state: Order) -> Order:
        ran.append(state["item"])
        return {"answer": il.interrupt({"ship": state["item"]})}

    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=store, name="orders")


def _cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def _write_before_19(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(19))
        old = open_store()
        try:
            assert 19 not in old.schema_versions()
            assert not old.defers_lease  # no revision to check a deferred lease against
            app = _graph(old, [])
            for thread in ("paused", "done"):
                assert app.invoke({"item": thread}, _cfg(thread))["__interrupt__"]
            app.invoke(il.Command(resume="yes"), _cfg("done"))
        finally:
            old.close()


def _revisions(store: Any) -> dict[str, int]:
    with store._read() as conn:
        rows = store._x(conn, "SELECT thread_id, revision FROM threads").fetchall()
    return {r[0]: int(r[1]) for r in rows}


def _check(store: Any, *, defers: bool) -> None:
    assert 19 in store.schema_versions()
    assert store.defers_lease is defers
    assert _revisions(store) == {"paused": 0, "done": 0}  # rows from before: revision 0
    ran: list[str] = []
    app = _graph(store, ran)
    out = app.invoke(il.Command(resume="ok"), _cfg("paused"))
    assert out["answer"] == "ok" and ran == ["paused"]
    revisions = _revisions(store)
    app.invoke({"item": "new"}, _cfg("new"))
    if not defers:  # PostgreSQL takes leases as before: nothing counts
        assert set(_revisions(store).values()) == {0}
        return
    assert revisions["paused"] >= 2 and revisions["done"] == 0  # the decision, the step
    assert _revisions(store)["new"] >= 1  # the pause raised it past the insert's 0


def _refused_by_an_older_interlock(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(19))
        with pytest.raises(SchemaTooNew, match=r"\[19\]"):
            open_store()


def test_a_sqlite_store_before_the_revision_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "old.db"
    _write_before_19(lambda: SqliteSaver(path), monkeypatch)
    with SqliteSaver(path) as store:
        _check(store, defers=True)
    _refused_by_an_older_interlock(lambda: SqliteSaver(path), monkeypatch)


@pytest.mark.postgres
def test_a_postgres_store_before_the_revision_upgrades(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _write_before_19(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
    store = PostgresSaver(DSN, schema=schema)
    try:
        _check(store, defers=False)
    finally:
        store.close()
    _refused_by_an_older_interlock(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
