"""interrupt() and resume: the semantics contract of DESIGN.md, on every saver, sync and async."""

from __future__ import annotations

import operator
import threading
from typing import Annotated, Any, TypedDict

import pytest

from interlock import (
    START,
    CheckpointerRequired,
    Command,
    InputRejected,
    Interrupt,
    InvalidResumeValue,
    ResumeConflict,
    ResumeError,
    SerializationError,
    StateGraph,
    interrupt,
    once,
)


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: Any
    answers: list[Any]


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


def ask_graph(saver: Any, calls: list[str] | None = None, **compile_kw: Any):
    calls = calls if calls is not None else []

    def ask(state: S) -> dict:
        calls.append("ask")
        answer = interrupt({"question": "proceed?"})
        return {"answer": answer, "log": ["asked"]}

    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("after", lambda s: {"log": ["after"]})
    g.add_edge(START, "ask")
    g.add_edge("ask", "after")
    return g.compile(checkpointer=saver, **compile_kw)


def test_interrupt_pauses_and_resume_returns_the_answer(run, saver) -> None:
    calls: list[str] = []
    graph = ask_graph(saver, calls)
    first = run.invoke(graph, {"log": []}, cfg())
    [intr] = first["__interrupt__"]
    assert isinstance(intr, Interrupt) and intr.value == {"question": "proceed?"}
    assert len(intr.id) == 32
    state = run.get_state(graph, cfg())
    assert state.next == ("ask",)
    assert state.tasks[0].name == "ask"
    assert state.tasks[0].interrupts == (intr,)
    assert state.interrupts == (intr,)
    assert run.get_state(graph, cfg()).interrupts[0].id == intr.id  # stable across reads

    done = run.invoke(graph, Command(resume={"ok": True}), cfg())
    assert done == {"log": ["asked", "after"], "answer": {"ok": True}}
    assert calls == ["ask", "ask"]  # the node re-ran from its top
    assert run.get_state(graph, cfg()).next == ()


def test_resume_with_none_is_an_answer(run, saver) -> None:
    graph = ask_graph(saver)
    run.invoke(graph, {"log": []}, cfg())
    assert run.invoke(graph, Command(resume=None), cfg())["answer"] is None


def test_several_interrupts_in_one_node_get_answers_in_order(run, saver) -> None:
    calls = []

    def form(state: S) -> dict:
        calls.append(1)
        name = interrupt("name?")
        age = interrupt("age?")
        return {"answers": [name, age]}

    g = StateGraph(S)
    g.add_node("form", form)
    g.add_edge(START, "form")
    graph = g.compile(checkpointer=saver)
    r1 = run.invoke(graph, {}, cfg())
    assert [i.value for i in r1["__interrupt__"]] == ["name?"]
    r2 = run.invoke(graph, Command(resume="Ada"), cfg())
    assert [i.value for i in r2["__interrupt__"]] == ["age?"]
    assert r2["__interrupt__"][0].id != r1["__interrupt__"][0].id
    r3 = run.invoke(graph, Command(resume=36), cfg())
    assert r3["answers"] == ["Ada", 36]
    assert len(calls) == 3


def parallel_graph(saver: Any, counter: dict[str, int]):
    def branch(name: str):
        def node(state: S) -> dict:
            counter[name] = counter.get(name, 0) + 1
            if name == "quiet":
                return {"log": [name]}
            answer = interrupt({"branch": name})
            return {"log": [f"{name}={answer}"]}

        return node

    g = StateGraph(S)
    for name in ("left", "right", "quiet"):
        g.add_node(name, branch(name))
        g.add_edge(START, name)
    g.add_node("join", lambda s: {"log": ["join"]})
    g.add_edge(["left", "right", "quiet"], "join")
    return g.compile(checkpointer=saver)


