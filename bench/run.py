"""Benchmarks: the same workloads on interlock and on LangGraph, in one run.

    pip install -e '.[bench]'
    python bench/run.py                    # everything (SQLite, memory, no checkpointer)
    python bench/run.py --only chain       # one workload
    python bench/run.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python bench/run.py --only roundtrip --order alone   # each system's round trips together

Prints one table: interlock, LangGraph, and how many times better interlock is.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import operator
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

ROWS: list[tuple[str, str, float, float, str]] = []
CLOCK: Callable[[], int] = time.perf_counter_ns
"""What the in-process workloads time: wall time, or with `--clock cpu` the CPU time of this
process (`time.process_time_ns`), which other processes on a busy machine do not inflate
(it leaves out what a database server spends on our behalf)."""


def median_time(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> float:
    """Median seconds of `fn()` over `repeat` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = CLOCK()
        fn()
        times.append((CLOCK() - start) / 1e9)
    return statistics.median(times)


def report(name: str, unit: str, ours: float, theirs: float, better: str = "lower") -> None:
    """Record and print one row; `better` says which direction wins."""
    ratio = theirs / ours if better == "lower" else ours / theirs
    ROWS.append((name, unit, ours, theirs, f"{ratio:.1f}x"))
    print(f"{name:<44} {ours:>12.4g} {theirs:>12.4g} {unit:<6} {ratio:>7.1f}x", flush=True)


# ---- the two systems ---------------------------------------------------------------------------


class Sys:
    """The pieces of one system the workloads need."""

    def __init__(self, which: str) -> None:
        self.which = which
        if which == "interlock":
            import interlock as il
            from interlock.checkpoint.memory import InMemorySaver
            from interlock.checkpoint.sqlite import SqliteSaver

            self.StateGraph, self.START, self.END = il.StateGraph, il.START, il.END
            self.interrupt, self.Command = il.interrupt, il.Command
            self.HumanMessage, self.AIMessage = il.HumanMessage, il.AIMessage
            self.add_messages = il.add_messages
            self.memory = InMemorySaver
            self._sqlite = SqliteSaver
        else:
            from langchain_core.messages import AIMessage, HumanMessage
            from langgraph.checkpoint.memory import InMemorySaver
            from langgraph.graph import END, START, StateGraph
            from langgraph.graph.message import add_messages
            from langgraph.types import Command, interrupt

            self.StateGraph, self.START, self.END = StateGraph, START, END
            self.interrupt, self.Command = interrupt, Command
            self.HumanMessage, self.AIMessage = HumanMessage, AIMessage
            self.add_messages = add_messages
            self.memory = InMemorySaver

    @contextlib.contextmanager
    def sqlite(self, path: str) -> Iterator[Any]:
        if self.which == "interlock":
            saver = self._sqlite(path)
            try:
                yield saver
            finally:
                saver.close()
        else:
            from langgraph.checkpoint.sqlite import SqliteSaver

            with SqliteSaver.from_conn_string(path) as saver:
                yield saver

    @contextlib.contextmanager
    def postgres(self, dsn: str) -> Iterator[Any]:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        import psycopg

        def size() -> float:
            with psycopg.connect(dsn, autocommit=True) as admin:
                return float(
                    admin.execute(
                        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                        "AND c.relkind IN ('r', 'm')",
                        (schema,),
                    ).fetchone()[0]
                )

        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
        empty = 0.0
        try:
            if self.which == "interlock":
                from interlock.checkpoint.postgres import PostgresSaver

                saver = PostgresSaver(dsn, schema=schema)
                empty = size()
                try:
                    yield saver
                finally:
                    saver.close()
            else:
                from langgraph.checkpoint.postgres import PostgresSaver

                sep = "&" if "?" in dsn else "?"
                url = f"{dsn}{sep}options=-csearch_path%3D{schema}"
                with PostgresSaver.from_conn_string(url) as saver:
                    saver.setup()
                    empty = size()
                    yield saver
        finally:
            # the schema's size (tables, indexes, TOAST), and what the workload added to
            # the empty tables (the fixed cost of empty tables and their indexes left out)
            self.last_pg_size = size()
            self.last_pg_added = self.last_pg_size - empty
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def cfg() -> dict[str, Any]:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


