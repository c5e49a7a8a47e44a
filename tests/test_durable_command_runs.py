"""Durable runs of a `Command(update=...)` without `resume` (the Agent Server's `command`
runs): a takeover after a crash reads such a run correctly — its update is applied once
whether it was committed, kept with a paused or failed step, or folded into another run's
step — and it passes no breakpoint its caller was not allowed to pass. On every store.
The behaviour they go on with is LangGraph's: tests/test_parity_command_on_thread.py."""

from __future__ import annotations

from typing import Any

import pytest

from interlock import START, Command, InvalidUpdate, StateGraph, interrupt
from interlock.checkpoint.base import BaseSaver
from tests.test_parity_command_on_thread import State, _cfg, _graph


def _take_over(saver: BaseSaver, graph: Any) -> str:
    from interlock.server.runs import RunWorkers

    workers = RunWorkers(saver, {"graph": graph}, workers=0)
    claimed = saver.claim_run("worker-b", ttl=60)
    assert claimed is not None
    workers.execute(claimed, "worker-b")
    return claimed.run_id


def test_a_command_run_that_died_after_passing_a_breakpoint_is_taken_over(
    saver: BaseSaver,
) -> None:
    calls: list[str] = []
    graph = _graph(saver, calls, interrupt_before=["b"])
    config = _cfg("t")
    [bp] = graph.invoke({"log": []}, config)["__interrupt__"]
    head = graph.get_state(config).config["configurable"]["checkpoint_id"]
    calls.clear()
    # a command run (the Agent Server's `command.update`) passed the breakpoint (its
    # decision recorded), then its process died before b's step was committed
    dead = saver.enqueue_run(
        thread_id="t",
        agent="graph",
        input={"update": {"note": "x"}, "goto": []},
        kind="command",
        owner="dead",
        ttl=0,
        after=head,
    )
    saver.resolve_interrupts("t", {bp.id: None}, decided_by="ada")
    assert _take_over(saver, graph) == dead.run_id
    # the takeover applies the update once and runs b once, without asking again
    state = graph.get_state(config)
    assert state.values == {"log": ["a", "b"], "note": "x"} and state.next == ()
    assert calls == ["b"]
    assert not saver.list_interrupts(status="pending", thread_id="t").items
    done = saver.get_run(dead.run_id)
    assert done is not None and done.status == "done"


def test_a_command_run_that_died_after_its_update_committed_goes_on_once(
    saver: BaseSaver,
) -> None:
    calls: list[str] = []
    crash = {"left": 1}

    def c(state: State) -> dict:
        calls.append("c")
        if crash["left"]:
            crash["left"] -= 1
            raise KeyboardInterrupt  # the process dies inside c
        return {"log": [f"c:{state.get('note', '')}"]}

    g = StateGraph(State)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("c", c)
    g.add_edge(START, "a")
    graph = g.compile(checkpointer=saver)
    config = _cfg("t")
    graph.invoke({"log": []}, config)
    head = graph.get_state(config).config["configurable"]["checkpoint_id"]
    payload = {"update": {"note": "x", "log": ["u"]}, "goto": ["c"]}
    dead = saver.enqueue_run(
        thread_id="t", agent="graph", input=payload, kind="command", owner="dead", ttl=0, after=head
    )
    tagged = {"configurable": {"thread_id": "t", "run_id": dead.run_id}}
    with pytest.raises(KeyboardInterrupt):
        graph.invoke(Command(update=payload["update"], goto="c"), tagged)
    [update] = [
        ck for ck in saver.list_checkpoints("t") if ck.metadata.get("run_id") == dead.run_id
    ]
    assert update.metadata["source"] == "update"
    assert _take_over(saver, graph) == dead.run_id
    # the update is applied once (one "u"), c runs to its end once more
    assert graph.get_state(config).values == {"log": ["a", "u", "c:x"], "note": "x"}
    assert calls == ["c", "c"]
    done = saver.get_run(dead.run_id)
    assert done is not None and done.status == "done"


def test_a_refused_command_run_is_discarded_and_a_failed_one_kept(saver: BaseSaver) -> None:
    from interlock.server._durable import run_durably
    from interlock.server._operations import run_view

    failing = {"left": 1}

    def b(state: State) -> dict:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("b failed")
        return {"log": [f"b:{state.get('note', '')}"]}

    g = StateGraph(State)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    graph = g.compile(checkpointer=saver, interrupt_before=["b"])
    config = _cfg("t", user_id="ada")
    [bp] = graph.invoke({"log": []}, config)["__interrupt__"]
    # refused before anything changed: the run is discarded, the review still waits
    with pytest.raises(InvalidUpdate):
        run_durably(saver, graph, Command(goto="nowhere"), config, view=run_view)
    assert [r.kind for r in saver.list_runs(thread_id="t")] == []
    assert saver.get_interrupt(bp.id).status == "pending"
    # passed the breakpoint, then b failed: the run did something, it is kept as failed
    with pytest.raises(RuntimeError, match="b failed"):
        run_durably(saver, graph, Command(update={"note": "x"}), config, view=run_view)
    [failed] = saver.list_runs(thread_id="t")
    assert (failed.kind, failed.status) == ("command", "failed")
    assert saver.get_interrupt(bp.id).status == "resolved"
    # going on applies the update that the failed step kept, and runs b once more
    assert graph.invoke(None, config) == {"log": ["a", "b:x"], "note": "x"}


