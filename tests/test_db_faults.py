"""When the database link breaks: bounded calls, fast failures, recovery within seconds of
the link, a terminated backend costing reads nothing, SQLite's lock wait bounded.

The bounds are asserted with margins for a loaded 2-core machine: they separate seconds
(what the store promises: a 2.5 s request bound, recovery within about a second) from the
tens of seconds an unbounded store takes (a black hole held calls as long as it lasted;
reconnection backed off to 16 s and more)."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from interlock import StoreUnavailable
from interlock.checkpoint.base import AuditEntry
from interlock.checkpoint.postgres import IDEMPOTENT_READS, PostgresSaver
from interlock.checkpoint.sqlite import SqliteSaver
from tests._tcpproxy import TcpProxy
from tests.pg import DSN, new_schema


def poll(what: str, check: Callable[[], Any], seconds: float = 30.0, every: float = 0.02) -> Any:
    """Call `check` every `every` seconds until it returns something truthy; fail after
    `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(every)


def timed(fn: Callable[[], Any]) -> tuple[float, BaseException | None]:
    """Seconds `fn` took, and what it raised."""
    start = time.monotonic()
    try:
        fn()
    except BaseException as exc:
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


@contextmanager
def proxied_saver(**kwargs: Any) -> Iterator[tuple[PostgresSaver, TcpProxy]]:
    proxy = TcpProxy("127.0.0.1", 5432)
    url = DSN.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    saver = PostgresSaver(url, schema=new_schema(), **kwargs)
    try:
        yield saver, proxy
    finally:
        proxy.close()
        saver.close()


def admin() -> Any:
    import psycopg

    return psycopg.connect(DSN, autocommit=True)


def backends(conn: Any, app: str) -> list[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)
    ).fetchall()
    return [r[0] for r in rows]


def entry(action: str) -> AuditEntry:
    from datetime import UTC, datetime

    return AuditEntry(
        entry_id="", at=datetime.now(UTC), actor="t", action=action, thread_id="t", detail={}
    )


# ---- PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_connections_carry_keepalives_a_user_timeout_and_a_statement_timeout() -> None:
    saver = PostgresSaver(DSN, schema=new_schema())
    given = PostgresSaver(
        DSN + "?keepalives_idle=7&options=-c%20statement_timeout%3D4321", schema=new_schema()
    )
    try:
        with saver._read() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "2s"  # 0.8 x 2.5 s
            sock = socket.socket(fileno=os.dup(conn.fileno()))
            try:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 5
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 11_000
            finally:
                sock.close()
        with given._read() as conn:  # what the connection string says wins
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "4321ms"
            sock = socket.socket(fileno=os.dup(conn.fileno()))
            try:
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
            finally:
                sock.close()
    finally:
        saver.close()
        given.close()


@pytest.mark.postgres
def test_a_black_holed_link_fails_calls_within_the_bound_then_at_once() -> None:
    with proxied_saver(min_size=3) as (saver, proxy):
        poll("three pooled connections", lambda: saver._pool.get_stats()["pool_available"] >= 3)
        saver.append_audit([entry("before")])
        proxy.blackhole()
        took, error = timed(saver.list_threads)  # the pooled connection goes silent
        assert isinstance(error, StoreUnavailable), error
        assert took < 8.0, f"a call on a silent link took {took:.1f} s"
        assert not saver.reachable
        for call in (saver.list_threads, lambda: saver.append_audit([entry("during")])):
            took, error = timed(call)
            assert isinstance(error, StoreUnavailable) and took < 1.0, (took, error)
        proxy.restore()
        restored = time.monotonic()
        errors: list[StoreUnavailable] = []
        poll("the store to answer again", lambda: _answers(saver, errors))
        recovered = time.monotonic() - restored
        assert recovered < 6.0, f"service came back {recovered:.1f} s after the link"
        assert saver.reachable
        # the connections that sat in the pool through the outage were replaced, not used:
        # until the store answered, calls failed fast (it knew), never on a silent connection
        assert not [e for e in errors if "did not answer" in str(e)], errors
        calls = [Background(lambda: timed(saver.list_threads)) for _ in range(3)]
        for took, error in (c.join() for c in calls):
            assert error is None and took < 1.5, (took, error)
        actions = [e.action for e in saver.list_audit().items]
        assert actions == ["before"]  # nothing lost, nothing written while down


@pytest.mark.postgres
def test_a_cut_link_recovers_within_seconds_of_its_return() -> None:
    with proxied_saver(max_size=4) as (saver, proxy):
        threads = [threading.Thread(target=saver.list_threads) for _ in range(4)]
        for t in threads:  # several pooled connections, all about to die
            t.start()
        for t in threads:
            t.join()
        proxy.cut()
        took, error = timed(saver.list_threads)
        assert isinstance(error, StoreUnavailable) and took < 8.0, (took, error)
        poll("the store to know it is down", lambda: not saver.reachable, 10)
        took, error = timed(saver.list_threads)
        assert isinstance(error, StoreUnavailable) and took < 1.0, (took, error)
        cut_at = time.monotonic()
        poll("the pool to give up its slots", lambda: time.monotonic() - cut_at > 4, 10)
        proxy.restore()
        restored = time.monotonic()
        poll("the store to answer again", lambda: _answers(saver))
        recovered = time.monotonic() - restored
        assert recovered < 6.0, f"service came back {recovered:.1f} s after the link"


@pytest.mark.postgres
def test_a_call_stuck_on_the_old_silent_path_does_not_take_the_store_down_again() -> None:
    with proxied_saver(min_size=2) as (saver, proxy):
        poll("two pooled connections", lambda: saver._pool.get_stats()["pool_available"] >= 2)
        proxy.blackhole()
        stale = Background(lambda: saver.ping(timeout=8.0))  # a long bound on a silent path
        took, error = timed(saver.list_threads)  # the other connection: down after 2.5 s
        assert isinstance(error, StoreUnavailable) and took < 8.0, (took, error)
        proxy.restore()
        poll("the store to answer again", lambda: _answers(saver))
        with pytest.raises(StoreUnavailable, match="did not answer"):
            stale.join()  # its deadline passed after the link came back
        assert saver.reachable, "an attempt from before the recovery took the store down"
        took, error = timed(saver.list_threads)
        assert error is None and took < 1.0, (took, error)


def _answers(saver: PostgresSaver, errors: list[StoreUnavailable] | None = None) -> bool:
    try:
        saver.list_threads()
    except StoreUnavailable as exc:
        if errors is not None:
            errors.append(exc)
        return False
    return True


@pytest.mark.postgres
def test_backends_terminated_while_pooled_cost_no_call(pg: Any) -> None:
    app = f"interlock_idle_kill_{os.getpid()}"
    saver = PostgresSaver(f"{DSN}?application_name={app}", schema=new_schema(), min_size=4)
    try:
        poll("four pooled connections", lambda: len(backends(pg, app)) >= 4, 20)
        pg.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (app,),
        )
        poll("the backends to be gone", lambda: not backends(pg, app), 20)
        # each dead connection is noticed before use and replaced: no call fails, writes too
        assert saver.acquire_thread("t", "me", ttl=30.0)
        saver.append_audit([entry("after the failover")])
        assert [e.action for e in saver.list_audit().items] == ["after the failover"]
        assert saver.list_threads() == ()  # (a lease alone is no thread yet)
    finally:
        saver.close()


@pytest.fixture
def pg() -> Iterator[Any]:
    """An administrator's connection (to look at and terminate backends)."""
    conn = admin()
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def locked(schema: str, table: str) -> Iterator[Any]:
    """Hold an ACCESS EXCLUSIVE lock on `schema.table` (readers wait) until the block ends."""
    conn = admin()
    try:
        conn.execute("BEGIN")
        conn.execute(f'LOCK TABLE "{schema}".{table} IN ACCESS EXCLUSIVE MODE')
        yield conn
    finally:
        conn.close()  # ends the transaction: the lock goes


def waiting_on_lock(pg: Any, app: str, longer_than: float = 0.0) -> list[int]:
    rows = pg.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND "
        "wait_event_type = 'Lock' AND now() - query_start > make_interval(secs => %s)",
        (app, longer_than),
    ).fetchall()
    return [r[0] for r in rows]


class Background:
    """A call in a thread: its result or its exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as exc:
            self.error = exc

    def join(self) -> Any:
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.result


@pytest.mark.postgres
def test_a_read_whose_backend_is_terminated_under_it_runs_once_more(pg: Any) -> None:
    app = f"interlock_read_kill_{os.getpid()}"
    schema = new_schema()
    saver = PostgresSaver(f"{DSN}?application_name={app}", schema=schema)
    try:
        saver.append_audit([entry("kept")])
        with locked(schema, "audit_log"):
            read = Background(saver.list_audit)
            (pid,) = poll("the read to wait on the lock", lambda: waiting_on_lock(pg, app), 10)
            pg.execute("SELECT pg_terminate_backend(%s)", (pid,))
            poll("the backend to be gone", lambda: pid not in backends(pg, app), 10)
            # the read runs again on a fresh connection, and waits on the lock once more
            poll("the second try", lambda: [p for p in waiting_on_lock(pg, app) if p != pid], 10)
        assert [e.action for e in read.join().items] == ["kept"]
    finally:
        saver.close()


@pytest.mark.postgres
def test_a_write_whose_backend_is_terminated_under_it_fails_and_changes_nothing(pg: Any) -> None:
    app = f"interlock_write_kill_{os.getpid()}"
    schema = new_schema()
    saver = PostgresSaver(f"{DSN}?application_name={app}", schema=schema)
    try:
        with locked(schema, "audit_log"):
            write = Background(lambda: saver.append_audit([entry("lost")]))
            (pid,) = poll("the write to wait on the lock", lambda: waiting_on_lock(pg, app), 10)
            pg.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(StoreUnavailable, match="lost"):
                write.join()  # not run twice: it may have reached the server
        assert saver.list_audit().items == ()
        saver.append_audit([entry("next")])  # the store goes on
        assert [e.action for e in saver.list_audit().items] == ["next"]
    finally:
        saver.close()


@pytest.mark.postgres
def test_a_slow_statement_is_stopped_by_the_server_within_the_bound() -> None:
    schema = new_schema()
    saver = PostgresSaver(DSN, schema=schema, request_timeout=1.0)
    try:
        with locked(schema, "threads"):
            took, error = timed(saver.list_threads)
        assert isinstance(error, StoreUnavailable), error
        assert took < 5.0, took
        assert saver.reachable  # a slow database is not a lost one: nothing fails fast
        assert saver.list_threads() == ()
    finally:
        saver.close()


@pytest.mark.postgres
def test_maintenance_calls_get_the_longer_bound(pg: Any) -> None:
    app = f"interlock_maintenance_{os.getpid()}"
    schema = new_schema()
    saver = PostgresSaver(f"{DSN}?application_name={app}", schema=schema, request_timeout=1.0)
    try:
        saver.append_audit([entry("old")])
        from datetime import UTC, datetime

        for work in (
            lambda: saver.prune(finished_before=datetime.now(UTC)),  # maintenance by itself
            lambda: _in_maintenance(saver, lambda: saver.list_audit().items),
            lambda: asyncio.run(_ain_maintenance(saver)),  # the worker thread inherits it
        ):
            with locked(schema, "threads"), locked(schema, "audit_log"):
                call = Background(work)
                # waits past the 1 s request bound: the maintenance bound applies
                poll("a wait longer than the request bound", lambda: waiting_on_lock(pg, app, 1.5))
                assert call.thread.is_alive()
            call.join()
    finally:
        saver.close()


def _in_maintenance(saver: Any, fn: Callable[[], Any]) -> Any:
    with saver.maintenance():
        return fn()


async def _ain_maintenance(saver: Any) -> Any:
    with saver.maintenance():
        return await saver.alist_audit()


@pytest.mark.postgres
def test_waiting_for_a_pooled_connection_is_bounded_too() -> None:
    saver = PostgresSaver(DSN, schema=new_schema(), max_size=1, request_timeout=1.0)
    try:
        held = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with saver._read():
                held.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(10)
        took, error = timed(saver.list_threads)
        release.set()
        holder.join()
        assert isinstance(error, StoreUnavailable) and took < 5.0, (took, error)
        assert saver.reachable and saver.list_threads() == ()
    finally:
        saver.close()


def test_only_reads_are_run_twice() -> None:
    reads = {n for n in dir(PostgresSaver) if n.startswith(("get_", "list_"))}
    assert reads | {"schema_versions"} == set(IDEMPOTENT_READS)


# ---- SQLite -------------------------------------------------------------------------------


def test_a_locked_sqlite_store_fails_within_its_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with SqliteSaver(path, busy_timeout=0.5) as saver:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's long write
        try:
            took, error = timed(lambda: saver.append_audit([entry("blocked")]))
            assert isinstance(error, StoreUnavailable), error
            assert "busy" in str(error) and took < 4.0, (took, error)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        saver.append_audit([entry("after")])
        assert [e.action for e in saver.list_audit().items] == ["after"]
        saver.ping()


def test_sqlite_maintenance_waits_longer_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with SqliteSaver(path, busy_timeout=0.2, maintenance_timeout=30) as saver:
        saver.append_audit([entry("old")])
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            call = Background(
                lambda: _in_maintenance(saver, lambda: saver.append_audit([entry("bulk")]))
            )
            started = time.monotonic()
            # still waiting at five times the request bound: the maintenance bound applies
            poll("five request bounds", lambda: time.monotonic() - started > 1.0, 5)
            assert call.thread.is_alive()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        call.join()
        assert [e.action for e in saver.list_audit().items] == ["bulk", "old"]
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:  # outside maintenance(), the short bound again
            took, error = timed(lambda: saver.append_audit([entry("x")]))
            assert isinstance(error, StoreUnavailable) and took < 4.0, (took, error)
        finally:
            holder.execute("ROLLBACK")
            holder.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_recovery_does_not_wait_out_the_pools_reconnect_backoff() -> None:
    """A full pool whose connections all died: psycopg_pool would retry each slot after 1, 2,
    4, 8, 16 s... (the next attempt after a 20 s outage comes 8-14 s after the link); with
    its reconnect wait capped, the slots are given up and the pool grows again on demand."""
    with proxied_saver(min_size=2, max_size=2) as (saver, proxy):
        poll("a full pool", lambda: saver._pool.get_stats()["pool_available"] >= 2)
        proxy.cut()
        cut_at = time.monotonic()
        poll("the store to know it is down", lambda: not _answers(saver) and not saver.reachable)
        poll("a 20 s outage", lambda: time.monotonic() - cut_at > 20, 30, every=0.5)
        proxy.restore()
        restored = time.monotonic()
        poll("the store to answer again", lambda: _answers(saver))
        recovered = time.monotonic() - restored
        assert recovered < 5.0, f"service came back {recovered:.1f} s after the link"
        calls = [Background(lambda: timed(saver.list_threads)) for _ in range(2)]
        for took, error in (c.join() for c in calls):
            assert error is None and took < 2.0, (took, error)