class Log(TypedDict, total=False):
    log: Annotated[list[int], operator.add]
    answer: Any


def chain_graph(s: Sys, n: int = 10) -> Any:
    g = s.StateGraph(Log)
    names = [f"n{i}" for i in range(n)]
    for i, name in enumerate(names):
        g.add_node(name, _writer(i))
    g.add_edge(s.START, names[0])
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], s.END)
    return g


def _writer(i: int) -> Callable[[Any], dict]:
    return lambda state: {"log": [i]}


def ask_graph(s: Sys) -> Any:
    g = s.StateGraph(Log)
    g.add_node("ask", lambda state: {"answer": s.interrupt({"q": "approve?"})})
    g.add_edge(s.START, "ask")
    return g


_WORDS = [
    "".join(random.Random(i).choices("abcdefghijklmnopqrstuvwxyz", k=2 + i % 8))
    for i in range(2000)
]


def prose(seed: int, size: int = 500) -> str:
    """`size` characters of varied text: words drawn from a 2,000-word vocabulary, so that
    every message differs and compression finds about what it finds in real chat text
    (repeating one character instead lets PostgreSQL's TOAST compress a message ~100x)."""
    rng = random.Random(seed)
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def chat_graph(s: Sys, varied: bool = False) -> Any:
    # functional syntax: the reducer differs per system, so the class is built at run time
    chat = TypedDict("Chat", {"messages": Annotated[list, s.add_messages]}, total=False)  # type: ignore[misc]  # noqa: UP013
    g = s.StateGraph(chat)

    def reply(state: Any) -> dict:
        text = prose(len(state["messages"])) if varied else "a" * 500
        return {"messages": [s.AIMessage(content=text)]}

    g.add_node("reply", reply)
    g.add_edge(s.START, "reply")
    return g


# ---- workloads ---------------------------------------------------------------------------------


def bench_chain(systems: dict[str, Sys], tmp: Path) -> None:
    for label in ("none", "memory", "sqlite"):
        per: dict[str, float] = {}
        for name, s in systems.items():
            with contextlib.ExitStack() as stack:
                saver = None
                if label == "memory":
                    saver = s.memory()
                elif label == "sqlite":
                    saver = stack.enter_context(s.sqlite(str(tmp / f"chain-{name}.db")))
                app = chain_graph(s).compile(checkpointer=saver)
                per[name] = (
                    median_time(lambda app=app: app.invoke({"log": []}, cfg()), repeat=60) / 10
                )
        report(
            f"chain: per node step ({label})", "us", per["interlock"] * 1e6, per["langgraph"] * 1e6
        )


def _roundtrip(s: Sys, saver: Any) -> Callable[[], None]:
    app = ask_graph(s).compile(checkpointer=saver)

    def run() -> None:
        c = cfg()
        app.invoke({"log": []}, c)
        app.invoke(s.Command(resume="yes"), c)

    return run


ORDER = "turns"
"""How `interleaved` takes the systems' turns (`--order`)."""