def test_parallel_interrupts_answered_together_by_id(run, saver) -> None:
    counter: dict[str, int] = {}
    graph = parallel_graph(saver, counter)
    first = run.invoke(graph, {"log": []}, cfg())
    pending = {i.value["branch"]: i.id for i in first["__interrupt__"]}
    assert set(pending) == {"left", "right"}
    assert len(set(pending.values())) == 2  # distinct ids per parallel call
    with pytest.raises(ResumeError, match="by id"):
        run.invoke(graph, Command(resume="yes"), cfg())
    result = run.invoke(graph, Command(resume={pending["left"]: "L", pending["right"]: "R"}), cfg())
    assert sorted(result["log"][:3]) == ["left=L", "quiet", "right=R"]
    assert result["log"][3] == "join"
    assert counter == {"left": 2, "right": 2, "quiet": 1}  # finished sibling never re-ran


def test_parallel_interrupts_answered_one_at_a_time(run, saver) -> None:
    counter: dict[str, int] = {}
    graph = parallel_graph(saver, counter)
    first = run.invoke(graph, {"log": []}, cfg())
    pending = {i.value["branch"]: i.id for i in first["__interrupt__"]}
    second = run.invoke(graph, Command(resume={pending["left"]: "L"}), cfg())
    assert [i.id for i in second["__interrupt__"]] == [pending["right"]]
    assert counter == {"left": 2, "right": 1, "quiet": 1}
    final = run.invoke(graph, Command(resume={pending["right"]: "R"}), cfg())
    assert final["log"][-1] == "join"
    assert counter == {"left": 2, "right": 2, "quiet": 1}


def test_interrupt_inside_a_tool_function_called_by_a_node(run, saver) -> None:
    def send_email(to: str) -> str:
        approval = interrupt({"action": "send_email", "to": to})
        return "sent" if approval.get("approved") else "rejected"

    g = StateGraph(S)
    g.add_node("agent", lambda s: {"answer": send_email("bob@example.com")})
    g.add_edge(START, "agent")
    graph = g.compile(checkpointer=saver)
    paused = run.invoke(graph, {}, cfg())
    assert paused["__interrupt__"][0].value["to"] == "bob@example.com"
    assert run.invoke(graph, Command(resume={"approved": True}), cfg())["answer"] == "sent"


def test_interrupt_inside_a_subgraph(run, saver) -> None:
    inner = StateGraph(S)
    inner.add_node("prep", lambda s: {"log": ["prep"]})
    inner.add_node("confirm", lambda s: {"answer": interrupt("inner question")})
    inner.add_edge(START, "prep")
    inner.add_edge("prep", "confirm")
    outer = StateGraph(S)
    outer.add_node("sub", inner.compile())
    outer.add_node("done", lambda s: {"log": ["done"]})
    outer.add_edge(START, "sub")
    outer.add_edge("sub", "done")
    graph = outer.compile(checkpointer=saver)
    paused = run.invoke(graph, {"log": []}, cfg())
    assert paused["__interrupt__"][0].value == "inner question"
    assert run.get_state(graph, cfg()).next == ("sub",)
    result = run.invoke(graph, Command(resume=42), cfg())
    assert result["answer"] == 42
    assert result["log"] == ["prep", "done"]


def test_except_exception_does_not_swallow_the_pause(run, saver) -> None:
    def careless(state: S) -> dict:
        try:
            answer = interrupt("q")
        except Exception:
            answer = "swallowed"
        return {"answer": answer}

    g = StateGraph(S)
    g.add_node("careless", careless)
    g.add_edge(START, "careless")
    graph = g.compile(checkpointer=saver)
    assert "__interrupt__" in run.invoke(graph, {}, cfg())
    assert run.invoke(graph, Command(resume="real"), cfg())["answer"] == "real"


