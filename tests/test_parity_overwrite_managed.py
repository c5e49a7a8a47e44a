"""`Overwrite` (a write that bypasses the key's reducer) and the managed values
`RemainingSteps` / `IsLastStep`, as LangGraph 1.2 gives them: the expected values are
LangGraph's for the same graphs. Stored threads are read back by new savers, so the fold of
stored writes is checked as well as the live run."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

import interlock as il
from interlock import END, START, Command, InvalidUpdate, MessagesState, StateGraph, interrupt
from interlock.errors import InvalidUpdateError
from interlock.managed import IsLastStep, RemainingSteps
from interlock.types import Overwrite


class S(TypedDict, total=False):
    items: Annotated[list, operator.add]


def first(state: S) -> dict[str, Any]:
    return {"items": ["a"]}


def over(state: S) -> dict[str, Any]:
    return {"items": Overwrite(["o"])}


def norm(state: S) -> dict[str, Any]:
    return {"items": ["n"]}


def over2(state: S) -> dict[str, Any]:
    return {"items": Overwrite(["p"])}


def as_dict(state: S) -> dict[str, Any]:
    return {"items": {"__overwrite__": ["d"]}}


def fan(*nodes: tuple[str, Any], saver: Any = None) -> Any:
    g = StateGraph(S).add_node("first", first).add_edge(START, "first")
    for name, fn in nodes:
        g.add_node(name, fn).add_edge("first", name)
    return g.compile(checkpointer=saver)


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ([("over", over)], ["o"]),
        ([("over", over), ("norm", norm)], ["o"]),  # a write after it in the step: ignored
        ([("anorm", norm), ("over", over)], ["o"]),  # before it: replaced
        ([("d", as_dict)], ["d"]),  # the JSON form
    ],
)
def test_overwrite_replaces_the_value(saver: Any, run: Any, nodes: list, expected: list) -> None:
    app = fan(*nodes, saver=saver)
    config = {"configurable": {"thread_id": "t"}}
    assert run.invoke(app, {"items": ["i"]}, config) == {"items": expected}
    assert run.get_state(app, config).values == {"items": expected}
    # the next turn's input and first step are replaced again by the same step
    assert run.invoke(app, {"items": ["j"]}, config)["items"] == expected


def test_two_overwrites_in_one_step_are_refused(saver: Any, run: Any) -> None:
    app = fan(("over", over), ("over2", over2), saver=saver)
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(InvalidUpdate, match="several Overwrite values in one step"):
        run.invoke(app, {"items": ["i"]}, config)
    assert InvalidUpdateError is InvalidUpdate


def ask(state: S) -> dict[str, Any]:
    return {"items": [interrupt("q")]}


def test_a_resume_update_and_update_state_may_overwrite(saver: Any, run: Any) -> None:
    g = StateGraph(S).add_node("first", first).add_node("ask", ask)
    app = g.add_edge(START, "first").add_edge("first", "ask").compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "r"}}
    run.invoke(app, {"items": ["i"]}, config)
    done = run.invoke(app, Command(resume="r", update={"items": Overwrite(["u"])}), config)
    assert done == {"items": ["u", "r"]}
    run.update_state(app, config, {"items": Overwrite(["us"])})
    assert run.get_state(app, config).values == {"items": ["us"]}


def after(state: S) -> dict[str, Any]:
    return {"items": ["z"]}


def test_stored_overwrites_fold_the_same_in_a_new_process(tmp_path: Path) -> None:
    """Replaying the store joins list writes across checkpoints; an Overwrite and the
    writes after it in its step must fold as they ran."""
    path = tmp_path / "ow.db"
    config = {"configurable": {"thread_id": "f"}}

    def build(saver: Any) -> Any:
        g = StateGraph(S).add_node("first", first).add_node("over", over)
        g.add_node("z_norm", norm).add_node("after", after).add_edge(START, "first")
        g.add_edge("first", "over").add_edge("first", "z_norm")
        return g.add_edge(["over", "z_norm"], "after").compile(checkpointer=saver)

    with il.SqliteSaver(path) as saver:
        app = build(saver)
        results = [app.invoke({"items": [f"i{k}"]}, config)["items"] for k in range(3)]
        live = [s.values["items"] for s in app.get_state_history(config)]
    assert results == [["o", "z"]] * 3
    assert live[:4] == [["o", "z"], ["o"], ["o", "z", "i2", "a"], ["o", "z", "i2"]]
    with il.SqliteSaver(path) as saver:
        app = build(saver)
        assert app.get_state(config).values["items"] == ["o", "z"]
        assert [s.values["items"] for s in app.get_state_history(config)] == live


def test_overwriting_messages_keeps_them_messages(saver: Any, run: Any) -> None:
    def only(state: MessagesState) -> dict[str, Any]:
        return {"messages": Overwrite([{"role": "ai", "content": "only"}])}

    app = StateGraph(MessagesState).add_node("m", only).add_edge(START, "m")
    app = app.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "m"}}
    out = run.invoke(app, {"messages": [("user", "hi")]}, config)
    # LangGraph 1.2 stores the dict as it is (its messages then break `.type`); interlock
    # makes it a message, with an id that stays
    assert [(m.type, m.content) for m in out["messages"]] == [("ai", "only")]
    ids = [m.id for m in run.get_state(app, config).values["messages"]]
    assert ids == [out["messages"][0].id]


# ---- managed values ---------------------------------------------------------------------------


class M(TypedDict, total=False):
    seen: Annotated[list, operator.add]
    remaining_steps: RemainingSteps
    last: IsLastStep


def m_a(state: M) -> dict[str, Any]:
    return {"seen": [[state["remaining_steps"], state["last"]]]}


def m_b(state: M) -> dict[str, Any]:
    if len(state["seen"]) == 3:
        interrupt("q")
    return {"seen": [["b", state["remaining_steps"], state["last"]]], "remaining_steps": 99}


def m_route(state: M) -> str:
    assert state["remaining_steps"] >= 0
    return END if len(state["seen"]) > 6 else "a"


def managed_graph(saver: Any) -> Any:
    g = StateGraph(M).add_node("a", m_a).add_node("b", m_b).add_edge(START, "a")
    return g.add_edge("a", "b").add_conditional_edges("b", m_route).compile(checkpointer=saver)


def test_remaining_steps_and_is_last_step(saver: Any, run: Any) -> None:
    app = managed_graph(saver)
    config = {"configurable": {"thread_id": "1"}, "recursion_limit": 10}
    paused = run.invoke(app, {"seen": []}, config)
    assert paused["seen"] == [[9, False], ["b", 8, False], [7, False]]
    assert run.get_state(app, config).values == {"seen": paused["seen"]}  # not stored
    done = run.invoke(app, Command(resume="x"), config)
    assert done == {
        "seen": [
            [9, False],
            ["b", 8, False],
            [7, False],
            ["b", 11, False],  # a resume counts from its checkpoint, as in LangGraph
            [10, False],
            ["b", 9, False],
            [8, False],
            ["b", 7, False],
        ]
    }


def test_is_last_step_is_true_in_the_last_step(saver: Any, run: Any) -> None:
    app = managed_graph(saver)
    config = {"configurable": {"thread_id": "2"}, "recursion_limit": 4}
    paused = run.invoke(app, {"seen": []}, config)
    assert paused["seen"] == [[3, False], ["b", 2, False], [1, True]]
