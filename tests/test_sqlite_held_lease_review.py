"""Review of the held lease (`acquire_and_get(hold=True)`, `end_hold`): what a synchronous
run's open transaction must survive — another run's abandoned stream finalised on the same
thread while it is open, a write in it that SQLite refuses — and the decided rows that
`resolve_interrupts` returns from its `UPDATE ... RETURNING`."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from interlock import END, START, Command, StateGraph, StepNotSaved, interrupt
from interlock.checkpoint.base import AuditEntry
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.errors import ResumeConflict, StoreError, StoreUnavailable, ThreadBusy
from tests.conftest import make_saver


def _lease_owner(path: Path | str, thread_id: str) -> Any:
    with sqlite3.connect(path) as other:
        row = other.execute(
            "SELECT lease_owner FROM threads WHERE thread_id = ?", (thread_id,)
        ).fetchone()
    return row[0] if row else None


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "held.db"


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Collect only when the test says so."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_COLLECT_NOW: list[Any] = []
"""Set: the next reduction of `log` runs the garbage collector first (or the function
given, which does)."""


def _add(left: list, right: list) -> list:
    if _COLLECT_NOW:  # the collector runs here, as it may at any allocation
        how = _COLLECT_NOW.pop()
        how() if callable(how) else gc.collect()
    return left + right


class _Log(TypedDict, total=False):
    log: Annotated[list[str], _add]
    answer: Any


def _asking(saver: SqliteSaver, seen: list[Any]) -> Any:
    """One node that notes who holds its thread's lease, then asks. `log`'s reducer is user
    code the engine calls while it plans, before the run's first write."""

    def ask(state: _Log) -> dict[str, Any]:
        seen.append(_lease_owner(saver.path, state["log"][-1]))
        return {"answer": interrupt("approve?")}

    g = StateGraph(_Log)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g.compile(checkpointer=saver)


def test_an_abandoned_stream_finalised_in_another_runs_hold_leaves_that_run_its_lease(
    path: Path, no_gc: None
) -> None:
    """A stream abandoned mid-way in a reference cycle is closed by the garbage collector,
    on whatever thread allocates when it runs — here while another run on that thread holds
    its lease's transaction. Closing it must not roll back the other run's lease (its nodes
    would run with no lease: another process could run the thread too), nor count the
    rollback as its own lease given back (its thread would stay busy until the lease
    lapses)."""
    saver = SqliteSaver(path)
    seen: list[Any] = []
    app = _asking(saver, seen)
    app.invoke({"log": ["warm"]}, {"configurable": {"thread_id": "warm"}})
    stream = app.stream({"log": ["b"]}, {"configurable": {"thread_id": "b"}}, stream_mode="values")
    assert next(stream) == {"log": ["b"]}
    cycle: list[Any] = [stream]
    cycle.append(cycle)
    del stream, cycle  # abandoned: only the collector closes it now
    seen.clear()
    _COLLECT_NOW.append(True)
    assert "__interrupt__" in app.invoke({"log": ["a"]}, {"configurable": {"thread_id": "a"}})
    assert not _COLLECT_NOW  # the abandoned stream was closed inside run a's hold
    assert seen[0] is not None  # run a's node ran under its lease
    assert _lease_owner(path, "a") is None  # given back by its pause
    assert _lease_owner(path, "b") is None  # the abandoned run gave its lease back
    assert not saver._conn().in_transaction


def test_end_hold_of_another_owner_leaves_the_hold_open(path: Path) -> None:
    saver = SqliteSaver(path)
    taken, _ = saver.acquire_and_get("t", "me", ttl=30, hold=True)
    assert taken
    assert saver.end_hold(commit=False, owner="someone-else") is False
    assert saver._conn().in_transaction
    assert saver.end_hold(owner="me") is True
    assert _lease_owner(path, "t") == "me"
    assert not saver._conn().in_transaction


class _Order(TypedDict, total=False):
    item: str
    answer: Any


def _orders(saver: SqliteSaver) -> Any:
    def ask(state: _Order) -> dict[str, Any]:
        return {"answer": interrupt({"ship": state["item"]})}

    g = StateGraph(_Order)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g.compile(checkpointer=saver)


def _fill(saver: SqliteSaver) -> None:
    """The file may not grow any more for this thread's connection: SQLite fails the next
    write that needs a page with "database or disk is full" (and rolls its transaction
    back itself)."""
    conn = saver._conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def _unfill(saver: SqliteSaver) -> None:
    saver._conn().execute("PRAGMA max_page_count = 4294967294")


