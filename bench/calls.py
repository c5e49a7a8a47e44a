"""Deterministic costs of interlock's hot workloads: Python function calls and SQL statements
per operation (cProfile's counts), which a busy machine does not blur.

    PYTHONPATH=/path/to/src python bench/calls.py [--postgres DSN]

bench/ab.py --calls runs it on both trees and compares: a change in the work done shows
here exactly, whatever the noise of the timings.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import Log, Sys, _roundtrip, cfg, chain_graph, chat_graph


def counts(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(function calls, SQL statements) per call of `fn`, after two warm-up calls."""
    fn()
    fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    prof.disable()
    stats = pstats.Stats(prof)
    statements = 0
    for (file, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if name == "<method 'execute' of 'sqlite3.Connection' objects>" or (
            name == "execute" and file.replace("\\", "/").endswith("psycopg/cursor.py")
        ):
            statements += row[1]
    return stats.total_calls / n, statements / n  # type: ignore[attr-defined]


def show(name: str, fn: Callable[[], Any], n: int) -> None:
    calls, statements = counts(fn, n)
    print(f"{name:<44} {calls:>12.1f} {statements:>12.2f} calls", flush=True)


@contextlib.contextmanager
def saver(s: Sys, kind: str, tmp: Path, dsn: str | None) -> Iterator[Any]:
    if kind == "memory":
        yield s.memory()
    elif kind == "sqlite":
        with s.sqlite(str(tmp / f"{kind}-{id(s)}.db")) as found:
            yield found
    else:
        with s.postgres(dsn or "") as found:
            yield found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=None, help="DSN: also the Postgres round trip")
    args = parser.parse_args()
    s = Sys("interlock")
    print(f"{'operation':<44} {'py calls':>12} {'statements':>12}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for kind in ("none", "memory", "sqlite"):
            with contextlib.ExitStack() as stack:
                store = None if kind == "none" else stack.enter_context(saver(s, kind, tmp, None))
                app = chain_graph(s).compile(checkpointer=store)
                show(
                    f"chain: invoke, 10 nodes ({kind})",
                    lambda app=app: app.invoke({"log": []}, cfg()),
                    20,
                )
        for kind in ("memory", "sqlite") + (("postgres",) if args.postgres else ()):
            with saver(s, kind, tmp, args.postgres) as store:
                show(f"interrupt+resume round trip ({kind})", _roundtrip(s, store), 20)
        for kind in ("counter", "conversation"):
            with s.sqlite(str(tmp / f"gs-{kind}.db")) as store:
                if kind == "counter":
                    g = s.StateGraph(Log)
                    g.add_node("tick", lambda state: {"log": [1]})
                    g.add_edge(s.START, "tick")
                    turn: Callable[[], Any] = lambda: {"log": [0]}  # noqa: E731
                else:
                    g = chat_graph(s)
                    turn = lambda: {"messages": [s.HumanMessage(content="h" * 500)]}  # noqa: E731
                app = g.compile(checkpointer=store)
                c = cfg()
                for _ in range(500):
                    app.invoke(turn(), c)
                show(f"get_state, 1,000 ckpts ({kind})", lambda a=app, c=c: a.get_state(c), 20)
                show(
                    f"first get_state in a process ({kind})",  # a new graph: no cache
                    lambda g=g, st=store, c=c: g.compile(checkpointer=st).get_state(c),
                    5,
                )
                show(
                    f"get_state_history(limit=10) ({kind})",
                    lambda a=app, c=c: list(a.get_state_history(c, limit=10)),
                    5,
                )
    modules = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; n = len(sys.modules); import interlock; print(len(sys.modules) - n)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"{'import interlock: modules loaded':<44} {float(modules):>12.1f} {0.0:>12.2f} calls")


if __name__ == "__main__":
    main()
