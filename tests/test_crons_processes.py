"""Schedulers in several processes sharing one store (a SQLite file, a PostgreSQL schema)
tick at the same moment: each due time of each cron is queued exactly once, whichever
process wins, and every other process reports it done."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlock.checkpoint.base import CronJob
from tests._cron_race import ticker
from tests._race import open_saver

pytestmark = pytest.mark.slow

T0 = datetime(2027, 6, 1, 0, 0, tzinfo=UTC)


def race(spec: str, processes: int, rounds: int, crons: int) -> None:
    saver = open_saver(spec)
    for i in range(crons):  # due at T0 + i minutes, then hourly at that minute
        due = T0 + timedelta(minutes=i)
        saver.add_cron(
            CronJob(
                cron_id=f"c{i}",
                agent="counter",
                owner="bob",
                schedule=f"{i} * * * *",
                on_run_completed="keep",
                next_run_date=due,
                created_at=T0,
                updated_at=T0,
            ),
            actor="bob",
        )
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    start = (T0 + timedelta(minutes=crons)).isoformat()
    procs = [
        ctx.Process(target=ticker, args=(spec, start, rounds, barrier, results))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    outcomes = []
    ticks = 0
    while ticks < processes * rounds:
        item = results.get(timeout=120)
        if item[2] == "tick":
            ticks += 1
        else:
            outcomes.append(item)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [o for o in outcomes if o[2].startswith("error")]
    assert not errors, errors
    queued = Counter((r, c) for r, c, o in outcomes if o == "queued")
    assert queued == Counter({(r, f"c{i}"): 1 for r in range(rounds) for i in range(crons)})
    assert {o for _, _, o in outcomes} <= {"queued", "done", "stale"}
    runs = saver.list_runs(limit=10_000)
    assert len(runs) == rounds * crons and len({r.run_id for r in runs}) == rounds * crons
    queued_entries = [
        e for e in saver.list_audit(after="", limit=10_000).items if e.action == "run.queued"
    ]
    assert len(queued_entries) == rounds * crons
    saver.close()


def test_processes_on_one_sqlite_file_fire_each_due_time_once(tmp_path: Path) -> None:
    spec = f"sqlite:{tmp_path / 'crons.db'}"
    open_saver(spec).close()  # the schema, made once
    race(spec, processes=4, rounds=6, crons=3)


@pytest.mark.postgres
def test_processes_on_one_postgres_schema_fire_each_due_time_once() -> None:
    from tests.pg import postgres_spec

    spec = postgres_spec()
    open_saver(spec).close()
    race(spec, processes=4, rounds=6, crons=3)
