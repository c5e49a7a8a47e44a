"""Subgraphs with their own checkpoint namespace: interrupts inside them (two deep, parallel
instances), resume inside without re-running finished nodes, `get_state(subgraphs=True)`,
`stream(subgraphs=True)`, `Command(graph=Command.PARENT)`, exactly-once decisions."""

from __future__ import annotations

import operator
import threading
from collections import Counter
from typing import Annotated, Any, TypedDict

import pytest

from interlock import (
    END,
    START,
    Command,
    InvalidUpdate,
    ResumeConflict,
    ResumeError,
    Send,
    StateGraph,
    interrupt,
)


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: Any
    item: str


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


class LogOnly(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def inner_graph(calls: Counter, tag: str = "inner", output: Any = None):
    """prep → confirm (asks) → finish."""

    def prep(state: S) -> dict:
        calls[f"{tag}.prep"] += 1
        return {"log": [f"{tag}.prep"]}

    def confirm(state: S) -> dict:
        calls[f"{tag}.confirm"] += 1
        answer = interrupt({"q": f"{tag} ok?", "item": state.get("item")})
        return {"log": [f"{tag}.confirm:{answer}"], "answer": answer}

    def finish(state: S) -> dict:
        calls[f"{tag}.finish"] += 1
        return {"log": [f"{tag}.finish"]}

    g = StateGraph(S, output_schema=output)
    g.add_sequence([("prep", prep), ("confirm", confirm), ("finish", finish)])
    g.add_edge(START, "prep")
    return g.compile()


def outer_graph(saver: Any, calls: Counter, sub: Any = None):
    g = StateGraph(S)
    # (a subgraph's output is its whole state, folded into the parent's through the
    # reducers, as in LangGraph: so "before" writes a key the list reducer does not see)
    g.add_node("before", lambda s: calls.update(["before"]) or {"item": "i1"})
    g.add_node("sub", sub if sub is not None else inner_graph(calls))
    g.add_node("after", lambda s: calls.update(["after"]) or {"log": ["after"]})
    g.add_edge(START, "before")
    g.add_edge("before", "sub")
    g.add_edge("sub", "after")
    return g.compile(checkpointer=saver)


def test_an_interrupt_in_a_subgraph_pauses_the_parent_and_resumes_inside(run, saver) -> None:
    calls: Counter = Counter()
    graph = outer_graph(saver, calls)
    paused = run.invoke(graph, {"log": []}, cfg())
    [intr] = paused["__interrupt__"]
    assert intr.value == {"q": "inner ok?", "item": "i1"}
    assert paused == {"log": [], "item": "i1", "__interrupt__": [intr]}
    state = run.get_state(graph, cfg())
    assert state.next == ("sub",) and [i.id for i in state.interrupts] == [intr.id]
    assert [i.id for i in state.tasks[0].interrupts] == [intr.id]

    out = run.invoke(graph, Command(resume="yes"), cfg())
    assert out["log"] == ["inner.prep", "inner.confirm:yes", "inner.finish", "after"]
    assert out["answer"] == "yes"
    # the subgraph's finished node did not run again; the asking node ran twice (restart)
    assert calls == Counter(
        {"before": 1, "inner.prep": 1, "inner.confirm": 2, "inner.finish": 1, "after": 1}
    )
    with pytest.raises(ResumeConflict):
        run.invoke(graph, Command(resume="again"), cfg())


def test_the_request_names_the_subgraph_namespace_that_asked(run, saver) -> None:
    graph = outer_graph(saver, Counter())
    [intr] = run.invoke(graph, {"log": []}, cfg())["__interrupt__"]
    record = saver.get_interrupt(intr.id)
    assert record.thread_id == "t1" and record.task_name == "confirm"
    node, _, task = record.checkpoint_ns.partition(":")
    assert node == "sub" and task == run.get_state(graph, cfg()).tasks[0].id
    [listed] = saver.list_interrupts(status="pending").items
    assert listed.interrupt_id == intr.id and listed.checkpoint_ns == record.checkpoint_ns


def test_get_state_with_subgraphs_shows_the_subgraph_state(run, saver) -> None:
    graph = outer_graph(saver, Counter())
    [intr] = run.invoke(graph, {"log": []}, cfg())["__interrupt__"]
    shallow = run.get_state(graph, cfg())
    [task] = shallow.tasks
    ns = task.state["configurable"]["checkpoint_ns"]
    assert ns.startswith("sub:")
    if run.mode == "sync":
        deep = graph.get_state(cfg(), subgraphs=True)
    else:
        import asyncio

        deep = asyncio.run(graph.aget_state(cfg(), subgraphs=True))
    sub = deep.tasks[0].state
    assert sub.values == {"log": ["inner.prep"], "item": "i1"}
    assert sub.next == ("confirm",)
    assert [i.id for i in sub.interrupts] == [intr.id]
    assert sub.config["configurable"]["checkpoint_ns"] == ns
    # the task's config reads the same subgraph state
    assert run.get_state(graph, task.state).values == sub.values


def test_nested_two_deep(run, saver) -> None:
    calls: Counter = Counter()
    middle = StateGraph(S)
    middle.add_node("m_first", lambda s: calls.update(["m_first"]) or {"item": "m"})
    middle.add_node("deep", inner_graph(calls, "deep"))
    middle.add_node("m_last", lambda s: calls.update(["m_last"]) or {"log": ["m_last"]})
    middle.add_edge(START, "m_first")
    middle.add_edge("m_first", "deep")
    middle.add_edge("deep", "m_last")
    graph = outer_graph(saver, calls, middle.compile())

    [intr] = run.invoke(graph, {"log": []}, cfg())["__interrupt__"]
    record = saver.get_interrupt(intr.id)
    assert record.checkpoint_ns.count("|") == 1  # sub:<task>|deep:<task>
    assert record.checkpoint_ns.startswith("sub:") and "|deep:" in record.checkpoint_ns
    if run.mode == "sync":
        deep_state = graph.get_state(cfg(), subgraphs=True).tasks[0].state.tasks[0].state
        assert deep_state.next == ("confirm",)

    out = run.invoke(graph, Command(resume={intr.id: "ok"}), cfg())
    assert out["log"] == [
        "deep.prep",
        "deep.confirm:ok",
        "deep.finish",
        "m_last",
        "after",
    ]
    assert calls["m_first"] == 1 and calls["deep.prep"] == 1 and calls["deep.confirm"] == 2


def test_parallel_subgraph_instances_pause_and_resume_one_by_one(run, saver) -> None:
    calls: Counter = Counter()
    g = StateGraph(S)
    g.add_node("review", inner_graph(calls, "review", output=LogOnly))  # parallel: log only
    g.add_conditional_edges(START, lambda s: [Send("review", {"item": i}) for i in ("a", "b")])
    g.add_edge("review", END)
    graph = g.compile(checkpointer=saver)

    paused = run.invoke(graph, {"log": []}, cfg())
    by_item = {i.value["item"]: i for i in paused["__interrupt__"]}
    assert sorted(by_item) == ["a", "b"]
    namespaces = {saver.get_interrupt(i.id).checkpoint_ns for i in by_item.values()}
    assert len(namespaces) == 2  # each instance has its own namespace

    with pytest.raises(ResumeError):
        run.invoke(graph, Command(resume="yes"), cfg())  # two wait: answer by id
    half = run.invoke(graph, Command(resume={by_item["a"].id: "A"}), cfg())
    assert [i.id for i in half["__interrupt__"]] == [by_item["b"].id]
    assert calls["review.finish"] == 1  # instance a finished, b still waits
    out = run.invoke(graph, Command(resume={by_item["b"].id: "B"}), cfg())
    assert sorted(out["log"]) == sorted(
        [
            "review.prep",
            "review.confirm:A",
            "review.finish",
            "review.prep",
            "review.confirm:B",
            "review.finish",
        ]
    )
    assert calls["review.prep"] == 2 and calls["review.finish"] == 2
    with pytest.raises(ResumeConflict):
        run.invoke(graph, Command(resume={by_item["a"].id: "again"}), cfg())


def test_concurrent_resumes_of_a_subgraph_request_succeed_once(saver) -> None:
    effects: list[str] = []
    lock = threading.Lock()

    def act(state: S) -> dict:
        answer = interrupt("go?")
        with lock:
            effects.append(answer)
        return {"answer": answer}

    inner = StateGraph(S).add_node("act", act).add_edge(START, "act").compile()
    graph = StateGraph(S).add_node("sub", inner).add_edge(START, "sub").compile(checkpointer=saver)
    [intr] = graph.invoke({"log": []}, cfg())["__interrupt__"]
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def resume(who: str) -> None:
        barrier.wait()
        try:
            graph.invoke(Command(resume={intr.id: who}), cfg())
            outcomes.append("ok")
        except ResumeConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=resume, args=(f"p{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert len(effects) == 1
    assert graph.get_state(cfg()).values["answer"] == effects[0]


def test_stream_with_subgraphs_yields_namespaces(run, saver) -> None:
    graph = outer_graph(saver, Counter())
    chunks = run.stream(graph, {"log": []}, cfg(), stream_mode="updates", subgraphs=True)
    namespaces = [ns for ns, _ in chunks]
    assert namespaces[0] == () and chunks[0][1] == {"before": {"item": "i1"}}
    inner = [(ns, c) for ns, c in chunks if ns]
    assert inner[0][0][0].startswith("sub:") and len(inner[0][0]) == 1
    assert inner[0][1] == {"prep": {"log": ["inner.prep"]}}
    assert "__interrupt__" in chunks[-1][1] and chunks[-1][0] == ()
    # without subgraphs=True the subgraph's chunks stay inside
    plain = run.stream(graph, Command(resume="y"), cfg(), stream_mode=["updates"])
    assert [c for _, c in plain] == [{"sub": plain[0][1]["sub"]}, {"after": {"log": ["after"]}}]


def test_stream_with_subgraphs_and_several_modes(run, saver) -> None:
    graph = outer_graph(saver, Counter())
    chunks = run.stream(
        graph, {"log": []}, cfg(), stream_mode=["values", "updates"], subgraphs=True
    )
    assert all(len(c) == 3 for c in chunks)
    assert {mode for _, mode, _ in chunks} == {"values", "updates"}
    assert any(ns and mode == "values" for ns, mode, _ in chunks)


def test_custom_chunks_of_subgraph_nodes_reach_the_caller(run) -> None:
    from interlock import get_stream_writer

    def talk(state: S) -> dict:
        get_stream_writer()({"from": "inner"})
        return {}

    inner = StateGraph(S).add_node("talk", talk).add_edge(START, "talk").compile()
    graph = StateGraph(S).add_node("sub", inner).add_edge(START, "sub").compile()
    assert run.stream(graph, {"log": []}, stream_mode="custom") == [{"from": "inner"}]
    [(ns, chunk)] = run.stream(graph, {"log": []}, stream_mode="custom", subgraphs=True)
    assert ns[0].startswith("sub:") and chunk == {"from": "inner"}


def test_command_parent_from_a_subgraph_node(run, saver) -> None:
    def pick(state: S) -> Command:
        return Command(graph=Command.PARENT, goto="escalate", update={"log": ["picked"]})

    inner = StateGraph(S)
    inner.add_node("pick", pick)
    inner.add_node("never", lambda s: {"log": ["never"]})
    inner.add_edge(START, "pick")
    inner.add_edge("pick", "never")
    g = StateGraph(S)
    g.add_node("sub", inner.compile())
    g.add_node("escalate", lambda s: {"log": ["escalated"]})
    g.add_node("normal", lambda s: {"log": ["normal"]})
    g.add_edge(START, "sub")
    g.add_edge("sub", "normal")
    graph = g.compile(checkpointer=saver)
    out = run.invoke(graph, {"log": []}, cfg())
    # the goto adds "escalate" to the step the static edge plans ("normal"); their writes
    # fold by node name, as in LangGraph 1.2
    assert out["log"] == ["picked", "escalated", "normal"]


def test_command_parent_after_an_interrupt_in_the_subgraph(run, saver) -> None:
    def ask(state: S) -> Command:
        where = interrupt("where to?")
        return Command(graph=Command.PARENT, goto=where, update={"answer": where})

    inner = StateGraph(S).add_node("ask", ask).add_edge(START, "ask").compile()
    g = StateGraph(S)
    g.add_node("sub", inner)
    g.add_node("left", lambda s: {"log": ["left"]})
    g.add_node("right", lambda s: {"log": ["right"]})
    g.add_edge(START, "sub")
    graph = g.compile(checkpointer=saver)
    run.invoke(graph, {"log": []}, cfg())
    out = run.invoke(graph, Command(resume="right"), cfg())
    assert out == {"log": ["right"], "answer": "right"}


def test_command_parent_in_a_root_graph_is_refused(run) -> None:
    g = StateGraph(S).add_node("n", lambda s: Command(graph=Command.PARENT, goto="n"))
    with pytest.raises(InvalidUpdate, match="not running as a subgraph"):
        run.invoke(g.add_edge(START, "n").compile(), {"log": []})


def test_a_graph_invoked_inside_a_node_is_a_subgraph(run, saver) -> None:
    calls: Counter = Counter()
    inner = inner_graph(calls)

    def call_inner(state: S) -> dict:
        calls["call_inner"] += 1
        result = inner.invoke({"log": [], "item": "x"})
        return {"answer": result["answer"]}

    g = StateGraph(S).add_node("call_inner", call_inner).add_edge(START, "call_inner")
    graph = g.compile(checkpointer=saver)
    [intr] = run.invoke(graph, {"log": []}, cfg())["__interrupt__"]
    assert intr.value == {"q": "inner ok?", "item": "x"}
    assert saver.get_interrupt(intr.id).checkpoint_ns.startswith("call_inner:")
    out = run.invoke(graph, Command(resume="fine"), cfg())
    assert out["answer"] == "fine"
    assert calls["inner.prep"] == 1 and calls["call_inner"] == 2


def test_update_state_cancels_a_subgraph_request(run, saver) -> None:
    graph = outer_graph(saver, Counter())
    [intr] = run.invoke(graph, {"log": []}, cfg())["__interrupt__"]
    run.update_state(graph, cfg(), {"answer": "skipped"}, as_node="sub")
    assert saver.get_interrupt(intr.id).status == "cancelled"
    assert run.get_state(graph, cfg()).next == ("after",)


def test_a_subgraph_request_belongs_to_the_root_graph_and_expires(run, saver) -> None:
    from datetime import UTC, datetime, timedelta

    def ask(state: S) -> dict:
        return {"answer": interrupt("decide by noon", deadline=60, on_expiry="timed out")}

    inner = StateGraph(S).add_node("ask", ask).add_edge(START, "ask").compile(name="inner")
    g = StateGraph(S).add_node("sub", inner).add_edge(START, "sub")
    graph = g.compile(checkpointer=saver, name="billing")
    [intr] = run.invoke(graph, {"log": []}, cfg())["__interrupt__"]
    record = saver.get_interrupt(intr.id)
    assert record.metadata["graph"] == "billing" and record.metadata["subgraph"] == "inner"
    later = datetime.now(UTC) + timedelta(minutes=5)
    if run.mode == "sync":
        expired = graph.expire_due(now=later)
    else:
        import asyncio

        expired = asyncio.run(graph.aexpire_due(now=later))
    assert expired == [intr.id]
    assert run.get_state(graph, cfg()).values["answer"] == "timed out"
    assert saver.get_interrupt(intr.id).status == "expired"


def test_the_api_and_the_inbox_say_which_subgraph_asked(saver) -> None:
    import httpx

    from interlock.server import ApiKeys, create_app
    from tests._http import served

    inner = inner_graph(Counter(), tag="review")
    g = StateGraph(S)
    g.add_node("review_step", inner)
    g.add_edge(START, "review_step")
    graph = g.compile(checkpointer=saver, name="orders")
    keys = ApiKeys.parse("k-bob=bob:requester;k-ada=ada:approver")
    with served(create_app(graph, keys=keys)) as http:
        started = http.post(
            "/v1/threads", json={"input": {"log": []}}, headers={"X-API-Key": "k-bob"}
        )
        assert started.status_code == 201, started.text
        [approval] = http.get("/v1/approvals", headers={"X-API-Key": "k-ada"}).json()["approvals"]
        assert approval["graph"] == "orders"
        assert approval["subgraph"] == inner.name
        assert approval["checkpoint_ns"].startswith("review_step:")
        signed_in = http.post("/inbox/login", data={"key": "k-ada"})
        assert signed_in.status_code == 303
        listing = http.get("/inbox").text
        assert f"orders / {inner.name}" in listing
        page = http.get(f"/inbox/{approval['id']}").text
        assert f"orders / {inner.name}" in page and approval["checkpoint_ns"] in page
    assert isinstance(http, httpx.Client)
