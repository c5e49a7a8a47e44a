"""The run queue's claim at scale: how long `claim_run` takes with many open runs, most of
them waiting behind an older open run of their thread, on SQLite and PostgreSQL.

    python bench/claim_scale.py --db sqlite --open 2000 20000
    python bench/claim_scale.py --db postgresql://postgres@127.0.0.1:5432/test \
        --open 2000 20000 --explain

The store (a fresh file, or a fresh schema) is filled with the store's own functions:
`--open` runs queued with `enqueue_run` round-robin over `--threads` threads (so each
thread's first run is its front, the others wait behind it), one in `--marked-every` of them
given back for another version of the graph (`release_run(for_version=...)`) that a live
process advertises (`advertise_versions`); the claimer runs no version, so a thread whose
front is so marked is held back whole.

Three states of the queue, each timed `--claims` times (median and p95 of `claim_run`, in
ms; the claimed run is given back after each timed claim, so each claim sees the same
queue):

- `free`: no run is held; the claim takes the oldest front.
- `half`: other workers hold half the claimable fronts (running, live leases); the claim
  passes them.
- `none`: other workers hold every claimable front; the claim finds nothing (the poll of an
  idle worker).

Then the writes that move a thread's front: `--claims` runs queued behind the fronts
(`enqueue_run`) and `--claims` held runs finished (`finish_run`), median and p95 in ms.

Each state is timed twice: before the tables have statistics (on PostgreSQL autovacuum is
switched off on them, so the planner sees fresh tables) and after `ANALYZE`. `--explain`
prints the plan of the claim statement (`EXPLAIN (ANALYZE, BUFFERS)`, rolled back; on
SQLite `EXPLAIN QUERY PLAN` of its `SELECT`) in each state.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from interlock.checkpoint._sql_core import SqlCore  # noqa: E402
from interlock.checkpoint.base import WorkerVersion  # noqa: E402

GRAPH, OTHER = "agent", "v-other"
HOLD = 3600.0
"""The lease of the runs other workers hold (seconds): live for the whole bench."""


# ---- the store ---------------------------------------------------------------------------


@contextmanager
def open_store(db: str, workdir: Path) -> Iterator[tuple[Any, Any]]:
    """(the store to measure, a store on the same data for filling it)."""
    if db == "sqlite":
        from interlock.checkpoint.sqlite import SqliteSaver

        path = workdir / f"claim-{uuid.uuid4().hex[:8]}.db"
        with SqliteSaver(path) as store:
            yield store, store
        return
    from interlock.checkpoint.postgres import PostgresSaver

    schema = f"bench_claim_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in db else "?"
    store = PostgresSaver(db, schema=schema, request_timeout=60.0)
    # the fill commits without waiting for the WAL flush (scratch data)
    filler = PostgresSaver(f"{db}{sep}options=-c%20synchronous_commit%3Doff", schema=schema)
    try:
        names = tables(store)
        with store._write() as conn:  # a fresh table: no statistics until asked for
            for table in names:
                conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        yield store, filler
    finally:
        filler.close()
        with store._write() as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        store.close()


def fill(store: Any, runs: int, threads: int, marked_every: int) -> int:
    """Queue `runs` runs round-robin over `threads` threads; give one in `marked_every` back
    for version `OTHER`, which a live process advertises. Returns how many were marked."""
    store.advertise_versions(
        [WorkerVersion(owner="other-process", agent=GRAPH, graph=GRAPH, version_id=OTHER)],
        ttl=HOLD * 24,
    )
    marked = 0
    for n in range(runs):
        thread_id = f"thread-{n % threads:05d}"
        if marked_every and n % marked_every == marked_every - 1:
            run = store.enqueue_run(
                thread_id=thread_id, agent=GRAPH, input={"n": n}, owner="marker", ttl=HOLD
            )
            assert store.release_run(run.run_id, "marker", for_version=(GRAPH, OTHER))
            marked += 1
        else:
            store.enqueue_run(thread_id=thread_id, agent=GRAPH, input={"n": n})
    return marked


def tables(store: Any) -> list[str]:
    """The run queue's tables (`run_fronts` since migration 18)."""
    return ["runs", "worker_versions"] + (["run_fronts"] if 18 in store.schema_versions() else [])


def analyze(store: Any) -> None:
    """Give the planner statistics of the run queue's tables."""
    names = tables(store)
    with store._write() as conn:
        for table in names:
            conn.execute(f"ANALYZE {table}")


# ---- measuring ---------------------------------------------------------------------------


def timed_claims(store: Any, calls: int) -> list[float]:
    """`calls` claims (ms each); a claimed run is given back at once."""
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        run = store.claim_run("bench", ttl=60.0)
        out.append((time.perf_counter() - start) * 1000)
        if run is not None:
            assert store.release_run(run.run_id, "bench")
    return out


