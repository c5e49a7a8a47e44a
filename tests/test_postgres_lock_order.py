"""PostgreSQL lock order: two writers of one thread's rows never deadlock.

Each test holds a multi-statement store transaction (`first`) right after one of its
statements, with the row locks it has taken so far, runs a second store call until it ends
or waits for a lock the first holds (`pg_blocking_pids`), then lets the first go on. Before
every writer took a thread's rows in one order (its `heads` rows, its `threads` row, its
requests, their approvers, its audit chain), each of these interleavings was a deadlock:
PostgreSQL aborted one of the two (SQLSTATE 40P01). The saver's retry of such an abort is
switched off here (`contention_retries = 0`), so an abort shows as an error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from interlock.checkpoint._audit.protocol import AuditEntry
from interlock.checkpoint._audit.verify import verify_store
from interlock.checkpoint._testkit import make_interrupt, make_record
from interlock.errors import ResumeConflict, ResumeError
from tests.conftest import SAVERS

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off"),
]


@pytest.fixture
def saver() -> Iterator[Any]:
    from tests.pg import fresh_postgres_saver

    s = fresh_postgres_saver()
    s.contention_retries = 0
    try:
        yield s
    finally:
        s.close()


class Race:
    """Runs `first` in a thread until the first of its statements whose SQL contains
    `pause_after` has run, then `second` until it ends or waits for one of the first's
    locks; then the first goes on. Returns what each returned or raised."""

    def __init__(self, saver: Any, monkeypatch: pytest.MonkeyPatch, pause_after: str) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.first_pid: list[int] = []
        self.first_thread: list[int] = []
        real = saver._x

        def x(conn: Any, text: str, params: Any = ()) -> Any:
            out = real(conn, text, params)
            mine = self.first_thread and threading.get_ident() == self.first_thread[0]
            if mine and not self.held.is_set() and pause_after in text:
                self.first_pid.append(conn.info.backend_pid)
                self.held.set()
                assert self.release.wait(30), "the second call never finished nor waited"
            return out

        monkeypatch.setattr(saver, "_x", x)

    def _second_waits(self) -> bool:
        import psycopg

        from tests.pg import DSN

        with psycopg.connect(DSN, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (self.first_pid[0],),
            ).fetchone()
        return row is not None and row[0] > 0

    def run(self, first: Callable[[], Any], second: Callable[[], Any]) -> dict[str, Any]:
        outcome: dict[str, Any] = {}
        second_done = threading.Event()

        def go(role: str, fn: Callable[[], Any]) -> None:
            if role == "first":
                self.first_thread.append(threading.get_ident())
            try:
                outcome[role] = fn()
            except BaseException as exc:  # reported by the test
                outcome[role] = exc
            finally:
                if role == "second":
                    second_done.set()
                else:
                    self.held.set()  # (a first call that never paused)
                    self.release.set()

        one = threading.Thread(target=go, args=("first", first))
        one.start()
        assert self.held.wait(30), "the first call never ran its pausing statement"
        assert self.first_pid, f"the first call ended before pausing: {outcome}"
        two = threading.Thread(target=go, args=("second", second))
        two.start()
        deadline = time.monotonic() + 30
        while not second_done.wait(0.02):
            assert time.monotonic() < deadline, "the second call neither ended nor waited"
            if self._second_waits():
                break
        self.release.set()
        one.join(60)
        two.join(60)
        assert not one.is_alive() and not two.is_alive()
        return outcome


def _paused_thread(saver: Any, thread: str = "t", ids: tuple[str, ...] = ("a", "b")) -> Any:
    """A thread whose head waits on pending requests `ids`; returns the head's record."""
    root = make_record(thread, None, [], {"n": 0})
    saver.put_checkpoint(root, expected_head=None)
    head = make_record(thread, root, [], {"n": 1})
    asks = [
        make_interrupt(thread, head.checkpoint_id, n, interrupt_id=i) for n, i in enumerate(ids)
    ]
    saver.put_checkpoint(head, expected_head=root.checkpoint_id, interrupts=asks)
    return head


def _pause(saver: Any, head: Any, interrupt_id: str = "c") -> Callable[[], Any]:
    """A run's next write on the thread: a checkpoint that asks a new request."""
    nxt = make_record(head.thread_id, head, [], {"n": 2})
    ask = make_interrupt(head.thread_id, nxt.checkpoint_id, 0, interrupt_id=interrupt_id)
    return lambda: saver.put_checkpoint(
        nxt, expected_head=head.checkpoint_id, interrupts=[ask], lease_owner="run-1"
    )