def _queued_command(saver: BaseSaver, graph: Any, update: dict[str, Any]) -> tuple[str, dict]:
    """A command run on thread `t` as the Agent Server queues it, whose process died; the
    config its attempt ran with (tagged with its id)."""
    head = graph.get_state(_cfg("t")).config["configurable"]["checkpoint_id"]
    dead = saver.enqueue_run(
        thread_id="t",
        agent="graph",
        input={"update": update, "goto": []},
        kind="command",
        owner="dead",
        ttl=0,
        after=head,
    )
    return dead.run_id, {"configurable": {"thread_id": "t", "run_id": dead.run_id}}


def _asks_then(saver: BaseSaver, calls: list[str], fail_b: int = 0) -> Any:
    """START -> a -> b (breakpoint before b); b fails `fail_b` times, then asks a person."""
    failing = {"left": fail_b}

    def b(state: State) -> dict:
        calls.append("b")
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("b failed")
        return {"log": [f"b:{interrupt('pay?')}"]}

    g = StateGraph(State)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=saver, interrupt_before=["b"])


def test_a_taken_over_command_whose_step_failed_applies_its_update_once(
    saver: BaseSaver,
) -> None:
    calls: list[str] = []
    graph = _asks_then(saver, calls, fail_b=1)
    graph.invoke({"log": []}, _cfg("t"))
    run_id, tagged = _queued_command(saver, graph, {"log": ["u"]})
    # its attempt passed the breakpoint, b failed, the step's progress (with the update)
    # was saved, and the process died before it recorded how the run ended
    with pytest.raises(RuntimeError, match="b failed"):
        graph.invoke(Command(update={"log": ["u"]}), tagged)
    assert _take_over(saver, graph) == run_id
    # the takeover goes on from the step (its update is there), it does not add it again
    state = graph.get_state(_cfg("t"))
    assert state.values == {"log": ["a"]} and state.next == ("b",)
    assert len(state.interrupts) == 1  # b asks
    assert calls == ["b", "b"]
    assert saver.get_run(run_id).status == "interrupted"  # type: ignore[union-attr]
    assert graph.invoke(Command(resume="yes"), _cfg("t")) == {"log": ["a", "u", "b:yes"]}


def test_a_command_folded_into_a_decided_step_is_not_applied_again(saver: BaseSaver) -> None:
    calls: list[str] = []
    graph = _asks_then(saver, calls)
    graph.invoke({"log": []}, _cfg("t"))
    run_id, tagged = _queued_command(saver, graph, {"log": ["u"]})
    # its attempt passed the breakpoint, b asked a person (the update kept with the step),
    # and the process died before it recorded that the run paused
    assert graph.invoke(Command(update={"log": ["u"]}), tagged)["__interrupt__"]
    # the person answers first: the resume's step folds the command's update in
    assert graph.invoke(Command(resume="yes"), _cfg("t")) == {"log": ["a", "u", "b:yes"]}
    assert graph.get_state(_cfg("t")).metadata["updates_of"] == [run_id]
    # then the command run is taken over: its update is not applied a second time
    assert _take_over(saver, graph) == run_id
    assert graph.get_state(_cfg("t")).values == {"log": ["a", "u", "b:yes"]}
    assert calls == ["b", "b"]
    assert saver.get_run(run_id).status in ("done", "interrupted")  # type: ignore[union-attr]


def test_a_folded_command_taken_over_after_the_thread_moved_on(saver: BaseSaver) -> None:
    calls: list[str] = []
    graph = _asks_then(saver, calls)
    graph.invoke({"log": []}, _cfg("t"))
    run_id, tagged = _queued_command(saver, graph, {"log": ["u"]})
    assert graph.invoke(Command(update={"log": ["u"]}), tagged)["__interrupt__"]
    graph.invoke(Command(resume="yes"), _cfg("t"))  # folds the command's update in
    graph.invoke({"log": ["next"]}, _cfg("t"))  # and the thread moves on: a new turn
    before = graph.get_state(_cfg("t")).values
    assert before["log"].count("u") == 1
    assert _take_over(saver, graph) == run_id
    # superseded: reported with the state where its update was folded in, not applied again
    assert graph.get_state(_cfg("t")).values == before
    done = saver.get_run(run_id)
    assert done is not None and done.status == "done"
    assert done.result["values"]["log"] == ["a", "u", "b:yes"]


