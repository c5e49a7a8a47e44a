"""Migration 18, the run queue's fronts: `run_fronts` holds, for each thread with open
(queued or running) runs, its oldest open run — the one run of the thread a worker may
claim. Triggers on `runs` keep it, whichever statement changes a thread's open runs.

Before it, a claim walked the open runs oldest first and asked, for each, whether an older
open run of its thread held it back. With every claimable front taken (the poll of an idle
worker) it read every open run: on PostgreSQL 11 ms for 2,000 open runs on 200 threads and
95 ms for 20,000 (87 and 222 ms while the tables had no statistics), on SQLite 2 and 27 ms
(`bench/claim_scale.py`). Now it walks the fronts oldest first and stops at the first it may
claim: under 2 ms on PostgreSQL and 0.3 ms on SQLite in both cases.

A front is the oldest open run by `(created_at, run_id)`, the claim's order. The triggers
fire when a run is queued, and when a run ends or is deleted while open. A run queued behind
the front, or one ended that was not the front, changes nothing; otherwise the thread's
front is read from its open runs (`runs_open_thread`). On PostgreSQL the thread's row in
`run_fronts` is locked first (made if the thread has none): writers of one thread's runs
take turns there, and the one that goes second reads the runs afresh (each statement of a
PL/pgSQL function sees what committed before it began), so whichever commits last saw every
change before its own. Locks are taken in one order — the runs a statement changes, then
their thread's row of `run_fronts` — so the triggers add no deadlock. A claim locks the
run it takes, then its thread's row of `run_fronts`, both with `SKIP LOCKED` (it never
waits: `_runs/postgres.py`).
"""

from __future__ import annotations

__all__ = ["RUN_FRONTS_MIGRATION"]

OPEN = "('queued', 'running')"


def _sqlite_opened(run: str) -> str:
    """`run` is open now: it is its thread's front unless the front is older (a younger
    front, from a clock that went back, gives way)."""
    return (
        f"DELETE FROM run_fronts WHERE thread_id = {run}.thread_id "
        f"AND (created_at > {run}.created_at "
        f"OR (created_at = {run}.created_at AND run_id > {run}.run_id)); "
        "INSERT INTO run_fronts (thread_id, run_id, created_at) "
        f"SELECT {run}.thread_id, {run}.run_id, {run}.created_at WHERE NOT EXISTS "
        f"(SELECT 1 FROM run_fronts f WHERE f.thread_id = {run}.thread_id);"
    )


def _sqlite_closed(run: str) -> str:
    """`run` ended or went: if it was its thread's front, the next open run is."""
    return (
        f"DELETE FROM run_fronts WHERE thread_id = {run}.thread_id AND run_id = {run}.run_id; "
        "INSERT INTO run_fronts (thread_id, run_id, created_at) "
        f"SELECT thread_id, run_id, created_at FROM runs WHERE thread_id = {run}.thread_id "
        f"AND status IN {OPEN} AND NOT EXISTS (SELECT 1 FROM run_fronts f "
        f"WHERE f.thread_id = {run}.thread_id) ORDER BY created_at, run_id LIMIT 1;"
    )


_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS runs_front_queued AFTER INSERT ON runs "
    f"WHEN NEW.status IN {OPEN} BEGIN {_sqlite_opened('NEW')} END",
    "CREATE TRIGGER IF NOT EXISTS runs_front_ended AFTER UPDATE OF status ON runs "
    f"WHEN OLD.status IN {OPEN} AND NEW.status NOT IN {OPEN} "
    f"BEGIN {_sqlite_closed('OLD')} END",
    "CREATE TRIGGER IF NOT EXISTS runs_front_reopened AFTER UPDATE OF status ON runs "
    f"WHEN OLD.status NOT IN {OPEN} AND NEW.status IN {OPEN} "
    f"BEGIN {_sqlite_opened('NEW')} END",
    "CREATE TRIGGER IF NOT EXISTS runs_front_gone AFTER DELETE ON runs "
    f"WHEN OLD.status IN {OPEN} BEGIN {_sqlite_closed('OLD')} END",
]
"""SQLite has one writer at a time, so `run_fronts` is exact when a trigger starts: a run
opened is the front if it is older than the front; a run closed, if it was the front, is
followed by the thread's oldest open run."""