BLOCK = 25
"""Calls of one system in a row, `--order blocks`."""


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int, warmup: int = 10) -> dict:
    """Median seconds of each function. `ORDER` "turns" (the default): one call each in
    turn (A B, B A, ...), so that the machine's drift during the measurement falls on both
    alike; "blocks": `BLOCK` calls of one, then of the other, alternating; "alone": all of
    one's calls, then all of the other's (each system as a process running only it sees
    it, with the machine's drift between them)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)

    def timed(name: str) -> None:
        start = CLOCK()
        fns[name]()
        times[name].append((CLOCK() - start) / 1e9)

    if ORDER == "alone":
        for name in order:
            for _ in range(warmup):
                fns[name]()
            for _ in range(repeat):
                timed(name)
        return {name: statistics.median(ts) for name, ts in times.items()}
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    step = BLOCK if ORDER == "blocks" else 1
    for i in range(0, repeat, step):
        for name in order if (i // step) % 2 == 0 else reversed(order):
            for _ in range(min(step, repeat - i)):
                timed(name)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_roundtrip(systems: dict[str, Sys], tmp: Path, dsn: str | None) -> None:
    for label in ("memory", "sqlite") + (("postgres",) if dsn else ()):
        with contextlib.ExitStack() as stack:
            runs = {}
            for name, s in systems.items():
                if label == "memory":
                    saver = s.memory()
                elif label == "sqlite":
                    saver = stack.enter_context(s.sqlite(str(tmp / f"rt-{name}.db")))
                else:
                    saver = stack.enter_context(s.postgres(dsn or ""))
                runs[name] = _roundtrip(s, saver)
            per = interleaved(runs, repeat=150)
        report(
            f"interrupt+resume round trip ({label})",
            "ms",
            per["interlock"] * 1e3,
            per["langgraph"] * 1e3,
        )


def _wal_counters(dsn: str, others: int) -> tuple[int, int]:
    """(WAL flushes, commits) so far on the server, once the benchmark's own connections
    are gone (a backend publishes its statistics as it exits): `others` is how many other
    client backends were connected before."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        while True:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            if row[0] <= others:
                break
            time.sleep(0.05)  # a benchmark, not a test: wait for the backends to exit
        syncs = admin.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0]
        commits = admin.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]
    return int(syncs), int(commits)


