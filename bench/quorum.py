"""Cost per decision of quorum votes and of answer binding (issue 21), SQLite and Postgres.

    python bench/quorum.py                                    # SQLite
    python bench/quorum.py --postgres postgresql://postgres@127.0.0.1:5432/test

For each store, `--requests` threads each pause on one request; then each request is decided
and the run resumes to the end. Timed (median over requests, wall clock and this process's
CPU time), per request:

- `plain`: one decision on a request without a quorum (today's path, now with the answer's
  binding recorded: question digest, decider, rule);
- `plain+valid_for`: the same with `configurable.valid_for` (the window is recorded too);
- `quorum 2-of-3, vote 1`: the first vote (recorded, the run stops: still waiting);
- `quorum 2-of-3, vote 2`: the vote that completes the quorum and resumes the run;
- `quorum 2-of-3, total`: both votes.

Compare `plain` with `bench/ab.py` (main before this change vs after, `roundtrip` rows) for
the cost of binding against today's decision path.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from interlock import START, Command, StateGraph, interrupt


class S(TypedDict, total=False):
    answer: Any


def graph(saver: Any, quorum: int | None) -> Any:
    def ask(state: S) -> dict:
        kw: dict[str, Any] = {"approvers": ["ada", "bob", "cy"]}
        if quorum:
            kw["quorum"] = quorum
        return {"answer": interrupt({"action": "pay", "amount": 120, "to": "acme"}, **kw)}

    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    return g.compile(checkpointer=saver)


def cfg(thread: str, user: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "user_id": user, **extra}}


def timed(graph: Any, thread: str, user: str, **extra: Any) -> tuple[float, float]:
    """Decide `thread`'s request as `user`: (wall ms, CPU ms)."""
    w, c = time.perf_counter(), time.thread_time()
    graph.invoke(Command(resume="ok"), cfg(thread, user, **extra))
    return (time.perf_counter() - w) * 1000, (time.thread_time() - c) * 1000


def measure(saver: Any, n: int) -> dict[str, tuple[float, float]]:
    rows: dict[str, list[tuple[float, float]]] = {}
    plain, voted = graph(saver, None), graph(saver, 2)
    for i in range(n):  # pause every thread first: only decisions are timed
        plain.invoke({}, cfg(f"p{i}", "req"))
        plain.invoke({}, cfg(f"v{i}", "req"))
        voted.invoke({}, cfg(f"q{i}", "req"))
    for i in range(n):
        rows.setdefault("plain", []).append(timed(plain, f"p{i}", "ada"))
        rows.setdefault("plain+valid_for", []).append(timed(plain, f"v{i}", "ada", valid_for=60))
        one, two = timed(voted, f"q{i}", "ada"), timed(voted, f"q{i}", "bob")
        rows.setdefault("quorum 2-of-3, vote 1", []).append(one)
        rows.setdefault("quorum 2-of-3, vote 2", []).append(two)
        rows.setdefault("quorum 2-of-3, total", []).append((one[0] + two[0], one[1] + two[1]))
    return {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in rows.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", help="a DSN: measure PostgresSaver too")
    args = parser.parse_args()
    stores: list[tuple[str, Callable[[], Any]]] = []
    tmp = Path(tempfile.mkdtemp())
    from interlock.checkpoint.sqlite import SqliteSaver

    stores.append(("sqlite", lambda: SqliteSaver(tmp / "bench.db")))
    if args.postgres:
        import uuid

        from interlock.checkpoint.postgres import PostgresSaver

        schema = f"bench_quorum_{uuid.uuid4().hex[:8]}"
        stores.append(("postgres", lambda: PostgresSaver(args.postgres, schema=schema)))
    print(f"{'store':9} {'decision':24} {'wall ms':>8} {'cpu ms':>8}")
    for name, make in stores:
        saver = make()
        try:
            for row, (wall, cpu) in measure(saver, args.requests).items():
                print(f"{name:9} {row:24} {wall:8.2f} {cpu:8.2f}")
        finally:
            if name == "postgres":
                with saver._read() as conn:  # leave no schema behind
                    conn.execute(f"DROP SCHEMA IF EXISTS {saver.schema} CASCADE")
            saver.close()


if __name__ == "__main__":
    main()
