"""What secondary indexes cost the SQLite interrupt+resume round trip: an upper bound.

    python bench/index_cost.py                                   # A/A: the method's noise
    python bench/index_cost.py --drop audit_thread               # one index
    python bench/index_cost.py --drop threads_idle threads_leased --rounds 3000

Two SQLite stores in one process, one as interlock makes it (A) and one with the given
indexes dropped (B), and bench/run.py's round trip on each, alternated A B, B A, ... so
that the machine's drift falls on both alike. Prints the median and mean of each and B/A.

The B store answers no query that needed those indexes at the speed interlock promises:
this measures what the writes of a pause and a decision spend on them, which is what
removing or merging an index could save, at most.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import Sys, _roundtrip
from interlock.checkpoint.sqlite import SqliteSaver


def round_trip(path: Path, drop: list[str]) -> tuple[Callable[[], None], SqliteSaver]:
    """bench/run.py's round trip on a new store at `path`, with `drop` dropped."""
    saver = SqliteSaver(path)
    with sqlite3.connect(path) as raw:
        for index in drop:
            raw.execute(f'DROP INDEX "{index}"')
    return _roundtrip(Sys("interlock"), saver), saver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drop", nargs="*", default=[], help="indexes to drop in B")
    parser.add_argument("--rounds", type=int, default=1500, help="round trips of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, a_saver = round_trip(Path(tmp) / "a.db", [])
        b, b_saver = round_trip(Path(tmp) / "b.db", args.drop)
        for _ in range(50):
            a()
            b()
        times: dict[str, list[int]] = {"A": [], "B": []}
        for i in range(args.rounds):
            order = (("A", a), ("B", b)) if i % 2 == 0 else (("B", b), ("A", a))
            for name, fn in order:
                start = time.perf_counter_ns()
                fn()
                times[name].append(time.perf_counter_ns() - start)
        a_saver.close()
        b_saver.close()
    med = {k: statistics.median(v) / 1e6 for k, v in times.items()}
    mean = {k: statistics.mean(v) / 1e6 for k, v in times.items()}
    print(f"dropped: {', '.join(args.drop) or '(nothing: A/A)'}")
    print(
        f"median A {med['A']:.3f} ms  B {med['B']:.3f} ms  B/A {med['B'] / med['A']:.3f}   "
        f"mean A {mean['A']:.3f} ms  B {mean['B']:.3f} ms  B/A {mean['B'] / mean['A']:.3f}"
    )


if __name__ == "__main__":
    main()
