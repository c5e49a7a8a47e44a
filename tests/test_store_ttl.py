"""Expiry on interlock's long-term memory stores (in memory, SQLite, PostgreSQL), sync and
async: `ttl=` settings (minutes), `put(ttl=...)`, `refresh_ttl`, `sweep_ttl`, the sweeper
thread. Time is a fake clock, never a sleep.

Observed on LangGraph 1.2.22 (/tmp/benchvenv): `default_ttl` applies to a put without
`ttl`, `ttl=None` never expires, a store without ttl settings still honours `put(ttl=...)`
(its SQLite and PostgreSQL stores; its `InMemoryStore` raises `NotImplementedError`), its
PostgreSQL store restarts a TTL on every read unless told not to, `sweep_ttl()` returns how
many items it deleted, and `start_ttl_sweeper()` without settings returns a finished future.
Where interlock differs on purpose the test says so: an expired item is never returned
(LangGraph returns it until a sweep unless `omit_expired`), and TTLs are exact fractions of
minutes (its PostgreSQL store rounds `ttl_minutes` to whole minutes: 0.5 becomes 0)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _time
from interlock.store import BaseStore, PutOp
from interlock.store.memory import InMemoryStore
from tests._memory_stores import KINDS, Calls, open_store
from tests.fakes.openai_server import bag_of_words


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_time, "utc_now", fake)
    return fake


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _expires(store: Any, namespace: tuple[str, ...], key: str) -> datetime | None:
    found = store.items.get_item(namespace, key)
    return None if found is None else found.expires_at


def test_default_and_explicit_ttls_and_refresh_on_read(
    kind: str, mode: str, tmp_path: Path, clock: Clock
) -> None:
    with open_store(kind, tmp_path, ttl={"default_ttl": 10}) as store:
        calls = Calls(store, mode)
        start = clock.now
        calls.put(("m",), "default", {"v": 1})
        calls.put(("m",), "short", {"v": 2}, ttl=2)
        calls.put(("m",), "forever", {"v": 3}, ttl=None)
        assert _expires(store, ("m",), "default") == start + timedelta(minutes=10)
        assert _expires(store, ("m",), "short") == start + timedelta(minutes=2)
        assert _expires(store, ("m",), "forever") is None
        clock.advance(1.5)
        assert calls.get(("m",), "short").value == {"v": 2}  # refreshed: 2 minutes from now
        assert _expires(store, ("m",), "short") == clock.now + timedelta(minutes=2)
        clock.advance(1.5)
        assert calls.get(("m",), "short", refresh_ttl=False) is not None
        clock.advance(0.5)  # 2 minutes after the last refresh
        assert calls.get(("m",), "short") is None
        assert {i.key for i in calls.search(("m",))} == {"default", "forever"}
        assert _expires(store, ("m",), "default") == clock.now + timedelta(minutes=10)
        clock.advance(30)
        assert [i.key for i in calls.search(("m",))] == ["forever"]
        assert calls.list_namespaces() == [("m",)]
        assert store.sweep_ttl() == 2  # expired, never returned, now deleted too
        assert asyncio.run(store.asweep_ttl()) == 0


def test_reads_refresh_only_when_asked_if_the_settings_say_so(
    kind: str, mode: str, tmp_path: Path, clock: Clock
) -> None:
    settings = {"default_ttl": 1, "refresh_on_read": False}
    with open_store(kind, tmp_path, ttl=settings) as store:
        calls = Calls(store, mode)
        calls.put(("r",), "k", {"v": 1})
        clock.advance(0.5)
        calls.get(("r",), "k")
        calls.search(("r",))
        assert _expires(store, ("r",), "k") == clock.now + timedelta(minutes=0.5)
        calls.search(("r",), refresh_ttl=True)
        assert _expires(store, ("r",), "k") == clock.now + timedelta(minutes=1)
        clock.advance(0.75)
        assert calls.get(("r",), "k", refresh_ttl=True) is not None
        clock.advance(0.75)
        assert calls.get(("r",), "k") is not None  # the get above restarted it
        clock.advance(0.5)
        assert calls.get(("r",), "k") is None


def test_a_ttl_without_settings_and_expired_items_never_seen(
    kind: str, mode: str, tmp_path: Path, clock: Clock
) -> None:
    index = {"embed": lambda texts: [bag_of_words(t, 8) for t in texts], "dims": 8}
    with open_store(kind, tmp_path, index=index) as store:
        calls = Calls(store, mode)
        calls.put(("a", "x"), "gone", {"text": "tea"}, ttl=0.5)  # LangGraph's PG: 0 minutes
        calls.put(("a", "y"), "kept", {"text": "tea"})
        assert [i.key for i in calls.search(("a",), query="tea")] == ["gone", "kept"]
        clock.advance(0.5)
        # LangGraph (omit_expired unset) still returns "gone" here, until a sweep
        assert calls.get(("a", "x"), "gone") is None
        assert [i.key for i in calls.search(("a",))] == ["kept"]
        assert [i.key for i in calls.search(("a",), query="tea")] == ["kept"]
        assert calls.list_namespaces(prefix=("a",)) == [("a", "y")]
        calls.put(("a", "x"), "gone", {"text": "tea"})  # a new item, without expiry
        again = calls.get(("a", "x"), "gone")
        assert again.created_at == clock.now
        clock.advance(10_000)
        assert store.sweep_ttl() == 0


def test_bad_ttls_are_refused_and_write_nothing(kind: str, tmp_path: Path) -> None:
    with open_store(kind, tmp_path) as store:
        for bad in (0, -3, float("inf"), "10", True, 1e10, 1e13):
            with pytest.raises(ValueError, match="ttl is a number of minutes > 0"):
                store.put(("b",), "k", {"v": 1}, ttl=bad)
        with pytest.raises(ValueError, match=r"at most 525960000 \(1,000 years\)"):
            store.batch([PutOp(("b",), "early", {"v": 1}), PutOp(("b",), "k", {"v": 1}, ttl=1e10)])
        assert store.search(("b",)) == []
        store.put(("b",), "long", {"v": 1}, ttl=525_960_000)  # a thousand years will do
        assert store.get(("b",), "long") is not None
    for settings, message in [
        ({"default_ttl": 0}, "default_ttl is a number of minutes"),
        ({"default_ttl": 1e10}, "default_ttl is a number of minutes > 0 and at most"),
        ({"sweep_interval_minutes": 1e12}, "sweep_interval_minutes is a number of minutes"),
        ({"sweep_interval_minutes": -1}, "sweep_interval_minutes is a number"),
        ({"refresh_on_read": "yes"}, "refresh_on_read is True or False"),
        ({"default": 5}, r"unknown settings \['default'\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            InMemoryStore(ttl=settings)


def test_the_sweeper_thread(
    kind: str, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for sub in ("p", "s"):
        (tmp_path / sub).mkdir()
    with open_store(kind, tmp_path / "p") as plain:
        done = plain.start_ttl_sweeper()  # no ttl settings: nothing to run (as LangGraph)
        assert done.done() and done.result() is None and plain.stop_ttl_sweeper()
    settings = {"default_ttl": 1, "sweep_interval_minutes": 0.0005}  # every 30 ms
    with open_store(kind, tmp_path / "s", ttl=settings) as s:
        store: BaseStore = s
        swept: list[int] = []
        changed = threading.Condition()
        real = store.sweep_ttl  # type: ignore[attr-defined]
        failed: list[bool] = []

        def counting() -> int:
            if not failed:  # the first sweep fails: logged, and the thread goes on
                failed.append(True)
                raise RuntimeError("database hiccup")
            n = real()
            with changed:
                swept.append(n)
                changed.notify_all()
            return n

        monkeypatch.setattr(store, "sweep_ttl", counting)
        store.put(("s",), "old", {"v": 1})
        store.put(("s",), "new", {"v": 2}, ttl=60)
        clock.advance(5)
        future = store.start_ttl_sweeper()  # type: ignore[attr-defined]
        assert store.start_ttl_sweeper() is future  # type: ignore[attr-defined]
        with changed:
            assert changed.wait_for(lambda: sum(swept) >= 1, timeout=30)
        assert store.stop_ttl_sweeper(timeout=30)  # type: ignore[attr-defined]
        assert future.done()
        assert sum(swept) == 1 and real() == 0  # the thread deleted "old"
        assert [i.key for i in store.search(("s",))] == ["new"]


def test_closing_a_store_stops_its_sweeper(tmp_path: Path) -> None:
    from interlock.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "c.db", ttl={"default_ttl": 1, "sweep_interval_minutes": 60})
    future = store.start_ttl_sweeper()
    assert not future.done()
    store.close()
    assert future.done()
