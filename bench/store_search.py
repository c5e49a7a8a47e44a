"""How long a semantic search takes on interlock's long-term memory stores: exact cosine
ranking in Python over every vector under the searched prefix.

    python bench/store_search.py                                  # memory and SQLite
    python bench/store_search.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python bench/store_search.py --items 1000 10000 --dims 256 --rounds 20

For each store and size: `items` items of one field each under one namespace, with random
unit vectors of `dims` numbers (written through the store, the embedder returning them by
text); then `rounds` searches `search(prefix, query=..., limit=10)` with random query
vectors, and the same search with a filter that keeps one item in ten. Prints the median
and 90th percentile time of a search and the time per thousand vectors ranked.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interlock.store import BaseStore
from interlock.store.memory import InMemoryStore
from interlock.store.sqlite import SqliteStore


class Vectors:
    """An embedder answering each text with a fixed random unit vector (the text is its
    number), so that writing and querying cost no model time."""

    def __init__(self, dims: int, seed: int = 7) -> None:
        self.dims = dims
        self.random = random.Random(seed)
        self.known: dict[str, list[float]] = {}

    def vector(self) -> list[float]:
        v = [self.random.gauss(0, 1) for _ in range(self.dims)]
        n = sum(x * x for x in v) ** 0.5
        return [x / n for x in v]

    def __call__(self, texts: list[str]) -> list[list[float]]:
        return [self.known.setdefault(t, self.vector()) for t in texts]


@contextmanager
def open_store(kind: str, index: dict[str, Any], dsn: str | None) -> Iterator[BaseStore]:
    if kind == "memory":
        yield InMemoryStore(index=index)
    elif kind == "sqlite":
        with (
            tempfile.TemporaryDirectory() as tmp,
            SqliteStore(Path(tmp) / "s.db", index=index) as s,
        ):
            yield s
    else:
        import psycopg

        from interlock.store.postgres import PostgresStore

        schema = f"bench_search_{random.randrange(10**9)}"
        try:
            with PostgresStore(str(dsn), index=index, schema=schema) as p:
                yield p
        finally:
            with psycopg.connect(str(dsn), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def measure(kind: str, items: int, dims: int, rounds: int, dsn: str | None) -> dict[str, float]:
    vectors = Vectors(dims)
    index = {"embed": vectors, "dims": dims, "fields": ["text"]}
    with open_store(kind, index, dsn) as store:
        from interlock.store import PutOp

        for start in range(0, items, 500):
            store.batch(
                [
                    PutOp(("docs",), f"k{i}", {"text": str(i), "tenth": i % 10 == 0})
                    for i in range(start, min(items, start + 500))
                ]
            )
        out: dict[str, float] = {}
        for label, filter in (("query", None), ("query+filter", {"tenth": True})):
            times = []
            for r in range(rounds):
                query = f"q{r}"
                began = time.perf_counter()
                found = store.search(("docs",), query=query, filter=filter, limit=10)
                times.append(time.perf_counter() - began)
                assert len(found) == 10
            times.sort()
            out[f"{label} median ms"] = statistics.median(times) * 1000
            out[f"{label} p90 ms"] = times[int(len(times) * 0.9) - 1] * 1000
        out["ms per 1k vectors"] = out["query median ms"] / (items / 1000)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--postgres", default=None, help="a DSN: measure PostgresStore too")
    args = parser.parse_args()
    kinds = ["memory", "sqlite", *(["postgres"] if args.postgres else [])]
    print("| store | items | dims | query (median / p90) | query + filter (median / p90) |")
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        for items in args.items:
            r = measure(kind, items, args.dims, args.rounds, args.postgres)
            print(
                f"| {kind} | {items:,} | {args.dims} | "
                f"{r['query median ms']:.0f} / {r['query p90 ms']:.0f} ms | "
                f"{r['query+filter median ms']:.0f} / {r['query+filter p90 ms']:.0f} ms |",
                flush=True,
            )


if __name__ == "__main__":
    main()
