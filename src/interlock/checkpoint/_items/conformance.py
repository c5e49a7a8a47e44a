"""Long-term memory items: the part of the store conformance suite for their room
(`SaverConformance` includes every part).

Expected orders and filter results are those LangGraph 1.2.22's stores give for the same
calls (searches newest write first as its SQLite and PostgreSQL stores order them;
namespaces in tuple order; filters as its `InMemoryStore` evaluates them), except where
the docstrings say interlock differs (labels holding `.`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from interlock.checkpoint._items.protocol import ItemWrite, StoredItem
from interlock.checkpoint._testkit import StoreTests
from interlock.checkpoint.base import BaseSaver
from interlock.errors import SerializationError

__all__ = ["ItemsConformance"]

AWKWARD = [
    ("a",),
    ("a", "b"),
    ("a", "b", "c"),
    ("a.b",),
    ("a", "b.c"),
    ("ab",),
    ("a%",),
    ("a_",),
    ("a/",),
    ("a", "/"),
    ("a", "%"),
    ("é", "日本"),
    (" ",),
    ("*",),
    ("a\x01",),
]
"""Labels a naive text encoding gets wrong: separators, LIKE wildcards, `/` (the character
after `.`), unicode, blanks."""


def _put(saver: BaseSaver, namespace: tuple[str, ...], key: str, value: dict) -> None:
    saver.put_items([ItemWrite(namespace=namespace, key=key, value=value)])


def _order(items: list[StoredItem]) -> list[StoredItem]:
    by_name = sorted(items, key=lambda i: (i.namespace, i.key))
    return sorted(by_name, key=lambda i: i.updated_at, reverse=True)


class ItemsConformance(StoreTests):
    """Item tests every store passes. Subclasses provide a `saver` fixture."""

    def test_put_get_replace_delete(self, saver: BaseSaver) -> None:
        assert saver.get_item(("u", "1"), "k") is None
        when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        _put(saver, ("u", "1"), "k", {"text": "likes tea", "at": when, "n": [1, 2]})
        first = saver.get_item(("u", "1"), "k")
        assert first is not None
        assert first.namespace == ("u", "1") and first.key == "k"
        assert first.value == {"text": "likes tea", "at": when, "n": [1, 2]}
        assert first.created_at == first.updated_at
        assert first.created_at.tzinfo is not None
        _put(saver, ("u", "1"), "k", {"text": "likes coffee"})
        second = saver.get_item(("u", "1"), "k")
        assert second is not None and second.value == {"text": "likes coffee"}
        assert second.created_at == first.created_at and second.updated_at >= first.updated_at
        assert saver.get_item(("u",), "k") is None and saver.get_item(("u", "1"), "K") is None
        saver.put_items([ItemWrite(namespace=("u", "1"), key="k", value=None)])
        assert saver.get_item(("u", "1"), "k") is None
        saver.put_items([ItemWrite(namespace=("u", "1"), key="k", value=None)])  # no error

    def test_a_batch_is_one_transaction_and_unstorable_values_write_nothing(
        self, saver: BaseSaver
    ) -> None:
        saver.put_items(
            [
                ItemWrite(namespace=("b",), key="x", value={"v": 1}),
                ItemWrite(namespace=("b",), key="y", value={"v": 2}),
                ItemWrite(namespace=("b",), key="x", value=None),
            ]
        )
        assert [i.key for i in saver.search_items(("b",))] == ["y"]
        with pytest.raises(SerializationError):
            saver.put_items(
                [
                    ItemWrite(namespace=("b",), key="z", value={"v": 3}),
                    ItemWrite(namespace=("b",), key="w", value={"v": object()}),
                ]
            )
        assert [i.key for i in saver.search_items(("b",))] == ["y"]

    def test_a_prefix_is_exactly_its_namespaces_whatever_the_labels(self, saver: BaseSaver) -> None:
        for n, namespace in enumerate(AWKWARD):
            _put(saver, namespace, f"k{n}", {"n": n})
        for prefix in [*AWKWARD, ("a", "b", "c", "d"), ("é",), ("b",)]:
            found = saver.search_items(prefix, limit=100)
            expected = [ns for ns in AWKWARD if ns[: len(prefix)] == prefix]
            assert sorted(i.namespace for i in found) == sorted(expected), prefix
        everything = saver.search_items((), limit=100)
        assert len(everything) == len(AWKWARD)
        assert everything == _order(everything)
        assert saver.list_item_namespaces() == sorted(AWKWARD)
        assert saver.list_item_namespaces(prefix=("a",)) == [
            ("a",),
            ("a", "%"),
            ("a", "/"),
            ("a", "b"),
            ("a", "b", "c"),
            ("a", "b.c"),
        ]

    def test_search_orders_newest_first_and_pages(self, saver: BaseSaver) -> None:
        for key in ["c", "a", "b"]:
            _put(saver, ("p", key), key, {"key": key})
        _put(saver, ("q",), "other", {})
        _put(saver, ("p", "c"), "c", {"key": "c", "again": True})
        found = saver.search_items(("p",))
        assert found == _order(found) and {i.key for i in found} == {"a", "b", "c"}
        newest = max(found, key=lambda i: i.updated_at)
        assert found[0].updated_at == newest.updated_at
        assert found[0].value.get("again") or found[0].updated_at == found[1].updated_at
        assert saver.search_items(("p",), limit=2) == found[:2]
        assert saver.search_items(("p",), limit=2, offset=2) == found[2:]
        assert saver.search_items(("p",), limit=0) == []
        assert saver.search_items(("p",), offset=5) == []

    def test_filters_as_langgraph_evaluates_them(self, saver: BaseSaver) -> None:
        _put(saver, ("f",), "one", {"x": 1, "n": 5, "tags": ["a", "b"], "who": {"k": 1}})
        _put(saver, ("f",), "two", {"x": 2, "n": 3, "who": {"k": 2, "m": 0}})
        _put(saver, ("f", "sub"), "three", {"x": 1, "n": "7"})
        _put(saver, ("g",), "four", {"x": 1, "n": 9})

        def keys(filter: dict) -> set[str]:
            return {i.key for i in saver.search_items(("f",), filter=filter)}

        assert keys({"x": 1}) == {"one", "three"}
        assert keys({"x": 1, "n": 5}) == {"one"}
        assert keys({"n": {"$gt": 4}}) == {"one", "three"}  # "7" counts as 7, as LangGraph
        assert keys({"n": {"$gte": 5, "$lt": 7}}) == {"one"}
        assert keys({"n": {"$lte": 3}}) == {"two"}
        assert keys({"n": {"$ne": 3}}) == {"one", "three"}
        assert keys({"n": {"$eq": 3}}) == {"two"}
        assert keys({"who": {"k": 1}}) == {"one"}
        assert keys({"tags": ["a", "b"]}) == {"one"}
        assert keys({"tags": ["a"]}) == set()
        assert keys({"missing": {"$gt": 1}}) == set()  # LangGraph's InMemoryStore raises
        assert keys({"missing": None}) == {"one", "two", "three"}
        assert keys({"x": 3}) == set()
        paged = saver.search_items(("f",), filter={"x": 1}, limit=1, offset=1)
        assert len(paged) == 1
        assert paged == saver.search_items(("f",), filter={"x": 1})[1:]

    def test_filters_page_past_many_rows(self, saver: BaseSaver) -> None:
        saver.put_items(
            [
                ItemWrite(namespace=("m",), key=f"k{i:03d}", value={"even": i % 2 == 0})
                for i in range(450)
            ]
        )
        evens = saver.search_items(("m",), filter={"even": True}, limit=1000)
        assert len(evens) == 225 and all(i.value["even"] for i in evens)
        assert evens == _order(evens)
        tail = saver.search_items(("m",), filter={"even": True}, limit=10, offset=220)
        assert tail == evens[220:]

    def test_list_namespaces_matches_cuts_and_pages(self, saver: BaseSaver) -> None:
        for namespace in [
            ("a",),
            ("a", "b"),
            ("a", "b", "c"),
            ("a", "x", "c"),
            ("b", "c"),
            ("users", "1", "memories"),
            ("users", "2", "memories"),
            ("users", "2", "prefs"),
        ]:
            _put(saver, namespace, "k", {})
        assert saver.list_item_namespaces(max_depth=1) == [("a",), ("b",), ("users",)]
        assert saver.list_item_namespaces(max_depth=2) == [
            ("a",),
            ("a", "b"),
            ("a", "x"),
            ("b", "c"),
            ("users", "1"),
            ("users", "2"),
        ]
        assert saver.list_item_namespaces(max_depth=0) == [()]
        assert saver.list_item_namespaces(suffix=("c",)) == [
            ("a", "b", "c"),
            ("a", "x", "c"),
            ("b", "c"),
        ]
        assert saver.list_item_namespaces(prefix=("a", "*", "c")) == [
            ("a", "b", "c"),
            ("a", "x", "c"),
        ]
        assert saver.list_item_namespaces(prefix=("*", "2")) == [
            ("users", "2", "memories"),
            ("users", "2", "prefs"),
        ]
        assert saver.list_item_namespaces(prefix=("users",), suffix=("memories",)) == [
            ("users", "1", "memories"),
            ("users", "2", "memories"),
        ]
        assert saver.list_item_namespaces(suffix=("memories",), max_depth=1) == [("users",)]
        assert saver.list_item_namespaces(prefix=("users",), max_depth=2, offset=1) == [
            ("users", "2")
        ]
        assert saver.list_item_namespaces(limit=2, offset=3) == [("a", "x", "c"), ("b", "c")]
        assert saver.list_item_namespaces(prefix=("zzz",)) == []
        assert saver.list_item_namespaces(limit=0) == []