def hold(store: Any, count: int | None) -> list[tuple[str, str]]:
    """Other workers claim `count` runs (None: every claimable one) and keep them."""
    held: list[tuple[str, str]] = []
    while count is None or len(held) < count:
        owner = f"worker-{len(held)}"
        run = store.claim_run(owner, ttl=HOLD)
        if run is None:
            break
        held.append((run.run_id, owner))
    return held


def claim_statement(store: Any) -> tuple[str, tuple[Any, ...]]:
    """The statement `claim_run` sends that picks the run (as sent, with its parameters)."""
    seen: list[tuple[str, tuple[Any, ...]]] = []
    if store.dialect.name == "postgres":
        import psycopg

        original = psycopg.Connection.execute

        def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            seen.append((str(query), tuple(params or ())))
            return original(self, query, params, **kwargs)

        cls: Any = psycopg.Connection
        name = "execute"
    else:
        x = SqlCore._x

        def execute(self: Any, conn: Any, text: str, params: Any = ()) -> Any:  # type: ignore[misc]
            seen.append((self._q(text), tuple(params)))
            return x(self, conn, text, params)

        cls, name = SqlCore, "_x"
    original_attr = getattr(cls, name)
    setattr(cls, name, execute)
    try:
        run = store.claim_run("explain", ttl=60.0)
    finally:
        setattr(cls, name, original_attr)
    if run is not None:
        assert store.release_run(run.run_id, "explain")
    return next((q, p) for q, p in seen if "runs r WHERE" in q)


def explain(store: Any) -> str:
    """The plan of the claim statement, as the database ran it (rolled back)."""
    query, params = claim_statement(store)
    if store.dialect.name == "postgres":
        import psycopg

        with psycopg.connect(store.conninfo) as conn:
            conn.execute(f'SET search_path TO "{store.schema}"')
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params).fetchall()
            conn.rollback()
        return "\n".join(str(r[0]) for r in rows)
    rows = store._conn().execute("EXPLAIN QUERY PLAN " + query, params).fetchall()
    return "\n".join(str(r[-1]) for r in rows)


def release(store: Any, held: list[tuple[str, str]]) -> None:
    for run_id, owner in held:
        assert store.release_run(run_id, owner)


def measure(store: Any, label: str, calls: int, show: bool, states: list[str]) -> None:
    """Time the claim in `states` (see the module docstring)."""
    claimable: list[tuple[str, str]] = []
    if "half" in states:
        claimable = hold(store, None)
        release(store, claimable)
    counts = {"free": 0, "half": len(claimable) // 2, "none": None}
    for state in states:
        held = hold(store, counts[state])
        times = timed_claims(store, calls)
        report(label, state, times, len(held))
        if show:
            print(explain(store), "\n", flush=True)
        release(store, held)


def measure_writes(store: Any, label: str, calls: int, threads: int) -> None:
    """Time `calls` runs queued behind the threads' fronts, and `calls` runs finished (each
    moves its thread's front)."""
    times = []
    for n in range(calls):
        start = time.perf_counter()
        store.enqueue_run(thread_id=f"thread-{n % threads:05d}", agent=GRAPH, input={"n": n})
        times.append((time.perf_counter() - start) * 1000)
    report(label, "enqueue", times)
    times = []
    for run_id, owner in hold(store, calls):
        start = time.perf_counter()
        assert store.finish_run(run_id, owner, status="done")
        times.append((time.perf_counter() - start) * 1000)
    report(label, "finish", times)


def report(label: str, state: str, times: list[float], held: int | None = None) -> None:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    holding = f"held {held:>4}" if held is not None else " " * 9
    print(
        f"{label:<34} {state:<7} {holding}  median {statistics.median(times):8.3f} ms"
        f"  p95 {p95:8.3f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="sqlite or a PostgreSQL DSN")
    parser.add_argument("--open", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--threads", type=int, default=200)
    parser.add_argument("--marked-every", type=int, default=4)
    parser.add_argument("--claims", type=int, default=101)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument(
        "--states", nargs="+", choices=["free", "half", "none"], default=["free", "half", "none"]
    )
    parser.add_argument(
        "--statistics",
        nargs="+",
        choices=["without", "with"],
        default=["without", "with"],
        help="time the claim before ANALYZE, after it, or both",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for runs in args.open:
            with open_store(args.db, Path(tmp)) as (store, filler):
                start = time.perf_counter()
                marked = fill(filler, runs, args.threads, args.marked_every)
                took = time.perf_counter() - start
                print(
                    f"# {store.dialect.name} (schema {store.schema_versions()[-1]}): "
                    f"{runs} open runs on {args.threads} threads, "
                    f"{marked} marked for {OTHER} (filled in {took:.1f} s)",
                    flush=True,
                )
                if "without" in args.statistics:
                    label = f"{runs} open, no statistics"
                    measure(store, label, args.claims, args.explain, args.states)
                analyze(store)
                if "with" in args.statistics:
                    label = f"{runs} open, analysed"
                    measure(store, label, args.claims, args.explain, args.states)
                    measure_writes(store, label, args.claims, args.threads)


if __name__ == "__main__":
    main()
