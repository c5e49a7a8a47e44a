"""Background runs over HTTP: queued in the store (202), executed by the workers of any
server process sharing it, read back at `/v1/runs/{id}`; every store."""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import httpx
import pytest

import interlock as il
from interlock.server import ApiKeys, create_app
from interlock.server.runs import RunWorkers
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver"
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}

shipped: list[str] = []
lock = threading.Lock()


class Order(TypedDict, total=False):
    item: str
    count: Annotated[int, operator.add]
    approved: Any
    shipped: bool


def orders(saver: Any, *, ask: bool = True, fail: list[bool] | None = None) -> Any:
    def review(state: Order) -> dict:
        if fail and fail[0]:
            raise RuntimeError("the warehouse is on fire")
        return {"approved": il.interrupt({"ship": state["item"]}) if ask else True}

    def ship(state: Order) -> dict:
        if state["approved"] is True:
            with lock:
                shipped.append(state["item"])
        return {"shipped": state["approved"] is True}

    g = il.StateGraph(Order)
    g.add_node("review", review)
    g.add_node("ship", ship)
    g.add_edge(il.START, "review")
    g.add_edge("review", "ship")
    return g.compile(checkpointer=saver, name="orders")


@pytest.fixture(autouse=True)
def _clear() -> None:
    shipped.clear()


@pytest.fixture
def serve() -> Iterator[Any]:
    import contextlib

    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(served(app))


def _thread(client: httpx.Client, thread_id: str = "t1") -> str:
    made = client.post("/v1/threads", json={"thread_id": thread_id}, headers=BOB)
    assert made.status_code == 201, made.text
    return thread_id


def _queue(client: httpx.Client, thread_id: str, body: dict[str, Any]) -> str:
    queued = client.post(
        f"/v1/threads/{thread_id}/runs", json={**body, "background": True}, headers=BOB
    )
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "queued"
    return str(queued.json()["run_id"])


def _until(client: httpx.Client, run_id: str, *statuses: str) -> dict[str, Any]:
    """Poll the run until it reaches one of `statuses` (observing the store, bounded)."""
    deadline = time.monotonic() + 30
    while True:
        run = client.get(f"/v1/runs/{run_id}", headers=BOB).json()
        if run["status"] in statuses:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.01)


def test_a_background_run_completes_and_its_result_is_readable(saver: Any) -> None:
    app = create_app({"orders": orders(saver, ask=False)}, keys=ApiKeys.parse(KEYS))
    with served(app) as client:
        thread = _thread(client)
        run_id = _queue(client, thread, {"input": {"item": "book", "count": 1}})
        run = _until(client, run_id, "done", "failed")
        assert run["status"] == "done", run
        assert run["result"]["status"] == "finished"
        assert run["result"]["values"] == {
            "item": "book",
            "count": 1,
            "approved": True,
            "shipped": True,
        }
        assert (run["created_by"], run["attempts"], run["error"]) == ("bob", 1, None)
        assert shipped == ["book"]
        listed = client.get(f"/v1/threads/{thread}/runs", headers=ADA).json()["runs"]
        assert [r["run_id"] for r in listed] == [run_id]
        assert client.get(f"/v1/threads/{thread}/runs?status=queued", headers=BOB).json() == {
            "runs": []
        }
    # the worker audits right after it records the end; stopping the app waited for it
    actions = [e.action for e in saver.list_audit(thread_id=thread).items]
    assert "run.queued" in actions and "run.finished" in actions
    # the run's checkpoints name it
    assert any(r.metadata.get("run_id") == run_id for r in saver.list_checkpoints(thread))