def test_once_runs_side_effects_before_an_interrupt_exactly_once(run, saver) -> None:
    effects: list[str] = []

    def create_ticket(title: str) -> str:
        effects.append(title)
        return f"T-{len(effects)}"

    def node(state: S) -> dict:
        ticket = once(create_ticket, "disk full")
        first = interrupt({"ticket": ticket, "q": "assign?"})
        second = interrupt({"ticket": ticket, "q": "close?"})
        return {"answers": [ticket, first, second]}

    g = StateGraph(S)
    g.add_node("node", node)
    g.add_edge(START, "node")
    graph = g.compile(checkpointer=saver)
    run.invoke(graph, {}, cfg())
    run.invoke(graph, Command(resume="ops"), cfg())
    result = run.invoke(graph, Command(resume=True), cfg())
    assert result["answers"] == ["T-1", "ops", True]
    assert effects == ["disk full"]


# ---- strict resume ----------------------------------------------------------------------


def test_strict_resume_errors_change_nothing(run, saver) -> None:
    graph = ask_graph(saver)
    with pytest.raises(ResumeError, match="no checkpoint"):
        run.invoke(graph, Command(resume=1), cfg("ghost"))
    assert run.get_state(graph, cfg("ghost")).values == {}  # nothing was started

    paused = run.invoke(graph, {"log": []}, cfg())
    before = run.get_state(graph, cfg())
    with pytest.raises(ResumeError, match="not pending"):
        run.invoke(graph, Command(resume={"0" * 32: "x"}), cfg())
    with pytest.raises(InputRejected, match="waits for 1 decision"):
        run.invoke(graph, {"log": ["new input"]}, cfg())
    with pytest.raises(ResumeError, match="Command\\(resume"):
        run.invoke(graph, None, cfg())
    after = run.get_state(graph, cfg())
    assert after.config == before.config and after.interrupts == before.interrupts

    iid = paused["__interrupt__"][0].id
    assert run.invoke(graph, Command(resume={iid: "yes"}), cfg())["answer"] == "yes"
    with pytest.raises(ResumeConflict):
        run.invoke(graph, Command(resume={iid: "again"}), cfg())
    with pytest.raises(ResumeConflict, match="already decided"):
        run.invoke(graph, Command(resume="again"), cfg())
    with pytest.raises(ResumeError, match="finished"):
        run.invoke(graph, None, cfg())
    assert run.get_state(graph, cfg()).values["answer"] == "yes"


def test_resume_on_a_thread_that_never_paused(run, saver) -> None:
    g = StateGraph(S)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_edge(START, "a")
    graph = g.compile(checkpointer=saver)
    run.invoke(graph, {"log": []}, cfg())
    with pytest.raises(ResumeError) as info:
        run.invoke(graph, Command(resume="x"), cfg())
    assert not isinstance(info.value, ResumeConflict)


def test_interrupt_without_checkpointer_is_a_clear_error(run) -> None:
    g = StateGraph(S)
    g.add_node("ask", lambda s: {"answer": interrupt("q")})
    g.add_edge(START, "ask")
    with pytest.raises(CheckpointerRequired):
        run.invoke(g.compile(), {})
    g2 = StateGraph(S)
    g2.add_node("a", lambda s: {"log": ["a"]})
    g2.add_edge(START, "a")
    with pytest.raises(CheckpointerRequired, match="interrupt_before"):
        run.invoke(g2.compile(interrupt_before=["a"]), {"log": []})


def test_response_schema_validates_before_anything_is_saved(run, saver) -> None:
    from pydantic import BaseModel

    class Decision(BaseModel):
        approved: bool
        reason: str = ""

    g = StateGraph(S)
    g.add_node("ask", lambda s: {"answer": interrupt("ok?", response_schema=Decision).approved})
    g.add_edge(START, "ask")
    graph = g.compile(checkpointer=saver)
    run.invoke(graph, {}, cfg())
    with pytest.raises(InvalidResumeValue, match="approved"):
        run.invoke(graph, Command(resume={"reason": "no flag"}), cfg())
    with pytest.raises(InvalidResumeValue, match="boolean"):
        run.invoke(graph, Command(resume={"approved": "yes please"}), cfg())
    assert len(run.get_state(graph, cfg()).interrupts) == 1  # still pending
    assert run.invoke(graph, Command(resume={"approved": True}), cfg())["answer"] is True


