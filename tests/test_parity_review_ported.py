"""Review of the LangGraph 1.2.22 parity fixes merged from `ported`: what a paused step
shows (its finished tasks' writes, not committed) must not leak into the state it keeps,
and a pause's requests must all be recorded and answerable."""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, Any

from langgraph_sdk import get_sync_client
from typing_extensions import TypedDict

from interlock import END, START, Command, InMemorySaver, StateGraph, interrupt
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.conftest import make_saver


def _extend(left: list[Any], right: list[Any]) -> list[Any]:
    """A reducer that extends its left list in place (common in user code)."""
    left.extend(right)
    return left


class _InPlace(TypedDict):
    log: Annotated[list, _extend]


def _paused_fan_out() -> Any:
    """`a` asks, its sibling `b` finishes; both lead to `d`."""

    def a(state: _InPlace) -> dict[str, Any]:
        return {"log": [f"a:{interrupt('qa')}"]}

    builder = StateGraph(_InPlace)
    builder.add_node("a", a)
    builder.add_node("b", lambda s: {"log": ["b"]})
    builder.add_node("d", lambda s: {"log": ["d"]})
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    builder.add_edge("a", "d")
    builder.add_edge("b", "d")
    builder.add_edge("d", END)
    return builder.compile(checkpointer=InMemorySaver())


def test_in_place_reducer_paused_result_and_get_state_do_not_fold_twice() -> None:
    """The finished sibling's write is shown once by invoke and every get_state, and is
    committed once on resume (LangGraph 1.2.22: the same), though the reducer mutates."""
    graph = _paused_fan_out()
    config = {"configurable": {"thread_id": "t"}}
    assert graph.invoke({"log": ["start"]}, config)["log"] == ["start", "b"]
    for _ in range(3):
        assert graph.get_state(config).values == {"log": ["start", "b"]}
    assert [h.values for h in graph.get_state_history(config)] == [{"log": ["start"]}]
    final = graph.invoke(Command(resume="y"), config)
    assert final == {"log": ["start", "a:y", "b", "d"]}


def test_in_place_reducer_async_paused_state() -> None:
    """The async twins: ainvoke's paused result and aget_state fold the write in once."""
    graph = _paused_fan_out()
    config = {"configurable": {"thread_id": "t"}}

    async def go() -> None:
        assert (await graph.ainvoke({"log": ["s"]}, config))["log"] == ["s", "b"]
        assert (await graph.aget_state(config)).values == {"log": ["s", "b"]}
        assert (await graph.aget_state(config)).values == {"log": ["s", "b"]}
        final = await graph.ainvoke(Command(resume="y"), config)
        assert final == {"log": ["s", "a:y", "b", "d"]}

    asyncio.run(go())


class _Log(TypedDict):
    log: Annotated[list, operator.add]


def _asking_subgraph() -> Any:
    """Two parallel nodes that each ask."""

    def ask(name: str) -> Any:
        return lambda s: {"log": [f"{name}:{interrupt('q' + name)}"]}

    sub = StateGraph(_Log)
    sub.add_node("p", ask("p"))
    sub.add_node("q", ask("q"))
    sub.add_edge(START, "p")
    sub.add_edge(START, "q")
    return sub.compile()


def test_sync_node_breaking_at_first_interrupt_chunk_pauses_with_both_requests() -> None:
    """A sync node that breaks out of the subgraph's stream at its first `__interrupt__`
    chunk (one per asking task now) pauses with both requests, answered in one resume."""
    sub = _asking_subgraph()

    def node(state: _Log) -> dict[str, Any]:
        for chunk in sub.stream(state, stream_mode="updates"):
            if "__interrupt__" in chunk:
                break
        return {"log": ["outer"]}

    builder = StateGraph(_Log)
    builder.add_node("n", node)
    builder.add_edge(START, "n")
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"log": []}, config)
    asked = graph.get_state(config).interrupts
    assert sorted(i.value for i in asked) == ["qp", "qq"]
    done = graph.invoke(Command(resume={i.id: "A" for i in asked}), config)
    assert "__interrupt__" not in done
    assert graph.get_state(config).next == ()


def test_async_node_breaking_at_first_interrupt_chunk_pauses_with_both_requests() -> None:
    """The async twin, breaking out of `astream` without closing it: the pause still holds
    both requests (before the per-task chunks it did; after them it held the first only,
    and the second came as a second pause after the first was answered)."""
    sub = _asking_subgraph()

    async def node(state: _Log) -> dict[str, Any]:
        async for chunk in sub.astream(state, stream_mode="updates"):
            if "__interrupt__" in chunk:
                break
        return {"log": ["outer"]}

    builder = StateGraph(_Log)
    builder.add_node("n", node)
    builder.add_edge(START, "n")
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}

    async def go() -> None:
        await graph.ainvoke({"log": []}, config)
        asked = (await graph.aget_state(config)).interrupts
        assert sorted(i.value for i in asked) == ["qp", "qq"]
        done = await graph.ainvoke(Command(resume={i.id: "A" for i in asked}), config)
        assert "__interrupt__" not in done
        assert (await graph.aget_state(config)).next == ()

    asyncio.run(go())


def test_agent_server_state_of_a_paused_step_agrees_with_get_state(tmp_path: Path) -> None:
    """Over the Agent Server API (langgraph-sdk on loopback): a paused step with two asking
    tasks and a finished sibling shows get_state's values, next, both requests, and the
    sibling's result in its task (as LangGraph's ThreadState); answered one by one, the
    sibling's write is kept once."""

    def ask(name: str) -> Any:
        return lambda s: {"log": [f"{name}:{interrupt({'q': name})}"]}

    builder = StateGraph(_Log)
    builder.add_node("a", ask("a"))
    builder.add_node("b", lambda s: {"log": ["b"]})
    builder.add_node("c", ask("c"))
    builder.add_node("d", lambda s: {"log": ["d"]})
    for name in "abc":
        builder.add_edge(START, name)
        builder.add_edge(name, "d")
    saver = make_saver("sqlite", tmp_path)
    graph = builder.compile(checkpointer=saver, name="fan")
    keys = ApiKeys.parse("k-ada=ada:requester;k-bob=bob:approver")
    with served(create_app({"fan": graph}, keys=keys, workers=1)) as http:
        url = str(http.base_url).rstrip("/")
        ada = get_sync_client(url=url, api_key="k-ada")
        bob = get_sync_client(url=url, api_key="k-bob")
        try:
            tid = ada.threads.create()["thread_id"]
            out = ada.runs.wait(tid, "fan", input={"log": []})
            assert out["log"] == ["b"] and len(out["__interrupt__"]) == 2
            state = ada.threads.get_state(tid)
            head = graph.get_state({"configurable": {"thread_id": tid}})
            assert state["values"] == head.values == {"log": ["b"]}
            assert state["next"] == list(head.next) == ["a", "c"]
            assert len(state["interrupts"]) == 2
            tasks = {t["name"]: t for t in state["tasks"]}
            assert tasks["b"]["result"] == {"log": ["b"]}
            assert tasks["a"]["result"] is None
            ids = {i["value"]["q"]: i["id"] for i in state["interrupts"]}
            out = bob.runs.wait(tid, "fan", command={"resume": {ids["a"]: "A"}})
            assert len(out["__interrupt__"]) == 1
            out = bob.runs.wait(tid, "fan", command={"resume": {ids["c"]: "C"}})
            assert sorted(out["log"]) == sorted(["a:A", "b", "c:C", "d"])
        finally:
            ada.close()
            bob.close()
    saver.close()
