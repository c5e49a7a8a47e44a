"""The HTTP face of a lost database: fast JSON 503s with Retry-After, liveness that always
answers, readiness that tells the truth, and decisions carried out once after the link
returns. One server in this process (uvicorn on a loopback port); the two-process version
is in test_db_faults_serve.py."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
import time
from collections.abc import Callable
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


def _ship(state: Order) -> dict:
    if state["answer"] == "yes":
        with shipped_lock:
            shipped.append(state["item"])
    return {}


def order_graph(saver: Any, ship: Callable[[Order], dict] = _ship) -> il.CompiledStateGraph:
    """ask (pauses for a decision) -> ship (the side effect; by default into `shipped`)."""

    def ask(state: Order) -> dict:
        return {"answer": il.interrupt({"ship": state["item"]})}

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
            # the worker, its lease renewer, the sweep for stranded decisions and the
            # crons' scheduler
            "workers": {"expected": 4, "alive": 4},
        }
        app.state.runner.stop()  # the workers are gone
        ready = http.get("/v1/health/ready")
        assert ready.status_code == 503
        assert ready.json()["workers"] == {"expected": 4, "alive": 0}
        saver.close()  # and the store
        ready = http.get("/v1/health/ready")
        assert ready.status_code == 503 and "unreachable" in ready.json()["store"]
        assert http.get("/v1/health/live").json() == {"ok": True}


@pytest.mark.postgres
def test_a_step_whose_commit_met_a_cut_is_saved_when_the_link_returns_not_run_again() -> None:
    """The link dies after `ship` ran and before its step committed. The decision answers
    503 (within 2.5 s), and the takeover that would run `ship` again once the leases lapse
    (8 s: longer than the outage) finds the step saved instead: the process kept `ship`'s
    outcome and wrote it once the store answered, then gave the run back to the queue.
    Before, `ship` ran twice."""
    effects: list[str] = []
    proxy = TcpProxy("127.0.0.1", 5432)
    url = DSN.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    saver = PostgresSaver(url, schema=new_schema())

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            proxy.cut()  # the link dies between the effect and its step's commit
        return {}

    graph = order_graph(saver, ship)
    graph.lease_ttl = 8.0  # the thread's lease, left held by the failed commit
    try:
        with served(create_app(graph, run_lease=8.0)) as http:
            created = http.post("/v1/threads", json={"input": {"item": "book"}}).json()
            tid = created["thread_id"]
            (iid,) = [p["id"] for p in created["run"]["interrupts"]]
            decided = http.post(f"/v1/approvals/{iid}/decision", json={"value": "yes"})
            assert decided.status_code == 503, decided.text
            assert decided.json()["error"] == "store_unavailable"
            assert "the step is held" in decided.json()["message"]  # not "retry"
            assert effects == ["book"]
            proxy.restore()

            def finished() -> bool:
                response = http.get(f"/v1/threads/{tid}")
                return response.status_code == 200 and response.json()["status"] == "finished"

            poll("the thread to finish", finished, 60, every=0.1)
            # an ended run is never taken over (a takeover would run `ship` again)
            poll(
                "the decision's run to end",
                lambda: all(r.status != "running" for r in saver.list_runs(thread_id=tid)),
                30,
                every=0.1,
            )
        assert effects == ["book"], "ship ran again"
    finally:
        proxy.close()
        saver.close()


class WatchedSqlite(SqliteSaver):
    """A SQLite store that tells when a commit failed for a lock (so the test lets the lock
    go only after it did)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commit_failed = threading.Event()

    def put_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().put_checkpoint(*args, **kwargs)
        except il.StoreUnavailable:
            self.commit_failed.set()
            raise


def test_a_background_runs_step_is_saved_when_the_store_is_back(tmp_path: Path) -> None:
    """A worker's run meets a locked SQLite store as its step is written: the worker keeps
    the step, writes it once the lock is gone, and the run goes on from it (done), its node
    run once."""
    path = tmp_path / "store.db"
    saver = WatchedSqlite(path, busy_timeout=0.3)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    effects: list[str] = []

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            holder.execute("BEGIN IMMEDIATE")  # the store is away when the step is written
        return {"answer": "shipped"}

    g = il.StateGraph(Order)
    g.add_node("ship", ship)
    g.add_edge(il.START, "ship")
    graph = g.compile(checkpointer=saver, name="orders")
    try:
        with served(create_app(graph, workers=1)) as http:
            assert http.post("/v1/threads", json={"thread_id": "t1"}).status_code == 201
            queued = http.post(
                "/v1/threads/t1/runs", json={"input": {"item": "pen"}, "background": True}
            )
            assert queued.status_code == 202, queued.text
            run_id = queued.json()["run_id"]
            assert saver.commit_failed.wait(30), "the step's write did not fail"
            state = graph.get_state({"configurable": {"thread_id": "t1"}})
            assert state.next == ("ship",)  # nothing of the step is stored
            holder.execute("ROLLBACK")

            def ended() -> dict[str, Any] | None:
                run = http.get(f"/v1/runs/{run_id}").json()
                return run if run["status"] not in ("queued", "running") else None

            run = poll("the run to end", ended, 30, every=0.1)
            assert run["status"] == "done", run
            assert http.get("/v1/threads/t1").json()["values"]["answer"] == "shipped"
        assert effects == ["pen"]
    finally:
        holder.close()
        saver.close()