def test_json_schema_dict_as_response_schema(run, saver) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1}},
        "required": ["n"],
    }
    g = StateGraph(S)
    g.add_node("ask", lambda s: {"answer": interrupt("how many?", response_schema=schema)})
    g.add_edge(START, "ask")
    graph = g.compile(checkpointer=saver)
    run.invoke(graph, {}, cfg())
    with pytest.raises(InvalidResumeValue, match=">= 1"):
        run.invoke(graph, Command(resume={"n": 0}), cfg())
    assert run.invoke(graph, Command(resume={"n": 2}), cfg())["answer"] == {"n": 2}


def test_unserialisable_interrupt_value_fails_before_saving(run, saver) -> None:
    g = StateGraph(S)
    g.add_node("ask", lambda s: {"answer": interrupt({"callback": object()})})
    g.add_edge(START, "ask")
    graph = g.compile(checkpointer=saver)
    with pytest.raises(SerializationError, match="callback") as info:
        run.invoke(graph, {}, cfg())
    assert "object" in str(info.value)
    state = run.get_state(graph, cfg())
    assert state.interrupts == () and state.next == ("ask",)


def test_unserialisable_state_write_names_the_path_and_keeps_the_thread(run, saver) -> None:
    class Opaque:
        pass

    mode = {"bad": True}
    g = StateGraph(S)
    g.add_node("a", lambda s: {"answer": {"nested": [Opaque()]} if mode["bad"] else "fine"})
    g.add_edge(START, "a")
    graph = g.compile(checkpointer=saver)
    with pytest.raises(SerializationError) as info:
        run.invoke(graph, {"log": ["x"]}, cfg())
    assert "nested" in str(info.value) and "Opaque" in str(info.value)
    state = run.get_state(graph, cfg())
    assert state.next == ("a",) and state.values == {"log": ["x"]}
    mode["bad"] = False
    assert run.invoke(graph, None, cfg())["answer"] == "fine"


# ---- breakpoints ------------------------------------------------------------------------


def bp_graph(saver: Any, **kw: Any):
    g = StateGraph(S)
    g.add_node("plan", lambda s: {"log": ["plan"]})
    g.add_node("act", lambda s: {"log": ["act"]})
    g.add_edge(START, "plan")
    g.add_edge("plan", "act")
    return g.compile(checkpointer=saver, **kw)


def test_interrupt_before_is_a_visible_pause(run, saver) -> None:
    graph = bp_graph(saver, interrupt_before=["act"])
    paused = run.invoke(graph, {"log": []}, cfg())
    assert paused["log"] == ["plan"]
    [bp] = paused["__interrupt__"]
    assert bp.value == {"type": "breakpoint", "when": "before", "nodes": ["act"]}
    state = run.get_state(graph, cfg())
    assert state.next == ("act",) and state.tasks[0].interrupts == (bp,)
    with pytest.raises(InputRejected):
        run.invoke(graph, {"log": ["more"]}, cfg())
    assert run.invoke(graph, None, cfg())["log"] == ["plan", "act"]


def test_interrupt_after_and_per_call_override(run, saver) -> None:
    graph = bp_graph(saver, interrupt_after=["plan"])
    paused = run.invoke(graph, {"log": []}, cfg())
    assert paused["__interrupt__"][0].value["when"] == "after"
    assert run.get_state(graph, cfg()).next == ("act",)
    assert run.invoke(graph, Command(resume=None), cfg())["log"] == ["plan", "act"]
    # per call: an empty list keeps the compiled breakpoints (LangGraph's `given or
    # compiled`, observed with 1.2.22); a list of names stands in their place
    kept = run.invoke(graph, {"log": []}, cfg("t2"), interrupt_after=[])
    assert kept["__interrupt__"][0].value["when"] == "after"
    moved = run.invoke(graph, {"log": []}, cfg("t3"), interrupt_after=["act"])
    assert moved["__interrupt__"][0].value["nodes"] == ["act"]