def _status(saver: Any, interrupt_id: str) -> str | None:
    found = saver.get_interrupt(interrupt_id)
    return None if found is None else found.status


def test_several_decisions_and_one_decision_of_the_same_thread(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # several decisions (a transaction) against one decision (one statement) on b
    _paused_thread(saver)
    race = Race(saver, monkeypatch, "UPDATE interrupts")
    outcome = race.run(
        lambda: saver.resolve_interrupts("t", {"a": 1, "b": 2}, decided_by="ann"),
        lambda: saver.resolve_interrupts("t", {"b": 3}, decided_by="bob"),
    )
    assert [r.interrupt_id for r in outcome["first"]] == ["a", "b"]
    assert isinstance(outcome["second"], ResumeConflict)
    assert saver.get_interrupt("b").decided_by == "ann"


def test_several_decisions_given_in_opposite_orders(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _paused_thread(saver)
    race = Race(saver, monkeypatch, "UPDATE interrupts")
    outcome = race.run(
        lambda: saver.resolve_interrupts("t", {"a": 1, "b": 2}, decided_by="ann"),
        lambda: saver.resolve_interrupts("t", {"b": 3, "a": 4}, decided_by="bob"),
    )
    # the results keep the order the decisions were given in
    assert [r.interrupt_id for r in outcome["first"]] == ["a", "b"]
    assert isinstance(outcome["second"], ResumeConflict)
    assert {_status(saver, "a"), _status(saver, "b")} == {"resolved"}


def _decide_two(saver: Any) -> Any:
    return saver.resolve_interrupts("t", {"a": 1, "b": 2}, decided_by="ann")


def _vote(saver: Any) -> Any:
    return saver.cast_vote("t", "a", 1, voter="ann", vote="approve")


def _reopen(saver: Any) -> Any:
    saver.resolve_interrupts("t", {"b": 1}, decided_by="ann")

    def reopen() -> Any:
        return saver.reopen_interrupt("b", reason="asked again")

    return reopen


@pytest.mark.parametrize(
    ("first_of", "pause_after"),
    [
        (lambda s: lambda: _decide_two(s), "UPDATE interrupts"),
        (lambda s: lambda: _vote(s), "UPDATE interrupts"),
        (_reopen, "UPDATE interrupts"),
    ],
    ids=["several-decisions", "a-deciding-vote", "a-reopen"],
)
def test_a_decision_and_a_pause_of_the_same_thread(
    saver: Any, monkeypatch: pytest.MonkeyPatch, first_of: Any, pause_after: str
) -> None:
    # a decision (threads row, then the audit chain) against a run's pause on the same thread
    # (one statement: its head, new requests, their audit entries, the threads row)
    head = _paused_thread(saver)
    first = first_of(saver)
    race = Race(saver, monkeypatch, pause_after)
    outcome = race.run(first, _pause(saver, head))
    assert not isinstance(outcome["first"], Exception), outcome
    assert outcome["second"] is None
    assert _status(saver, "c") == "pending"
    assert verify_store(saver, []).ok


def test_a_thread_deleted_while_a_run_writes_it(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _paused_thread(saver)
    race = Race(saver, monkeypatch, "DELETE FROM interrupts")
    outcome = race.run(lambda: saver.delete_thread("t"), _pause(saver, head))
    assert outcome["first"] is None
    assert isinstance(outcome["second"], ResumeConflict)
    assert saver.get_checkpoint("t") is None and _status(saver, "c") is None


def test_a_thread_deleted_while_its_request_is_decided(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _paused_thread(saver)
    race = Race(saver, monkeypatch, "DELETE FROM pending_approvers")
    outcome = race.run(
        lambda: saver.delete_thread("t"),
        lambda: saver.resolve_interrupts("t", {"b": 3}, decided_by="bob"),
    )
    assert outcome["first"] is None
    assert isinstance(outcome["second"], ResumeError)
    assert _status(saver, "b") is None


def test_a_thread_deleted_while_its_request_escalates(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_record("t", None, [], {"n": 0})
    saver.put_checkpoint(root, expected_head=None)
    head = make_record("t", root, [], {"n": 1})
    due = datetime(2026, 1, 1, tzinfo=UTC)
    ask = make_interrupt("t", head.checkpoint_id, 0, interrupt_id="b", deadline=due)
    saver.put_checkpoint(head, expected_head=root.checkpoint_id, interrupts=[ask])
    race = Race(saver, monkeypatch, "DELETE FROM pending_approvers")
    outcome = race.run(
        lambda: saver.delete_thread("t"),
        lambda: saver.escalate_interrupt(
            "b",
            expected_deadline=due,
            deadline=datetime(2026, 1, 2, tzinfo=UTC),
            metadata={"approvers": ["boss"]},
        ),
    )
    assert outcome == {"first": None, "second": None}
    assert _status(saver, "b") is None


def test_audit_batches_of_two_chains_in_opposite_orders(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime.now(UTC)

    def entry(thread: str, n: int) -> AuditEntry:
        return AuditEntry(at=at, actor="ann", action=f"note.{n}", thread_id=thread)

    race = Race(saver, monkeypatch, "INSERT INTO audit_log")
    outcome = race.run(
        lambda: saver.append_audit([entry("x", 1), entry("y", 2)]),
        lambda: saver.append_audit([entry("y", 3), entry("x", 4)]),
    )
    assert not isinstance(outcome["first"], Exception), outcome
    assert not isinstance(outcome["second"], Exception), outcome
    # each batch comes back in the order it was given
    assert [e.action for e in outcome["second"]] == ["note.3", "note.4"]
    assert verify_store(saver, []).ok
    assert saver.audit_heads()["x"][0] == 2 and saver.audit_heads()["y"][0] == 2


def test_memory_batches_of_two_keys_in_opposite_orders(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint._items.protocol import ItemWrite

    def put(key: str, n: int) -> ItemWrite:
        return ItemWrite(namespace=("m",), key=key, value={"n": n})

    saver.put_items([put("x", 0), put("y", 0)])
    race = Race(saver, monkeypatch, "INSERT INTO store_items")
    outcome = race.run(
        lambda: saver.put_items([put("x", 1), put("y", 1)]),
        lambda: saver.put_items([put("y", 2), put("x", 2)]),
    )
    assert outcome == {"first": None, "second": None}
    # the second committed last: both keys hold its values
    assert {saver.get_item(("m",), k).value["n"] for k in ("x", "y")} == {2}


def test_one_batch_writing_a_key_twice_keeps_its_order(saver: Any) -> None:
    from interlock.checkpoint._items.protocol import ItemWrite

    saver.put_items(
        [
            ItemWrite(namespace=("m",), key="y", value={"n": 1}),
            ItemWrite(namespace=("m",), key="x", value={"n": 1}),
            ItemWrite(namespace=("m",), key="y", value=None),
            ItemWrite(namespace=("m",), key="x", value={"n": 2}),
        ]
    )
    assert saver.get_item(("m",), "y") is None
    assert saver.get_item(("m",), "x").value == {"n": 2}


def test_a_memory_batch_racing_the_sweep_of_its_expired_keys(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from interlock.checkpoint import _time
    from interlock.checkpoint._items.protocol import ItemWrite

    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    now = [start]
    monkeypatch.setattr(_time, "utc_now", lambda: now[0])
    # "y" before "x" in the table: a sweep in table order locked "y" first
    for key in ("y", "x"):
        saver.put_items([ItemWrite(namespace=("m",), key=key, value={"n": 0}, ttl=1)])
    now[0] = start + timedelta(minutes=2)  # both expired, not yet swept
    race = Race(saver, monkeypatch, "INSERT INTO store_items")
    outcome = race.run(
        lambda: saver.put_items(
            [ItemWrite(namespace=("m",), key=k, value={"n": 1}) for k in ("x", "y")]
        ),
        saver.sweep_items,
    )
    assert outcome == {"first": None, "second": 0}
    assert {saver.get_item(("m",), k).value["n"] for k in ("x", "y")} == {1}


def test_a_search_that_refreshes_ttls_racing_a_memory_batch(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from interlock.checkpoint import _time
    from interlock.checkpoint._items.protocol import ItemWrite

    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    now = [start]
    monkeypatch.setattr(_time, "utc_now", lambda: now[0])
    for n, key in enumerate(("x", "y")):  # "y" newer: a search lists it first
        now[0] = start + timedelta(seconds=n)
        saver.put_items([ItemWrite(namespace=("m",), key=key, value={"n": 0}, ttl=5)])
    now[0] = start + timedelta(minutes=1)
    race = Race(saver, monkeypatch, "INSERT INTO store_items")
    outcome = race.run(
        lambda: saver.put_items(
            [ItemWrite(namespace=("m",), key=k, value={"n": 1}, ttl=5) for k in ("x", "y")]
        ),
        lambda: saver.search_items(("m",), refresh=True),
    )
    assert outcome["first"] is None
    assert [i.key for i in outcome["second"]] == ["y", "x"]  # in the search's order
    assert {saver.get_item(("m",), k).value["n"] for k in ("x", "y")} == {1}
