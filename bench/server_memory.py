"""Memory of one `interlock serve` process: its resident set (RSS) once it holds THREADS
paused threads, then after every tenth of DECISIONS decisions — it must not grow with them
(the service keeps no state per thread or per decision in memory).

    python bench/server_memory.py --db sqlite --threads 10000 --decisions 100000
    python bench/server_memory.py --db postgresql://postgres@127.0.0.1:5432/test \
        --threads 10000 --decisions 100000

The agent (`bench/_memory_agent.py`, no model) asks a question, and asks again once
answered: a thread is paused after each decision. Threads are made by `POST /v1/threads`
(each pauses before the answer returns); decisions by `POST /v1/approvals/{id}/decision`,
round after round over every thread, CONCURRENCY at a time; the next question's id comes
from the decision's answer. RSS is read from /proc/<pid>/status (VmRSS) of the serve
process, with its peak (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.service import _drop_schema, _stop, free_port, wait_ready  # noqa: E402

KEYS = "req=rita:requester;app=ada:approver"


def rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid`, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


async def drive(
    url: str, jobs: list[tuple[str, dict[str, Any]]], key: str, concurrency: int
) -> list[dict[str, Any]]:
    """POST each (path, json) job; the answers, in order. Any status but 200/201 stops."""
    out: list[dict[str, Any]] = [{} for _ in jobs]
    queue = list(enumerate(jobs))
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=120) as http:

        async def worker() -> None:
            while queue:
                i, (path, body) = queue.pop()
                r = await http.post(path, json=body)
                if r.status_code not in (200, 201):
                    raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")
                out[i] = r.json()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def pending_of(answer: dict[str, Any]) -> str:
    """The id of the question a thread asks next, from a create's or decision's answer."""
    run = answer.get("run") or answer
    [asked] = run["interrupts"]
    return str(asked["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.db == "sqlite":
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            db = f"sqlite:///{tmp}/memory.db"
        else:
            import psycopg

            schema = "bench_mem_" + uuid.uuid4().hex[:8]
            sep = "&" if "?" in args.db else "?"
            db = f"{args.db}{sep}options=-csearch_path%3D{schema}"
            with psycopg.connect(args.db, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            stack.callback(_drop_schema, args.db, schema)
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "interlock.cli", "serve", "bench._memory_agent:make",
             "--db", db, "--port", str(port), "--keys", KEYS, "--workers", str(args.workers)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        stack.callback(_stop, proc)
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/v1/health/live", proc, "interlock serve")
        start = time.monotonic()

        def report(what: str) -> None:
            now, peak = rss(proc.pid)
            took = time.monotonic() - start
            print(
                f"{what:<40} RSS {now:7.1f} MiB  (peak {peak:7.1f})  at {took:6.0f} s", flush=True
            )

        report("started")
        made: list[dict[str, Any]] = []
        step = max(1, args.threads // 10)
        for at in range(0, args.threads, step):
            jobs = [
                ("/v1/threads", {"input": {"order": f"o{i}"}})
                for i in range(at, min(args.threads, at + step))
            ]
            made += asyncio.run(drive(url, jobs, "req", args.concurrency))
            report(f"{len(made):,} threads paused")
        waiting = [pending_of(a) for a in made]
        decided = 0
        tenth = max(1, args.decisions // 10)
        while decided < args.decisions:
            batch = min(tenth, args.decisions - decided)
            ids = [waiting[(decided + k) % len(waiting)] for k in range(batch)]
            jobs = [(f"/v1/approvals/{i}/decision", {"value": True}) for i in ids]
            answers = asyncio.run(drive(url, jobs, "app", args.concurrency))
            for k, answer in enumerate(answers):
                waiting[(decided + k) % len(waiting)] = pending_of(answer)
            decided += batch
            report(f"{decided:,} decisions")


if __name__ == "__main__":
    main()
