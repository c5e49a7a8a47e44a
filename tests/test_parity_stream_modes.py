"""`stream_mode="checkpoints" | "tasks" | "debug"` in LangGraph's chunk shapes (drawing:
`test_parity_drawing.py`)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from interlock import START, Command, StateGraph, interrupt


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


def two_steps(saver: Any):
    g = StateGraph(S)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("b", lambda s: {"log": [f"b:{interrupt('ok?')}"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=saver)


def test_checkpoints_mode_matches_the_saved_state(run, saver) -> None:
    graph = two_steps(saver)
    chunks = run.stream(graph, {"log": []}, cfg(), stream_mode="checkpoints")
    assert [c["metadata"]["step"] for c in chunks] == [-1, 0]
    assert [c["next"] for c in chunks] == [["a"], ["b"]]
    assert chunks[0]["parent_config"] is None
    assert chunks[1]["parent_config"] == chunks[0]["config"]
    assert chunks[1]["values"] == {"log": ["a"]}
    state = run.get_state(graph, cfg())
    assert chunks[1]["config"] == state.config
    assert chunks[1]["tasks"] == [
        {"id": state.tasks[0].id, "name": "b", "interrupts": (), "state": None}
    ]
    final = run.stream(graph, Command(resume="yes"), cfg(), stream_mode="checkpoints")
    assert [(c["next"], c["values"]) for c in final] == [([], {"log": ["a", "b:yes"]})]


def test_tasks_mode_reports_starts_and_results(run, saver) -> None:
    graph = two_steps(saver)
    chunks = run.stream(graph, {"log": []}, cfg(), stream_mode="tasks")
    start_a, result_a, start_b, result_b = chunks
    assert start_a == {"id": start_a["id"], "name": "a", "input": {"log": []}, "triggers": ()}
    assert result_a == {
        "id": start_a["id"],
        "name": "a",
        "error": None,
        "result": {"log": ["a"]},
        "interrupts": [],
    }
    assert start_b["name"] == "b" and start_b["input"] == {"log": ["a"]}
    [pending] = run.get_state(graph, cfg()).interrupts
    assert result_b["interrupts"] == [{"value": "ok?", "id": pending.id}]
    assert result_b["result"] == {} and result_b["error"] is None


def test_a_task_waiting_on_its_subgraph_reports_the_subgraphs_requests(run, saver) -> None:
    """As in LangGraph, the task that ran a paused subgraph lists the subgraph's requests
    (a client reads the subgraph as interrupted, not completed)."""
    inner = StateGraph(S)
    inner.add_node("ask", lambda s: {"log": [interrupt("deep?")]})
    inner.add_edge(START, "ask")
    g = StateGraph(S)
    g.add_node("review", inner.compile())
    g.add_edge(START, "review")
    graph = g.compile(checkpointer=saver)
    chunks = run.stream(graph, {"log": []}, cfg(), stream_mode="tasks", subgraphs=True)
    results = [(ns, c) for ns, c in chunks if "result" in c]
    [pending] = run.get_state(graph, cfg()).interrupts
    (inside, asked), (outside, review) = results
    assert len(inside) == 1 and inside[0] == f"review:{review['id']}" and outside == ()
    assert asked["name"] == "ask" and asked["interrupts"] == [{"value": "deep?", "id": pending.id}]
    assert review["name"] == "review" and review["interrupts"] == asked["interrupts"]


def test_tasks_mode_reports_an_error(run) -> None:
    def boom(state: S) -> dict:
        raise KeyError("nope")

    g = StateGraph(S).add_node("boom", boom).add_edge(START, "boom").compile()
    chunks: list[Any] = []
    with pytest.raises(KeyError):
        for chunk in g.stream({"log": []}, stream_mode="tasks"):
            chunks.append(chunk)
    assert [c.get("error") for c in chunks] == [None, "KeyError: 'nope'"]


def test_a_channel_written_twice_is_listed_as_writes(run) -> None:
    from interlock import Send

    g = StateGraph(S)
    g.add_node("fan", lambda s: [Command(update={"log": ["x"]}), Command(update={"log": ["y"]})])
    g.add_edge(START, "fan")
    chunks = run.stream(g.compile(), {"log": []}, stream_mode="tasks")
    assert chunks[1]["result"] == {"log": {"$writes": [["x"], ["y"]]}}
    assert Send  # imported for the porting table: Send results are tasks too


def test_debug_mode_wraps_both(run, saver) -> None:
    graph = two_steps(saver)
    chunks = run.stream(graph, {"log": []}, cfg(), stream_mode="debug")
    assert [(c["type"], c["step"]) for c in chunks] == [
        ("checkpoint", -1),
        ("task", 0),
        ("task_result", 0),
        ("checkpoint", 0),
        ("task", 1),
        ("task_result", 1),
    ]
    assert all(isinstance(c["timestamp"], str) and "T" in c["timestamp"] for c in chunks)
    assert chunks[3]["payload"]["values"] == {"log": ["a"]}
    assert chunks[5]["payload"]["interrupts"][0]["value"] == "ok?"


def test_debug_mixes_with_other_modes(run, saver) -> None:
    graph = two_steps(saver)
    chunks = run.stream(graph, {"log": []}, cfg(), stream_mode=["updates", "checkpoints"])
    # as in LangGraph: a step's updates come before its checkpoint
    assert [m for m, _ in chunks] == ["checkpoints", "updates", "checkpoints", "updates"]
    assert chunks[-1][1] == {"__interrupt__": run.get_state(graph, cfg()).interrupts}