def test_a_paused_background_run_ends_interrupted_and_is_decided(saver: Any, serve: Any) -> None:
    client = serve(create_app({"orders": orders(saver)}, keys=ApiKeys.parse(KEYS)))
    thread = _thread(client)
    run_id = _queue(client, thread, {"input": {"item": "lamp"}})
    run = _until(client, run_id, "interrupted", "done", "failed")
    assert run["status"] == "interrupted", run
    [request] = run["result"]["interrupts"]
    assert request["value"] == {"ship": "lamp"}
    inbox = client.get("/v1/approvals", headers=ADA).json()["approvals"]
    assert [(a["id"], a["requested_by"]) for a in inbox] == [(request["id"], "bob")]
    decided = client.post(
        f"/v1/approvals/{request['id']}/decision", json={"value": True}, headers=ADA
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["run"]["values"]["shipped"] is True
    assert shipped == ["lamp"]
    # new input while a request is pending is refused before anything is queued
    thread2 = _thread(client, "t2")
    _until(client, _queue(client, thread2, {"input": {"item": "pen"}}), "interrupted")
    refused = client.post(
        f"/v1/threads/{thread2}/runs",
        json={"input": {"item": "ink"}, "background": True},
        headers=BOB,
    )
    assert refused.status_code == 409 and refused.json()["error"] == "waiting_for_decision"
    assert len(saver.list_runs(thread_id=thread2)) == 1


def test_bad_background_input_is_refused_and_nothing_is_queued(saver: Any, serve: Any) -> None:
    client = serve(create_app({"orders": orders(saver)}, keys=ApiKeys.parse(KEYS)))
    thread = _thread(client)
    url = f"/v1/threads/{thread}/runs"
    cases = [
        ({"input": {"nope": 1}, "background": True}, BOB, 422, "invalid_input"),
        ({"input": {"item": "x"}, "message": "hi", "background": True}, BOB, 422, None),
        ({"background": True}, BOB, 422, "invalid_request"),
        ({"input": {"item": "x"}, "background": "later"}, BOB, 422, "invalid_request"),
        ({"input": {"item": "x"}, "background": True}, ADA, 403, "forbidden"),
        ({"input": {"item": "x"}, "background": True}, {}, 401, "unauthenticated"),
    ]
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    cases.append(({"input": {"item": deep}, "background": True}, BOB, 422, "too_deep"))
    for body, headers, status, code in cases:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) >= {"error", "message"}
        if code:
            assert response.json()["error"] == code
    unknown = client.post(
        "/v1/threads/nobody/runs", json={"input": {"item": "x"}, "background": True}, headers=BOB
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_thread"
    assert saver.list_runs() == ()
    missing = client.get("/v1/runs/" + "0" * 32, headers=BOB)
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_run"
    assert client.get("/v1/runs/x", headers={}).status_code == 401


def test_a_failing_run_is_recorded_failed(saver: Any) -> None:
    app = create_app({"orders": orders(saver, fail=[True])}, keys=ApiKeys.parse(KEYS))
    with served(app) as client:
        thread = _thread(client)
        queued = _queue(client, thread, {"message": None, "input": {"item": "a"}})
        run = _until(client, queued, "failed")
        assert "warehouse is on fire" in run["error"] and run["result"] is None
    actions = [e.action for e in saver.list_audit(thread_id=thread).items]
    assert "run.failed" in actions


def test_a_process_without_workers_only_queues(saver: Any, serve: Any) -> None:
    graph = orders(saver, ask=False)
    front = serve(create_app({"orders": graph}, keys=ApiKeys.parse(KEYS), workers=0))
    thread = _thread(front)
    run_id = _queue(front, thread, {"input": {"item": "cup"}})
    assert front.get(f"/v1/runs/{run_id}", headers=BOB).json()["status"] == "queued"
    assert shipped == []
    back = serve(create_app({"orders": graph}, keys=ApiKeys.parse(KEYS), workers=2))
    assert _until(back, run_id, "done")["result"]["values"]["shipped"] is True
    assert shipped == ["cup"]


def test_a_run_whose_thread_is_busy_is_retried_not_failed(saver: Any) -> None:
    graph = orders(saver, ask=False)
    workers = RunWorkers(saver, {"orders": graph}, workers=1, busy_delay=0.0)
    saver.acquire_thread("t", "someone-else", ttl=600)
    run = saver.enqueue_run(thread_id="t", agent="orders", input={"item": "hat"})
    claimed = saver.claim_run("w", ttl=60)
    workers.execute(claimed, "w")
    back = saver.get_run(run.run_id)
    assert back is not None and (back.status, back.attempts) == ("queued", 0)  # not counted
    saver.release_thread("t", "someone-else")
    again = saver.claim_run("w", ttl=60)
    assert again is not None and again.attempts == 1
    workers.execute(again, "w")
    done = saver.get_run(run.run_id)
    assert done is not None and done.status == "done" and shipped == ["hat"]


def test_a_dead_workers_run_is_taken_over_and_its_input_applied_once(saver: Any) -> None:
    fail = [True]
    graph = orders(saver, ask=False, fail=fail)
    graph.lease_ttl = 0.0  # the dead worker's thread lease has expired too
    run = saver.enqueue_run(thread_id="t", agent="orders", input={"item": "cap", "count": 1})
    dead = saver.claim_run("dead", ttl=0)  # its lease expires at once
    assert dead is not None
    with pytest.raises(RuntimeError):  # it applied the input, then died inside a node
        graph.invoke(dead.input, {"configurable": {"thread_id": "t", "run_id": run.run_id}})
    fail[0] = False
    taken = saver.claim_run("alive", ttl=60)
    assert taken is not None and taken.attempts == 2
    RunWorkers(saver, {"orders": graph}).execute(taken, "alive")
    done = saver.get_run(run.run_id)
    assert done is not None and done.status == "done", done
    assert done.result["values"]["count"] == 1  # not 2: the input was applied once
    assert shipped == ["cap"]
    assert not saver.finish_run(run.run_id, "dead", status="failed", error="late")


def test_workers_stop_promptly(saver: Any) -> None:
    workers = RunWorkers(saver, {"orders": orders(saver)}, workers=4, poll=600)
    workers.start()
    started = time.monotonic()
    workers.stop()
    assert time.monotonic() - started < 5  # idle workers wake on stop, not at their poll
    assert not workers._threads


def test_a_running_run_keeps_its_lease_while_it_runs(saver: Any) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(state: Order) -> dict:
        entered.set()
        assert release.wait(60)
        return {"shipped": True}

    g = il.StateGraph(Order)
    g.add_node("slow", slow)
    g.add_edge(il.START, "slow")
    graph = g.compile(checkpointer=saver, name="slow")
    renewed = threading.Semaphore(0)
    renew = saver.renew_run

    def spy(run_id: str, owner: str, *, ttl: float) -> bool:
        ok = bool(renew(run_id, owner, ttl=ttl))
        renewed.release()
        return ok

    saver.renew_run = spy
    workers = RunWorkers(saver, {"slow": graph}, workers=1, ttl=1.5)
    run = saver.enqueue_run(thread_id="t", agent="slow", input={"item": "x"})
    workers.start()
    try:
        workers.wake()
        assert entered.wait(30)
        for _ in range(4):  # renewed every ttl/3: four renewals outlast the first lease
            assert renewed.acquire(timeout=30)
        assert saver.claim_run("intruder", ttl=60) is None  # still held by the worker
        release.set()
    finally:
        release.set()
        workers.stop()
    done = saver.get_run(run.run_id)
    assert done is not None and (done.status, done.attempts) == ("done", 1)


def test_a_run_whose_workers_keep_dying_is_failed_after_max_attempts(saver: Any) -> None:
    graph = orders(saver, ask=False)
    run = saver.enqueue_run(thread_id="t", agent="orders", input={"item": "bomb"})
    for i in range(3):  # three workers claimed it and died (their leases expired at once)
        assert saver.claim_run(f"dead{i}", ttl=0) is not None
    fourth = saver.claim_run("w", ttl=60)
    assert fourth is not None and fourth.attempts == 4
    RunWorkers(saver, {"orders": graph}, max_attempts=3).execute(fourth, "w")
    failed = saver.get_run(run.run_id)
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and "gave up after 3 attempts" in failed.error
    assert shipped == [] and saver.get_checkpoint("t") is None  # it was not run again
