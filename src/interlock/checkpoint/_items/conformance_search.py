"""Long-term memory items: the part of the store conformance suite for vectors (semantic
search) and expiry (`SaverConformance` includes it).

Times are driven by a fake clock (`interlock.checkpoint._time.utc_now` replaced), never by
sleeping. Scores are cosine similarities computed by hand for the small vectors used."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from interlock.checkpoint import _time
from interlock.checkpoint._items.protocol import ItemWrite
from interlock.checkpoint._testkit import StoreTests
from interlock.checkpoint.base import BaseSaver
from interlock.errors import EmbeddingError

__all__ = ["ItemSearchConformance"]


class Clock:
    """The time the items room reads; `advance` moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _put(
    saver: BaseSaver,
    namespace: tuple[str, ...],
    key: str,
    value: dict | None = None,
    *,
    vectors: tuple[tuple[str, list[float]], ...] = (),
    ttl: float | None = None,
) -> None:
    write = ItemWrite(
        namespace=namespace, key=key, value=value or {"k": key}, vectors=vectors, ttl=ttl
    )
    saver.put_items([write])


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.hypot(*a) * math.hypot(*b))


class ItemSearchConformance(StoreTests):
    """Vector and expiry tests every store passes. Subclasses provide a `saver` fixture."""

    @pytest.fixture
    def clock(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
        clock = Clock()
        monkeypatch.setattr(_time, "utc_now", clock)
        yield clock

    def test_a_query_ranks_items_by_their_best_vector(self, saver: BaseSaver) -> None:
        _put(saver, ("d",), "east", vectors=(("text", [1.0, 0.0, 0.0]),))
        _put(saver, ("d",), "north", vectors=(("text", [0.0, 1.0, 0.0]),))
        _put(saver, ("d",), "both", vectors=(("a", [0.0, 0.0, 1.0]), ("b", [3.0, 1.0, 0.0])))
        _put(saver, ("d", "sub"), "deep", vectors=(("text", [2.0, 2.0, 0.0]),))
        _put(saver, ("d",), "plain")  # no vectors: never found by a query
        _put(saver, ("e",), "elsewhere", vectors=(("text", [1.0, 0.0, 0.0]),))
        query = [1.0, 0.2, 0.0]
        found = saver.search_items(("d",), query=query)
        assert [i.key for i in found] == ["both", "east", "deep", "north"]
        expected = [
            _cos(query, [3.0, 1.0, 0.0]),  # the better of its two vectors
            _cos(query, [1.0, 0.0, 0.0]),
            _cos(query, [2.0, 2.0, 0.0]),
            _cos(query, [0.0, 1.0, 0.0]),
        ]
        assert [i.score for i in found] == pytest.approx(expected, rel=1e-6)
        assert found[0].value == {"k": "both"} and found[2].namespace == ("d", "sub")
        assert [i.key for i in saver.search_items(("d",), query=query, limit=2)] == [
            "both",
            "east",
        ]
        paged = saver.search_items(("d",), query=query, limit=2, offset=1)
        assert [i.key for i in paged] == ["east", "deep"]
        assert saver.search_items(("d",), query=query, limit=0) == []
        assert {i.key for i in saver.search_items((), query=query, limit=50)} == {
            "both",
            "east",
            "deep",
            "north",
            "elsewhere",
        }
        assert all(i.score is None for i in saver.search_items(("d",)))  # no query: no score

    def test_a_query_and_a_filter_together(self, saver: BaseSaver) -> None:
        for n in range(5):
            vector = [1.0, float(n)]
            _put(saver, ("f",), f"k{n}", {"n": n, "even": n % 2 == 0}, vectors=(("v", vector),))
        found = saver.search_items(("f",), query=[1.0, 0.0], filter={"even": True})
        assert [i.key for i in found] == ["k0", "k2", "k4"]  # closest to [1, 0] first
        found = saver.search_items(("f",), query=[0.0, 1.0], filter={"n": {"$gte": 1}}, offset=1)
        assert [i.key for i in found] == ["k3", "k2", "k1"]

    def test_ties_and_zero_vectors(self, saver: BaseSaver) -> None:
        _put(saver, ("t", "b"), "x", vectors=(("v", [1.0, 2.0]),))
        _put(saver, ("t", "a"), "y", vectors=(("v", [1.0, 2.0]),))
        _put(saver, ("t", "a"), "x", vectors=(("v", [1.0, 2.0]),))
        _put(saver, ("t",), "zero", vectors=(("v", [0.0, 0.0]),))
        found = saver.search_items(("t",), query=[1.0, 1.0])
        assert [(i.namespace, i.key) for i in found] == [
            (("t", "a"), "x"),  # equal scores: by namespace, then key
            (("t", "a"), "y"),
            (("t", "b"), "x"),
            (("t",), "zero"),
        ]
        assert found[-1].score == 0.0
        assert [i.score for i in saver.search_items(("t",), query=[0.0, 0.0])] == [0.0] * 4

    def test_writing_an_item_replaces_its_vectors(self, saver: BaseSaver) -> None:
        _put(saver, ("r",), "k", vectors=(("a", [1.0, 0.0]), ("b", [0.0, 1.0])))
        _put(saver, ("r",), "k", vectors=(("a", [0.0, 1.0]),))  # field b is gone
        [found] = saver.search_items(("r",), query=[1.0, 0.0])
        assert found.score == pytest.approx(0.0)
        _put(saver, ("r",), "k")  # written without vectors: no longer found by a query
        assert saver.search_items(("r",), query=[1.0, 0.0]) == []
        _put(saver, ("r",), "k", vectors=(("a", [1.0, 0.0]),))
        saver.put_items([ItemWrite(namespace=("r",), key="k", value=None)])
        _put(saver, ("r",), "k")  # written again after a delete: its old vectors are gone
        assert saver.search_items(("r",), query=[1.0, 0.0]) == []

    def test_a_changed_dims_is_a_clear_error(self, saver: BaseSaver) -> None:
        _put(saver, ("x",), "k", vectors=(("v", [1.0, 0.0]),))
        with pytest.raises(EmbeddingError, match="dims changed"):
            saver.search_items(("x",), query=[1.0, 0.0, 0.0])

    def test_expired_items_are_never_read_and_a_sweep_deletes_them(
        self, saver: BaseSaver, clock: Clock
    ) -> None:
        _put(saver, ("x", "a"), "soon", vectors=(("v", [1.0]),), ttl=1)
        _put(saver, ("x", "b"), "later", ttl=10)
        _put(saver, ("x", "a"), "never", vectors=(("v", [1.0]),))
        soon = saver.get_item(("x", "a"), "soon")
        assert soon is not None and soon.ttl == 1
        assert soon.expires_at == clock.now + timedelta(minutes=1)
        clock.advance(seconds=59)
        assert saver.get_item(("x", "a"), "soon") is not None
        clock.advance(seconds=1)  # expired at exactly its time
        assert saver.get_item(("x", "a"), "soon") is None
        assert {i.key for i in saver.search_items(("x",))} == {"later", "never"}
        assert [i.key for i in saver.search_items(("x",), query=[1.0])] == ["never"]
        assert saver.list_item_namespaces() == [("x", "a"), ("x", "b")]
        clock.advance(minutes=10)
        assert saver.list_item_namespaces() == [("x", "a")]  # only expired items in x.b
        assert saver.sweep_items() == 2
        assert saver.sweep_items() == 0
        assert [i.key for i in saver.search_items((), limit=50)] == ["never"]

    def test_an_expired_key_written_again_is_new(self, saver: BaseSaver, clock: Clock) -> None:
        _put(saver, ("n",), "k", ttl=1)
        first = saver.get_item(("n",), "k")
        clock.advance(minutes=5)
        _put(saver, ("n",), "k")  # no TTL now
        again = saver.get_item(("n",), "k")
        assert first is not None and again is not None
        assert again.created_at == clock.now != first.created_at
        assert again.expires_at is None and again.ttl is None
        clock.advance(minutes=1)
        _put(saver, ("n",), "k", {"v": 2}, ttl=3)  # alive: keeps its created_at
        third = saver.get_item(("n",), "k")
        assert third is not None and third.created_at == again.created_at
        assert third.expires_at == clock.now + timedelta(minutes=3)

    def test_a_read_may_restart_the_ttl(self, saver: BaseSaver, clock: Clock) -> None:
        _put(saver, ("r",), "k", ttl=2)
        _put(saver, ("r",), "forever")
        clock.advance(minutes=1.5)
        plain = saver.get_item(("r",), "k")
        assert plain is not None and plain.expires_at == clock.now + timedelta(minutes=0.5)
        fresh = saver.get_item(("r",), "k", refresh=True)
        assert fresh is not None and fresh.expires_at == clock.now + timedelta(minutes=2)
        clock.advance(minutes=1.5)
        assert saver.get_item(("r",), "k") is not None  # it would have expired unrefreshed
        found = saver.search_items(("r",), refresh=True)
        assert {i.key for i in found} == {"k", "forever"}
        clock.advance(minutes=1.5)
        assert saver.get_item(("r",), "k") is not None  # the search restarted it too
        assert saver.get_item(("r",), "forever", refresh=True) is not None
        clock.advance(minutes=2)
        assert saver.get_item(("r",), "k", refresh=True) is None  # too late
        assert saver.sweep_items() == 1

    def test_a_query_pages_past_many_items(self, saver: BaseSaver, clock: Clock) -> None:
        writes = [
            ItemWrite(
                namespace=("p",),
                key=f"k{i:03d}",
                value={"i": i, "seventh": i % 7 == 0},
                vectors=(("v", [1.0, i / 450]),),
                ttl=1 if i % 5 == 0 else None,
            )
            for i in range(450)
        ]
        saver.put_items(writes)
        clock.advance(minutes=2)  # every fifth item has expired
        alive = [i for i in range(450) if i % 5]
        best = sorted(alive, key=lambda i: -_cos([0.0, 1.0], [1.0, i / 450]))
        found = saver.search_items(("p",), query=[0.0, 1.0], limit=300)
        assert [i.value["i"] for i in found] == best[:300]
        sevenths = [i for i in best if i % 7 == 0]
        found = saver.search_items(
            ("p",), query=[0.0, 1.0], filter={"seventh": True}, limit=30, offset=20
        )
        assert [i.value["i"] for i in found] == sevenths[20:50]
