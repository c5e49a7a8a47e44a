"""`threads.waiting` (migration 16) counts a thread's pending requests exactly, on SQLite
and PostgreSQL, whichever write changes them: a pause (with its checkpoint or as task
writes), a decision, an expiry, a quorum's deciding vote, a reopen, an escalation, a
deletion — and the copy the migration made of the requests already pending. The idle
threads' search reads it (`threads_idle`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint._testkit import make_interrupt, make_record
from interlock.checkpoint.base import ThreadQuery


def _counts(store: Any) -> dict[str, tuple[int, int]]:
    """Each thread's (waiting, pending requests counted)."""
    with store._read() as conn:
        rows = store._x(
            conn,
            "SELECT t.thread_id, t.waiting, (SELECT COUNT(*) FROM interrupts i "
            "WHERE i.thread_id = t.thread_id AND i.status = 'pending') FROM threads t",
        ).fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _exact(store: Any) -> dict[str, int]:
    counts = _counts(store)
    assert all(w == n for w, n in counts.values()), counts
    return {k: w for k, (w, _) in counts.items()}


def _scenario(store: Any) -> None:
    # a pause with its checkpoint (the thread's first write), then task writes asking two
    first = make_record("t", None, [("n", 1)], {"n": 1})
    asked = make_interrupt("t", first.checkpoint_id)
    store.put_checkpoint(first, expected_head=None, interrupts=[asked])
    assert _exact(store)["t"] == 1
    store.resolve_interrupts("t", {asked.interrupt_id: "yes"}, decided_by="ada")
    assert _exact(store)["t"] == 0
    two = [make_interrupt("t", first.checkpoint_id, i, task_id="task-2") for i in (0, 1)]
    store.put_task_writes("t", "", first.checkpoint_id, [], two)
    assert _exact(store)["t"] == 2
    assert [x.thread_id for x in store.search_threads(ThreadQuery(pending=False))] == []
    store.resolve_interrupts("t", {two[0].interrupt_id: "no"}, status="expired")
    assert _exact(store)["t"] == 1
    store.escalate_interrupt(
        two[1].interrupt_id,
        expected_deadline=None,  # type: ignore[arg-type]
        deadline=datetime.now(UTC) + timedelta(hours=1),
        metadata={"approvers": ["boss"]},
    )
    store.resolve_interrupts("t", {two[1].interrupt_id: "ok"}, decided_by="boss")
    assert _exact(store)["t"] == 0
    assert [x.thread_id for x in store.search_threads(ThreadQuery(pending=False))] == ["t"]
    store.reopen_interrupt(two[1].interrupt_id, reason="stale")
    assert _exact(store)["t"] == 1
    # a quorum: the vote that completes it decides the request
    voted = make_interrupt("q", first.checkpoint_id, metadata={"quorum": 1})
    second = make_record("q", None, [], {})
    store.put_checkpoint(second, expected_head=None)
    store.put_task_writes("q", "", second.checkpoint_id, [], [
        make_interrupt("q", second.checkpoint_id, metadata={"quorum": 1},
                       interrupt_id=voted.interrupt_id)
    ])  # fmt: skip
    assert _exact(store)["q"] == 1
    outcome = store.cast_vote("q", voted.interrupt_id, "yes", voter="ada", vote="approve")
    assert outcome is not None
    assert _exact(store)["q"] == 0
    store.delete_thread("t")
    assert "t" not in _exact(store)


def test_sqlite_counts_every_way(tmp_path: Path) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    with SqliteSaver(tmp_path / "w.db") as store:
        _scenario(store)


@pytest.mark.postgres
def test_postgres_counts_every_way() -> None:
    from tests.pg import fresh_postgres_saver

    store = fresh_postgres_saver()
    try:
        _scenario(store)
    finally:
        store.close()


@pytest.fixture
def before_16(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def write(store: Any) -> None:
        for name, pending in (("a", 2), ("b", 0)):
            rec = make_record(name, None, [], {})
            asks = [make_interrupt(name, rec.checkpoint_id, i) for i in range(pending)]
            store.put_checkpoint(rec, expected_head=None, interrupts=asks)

    def older(open_store: Any) -> None:
        with monkeypatch.context() as m:
            m.setattr(_sql_core, "MIGRATIONS", [x for x in MIGRATIONS if x[0] < 16])
            store = open_store()
            try:
                write(store)
            finally:
                store.close()

    yield older


def test_the_migration_counts_what_was_pending(tmp_path: Path, before_16: Any) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    before_16(lambda: SqliteSaver(tmp_path / "old.db"))
    with SqliteSaver(tmp_path / "old.db") as store:
        assert _exact(store) == {"a": 2, "b": 0}
        idle = store.search_threads(ThreadQuery(pending=False))
        assert [t.thread_id for t in idle] == ["b"]
