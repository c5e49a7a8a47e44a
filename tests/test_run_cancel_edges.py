"""Cancelling runs at their edges, on every store: a queued resume still carries out its
decision; a run given back to the queue after the request to stop never runs; a run that
goes on from a stopped thread (`input: null`) is reported, not re-run, when its thread
paused meanwhile, and is kept (failed) when its node fails; a stopped run's result says
`stopped`; an older release fails a `continue` run rather than re-run it as new input."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

from interlock import RunStopped, StateGraph, ThreadBusy, interrupt
from interlock.graph._stop import STOP
from interlock.server._durable import continues, decision_state, run_durably
from interlock.server._operations import run_view
from interlock.server._stops import ask_to_stop
from interlock.server.runs import RunWorkers
from tests.test_agent_server_cancel import RAN, _jobs
from tests.test_durable_runs import LONG_AGO, paused, payments


class Steps(TypedDict, total=False):
    n: int


def steps(
    saver: Any,
    ran: list[str],
    *,
    before: tuple[str, ...] = (),
    fail: str = "",
    error: type[Exception] = RuntimeError,
) -> Any:
    """a -> b -> c, each noting that it ran (`fail` raises `error` instead)."""

    def node(name: str) -> Any:
        def body(state: Steps) -> dict[str, Any]:
            ran.append(name)
            if name == fail:
                raise error(f"{name} broke")
            return {}

        return body

    g = StateGraph(Steps)
    for name in "abc":
        g.add_node(name, node(name))
    g.add_edge("__start__", "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g.compile(checkpointer=saver, name="jobs", interrupt_before=list(before))


def stopped_after_a(graph: Any, thread: str) -> None:
    config = {"configurable": {"thread_id": thread, STOP: lambda: True}}
    with pytest.raises(RunStopped):
        graph.invoke({"n": 1}, config)


def test_a_queued_resume_asked_to_stop_carries_its_decision_out(saver: Any) -> None:
    ledger: list[str] = []
    graph = payments(saver, ledger)
    request = paused(saver, graph)
    saver.resolve_interrupts("t", {request: "yes"}, decided_by="ada")  # then its process died
    workers = RunWorkers(saver, {"payments": graph}, workers=0)
    [run_id] = workers.sweep(LONG_AGO)
    asked = ask_to_stop(saver, run_id)  # queued, but it carries out a decision: marked
    assert asked is not None and (asked.status, asked.stop_asked) == ("queued", True)
    claimed = saver.claim_run("w", ttl=60)
    assert claimed is not None and claimed.run_id == run_id
    workers.execute(claimed, "w")
    assert ledger == [("invoice-7", "yes")]  # the approved payment was made
    assert saver.stranded_threads(since=LONG_AGO) == ()


def test_a_run_given_back_after_it_was_asked_to_stop_never_runs(saver: Any) -> None:
    RAN.clear()
    graph = _jobs(saver)
    workers = RunWorkers(saver, {"jobs": graph}, workers=0)
    run = saver.enqueue_run(thread_id="t", agent="jobs", input={"item": "x"})
    claimed = saver.claim_run("w1", ttl=60)
    assert claimed is not None
    ask_to_stop(saver, claimed.run_id)
    assert saver.release_run(run.run_id, "w1")  # given back (a busy thread, a hand-back)
    given_back = saver.get_run(run.run_id)
    assert given_back is not None
    assert (given_back.status, given_back.stop_asked) == ("queued", True)
    again = saver.claim_run("w2", ttl=60)
    assert again is not None and again.run_id == run.run_id
    workers.execute(again, "w2")
    ended = saver.get_run(run.run_id)
    assert ended is not None and ended.status == "cancelled"
    assert RAN == []  # asked to stop before it did anything: it never ran
    assert list(saver.list_checkpoints("t", limit=1)) == []
    queued = saver.enqueue_run(thread_id="u", agent="jobs", input={"item": "y"})
    saver.stop_run(queued.run_id)  # a queued run asked again is cancelled at once
    assert ask_to_stop(saver, queued.run_id).status == "cancelled"  # type: ignore[union-attr]


def test_a_continue_run_taken_over_past_a_pause_is_only_reported(saver: Any) -> None:
    ran: list[str] = []
    graph = steps(saver, ran, before=("c",))
    stopped_after_a(graph, "t")
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(RuntimeError, match="died"):

        def dies(graph: Any, input: Any, config: dict[str, Any]) -> dict[str, Any]:
            graph.invoke(input, config)  # goes on to the breakpoint before c, then dies
            raise RuntimeError("the process died before recording the run's end")

        run_durably(saver, graph, None, config, dies, view=run_view)
    [pending] = saver.list_interrupts(status="pending", thread_id="t").items
    assert pending.kind == "breakpoint" and ran == ["a", "b"]
    [run] = [r for r in saver.list_runs(thread_id="t")]
    assert continues(run) and run.status == "failed"
    # the same run as a takeover finds it (its process died before `finish_run`)
    orphan = saver.enqueue_run(
        thread_id="t", agent="jobs", kind="resume", input=run.input, owner="dead", ttl=0
    )
    claimed = saver.claim_run("w", ttl=60)
    assert claimed is not None and claimed.run_id == orphan.run_id
    RunWorkers(saver, {"jobs": graph}, workers=0).execute(claimed, "w")
    assert ran == ["a", "b"]  # c, behind the breakpoint, did not run
    assert saver.get_interrupt(pending.interrupt_id).status == "pending"
    assert saver.get_run(orphan.run_id).status == "interrupted"  # type: ignore[union-attr]


@pytest.mark.parametrize(("fail", "error"), [("b", RuntimeError), ("c", ThreadBusy)])
def test_a_continue_run_whose_node_fails_is_kept_failed(
    saver: Any, fail: str, error: type[Exception]
) -> None:
    ran: list[str] = []
    graph = steps(saver, ran, fail=fail, error=error)
    stopped_after_a(graph, "t")
    with pytest.raises(error, match=f"{fail} broke"):
        run_durably(saver, graph, None, {"configurable": {"thread_id": "t"}}, view=run_view)
    assert ran == ["a", "b", "c"][: "abc".index(fail) + 1]
    [run] = saver.list_runs(thread_id="t")  # a node ran: kept, not discarded as refused
    assert continues(run) and run.status == "failed" and f"{fail} broke" in (run.error or "")


def test_a_run_that_stopped_and_whose_process_died_does_not_run_again(saver: Any) -> None:
    ran: list[str] = []
    graph = steps(saver, ran)
    run = saver.enqueue_run(thread_id="t", agent="jobs", input={"n": 1}, owner="dead", ttl=0)
    ask_to_stop(saver, run.run_id)
    config = {"configurable": {"thread_id": "t", "run_id": run.run_id, STOP: lambda: True}}
    with pytest.raises(RunStopped):  # it stopped after a, then its process died
        graph.invoke({"n": 1}, config)
    claimed = saver.claim_run("w", ttl=60)
    assert claimed is not None and claimed.run_id == run.run_id
    RunWorkers(saver, {"jobs": graph}, workers=0).execute(claimed, "w")
    assert ran == ["a"]  # the takeover ends it where it stopped
    ended = saver.get_run(run.run_id)
    assert ended is not None and ended.status == "cancelled"
    assert ended.result["status"] == "stopped" and ended.result["values"] == {"n": 1}


def test_a_stopped_run_says_stopped_and_an_older_release_fails_a_continue(saver: Any) -> None:
    ran: list[str] = []
    graph = steps(saver, ran)
    config = {"configurable": {"thread_id": "t"}}
    stopped_after_a(graph, "t")

    def stop_at_once(graph: Any, input: Any, config: dict[str, Any]) -> dict[str, Any]:
        config["configurable"][STOP].asked.set()  # cancelled as soon as it started
        return graph.invoke(input, config)

    with pytest.raises(RunStopped):
        run_durably(saver, graph, None, config, stop_at_once, view=run_view)
    assert ran == ["a", "b"]  # it went on with b, then stopped before c
    [run] = saver.list_runs(thread_id="t")
    assert run.status == "cancelled" and run.result["status"] == "stopped"
    # stored as a resume with no requests: a worker of the earlier release, which knows
    # only its three kinds, finds its requests "gone" and fails it instead of applying {}
    assert (run.kind, run.input) == ("resume", {"interrupt_ids": [], "continue": True})
    legacy = {**run.input}
    legacy.pop("continue")
    assert decision_state(saver, run) == "recorded"
    assert decision_state(saver, run.__class__(**{**_fields(run), "input": legacy})) == "gone"


def _fields(run: Any) -> dict[str, Any]:
    return {name: getattr(run, name) for name in run.__dataclass_fields__}


def test_a_takeover_of_a_run_that_paused_as_it_was_asked_to_stop_ends_interrupted(
    saver: Any,
) -> None:
    def ask(state: Steps) -> dict[str, Any]:
        return {"n": interrupt({"how many?": state.get("n")})}

    g = StateGraph(Steps)
    g.add_node("ask", ask)
    g.add_edge("__start__", "ask")
    graph = g.compile(checkpointer=saver, name="jobs")
    run = saver.enqueue_run(thread_id="t", agent="jobs", input={"n": 1}, owner="dead", ttl=0)
    ask_to_stop(saver, run.run_id)  # asked while its step ran; the step paused, then it died
    paused = graph.invoke({"n": 1}, {"configurable": {"thread_id": "t", "run_id": run.run_id}})
    [request] = paused["__interrupt__"]
    claimed = saver.claim_run("w", ttl=60)
    assert claimed is not None and claimed.run_id == run.run_id
    RunWorkers(saver, {"jobs": graph}, workers=0).execute(claimed, "w")
    ended = saver.get_run(run.run_id)
    assert ended is not None and ended.status == "interrupted"  # as its step said
    assert [i["id"] for i in ended.result["interrupts"]] == [request.id]
    assert saver.get_interrupt(request.id).status == "pending"
    [end] = [e for e in saver.read_events("t") if e.event == "end"]
    assert end.data == {"run_id": run.run_id, "status": "interrupted"}  # not cancelled
