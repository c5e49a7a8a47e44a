"""A call PostgreSQL rolls back to break a deadlock runs again; with no retry left it fails
with `StoreUnavailable` (never a psycopg error) and leaves the thread as it was.

The deadlock is real: another connection holds the thread's audit chain, the store's
decision takes the thread's row and waits for the chain, then the other connection asks
for the thread's row. That connection waits 30 s before it checks for a deadlock, the
store's connections the server's default (1 s), so PostgreSQL aborts the store's
transaction (SQLSTATE 40P01)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from interlock import StoreUnavailable
from interlock.checkpoint._testkit import make_interrupt, make_record
from tests.conftest import SAVERS
from tests.pg import DSN

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in SAVERS, reason="PostgreSQL tests are switched off"),
]


@pytest.fixture
def saver() -> Iterator[Any]:
    from tests.pg import fresh_postgres_saver

    s = fresh_postgres_saver()
    try:
        yield s
    finally:
        s.close()


def _paused_thread(saver: Any) -> None:
    root = make_record("t", None, [], {"n": 0})
    saver.put_checkpoint(root, expected_head=None)
    head = make_record("t", root, [], {"n": 1})
    saver.put_checkpoint(
        head,
        expected_head=root.checkpoint_id,
        interrupts=[make_interrupt("t", head.checkpoint_id, 0, interrupt_id="b")],
    )


class Deadlock:
    """Another connection that deadlocks with the store's next decision on thread `t`."""

    def __init__(self, schema: str) -> None:
        import psycopg

        self.conn = psycopg.connect(DSN)
        self.conn.execute(f'SET search_path TO "{schema}"')
        self.conn.execute("SET LOCAL deadlock_timeout = '30s'")  # the store's side is aborted
        self.conn.execute("SELECT 1 FROM audit_chains WHERE chain = 't' FOR UPDATE").fetchall()
        self.pid = self.conn.info.backend_pid

    def wait_until_blocking(self) -> None:
        """Until a store connection waits for this one."""
        import psycopg

        deadline = time.monotonic() + 30
        with psycopg.connect(DSN, autocommit=True) as watch:
            while time.monotonic() < deadline:
                row = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                    (self.pid,),
                ).fetchone()
                if row is not None and row[0] > 0:
                    return
                time.sleep(0.01)
        pytest.fail("the store's call never waited for the other connection")

    def close_the_cycle(self) -> None:
        """Ask for the thread's row the store's call holds: returns once PostgreSQL has
        rolled that call's transaction back."""
        self.conn.execute("SELECT 1 FROM threads WHERE thread_id = 't' FOR UPDATE").fetchall()

    def end(self) -> None:
        self.conn.commit()
        self.conn.close()


def _decide_in_thread(saver: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def decide() -> None:
        try:
            outcome["result"] = saver.resolve_interrupts("t", {"b": "yes"}, decided_by="ann")
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    worker = threading.Thread(target=decide)
    worker.start()
    return worker, outcome


def test_a_decision_rolled_back_by_a_deadlock_runs_again(saver: Any) -> None:
    _paused_thread(saver)
    other = Deadlock(saver.schema)
    worker, outcome = _decide_in_thread(saver)
    other.wait_until_blocking()
    other.close_the_cycle()  # PostgreSQL aborted the decision's first try
    other.end()  # its second try goes on
    worker.join(30)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome
    [decided] = outcome["result"]
    assert decided.status == "resolved" and decided.decided_by == "ann"
    assert [e.action for e in saver.list_audit(thread_id="t").items].count("approval.decided") == 1


def test_with_no_retry_left_the_abort_is_store_unavailable_and_the_request_waits(
    saver: Any,
) -> None:
    import psycopg

    from interlock.checkpoint.postgres import Contended

    _paused_thread(saver)
    saver.contention_retries = 0
    other = Deadlock(saver.schema)
    worker, outcome = _decide_in_thread(saver)
    other.wait_until_blocking()
    other.close_the_cycle()
    other.end()
    worker.join(30)
    assert not worker.is_alive()
    error = outcome.get("error")
    assert isinstance(error, Contended) and isinstance(error, StoreUnavailable)
    assert not isinstance(error, psycopg.Error)
    assert "40P01" in str(error) and "nothing was changed" in str(error)
    # the request still waits, and a later decision takes it
    assert saver.get_interrupt("b").status == "pending"
    assert saver.reachable  # a deadlock says nothing about the link
    [decided] = saver.resolve_interrupts("t", {"b": "no"}, decided_by="bob")
    assert decided.decided_by == "bob"


def test_contention_retries_must_not_be_negative() -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import new_schema

    with pytest.raises(ValueError, match="contention_retries"):
        PostgresSaver(DSN, schema=new_schema(), contention_retries=-1)


def test_a_serialization_failure_runs_again(saver: Any) -> None:
    # a server whose transactions are serializable: the decision's update meets a row
    # another transaction changed after the decision's snapshot (40001), and runs again
    import psycopg

    from interlock.checkpoint.postgres import PostgresSaver

    _paused_thread(saver)
    strict = PostgresSaver(
        DSN + "?options=-c%20default_transaction_isolation%3Dserializable", schema=saver.schema
    )
    try:
        other = psycopg.connect(DSN)
        other.execute(f'SET search_path TO "{saver.schema}"')
        other.execute("UPDATE interrupts SET metadata = metadata WHERE interrupt_id = 'b'")
        pid = other.info.backend_pid
        worker, outcome = _decide_in_thread(strict)
        deadline = time.monotonic() + 30
        with psycopg.connect(DSN, autocommit=True) as watch:
            while not watch.execute(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (pid,),
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the decision never waited"
                time.sleep(0.01)
        other.commit()  # the decision's first try fails to serialize; its second goes on
        other.close()
        worker.join(30)
        assert not worker.is_alive()
        assert "error" not in outcome, outcome
        [decided] = outcome["result"]
        assert decided.decided_by == "ann"
    finally:
        strict.close()


def test_every_store_call_but_a_few_runs_again_on_contention() -> None:
    import inspect

    from interlock.checkpoint.postgres import (
        NOT_RETRIED,
        RETRIED_BY_STEP,
        PostgresSaver,
        _retry_if_contended,
    )

    retrying = _retry_if_contended(lambda self: None).__code__  # every wrapper's code

    calls = [
        name
        for name in dir(PostgresSaver)
        if not name.startswith("_")
        and callable(getattr(PostgresSaver, name))
        and not inspect.iscoroutinefunction(getattr(PostgresSaver, name))
        and not isinstance(inspect.getattr_static(PostgresSaver, name), classmethod)
    ]
    assert {"put_checkpoint", "resolve_interrupts", "delete_thread", "claim_run"} <= set(calls)
    for name in calls:
        code = getattr(getattr(PostgresSaver, name), "__code__", None)
        assert (code is retrying) == (name not in (*NOT_RETRIED, *RETRIED_BY_STEP)), name
    for steps in RETRIED_BY_STEP.values():  # run again step by step instead
        for step in steps:
            assert getattr(PostgresSaver, step).__code__ is retrying, step
