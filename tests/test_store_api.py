"""`interlock.store`: LangGraph's `BaseStore` API over interlock's stores (in memory, SQLite,
PostgreSQL, and `store_of(saver)`), sync and async.

Expected values come from running the same calls on LangGraph 1.2.22's `InMemoryStore` /
`SqliteStore` (/tmp/benchvenv): result shapes, namespace lists, filter results, the errors
for bad namespaces; search order is newest write first, as its SQLite and PostgreSQL stores
give it. Where interlock differs on purpose (labels may hold `.`; `query=` and `index=` on a
store made without an index raise `StoreFeatureUnsupported`; `created_at` is kept when a key
is written again) the test says so. Semantic search and expiry: tests/test_store_search.py,
tests/test_store_ttl.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock.errors import (
    InvalidNamespaceError,
    SerializationError,
    StoreFeatureUnsupported,
)
from interlock.store import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
    store_of,
)
from interlock.store.memory import InMemoryStore
from interlock.store.sqlite import SqliteStore
from tests.conftest import SAVERS, make_saver

KINDS = ["memory", "sqlite", *(["postgres"] if "postgres" in SAVERS else []), "saver"]


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    """Each store kind; `saver`: `store_of` a SQLite saver."""
    kind = request.param
    if kind == "memory":
        yield InMemoryStore()
    elif kind == "sqlite":
        with SqliteStore.from_conn_string(str(tmp_path / "memory.db")) as s:
            s.setup()
            yield s
    elif kind == "postgres":
        from interlock.store.postgres import PostgresStore
        from tests.pg import DSN, new_schema

        with PostgresStore.from_conn_string(DSN, schema=new_schema()) as p:
            p.setup()
            yield p
    else:
        saver = make_saver("sqlite", tmp_path)
        try:
            yield store_of(saver)
        finally:
            saver.close()


class Calls:
    """The store API, called sync or async with the same arguments."""

    def __init__(self, store: BaseStore, mode: str) -> None:
        self.store, self.mode = store, mode

    def __getattr__(self, name: str) -> Any:
        if self.mode == "sync":
            return getattr(self.store, name)
        method = getattr(self.store, "a" + name)
        return lambda *a, **kw: asyncio.run(method(*a, **kw))


@pytest.fixture(params=["sync", "async"])
def calls(request: pytest.FixtureRequest, store: BaseStore) -> Calls:
    return Calls(store, request.param)


def test_put_get_search_delete_as_langgraph(calls: Calls) -> None:
    calls.put(("users", "ada"), "m1", {"text": "likes tea", "n": 5})
    calls.put(("users", "ada"), "m2", {"text": "plays chess", "n": 3})
    calls.put(("users", "bo"), "m1", {"text": "likes jazz", "n": "7"})
    calls.put(("docs",), "d", {"text": "other"})
    item = calls.get(("users", "ada"), "m1")
    assert isinstance(item, Item) and not isinstance(item, SearchItem)
    assert set(item.dict()) == {"namespace", "key", "value", "created_at", "updated_at"}
    assert item.dict()["namespace"] == ["users", "ada"] and item.key == "m1"
    assert item.value == {"text": "likes tea", "n": 5}
    assert calls.get(("users", "ada"), "nope") is None
    found = calls.search(("users",))
    assert {(i.namespace, i.key) for i in found} == {
        (("users", "ada"), "m1"),
        (("users", "ada"), "m2"),
        (("users", "bo"), "m1"),
    }
    assert all(isinstance(i, SearchItem) and i.score is None for i in found)
    assert [i.updated_at for i in found] == sorted((i.updated_at for i in found), reverse=True)
    assert "score" in found[0].dict()
    assert {i.value["text"] for i in calls.search(("users",), filter={"n": {"$gt": 4}})} == {
        "likes tea",
        "likes jazz",
    }
    assert len(calls.search((), limit=2)) == 2 and len(calls.search((), limit=10)) == 4
    assert calls.list_namespaces() == [("docs",), ("users", "ada"), ("users", "bo")]
    assert calls.list_namespaces(max_depth=1) == [("docs",), ("users",)]
    assert calls.list_namespaces(prefix=("users",), suffix=("bo",)) == [("users", "bo")]
    calls.delete(("users", "ada"), "m1")
    assert calls.get(("users", "ada"), "m1") is None
    calls.put(("users", "ada"), "m2", None)  # LangGraph: a put of None deletes
    assert calls.list_namespaces(prefix=("users",)) == [("users", "bo")]


def test_writing_again_replaces_the_value_and_keeps_created_at(calls: Calls) -> None:
    # (LangGraph's PostgresStore keeps created_at, as interlock; its InMemoryStore and
    # SqliteStore reset it)
    calls.put(("u",), "k", {"v": 1})
    first = calls.get(("u",), "k")
    calls.put(("u",), "k", {"v": 2})
    second = calls.get(("u",), "k")
    assert second.value == {"v": 2} and second.created_at == first.created_at
    assert second.updated_at >= first.updated_at


def test_labels_may_hold_any_character(calls: Calls) -> None:
    # LangGraph refuses "." in labels (its SQL stores join labels with "."); interlock
    # stores each label whole, so ("a.b",) and ("a", "b") stay apart
    calls.put(("a.b",), "k", {"which": "dotted"})
    calls.put(("a", "b"), "k", {"which": "nested"})
    calls.put(("a%", "_"), "k", {"which": "wild"})
    calls.put(("ü", "日本", "/"), "k", {"which": "unicode"})
    assert [i.value["which"] for i in calls.search(("a",))] == ["nested"]
    assert [i.value["which"] for i in calls.search(("a.b",))] == ["dotted"]
    assert [i.value["which"] for i in calls.search(("a%",))] == ["wild"]
    assert calls.get(("ü", "日本", "/"), "k").value == {"which": "unicode"}
    assert calls.list_namespaces() == [("a", "b"), ("a%", "_"), ("a.b",), ("ü", "日本", "/")]


@pytest.mark.parametrize(
    ("namespace", "match"),
    [
        ((), "cannot be empty"),
        (("",), "empty strings"),
        (("a", 1), "must be strings"),
        (("langgraph", "x"), "langgraph"),
        (("a\x00",), "NUL"),
        ("users", "tuple of labels"),
    ],
)
def test_bad_namespaces_are_refused(store: BaseStore, namespace: Any, match: str) -> None:
    with pytest.raises(InvalidNamespaceError, match=match):
        store.put(namespace, "k", {"v": 1})
    assert isinstance(InvalidNamespaceError("x"), ValueError)  # as LangGraph's
    assert store.list_namespaces() == []


def test_bad_calls_raise_and_change_nothing(calls: Calls, store: BaseStore) -> None:
    calls.put(("u",), "keep", {"v": 1})
    with pytest.raises(TypeError, match="value is a dict"):
        calls.put(("u",), "k", ["not", "a", "dict"])
    with pytest.raises(TypeError, match="key is a string"):
        calls.put(("u",), 7, {"v": 1})
    with pytest.raises(SerializationError):
        calls.put(("u",), "k", {"v": object()})
    with pytest.raises(ValueError, match=r"unsupported filter operator '\$foo'"):
        calls.search(("u",), filter={"v": {"$foo": 1}})
    with pytest.raises(ValueError, match="limit must be"):
        calls.search(("u",), limit=-1)
    with pytest.raises(ValueError, match="offset must be"):
        calls.list_namespaces(offset=-2)
    with pytest.raises(StoreFeatureUnsupported, match="semantic search"):
        calls.search(("u",), query="tea")
    with pytest.raises(StoreFeatureUnsupported, match="semantic search"):
        calls.put(("u",), "k", {"text": "x"}, index=["text"])
    for bad in (0, -1, float("nan"), "5", True):
        with pytest.raises(ValueError, match="ttl is a number of minutes > 0"):
            calls.put(("u",), "k", {"v": 1}, ttl=bad)
    calls.put(("u",), "ok", {"v": 1}, index=False, ttl=None)  # the no-op values pass
    # a bad operation in a batch: nothing before it is written either
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp(("u",), "early", {"v": 1}), PutOp(("",), "bad", {"v": 1})])
    assert {i.key for i in calls.search(("u",))} == {"keep", "ok"}


def test_batch_runs_every_operation_in_order(store: BaseStore) -> None:
    results = store.batch(
        [
            PutOp(("b", "1"), "x", {"v": 1}),
            PutOp(("b", "2"), "y", {"v": 2}),
            GetOp(("b", "1"), "x"),
            SearchOp(("b",), filter={"v": 2}),
            ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("b",)),)),
            PutOp(("b", "1"), "x", None),
            GetOp(("b", "1"), "x"),
        ]
    )
    assert results[:2] == [None, None]
    assert isinstance(results[2], Item) and results[2].value == {"v": 1}
    assert [i.key for i in results[3]] == ["y"]  # type: ignore[union-attr]
    assert results[4] == [("b", "1"), ("b", "2")]
    assert results[5:] == [None, None]
    again = asyncio.run(store.abatch([GetOp(("b", "2"), "y"), GetOp(("b", "1"), "x")]))
    assert again[0] is not None and again[0].value == {"v": 2} and again[1] is None
    with pytest.raises(TypeError, match="unknown store operation"):
        store.batch([("b", "x")])  # type: ignore[list-item]


def test_a_value_that_cannot_be_stored_fails_the_whole_batch(store: BaseStore) -> None:
    # a put that cannot be stored is refused before any operation of its batch runs, even
    # a put in an earlier transaction (a read between them splits the puts)
    ops = [
        PutOp(("b",), "early", {"v": 1}),
        GetOp(("b",), "early"),
        PutOp(("b",), "bad", {"v": object()}),
    ]
    for run in (store.batch, lambda o: asyncio.run(store.abatch(o))):
        with pytest.raises(SerializationError, match=r"item 'bad'\.v"):
            run(ops)
        assert store.search(("b",)) == []


def test_bad_search_and_ttl_settings_are_refused_before_opening(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dims must be a whole number"):
        InMemoryStore(index={"dims": 0, "embed": lambda texts: [[0.0, 1.0] for _ in texts]})
    with pytest.raises(ValueError, match="default_ttl is a number of minutes"):
        SqliteStore(tmp_path / "x.db", ttl={"default_ttl": -5})
    with pytest.raises(ValueError, match=r"unknown settings \['text_fields'\]"):
        SqliteStore(tmp_path / "x.db", index={"dims": 2, "embed": len, "text_fields": ["a"]})
    with pytest.raises(StoreFeatureUnsupported, match="cosine"):
        SqliteStore(tmp_path / "x.db", index={"dims": 2, "embed": len, "distance_type": "l2"})
    assert not (tmp_path / "x.db").exists()  # refused before opening anything
    # LangGraph's PostgresStore settings for pgvector's index: taken, the ranking stays exact
    ann = {"kind": "hnsw", "vector_type": "halfvec", "m": 16}
    index = {"dims": 2, "embed": lambda t: [[1.0, len(x)] for x in t], "ann_index_config": ann}
    assert InMemoryStore(index=index).index_config == index
    with pytest.raises(TypeError, match="not a sqlite3 connection"):
        SqliteStore(sqlite3.connect(":memory:"))  # type: ignore[arg-type]


def test_a_sqlite_store_shares_the_savers_file(tmp_path: Path) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "one.db"
    with SqliteSaver(path) as saver, SqliteStore(path) as store:
        store.put(("users", "ada"), "m", {"text": "hi"})
        item = store_of(saver).get(("users", "ada"), "m")
        assert item is not None and item.value == {"text": "hi"}
        shared = SqliteStore(saver)
        shared.put(("users", "bo"), "m", {"text": "yo"})
        shared.close()  # does not close the saver it was given
        assert saver.get_thread("none") is None
        assert [n for n in store.list_namespaces()] == [("users", "ada"), ("users", "bo")]
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT namespace, value FROM store_items ORDER BY prefix").fetchall()
    assert rows == [('["users","ada"]', '{"text":"hi"}'), ('["users","bo"]', '{"text":"yo"}')]


class Plain(BaseStore):
    """A store of the user's own that does not honour TTLs (`supports_ttl` False), as
    LangGraph's `BaseStore` subclasses may be."""

    def __init__(self) -> None:
        self.inner = InMemoryStore()
        self.ops: list[Any] = []

    def batch(self, ops: Any) -> list[Any]:
        ops = list(ops)
        self.ops += ops
        return self.inner.batch(
            [op._replace(ttl=None) if isinstance(op, PutOp) else op for op in ops]
        )

    async def abatch(self, ops: Any) -> list[Any]:
        return self.batch(ops)


def test_a_ttl_on_a_store_without_ttls_is_a_specific_error() -> None:
    plain = Plain()
    assert not plain.supports_ttl
    for put in (plain.put, lambda *a, **kw: asyncio.run(plain.aput(*a, **kw))):
        with pytest.raises(StoreFeatureUnsupported, match=r"Plain does not support ttl=5") as e:
            put(("u",), "k", {"v": 1}, ttl=5)
        assert "ttl=None" in str(e.value)  # says what to do
        assert isinstance(e.value, NotImplementedError)  # what LangGraph raises there
    assert plain.ops == []  # refused before the store saw it
    plain.put(("u",), "k", {"v": 1}, ttl=None)
    plain.put(("u",), "j", {"v": 2})
    assert [op.ttl for op in plain.ops] == [None, None]
    assert {i.key for i in plain.search(("u",))} == {"k", "j"}
