"""Background runs at their edges (from a review): a node that exits the interpreter, a run
retried after others used its thread, runs queued behind a pause or on a deleted or pruned
thread, a process without the agent, workers started twice, and clocks that disagree."""

from __future__ import annotations

import operator
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypedDict

import pytest

import interlock as il
from interlock import Command, RunSuperseded
from interlock.server import ApiKeys, create_app
from interlock.server.runs import RunWorkers
from tests._http import served


class S(TypedDict, total=False):
    n: Annotated[int, operator.add]
    answer: Any


def graph_of(saver: Any, *, exit_in_node: bool = False, ask: list[bool] | None = None) -> Any:
    def first(state: S) -> dict:
        if exit_in_node:
            raise SystemExit("a tool called sys.exit()")
        if ask and ask[0]:
            return {"answer": il.interrupt({"q": "ok?"})}
        return {}

    g = il.StateGraph(S)
    g.add_node("first", first)
    g.add_edge(il.START, "first")
    return g.compile(checkpointer=saver, name="g")


def _until_done(saver: Any, run_id: str) -> Any:
    """The run once a worker thread has ended it (observing the store, bounded)."""
    deadline = time.monotonic() + 30
    while (run := saver.get_run(run_id)).status in ("queued", "running"):
        assert time.monotonic() < deadline, run
        time.sleep(0.01)
    return run


def test_a_node_that_exits_fails_its_run_and_the_worker_goes_on(saver: Any) -> None:
    workers = RunWorkers(saver, {"g": graph_of(saver, exit_in_node=True)}, workers=1, poll=0.05)
    workers.start()
    try:
        bad = saver.enqueue_run(thread_id="t1", agent="g", input={"n": 1})
        workers.wake()
        failed = _until_done(saver, bad.run_id)
        assert failed.status == "failed" and "SystemExit" in (failed.error or "")
        workers.registry["g"] = graph_of(saver)  # the same worker thread takes the next run
        good = saver.enqueue_run(thread_id="t2", agent="g", input={"n": 1})
        workers.wake()
        assert _until_done(saver, good.run_id).status == "done"
    finally:
        workers.stop(5)


def test_workers_can_be_started_again_after_a_stop(saver: Any) -> None:
    workers = RunWorkers(saver, {"g": graph_of(saver)}, workers=1, poll=0.05)
    workers.start()
    workers.stop()
    workers.start()  # e.g. the app's lifespan entered again
    try:
        run = saver.enqueue_run(thread_id="t", agent="g", input={"n": 1})
        workers.wake()
        assert _until_done(saver, run.run_id).status == "done"
    finally:
        workers.stop(5)


def test_a_run_taken_over_after_others_used_its_thread_reports_its_own_end(saver: Any) -> None:
    ask = [False]
    graph = graph_of(saver, ask=ask)
    run = saver.enqueue_run(thread_id="t", agent="g", input={"n": 1})
    dead = saver.claim_run("dead-worker", ttl=0)  # its lease lapses at once
    assert dead is not None and dead.run_id == run.run_id
    config = {"configurable": {"thread_id": "t", "run_id": run.run_id}}
    graph.invoke(dead.input, config)  # it ran to the end, then its worker died unrecorded
    ask[0] = True
    other = graph.invoke({"n": 10}, {"configurable": {"thread_id": "t"}})  # someone else
    assert other["__interrupt__"]

    with pytest.raises(RunSuperseded):  # the library: the run cannot go on, nor apply again
        graph.invoke(dead.input, config)
    taker = saver.claim_run("taker", ttl=60)
    assert taker is not None and taker.run_id == run.run_id
    RunWorkers(saver, {"g": graph}).execute(taker, "taker")
    ended = saver.get_run(run.run_id)
    assert ended.status == "done"  # not "interrupted" on the other run's request
    assert ended.result["values"] == {"n": 1} and ended.result["interrupts"] == []
    assert graph.get_state(config).values["n"] == 11  # nothing applied twice


def test_a_run_queued_behind_a_pause_waits_for_the_decision(saver: Any) -> None:
    graph = graph_of(saver, ask=[True])
    first = saver.enqueue_run(thread_id="t", agent="g", input={"n": 1})
    second = saver.enqueue_run(thread_id="t", agent="g", input={"n": 2})
    workers = RunWorkers(saver, {"g": graph}, busy_delay=0.0)
    workers.execute(saver.claim_run("w", ttl=60), "w")
    assert saver.get_run(first.run_id).status == "interrupted"
    workers.execute(saver.claim_run("w", ttl=60), "w")
    waiting = saver.get_run(second.run_id)
    assert waiting.status == "queued" and waiting.error is None  # given back, not failed
    [request] = graph.get_state({"configurable": {"thread_id": "t"}}).interrupts
    graph.invoke(Command(resume={request.id: "yes"}), {"configurable": {"thread_id": "t"}})
    again = saver.claim_run("w", ttl=60)
    assert again is not None and again.run_id == second.run_id


