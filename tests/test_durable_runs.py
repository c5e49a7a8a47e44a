"""Durable runs in one process, on every store: the runs the service executes in requests
are in the run queue before they start; a run whose process died is taken over by a
worker (a resume carries out the recorded decision, never decides); the sweep queues
threads left decided but not carried out. The same across real processes killed with
SIGKILL: tests/test_durable_crash.py."""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from interlock import Command, StateGraph, interrupt
from interlock.checkpoint.base import BaseSaver
from interlock.errors import InputRejected
from interlock.graph import CompiledStateGraph
from interlock.server._errors import ApiError
from interlock.server._operations import decide_request, run_input
from interlock.server.auth import ANONYMOUS, Principal
from interlock.server.runs import UNRECORDED, RunWorkers

ADA = Principal("ada", frozenset({"approver"}))
BOB = Principal("bob", frozenset({"requester"}))
LONG_AGO = datetime.now(UTC) - timedelta(days=1)


class Pay(TypedDict, total=False):
    item: str
    paid: Annotated[list[str], operator.add]


def payments(saver: BaseSaver, ledger: list[Any], seen: list[Any] | None = None) -> Any:
    """`review` asks before it pays; `ledger` gets one entry per payment made."""

    def review(state: Pay) -> dict[str, Any]:
        answer = interrupt({"pay": state["item"]})
        if seen is not None:  # what the store says while the node runs
            seen.append(saver.list_runs(thread_id="t"))
        ledger.append((state["item"], answer))
        return {"paid": [state["item"]]}

    g = StateGraph(Pay)
    g.add_node("review", review)
    g.add_edge("__start__", "review")
    return g.compile(checkpointer=saver, name="payments")


def paused(saver: BaseSaver, graph: CompiledStateGraph) -> str:
    """Thread `t` paused on its request, by a message run; the request's id."""
    view = run_input(saver, graph, "payments", "t", {"item": "invoice-7"}, BOB)
    assert view["status"] == "paused"
    return str(view["interrupts"][0]["id"])


def test_a_decision_is_a_run_recorded_before_it_starts(saver: BaseSaver) -> None:
    ledger: list[Any] = []
    seen: list[Any] = []
    graph = payments(saver, ledger, seen)
    iid = paused(saver, graph)
    [message] = saver.list_runs(thread_id="t")
    assert (message.kind, message.status, message.created_by) == ("input", "interrupted", "bob")
    assert message.result["interrupts"][0]["id"] == iid
    out = decide_request(saver, {"payments": graph}, iid, "yes", ADA, allow_self_approval=False)
    assert out["run"]["status"] == "finished" and ledger == [("invoice-7", "yes")]
    [during] = seen  # inside the resumed node: the resume is a running run, leased
    resume = next(r for r in during if r.kind == "resume")
    assert resume.status == "running" and resume.owner and resume.attempts == 1
    assert resume.input == {"interrupt_ids": [iid]}
    done = saver.get_run(resume.run_id)
    assert done is not None and done.status == "done"
    assert done.result["values"] == {"item": "invoice-7", "paid": ["invoice-7"]}
    checkpoints = list(saver.list_checkpoints("t"))
    assert checkpoints[0].metadata.get("run_id") == resume.run_id  # the resume's commit
    assert saver.stranded_threads(since=LONG_AGO) == ()


def test_a_refused_run_leaves_no_run_behind(saver: BaseSaver) -> None:
    ledger: list[Any] = []
    graph = payments(saver, ledger)
    registry = {"payments": graph}
    iid = paused(saver, graph)
    assert saver.acquire_thread("t", "someone-else", ttl=60)  # another call runs the thread
    with pytest.raises(Exception, match="another caller"):
        decide_request(saver, registry, iid, "yes", ADA, allow_self_approval=False)
    saver.release_thread("t", "someone-else")
    assert [r.kind for r in saver.list_runs(thread_id="t")] == ["input"]  # refused: discarded
    with pytest.raises(InputRejected):  # new input while the thread waits: refused
        run_input(saver, graph, "payments", "t", {"item": "other"}, BOB)
    assert [r.kind for r in saver.list_runs(thread_id="t")] == ["input"]
    assert ledger == [] and saver.get_interrupt(iid).status == "pending"  # type: ignore[union-attr]
    decide_request(saver, registry, iid, "yes", ADA, allow_self_approval=False)
    with pytest.raises(ApiError) as twice:
        decide_request(saver, registry, iid, "no", ADA, allow_self_approval=False)
    assert twice.value.status == 409
    assert sorted(r.kind for r in saver.list_runs(thread_id="t")) == ["input", "resume"]


