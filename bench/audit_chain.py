"""What the audit chain costs: time per pause (a checkpoint with one new request, audited)
and per decision (a request resolved, audited), on SQLite and PostgreSQL, with the chain on
and off, in 1 and N processes.

"Off" is the store as it wrote entries before migration 10: on SQLite the plain insert (the
store's `_chained` answers False), on PostgreSQL the `audit_chain` trigger disabled. On and
off alternate for `--rounds` rounds; each process writes its own threads.

    python bench/audit_chain.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --n 300 --rounds 3 --procs 1,4
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def _open(kind: str, where: str, chained: bool) -> Any:
    if kind == "sqlite":
        from interlock.checkpoint.sqlite import SqliteSaver

        saver: Any = SqliteSaver(where)
        if not chained:
            saver.__dict__["_audit_chained"] = False
        return saver
    from interlock.checkpoint.postgres import PostgresSaver

    dsn, schema = where.split("|")
    return PostgresSaver(dsn, schema=schema)


def _work(
    args: tuple[str, str, bool, int, str],
) -> tuple[list[float], list[float], float, float, float]:
    """One process: n pauses then n decisions; per-op wall seconds, the wall time, and this
    process's CPU seconds per pause and per decision."""
    from interlock.checkpoint._testkit import make_interrupt, make_record

    kind, where, chained, n, tag = args
    saver = _open(kind, where, chained)
    pauses, decisions = [], []
    started = time.perf_counter()
    cpu_pause = cpu_decision = 0.0
    try:
        made = []
        c0 = time.process_time()
        for i in range(n):
            rec = make_record(
                f"{tag}-{i}", None, [("n", 1)], {"n": 1}, checkpoint_id=uuid.uuid4().hex
            )
            pause = make_interrupt(rec.thread_id, rec.checkpoint_id, interrupt_id=uuid.uuid4().hex)
            t0 = time.perf_counter()
            saver.put_checkpoint(rec, expected_head=None, interrupts=[pause])
            pauses.append(time.perf_counter() - t0)
            made.append(pause)
        cpu_pause = (time.process_time() - c0) / n
        c0 = time.process_time()
        for pause in made:
            t0 = time.perf_counter()
            saver.resolve_interrupts(pause.thread_id, {pause.interrupt_id: True}, decided_by="a")
            decisions.append(time.perf_counter() - t0)
        cpu_decision = (time.process_time() - c0) / n
    finally:
        saver.close()
    return pauses, decisions, time.perf_counter() - started, cpu_pause, cpu_decision


def _store(kind: str, chained: bool, dsn: str | None, folder: Path) -> str:
    """A fresh store; returns where it is."""
    if kind == "sqlite":
        path = folder / f"{uuid.uuid4().hex}.db"
        from interlock.checkpoint.sqlite import SqliteSaver

        SqliteSaver(path).close()
        return str(path)
    import psycopg

    from interlock.checkpoint.postgres import PostgresSaver

    assert dsn is not None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    PostgresSaver(dsn, schema=schema).close()
    if not chained:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'ALTER TABLE "{schema}".audit_log DISABLE TRIGGER audit_chain')
    return f"{dsn}|{schema}"


def _drop(kind: str, where: str) -> None:
    if kind == "postgres":
        import psycopg

        dsn, schema = where.split("|")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    """Run the rounds and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default=None, help="a DSN; without it SQLite only")
    parser.add_argument("--n", type=int, default=300, help="pauses (and decisions) per process")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--procs", default="1,4", help="process counts, comma-separated")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgres"] if args.postgres else [])
    procs = [int(p) for p in args.procs.split(",")]
    results: dict[tuple[str, int, bool], dict[str, list[float]]] = {}
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, ctx.Pool(max(procs)) as pool:
        for _ in range(args.rounds):
            for kind in kinds:
                for p in procs:
                    for chained in (True, False):
                        where = _store(kind, chained, args.postgres, Path(tmp))
                        jobs = [(kind, where, chained, args.n, f"p{i}") for i in range(p)]
                        t0 = time.perf_counter()
                        out = pool.map(_work, jobs)
                        wall = time.perf_counter() - t0
                        _drop(kind, where)
                        r = results.setdefault(
                            (kind, p, chained),
                            {"pause": [], "decision": [], "ops": [], "cpu_p": [], "cpu_d": []},
                        )
                        r["cpu_p"].append(statistics.median(o[3] for o in out))
                        r["cpu_d"].append(statistics.median(o[4] for o in out))
                        r["pause"].append(statistics.median(x for o in out for x in o[0]))
                        r["decision"].append(statistics.median(x for o in out for x in o[1]))
                        r["ops"].append(2 * args.n * p / wall)
    print(
        "| store | processes | chain | pause: wall µs | decision: wall µs "
        "| pause: client CPU µs | decision: client CPU µs | ops/s (all processes) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (kind, p, chained), r in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        print(
            f"| {kind} | {p} | {'on' if chained else 'off'} "
            f"| {statistics.median(r['pause']) * 1e6:.0f} "
            f"| {statistics.median(r['decision']) * 1e6:.0f} "
            f"| {statistics.median(r['cpu_p']) * 1e6:.0f} "
            f"| {statistics.median(r['cpu_d']) * 1e6:.0f} "
            f"| {statistics.median(r['ops']):.0f} |"
        )


if __name__ == "__main__":
    main()
