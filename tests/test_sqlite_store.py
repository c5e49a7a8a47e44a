"""SqliteSaver on a real file: processes racing, WAL, migrations, storage size, errors."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import serde
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint.base import CheckpointRecord, SnapshotPolicy, TaskWrites, Write
from interlock.checkpoint.conformance import make_interrupt, make_record
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.errors import ResumeConflict, StoreUnavailable

PROCESSES = 6
VERSIONS = [version for version, _, _ in MIGRATIONS]
ROUNDS = 5


def _resolve_worker(path: str, ids: list[str], barrier: Any, results: Any) -> None:
    """Race the other workers to decide each interrupt (runs in a spawned process)."""
    import os

    saver = SqliteSaver(path)
    try:
        for n, iid in enumerate(ids):
            barrier.wait()
            try:
                saver.resolve_interrupts(f"t{n}", {iid: os.getpid()}, decided_by=str(os.getpid()))
                results.put((n, "won", os.getpid()))
            except ResumeConflict:
                results.put((n, "lost", os.getpid()))
            except Exception as exc:  # reported to the parent, which fails the test
                results.put((n, f"error {type(exc).__name__}: {exc}", os.getpid()))
    finally:
        saver.close()


@pytest.mark.slow
def test_processes_racing_to_decide_one_interrupt_have_one_winner(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    ids = []
    with SqliteSaver(path) as saver:
        for n in range(ROUNDS):
            [rec] = _chain(saver, f"t{n}", 1)
            intr = make_interrupt(f"t{n}", rec.checkpoint_id)
            saver.put_task_writes(f"t{n}", "", rec.checkpoint_id, [], [intr])
            ids.append(intr.interrupt_id)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_resolve_worker, args=(path, ids, barrier, results))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(PROCESSES * ROUNDS)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert not [o for o in outcomes if o[1] not in ("won", "lost")], outcomes
    with SqliteSaver(path) as saver:
        for n, iid in enumerate(ids):
            winners = [pid for r, o, pid in outcomes if r == n and o == "won"]
            assert len(winners) == 1, (n, outcomes)
            decided = saver.get_interrupt(iid)
            assert decided is not None and decided.status == "resolved"
            assert decided.resume == winners[0] and decided.decided_by == str(winners[0])


def _open_worker(paths: list[str], barrier: Any, results: Any) -> None:
    for path in paths:
        barrier.wait()
        try:
            with SqliteSaver(path) as saver:
                results.put(saver.schema_versions())
        except Exception as exc:
            results.put(f"error {type(exc).__name__}: {exc}")


@pytest.mark.slow
def test_processes_creating_the_schema_at_once_apply_each_migration_once(
    tmp_path: Path,
) -> None:
    paths = [str(tmp_path / f"fresh{n}.db") for n in range(5)]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_open_worker, args=(paths, barrier, results)) for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(PROCESSES * len(paths))]
    for p in procs:
        p.join(timeout=60)
    assert outcomes == [VERSIONS] * (PROCESSES * len(paths))
    for path in paths:
        con = sqlite3.connect(path)
        assert con.execute("SELECT version FROM interlock_migrations").fetchall() == [
            (v,) for v in VERSIONS
        ]
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        con.close()


def _chain(saver: SqliteSaver, thread: str, steps: int) -> list[CheckpointRecord]:
    records: list[CheckpointRecord] = []
    parent = None
    for i in range(steps):
        rec = make_record(thread, parent, [("n", i)], {"n": i})
        saver.put_checkpoint(rec, expected_head=parent.checkpoint_id if parent else None)
        records.append(rec)
        parent = rec
    return records


def test_wal_mode_busy_timeout_and_migrations_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with SqliteSaver(path, busy_timeout=7) as saver:
        conn = saver._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 7000
        assert saver.schema_versions() == VERSIONS
        first = conn.execute("SELECT version, applied_at FROM interlock_migrations").fetchall()
        saver.setup()  # idempotent
        assert (
            conn.execute("SELECT version, description FROM interlock_migrations").fetchall()
            == [
                (1, "threads, heads, checkpoints, task writes, interrupts"),
                (2, MIGRATIONS[1][1]),  # PostgreSQL-only statements: recorded, nothing run
                (3, "audit log"),
                (4, "deadlines: pending requests by deadline"),
                (5, MIGRATIONS[4][1]),
                (6, MIGRATIONS[5][1]),
                (7, MIGRATIONS[6][1]),
                *((v, d) for v, d, _ in MIGRATIONS[7:]),
            ]
        )
        assert (
            conn.execute("SELECT version, applied_at FROM interlock_migrations").fetchall() == first
        )
        _chain(saver, "t", 2)
    with SqliteSaver(path) as again:
        assert again.schema_versions() == VERSIONS
        rows = again._conn().execute("SELECT version, applied_at FROM interlock_migrations")
        assert rows.fetchall() == first
        assert again.get_checkpoint("t") is not None  # data survives a reopen


def test_the_inbox_query_uses_its_index(tmp_path: Path) -> None:
    with SqliteSaver(tmp_path / "i.db") as saver:
        plan = saver._conn().execute(
            "EXPLAIN QUERY PLAN SELECT interrupt_id FROM interrupts WHERE status = 'pending' "
            "AND (created_at > '' OR (created_at = '' AND interrupt_id > '')) "
            "ORDER BY created_at, interrupt_id LIMIT 10"
        )
        detail = " ".join(str(row[-1]) for row in plan.fetchall())
    assert "interrupts_inbox" in detail and "TEMP B-TREE" not in detail


def test_a_400_step_conversation_stays_within_5x_its_text(tmp_path: Path) -> None:
    path = tmp_path / "size.db"
    message = "x" * 500
    log: list[str] = []
    parent = None
    with SqliteSaver(path) as saver:
        for i in range(400):
            log = [*log, f"{i:03d}{message[3:]}"]
            rec = make_record("chat", parent, [("log", [log[-1]])], {"log": log})
            saver.put_checkpoint(rec, expected_head=parent.checkpoint_id if parent else None)
            parent = rec
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    empty = tmp_path / "empty.db"  # the schema's own pages: a fixed cost, not growth
    SqliteSaver(empty).close()
    con = sqlite3.connect(empty)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    raw = 400 * 500
    size = path.stat().st_size - empty.stat().st_size
    assert size <= 5 * raw, f"{size} bytes is {size / raw:.1f}x the raw text"
    with SqliteSaver(path) as fresh:  # a new process-like reader: no cached stats
        head = fresh.get_checkpoint("chat")
        assert head is not None
        folded = list(head.base.get("log", [])) + [w.value[0] for ws in head.chain for w in ws]
        assert folded == log
        # bounded: the writes folded are at most ~ratio x the snapshot they start from
        chain_bytes = sum(len(serde.dumps(w.value)) for ws in head.chain for w in ws)
        assert chain_bytes <= 2 * len(serde.dumps(head.base)) + 600
        assert len(head.chain) < 400
        step = fresh.get_checkpoint("chat", after=head.record.parent_id)
        assert step is not None and step.base == {} and len(step.chain) == 1


def test_two_savers_on_one_file_plan_snapshots_from_stored_stats(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    policy = SnapshotPolicy(ratio=1.0, min_bytes=64, max_steps=4)
    with (
        SqliteSaver(path, snapshot_policy=policy) as a,
        SqliteSaver(path, snapshot_policy=policy) as b,
    ):
        parent = None
        for i in range(30):
            writer = a if i % 2 else b  # neither has the parent's stats cached half the time
            rec = make_record("t", parent, [("n", i)], {"n": i})
            writer.put_checkpoint(rec, expected_head=parent.checkpoint_id if parent else None)
            parent = rec
        stale = make_record("t", None, [], {})
        with pytest.raises(ResumeConflict):
            a.put_checkpoint(stale, expected_head=None)
        head = b.get_checkpoint("t")
        assert head is not None and len(head.chain) <= 4
        assert head.record.checkpoint_id == parent.checkpoint_id  # type: ignore[union-attr]
        snapshots = (
            a._conn()
            .execute("SELECT COUNT(*) FROM checkpoints WHERE snapshot IS NOT NULL")
            .fetchone()[0]
        )
        assert 6 <= snapshots <= 12


def test_unreachable_or_broken_files_raise_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open"):
        SqliteSaver(tmp_path / "no" / "such" / "dir" / "x.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable):
        SqliteSaver(junk)
    saver = SqliteSaver(tmp_path / "ok.db")
    saver.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        saver.get_checkpoint("t")


def test_from_conn_string_closes_on_exit(tmp_path: Path) -> None:
    with SqliteSaver.from_conn_string(str(tmp_path / "c.db")) as saver:
        _chain(saver, "t", 1)
    with pytest.raises(StoreUnavailable):
        saver.list_threads()


def test_values_are_readable_json_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "json.db"
    with SqliteSaver(path) as saver:
        rec = CheckpointRecord(
            thread_id="t",
            checkpoint_id="0" * 32,
            parent_id=None,
            step=-1,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            source="input",
            writes=(Write(node="__input__", channel="q", value="hello ☃"),),
            next=("a",),
            values={"q": "hello ☃"},
        )
        saver.put_checkpoint(rec, expected_head=None)
        saver.put_task_writes(
            "t", "", rec.checkpoint_id, [TaskWrites(task_id="a", task_name="a", writes=())]
        )
    con = sqlite3.connect(path)
    writes, snapshot = con.execute("SELECT writes, snapshot FROM checkpoints").fetchone()
    con.close()
    assert writes == '[["__input__","q","hello ☃"]]'
    assert snapshot == '{"q":"hello ☃"}'