def test_a_process_without_the_agent_gives_the_run_back(saver: Any) -> None:
    run = saver.enqueue_run(thread_id="t", agent="elsewhere", input={"n": 1})
    RunWorkers(saver, {"g": graph_of(saver)}).execute(saver.claim_run("w", ttl=60), "w")
    back = saver.get_run(run.run_id)
    assert back.status == "queued" and back.error is None


def test_deleting_a_thread_fails_its_open_runs(saver: Any) -> None:
    graph = graph_of(saver)
    graph.invoke({"n": 1}, {"configurable": {"thread_id": "t"}})
    queued = saver.enqueue_run(thread_id="t", agent="g", input={"n": 1})
    other = saver.enqueue_run(thread_id="u", agent="g", input={"n": 1})
    saver.delete_thread("t")
    gone = saver.get_run(queued.run_id)
    assert gone.status == "failed" and "deleted" in (gone.error or "")
    claimed = saver.claim_run("w", ttl=60)
    assert claimed is not None and claimed.run_id == other.run_id  # only the other thread's


def test_pruning_keeps_a_finished_thread_with_a_queued_run(saver: Any) -> None:
    graph = graph_of(saver)
    graph.invoke({"n": 5}, {"configurable": {"thread_id": "t"}})
    graph.invoke({"n": 1}, {"configurable": {"thread_id": "idle"}})
    run = saver.enqueue_run(thread_id="t", agent="g", input={"n": 1})
    saver.prune(finished_before=datetime.now(UTC) + timedelta(seconds=1))
    assert saver.get_thread("idle") is None and saver.get_thread("t") is not None
    RunWorkers(saver, {"g": graph}).execute(saver.claim_run("w", ttl=60), "w")
    assert saver.get_run(run.run_id).result["values"] == {"n": 6}


def test_a_lone_surrogate_in_background_input_is_refused(saver: Any) -> None:
    keys = ApiKeys.parse("k-bob=bob:requester")
    with served(create_app({"g": graph_of(saver)}, keys=keys, workers=0)) as http:
        bob = {"X-API-Key": "k-bob", "content-type": "application/json"}
        assert http.post("/v1/threads", json={"thread_id": "t"}, headers=bob).status_code == 201
        body = '{"input": {"answer": "\\ud800"}, "background": true}'
        refused = http.post("/v1/threads/t/runs", content=body, headers=bob)
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_request"
    assert saver.list_runs(thread_id="t") == ()


@pytest.mark.postgres
def test_postgres_orders_a_threads_runs_by_the_database_clock(monkeypatch: Any) -> None:
    from interlock.checkpoint._runs import sql as _sql_runs
    from tests.pg import fresh_postgres_saver

    saver = fresh_postgres_saver()
    try:
        first = saver.enqueue_run(thread_id="t", agent="g", input={"n": 1})
        real = _sql_runs.utc_now
        slow = lambda: real() - timedelta(seconds=5)  # noqa: E731 - a process 5 s behind
        monkeypatch.setattr(_sql_runs, "utc_now", slow)
        saver.enqueue_run(thread_id="t", agent="g", input={"n": 2})
        claimed = saver.claim_run("w", ttl=60)
        assert claimed is not None and claimed.run_id == first.run_id
    finally:
        saver.close()


def test_prune_forgets_the_runs_that_ended_before_its_instant(saver: Any) -> None:
    graph = graph_of(saver)
    workers = RunWorkers(saver, {"g": graph})
    ended = saver.enqueue_run(thread_id="t", agent="g", input={"n": 1})
    workers.execute(saver.claim_run("w", ttl=60), "w")
    assert saver.get_run(ended.run_id).status == "done"
    queued = saver.enqueue_run(thread_id="u", agent="g", input={"n": 1})
    saver.prune(finished_before=datetime.now(UTC) - timedelta(days=1))
    assert saver.get_run(ended.run_id) is not None  # ended after that instant: kept
    saver.prune(finished_before=datetime.now(UTC) + timedelta(seconds=1))
    assert saver.get_run(ended.run_id) is None
    assert saver.get_run(queued.run_id).status == "queued"  # an open run is never pruned