def _died_after_deciding(saver: BaseSaver, iid: str, *, recorded: bool = True) -> str:
    """What a process leaves when it dies running a resume: the run queued claimed, its
    lease already lapsed (ttl 0), and — if `recorded` — the decision committed."""
    run = saver.enqueue_run(
        thread_id="t",
        agent="payments",
        input={"interrupt_ids": [iid]},
        created_by="ada",
        kind="resume",
        options={"config": {"user_id": "ada", "requested_by": "bob"}},
        owner="dead-process",
        ttl=0,
    )
    if recorded:
        saver.resolve_interrupts("t", {iid: "yes"}, decided_by="ada")
    return run.run_id


def _take_over(saver: BaseSaver, graph: CompiledStateGraph) -> str:
    workers = RunWorkers(saver, {"payments": graph}, workers=0)
    run = saver.claim_run("worker-b", ttl=60)
    assert run is not None
    workers.execute(run, "worker-b")
    return run.run_id


def test_a_resume_whose_process_died_after_the_decision_is_carried_out_once(
    saver: BaseSaver,
) -> None:
    ledger: list[Any] = []
    graph = payments(saver, ledger)
    iid = paused(saver, graph)
    run_id = _died_after_deciding(saver, iid)
    assert saver.stranded_threads(since=LONG_AGO) == ()  # a run is there to carry it out
    assert _take_over(saver, graph) == run_id
    assert ledger == [("invoice-7", "yes")]  # the recorded decision, applied once
    run = saver.get_run(run_id)
    assert run is not None and (run.status, run.attempts) == ("done", 2)
    assert graph.get_state({"configurable": {"thread_id": "t"}}).next == ()
    assert saver.get_interrupt(iid).decided_by == "ada"  # type: ignore[union-attr]
    events = [e.event for e in saver.read_events("t", run_id=run_id)]
    assert events[0] == "metadata" and events[-1] == "end"  # joinable from any process
    assert saver.stranded_threads(since=LONG_AGO) == ()


def test_a_resume_whose_decision_was_never_recorded_decides_nothing(saver: BaseSaver) -> None:
    ledger: list[Any] = []
    graph = payments(saver, ledger)
    iid = paused(saver, graph)
    run_id = _died_after_deciding(saver, iid, recorded=False)
    _take_over(saver, graph)
    run = saver.get_run(run_id)
    assert run is not None and (run.status, run.error) == ("failed", UNRECORDED)
    assert ledger == [] and saver.get_interrupt(iid).status == "pending"  # type: ignore[union-attr]


def test_a_resume_that_had_ended_is_reported_not_run_again(saver: BaseSaver) -> None:
    ledger: list[Any] = []
    graph = payments(saver, ledger)
    iid = paused(saver, graph)
    run_id = _died_after_deciding(saver, iid, recorded=False)
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke(Command(resume={iid: "yes"}), config)  # it ran to its end, then died
    _take_over(saver, graph)
    assert ledger == [("invoice-7", "yes")]  # once, not twice
    run = saver.get_run(run_id)
    assert run is not None and run.status == "done"
    assert run.result["values"]["paid"] == ["invoice-7"]


def test_the_sweep_queues_a_stranded_decision_and_a_worker_carries_it_out(
    saver: BaseSaver,
) -> None:
    ledger: list[Any] = []
    graph = payments(saver, ledger)
    iid = paused(saver, graph)
    # a library process decided and died before the resumed node ran: no run is queued
    saver.resolve_interrupts("t", {iid: "yes"}, decided_by="ada")
    workers = RunWorkers(saver, {"payments": graph}, workers=0)
    [run_id] = workers.sweep(LONG_AGO)
    assert workers.sweep(LONG_AGO) == []  # queued once
    run = saver.get_run(run_id)
    assert run is not None and (run.kind, run.status, run.created_by) == ("resume", "queued", "ada")
    claimed = saver.claim_run("w", ttl=60)
    assert claimed is not None and claimed.run_id == run_id
    workers.execute(claimed, "w")
    assert ledger == [("invoice-7", "yes")]
    assert saver.get_run(run_id).status == "done"  # type: ignore[union-attr]
    assert saver.stranded_threads(since=LONG_AGO) == () and workers.sweep(LONG_AGO) == []
    queued = [e for e in saver.list_audit(thread_id="t").items if e.action == "run.queued"]
    assert queued and queued[0].detail["reason"] == "decided but not carried out"


def test_a_taken_over_agent_server_run_logs_on_under_its_run_id(saver: BaseSaver) -> None:
    ledger: list[Any] = []
    graph = payments(saver, ledger)
    iid = paused(saver, graph)
    log = {
        "modes": ["values", "updates"],
        "configurable": {},
        "kwargs": {},
        "info": {"assistant_id": "a", "metadata": {}},
        "fmt": None,
    }
    run = saver.enqueue_run(
        thread_id="t",
        agent="payments",
        input={"interrupt_ids": [iid]},
        kind="resume",
        options={"config": {"user_id": "ada"}, "log": log},
        owner="dead",
        ttl=0,
    )
    saver.append_events("t", run.run_id, [("run", log["info"]), ("metadata", {"attempt": 1})])
    saver.resolve_interrupts("t", {iid: "yes"}, decided_by="ada")
    _take_over(saver, graph)
    events = saver.read_events("t", run_id=run.run_id)
    names = [e.event for e in events]
    assert names[:2] == ["run", "metadata"] and names.count("run") == 1  # not logged twice
    assert events[2].event == "metadata" and events[2].data["attempt"] == 2  # the takeover
    assert "updates" in names and names[-1] == "end"
    assert ledger == [("invoice-7", "yes")]


