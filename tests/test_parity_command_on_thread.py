"""`Command(update=..., goto=...)` without `resume` on a thread that has checkpoints,
compared with LangGraph, and the exactly-once rules it must keep.

Every "LangGraph 1.2.22:" comment is what LangGraph 1.2.22 (langgraph-checkpoint 4.3.2,
`InMemorySaver`) printed for the same graph and calls, run in a venv on this machine.
LangGraph keeps such an update as pending writes on the thread's head checkpoint (a
finished thread's history does not grow); interlock records it as a checkpoint of its own
(`source="update"`), so values, `next`, the streamed chunks and what runs are LangGraph's,
and the history has that one checkpoint more.

Where interlock refuses on purpose (nothing is changed, no request is decided):
- a Command without `resume` while a request (an `interrupt()`) waits: `InputRejected`
  (LangGraph runs the paused node again, which asks again);
- a `goto` on a thread with nodes still to run (a breakpoint, a failed or stopped step, a
  decision recorded but not yet carried out), and `Command(resume=..., goto=...)`:
  `InvalidUpdate` (LangGraph runs the targets beside that step).
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
    InvalidUpdate,
    RecursionLimit,
    Send,
    SerializationError,
    StateGraph,
    interrupt,
)
from tests.conftest import Runner


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    note: str


def _graph(saver: Any, calls: list[str], **compile_kw: Any) -> Any:
    """START -> a -> b; c is reached only by a goto (it logs the note it saw)."""

    def node(name: str) -> Any:
        def run(state: State) -> dict:
            calls.append(name)
            return {"log": [f"{name}:{state.get('note', '')}" if name == "c" else name]}

        return run

    g = StateGraph(State)
    for name in ("a", "b", "c"):
        g.add_node(name, node(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=saver, **compile_kw)


def _cfg(thread: str, **more: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, **more}


def _finished(run: Runner, saver: Any, thread: str) -> tuple[Any, dict, list[str]]:
    calls: list[str] = []
    app = _graph(saver, calls)
    config = _cfg(thread)
    assert run.invoke(app, {"log": []}, config) == {"log": ["a", "b"]}
    calls.clear()
    return app, config, calls


# ---- a finished thread -------------------------------------------------------------------


def test_update_on_a_finished_thread_runs_nothing(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "done")
    before = run.history(app, config)
    # LangGraph 1.2.22: {'log': ['a', 'b', 'u'], 'note': 'x'}; no node runs; next == ()
    out = run.invoke(app, Command(update={"note": "x", "log": ["u"]}), config)
    assert out == {"log": ["a", "b", "u"], "note": "x"}
    assert calls == []
    state = run.get_state(app, config)
    assert state.values == out and state.next == () and state.tasks == ()
    # interlock: one checkpoint records the update (LangGraph: pending writes on the head,
    # whose metadata stays {'source': 'loop', 'step': 2})
    assert state.metadata["source"] == "update"
    assert state.metadata["step"] == before[0].metadata["step"] + 1
    assert state.parent_config == before[0].config
    assert len(run.history(app, config)) == len(before) + 1
    # LangGraph 1.2.22, the next turn folds the update in:
    # {'log': ['a', 'b', 'u', 'n', 'a', 'b'], 'note': 'x'}
    assert run.invoke(app, {"log": ["n"]}, config) == {
        "log": ["a", "b", "u", "n", "a", "b"],
        "note": "x",
    }


def test_update_on_a_finished_thread_streams_as_langgraph(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "streamed")
    # LangGraph 1.2.22, stream_mode="values": [{'log': ['a', 'b'], 'note': 'y'}]
    values = run.stream(app, Command(update={"note": "y"}), config, stream_mode="values")
    assert values == [{"log": ["a", "b"], "note": "y"}]
    # ... "updates": [] (no node ran); "tasks": []
    assert run.stream(app, Command(update={"note": "z"}), config, stream_mode="updates") == []
    assert run.stream(app, Command(update={"note": "t"}), config, stream_mode="tasks") == []
    # ... "checkpoints": one chunk, the state with the update, nothing next, no tasks
    [chunk] = run.stream(app, Command(update={"note": "w"}), config, stream_mode="checkpoints")
    assert (chunk["values"], chunk["next"], chunk["tasks"]) == (
        {"log": ["a", "b"], "note": "w"},
        [],
        [],
    )
    assert chunk["config"] == run.get_state(app, config).config
    # ... version="v2": [{'type': 'values', 'ns': (), 'data': {..., 'note': 'y'},
    # 'interrupts': ()}]
    parts = run.stream(
        app, Command(update={"note": "v"}), config, stream_mode="values", version="v2"
    )
    assert parts == [
        {"type": "values", "ns": (), "data": {"log": ["a", "b"], "note": "v"}, "interrupts": ()}
    ]
    assert calls == []


def test_goto_on_a_finished_thread_runs_the_target_only(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "goto")
    before = len(run.history(app, config))
    chunks = run.stream(
        app, Command(update={"note": "x"}, goto="b"), config, stream_mode=["values", "updates"]
    )
    # LangGraph 1.2.22: [('values', {'log': ['a', 'b'], 'note': 'x'}),
    #  ('updates', {'b': {'log': ['b']}}), ('values', {'log': ['a', 'b', 'b'], 'note': 'x'})]
    assert chunks == [
        ("values", {"log": ["a", "b"], "note": "x"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b", "b"], "note": "x"}),
    ]
    assert calls == ["b"]
    assert run.get_state(app, config).next == ()
    assert len(run.history(app, config)) == before + 2  # the update's checkpoint, b's step
    # LangGraph 1.2.22, several targets and a Send in one step:
    # {'log': ['a', 'b', 'b', 'c:n', 'b'], 'note': 'n'} (the node, then the send)
    out = run.invoke(app, Command(update={"note": "n"}, goto=["c", Send("b", {})]), config)
    assert out == {"log": ["a", "b", "b", "c:n", "b"], "note": "n"}


def test_goto_end_or_nothing_on_a_finished_thread(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "end")
    before = len(run.history(app, config))
    # LangGraph 1.2.22: goto=END gives [('values', {'log': ['a', 'b']})] and runs nothing
    assert run.stream(app, Command(goto=END), config, stream_mode=["values", "updates"]) == [
        ("values", {"log": ["a", "b"]})
    ]
    assert len(run.history(app, config)) == before  # nothing to record
    assert run.invoke(app, Command(goto="c", update={"note": "g"}), config) == {
        "log": ["a", "b", "c:g"],
        "note": "g",
    }
    assert calls == ["c"]


def test_goto_on_a_finished_thread_counts_steps_as_langgraph(saver: Any, run: Runner) -> None:
    class Loop(TypedDict, total=False):
        n: int
        stop: int

    g = StateGraph(Loop)
    g.add_node("inc", lambda s: {"n": s.get("n", 0) + 1})
    g.add_edge(START, "inc")
    g.add_conditional_edges("inc", lambda s: "inc" if s["n"] < s.get("stop", 0) else END)
    app = g.compile(checkpointer=saver)
    # LangGraph 1.2.22 with recursion_limit=3, after a first turn left n == 1:
    # goto "inc" with stop=5 -> {'n': 5, 'stop': 5} (4 steps); stop=6 -> GraphRecursionError
    # (a Command on a finished thread spends nothing of the limit; new input spends two)
    for stop, ok in ((5, True), (6, False)):
        config = _cfg(f"loop-{stop}")
        run.invoke(app, {"n": 0, "stop": 0}, config)
        command = Command(update={"stop": stop}, goto="inc")
        if ok:
            assert run.invoke(app, command, {**config, "recursion_limit": 3}) == {
                "n": stop,
                "stop": stop,
            }
        else:
            with pytest.raises(RecursionLimit):
                run.invoke(app, command, {**config, "recursion_limit": 3})


def test_a_goto_on_a_finished_thread_stops_at_its_breakpoint(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _graph(saver, calls, interrupt_before=["c"])
    config = _cfg("bp-goto")
    run.invoke(app, {"log": []}, config)
    calls.clear()
    # interlock on purpose: a breakpoint is a review, a Command does not skip it (LangGraph
    # 1.2.22 runs c here: [('values', ...), ('updates', {'c': {'log': ['c:']}}), ...])
    [bp] = run.invoke(app, Command(goto="c"), config)["__interrupt__"]
    assert calls == [] and run.get_state(app, config).next == ("c",)
    assert bp.value["nodes"] == ["c"]
    assert run.invoke(app, None, config) == {"log": ["a", "b", "c:"]}
    assert calls == ["c"]


def test_command_on_a_new_thread_is_input(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _graph(saver, calls)
    chunks = run.stream(
        app, Command(update={"note": "x"}), _cfg("new"), stream_mode=["values", "updates"]
    )
    # LangGraph 1.2.22: the update is the run's input, the graph runs from START
    assert chunks == [
        ("values", {"log": [], "note": "x"}),
        ("updates", {"a": {"log": ["a"]}}),
        ("values", {"log": ["a"], "note": "x"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b"], "note": "x"}),
    ]
    chunks = run.stream(
        app,
        Command(update={"note": "x"}, goto="b"),
        _cfg("new-goto"),
        stream_mode=["values", "updates"],
    )
    # LangGraph 1.2.22, with goto: START's node and the target run in the first step
    assert chunks == [
        ("values", {"log": [], "note": "x"}),
        ("updates", {"a": {"log": ["a"]}}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b"], "note": "x"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b", "b"], "note": "x"}),
    ]


# ---- a thread with nodes still to run --------------------------------------------------


def test_update_at_a_breakpoint_before_goes_on(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _graph(saver, calls, interrupt_before=["b"])
    config = _cfg("bp")
    [bp] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    before = len(run.history(app, config))
    calls.clear()
    chunks = run.stream(
        app, Command(update={"note": "x"}), config, stream_mode=["values", "updates"]
    )
    # LangGraph 1.2.22: [('values', {'log': ['a'], 'note': 'x'}),
    #  ('updates', {'b': {'log': ['b']}}), ('values', {'log': ['a', 'b'], 'note': 'x'})]
    assert chunks == [
        ("values", {"log": ["a"], "note": "x"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b"], "note": "x"}),
    ]
    assert calls == ["b"]
    assert saver.get_interrupt(bp.id).status == "resolved"  # passed, as invoke(None) does
    state = run.get_state(app, config)
    # ... next == (), the update went with b's step (step 2): no checkpoint of its own
    assert state.next == () and state.metadata["source"] == "loop"
    assert len(run.history(app, config)) == before + 1


def test_update_at_a_breakpoint_after_goes_on(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _graph(saver, calls, interrupt_after=["a"])
    config = _cfg("bp-after")
    run.invoke(app, {"log": []}, config)
    calls.clear()
    # LangGraph 1.2.22: [('values', {'log': ['a'], 'note': 'x'}),
    #  ('updates', {'b': {'log': ['b']}}), ('values', {'log': ['a', 'b'], 'note': 'x'})]
    assert run.stream(
        app, Command(update={"note": "x"}), config, stream_mode=["values", "updates"]
    ) == [
        ("values", {"log": ["a"], "note": "x"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b"], "note": "x"}),
    ]
    assert calls == ["b"]


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


def test_update_on_a_failed_step_runs_that_step_again(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _failing(saver, calls)
    config = _cfg("failed")
    with pytest.raises(RuntimeError):
        run.invoke(app, {"log": []}, config)
    before = len(run.history(app, config))
    # LangGraph 1.2.22: {'log': ['bad:n', 'ok'], 'note': 'n'}: the failed step again (not
    # START), with the update; history: input, loop 0, loop 1 (no checkpoint of its own)
    assert run.invoke(app, Command(update={"note": "n"}), config) == {
        "log": ["bad:n", "ok"],
        "note": "n",
    }
    # the sibling that finished is not run again (LangGraph 1.2.22 ran it again: its
    # write was lost when the failure shut its executor down)
    assert calls == ["ok", "bad", "bad"] or calls == ["bad", "ok", "bad"]
    assert len(run.history(app, config)) == before + 1


# ---- refusals that change nothing --------------------------------------------------------


def test_a_refused_command_leaves_the_breakpoint_unreviewed(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _graph(saver, calls, interrupt_before=["b"])
    config = _cfg("refused")
    [bp] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    head = run.get_state(app, config).config
    calls.clear()
    for bad in (
        Command(update={"note": "x"}, goto="nowhere"),  # a misspelt node
        Command(goto=Send("nowhere", {})),
        Command(update={"note": object()}),  # a value that cannot be stored
        Command(update={"note": "x"}, goto="c"),  # a goto beside a step: not supported
    ):
        with pytest.raises((InvalidUpdate, SerializationError)):
            run.invoke(app, bad, config)
        # nothing changed: the review still waits (a resolved breakpoint would let the
        # next continuation run b without it), no node ran, no checkpoint was added
        assert saver.get_interrupt(bp.id).status == "pending"
        assert run.get_state(app, config).config == head
        assert calls == []
    # so a continuation still stops at b's breakpoint unless it answers it
    with pytest.raises(InputRejected):
        run.invoke(app, {"log": ["more"]}, config)
    assert run.invoke(app, Command(update={"note": "ok"}), config) == {
        "log": ["a", "b"],
        "note": "ok",
    }


def test_a_refused_resume_leaves_its_request_pending(saver: Any, run: Runner) -> None:
    g = StateGraph(State)
    g.add_node("ask", lambda s: {"log": [interrupt("ok?")]})
    g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=saver)
    config = _cfg("refused-resume")
    [request] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    for bad in (
        Command(resume="yes", update={"note": object()}),  # cannot be stored
        Command(resume="yes", goto="nowhere"),
        # interlock on purpose: LangGraph 1.2.22 runs c beside the resumed node
        # ([('values', ...), ('updates', {'c': ...}), ('updates', {'ask': {'log': ['yes']}}),
        # ...]); interlock refuses rather than drop the goto
        Command(resume="yes", goto="c"),
    ):
        with pytest.raises((InvalidUpdate, SerializationError)):
            run.invoke(app, bad, config)
        assert saver.get_interrupt(request.id).status == "pending"
    assert run.invoke(app, Command(resume="yes", update={"note": "n"}), config) == {
        "log": ["yes"],
        "note": "n",
    }


def test_update_while_a_request_waits_is_refused(saver: Any, run: Runner) -> None:
    calls: list[str] = []

    def ask(state: State) -> dict:
        calls.append("ask")
        return {"log": [interrupt("ok?")]}

    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=saver)
    config = _cfg("waiting")
    [request] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    head = run.get_state(app, config).config
    calls.clear()
    # interlock on purpose: LangGraph 1.2.22 runs `ask` again (it asks again, same id) and,
    # with goto="c", runs c beside it while the request still waits
    for command in (Command(update={"note": "x"}), Command(goto="c"), Command(goto=END)):
        with pytest.raises(InputRejected, match=request.id):
            run.invoke(app, command, config)
    assert calls == [] and run.get_state(app, config).config == head
    assert saver.get_interrupt(request.id).status == "pending"
    assert run.invoke(app, Command(resume="yes"), config) == {"log": ["yes"]}


def test_a_recorded_decision_is_applied_once_after_a_failed_resume(saver: Any, run: Runner) -> None:
    asked: list[str] = []
    failing = {"left": 1}

    def ask(state: State) -> dict:
        answer = interrupt("ok?")
        asked.append(answer)
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("after the answer")
        return {"log": [f"{answer}:{state.get('note', '')}"]}

    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=saver)
    config = _cfg("decided")
    [request] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    with pytest.raises(RuntimeError, match="after the answer"):
        run.invoke(app, Command(resume="yes"), config)
    assert saver.get_interrupt(request.id).status == "resolved"
    head = run.get_state(app, config).config
    # a goto would plan a new step whose node asks anew: the recorded decision would be
    # dropped and the person asked again. Refused, nothing changed (LangGraph 1.2.22 runs
    # ask with its recorded answer and c beside it: {'log': ['yes', 'c:n'], 'note': 'n'})
    with pytest.raises(InvalidUpdate, match="goto"):
        run.invoke(app, Command(update={"note": "n"}, goto="c"), config)
    assert run.get_state(app, config).config == head
    # without goto the step goes on: the recorded decision is applied, once
    out = run.invoke(app, Command(update={"note": "n"}), config)
    assert out == {"log": ["yes:n"], "note": "n"}
    assert asked == ["yes", "yes"]
    assert saver.get_interrupt(request.id).status == "resolved"
    assert not saver.list_interrupts(status="pending", thread_id="decided").items


# ---- forks -----------------------------------------------------------------------------


def test_a_command_at_an_older_checkpoint_forks_with_the_update(saver: Any, run: Runner) -> None:
    app, config, calls = _finished(run, saver, "fork")
    older = next(s for s in run.history(app, config) if s.next == ("b",))
    chunks = run.stream(app, Command(update={"note": "x"}), older.config, stream_mode="values")
    # LangGraph 1.2.22: [{'log': ['a'], 'note': 'x'}, {'log': ['a', 'b'], 'note': 'x'}];
    # history: loop 3 (), fork 2 ('b',) {'log': ['a'], 'note': 'x'}, loop 2 (), ...
    assert chunks == [{"log": ["a"], "note": "x"}, {"log": ["a", "b"], "note": "x"}]
    assert calls == ["b"]
    newest, fork, old_head = run.history(app, config)[:3]
    assert fork.metadata["source"] == "fork" and fork.next == ("b",)
    assert fork.values == {"log": ["a"], "note": "x"}
    assert fork.metadata["step"] == older.metadata["step"] + 1
    assert fork.parent_config == older.config
    assert newest.values == {"log": ["a", "b"], "note": "x"} and newest.next == ()
    assert old_head.values == {"log": ["a", "b"]}
    # LangGraph 1.2.22, with goto at the first checkpoint (next ('a',)): a fork whose next
    # is ('a', 'c'), then b: {'log': ['a', 'c:z', 'b'], 'note': 'z'}
    first = next(s for s in run.history(app, config) if s.next == ("a",))
    calls.clear()
    out = run.invoke(app, Command(update={"note": "z"}, goto="c"), first.config)
    assert out == {"log": ["a", "c:z", "b"], "note": "z"}
    assert sorted(calls) == ["a", "b", "c"]


def test_a_forking_command_counts_steps_as_langgraph(saver: Any, run: Runner) -> None:
    class Loop(TypedDict, total=False):
        n: int
        stop: int

    g = StateGraph(Loop)
    g.add_node("inc", lambda s: {"n": s.get("n", 0) + 1})
    g.add_edge(START, "inc")
    g.add_conditional_edges("inc", lambda s: "inc" if s["n"] < s.get("stop", 0) else END)
    app = g.compile(checkpointer=saver)
    # LangGraph 1.2.22, recursion_limit=3, at the checkpoint before the first inc (n=0):
    # Command(update={'stop': 3}) -> {'n': 3, 'stop': 3}; stop=4 -> GraphRecursionError
    # (the fork's copy counts one step, as a replay's)
    for stop, ok in ((3, True), (4, False)):
        config = _cfg(f"fork-loop-{stop}")
        run.invoke(app, {"n": 0, "stop": 3}, config)
        older = [s for s in run.history(app, config) if s.next == ("inc",)][-1]
        at = {**older.config, "recursion_limit": 3}
        if ok:
            assert run.invoke(app, Command(update={"stop": stop}), at) == {"n": 3, "stop": 3}
        else:
            with pytest.raises(RecursionLimit):
                run.invoke(app, Command(update={"stop": stop}), at)


def _versioned(saver: Any, last: str, **compile_kw: Any) -> Any:
    """START -> a -> `last` (a later version renames `last`)."""
    g = StateGraph(State)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node(last, lambda s: {"log": [f"{last}:{s.get('note', '')}"]})
    g.add_edge(START, "a")
    g.add_edge("a", last)
    return g.compile(checkpointer=saver, **compile_kw)


def test_a_command_on_a_paused_thread_is_checked_against_its_version(saver: Any) -> None:
    from interlock import VersionChanged

    config = _cfg("v")
    v1 = _versioned(saver, "b", interrupt_before=["b"])
    [bp] = v1.invoke({"log": []}, config)["__interrupt__"]
    v2 = _versioned(saver, "b2", interrupt_before=["b2"])
    # the Command goes on with the old code's step: a breaking change is refused, intact
    with pytest.raises(VersionChanged, match="`b`"):
        v2.invoke(Command(update={"note": "x"}), config)
    assert saver.get_interrupt(bp.id).status == "pending"
    assert v1.invoke(Command(update={"note": "x"}), config) == {"log": ["a", "b:x"], "note": "x"}
    # a finished thread has no step to go on with: the new code takes the update
    assert v2.invoke(Command(update={"note": "y"}), config)["note"] == "y"


def test_a_command_passes_only_the_breakpoints_it_was_allowed(saver: Any, run: Runner) -> None:
    from interlock.graph._run import PASSABLE

    calls: list[str] = []
    app = _graph(saver, calls, interrupt_before=["b"])
    config = _cfg("allowed")
    [bp] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    calls.clear()
    # the service lists the breakpoints pending when it allowed the Command: one that
    # paused later waits for a decision (it was never reviewed by this caller)
    asked_before = {"configurable": {"thread_id": "allowed", PASSABLE: []}}
    with pytest.raises(InputRejected, match=bp.id):
        run.invoke(app, Command(update={"note": "x"}), asked_before)
    assert saver.get_interrupt(bp.id).status == "pending" and calls == []
    allowed = {"configurable": {"thread_id": "allowed", PASSABLE: [bp.id]}}
    assert run.invoke(app, Command(update={"note": "x"}), allowed) == {
        "log": ["a", "b"],
        "note": "x",
    }


def test_a_forking_command_stops_at_the_breakpoint(saver: Any, run: Runner) -> None:
    calls: list[str] = []
    app = _graph(saver, calls, interrupt_before=["b"])
    config = _cfg("fork-bp")
    run.invoke(app, {"log": []}, config)
    run.invoke(app, None, config)  # past the review: b ran
    calls.clear()
    older = next(s for s in run.history(app, config) if s.next == ("b",))
    # interlock on purpose: the fork's first step is a new one, its review is asked again
    # (LangGraph 1.2.22 runs b there: {'log': ['a', 'b'], 'note': 'x'}, calls ['b'])
    [bp] = run.invoke(app, Command(update={"note": "x"}), older.config)["__interrupt__"]
    assert bp.value["nodes"] == ["b"] and calls == []
    state = run.get_state(app, config)
    assert state.metadata["source"] == "fork" and state.values == {"log": ["a"], "note": "x"}
    assert run.invoke(app, None, config) == {"log": ["a", "b"], "note": "x"}


def test_an_update_its_reducer_refuses_leaves_the_breakpoint_unreviewed(
    saver: Any, run: Runner
) -> None:
    """An update that passes the key check but that the state's reducer cannot fold in
    (`operator.add` of a list and an int) is refused before the breakpoint is passed: it
    used to pass it (the request `resolved`), then fail, losing the update, so that anyone
    allowed to continue the thread ran the reviewed node without it."""
    calls: list[str] = []
    app = _graph(saver, calls, interrupt_before=["b"])
    config = _cfg("reduced")
    [bp] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    calls.clear()
    with pytest.raises(InvalidUpdate, match="log"):
        run.invoke(app, Command(update={"log": 5}), config)
    assert saver.get_interrupt(bp.id).status == "pending" and calls == []
    assert app.get_state(config).interrupts == (bp,)
    assert run.invoke(app, Command(update={"log": ["u"]}), config) == {"log": ["a", "u", "b"]}


def test_a_resume_whose_update_its_reducer_refuses_leaves_the_request_pending(
    saver: Any, run: Runner
) -> None:
    g = StateGraph(State)
    g.add_node("ask", lambda s: {"note": interrupt("ok?")})
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=saver)
    config = _cfg("reduced-resume")
    [asked] = run.invoke(app, {"log": []}, config)["__interrupt__"]
    with pytest.raises(InvalidUpdate, match="log"):
        run.invoke(app, Command(resume="yes", update={"log": 5}), config)
    assert saver.get_interrupt(asked.id).status == "pending"
    out = run.invoke(app, Command(resume="yes", update={"log": ["u"]}), config)
    assert out == {"log": ["u"], "note": "yes"}
