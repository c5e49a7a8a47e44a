"""Run cancel on the Agent Server API, driven by the real langgraph-sdk: a queued run is
cancelled (it never runs; the SDK reads it `interrupted`); a run under way stops between two
steps and the thread goes on from there later (asked in this process, in another, or before
a takeover); an ended run is a 409 `cannot_cancel` (ConflictError), an unknown one 404."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from interlock import RunStopped, StateGraph
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, _stops, create_app
from interlock.server._durable import run_durably
from interlock.server._operations import run_view
from interlock.server._stops import ask_to_stop
from interlock.server.runs import RunWorkers
from tests._http import served

KEYS = "k-bob=bob:requester"
ENTERED = threading.Event()
GATE = threading.Event()
RAN: list[str] = []


class Job(TypedDict, total=False):
    item: str
    block: bool


def work(state: Job) -> dict[str, Any]:
    RAN.append(state["item"])
    if state["item"] == "boom":
        raise RuntimeError("the node broke")
    if state.get("block"):
        ENTERED.set()
        assert GATE.wait(60), "the test never opened the gate"
    return {}


def after(state: Job) -> dict[str, Any]:
    RAN.append(f"after:{state['item']}")
    return {}


def _jobs(saver: SqliteSaver) -> Any:
    g = StateGraph(Job)
    g.add_node("work", work)
    g.add_node("after", after)
    g.add_edge("__start__", "work")
    g.add_edge("work", "after")
    return g.compile(checkpointer=saver, name="jobs")


@pytest.fixture
def sdk(tmp_path: Path) -> Iterator[tuple[Any, SqliteSaver]]:
    ENTERED.clear()
    GATE.clear()
    RAN.clear()
    saver = SqliteSaver(tmp_path / "cancel.db")
    graph = _jobs(saver)
    # no workers: background runs stay queued until cancelled
    app = create_app({"jobs": graph}, keys=ApiKeys.parse(KEYS), workers=0)
    with served(app) as http:
        client = get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-bob")
        try:
            yield client, saver
        finally:
            GATE.set()
            client.close()
    saver.close()


def test_a_queued_run_is_cancelled_and_never_runs(sdk: tuple[Any, SqliteSaver]) -> None:
    client, saver = sdk
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "jobs", input={"item": "a"})
    assert run["status"] == "pending"
    assert client.runs.cancel(thread, run["run_id"]) is None
    assert client.runs.get(thread, run["run_id"])["status"] == "interrupted"
    client.runs.cancel(thread, run["run_id"], wait=True)  # again: still cancelled
    client.runs.join(thread, run["run_id"])  # its stream ended
    record = saver.get_run(run["run_id"])
    assert record is not None and record.status == "cancelled"
    assert saver.claim_run("w", ttl=60) is None  # never claimed, so never run
    assert RAN == []
    with pytest.raises(NotFoundError):
        client.runs.cancel(thread, "f" * 32)


def _running(saver: SqliteSaver, thread: str) -> Any:
    assert ENTERED.wait(30)
    [running] = [r for r in saver.list_runs(thread_id=thread) if r.status == "running"]
    return running


def _waiting(client: Any, thread: str | None, item: str) -> tuple[threading.Thread, list[Any]]:
    """`runs.wait` of a run that blocks in `work`, in a thread; the list gets its answer."""
    answers: list[Any] = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            client.runs.wait(thread, "jobs", input={"item": item, "block": True})
        )
    )
    waiting.start()
    return waiting, answers


def test_a_run_under_way_stops_after_its_step_and_goes_on_later(
    sdk: tuple[Any, SqliteSaver],
) -> None:
    client, saver = sdk
    thread = client.threads.create()["thread_id"]
    waiting, answers = _waiting(client, thread, "b")
    try:
        running = _running(saver, thread)
        with pytest.raises(UnprocessableEntityError) as refused:  # its steps are not undone
            client.runs.cancel(thread, running.run_id, action="rollback")
        assert "not_supported" in refused.value.response.text
        assert client.runs.cancel(thread, running.run_id) is None
        asked = saver.get_run(running.run_id)
        assert asked is not None and asked.status == "running" and asked.stop_asked
    finally:
        GATE.set()
        waiting.join(30)
    assert not waiting.is_alive()
    assert answers == [{"item": "b", "block": True}]  # the values it stopped at
    assert RAN == ["b"]  # `after` never ran
    assert client.runs.get(thread, running.run_id)["status"] == "interrupted"
    record = saver.get_run(running.run_id)
    assert record is not None and record.status == "cancelled"
    state = client.threads.get_state(thread)
    assert state["next"] == ["after"] and state["values"]["item"] == "b"
    actions = [e.action for e in saver.list_audit(thread_id=thread).items]
    assert "run.cancel_requested" in actions
    assert client.runs.cancel(thread, running.run_id) is None  # again: still cancelled
    done = client.runs.wait(thread, "jobs", input=None)  # the thread goes on from its step
    assert RAN == ["b", "after:b"] and done["item"] == "b"
    assert client.threads.get_state(thread)["next"] == []
    [last, first] = client.runs.list(thread)
    assert (first["run_id"], last["status"]) == (running.run_id, "success")
    with pytest.raises(ConflictError) as ended:  # an ended run: nothing to cancel
        client.runs.cancel(thread, last["run_id"])
    assert "cannot_cancel" in ended.value.response.text


def test_cancel_with_wait_answers_once_the_streamed_run_ended(
    sdk: tuple[Any, SqliteSaver],
) -> None:
    client, saver = sdk
    thread = client.threads.create()["thread_id"]
    events: list[str] = []

    def read() -> None:
        for part in client.runs.stream(
            thread, "jobs", input={"item": "c", "block": True}, stream_mode="updates"
        ):
            events.append(part.event)

    reader = threading.Thread(target=read)
    reader.start()
    running = _running(saver, thread)
    cancelled = threading.Thread(
        target=client.runs.cancel, args=(thread, running.run_id), kwargs={"wait": True}
    )
    cancelled.start()
    while not (asked := saver.get_run(running.run_id)) or not asked.stop_asked:
        assert cancelled.is_alive(), "the cancel answered before the run was asked to stop"
    assert cancelled.is_alive()  # wait=true: it answers only once the run ended
    GATE.set()
    cancelled.join(30)
    reader.join(30)
    assert not cancelled.is_alive() and not reader.is_alive()
    assert client.runs.get(thread, running.run_id)["status"] == "interrupted"
    assert RAN == ["c"] and "updates" in events and "error" not in events


def test_a_taken_over_run_that_was_asked_to_stop_before_it_did_anything_never_runs(
    tmp_path: Path,
) -> None:
    RAN.clear()
    saver = SqliteSaver(tmp_path / "takeover.db")
    try:
        graph = _jobs(saver)
        thread = "t-takeover"
        run = saver.enqueue_run(
            thread_id=thread, agent="jobs", input={"item": "d"}, owner="dead", ttl=0
        )
        assert ask_to_stop(saver, run.run_id) is not None  # then its process died
        claimed = saver.claim_run("worker", ttl=60)
        assert claimed is not None and claimed.run_id == run.run_id and claimed.stop_asked
        RunWorkers(saver, {"jobs": graph}, workers=0).execute(claimed, "worker")
        assert RAN == []
        ended = saver.get_run(run.run_id)
        assert ended is not None and ended.status == "cancelled"
        assert graph.get_state({"configurable": {"thread_id": thread}}).values == {}
    finally:
        saver.close()


def test_a_stop_asked_in_another_process_is_found_in_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_stops, "LOOK", 0.0)  # look at the store at every step boundary
    here, there = SqliteSaver(tmp_path / "shared.db"), SqliteSaver(tmp_path / "shared.db")
    try:
        run = here.enqueue_run(thread_id="t", agent="jobs", input={}, owner="me", ttl=60)
        with _stops.stop_check(here, run) as check:
            assert not check()
            there.stop_run(run.run_id)  # another process's request: only in the store
            assert check()
    finally:
        here.close()
        there.close()


def test_a_thread_less_run_cancelled_under_way_keeps_its_thread(
    sdk: tuple[Any, SqliteSaver],
) -> None:
    client, saver = sdk
    waiting, answers = _waiting(client, None, "e")
    try:
        assert ENTERED.wait(30)
        [running] = saver.list_runs(status="running")
        assert client.runs.cancel(running.thread_id, running.run_id) is None
    finally:
        GATE.set()
        waiting.join(30)
    assert answers == [{"item": "e", "block": True}]
    # on_completion="delete" keeps a stopped thread: its next nodes are still to run
    state = client.threads.get_state(running.thread_id)
    assert state["next"] == ["after"]
    done = client.runs.wait(running.thread_id, "jobs", input=None)
    assert done["item"] == "e" and RAN == ["e", "after:e"]


def test_a_run_that_ended_as_it_was_cancelled_is_not_audited_as_asked(
    sdk: tuple[Any, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, saver = sdk
    thread = client.threads.create()["thread_id"]
    client.runs.wait(thread, "jobs", input={"item": "f"})
    [ended] = saver.list_runs(thread_id=thread)
    stale = dataclasses.replace(ended, status="running")  # read just before it ended
    real = saver.get_run
    monkeypatch.setattr(
        saver, "get_run", lambda run_id: stale if run_id == ended.run_id else real(run_id)
    )
    with pytest.raises(ConflictError):
        client.runs.cancel(thread, ended.run_id)
    actions = [e.action for e in saver.list_audit(thread_id=thread).items]
    assert "run.cancel_requested" not in actions


def test_a_failed_thread_less_run_still_deletes_its_thread(
    sdk: tuple[Any, SqliteSaver],
) -> None:
    client, saver = sdk
    with pytest.raises(Exception, match="the node broke"):
        client.runs.wait(None, "jobs", input={"item": "boom"})
    [failed] = saver.list_runs(status="failed")
    assert saver.get_thread(failed.thread_id) is None  # on_completion="delete"


def test_cancel_with_wait_waits_for_a_run_without_an_event_log(
    sdk: tuple[Any, SqliteSaver],
) -> None:
    client, saver = sdk
    thread = client.threads.create()["thread_id"]
    graph = _jobs(saver)
    stopped: list[RunStopped] = []

    def run() -> None:  # a library-side durable run: no Agent Server event log
        config = {"configurable": {"thread_id": thread}}
        try:
            run_durably(saver, graph, {"item": "g", "block": True}, config, view=run_view)
        except RunStopped as exc:
            stopped.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    running = _running(saver, thread)
    assert saver.run_log(thread, running.run_id) is None
    cancelled = threading.Thread(
        target=client.runs.cancel, args=(thread, running.run_id), kwargs={"wait": True}
    )
    cancelled.start()
    while not (asked := saver.get_run(running.run_id)) or not asked.stop_asked:
        assert cancelled.is_alive(), "the cancel answered before the run was asked to stop"
    assert cancelled.is_alive()
    GATE.set()
    runner.join(30)
    cancelled.join(30)
    assert not cancelled.is_alive() and not runner.is_alive()
    assert saver.get_run(running.run_id).status == "cancelled"  # type: ignore[union-attr]
    assert RAN == ["g"] and len(stopped) == 1


def test_a_queued_resume_is_asked_to_stop_once_and_not_rolled_back(
    sdk: tuple[Any, SqliteSaver],
) -> None:
    client, saver = sdk
    thread = client.threads.create()["thread_id"]
    run = saver.enqueue_run(
        thread_id=thread, agent="jobs", kind="resume", input={"interrupt_ids": []}
    )
    with pytest.raises(UnprocessableEntityError):  # it runs a step: nothing to roll back
        client.runs.cancel(thread, run.run_id, action="rollback")
    for _ in range(3):
        assert client.runs.cancel(thread, run.run_id) is None
    asked = saver.get_run(run.run_id)
    assert asked is not None and (asked.status, asked.stop_asked) == ("queued", True)
    actions = [e.action for e in saver.list_audit(thread_id=thread).items]
    assert actions.count("run.cancel_requested") == 1


def test_a_thread_protocol_client_sees_a_cancelled_run_end(tmp_path: Path) -> None:
    ENTERED.clear()
    GATE.clear()
    RAN.clear()
    saver = SqliteSaver(tmp_path / "protocol.db")
    app = create_app({"jobs": _jobs(saver)}, keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app, grace=0.5) as http:  # (the stream's connection may linger)
            client = get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-bob")
            try:
                with client.threads.stream(assistant_id="jobs") as mine:
                    mine.run.start(input={"item": "h", "block": True})
                    assert ENTERED.wait(30)
                    [running] = saver.list_runs(status="running")
                    assert client.runs.cancel(running.thread_id, running.run_id) is None
                    GATE.set()
                    assert mine.output == {"item": "h", "block": True}  # it ends, not hangs
                assert RAN == ["h"]
                state = client.threads.get_state(running.thread_id)
                assert state["next"] == ["after"]
            finally:
                GATE.set()
                client.close()
    finally:
        saver.close()