def test_the_sweep_reads_its_index(tmp_path: Path) -> None:
    from interlock.checkpoint._runs.sql import STRANDED
    from interlock.checkpoint.sqlite import SqliteSaver

    saver = SqliteSaver(tmp_path / "plan.db")
    try:
        with saver._read() as conn:
            plan = saver._x(conn, "EXPLAIN QUERY PLAN " + STRANDED, ("", 10)).fetchall()
        text = " ".join(str(row[-1]) for row in plan)
        assert "interrupts_decided" in text, text  # not a scan of the requests or threads
        assert "SCAN i" not in text and "SCAN threads" not in text
    finally:
        saver.close()


def test_anonymous_callers_runs_are_durable_too(saver: BaseSaver) -> None:
    graph = payments(saver, [])
    view = run_input(saver, graph, "payments", "t", {"item": "x"}, ANONYMOUS)
    [run] = saver.list_runs(thread_id="t")
    assert run.status == "interrupted" and run.result["interrupts"] == view["interrupts"]


def test_a_streamed_v1_run_is_durable_too(saver: BaseSaver) -> None:
    from fastapi.testclient import TestClient

    from interlock.server import create_app

    graph = payments(saver, [])
    with TestClient(create_app({"payments": graph}, workers=0)) as http:
        assert http.post("/v1/threads", json={"thread_id": "t"}).status_code == 201
        with http.stream("POST", "/v1/threads/t/runs/stream", json={"input": {"item": "x"}}) as s:
            names = [line[7:] for line in s.iter_lines() if line.startswith("event: ")]
        assert names[-1] == "end"
        [run] = saver.list_runs(thread_id="t")
        assert (run.kind, run.status, run.input) == ("input", "interrupted", {"item": "x"})
        assert run.result["status"] == "paused"
        refused = http.post("/v1/threads/t/runs/stream", json={"input": {"item": "y"}})
        assert refused.status_code == 409  # the thread waits for a decision: nothing queued
        assert len(saver.list_runs(thread_id="t")) == 1


def test_a_command_run_is_durable_and_applied_once_on_a_takeover(saver: BaseSaver) -> None:
    from fastapi.testclient import TestClient

    from interlock.server import create_app

    graph = payments(saver, [])
    with TestClient(create_app({"payments": graph}, workers=0)) as http:
        made = http.post("/threads", json={"thread_id": "c"})
        assert made.status_code == 200, made.text
        body = {"assistant_id": "payments", "command": {"update": {"item": "y"}}}
        ran = http.post("/threads/c/runs/wait", json=body)
        assert ran.status_code == 200, ran.text
        [run] = saver.list_runs(thread_id="c")
        assert (run.kind, run.status, run.input) == (
            "command",
            "interrupted",
            {"update": {"item": "y"}, "goto": []},
        )
    # a process died running a command whose update it had not committed: applied once
    dead = saver.enqueue_run(
        thread_id="t",
        agent="payments",
        input={"update": {"item": "z"}, "goto": []},
        kind="command",
        owner="dead",
        ttl=0,
    )
    _take_over(saver, graph)
    state = graph.get_state({"configurable": {"thread_id": "t"}})
    assert state.values == {"item": "z", "paid": []} and state.next == ("review",)
    tagged = [c for c in saver.list_checkpoints("t") if c.metadata.get("run_id") == dead.run_id]
    assert [c.source for c in tagged] == ["input"]
    assert saver.get_run(dead.run_id).status == "interrupted"  # type: ignore[union-attr]


def test_a_serving_process_sweeps_by_itself(saver: BaseSaver) -> None:
    import time

    from fastapi.testclient import TestClient

    from interlock.server import create_app

    ledger: list[Any] = []
    graph = payments(saver, ledger)
    iid = paused(saver, graph)
    app = create_app({"payments": graph}, workers=1)
    app.state.runner.sweep_every = 0.05  # (default 10 s)
    with TestClient(app):
        saver.resolve_interrupts("t", {iid: "yes"}, decided_by="ada")  # decided elsewhere
        deadline = time.monotonic() + 30
        while not ledger:  # the sweep queues a run, a worker carries it out
            assert time.monotonic() < deadline, "the sweep did not carry the decision out"
            time.sleep(0.05)
    assert ledger == [("invoice-7", "yes")]
    assert graph.get_state({"configurable": {"thread_id": "t"}}).next == ()