def bench_wal_flushes(systems: dict[str, Sys], dsn: str, rounds: int = 100) -> None:
    """WAL flushes (fsyncs) and commits per interrupt+resume round trip: on a server whose
    disk flush is slow, the flushes set the round trip's time."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        others = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()"
        ).fetchone()[0]

    def session(s: Sys, n: int) -> tuple[int, int]:
        """Counters spent by a session of `n` round trips (setup and teardown included)."""
        before = _wal_counters(dsn, others)
        with s.postgres(dsn) as saver:
            run = _roundtrip(s, saver)
            for _ in range(n):
                run()
        after = _wal_counters(dsn, others)
        return after[0] - before[0], after[1] - before[1]

    flushes, commits = {}, {}
    for name, s in systems.items():
        session(s, 5)  # warm-up
        fixed = session(s, 0)  # schema, tables, teardown
        spent = session(s, rounds)
        flushes[name] = (spent[0] - fixed[0]) / rounds
        commits[name] = (spent[1] - fixed[1]) / rounds
    report("WAL flushes per round trip (postgres)", "", flushes["interlock"], flushes["langgraph"])
    report("commits per round trip (postgres)", "", commits["interlock"], commits["langgraph"])


def _thread400(s: Sys, saver: Any, varied: bool = False) -> list[float]:
    app = chat_graph(s, varied).compile(checkpointer=saver)
    c = cfg()
    times = []
    for turn in range(200):
        text = prose(10_000 + turn) if varied else "h" * 500
        start = CLOCK()
        app.invoke({"messages": [s.HumanMessage(content=text)]}, c)
        times.append((CLOCK() - start) / 1e9)
    return times


def bench_thread400(systems: dict[str, Sys], tmp: Path, dsn: str | None) -> None:
    raw = 400 * 500
    sizes, t20, t200 = {}, {}, {}
    for name, s in systems.items():
        path = tmp / f"thread-{name}.db"
        with s.sqlite(str(path)) as saver:
            times = _thread400(s, saver)
        con = sqlite3.connect(path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        sizes[name] = path.stat().st_size
        t20[name] = statistics.median(times[15:25])
        t200[name] = statistics.median(times[190:200])
    report(
        "400-message thread: SQLite file size",
        "MB",
        sizes["interlock"] / 1e6,
        sizes["langgraph"] / 1e6,
    )
    print(
        f"{'   size / raw text':<44} {sizes['interlock'] / raw:>12.2f} "
        f"{sizes['langgraph'] / raw:>12.1f}"
    )
    for name in systems:
        print(f"{'   turn 200 / turn 20 (' + name + ')':<44} {t200[name] / t20[name]:>12.2f}")
    ROWS.append(
        (
            "400-msg thread: turn200/turn20 interlock",
            "x",
            t200["interlock"] / t20["interlock"],
            t200["langgraph"] / t20["langgraph"],
            "",
        )
    )
    if dsn:
        for varied, label in ((True, "varied text"), (False, "one repeated char")):
            pg, added = {}, {}
            for name, s in systems.items():
                with s.postgres(dsn) as saver:
                    _thread400(s, saver, varied)
                pg[name], added[name] = s.last_pg_size, s.last_pg_added
            report(
                f"400-msg thread: Postgres schema ({label})",
                "MB",
                pg["interlock"] / 1e6,
                pg["langgraph"] / 1e6,
            )
            report(
                f"   added to the empty tables ({label})",
                "MB",
                added["interlock"] / 1e6,
                added["langgraph"] / 1e6,
            )


def bench_getstate(systems: dict[str, Sys], tmp: Path) -> None:
    for kind in ("counter", "conversation"):
        per, cold, hist = {}, {}, {}
        for name, s in systems.items():
            if kind == "counter":  # a tiny state: a list of ints
                g = s.StateGraph(Log)
                g.add_node("tick", lambda state: {"log": [1]})
                g.add_edge(s.START, "tick")
                turn: Callable[[], Any] = lambda: {"log": [0]}  # noqa: E731
            else:  # an agent thread: 1,000 messages of 500 bytes
                g = chat_graph(s)
                turn = lambda s=s: {"messages": [s.HumanMessage(content="h" * 500)]}  # noqa: E731
            with s.sqlite(str(tmp / f"gs-{kind}-{name}.db")) as saver:
                app = g.compile(checkpointer=saver)
                c = cfg()
                for _ in range(500):  # 2 checkpoints per invoke: 1,000 checkpoints
                    app.invoke(turn(), c)
                per[name] = median_time(lambda app=app, c=c: app.get_state(c), repeat=50)

                def first_read(g: Any = g, saver: Any = saver, c: dict = c) -> Any:
                    return g.compile(checkpointer=saver).get_state(c)  # a new graph: no cache

                cold[name] = median_time(first_read, repeat=10)
                hist[name] = median_time(
                    lambda app=app, c=c: list(app.get_state_history(c, limit=10)), repeat=10
                )
        report(
            f"get_state, 1,000 ckpts ({kind})", "ms", per["interlock"] * 1e3, per["langgraph"] * 1e3
        )
        report(
            f"   first get_state in a process ({kind})",
            "ms",
            cold["interlock"] * 1e3,
            cold["langgraph"] * 1e3,
        )
        report(
            f"get_state_history(limit=10) ({kind})",
            "ms",
            hist["interlock"] * 1e3,
            hist["langgraph"] * 1e3,
        )


def bench_import() -> None:
    def cost(code: str) -> float:
        times = []
        for _ in range(7):
            start = time.perf_counter(), _children_cpu()
            subprocess.run([sys.executable, "-c", code], check=True)
            if CLOCK is time.perf_counter_ns:
                times.append(time.perf_counter() - start[0])
            else:  # the child's CPU time (user + system)
                times.append(_children_cpu() - start[1])
        return statistics.median(times)

    base = cost("pass")
    ours = cost("import interlock") - base
    theirs = cost("import langgraph.graph, langgraph.checkpoint.memory, langgraph.types") - base
    report("import time", "ms", ours * 1e3, theirs * 1e3)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_resumes_per_second(dsn: str, processes: int = 4, per_process: int = 100) -> None:
    """Resumes per second with several processes on one Postgres (interlock only)."""
    code = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from bench.run import Sys, ask_graph\n"
        "from interlock.checkpoint.postgres import PostgresSaver\n"
        "s = Sys('interlock'); saver = PostgresSaver(%r, schema=%r)\n"
        "app = ask_graph(s).compile(checkpointer=saver)\n"
        "ids = [f'{sys.argv[1]}-{i}' for i in range(%d)]\n"
        "for t in ids: app.invoke({'log': []}, {'configurable': {'thread_id': t}})\n"
        "print('ready', flush=True); sys.stdin.readline()\n"
        "start = time.perf_counter()\n"
        "for t in ids: app.invoke(s.Command(resume='y'), {'configurable': {'thread_id': t}})\n"
        "print(time.perf_counter() - start, flush=True)\n"
    )
    import psycopg

    schema = f"bench_rps_{uuid.uuid4().hex[:6]}"
    root = str(Path(__file__).resolve().parents[1])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code % (root, dsn, schema, per_process), str(i)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.stdout is not None
        p.stdout.readline()
        p.wait()
    elapsed = time.perf_counter() - start
    rate = processes * per_process / elapsed
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(f"{'resumes/s, ' + str(processes) + ' processes on Postgres':<44} {rate:>12.0f}")
    ROWS.append((f"resumes/s with {processes} processes (Postgres)", "1/s", rate, float("nan"), ""))
    pgbench = subprocess.run(
        [
            "bash",
            "-c",
            "pgbench -i -q -s 1 -h 127.0.0.1 -U postgres test >/dev/null 2>&1 && "
            "pgbench -N -c 4 -j 2 -T 10 -h 127.0.0.1 -U postgres test 2>/dev/null | "
            "grep -E '^tps' | head -1",
        ],
        capture_output=True,
        text=True,
    )
    print(f"{'pgbench -N (simple inserts), 4 clients':<44} {pgbench.stdout.strip()}")
    ROWS.append(
        ("pgbench -N, 4 clients: " + pgbench.stdout.strip(), "", float("nan"), float("nan"), "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=None,
        help="chain | roundtrip | flushes | thread400 | getstate | import | rps",
    )
    parser.add_argument("--postgres", default=None, help="DSN: also run the Postgres workloads")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time the workloads by the wall clock (default) or by this process's CPU time",
    )
    parser.add_argument(
        "--order",
        choices=("turns", "blocks", "alone"),
        default="turns",
        help="the round trips' order: one call each in turn (default), blocks of "
        f"{BLOCK} calls, or each system's calls all together",
    )
    args = parser.parse_args()
    global CLOCK, ORDER
    ORDER = args.order
    CLOCK = time.process_time_ns if args.clock == "cpu" else time.perf_counter_ns
    systems = {"interlock": Sys("interlock"), "langgraph": Sys("langgraph")}
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {args.clock} clock, "
        f"round trips in {args.order}"
    )
    print(f"{'workload':<44} {'interlock':>12} {'LangGraph':>12} {'unit':<6} {'better':>8}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        jobs: dict[str, Callable[[], None]] = {
            "chain": lambda: bench_chain(systems, tmp),
            "roundtrip": lambda: bench_roundtrip(systems, tmp, args.postgres),
            "flushes": lambda: args.postgres and bench_wal_flushes(systems, args.postgres),
            "thread400": lambda: bench_thread400(systems, tmp, args.postgres),
            "getstate": lambda: bench_getstate(systems, tmp),
            "import": bench_import,
        }
        if args.postgres:
            jobs["rps"] = lambda: bench_resumes_per_second(args.postgres)
        for name, job in jobs.items():
            if args.only in (None, name):
                job()


if __name__ == "__main__":
    main()
