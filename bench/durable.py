"""The cost of durable runs: a message's run to its pause, then its decision's resume,
through the service's own functions (`run_input`, `decide_request`; no HTTP), per pair.

Each round runs both trees in fresh processes, interleaved (A, B, A, B, ...); printed per
store: the median of the rounds' medians / the fastest pair, for A and B, and B / A:

    python bench/durable.py /tmp/base/src src --rounds 5 --n 200 \
        --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time, uuid
from typing import TypedDict
import interlock as il
from interlock.server._operations import decide_request, run_input
from interlock.server.auth import Principal

kind, where, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "sqlite":
    saver = il.SqliteSaver(where)
else:
    import psycopg
    from interlock.checkpoint.postgres import PostgresSaver
    schema = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(where, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    saver = PostgresSaver(where, schema=schema)

class S(TypedDict, total=False):
    item: str
    ok: str

def review(state):
    return {"ok": il.interrupt({"pay": state["item"]})}

g = il.StateGraph(S)
g.add_node("review", review)
g.add_edge(il.START, "review")
graph = g.compile(checkpointer=saver, name="pay")
bob = Principal("bob", frozenset({"requester"}))
ada = Principal("ada", frozenset({"approver"}))
times = []
for i in range(n):
    t0 = time.perf_counter()
    view = run_input(saver, graph, "pay", f"t{i}", {"item": "x"}, bob)
    decide_request(saver, {"pay": graph}, view["interrupts"][0]["id"], "yes", ada,
                   allow_self_approval=False)
    times.append(time.perf_counter() - t0)
saver.close()
if kind != "sqlite":
    with psycopg.connect(where, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
print(json.dumps(times))
"""


def _one(src: str, kind: str, where: str, n: int) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, where, str(n)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    times = json.loads(out.stdout)[n // 10 :]  # after a warm-up tenth
    return statistics.median(times) * 1000, min(times) * 1000  # ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("a", help="the first tree's src directory (e.g. the base)")
    parser.add_argument("b", help="the second tree's src directory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    stores = ["sqlite"] + (["postgres"] if args.postgres else [])
    for kind in stores:
        got: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}
        for _ in range(args.rounds):
            for label, src in (("a", args.a), ("b", args.b)):
                with tempfile.TemporaryDirectory() as tmp:
                    where = os.path.join(tmp, "b.db") if kind == "sqlite" else args.postgres
                    got[label].append(_one(src, kind, where, args.n))
        a = statistics.median(m for m, _ in got["a"]), min(f for _, f in got["a"])
        b = statistics.median(m for m, _ in got["b"]), min(f for _, f in got["b"])
        print(
            f"| {kind} | {a[0]:.2f} / {a[1]:.2f} ms | {b[0]:.2f} / {b[1]:.2f} ms "
            f"| {b[0] / a[0]:.2f}x / {b[1] / a[1]:.2f}x |"
        )


if __name__ == "__main__":
    main()
