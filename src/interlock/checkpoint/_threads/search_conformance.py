"""Thread metadata and search: the part of the store conformance suite for them
(`ThreadsConformance` includes it).

A SQL store reads a page either from a filter's index range or by walking the sort order
(`search_sql`); a store with a `range_cap` attribute is checked with caps that force each
way, and must answer the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from interlock.checkpoint._testkit import StoreTests, make_interrupt
from interlock.checkpoint._threads.search import ThreadQuery
from interlock.checkpoint.base import BaseSaver

__all__ = ["ThreadSearchConformance"]

_CAPS = (0, 2, 2_000)
"""Caps that make a SQL store walk every time, range on small filters, range on all."""


@contextmanager
def _cap(saver: BaseSaver, cap: int) -> Iterator[None]:
    before = getattr(saver, "range_cap", None), getattr(saver, "range_per_row", None)
    if before[0] is not None:
        saver.range_cap, saver.range_per_row = cap, 0  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if before[0] is not None:
            saver.range_cap, saver.range_per_row = before  # type: ignore[attr-defined]


class ThreadSearchConformance(StoreTests):
    """Search tests every store passes. Subclasses provide a `saver` fixture."""

    def _scene(self, saver: BaseSaver) -> None:
        """a..e have checkpoints; `fresh` has metadata only, `made` an owner only; `bare`
        only a lease (not a thread yet). b waits for a person; c is held by a run."""
        for name in ("a", "b", "c", "d", "e"):
            self._chain(saver, name, 1)
        saver.set_thread_metadata("a", {"graph_id": "orders", "user": "ada", "n": 1})
        saver.set_thread_metadata("b", {"graph_id": "orders", "user": "bob", "n": 2.5})
        saver.set_thread_metadata("c", {"graph_id": "orders", "user": "ada", "flag": True})
        saver.set_thread_metadata("d", {"graph_id": "notes", "deep": {"x": [1, {"y": 2}]}})
        saver.set_thread_metadata("fresh", {"graph_id": "orders", "user": "ada"})
        saver.set_thread_owner("made", "rita")
        saver.set_thread_owner("a", "rita")
        assert saver.acquire_thread("bare", "someone", ttl=60)
        saver.release_thread("bare", "someone")
        [head] = list(saver.list_checkpoints("b"))
        saver.put_task_writes(
            "b", "", head.checkpoint_id, [], [make_interrupt("b", head.checkpoint_id)]
        )
        assert saver.acquire_thread("c", "runner", ttl=60)

    def _ids(self, saver: BaseSaver, query: ThreadQuery, **page: int) -> list[str]:
        return [t.thread_id for t in saver.search_threads(query, **page)]

    def test_search_filters_every_way(self, saver: BaseSaver) -> None:
        self._scene(saver)
        expected: list[tuple[ThreadQuery, set[str]]] = [
            (ThreadQuery(), {"a", "b", "c", "d", "e", "fresh", "made"}),
            (ThreadQuery(metadata={"graph_id": "orders"}), {"a", "b", "c", "fresh"}),
            (ThreadQuery(metadata={"graph_id": "orders", "user": "ada"}), {"a", "c", "fresh"}),
            (ThreadQuery(metadata={"n": 1.0}), {"a"}),  # JSON does not tell 1 from 1.0
            (ThreadQuery(metadata={"n": 2.5}), {"b"}),
            (ThreadQuery(metadata={"flag": 1}), set()),  # true is not 1
            (ThreadQuery(metadata={"flag": True}), {"c"}),
            (ThreadQuery(metadata={"deep": {"x": [1, {"y": 2}]}}), {"d"}),
            (ThreadQuery(metadata={"deep": {"x": [1]}}), set()),  # whole values only
            (ThreadQuery(metadata={"user": "nobody"}), set()),
            (ThreadQuery(owner="rita"), {"a", "made"}),
            (ThreadQuery(owner="rita", metadata={"user": "ada"}), {"a"}),
            (ThreadQuery(pending=True), {"b"}),
            (ThreadQuery(pending=False), {"a", "c", "d", "e", "fresh", "made"}),
            (ThreadQuery(leased=True), {"c"}),
            (ThreadQuery(pending=False, leased=False), {"a", "d", "e", "fresh", "made"}),
            (ThreadQuery(pending=True, metadata={"graph_id": "orders"}), {"b"}),
            (ThreadQuery(owner="rita", pending=False), {"a", "made"}),
            (ThreadQuery(ids=("a", "b", "c"), pending=False, leased=False), {"a"}),
            (ThreadQuery(ids=("a", "d", "bare", "nobody")), {"a", "d"}),
            (ThreadQuery(ids=()), set()),
            (ThreadQuery(ids=("a", "b"), metadata={"user": "bob"}), {"b"}),
        ]
        for cap in _CAPS:
            with _cap(saver, cap):
                for query, want in expected:
                    found = self._ids(saver, query, limit=100)
                    assert sorted(found) == sorted(want), (cap, query)
                    assert saver.count_threads(query) == len(want), (cap, query)

    def test_search_sorts_and_pages(self, saver: BaseSaver) -> None:
        self._scene(saver)
        query = ThreadQuery(metadata={"graph_id": "orders"})
        for cap in _CAPS:
            with _cap(saver, cap):
                for sort_by in ("updated_at", "created_at", "thread_id"):
                    for descending in (True, False):
                        q = ThreadQuery(
                            metadata=query.metadata, sort_by=sort_by, descending=descending
                        )  # type: ignore[arg-type]
                        found = saver.search_threads(q, limit=100)
                        keys = [
                            t.thread_id if sort_by == "thread_id" else getattr(t, sort_by)
                            for t in found
                        ]
                        assert keys == sorted(keys, reverse=descending), (cap, sort_by)
                        pages = [self._ids(saver, q, limit=2, offset=at) for at in (0, 2, 4)]
                        listed = [t.thread_id for t in found]
                        assert [x for p in pages for x in p] == listed, (cap, sort_by)
                        assert pages[2] == []

    def test_search_results_are_summaries(self, saver: BaseSaver) -> None:
        self._scene(saver)
        found = {t.thread_id: t for t in saver.search_threads(ThreadQuery(), limit=100)}
        assert found["a"].metadata == {"graph_id": "orders", "user": "ada", "n": 1}
        assert found["a"].owner == "rita" and found["a"].head_id is not None
        assert found["b"].status == "interrupted" and found["c"].status == "busy"
        assert found["fresh"].head_id is None and found["fresh"].status == "idle"
        assert found["made"].metadata == {} and found["made"].owner == "rita"

    def test_metadata_is_replaced_and_goes_with_the_thread(self, saver: BaseSaver) -> None:
        self._scene(saver)
        saver.set_thread_metadata("a", {"graph_id": "notes"})
        assert sorted(self._ids(saver, ThreadQuery(metadata={"user": "ada"}))) == ["c", "fresh"]
        assert sorted(self._ids(saver, ThreadQuery(metadata={"graph_id": "notes"}))) == ["a", "d"]
        info = saver.get_thread("a")
        assert info is not None and info.metadata == {"graph_id": "notes"}
        saver.delete_thread("d")
        saver.delete_thread("fresh")
        assert self._ids(saver, ThreadQuery(metadata={"graph_id": "notes"})) == ["a"]
        assert "fresh" not in self._ids(saver, ThreadQuery(), limit=100)
        long = "x" * 5_000  # long keys and values are indexed by digest
        saver.set_thread_metadata("e", {long: long, "k": long})
        assert self._ids(saver, ThreadQuery(metadata={long: long, "k": long})) == ["e"]
        assert self._ids(saver, ThreadQuery(metadata={"k": long[:-1]})) == []
