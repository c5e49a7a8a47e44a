"""Migration 18 (the run queue's fronts): a store written before it upgrades in place on
SQLite and PostgreSQL — `run_fronts` gets the front of every thread with open runs (a
running run, a run given back for a version, a run whose owner died, queued runs behind
ended and cancelled ones), claims then take them in the order they always would, and the
triggers keep the fronts from there on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from tests._release_store import migrations_before
from tests._run_fronts import check_fronts


def _write_before_18(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs in every state, through the store's functions that need no `run_fronts`."""
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(18))
        old = open_store()
        try:
            assert 18 not in old.schema_versions()

            def run(run_id: str, owner: str | None = None, ttl: float = 60) -> None:
                thread = run_id[0]
                old.enqueue_run(
                    thread_id=thread, agent="g", input={}, run_id=run_id, owner=owner, ttl=ttl
                )

            run("a1", owner="w")  # running, its lease live
            run("a2")
            run("a3")
            run("b1", owner="w")
            assert old.finish_run("b1", "w", status="done")
            run("b2")
            assert old.cancel_run("b2") is not None
            run("b3")
            run("b4")
            run("c1", owner="w")  # given back for a version no process runs
            assert old.release_run("c1", "w", for_version=("g", "v9"))
            run("c2")
            run("d1", owner="w")  # the thread's only run: ended
            assert old.finish_run("d1", "w", status="failed", error="x")
            run("e1", owner="dead", ttl=0)  # its owner died: claimable again
            run("e2")
        finally:
            old.close()


def _check(store: Any) -> None:
    assert 18 in store.schema_versions()
    assert check_fronts(store) == [("a", "a1"), ("b", "b3"), ("c", "c1"), ("e", "e1")]
    claimed = [store.claim_run("w2", ttl=60) for _ in range(4)]
    assert [r.run_id if r else None for r in claimed] == ["b3", "c1", "e1", None]
    assert claimed[2] is not None and claimed[2].attempts == 2  # e1 taken over
    assert store.finish_run("a1", "w", status="done")  # the triggers take it from here
    assert store.finish_run("b3", "w2", status="done")
    assert check_fronts(store) == [("a", "a2"), ("b", "b4"), ("c", "c1"), ("e", "e1")]
    assert [store.claim_run("w3", ttl=60).run_id for _ in range(2)] == ["a2", "b4"]
    store.enqueue_run(thread_id="d", agent="g", input={}, run_id="d2")
    assert store.claim_run("w3", ttl=60).run_id == "d2"


def test_a_sqlite_store_before_the_run_fronts_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "old.db"
    _write_before_18(lambda: SqliteSaver(path), monkeypatch)
    with SqliteSaver(path) as store:
        _check(store)


@pytest.mark.postgres
def test_a_postgres_store_before_the_run_fronts_upgrades(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _write_before_18(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
    store = PostgresSaver(DSN, schema=schema)
    try:
        _check(store)
    finally:
        store.close()
