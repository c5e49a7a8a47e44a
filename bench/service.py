"""Decisions per second over HTTP: N concurrent clients against 1, 2 or 4 `interlock serve`
processes sharing one store, with the tutorial's agent and a local OpenAI-protocol model.

    python bench/service.py --db sqlite --processes 1 --concurrency 1 8 32
    python bench/service.py --db postgresql://postgres@127.0.0.1:5432/test --processes 1 2 4

For each (processes, concurrency) it starts the serve processes on a fresh store, then
measures two operations, each on its own distinct threads/requests:

- message -> pause: `POST /v1/threads` with a message; the agent calls the model once and
  pauses in `delete_course` (one model call per operation);
- decision -> done: `POST /v1/approvals/{id}/decision` approving one request; the run resumes,
  deletes the course and calls the model once more to answer.

Clients spread requests over the processes round-robin. Reported: operations per second over
the whole burst, p50 and p99 latency (ms), the CPU time the serve processes spent per
operation (which a busy machine blurs less than the wall clock), and every status other than
200/201 (there must be none). Needs the `server` extra and httpx; the model is bench/_fake_model.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEYS = "req=rita:requester;app=ada:approver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start within {timeout}s")


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu: float = 0.0
    """CPU seconds the serve processes spent on the burst."""

    def line(self, name: str) -> str:
        n = len(self.latencies)
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1e3 if lat else float("nan")
        p99 = lat[min(n - 1, int(n * 0.99))] * 1e3 if lat else float("nan")
        bad = ", ".join(f"{k}x{v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"{name:<18} {n / self.seconds:7.1f} ops/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"server CPU {self.cpu / max(n, 1) * 1e3:5.2f} ms/op  errors {bad}"
        )


async def burst(
    urls: list[str], concurrency: int, jobs: list[tuple[str, str, dict]], key: str
) -> tuple[Result, list[dict]]:
    """Run `jobs` (method, path, json) with `concurrency` clients, round-robin over `urls`."""
    result = Result()
    bodies: list[dict] = [{}] * len(jobs)
    queue = list(enumerate(jobs))
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers={"x-api-key": key}, timeout=120, limits=limits) as client:

        async def worker(w: int) -> None:
            while queue:
                i, (method, path, body) = queue.pop()
                url = urls[i % len(urls)] + path
                t = time.perf_counter()
                r = await client.request(method, url, json=body)
                result.latencies.append(time.perf_counter() - t)
                if r.status_code not in (200, 201):
                    result.errors[r.status_code] = result.errors.get(r.status_code, 0) + 1
                else:
                    bodies[i] = r.json()

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        result.seconds = time.perf_counter() - start
    return result, bodies


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_case(db: str, processes: int, concurrency: int, ops: int, model_url: str) -> None:
    with ExitStack() as stack:
        if db == "sqlite":
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite:///{tmp}/bench.db"
        else:
            schema = "bench_http_" + uuid.uuid4().hex[:8]
            sep = "&" if "?" in db else "?"
            url = f"{db}{sep}options=-csearch_path%3D{schema}"
            import psycopg

            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            stack.callback(_drop_schema, db, schema)
        env = {
            **os.environ,
            "OPENAI_BASE_URL": model_url,
            "OPENAI_API_KEY": "bench",
            "PYTHONPATH": str(ROOT),
        }
        urls, pids = [], []
        for _ in range(processes):
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "interlock.cli", "serve", "bench._http_agent:make",
                 "--db", url, "--port", str(port), "--keys", KEYS],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            stack.callback(_stop, proc)
            wait_ready(f"http://127.0.0.1:{port}/v1/health/live", proc, "interlock serve")
            urls.append(f"http://127.0.0.1:{port}")
            pids.append(proc.pid)
        # warm up every process (imports, connections, the model client)
        warm = [
            ("POST", "/v1/threads", {"message": f"delete course w{i}"})
            for i in range(4 * processes)
        ]
        asyncio.run(burst(urls, processes, warm, "req"))
        jobs = [("POST", "/v1/threads", {"message": f"delete course c{i}"}) for i in range(ops)]
        cpu = cpu_seconds(pids)
        paused, bodies = asyncio.run(burst(urls, concurrency, jobs, "req"))
        paused.cpu, cpu = cpu_seconds(pids) - cpu, cpu_seconds(pids)
        ids = [b["run"]["interrupts"][0]["id"] for b in bodies if b and b.get("run")]
        decide = [
            ("POST", f"/v1/approvals/{iid}/decision", {"value": {"confirmed": True}}) for iid in ids
        ]
        done, results = asyncio.run(burst(urls, concurrency, decide, "app"))
        done.cpu = cpu_seconds(pids) - cpu
        finished = sum(1 for b in results if b and b.get("run", {}).get("status") == "finished")
        label = f"{'sqlite' if db == 'sqlite' else 'postgres'} x{processes} C={concurrency}"
        print(f"## {label}  ({ops} operations each; {finished} runs finished)")
        print(paused.line("message -> pause"))
        print(done.line("decision -> done"))
        sys.stdout.flush()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _drop_schema(db: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL DSN")
    parser.add_argument("--processes", type=int, nargs="+", default=[1])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--ops", type=int, default=300, help="operations per measurement")
    args = parser.parse_args()
    port = free_port()
    model = subprocess.Popen(
        [sys.executable, "-m", "bench._fake_model", str(port)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/", model, "the fake model")
        for processes in args.processes:
            for c in args.concurrency:
                run_case(args.db, processes, c, args.ops, f"http://127.0.0.1:{port}/v1")
    finally:
        _stop(model)


if __name__ == "__main__":
    main()
