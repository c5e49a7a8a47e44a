"""The HTTP face of a lost database: fast JSON 503s with Retry-After, liveness that always
answers, readiness that tells the truth, and decisions carried out once after the link
returns. One server in this process (uvicorn on a loopback port); the two-process version
is in test_db_faults_serve.py."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest

import interlock as il
from interlock.checkpoint.postgres import PostgresSaver
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import create_app
from tests._http import served
from tests._tcpproxy import TcpProxy
from tests.pg import DSN, new_schema
from tests.test_db_faults import poll

shipped: list[str] = []
shipped_lock = threading.Lock()


class Order(TypedDict, total=False):
    item: str
    answer: Any


def order_graph(saver: Any) -> il.CompiledStateGraph:
    def ask(state: Order) -> dict:
        return {"answer": il.interrupt({"ship": state["item"]})}

    def ship(state: Order) -> dict:
        if state["answer"] == "yes":
            with shipped_lock:
                shipped.append(state["item"])
        return {}

    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_node("ship", ship)
    g.add_edge(il.START, "ask")
    g.add_edge("ask", "ship")
    return g.compile(checkpointer=saver, name="orders")


def timed_get(http: httpx.Client, path: str) -> tuple[float, httpx.Response]:
    start = time.monotonic()
    response = http.get(path)
    return time.monotonic() - start, response


@pytest.mark.postgres
def test_a_black_hole_over_http_fast_503s_liveness_readiness_and_nothing_doubled() -> None:
    shipped.clear()
    proxy = TcpProxy("127.0.0.1", 5432)
    url = DSN.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    saver = PostgresSaver(url, schema=new_schema())
    try:
        with served(create_app(order_graph(saver))) as http:
            assert http.get("/v1/health/ready").json()["ready"] is True
            created = http.post("/v1/threads", json={"input": {"item": "book"}}).json()
            (iid,) = [p["id"] for p in created["run"]["interrupts"]]

            proxy.blackhole()
            pool = concurrent.futures.ThreadPoolExecutor(60)
            try:  # sixty requests that find the link silent hold the worker threads
                blocked = [pool.submit(http.get, "/v1/threads") for _ in range(60)]
                took, live = timed_get(http, "/v1/health/live")
                assert live.status_code == 200 and took < 1.5, took
                assert not all(f.done() for f in blocked)  # answered while they waited
                for f in blocked:
                    response = f.result(timeout=60)
                    assert response.status_code == 503
                    assert response.json()["error"] == "store_unavailable"
                    assert response.headers["Retry-After"] == "2"
            finally:
                pool.shutdown()

            start = time.monotonic()
            decided = http.post(f"/v1/approvals/{iid}/decision", json={"value": "yes"})
            took = time.monotonic() - start
            assert decided.status_code == 503 and took < 3.0, (decided.status_code, took)
            assert decided.headers["Retry-After"] == "2"

            took, ready = timed_get(http, "/v1/health/ready")
            assert ready.status_code == 503 and ready.json()["ready"] is False, ready.text
            assert took < 3.0 and ready.headers["Retry-After"] == "2"
            assert http.get("/v1/health").status_code == 200

            proxy.restore()
            restored = time.monotonic()
            poll("readiness", lambda: http.get("/v1/health/ready").status_code == 200)
            recovered = time.monotonic() - restored
            assert recovered < 6.0, f"ready again {recovered:.1f} s after the link"
            decided = http.post(f"/v1/approvals/{iid}/decision", json={"value": "yes"})
            assert decided.status_code == 200, decided.text
            again = http.post(f"/v1/approvals/{iid}/decision", json={"value": "yes"})
            assert again.status_code == 409
        assert shipped == ["book"]  # once
    finally:
        proxy.close()
        saver.close()


def test_a_locked_sqlite_store_answers_503_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    saver = SqliteSaver(path, busy_timeout=0.5)
    try:
        with served(create_app(order_graph(saver))) as http:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            try:
                start = time.monotonic()
                response = http.post("/v1/threads", json={"input": {"item": "pen"}})
                took = time.monotonic() - start
                assert response.status_code == 503 and took < 4.0, (response.text, took)
                assert response.json()["error"] == "store_unavailable"
                assert response.headers["Retry-After"] == "2"
                assert http.get("/v1/health/ready").status_code == 200  # reads still work
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            response = http.post("/v1/threads", json={"input": {"item": "pen"}})
            assert response.status_code == 201
    finally:
        saver.close()


def test_readiness_reports_dead_workers_and_liveness_never_touches_the_store(
    tmp_path: Path,
) -> None:
    saver = SqliteSaver(tmp_path / "store.db")
    app = create_app(order_graph(saver), workers=1)
    with served(app) as http:
        assert http.get("/v1/health/ready").json() == {
            "ready": True,
            "store": "ok",
            # the worker, its lease renewer and the sweep for stranded decisions
            "workers": {"expected": 3, "alive": 3},
        }
        app.state.runner.stop()  # the workers are gone
        ready = http.get("/v1/health/ready")
        assert ready.status_code == 503
        assert ready.json()["workers"] == {"expected": 3, "alive": 0}
        saver.close()  # and the store
        ready = http.get("/v1/health/ready")
        assert ready.status_code == 503 and "unreachable" in ready.json()["store"]
        assert http.get("/v1/health/live").json() == {"ok": True}