def test_star_breakpoint_pauses_before_every_node(run, saver) -> None:
    graph = bp_graph(saver, interrupt_before="*")
    r = run.invoke(graph, {"log": []}, cfg())
    assert r["__interrupt__"][0].value["nodes"] == ["plan"]
    r = run.invoke(graph, None, cfg())
    assert r["__interrupt__"][0].value["nodes"] == ["act"]
    assert run.invoke(graph, None, cfg())["log"] == ["plan", "act"]


def test_stream_shows_the_interrupt(run, saver) -> None:
    graph = ask_graph(saver)
    chunks = run.stream(graph, {"log": []}, cfg(), stream_mode="updates")
    assert "__interrupt__" in chunks[-1]
    assert chunks[-1]["__interrupt__"][0].value == {"question": "proceed?"}


# ---- exactly once -----------------------------------------------------------------------


def test_concurrent_resumes_of_one_interrupt_succeed_once(saver) -> None:
    effects: list[str] = []
    lock = threading.Lock()

    def act(state: S) -> dict:
        answer = interrupt("approve payment?")
        with lock:
            effects.append(answer)
        return {"answer": answer}

    g = StateGraph(S)
    g.add_node("act", act)
    g.add_edge(START, "act")
    graph = g.compile(checkpointer=saver)
    graph.invoke({}, cfg())
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def resume(i: int) -> None:
        barrier.wait()
        try:
            graph.invoke(Command(resume=f"r{i}"), cfg())
            outcomes.append("ok")
        except ResumeConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=resume, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert len(effects) == 1
    assert graph.get_state(cfg()).values["answer"] == effects[0]


def test_resume_with_update_survives_a_second_pause(run, saver) -> None:
    seen: list[Any] = []

    def form(state: S) -> dict:
        seen.append(list(state.get("log") or []))
        first = interrupt("first?")
        second = interrupt("second?")
        return {"answers": [first, second], "answer": "node wins"}

    g = StateGraph(S)
    g.add_node("form", form)
    g.add_edge(START, "form")
    graph = g.compile(checkpointer=saver)
    run.invoke(graph, {"log": ["start"]}, cfg())
    run.invoke(graph, Command(resume=1, update={"log": ["edited"], "answer": "update"}), cfg())
    assert seen[-1] == ["start", "edited"]  # the node saw the update
    result = run.invoke(graph, Command(resume=2), cfg())
    assert seen[-1] == ["start", "edited"]  # ... and still sees it after the second pause
    assert result["log"] == ["start", "edited"] and result["answers"] == [1, 2]
    assert result["answer"] == "node wins"
    stored = run.get_state(graph, cfg()).values  # folded back from the store
    assert stored["log"] == ["start", "edited"] and stored["answer"] == "node wins"


def test_async_nodes_inside_a_subgraph(saver) -> None:
    import asyncio

    async def confirm(state: S) -> dict:
        await asyncio.sleep(0)
        return {"answer": interrupt("async inner question")}

    inner = StateGraph(S)
    inner.add_node("confirm", confirm)
    inner.add_edge(START, "confirm")
    outer = StateGraph(S)
    outer.add_node("sub", inner.compile())
    outer.add_edge(START, "sub")
    graph = outer.compile(checkpointer=saver)
    paused = asyncio.run(graph.ainvoke({}, cfg()))
    assert paused["__interrupt__"][0].value == "async inner question"
    assert asyncio.run(graph.ainvoke(Command(resume="yes"), cfg()))["answer"] == "yes"