def test_a_taken_over_command_does_not_pass_a_later_breakpoint(saver: BaseSaver) -> None:
    from interlock.graph._run import PASSABLE

    calls: list[str] = []
    graph = _graph(saver, calls, interrupt_before=["b"])
    # a command asked (and allowed) while nothing waited, whose process died before it
    # ran; meanwhile the thread paused at b's breakpoint
    dead = saver.enqueue_run(
        thread_id="t",
        agent="graph",
        input={"update": {"note": "x"}, "goto": []},
        kind="command",
        owner="dead",
        ttl=0,
        options={"config": {"user_id": "bob", PASSABLE: []}},
    )
    [bp] = graph.invoke({"log": []}, _cfg("t"))["__interrupt__"]
    calls.clear()
    assert _take_over(saver, graph) == dead.run_id
    assert saver.get_interrupt(bp.id).status == "pending" and calls == []
    again = saver.get_run(dead.run_id)
    assert again is not None and again.status == "queued"  # given back: it waits


def test_a_folded_command_is_found_under_exit_durability(saver: BaseSaver) -> None:
    g = StateGraph(State)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("b", lambda s: {"log": [f"b:{interrupt('pay?')}"]})
    g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    graph = g.compile(checkpointer=saver, interrupt_before=["b"])
    graph.invoke({"log": []}, _cfg("t"))
    run_id, tagged = _queued_command(saver, graph, {"log": ["u"]})
    assert graph.invoke(Command(update={"log": ["u"]}), tagged)["__interrupt__"]
    # the resume's two steps (b's, with the update, and c's) are committed as one
    # checkpoint at the end (exit durability): it names the command it folded
    graph.invoke(Command(resume="yes"), _cfg("t"), durability="exit")
    assert graph.get_state(_cfg("t")).metadata["updates_of"] == [run_id]
    assert _take_over(saver, graph) == run_id
    assert graph.get_state(_cfg("t")).values == {"log": ["a", "u", "b:yes", "c"]}


def test_a_paused_steps_update_holds_only_state_writes(saver: BaseSaver) -> None:
    """A rolling upgrade: the previous release (7f52d02) reads every write of a paused
    step's `__update__` task as a state update and applies it with the step, so anything
    else stored there ends up in the thread's state (seen: `__runs__: [run id]` in the
    values after the previous release resumed such a step). The ids of the queued runs
    whose update waits there are kept beside it, where that release does not look."""
    from interlock.graph._run import UPDATE_TASK

    calls: list[str] = []
    graph = _asks_then(saver, calls)
    graph.invoke({"log": []}, _cfg("t"))
    run_id, tagged = _queued_command(saver, graph, {"note": "x"})
    assert graph.invoke(Command(update={"note": "x"}), tagged)["__interrupt__"]
    stored = saver.get_checkpoint("t")
    assert stored is not None
    [update] = [tw for tw in stored.task_writes if tw.task_id == UPDATE_TASK]
    assert [c for c, _ in update.writes] == ["note"]
    # the takeover still finds its update there (it is not applied twice)
    assert _take_over(saver, graph) == run_id
    assert graph.invoke(Command(resume="yes"), _cfg("t")) == {
        "log": ["a", "b:yes"],
        "note": "x",
    }
    assert graph.get_state(_cfg("t")).metadata["updates_of"] == [run_id]


def test_a_command_kept_with_a_step_that_pauses_twice_is_applied_once(saver: BaseSaver) -> None:
    def b(state: State) -> dict:
        return {"log": [f"b:{interrupt('q1')}:{interrupt('q2')}"]}

    g = StateGraph(State)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    graph = g.compile(checkpointer=saver, interrupt_before=["b"])
    graph.invoke({"log": []}, _cfg("t"))
    run_id, tagged = _queued_command(saver, graph, {"log": ["u"]})
    assert graph.invoke(Command(update={"log": ["u"]}), tagged)["__interrupt__"]
    assert graph.invoke(Command(resume="1"), _cfg("t"))["__interrupt__"]  # saved again
    assert _take_over(saver, graph) == run_id
    assert graph.invoke(Command(resume="2"), _cfg("t")) == {"log": ["a", "u", "b:1:2"]}
    assert graph.get_state(_cfg("t")).metadata["updates_of"] == [run_id]


def test_a_command_run_refused_for_a_version_change_is_discarded(saver: BaseSaver) -> None:
    """A breaking change refuses the command before anything is decided (the library's
    test: test_a_command_on_a_paused_thread_is_checked_against_its_version); as a durable
    run it changed nothing, so it is discarded as any refused run, not kept as failed."""
    from interlock import VersionChanged
    from interlock.server._durable import run_durably
    from interlock.server._operations import run_view
    from tests.test_parity_command_on_thread import _versioned

    config = _cfg("t", user_id="ada")
    v1 = _versioned(saver, "b", interrupt_before=["b"])
    [bp] = v1.invoke({"log": []}, config)["__interrupt__"]
    v2 = _versioned(saver, "b2", interrupt_before=["b2"])
    with pytest.raises(VersionChanged):
        run_durably(saver, v2, Command(update={"note": "x"}), config, view=run_view)
    assert saver.get_interrupt(bp.id).status == "pending"  # type: ignore[union-attr]
    assert list(saver.list_runs(thread_id="t")) == []
