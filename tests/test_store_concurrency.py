"""Long-term memory items written by several transactions at once on PostgreSQL: two puts
of one key, a put or a delete racing the TTL sweep, each interleaved statement by statement;
and a filtered search whose pages (each its own snapshot) straddle a write.

The first transaction is held after its first statement until the second one has either
finished or is waiting for a row lock (seen in `pg_stat_activity`), so the interleaving is
the same on every run; then both must succeed and leave the item as the last one wrote it,
with that write's vectors. (SQLite and the in-memory store run one write at a time.)"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.checkpoint import _time
from interlock.checkpoint._items.protocol import ItemWrite
from tests.conftest import SAVERS

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off"),
]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_time, "utc_now", fake)
    return fake


@pytest.fixture
def saver() -> Iterator[Any]:
    from tests.pg import fresh_postgres_saver

    s = fresh_postgres_saver()
    try:
        yield s
    finally:
        s.close()


class Interleave:
    """Runs `first` and `second` in two threads: `first` stops after its first SQL
    statement until `second` is done or waits for a lock, then goes on."""

    def __init__(self, saver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.saver = saver
        self.held = threading.Event()
        self.release = threading.Event()
        self.second_done = threading.Event()
        self.second_pid: list[int] = []
        self.roles: dict[int, str] = {}
        self.statements = 0
        real = saver._x

        def x(conn: Any, text: str, params: Any = ()) -> Any:
            role = self.roles.get(threading.get_ident())
            if role == "second" and not self.second_pid:
                self.second_pid.append(conn.info.backend_pid)
            out = real(conn, text, params)
            if role == "first":
                self.statements += 1
                if self.statements == 1:
                    self.held.set()
                    assert self.release.wait(30), "the second transaction never got going"
            return out

        monkeypatch.setattr(saver, "_x", x)

    def _waiting(self) -> bool:
        import psycopg

        from tests.pg import DSN

        with psycopg.connect(DSN, autocommit=True) as conn:
            row = conn.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                (self.second_pid[0],),
            ).fetchone()
        return row is not None and row[0] == "Lock"

    def run(self, first: Callable[[], Any], second: Callable[[], Any]) -> dict[str, Any]:
        outcome: dict[str, Any] = {}

        def go(role: str, fn: Callable[[], Any]) -> None:
            self.roles[threading.get_ident()] = role
            try:
                outcome[role] = fn()
            except BaseException as exc:  # reported by the test
                outcome[role] = exc
            finally:
                if role == "second":
                    self.second_done.set()
                else:
                    self.release.set()

        one = threading.Thread(target=go, args=("first", first))
        one.start()
        assert self.held.wait(30)
        two = threading.Thread(target=go, args=("second", second))
        two.start()
        # the second transaction runs until it ends or blocks on the first one's locks
        while not self.second_done.wait(0.02):
            if self.second_pid and self._waiting():
                break
        self.release.set()
        one.join(60)
        two.join(60)
        assert not one.is_alive() and not two.is_alive()
        return outcome


def _write(key: str, text: str, vector: list[float], ttl: float | None = None) -> ItemWrite:
    return ItemWrite(
        namespace=("c",), key=key, value={"text": text}, vectors=(("text", vector),), ttl=ttl
    )


def test_two_puts_of_one_key_both_succeed(saver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    saver.put_items([_write("k", "old", [0.0, 1.0])])
    race = Interleave(saver, monkeypatch)
    outcome = race.run(
        lambda: saver.put_items([_write("k", "first", [1.0, 0.0])]),
        lambda: saver.put_items([_write("k", "second", [1.0, 1.0])]),
    )
    assert outcome == {"first": None, "second": None}
    found = saver.get_item(("c",), "k")
    [ranked] = saver.search_items(("c",), query=[1.0, 0.0])
    # whichever committed last, the item holds its value and only its vector
    expected = {"first": 1.0, "second": 2**-0.5}[found.value["text"]]
    assert ranked.score == pytest.approx(expected, rel=1e-6)


def test_a_put_racing_the_sweep_of_its_expired_key(
    saver: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver.put_items([_write("k", "old", [0.0, 1.0], ttl=1)])
    clock.now += timedelta(minutes=2)  # "k" has expired, not yet swept
    race = Interleave(saver, monkeypatch)
    outcome = race.run(saver.sweep_items, lambda: saver.put_items([_write("k", "new", [1.0, 0.0])]))
    assert outcome == {"first": 1, "second": None}
    found = saver.get_item(("c",), "k")
    assert found is not None and found.value == {"text": "new"} and found.expires_at is None
    [ranked] = saver.search_items(("c",), query=[1.0, 0.0])
    assert ranked.key == "k" and ranked.score == pytest.approx(1.0)


def test_a_delete_racing_the_sweep(
    saver: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver.put_items([_write("k", "old", [0.0, 1.0], ttl=1)])
    clock.now += timedelta(minutes=2)
    race = Interleave(saver, monkeypatch)
    gone = ItemWrite(namespace=("c",), key="k", value=None)
    outcome = race.run(saver.sweep_items, lambda: saver.put_items([gone]))
    assert outcome == {"first": 1, "second": None}
    assert saver.get_item(("c",), "k") is None
    assert saver.sweep_items() == 0


def test_a_filtered_search_is_not_shifted_by_a_write_between_its_pages(
    saver: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a filter is checked in Python over pages of 200 rows, newest first; PostgreSQL reads
    # each page in its own snapshot, so a write between two pages must not shift the next
    start = clock.now
    for i in range(250):
        clock.now = start + timedelta(seconds=i)
        saver.put_items([ItemWrite(namespace=("f",), key=f"k{i:03d}", value={"i": i, "m": 1})])
    real = saver._x
    pages: list[str] = []

    def x(conn: Any, text: str, params: Any = ()) -> Any:
        out = real(conn, text, params)
        if "ORDER BY updated_at DESC" in text and not pages:
            pages.append(text)
            clock.now = start + timedelta(hours=1)  # newer than every item
            saver.put_items([ItemWrite(namespace=("f",), key="new", value={"i": -1, "m": 0})])
        return out

    monkeypatch.setattr(saver, "_x", x)
    found = [i.key for i in saver.search_items(("f",), filter={"m": 1}, limit=300)]
    assert pages, "the search did not page"
    assert len(found) == len(set(found))  # no item twice
    assert found == [f"k{i:03d}" for i in range(249, -1, -1)]
