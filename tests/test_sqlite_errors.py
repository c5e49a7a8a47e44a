"""What a failing SQLite statement becomes (review of "every sqlite3 error of a store call is
the store's error"): a refusal is `StoreError` whatever its message says, only a database
that is busy, closed or out of reach is `StoreUnavailable` (retry), a value SQLite cannot
take is `SerializationError`; the original is the `__cause__`, and no transaction or
connection is left in use, sync and async, in and out of a run's held transaction."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock import Command
from interlock.checkpoint._assistants.protocol import AssistantChange
from interlock.checkpoint._crons.protocol import CronJob
from interlock.checkpoint._grants.protocol import Grant
from interlock.checkpoint.base import AuditEntry
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.errors import SerializationError, StoreError, StoreUnavailable
from tests.test_sqlite_held_lease_review import _orders

T0 = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "errors.db"


@pytest.fixture
def saver(path: Path) -> Iterator[SqliteSaver]:
    with SqliteSaver(path) as s:
        yield s


def _freeze_audit(path: Path, message: str) -> None:
    """An operator's trigger: every audit entry is refused (a constraint failure)."""
    with sqlite3.connect(path) as admin:
        admin.execute(
            "CREATE TRIGGER frozen BEFORE INSERT ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )


def _thaw_audit(path: Path) -> None:
    with sqlite3.connect(path) as admin:
        admin.execute("DROP TRIGGER frozen")


def _settled(saver: SqliteSaver) -> None:
    """No transaction open on this thread's connection, no hold, and the connection free
    for another thread (its in-use lock is re-entrant, so asked from another thread)."""
    conn = saver._conn()
    assert not conn.in_transaction
    assert getattr(saver._local, "held", None) is None
    lock = saver._using[id(conn)]
    free: list[bool] = []

    def probe() -> None:
        got = lock.acquire(blocking=False)
        free.append(got)
        if got:
            lock.release()

    other = threading.Thread(target=probe)
    other.start()
    other.join()
    assert free == [True]


def _call(mode: str, call: Callable[[SqliteSaver], Any], saver: SqliteSaver) -> Any:
    """`call` on the calling thread, or on a worker thread as the async twins run it."""
    if mode == "sync":
        return call(saver)
    return asyncio.run(asyncio.to_thread(call, saver))


def _cron(cron_id: str) -> CronJob:
    return CronJob(cron_id=cron_id, agent="g", schedule="* * * * *", created_at=T0, updated_at=T0)


def _grant(grant_id: str) -> Grant:
    return Grant(grant_id=grant_id, agent="a", tool="t", granted_by="ada", created_at=T0)


ASSISTANT = {"graph_id": "g", "name": "n", "config": {}, "context": {}, "metadata": {}}

AUDITED: dict[str, Callable[[SqliteSaver], Any]] = {
    "append_audit": lambda s: s.append_audit([AuditEntry(at=T0, actor="x", action="y")]),
    "add_cron": lambda s: s.add_cron(_cron("c9"), actor="ada"),
    "update_cron": lambda s: s.update_cron("c1", {"enabled": False}, actor="ada"),
    "delete_cron": lambda s: s.delete_cron("c1", actor="ada"),
    "add_grant": lambda s: s.add_grant(_grant("g9")),
    "revoke_grant": lambda s: s.revoke_grant("g1", revoked_by="ada"),
    "use_grant": lambda s: s.use_grant("g1", call_id="k", thread_id=None, now=T0),
    "create_assistant": lambda s: s.create_assistant("a9", actor="ada", **ASSISTANT),
    "update_assistant": lambda s: s.update_assistant("a1", AssistantChange(name="m"), actor="x"),
    "set_assistant_version": lambda s: s.set_assistant_version("a1", 1, actor="ada"),
    "delete_assistant": lambda s: s.delete_assistant("a1", actor="ada"),
}
"""Every room's audited write: its audit entry in its own transaction."""


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("call", sorted(AUDITED))
def test_every_rooms_refused_write_is_a_store_error_and_changes_nothing(
    saver: SqliteSaver, path: Path, call: str, mode: str
) -> None:
    saver.add_cron(_cron("c1"), actor="ada")
    saver.add_grant(_grant("g1"))
    saver.create_assistant("a1", actor="ada", **ASSISTANT)
    before = len(saver.audit_rows(limit=100))
    _freeze_audit(path, "audit is frozen")
    write = AUDITED[call]
    with pytest.raises(StoreError, match="audit is frozen") as caught:
        _call(mode, write, saver)
    assert not isinstance(caught.value, StoreUnavailable)  # a refusal: retrying won't help
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
    _settled(saver)
    _thaw_audit(path)
    assert len(saver.audit_rows(limit=100)) == before
    assert saver.get_cron("c1") is not None and saver.get_grant("g1") is not None
    assert saver.get_cron("c9") is None and saver.get_assistant("a9") is None


@pytest.mark.parametrize(
    "message", ["the books are closed", "quota full", "locked by policy", "busy hours"]
)
def test_a_refusal_is_not_unavailable_whatever_its_message_says(
    saver: SqliteSaver, path: Path, message: str
) -> None:
    """`StoreUnavailable` tells the caller (and HTTP clients, as 503) to retry; a constraint
    refuses the same write every time, so it is a `StoreError` even when its words look
    like a busy or closed database's."""
    app = _orders(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    (asked,) = app.invoke({"item": "book"}, cfg)["__interrupt__"]
    _freeze_audit(path, message)
    with pytest.raises(StoreError, match=message) as held:  # in the run's held transaction
        app.invoke(Command(resume="yes"), cfg)
    assert not isinstance(held.value, StoreUnavailable)
    with pytest.raises(StoreError, match=message) as plain:
        saver.append_audit([AuditEntry(at=T0, actor="x", action="y")])
    assert not isinstance(plain.value, StoreUnavailable)
    assert isinstance(plain.value.__cause__, sqlite3.IntegrityError)
    _settled(saver)
    assert saver.get_interrupt(asked.id).status == "pending"


def test_an_argument_sqlite_cannot_bind_is_a_refusal(saver: SqliteSaver) -> None:
    """A value of a type SQLite cannot bind is refused the same way every time
    (`StoreError`, as on PostgreSQL), not reported as a database to retry."""
    with pytest.raises(StoreError, match="binding parameter") as caught:
        saver.get_thread(("t", 1))  # type: ignore[arg-type]
    assert not isinstance(caught.value, StoreUnavailable)
    assert isinstance(caught.value.__cause__, sqlite3.ProgrammingError)
    _settled(saver)


def test_a_closed_connection_is_unavailable(saver: SqliteSaver) -> None:
    saver._conn().close()  # as if closed under the call
    with pytest.raises(StoreUnavailable, match="closed") as caught:
        saver.get_thread("t")
    assert isinstance(caught.value.__cause__, sqlite3.ProgrammingError)


CANNOT_TAKE: dict[str, Callable[[SqliteSaver], Any]] = {
    "get_thread": lambda s: s.get_thread("\ud800"),
    "list_audit thread": lambda s: s.list_audit(thread_id="t\udc00"),
    "list_audit limit": lambda s: s.list_audit(limit=2**70),
    "append_audit": lambda s: s.append_audit([AuditEntry(at=T0, actor="\ud800", action="y")]),
    "add_cron": lambda s: s.add_cron(_cron("c\ud800"), actor="ada"),
    "create_assistant": lambda s: s.create_assistant("a1", actor="\udfff", **ASSISTANT),
}
"""A lone surrogate (valid in a JSON string, not in UTF-8) or an integer beyond 64 bits:
SQLite's driver refuses to bind them."""


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("call", sorted(CANNOT_TAKE))
def test_a_value_sqlite_cannot_take_is_a_serialization_error(
    saver: SqliteSaver, call: str, mode: str
) -> None:
    write = CANNOT_TAKE[call]
    with pytest.raises(SerializationError, match="cannot store") as caught:
        _call(mode, write, saver)
    assert isinstance(caught.value.__cause__, UnicodeEncodeError | OverflowError)
    _settled(saver)
    assert saver.list_audit().items == ()


def test_a_value_sqlite_cannot_take_in_a_held_transaction(saver: SqliteSaver) -> None:
    """A run's first write, in the transaction its lease left open: refused as the store's
    error, the hold ended, and the thread free for the next run."""
    app = _orders(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    app.invoke({"item": "book"}, cfg)
    with pytest.raises(SerializationError, match="cannot store") as caught:
        app.invoke(Command(resume="\ud800"), cfg)
    assert isinstance(caught.value.__cause__, UnicodeEncodeError)
    _settled(saver)
    assert "__interrupt__" not in app.invoke(Command(resume="yes"), cfg)


@pytest.mark.parametrize("call", ["get_thread", "list_audit thread", "append_audit"])
def test_postgres_refuses_a_lone_surrogate_as_sqlite_does(call: str) -> None:
    """The same refusal on PostgreSQL, whose driver cannot encode it either."""
    pytest.importorskip("psycopg")
    from tests.pg import fresh_postgres_saver

    pg = fresh_postgres_saver()
    try:
        with pytest.raises(SerializationError, match="cannot store") as caught:
            CANNOT_TAKE[call](pg)
        assert isinstance(caught.value.__cause__, UnicodeEncodeError)
        assert pg.list_audit().items == ()  # and the pooled connection still answers
    finally:
        pg.close()