def test_a_full_disk_in_the_held_write_is_the_stores_error(path: Path) -> None:
    """The run's first write, in its lease's transaction, failing in SQLite: the store's
    `StoreUnavailable` (a step kept with `StepNotSaved`), not a bare `sqlite3` error; nothing
    left open or taken; the thread runs once the disk has room."""
    saver = SqliteSaver(path)
    app = _orders(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    app.invoke({"item": "warm"}, {"configurable": {"thread_id": "warm"}})
    _fill(saver)
    with pytest.raises(StoreUnavailable, match="full"):
        app.invoke({"item": "x" * 200_000}, cfg)
    assert not saver._conn().in_transaction
    assert _lease_owner(path, "t") is None
    _unfill(saver)
    assert "__interrupt__" in app.invoke({"item": "book"}, cfg)


def test_a_full_disk_in_a_later_write_is_unavailable_not_a_failed_rollback(path: Path) -> None:
    """A write outside any hold that SQLite refuses with a full disk rolls its transaction
    back itself: the store says `StoreUnavailable` (retry later), not "cannot rollback"."""
    saver = SqliteSaver(path)
    app = _orders(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    (asked,) = app.invoke({"item": "book"}, cfg)["__interrupt__"]
    _fill(saver)
    with pytest.raises(StoreUnavailable, match="full"):
        saver.append_audit([AuditEntry(at=datetime.now(UTC), actor="a", action="x" * 200_000)])
    assert not saver._conn().in_transaction
    _unfill(saver)
    assert app.invoke(Command(resume="yes"), cfg)["answer"] == "yes"
    assert saver.get_interrupt(asked.id).status == "resolved"


def test_a_run_whose_owner_saves_keeps_the_lease_when_its_first_write_fails(
    path: Path,
) -> None:
    """A run whose owner saves a held step (`hold_unsaved_steps`) keeps the thread's lease
    after `StepNotSaved` so that nobody runs the thread before the step is saved — also
    when the write that failed was the first, in the lease's own transaction."""
    saver = SqliteSaver(path)
    app = _orders(saver)
    cfg = {"configurable": {"thread_id": "q", "hold_unsaved_steps": True}}
    app.invoke({"item": "warm"}, cfg)
    app.invoke(Command(resume="yes"), cfg)
    _fill(saver)
    with pytest.raises(StepNotSaved) as caught:
        app.invoke({"item": "x" * 200_000}, cfg)
    _unfill(saver)
    assert _lease_owner(path, "q") is not None
    with pytest.raises(ThreadBusy):
        app.invoke({"item": "other"}, {"configurable": {"thread_id": "q"}})
    assert caught.value.save() is True


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_several_decisions_come_back_as_decided(kind: str, tmp_path: Path) -> None:
    """`resolve_interrupts` of several requests returns each row as decided (from its
    `UPDATE ... RETURNING`), in the order given, and audits each; one that lost the race
    refuses them all."""
    saver = make_saver(kind, tmp_path)
    try:

        class State(TypedDict, total=False):
            a: Any
            b: Any
            c: Any

        def node(key: str) -> Any:
            return lambda state: {key: interrupt({"q": key})}

        g = StateGraph(State)
        for key in "abc":
            g.add_node(key, node(key))
            g.add_edge(START, key)
            g.add_edge(key, END)
        app = g.compile(checkpointer=saver)
        out = app.invoke({}, {"configurable": {"thread_id": "t"}})
        ids = sorted(i.id for i in out["__interrupt__"])
        order = [ids[2], ids[0], ids[1]]
        done = saver.resolve_interrupts(
            "t",
            {iid: {"n": n} for n, iid in enumerate(order)},
            decided_by="ada",
            bindings={order[1]: {"digest": "d1"}},
        )
        assert [r.interrupt_id for r in done] == order
        assert all(r.status == "resolved" and r.decided_by == "ada" for r in done)
        assert all(r.decided_at is not None for r in done)
        assert [r.resume for r in done] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert done[1].metadata.get("decision") == {"digest": "d1"}
        assert [saver.get_interrupt(i).resume for i in order] == [{"n": 0}, {"n": 1}, {"n": 2}]
        audited = [e for e in saver.list_audit(limit=50).items if e.action == "approval.decided"]
        assert sorted(e.interrupt_id for e in audited) == sorted(ids)

        out = app.invoke({}, {"configurable": {"thread_id": "u"}})
        first, second = sorted(i.id for i in out["__interrupt__"])[:2]
        saver.resolve_interrupts("u", {second: "late"})
        with pytest.raises(ResumeConflict):
            saver.resolve_interrupts("u", {first: "x", second: "y"})
        assert saver.get_interrupt(first).status == "pending"
        assert saver.get_interrupt(second).resume == "late"
    finally:
        saver.close()


class _Watched(SqliteSaver):
    """Tells when the lease keeper starts renewing thread "b"'s lease."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renewing = threading.Event()

    def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        if thread_id == "b":
            self.renewing.set()
        return super().renew_thread(thread_id, owner, ttl=ttl)


def test_an_abandoned_stream_closed_in_another_runs_hold_does_not_stall_it(
    tmp_path: Path, no_gc: None
) -> None:
    """The abandoned stream's end waits for a renewal of its lease in flight (`keep_lease`);
    that renewal, on the lease keeper's thread, waits for the SQLite write lock the other
    run's hold keeps on this thread. Neither went on until the renewal gave up after the
    store's `busy_timeout` (every other lease of the process waiting with the keeper): the
    hold is committed first (the other run's lease is then taken before its first write,
    and it goes on under it)."""
    saver = _Watched(tmp_path / "held.db", busy_timeout=6.0)
    seen: list[Any] = []
    stalled: list[float] = []

    def collect() -> None:  # in run a's hold: the keeper is renewing b's lease, then gc
        saver.renewing.clear()
        assert saver.renewing.wait(10)
        began = time.monotonic()
        gc.collect()
        stalled.append(time.monotonic() - began)

    a, b = _asking(saver, seen), _asking(saver, seen)
    b.lease_ttl = 0.3  # renewed every 0.1 s while its stream is open
    a.invoke({"log": ["warm"]}, {"configurable": {"thread_id": "warm"}})
    stream = b.stream({"log": ["b"]}, {"configurable": {"thread_id": "b"}}, stream_mode="values")
    assert next(stream) == {"log": ["b"]}
    cycle: list[Any] = [stream]
    cycle.append(cycle)
    del stream, cycle
    _COLLECT_NOW.append(collect)
    assert "__interrupt__" in a.invoke({"log": ["a"]}, {"configurable": {"thread_id": "a"}})
    assert stalled and stalled[0] < 3.0, stalled  # a stall waits out busy_timeout (6 s)
    assert seen[-1] is not None  # run a's node ran under its lease
    assert _lease_owner(saver.path, "a") is None and _lease_owner(saver.path, "b") is None


def test_the_async_twin_takes_hold_but_holds_nothing(path: Path) -> None:
    """`aacquire_and_get` has its twin's parameters (`hold` too), but its call runs on a
    worker thread: it commits the lease at once rather than leave that thread's
    transaction open."""
    saver = SqliteSaver(path)
    other = SqliteSaver(path, busy_timeout=0.2)
    taken, _ = asyncio.run(saver.aacquire_and_get("t", "me", ttl=30, hold=True))
    assert taken
    assert _lease_owner(path, "t") == "me"  # committed
    assert other.acquire_thread("u", "o", ttl=30)  # the write lock is free


def test_a_hold_taken_inside_a_hold_commits_with_it_and_frees_the_connection(
    path: Path,
) -> None:
    """Code that runs inside a run's hold on its thread (a reducer, a migration function)
    and starts another run on the same store: that run's `acquire_and_get(hold=True)` is
    the hold's first write, so both leases commit together, and the connection is let go
    (`close` from another thread need not wait for it)."""
    saver = SqliteSaver(path, busy_timeout=0.2)
    assert saver.acquire_and_get("a", "A", ttl=30, hold=True)[0]
    assert saver.acquire_and_get("b", "B", ttl=30, hold=True)[0]
    assert not saver._conn().in_transaction
    assert _lease_owner(path, "a") == "A" and _lease_owner(path, "b") == "B"
    assert saver.end_hold(owner="B") is False
    using = saver._using[id(saver._conn())]
    free: list[bool] = []

    def take() -> None:  # as `close` does, from another thread
        free.append(using.acquire(timeout=0.2))
        if free[-1]:
            using.release()

    other = threading.Thread(target=take)
    other.start()
    other.join()
    assert free == [True]


def test_a_constraint_sqlite_enforces_is_the_stores_error(path: Path) -> None:
    """A write the database refuses by a constraint (here a trigger an operator added;
    SQLite's `RAISE(ABORT)` is a constraint failure) is the store's `StoreError`, not a
    bare `sqlite3.IntegrityError`, in and out of a run's held transaction; nothing is
    left open and the waiting run stays resumable once the constraint is gone."""
    saver = SqliteSaver(path)
    app = _orders(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    (asked,) = app.invoke({"item": "book"}, cfg)["__interrupt__"]
    with sqlite3.connect(path) as admin:
        admin.execute(
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit is frozen'); END"
        )
    with pytest.raises(StoreError, match="audit is frozen") as caught:
        app.invoke(Command(resume="yes"), cfg)
    assert not isinstance(caught.value, sqlite3.Error)
    with pytest.raises(StoreError, match="audit is frozen"):
        saver.append_audit([AuditEntry(at=datetime.now(UTC), actor="x", action="y")])
    assert not saver._conn().in_transaction
    assert saver.get_interrupt(asked.id).status == "pending"
    with sqlite3.connect(path) as admin:
        admin.execute("DROP TRIGGER no_audit")
    assert "__interrupt__" not in app.invoke(Command(resume="yes"), cfg)
