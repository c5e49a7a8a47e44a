"""The node caches themselves (`interlock.cache`): `InMemoryCache` and `SqliteCache` pass
the same checks — get/set/clear by namespace, time to live against an injected clock,
values serialised (fresh objects on every hit, unstorable values refused), async twins —
and the SQLite file's own schema version."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock import (
    AIMessage,
    CachePolicy,
    CacheRequired,
    Command,
    InvalidGraph,
    SchemaTooNew,
    Send,
    SerializationError,
    StateGraph,
)
from interlock.cache import BaseCache, InMemoryCache, JsonSerializer, SqliteCache

NS = ("__pregel_ns_writes", "mod.fn", "node")
OTHER = ("__pregel_ns_writes", "mod.other", "other")


class Clock:
    """Time that moves only when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Makes caches of one kind (SQLite ones on one file), closed afterwards."""
    made: list[Any] = []

    def build(clock: Clock | None = None) -> BaseCache[Any]:
        cache: BaseCache[Any]
        if request.param == "memory":
            cache = InMemoryCache(clock=clock)
        else:
            cache = SqliteCache(path=tmp_path / "cache.db", clock=clock)
        made.append(cache)
        return cache

    yield build
    for cache in made:
        if isinstance(cache, SqliteCache):
            cache.close()


def test_get_set_and_clear_by_namespace(make: Any) -> None:
    cache = make()
    assert cache.get([(NS, "k1")]) == {}
    cache.set({(NS, "k1"): ({"n": 1}, None), (NS, "k2"): ([1, 2], None)})
    cache.set({(OTHER, "k1"): ("o", None)})
    got = cache.get([(NS, "k1"), (NS, "k2"), (NS, "missing"), (OTHER, "k1")])
    assert got == {(NS, "k1"): {"n": 1}, (NS, "k2"): [1, 2], (OTHER, "k1"): "o"}
    cache.set({(NS, "k1"): ({"n": 2}, None)})  # replaced
    assert cache.get([(NS, "k1")]) == {(NS, "k1"): {"n": 2}}
    cache.clear([NS])
    assert cache.get([(NS, "k1"), (NS, "k2"), (OTHER, "k1")]) == {(OTHER, "k1"): "o"}
    cache.clear([])  # no namespaces named: nothing dropped
    assert cache.get([(OTHER, "k1")]) == {(OTHER, "k1"): "o"}
    cache.clear()
    assert cache.get([(OTHER, "k1")]) == {}


def test_an_entry_lives_for_its_ttl_on_the_cache_s_clock(make: Any) -> None:
    clock = Clock()
    cache = make(clock)
    cache.set({(NS, "short"): ("s", 10), (NS, "forever"): ("f", None), (NS, "zero"): ("z", 0)})
    assert cache.get([(NS, "short"), (NS, "forever"), (NS, "zero")]) == {
        (NS, "short"): "s",
        (NS, "forever"): "f",
    }  # ttl=0 is expired at once, as LangGraph's InMemoryCache has it
    clock.now += 9.999
    assert (NS, "short") in cache.get([(NS, "short")])
    clock.now += 0.001  # at its expiry: gone
    assert cache.get([(NS, "short"), (NS, "forever")]) == {(NS, "forever"): "f"}
    clock.now += 10**9
    assert cache.get([(NS, "forever")]) == {(NS, "forever"): "f"}
    cache.set({(NS, "short"): ("again", 5)})  # set anew: lives from now
    assert cache.get([(NS, "short")]) == {(NS, "short"): "again"}


def test_values_round_trip_typed_and_each_hit_is_a_fresh_copy(make: Any) -> None:
    cache = make()
    value = {
        "writes": [["messages", [AIMessage(content="hi", id="m1")]], ["pair", (1, 2)]],
        "goto": [Send("w", {"x": 1}), "b"],
        "cmd": Command(goto="x"),
        "raw": b"\x00\x01",
    }
    cache.set({(NS, "k"): (value, None)})
    first = cache.get([(NS, "k")])[(NS, "k")]
    assert first == value
    assert isinstance(first["writes"][0][1][0], AIMessage) and first["writes"][1][1] == (1, 2)
    first["writes"].clear()  # a node that mutates what it got changes no later hit
    assert cache.get([(NS, "k")])[(NS, "k")] == value


def test_an_unstorable_value_is_refused_and_nothing_is_stored(make: Any) -> None:
    cache = make()
    with pytest.raises(SerializationError):
        cache.set({(NS, "ok"): ("fine", None), (NS, "bad"): ({"lock": object()}, None)})
    assert cache.get([(NS, "ok"), (NS, "bad")]) == {}


def test_async_twins(make: Any) -> None:
    clock = Clock()
    cache = make(clock)

    async def go() -> list[Any]:
        await cache.aset({(NS, "k"): ("v", 5), (OTHER, "k"): ("o", None)})
        seen = [await cache.aget([(NS, "k"), (OTHER, "k")])]
        clock.now += 5
        seen.append(await cache.aget([(NS, "k"), (OTHER, "k")]))
        await cache.aclear([OTHER])
        seen.append(await cache.aget([(OTHER, "k")]))
        await cache.aset({(NS, "k"): ("v", None)})
        await cache.aclear()
        seen.append(await cache.aget([(NS, "k")]))
        return seen

    assert asyncio.run(go()) == [
        {(NS, "k"): "v", (OTHER, "k"): "o"},
        {(OTHER, "k"): "o"},
        {},
        {},
    ]


def test_many_keys_in_one_get(make: Any) -> None:
    """More keys than SQLite takes bound parameters in one statement."""
    cache = make()
    cache.set({(NS, f"k{i}"): (i, None) for i in range(1200)})
    got = cache.get([(NS, f"k{i}") for i in range(1300)])
    assert len(got) == 1200 and got[(NS, "k1199")] == 1199


# ---- SqliteCache's file ----------------------------------------------------------------------


def test_two_caches_on_one_file_share_entries(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SqliteCache(path=path) as a, SqliteCache(path=str(path)) as b:
        a.set({(NS, "k"): ({"n": 1}, None)})
        assert b.get([(NS, "k")]) == {(NS, "k"): {"n": 1}}
        b.clear([NS])
        assert a.get([(NS, "k")]) == {}


def test_expired_rows_are_deleted_when_met(tmp_path: Path) -> None:
    clock = Clock()
    with SqliteCache(path=tmp_path / "c.db", clock=clock) as cache:
        cache.set({(NS, "k"): ("v", 1)})
        clock.now += 1
        assert cache.get([(NS, "k")]) == {}
        assert cache.conn.execute("SELECT count(*) FROM cache").fetchone() == (0,)


def test_the_file_records_its_schema_version_and_refuses_a_newer_one(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    SqliteCache(path=path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
        conn.execute("PRAGMA user_version = 2")  # as a newer interlock would leave it
    conn.close()
    with pytest.raises(SchemaTooNew, match="schema version 2"):
        SqliteCache(path=path)


def test_a_row_another_serializer_wrote_is_a_miss(tmp_path: Path) -> None:
    """LangGraph's SqliteCache uses the same table with msgpack values: interlock reads
    such a row as missing (and overwrites it), never fails on it."""
    path = tmp_path / "c.db"
    with SqliteCache(path=path) as cache:
        cache.conn.execute(
            "INSERT INTO cache (ns, key, expiry, encoding, val) VALUES (?, ?, NULL, ?, ?)",
            (",".join(NS), "k", "msgpack", b"\x93\x01\x02\x03"),
        )
        assert cache.get([(NS, "k")]) == {}
        cache.set({(NS, "k"): ("mine", None)})
        assert cache.get([(NS, "k")]) == {(NS, "k"): "mine"}


def test_a_closed_cache_says_so(tmp_path: Path) -> None:
    cache = SqliteCache(path=tmp_path / "c.db")
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        cache.get([(NS, "k")])


def test_a_serializer_of_your_own(tmp_path: Path) -> None:
    """`serde=` takes LangGraph's serializer protocol (`dumps_typed` / `loads_typed`)."""

    class Upper(JsonSerializer):
        encoding = "upper-json"

    with SqliteCache(path=tmp_path / "c.db", serde=Upper()) as cache:
        cache.set({(NS, "k"): ("v", None)})
        assert cache.conn.execute("SELECT encoding FROM cache").fetchone() == ("upper-json",)
        assert cache.get([(NS, "k")]) == {(NS, "k"): "v"}


# ---- what compile() and add_node() accept ------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        {"ttl": 5},
        CachePolicy(ttl=-1),
        CachePolicy(ttl="5"),  # type: ignore[arg-type]
        CachePolicy(ttl=float("inf")),
        CachePolicy(key_func="x"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_cache_policy_is_refused_at_add_node(policy: Any) -> None:
    with pytest.raises(InvalidGraph, match="node 'a'"):
        StateGraph(dict).add_node("a", lambda s: {}, cache_policy=policy)


def test_compile_takes_an_interlock_cache_only() -> None:
    g = StateGraph(dict).add_node("a", lambda s: {}).add_edge("__start__", "a")
    with pytest.raises(InvalidGraph, match="cache takes an interlock cache"):
        g.compile(cache={})


def test_clear_cache_needs_a_cache() -> None:
    g = StateGraph(dict).add_node("a", lambda s: {}).add_edge("__start__", "a").compile()
    with pytest.raises(CacheRequired, match="No cache is set") as caught:
        g.clear_cache()
    assert isinstance(caught.value, ValueError)  # LangGraph raises a ValueError there
    with pytest.raises(CacheRequired):
        asyncio.run(g.aclear_cache(["a"]))
