"""`Command(update=..., goto=...)` without `resume`, on a finished thread, a brand-new
thread and a thread with nodes still to run, compared with LangGraph.

The expected values were observed with LangGraph 1.2.22 running the same graphs
(`/tmp/benchvenv`). LangGraph keeps such an update as pending writes on the thread's
head; interlock records it as a checkpoint of its own (`source="update"`), so the values,
`next`, the streamed chunks and what runs are LangGraph's, and the history has that one
checkpoint more.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from interlock import (
    END,
    START,
    Command,
    InputRejected,
    Send,
    StateGraph,
    VersionChanged,
    interrupt,
)
from tests.conftest import Runner


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    note: str


def _graph(saver: Any, calls: list[str], **compile_kw: Any) -> Any:
    def node(name: str) -> Any:
        def run(state: State) -> dict:
            calls.append(name)
            return {"log": [f"{name}:{state['note']}" if name == "c" else name]}

        return run

    g = StateGraph(State)
    for name in ("a", "b", "c"):
        g.add_node(name, node(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=saver, **compile_kw)


def _finished(run: Runner, saver: Any, thread: str) -> tuple[Any, dict, list[str]]:
    calls: list[str] = []
    app = _graph(saver, calls)
    config = {"configurable": {"thread_id": thread}}
    assert run.invoke(app, {"log": []}, config) == {"log": ["a", "b"]}
    calls.clear()
    return app, config, calls


def test_update_on_a_finished_thread_runs_nothing(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "done")
    before = run.history(app, config)
    # LangGraph 1.2.22: {'log': ['a', 'b', 'u'], 'note': 'x'}, no node runs
    out = run.invoke(app, Command(update={"note": "x", "log": ["u"]}), config)
    assert out == {"log": ["a", "b", "u"], "note": "x"}
    assert calls == []
    state = run.get_state(app, config)
    assert state.values == out and state.next == () and state.tasks == ()
    assert state.metadata["source"] == "update"
    assert state.metadata["step"] == before[0].metadata["step"] + 1
    assert state.parent_config == before[0].config
    assert len(run.history(app, config)) == len(before) + 1
    # the update stays when the thread's next turn starts (LangGraph folds it in too)
    assert run.invoke(app, {"log": ["n"]}, config) == {
        "log": ["a", "b", "u", "n", "a", "b"],
        "note": "x",
    }


def test_update_on_a_finished_thread_streams_as_langgraph(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "streamed")
    cmd = Command(update={"note": "x"})
    # LangGraph 1.2.22, stream_mode="values": [{'log': ['a', 'b'], 'note': 'x'}]
    assert run.stream(app, cmd, config, stream_mode="values") == [{"log": ["a", "b"], "note": "x"}]
    # ... "updates": [] (no node ran)
    assert run.stream(app, Command(update={"note": "y"}), config, stream_mode="updates") == []
    # ... "checkpoints": one chunk, the state with the update, nothing next
    [chunk] = run.stream(app, Command(update={"note": "z"}), config, stream_mode="checkpoints")
    assert (chunk["values"], chunk["next"], chunk["tasks"]) == (
        {"log": ["a", "b"], "note": "z"},
        [],
        [],
    )
    assert chunk["config"] == run.get_state(app, config).config
    # ... version="v2": one values part
    parts = run.stream(
        app, Command(update={"note": "w"}), config, stream_mode="values", version="v2"
    )
    assert parts == [
        {"type": "values", "ns": (), "data": {"log": ["a", "b"], "note": "w"}, "interrupts": ()}
    ]
    assert calls == []


def test_goto_on_a_finished_thread_runs_the_target_only(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "goto")
    before = len(run.history(app, config))
    chunks = run.stream(
        app, Command(update={"note": "x"}, goto="b"), config, stream_mode=["values", "updates"]
    )
    # LangGraph 1.2.22: the state with the update, then b runs alone
    assert chunks == [
        ("values", {"log": ["a", "b"], "note": "x"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b", "b"], "note": "x"}),
    ]
    assert calls == ["b"]
    assert len(run.history(app, config)) == before + 2  # the update's checkpoint, b's step
    # several targets and a Send run in one step; LangGraph 1.2.22:
    # {'log': ['a', 'b', 'b', 'c:n', 'b'], 'note': 'n'} (the node, then the send)
    out = run.invoke(app, Command(update={"note": "n"}, goto=["c", Send("b", {})]), config)
    assert out == {"log": ["a", "b", "b", "c:n", "b"], "note": "n"}


def test_goto_end_or_nothing_on_a_finished_thread(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "end")
    before = len(run.history(app, config))
    # LangGraph 1.2.22: [('values', {'log': ['a', 'b']})] for goto=END and for goto only
    assert run.stream(app, Command(goto=END), config, stream_mode=["values", "updates"]) == [
        ("values", {"log": ["a", "b"]})
    ]
    assert len(run.history(app, config)) == before  # nothing to record
    assert run.invoke(app, Command(goto="c", update={"note": "g"}), config) == {
        "log": ["a", "b", "c:g"],
        "note": "g",
    }
    assert calls == ["c"]


def test_command_on_a_new_thread_is_input(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _graph(saver, calls)
    config = {"configurable": {"thread_id": "new"}}
    chunks = run.stream(
        app, Command(update={"note": "x"}), config, stream_mode=["values", "updates"]
    )
    # LangGraph 1.2.22: the update is the run's input, the graph runs from START
    assert chunks == [
        ("values", {"log": [], "note": "x"}),
        ("updates", {"a": {"log": ["a"]}}),
        ("values", {"log": ["a"], "note": "x"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b"], "note": "x"}),
    ]
    config = {"configurable": {"thread_id": "new-goto"}}
    chunks = run.stream(
        app, Command(update={"note": "x"}, goto="b"), config, stream_mode=["values", "updates"]
    )
    # ... with goto: START's node and the target run in the first step
    assert chunks == [
        ("values", {"log": [], "note": "x"}),
        ("updates", {"a": {"log": ["a"]}}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b"], "note": "x"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b", "b"], "note": "x"}),
    ]


def _failing(saver: Any, calls: list[str], fails: int = 1) -> Any:
    failing = {"left": fails}

    def ok(state: State) -> dict:
        calls.append("ok")
        return {"log": ["ok"]}

    def bad(state: State) -> dict:
        calls.append("bad")
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("boom")
        return {"log": [f"bad:{state.get('note', '')}"]}

    g = StateGraph(State)
    g.add_node("ok", ok)
    g.add_node("bad", bad)
    g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(START, "ok")
    g.add_edge(START, "bad")
    return g.compile(checkpointer=saver)


@pytest.mark.parametrize("goto", [(), "c"])
def test_update_on_a_failed_step_goes_on_from_it(saver: Any, run: Runner, goto: Any) -> None:
    calls: list[str] = []
    app = _failing(saver, calls)
    config = {"configurable": {"thread_id": f"failed-{goto}"}}
    with pytest.raises(RuntimeError):
        run.invoke(app, {"log": []}, config)
    before = len(run.history(app, config))
    out = run.invoke(app, Command(update={"note": "n"}, goto=goto), config)
    # LangGraph 1.2.22: the failed step runs again (not from START), with the update;
    # with goto="c", c runs beside it: {'log': ['bad:n', 'c', 'ok'], 'note': 'n'}
    assert out == {"log": ["bad:n", *(["c"] if goto else []), "ok"], "note": "n"}
    # the sibling that finished is not run again (LangGraph sometimes runs it again: its
    # write can be lost when the failure shuts its executor down)
    assert calls == ["bad", "ok", "bad"]
    # without goto the update goes with the step (no checkpoint of its own, as LangGraph)
    assert len(run.history(app, config)) == before + (2 if goto else 1)


def test_finished_siblings_stay_finished_through_a_goto_that_fails(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _failing(saver, calls, fails=2)
    config = {"configurable": {"thread_id": "twice"}}
    with pytest.raises(RuntimeError):
        run.invoke(app, {"log": []}, config)
    with pytest.raises(RuntimeError):  # the goto's step fails again: ok's write is kept
        run.invoke(app, Command(update={"note": "n"}, goto="c"), config)
    assert run.get_state(app, config).next == ("ok", "bad", "c")
    out = run.invoke(app, None, config)
    assert out == {"log": ["bad:n", "c", "ok"], "note": "n"}
    assert calls == ["bad", "ok", "bad", "bad"]


def test_update_at_a_breakpoint_goes_on(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _graph(saver, calls, interrupt_before=["b"])
    config = {"configurable": {"thread_id": "bp"}}
    [bp] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    # LangGraph 1.2.22: {'log': ['a', 'b'], 'note': 'x'}: b runs, with the update
    assert run.invoke(app, Command(update={"note": "x"}), config) == {
        "log": ["a", "b"],
        "note": "x",
    }
    assert saver.get_interrupt(bp.id).status == "resolved"
    assert run.get_state(app, config).next == ()


def test_update_while_a_request_waits_is_refused(saver: Any, run: Runner) -> None:
    g = StateGraph(State)
    g.add_node("ask", lambda s: {"log": [interrupt("ok?")]})
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "waiting"}}
    [request] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    # interlock on purpose: a Command without resume does not pass a pending request
    with pytest.raises(InputRejected, match=request.id):
        run.invoke(app, Command(update={"note": "x"}), config)
    with pytest.raises(InputRejected):
        run.invoke(app, Command(goto="ask"), config)
    assert saver.get_interrupt(request.id).status == "pending"
    assert run.invoke(app, Command(resume="yes"), config) == {"log": ["yes"]}


def _versioned(saver: Any, last: str, **compile_kw: Any) -> Any:
    """a -> `last`, where `last` fails while `failing` holds something; v2 renames it."""

    def node(name: str) -> Any:
        def run(state: State) -> dict:
            if name != "a" and FAILING:
                raise RuntimeError(FAILING.pop())
            return {"log": [f"{name}:{state.get('note', '')}"]}

        return run

    g = StateGraph(State)
    g.add_node("a", node("a"))
    g.add_node(last, node(last))
    g.add_node("c", node("c"))
    g.add_edge(START, "a")
    g.add_edge("a", last)
    migrations = compile_kw.pop("migrations", {})
    for old, renamed in migrations.items():
        g.migrate(from_version=old, nodes=renamed)(lambda s: {**s, "note": "migrated"})
    return g.compile(checkpointer=saver, **compile_kw)


FAILING: list[str] = []


def test_a_command_on_a_paused_thread_is_checked_against_its_version(saver: Any) -> None:
    config = {"configurable": {"thread_id": "v"}}
    v1 = _versioned(saver, "b", interrupt_before=["b"])
    [bp] = v1.invoke({"log": []}, config)["__interrupt__"]
    v2 = _versioned(saver, "b2", interrupt_before=["b2"])
    # the Command goes on with the old code's run: a breaking change is refused, intact
    with pytest.raises(VersionChanged, match="node `b` was removed"):
        v2.invoke(Command(update={"note": "x"}), config)
    assert saver.get_interrupt(bp.id).status == "pending"
    assert v1.invoke(Command(update={"note": "x"}), config) == {"log": ["a:", "b:x"], "note": "x"}
    # a finished thread has no run to go on with: the new code takes the update
    assert v2.invoke(Command(update={"note": "y"}), config)["note"] == "y"


def test_a_command_with_goto_after_a_migration_keeps_its_update(saver: Any) -> None:
    config = {"configurable": {"thread_id": "m"}}
    v1 = _versioned(saver, "b")
    FAILING[:] = ["boom"]
    with pytest.raises(RuntimeError, match="boom"):
        v1.invoke({"log": []}, config)
    v2 = _versioned(saver, "b2", on_version_change="migrate", migrations={v1.version: {"b": "b2"}})
    out = v2.invoke(Command(update={"log": ["u"]}, goto="c"), config)
    # migrated first (note), then the update (log) and the goto beside the renamed node
    assert out == {"log": ["a:", "u", "b2:migrated", "c:migrated"], "note": "migrated"}
    sources = [s.metadata["source"] for s in v2.get_state_history(config)][:3]
    assert sources == ["loop", "update", "migrate"]