_PG_FRONT = f"""CREATE OR REPLACE FUNCTION interlock_run_front() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  run runs;
  opened boolean;
  locked boolean;
  front_id text;
  front_at timestamptz;
BEGIN
  IF TG_OP = 'DELETE' THEN
    run := OLD;
    opened := false;
  ELSE
    run := NEW;
    opened := NEW.status IN {OPEN};
  END IF;
  SELECT f.run_id, f.created_at INTO front_id, front_at FROM run_fronts f
  WHERE f.thread_id = run.thread_id FOR UPDATE;
  locked := FOUND;
  IF locked AND opened AND (front_at, front_id) < (run.created_at, run.run_id) THEN
    RETURN NULL;
  END IF;
  IF locked AND NOT opened AND front_id <> run.run_id THEN
    RETURN NULL;
  END IF;
  IF NOT locked THEN
    INSERT INTO run_fronts (thread_id) VALUES (run.thread_id)
    ON CONFLICT (thread_id) DO UPDATE SET run_id = run_fronts.run_id;
  END IF;
  SELECT r.run_id, r.created_at INTO front_id, front_at FROM runs r
  WHERE r.thread_id = run.thread_id AND r.status IN {OPEN}
  ORDER BY r.created_at, r.run_id LIMIT 1;
  IF NOT FOUND THEN
    DELETE FROM run_fronts WHERE thread_id = run.thread_id;
  ELSE
    UPDATE run_fronts SET run_id = front_id, created_at = front_at
    WHERE thread_id = run.thread_id AND run_id IS DISTINCT FROM front_id;
  END IF;
  RETURN NULL;
END $$"""
"""Lock the thread's row of `run_fronts` (the latest committed: the front of the runs
committed by then). A run opened behind the front, or a run closed that was not the front,
changes nothing. Otherwise (made first if the thread has no row: a new one, or one a
concurrent writer deleted) the front is read afresh from the thread's open runs; none left:
the row goes."""

_PG = [
    _PG_FRONT,
    "CREATE TRIGGER runs_front_queued AFTER INSERT ON runs FOR EACH ROW "
    f"WHEN (NEW.status IN {OPEN}) EXECUTE FUNCTION interlock_run_front()",
    "CREATE TRIGGER runs_front_changed AFTER UPDATE OF status ON runs FOR EACH ROW "
    f"WHEN ((OLD.status IN {OPEN}) <> (NEW.status IN {OPEN})) "
    "EXECUTE FUNCTION interlock_run_front()",
    "CREATE TRIGGER runs_front_gone AFTER DELETE ON runs FOR EACH ROW "
    f"WHEN (OLD.status IN {OPEN}) EXECUTE FUNCTION interlock_run_front()",
]

RUN_FRONTS_MIGRATION: list[str | tuple[str, str]] = [
    # run_id and created_at are NULL only inside the PostgreSQL transaction that made the
    # row; on SQLite the table is its primary key (one B-tree fewer written per change)
    (
        "sqlite",
        "CREATE TABLE IF NOT EXISTS run_fronts (thread_id TEXT PRIMARY KEY, run_id TEXT, "
        "created_at {ts}) WITHOUT ROWID",
    ),
    (
        "postgres",
        "CREATE TABLE IF NOT EXISTS run_fronts (thread_id TEXT PRIMARY KEY, run_id TEXT, "
        "created_at {ts})",
    ),
    "CREATE INDEX IF NOT EXISTS run_fronts_order ON run_fronts (created_at, run_id)",
    # a thread's open runs, oldest first (the triggers' read); the claim no longer walks
    # every open run by age
    f"CREATE INDEX IF NOT EXISTS runs_open_thread ON runs (thread_id, created_at, run_id) "
    f"WHERE status IN {OPEN}",
    "DROP INDEX IF EXISTS runs_open",
    *(("sqlite", s) for s in _SQLITE),
    *(("postgres", s) for s in _PG),
    # the fronts of the runs open now (after the triggers: on PostgreSQL, CREATE TRIGGER
    # holds writers of `runs` off until the migration commits)
    "INSERT INTO run_fronts (thread_id, run_id, created_at) "
    "SELECT r.thread_id, r.run_id, r.created_at FROM runs r "
    f"WHERE r.status IN {OPEN} AND NOT EXISTS (SELECT 1 FROM runs e "
    f"WHERE e.thread_id = r.thread_id AND e.status IN {OPEN} AND (e.created_at < r.created_at "
    "OR (e.created_at = r.created_at AND e.run_id < r.run_id)))",
]
"""The statements of migration 18 (`_migrations.MIGRATIONS`)."""
